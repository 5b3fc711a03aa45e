# protect.mk - the protection sweep: which layers to keep in full precision
# when a model is quantized, and what that does to the gap between
# languages.  The default study (`make demo`); see docs/pipelines.md.
#
#   make -f pipelines/protect.mk [-j2] [OUT=out/protect] [MODEL=...] [HOSTS=...]
#
# Configurations (SETS): none (every layer quantized), each single layer
# kept in full precision (pL, set single), each single layer quantized
# alone (qL, set only), every pair kept (pA-B, set pairs), the earlier
# study's layers (EARLIER), and a greedy search for the best k layers
# under a budget (BUDGET, a fraction of the blocks' linear weights kept
# in full precision).  Each is scored by two methods side by side:
#   proper  QUANT_OPTS (group-wise INT4 on the linear weights by default),
#           held-out text, MEASURE (KL per parallel unit by default),
#           95% intervals from the bootstrap over parallel units;
#   compat  the earlier study's method: its quantizer (qf-quantize
#           --compat: per tensor, every weight), one paragraph per
#           language, per-token perplexity, deg_L / deg_eng, no intervals.
# Outputs under OUT: proper/ and compat/ (lang.tsv, disparity.tsv,
# stats.tsv), configs.tsv, greedy.tsv, the study's tables (summary.tsv,
# criticality.tsv, morph.tsv), qf-fit's statistics of them (fit/), and
# report.md with plots/.
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

