# reliability.mk - how much of a per-language damage figure is language
# and how much one rounding (issue 20): each scheme quantized by rounding
# to nearest and by stochastic rounding with each of SEEDS, all of them
# scored on all of the held-out text in one qf-eval pass per scheme, with
# the stochastic realizations as one configuration (--realizations) and
# the reliability table (--reliability; docs/eval.md, "Realizations and
# reliability").  See docs/pipelines.md.
#
#   make -f pipelines/reliability.mk [-j2] [OUT=out/reliability] [MODEL=...] [HOSTS=...]
#
# Outputs under OUT: SCHEME/lang.tsv and SCHEME/reliability.tsv for each
# scheme, and reliability.tsv, every scheme's rows in one table (the
# configurations SCHEME-rtn, one realization, and SCHEME-sr, the seeds').
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

OUT ?= $(TOP)/out/reliability
MODEL ?= $(TOP)/pipelines/data/model/udhr-gpt2-12.qft
CORPUS ?= $(TOP)/pipelines/data/udhr/heldout
LANGS ?= $(sort $(basename $(notdir $(wildcard $(CORPUS)/*.tsv))))
# paragraphs per language (empty: all of the held-out text)
PARAS ?=
# how qf-extract makes tokens of the text for MODEL
TOKENIZE ?= -k bytes --bos 256
SEEDS ?= 1 2 3
SCHEMES ?= int4g64 int3g64 compat
JOBS ?=

# A scheme's qf-quantize options: RTN_S rounds to nearest, SR_S is
# given --round stochastic --seed N.  The earlier study's quantizer
# (--compat) takes no --round (it fixes its rounding): its realizations
# use its grid through the ordinary options, symmetric 4 bits per tensor
# on every weight (docs/quantize.md: compat's clamp at -8 is never
# reached; its scale is max|w|/7 not truncated to 15 bits, the only
# difference).
RTN_int4g64 := -b 4 -g 64
SR_int4g64 := -b 4 -g 64
RTN_int3g64 := -b 3 -g 64
SR_int3g64 := -b 3 -g 64
RTN_compat := --compat
SR_compat := -b 4 -g tensor --all-weights

QF_EXTRACT := $(BIN)/qf-extract
QF_QUANTIZE := $(BIN)/qf-quantize
QF_EVAL := $(BIN)/qf-eval
# the kernels the tables depend on: when they change, every table is
# made again (common.mk)
KERNELS := $(call kernels-file,$(OUT)/kernels)
ifeq ($(KERNELS),)
$(error cannot tell the kernels qf runs (is qf built in $(BIN)?))
endif
comma := ,
space := $(subst ,, )

all: $(OUT)/reliability.tsv
	@echo "reliability: $<"

# --- the text: the held-out text (its first PARAS paragraphs per
# language), a TSV corpus with parallel units (headings are left out by
# qf-eval)

$(OUT)/text/%.tsv: $(CORPUS)/%.tsv
	@mkdir -p $(@D)
	awk -v n='$(PARAS)' 'NR == 1 || n == "" || NR - 1 <= n' $< > $@.tmp
	mv $@.tmp $@

$(OUT)/tokens.qft: $(LANGS:%=$(OUT)/text/%.tsv) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text $(TOKENIZE) --unit paragraph -o $@ $(filter %.tsv,$^)

# --- the models: round to nearest, and a stochastic rounding a seed

$(OUT)/models/%-rtn.qft: $(MODEL) $(QF_QUANTIZE)
	@mkdir -p $(@D)
	$(QF_QUANTIZE) $(RTN_$*) $(if $(JOBS),-j $(JOBS)) -o $@ $(MODEL)

# $(call sr-rule,SCHEME,SEED)
define sr-rule
$(OUT)/models/$(1)-s$(2).qft: $(MODEL) $(QF_QUANTIZE)
	@mkdir -p $$(@D)
	$(QF_QUANTIZE) $(SR_$(1)) --round stochastic --seed $(2) $(if $(JOBS),-j $(JOBS)) -o $$@ $(MODEL)
endef
$(foreach s,$(SCHEMES),$(foreach n,$(SEEDS),$(eval $(call sr-rule,$(s),$(n)))))

# --- one qf-eval pass a scheme

sr_models = $(foreach n,$(SEEDS),-m $(1)-s$(n)=$(OUT)/models/$(1)-s$(n).qft)
sr_names = $(subst $(space),$(comma),$(foreach n,$(SEEDS),$(1)-s$(n)))

# $(call eval-rule,SCHEME): on one of HOSTS when there are any (the
# tokens and models sent there, the two tables back; dist.mk)
eval_in = $(OUT)/tokens.qft $(MODEL) $(OUT)/models/$(1)-rtn.qft $(foreach n,$(SEEDS),$(OUT)/models/$(1)-s$(n).qft)
define eval-rule
$(OUT)/$(1)/lang.tsv $(OUT)/$(1)/reliability.tsv &: $(call eval_in,$(1)) $(QF_EVAL) $(KERNELS)
	@mkdir -p $$(@D)
	$(call remote,$(OUT)/$(1)/lang.tsv $(OUT)/$(1)/reliability.tsv,$(call eval_in,$(1)),\
	  $(QF_EVAL) -r $(MODEL) -m $(1)-rtn=$(OUT)/models/$(1)-rtn.qft $(call sr_models,$(1)) \
	  --realizations $(1)-sr=$(call sr_names,$(1)) --bootstrap 0 $(if $(JOBS),-j $(JOBS)) \
	  --reliability $(OUT)/$(1)/reliability.tsv -o $(OUT)/$(1)/lang.tsv $(OUT)/tokens.qft)
endef
$(foreach s,$(SCHEMES),$(eval $(call eval-rule,$(s))))

# --- every scheme's rows in one table: the first one's provenance line
# and header, then the rows

$(OUT)/reliability.tsv: $(SCHEMES:%=$(OUT)/%/reliability.tsv)
	awk 'FNR > 2 || NR == FNR' $^ > $@.tmp
	mv $@.tmp $@

.PHONY: all
