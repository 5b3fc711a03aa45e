# fertility.mk - tokenizer fertility and per-layer quantization error,
# the first study qf could run (the default study before protect.mk).
#
# 1. Tokenizer fertility per language: the shipped UDHR held-out text of
#    every curated language through GPT-2's BPE; tokens per word and per
#    byte, by morphological type (languages.tsv).
# 2. Quantization error per layer: GPT-2-shaped weights (pipelines/lib/
#    make-demo-weights.py: seeded random GPT-2-small-shaped weights)
#    through qf-extract and qf-quantize, with the earlier study's quantizer
#    (--compat) and a proper one (INT4, groups of 64) side by side.
#
#   make -f pipelines/fertility.mk [OUT=out/fertility] [LANGS='eng fin ...'] [BITS=4] [GROUP=64]
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

OUT ?= $(TOP)/out/fertility
UDHR := $(TOP)/pipelines/data/udhr
GPT2 := $(TOP)/pipelines/data/gpt2
LANGS ?= $(sort $(basename $(notdir $(wildcard $(UDHR)/heldout/*.tsv))))
BITS ?= 4
GROUP ?= 64
QF_EXTRACT := $(BIN)/qf-extract
QF_QUANTIZE := $(BIN)/qf-quantize

all: $(OUT)/fertility.tsv $(OUT)/fertility-by-type.tsv $(OUT)/quant-layers.tsv
	@echo "fertility: results in $(OUT)"
	@column -t -s $$'\t' $(OUT)/fertility-by-type.tsv
	@column -t -s $$'\t' $(OUT)/quant-layers.tsv

# --- 1. fertility ---------------------------------------------------------

$(OUT)/heldout-gpt2.qft: $(addprefix $(UDHR)/heldout/,$(addsuffix .tsv,$(LANGS))) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text -k gpt2 --encoder $(GPT2)/encoder.json --vocab $(GPT2)/vocab.bpe \
	  -o $@ $(filter %.tsv,$^)

# lang bytes chars words tokens tokens_per_word tokens_per_byte
$(OUT)/fertility.tsv: $(OUT)/heldout-gpt2.qft $(QF_CAT)
	{ printf 'lang\tbytes\tchars\twords\ttokens\ttokens_per_word\ttokens_per_byte\n'; \
	  $(QF_CAT) -l $< | cut -f5 | tr ' ' '\n' | awk -F= ' \
	    $$1 == "lang" { l = $$2 } $$1 == "bytes" { b = $$2 } $$1 == "chars" { c = $$2 } \
	    $$1 == "words" { w = $$2 } \
	    $$1 == "tokens" { printf "%s\t%d\t%d\t%d\t%d\t%.3f\t%.4f\n", l, b, c, w, $$2, $$2 / w, $$2 / b }' \
	  | sort -t $$'\t' -k6,6g; } > $@.tmp && mv $@.tmp $@

# morph_type languages tokens_per_word (mean) tokens_per_byte (mean)
$(OUT)/fertility-by-type.tsv: $(OUT)/fertility.tsv $(UDHR)/languages.tsv
	awk -F'\t' 'NR == FNR { if (FNR > 1) type[$$1] = $$6; next } \
	  FNR > 1 { t = type[$$1]; n[t]++; w[t] += $$6; b[t] += $$7 } \
	  END { print "morph_type\tlanguages\ttokens_per_word\ttokens_per_byte"; \
	        for (t in n) printf "%s\t%d\t%.3f\t%.4f\n", t, n[t], w[t] / n[t], b[t] / n[t] }' \
	  $(UDHR)/languages.tsv $< | { read -r h; echo "$$h"; sort -t $$'\t' -k3,3g; } > $@.tmp && mv $@.tmp $@

# --- 2. quantization error per layer ---------------------------------------

$(OUT)/demo-weights.npz: $(LIB)/make-demo-weights.py
	@mkdir -p $(@D)
	$(PY) $< $@.tmp.npz && mv $@.tmp.npz $@

$(OUT)/weights.qft: $(OUT)/demo-weights.npz $(QF_EXTRACT)
	$(QF_EXTRACT) weights -o $@ $<

$(OUT)/compat.qft $(OUT)/compat-stats.tsv &: $(OUT)/weights.qft $(QF_QUANTIZE)
	$(QF_QUANTIZE) --compat --stats $(OUT)/compat-stats.tsv -o $(OUT)/compat.qft $<

$(OUT)/int$(BITS).qft $(OUT)/int$(BITS)-stats.tsv &: $(OUT)/weights.qft $(QF_QUANTIZE)
	$(QF_QUANTIZE) -b $(BITS) -g $(GROUP) --stats $(OUT)/int$(BITS)-stats.tsv -o $(OUT)/int$(BITS).qft $<

# layer, relative Frobenius error of both quantizers (the layer rows)
$(OUT)/quant-layers.tsv: $(OUT)/compat-stats.tsv $(OUT)/int$(BITS)-stats.tsv
	$(PY) $(LIB)/layer-table.py $^ > $@.tmp && mv $@.tmp $@

.PHONY: all