OUT ?= $(TOP)/out/protect
MODEL ?= $(TOP)/pipelines/data/model/udhr-gpt2-12.qft
CORPUS ?= $(TOP)/pipelines/data/udhr/heldout
LANGUAGES ?= $(TOP)/pipelines/data/udhr/languages.tsv
LANGS ?= $(sort $(basename $(notdir $(wildcard $(CORPUS)/*.tsv))))
# paragraphs per language (empty: all of the held-out text)
PARAS ?=
# how qf-extract makes tokens of the text for MODEL
TOKENIZE ?= -k bytes --bos 256
SCHEME ?= int
BITS ?= 4
GROUP ?= 64
QUANT_OPTS ?= -s $(SCHEME) $(if $(filter int,$(SCHEME)),-b $(BITS)) -g $(GROUP)
EARLIER ?= 0,9,11
BUDGET ?= 0.25
GREEDY_BY ?= mean
# the proper method's degradation measure (qf-eval --measure)
MEASURE ?= kl_unit
# the configurations besides none, the earlier layers and the greedy
# rounds: single (pL), only (qL), pairs (pA-B); and EXTRA, more of them
# by name (e.g. the pairs of the earlier layers: p0-9 p0-11 p9-11)
SETS ?= single only pairs
EXTRA ?=
BOOTSTRAP ?= 1000
SEED ?= 1
# configurations a qf-eval pass scores (with the reference and 'none')
GROUP_SIZE ?= 12
JOBS ?=
# qf-eval's threads in a greedy round, which runs alone after the sweep's
# groups (empty: qf-eval's default, every CPU)
ROUND_JOBS ?=

QF_EXTRACT := $(BIN)/qf-extract
QF_QUANTIZE := $(BIN)/qf-quantize
QF_EVAL := $(BIN)/qf-eval
PROTECT_PY := $(PY) $(LIB)/protect.py
# what the tables protect.py makes depend on beyond their inputs
PROTECT_SRC := $(LIB)/protect.py $(QFTSV)
# the kernels the tables depend on: when they change, every table is
# made again (common.mk)
KERNELS := $(call kernels-file,$(OUT)/kernels)
ifeq ($(KERNELS),)
$(error cannot tell the kernels qf runs (is qf built in $(BIN)?))
endif
TOOLS := $(QF_EXTRACT) $(QF_QUANTIZE) $(QF_EVAL) $(QF_CAT) $(LIB)/protect-group $(KERNELS)

# --- the configurations ---------------------------------------------------------

N_LAYER := $(shell $(QF_CAT) -l -n config $(MODEL) 2>/dev/null | tr ' ' '\n' | sed -n 's/^n_layer=//p')
ifeq ($(N_LAYER),)
$(error $(MODEL): cannot read the model's n_layer (is it a weight stream, and qf-cat built?))
endif
LAYERS := $(shell seq 0 $$(($(N_LAYER) - 1)))
ifneq ($(filter-out single only pairs,$(SETS)),)
$(error SETS: '$(filter-out single only pairs,$(SETS))' is not single, only or pairs)
endif
SINGLES := $(addprefix p,$(LAYERS))
ONLY := $(addprefix q,$(LAYERS))
PAIRS := $(shell for i in $(LAYERS); do for j in $(LAYERS); do [ $$i -lt $$j ] && echo p$$i-$$j; done; done)
EARLIER_CONFIG := p$(shell echo '$(EARLIER)' | tr ',' '\n' | sort -n | paste -sd-)
SET_CONFIGS := $(if $(filter single,$(SETS)),$(SINGLES)) $(if $(filter only,$(SETS)),$(ONLY)) \
	$(if $(filter pairs,$(SETS)),$(PAIRS))
$(foreach c,$(EXTRA),$(if $(shell echo '$(c)' | grep -xE '[pq][0-9]+(-[0-9]+)*'),,$(error EXTRA: '$(c)' is not a configuration pL-L... or qL-L...)))
SWEEP := $(strip $(SET_CONFIGS) $(filter-out $(SET_CONFIGS),$(EXTRA)) \
	$(filter-out $(SET_CONFIGS) $(EXTRA),$(EARLIER_CONFIG)))
N_GROUPS := $(shell echo $$(( ($(words $(SWEEP)) + $(GROUP_SIZE) - 1) / $(GROUP_SIZE) )))
GROUP_IDS := $(shell seq -w 1 $(N_GROUPS))
group_configs = $(wordlist $(shell echo $$(( (10#$(1) - 1) * $(GROUP_SIZE) + 1 ))),$(shell echo $$(( 10#$(1) * $(GROUP_SIZE) ))),$(SWEEP))
# greedy rounds: as many layers as the budget holds (each layer has the
# same number of linear weights); rounds 1 and 2 come from the sweep when
# it has the singles and the pairs, the others are scored on their own
K := $(shell awk 'BEGIN { k = int($(BUDGET) * $(N_LAYER) + 1e-9); print (k < 0 ? 0 : k) }')
FIRST_ROUND := $(if $(filter single,$(SETS)),$(if $(filter pairs,$(SETS)),3,2),1)
ROUNDS := $(shell seq $(FIRST_ROUND) $(K))
comma := ,
space := $(subst ,, )
ORDER := ref,none,$(subst $(space),$(comma),$(strip $(SWEEP)))

METHODS := proper compat
TABLES := lang disp stats

all: $(OUT)/report.md
	@sed -n '/^## Results in brief/,/^## /{/^## [^R]/d;p}' $<
	@echo "protect: report in $(OUT)/report.md"

tables: $(foreach m,$(METHODS),$(foreach t,lang disparity stats,$(OUT)/$(m)/$(t).tsv)) $(OUT)/configs.tsv $(OUT)/greedy.tsv

# --- the text ---------------------------------------------------------------------

# proper: the held-out text (its first PARAS paragraphs per language),
# a TSV corpus: the header, then a paragraph a line with its unit
$(OUT)/text/%.tsv: $(CORPUS)/%.tsv
	@mkdir -p $(@D)
	awk -v n='$(PARAS)' 'NR == 1 || n == "" || NR - 1 <= n' $< > $@.tmp
	mv $@.tmp $@

# compat: one paragraph per language, the first article's text (the
# second paragraph: the first is its heading)
$(OUT)/compat-text/%.tsv: $(CORPUS)/%.tsv
	@mkdir -p $(@D)
	awk 'NR == 1 || NR == 3' $< > $@.tmp
	mv $@.tmp $@

$(OUT)/proper/tokens.qft: $(LANGS:%=$(OUT)/text/%.tsv) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text $(TOKENIZE) --unit paragraph -o $@ $(filter %.tsv,$^)

$(OUT)/compat/tokens.qft: $(LANGS:%=$(OUT)/compat-text/%.tsv) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text $(TOKENIZE) --unit paragraph -o $@ $(filter %.tsv,$^)

# --- scoring, a group of configurations a pass -------------------------------------

# $(call group_env,METHOD,JOBS): protect-group's environment
group_env = QF_BIN=$(BIN) MODEL=$(MODEL) TOKENS=$(OUT)/$(1)/tokens.qft \
	LANGUAGES=$(LANGUAGES) QUANT_OPTS='$(QUANT_OPTS)' MEASURE=$(MEASURE) BOOTSTRAP=$(BOOTSTRAP) \
	SEED=$(SEED) JOBS=$(2)

# $(call score,METHOD,PREFIX,CONFIGS,JOBS): the command that scores one group
ifeq ($(HOSTS),)
score = $(call group_env,$(1),$(4)) $(LIB)/protect-group $(1) $(2) $(3)

# $(call group-rule,METHOD,ID)
define group-rule
$(OUT)/$(1)/g$(2).lang.tsv $(OUT)/$(1)/g$(2).disp.tsv $(OUT)/$(1)/g$(2).stats.tsv &: $(OUT)/$(1)/tokens.qft $(MODEL) $(LANGUAGES) $(TOOLS)
	$(call score,$(1),$(OUT)/$(1)/g$(2),$(call group_configs,$(2)),$(JOBS))
endef
$(foreach m,$(METHODS),$(foreach g,$(GROUP_IDS),$(eval $(call group-rule,$(m),$(g)))))
else
# across machines: every group of a method in one GNU parallel run over
# HOSTS (dist-groups-rule, dist.mk), a greedy round as one remote job
# (score)
$(foreach m,$(METHODS),$(eval $(call dist-groups-rule,$(m))))
endif

# --- the greedy search (proper method) -----------------------------------------------

# round R: the best configuration of round R - 1 plus each other layer;
# those the sweep or an earlier round did not score are scored here
prev_rounds = $(foreach r,$(shell seq $(FIRST_ROUND) $$(( $(1) - 1 ))),$(OUT)/greedy/r$(r).disp.tsv)
SWEEP_DISP := $(foreach g,$(GROUP_IDS),$(OUT)/proper/g$(g).disp.tsv)
define round-rule
$(OUT)/greedy/r$(1).cands: $(SWEEP_DISP) $(call prev_rounds,$(1)) $(PROTECT_SRC)
	@mkdir -p $$(@D)
	$(PROTECT_PY) greedy --by $(GREEDY_BY) --layers $(N_LAYER) --k $(1) $$@ $$(filter %.tsv,$$^)

$(OUT)/greedy/r$(1).lang.tsv $(OUT)/greedy/r$(1).disp.tsv $(OUT)/greedy/r$(1).stats.tsv &: $(OUT)/greedy/r$(1).cands $(SWEEP_DISP) $(call prev_rounds,$(1)) $(OUT)/proper/tokens.qft $(MODEL) $(TOOLS)
	$(call score,proper,$(OUT)/greedy/r$(1),$$$$($(PROTECT_PY) missing $$< $(SWEEP_DISP) $(call prev_rounds,$(1))),$(ROUND_JOBS))
endef
$(foreach r,$(ROUNDS),$(eval $(call round-rule,$(r))))

# --- the tables ---------------------------------------------------------------------

GREEDY_FILES = $(foreach r,$(ROUNDS),$(OUT)/greedy/r$(r).$(1).tsv)

$(OUT)/proper/lang.tsv: $(foreach g,$(GROUP_IDS),$(OUT)/proper/g$(g).lang.tsv) $(call GREEDY_FILES,lang) $(PROTECT_SRC)
	$(PROTECT_PY) merge --key model --sort lang --order $(ORDER) $@ $(filter %.tsv,$^)
$(OUT)/proper/disparity.tsv: $(foreach g,$(GROUP_IDS),$(OUT)/proper/g$(g).disp.tsv) $(call GREEDY_FILES,disp) $(PROTECT_SRC)
	$(PROTECT_PY) merge --key model --order $(ORDER) $@ $(filter %.tsv,$^)
$(OUT)/proper/stats.tsv: $(foreach g,$(GROUP_IDS),$(OUT)/proper/g$(g).stats.tsv) $(call GREEDY_FILES,stats) $(PROTECT_SRC)
	$(PROTECT_PY) merge --key config --order $(ORDER) $@ $(filter %.tsv,$^)

$(OUT)/compat/lang.tsv: $(foreach g,$(GROUP_IDS),$(OUT)/compat/g$(g).lang.tsv) $(PROTECT_SRC)
	$(PROTECT_PY) merge --key model --sort lang --order $(ORDER) $@ $(filter %.tsv,$^)
$(OUT)/compat/disparity.tsv: $(foreach g,$(GROUP_IDS),$(OUT)/compat/g$(g).disp.tsv) $(PROTECT_SRC)
	$(PROTECT_PY) merge --key model --order $(ORDER) $@ $(filter %.tsv,$^)
$(OUT)/compat/stats.tsv: $(foreach g,$(GROUP_IDS),$(OUT)/compat/g$(g).stats.tsv) $(PROTECT_SRC)
	$(PROTECT_PY) merge --key config --order $(ORDER) $@ $(filter %.tsv,$^)

$(OUT)/configs.tsv: $(OUT)/proper/stats.tsv $(PROTECT_SRC)
	$(PROTECT_PY) configs --layers $(N_LAYER) $< $@

$(OUT)/greedy.tsv: $(OUT)/configs.tsv $(OUT)/proper/disparity.tsv $(PROTECT_SRC)
	$(PROTECT_PY) greedy-table --by $(GREEDY_BY) --layers $(N_LAYER) --k $(K) $< $@ $(OUT)/proper/disparity.tsv

# --- the report -------------------------------------------------------------

REPORT := $(LIB)/protect-report
REPORT_OPTS = --languages $(LANGUAGES) --model $(MODEL) --corpus $(CORPUS) \
	  --tokenize='$(TOKENIZE)' --quant='$(QUANT_OPTS)' --paras='$(PARAS)' \
	  --bootstrap $(BOOTSTRAP) --seed $(SEED) --greedy-by $(GREEDY_BY) \
	  --budget $(BUDGET) --earlier $(EARLIER) --sets '$(SETS)'
REPORT_IN := $(foreach m,$(METHODS),$(OUT)/$(m)/lang.tsv $(OUT)/$(m)/disparity.tsv $(OUT)/$(m)/stats.tsv) \
	$(OUT)/configs.tsv $(OUT)/greedy.tsv $(LANGUAGES) $(REPORT) $(QFTSV)

# the study's own tables, which qf-fit reads
$(OUT)/summary.tsv $(OUT)/criticality.tsv $(OUT)/morph.tsv &: $(REPORT_IN)
	$(PY) $(REPORT) --tables $(REPORT_OPTS) $(OUT)

# --- the statistics (qf-fit; docs/fit.md) --------------------------------------------

QF_FIT := $(BIN)/qf-fit
FIT := $(OUT)/fit
# Spearman's correlations with BCa bootstrap intervals and, for the
# layers' few points, permutation p-values (Holm over a table's rows)
COR = $(QF_FIT) cor --method spearman $(if $(filter-out 0,$(BOOTSTRAP)),--bootstrap $(BOOTSTRAP)) --seed $(SEED)
WEIGHT_PAIRS := proper_benefit:variance,proper_benefit:kurtosis,proper_benefit:absmax,proper_benefit:rel_fro,compat_benefit:variance,compat_benefit:kurtosis,compat_benefit:absmax,compat_benefit:compat_rel_fro
FIT_TABLES := $(FIT)/methods.tsv $(FIT)/weights.tsv \
	$(foreach m,$(METHODS),$(FIT)/earlier-$(m).coef.tsv $(FIT)/earlier-$(m).model.tsv)

# do the two methods order the configurations alike?
$(FIT)/methods.tsv: $(OUT)/summary.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(COR) --where kind=protect --pairs proper_mean:compat_mean,proper_rel_ref_mean:compat_rel_ref_mean -o $@ $<

# the single-layer benefit against the layer's weight statistics
$(FIT)/weights.tsv: $(OUT)/criticality.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(COR) --permutations 9999 --pairs $(WEIGHT_PAIRS) -o $@ $<

# the earlier study's fit form, log(disparity) ~ norm(variance), per
# method: in-sample and leave-one-layer-out R2 in the model table
$(FIT)/earlier-%.coef.tsv $(FIT)/earlier-%.model.tsv: $(OUT)/criticality.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(QF_FIT) lm 'log($*_mean) ~ z(variance)' --model-out $(FIT)/earlier-$*.model.tsv \
	  -o $(FIT)/earlier-$*.coef.tsv $<

$(OUT)/report.md: $(REPORT_IN) $(OUT)/summary.tsv $(OUT)/criticality.tsv $(OUT)/morph.tsv $(FIT_TABLES)
	$(PY) $(REPORT) $(REPORT_OPTS) $(OUT)

stats: $(FIT_TABLES)

.PHONY: all tables stats
