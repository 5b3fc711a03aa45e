# protect.mk - the protection sweep: which layers to keep in full precision
# when a model is quantized, and what that does to the gap between
# languages.  The default study (`make demo`); see docs/pipelines.md.
#
#   make -f pipelines/protect.mk [-j2] [OUT=out/protect] [MODEL=...] [HOSTS=...]
#
# Configurations (SETS): none (every layer quantized), each single layer
# kept in full precision (pL, set single), each single layer quantized
# alone (qL, set only), every pair kept (pA-B, set pairs), the earlier
# study's layers (EARLIER) with the configurations its claims name,
# equal-budget baselines (RANDOM sets of k random layers, and CHANNELS:
# as many weights kept as the most salient input channels), and a
# greedy search for the best k layers under a budget (BUDGET, a fraction
# of the blocks' linear weights kept in full precision), cross-fitted:
# each half of the parallel units selects, the other confirms.  Each is
# scored by two methods side by side:
#   proper  QUANT_OPTS (group-wise INT4 on the linear weights by default),
#           held-out text, MEASURE (KL per parallel unit by default),
#           95% intervals from the bootstrap over parallel units;
#   compat  the earlier study's method: its quantizer (qf-quantize
#           --compat: per tensor, every weight), one paragraph per
#           language, per-token perplexity, deg_L / deg_eng, no intervals.
# Outputs under OUT: proper/ and compat/ (lang.tsv, disparity.tsv,
# stats.tsv; proper/ also compare.tsv and contrasts.tsv, qf-eval's
# simultaneous comparison and the claims' contrasts), halves.tsv,
# configs.tsv, greedy.tsv and greedy-confirm.tsv, the study's tables (summary.tsv,
# criticality.tsv, morph.tsv), qf-fit's statistics of them (fit/), and
# report.md with plots/.
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

comma := ,
space := $(subst ,, )
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
# the greedy search's candidates in round 2 on: the BEAM best single
# layers of the selecting half (0: every layer)
BEAM ?= 0
# equal-budget baselines: RANDOM sets of as many layers as the greedy
# search keeps, drawn with RANDOM_SEED; CHANNELS=1, the configuration
# chK (the same number of weights kept as the most salient input
# channels, qf-act --channel-stats over the first CALIB_LINES lines of
# each language's training text)
RANDOM ?= 0
# claim 3 against the other layers: ALT_MIDDLE=1 scores each other layer
# in the earlier middle layer's place (below)
ALT_MIDDLE ?= 0
RANDOM_SEED ?= 1
CHANNELS ?= 0
CALIB ?= $(TOP)/pipelines/data/udhr/train
CALIB_LINES ?= 12
# the morphologically rich languages of claim 5: those of these
# morph_type values (the others are its comparison)
RICH_TYPES ?= agglutinative polysynthetic
# the proper method's degradation measure (qf-eval --measure)
MEASURE ?= kl_unit
# the configurations besides none, the earlier layers and the greedy
# rounds: single (pL), only (qL), pairs (pA-B); and EXTRA, more of them
# by name (e.g. the pairs of the earlier layers: p0-9 p0-11 p9-11)
SETS ?= single only pairs
EXTRA ?=
BOOTSTRAP ?= 1000
SEED ?= 1
# configurations a qf-eval pass scores (with the reference and 'none');
# 0: every configuration in one pass, so that --compare's simultaneous
# intervals cover them all (the claims' configurations are always in
# the first pass, which writes the contrasts)
GROUP_SIZE ?= 0
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
QF_ACT := $(BIN)/qf-act
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
$(foreach c,$(EXTRA),$(if $(shell echo '$(c)' | grep -xE '[pq][0-9]+(-[0-9]+)*|ch[0-9]+'),,$(error EXTRA: '$(c)' is not a configuration pL-L..., qL-L... or chK)))
# greedy rounds: as many layers as the budget holds (each layer has the
# same number of linear weights); rounds 1 and 2 come from the sweep when
# it has the singles and the pairs, the others are scored on their own
K := $(shell awk 'BEGIN { k = int($(BUDGET) * $(N_LAYER) + 1e-9); print (k < 0 ? 0 : k) }')
# the earlier study's claims (issue 22) name its three layers F, M, L:
# keeping F, M and L against none (claim 1); F alone, L alone, F and L
# and their interaction (claim 2); adding M to F and L (claim 3).  Their
# contrasts are qf-eval's (--contrast), all in the first pass.
EARLIER_LAYERS := $(shell echo '$(EARLIER)' | tr ',' '\n' | sort -n)
ifeq ($(words $(EARLIER_LAYERS)),3)
E_F := $(word 1,$(EARLIER_LAYERS))
E_M := $(word 2,$(EARLIER_LAYERS))
E_L := $(word 3,$(EARLIER_LAYERS))
CLAIM_CONFIGS := p$(E_F) p$(E_L) p$(E_F)-$(E_L) $(EARLIER_CONFIG)
CONTRASTS := keep_earlier=+$(EARLIER_CONFIG) -none|keep_first=+p$(E_F) -none|keep_last=+p$(E_L) -none|keep_first_last=+p$(E_F)-$(E_L) -none|synergy=+p$(E_F)-$(E_L) -p$(E_F) -p$(E_L) +none|add_middle=+$(EARLIER_CONFIG) -p$(E_F)-$(E_L)
# ALT_MIDDLE=1: every other layer X in M's place (pF-X-L), against M
# (mid_vs_X = +pF-M-L -pF-X-L): is M the layer to add?
ifeq ($(ALT_MIDDLE),1)
ALT_LAYERS := $(filter-out $(E_F) $(E_M) $(E_L),$(LAYERS))
alt_config = p$(shell echo '$(E_F) $(1) $(E_L)' | tr ' ' '\n' | sort -n | paste -sd-)
CLAIM_CONFIGS += $(foreach x,$(ALT_LAYERS),$(call alt_config,$(x)))
CONTRASTS := $(CONTRASTS)$(subst $(space)|,|,$(foreach x,$(ALT_LAYERS),|mid_vs_$(x)=+$(EARLIER_CONFIG) -$(call alt_config,$(x))))
endif
else
CLAIM_CONFIGS := $(EARLIER_CONFIG)
CONTRASTS := keep_earlier=+$(EARLIER_CONFIG) -none
endif
RANDOM_CONFIGS := $(if $(filter-out 0,$(RANDOM)),$(shell $(PY) $(LIB)/protect.py random --layers $(N_LAYER) --k $(K) --n $(RANDOM) --seed $(RANDOM_SEED) || echo RANDOM-FAILED))
ifneq ($(filter RANDOM-FAILED,$(RANDOM_CONFIGS)),)
$(error RANDOM: cannot draw $(RANDOM) sets of $(K) layers)
endif
CHANNEL_CONFIGS := $(if $(filter 1,$(CHANNELS)),ch$(K))
# the claims' configurations first (the first pass writes the contrasts)
SWEEP := $(strip $(CLAIM_CONFIGS) $(filter-out $(CLAIM_CONFIGS),$(SET_CONFIGS)) \
	$(filter-out $(CLAIM_CONFIGS) $(SET_CONFIGS),$(EXTRA) $(RANDOM_CONFIGS) $(CHANNEL_CONFIGS)))
SWEEP := $(shell echo $(SWEEP) | tr ' ' '\n' | awk '!seen[$$0]++' | paste -sd' ')
SIZE := $(if $(filter 0,$(GROUP_SIZE)),$(words $(SWEEP)),$(GROUP_SIZE))
ifeq ($(shell [ $(SIZE) -ge $(words $(CLAIM_CONFIGS)) ] && echo ok),)
$(error GROUP_SIZE=$(GROUP_SIZE): the first pass must hold the $(words $(CLAIM_CONFIGS)) configurations of the claims ($(CLAIM_CONFIGS)))
endif
N_GROUPS := $(shell echo $$(( ($(words $(SWEEP)) + $(SIZE) - 1) / $(SIZE) )))
# with every pair scored in one pass: the interaction of every pair
# (syn_A_B = +pA-B -pA -pB +none), not only the earlier layers'
ifeq ($(N_GROUPS)$(filter pairs,$(SETS)),1pairs)
CONTRASTS := $(CONTRASTS)$(subst $(space)|,|,$(foreach p,$(PAIRS),|syn_$(subst -,_,$(patsubst p%,%,$(p)))=+$(p) -p$(word 1,$(subst -, ,$(patsubst p%,%,$(p)))) -p$(word 2,$(subst -, ,$(patsubst p%,%,$(p)))) +none))
endif
GROUP_IDS := $(shell seq -w 1 $(N_GROUPS))
FIRST_GROUP := $(firstword $(GROUP_IDS))
group_configs = $(wordlist $(shell echo $$(( (10#$(1) - 1) * $(SIZE) + 1 ))),$(shell echo $$(( 10#$(1) * $(SIZE) ))),$(SWEEP))
FIRST_ROUND := $(if $(filter single,$(SETS)),$(if $(filter pairs,$(SETS)),3,2),1)
ROUNDS := $(shell seq $(FIRST_ROUND) $(K))
ORDER := ref,none,$(subst $(space),$(comma),$(strip $(SWEEP)))

METHODS := proper compat
TABLES := lang disp stats

all: $(OUT)/report.md
	@sed -n '/^## Results in brief/,/^## /{/^## [^R]/d;p}' $<
	@echo "protect: report in $(OUT)/report.md"

tables: $(foreach m,$(METHODS),$(foreach t,lang disparity stats compare contrasts,$(OUT)/$(m)/$(t).tsv)) \
	$(OUT)/configs.tsv $(OUT)/greedy.tsv \
	$(if $(filter-out 0,$(K)),$(OUT)/greedy-confirm.tsv)

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

# the two halves of the parallel units (an article's paragraphs in one),
# for the cross-fitted greedy search, and each half's text and tokens
$(OUT)/halves.tsv: $(LANGS:%=$(OUT)/text/%.tsv) $(PROTECT_SRC)
	$(PROTECT_PY) halves $@ $(filter %.tsv,$^)

$(OUT)/text-%/.done: $(OUT)/halves.tsv $(LANGS:%=$(OUT)/text/%.tsv)
	@mkdir -p $(@D)
	for l in $(LANGS); do \
	  awk -F'\t' -v h=$* 'NR == FNR { if ($$3 == h) keep[$$1]; next } FNR == 1 || ($$1 in keep)' \
	    $< $(OUT)/text/$$l.tsv > $(@D)/$$l.tsv.tmp && mv $(@D)/$$l.tsv.tmp $(@D)/$$l.tsv || exit 1; \
	done
	touch $@

$(OUT)/proper/tokens-%.qft: $(OUT)/text-%/.done $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text $(TOKENIZE) --unit paragraph -o $@ $(LANGS:%=$(OUT)/text-$*/%.tsv)

# the salient input channels (CHANNELS=1): qf-act's statistics over the
# first CALIB_LINES lines of each language's training text
$(OUT)/calib/%.txt: $(CALIB)/%.txt
	@mkdir -p $(@D)
	head -n $(CALIB_LINES) $< > $@.tmp
	mv $@.tmp $@

$(OUT)/calib/tokens.qft: $(LANGS:%=$(OUT)/calib/%.txt) $(QF_EXTRACT)
	$(QF_EXTRACT) text $(TOKENIZE) -o $@ $(filter %.txt,$^)

$(OUT)/calib/channels.qft: $(OUT)/calib/tokens.qft $(MODEL) $(QF_ACT) $(KERNELS)
	$(QF_ACT) -m $(MODEL) --channel-stats $@.tmp --reduce mean -o /dev/null $<
	mv $@.tmp $@
CHANNEL_STATS := $(if $(CHANNEL_CONFIGS),$(OUT)/calib/channels.qft)

# --- scoring, a group of configurations a pass -------------------------------------

# the scopes of claim 5: the morphologically rich languages (RICH_TYPES)
# and the others, as qf-eval --group NAME=L1,L2,...
RICH := $(shell awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($$i == "morph_type") c = i; next } \
	{ print $$1 "\t" $$c }' $(LANGUAGES) | awk -F'\t' -v t=' $(RICH_TYPES) ' -v l=' $(LANGS) ' \
	'index(l, " " $$1 " ") && index(t, " " $$2 " ") { print $$1 }' | paste -sd,)
OTHER := $(shell echo $(LANGS) | tr ' ' '\n' | grep -vxF -e '$(subst $(comma),' -e ',$(RICH))' -e '' | paste -sd,)
SCOPES := $(if $(and $(RICH),$(OTHER)),rich=$(RICH)|other=$(OTHER))
# claim 5, the benefit of keeping the earlier layers (none's mean damage
# less theirs) in the rich languages against the others: more (rich -
# other), and 9.7 times more (rich - 9.7 other); contrasts across scopes
ifneq ($(SCOPES),)
CONTRASTS := $(CONTRASTS)|rich_more=+none@rich -$(EARLIER_CONFIG)@rich -none@other +$(EARLIER_CONFIG)@other|rich_times=+none@rich -$(EARLIER_CONFIG)@rich -9.7*none@other +9.7*$(EARLIER_CONFIG)@other
endif

# $(call group_env,METHOD,JOBS[,TOKENS[,CONTRASTS]]): protect-group's environment
group_env = QF_BIN=$(BIN) MODEL=$(MODEL) TOKENS=$(or $(3),$(OUT)/$(1)/tokens.qft) \
	LANGUAGES=$(LANGUAGES) QUANT_OPTS='$(QUANT_OPTS)' MEASURE=$(MEASURE) BOOTSTRAP=$(BOOTSTRAP) \
	SEED=$(SEED) JOBS=$(2) SCOPES='$(SCOPES)' CONTRASTS="$(4)" CHANNEL_STATS=$(CHANNEL_STATS)

# the tables of a pass: $(call pass_out,PREFIX,METHOD[,contrasts])
pass_out = $(foreach t,lang disp units stats compare $(3),$(1).$(t).tsv)

# the configurations METHOD scores of a list: compat, the earlier study's
# quantizer, has no salient channels
method_configs = $(if $(filter compat,$(1)),$(filter-out ch%,$(2)),$(2))

# the tables of group ID of METHOD: $(call group_out,METHOD,ID)
group_out = $(call pass_out,$(OUT)/$(1)/g$(2),$(1),$(if $(filter $(FIRST_GROUP),$(2)),contrasts))

# $(call score,METHOD,PREFIX,CONFIGS,JOBS[,TOKENS[,CONTRASTS]]): the command that scores one group
ifeq ($(HOSTS),)
score = $(call group_env,$(1),$(4),$(5),$(6)) $(LIB)/protect-group $(1) $(2) $(3)

# $(call group-rule,METHOD,ID)
define group-rule
$(call group_out,$(1),$(2)) &: $(OUT)/$(1)/tokens.qft $(MODEL) $(LANGUAGES) $(TOOLS) $(CHANNEL_STATS)
	$(call score,$(1),$(OUT)/$(1)/g$(2),$(call method_configs,$(1),$(call group_configs,$(2))),$(JOBS),,$(if $(filter $(FIRST_GROUP),$(2)),$(CONTRASTS)))
endef
$(foreach m,$(METHODS),$(foreach g,$(GROUP_IDS),$(eval $(call group-rule,$(m),$(g)))))
else
# across machines: every group of a method in one GNU parallel run over
# HOSTS (dist-groups-rule, dist.mk), a greedy round as one remote job
# (score)
$(foreach m,$(METHODS),$(eval $(call dist-groups-rule,$(m))))
endif

# --- the greedy search (proper method), cross-fitted -----------------------------

# Each half of the parallel units (halves.tsv) selects by its units'
# mean damage (qf-eval's units tables: kl_sum for kl_unit, d_bits for
# d_bits_unit); round R's candidates are both halves' (the best of round
# R - 1 plus each other layer of the beam), those the sweep or an earlier
# round did not score scored here on all of the text; then each half's
# choice is scored on each half (greedy-confirm.tsv): on the half that
# chose it and on the half held out.
UNITS_COL := $(if $(filter kl_unit,$(MEASURE)),kl_sum,$(if $(filter d_bits_unit,$(MEASURE)),d_bits))
ifneq ($(K),0)
ifeq ($(UNITS_COL),)
$(error MEASURE=$(MEASURE): the cross-fitted greedy search needs a per-unit measure (kl_unit or d_bits_unit), or BUDGET=0)
endif
endif
GREEDY_OPTS = --layers $(N_LAYER) --halves $(OUT)/halves.tsv --col $(UNITS_COL) --beam $(BEAM)
prev_rounds = $(foreach r,$(shell seq $(FIRST_ROUND) $$(( $(1) - 1 ))),$(OUT)/greedy/r$(r).units.tsv)
SWEEP_UNITS := $(foreach g,$(GROUP_IDS),$(OUT)/proper/g$(g).units.tsv)
define round-rule
$(OUT)/greedy/r$(1).cands: $(SWEEP_UNITS) $(call prev_rounds,$(1)) $(OUT)/halves.tsv $(PROTECT_SRC)
	@mkdir -p $$(@D)
	$(PROTECT_PY) greedy $(GREEDY_OPTS) --k $(1) $$@ $$(filter %.units.tsv,$$^)

$(call pass_out,$(OUT)/greedy/r$(1),proper) &: $(OUT)/greedy/r$(1).cands $(SWEEP_UNITS) $(call prev_rounds,$(1)) $(OUT)/proper/tokens.qft $(MODEL) $(TOOLS) $(CHANNEL_STATS)
	$(call score,proper,$(OUT)/greedy/r$(1),$$$$($(PROTECT_PY) missing $$< $(SWEEP_UNITS) $(call prev_rounds,$(1))),$(ROUND_JOBS))
endef
$(foreach r,$(ROUNDS),$(eval $(call round-rule,$(r))))
ALL_UNITS := $(SWEEP_UNITS) $(foreach r,$(ROUNDS),$(OUT)/greedy/r$(r).units.tsv)

# each half's choice, and the earlier layers and none beside them, scored
# on half X (the tokens of its units): the choices against none and the
# earlier layers as qf-eval contrasts
chosen = $$(awk -F'\t' 'NR > 2 && $$2 == $(K) { print $$3 }' $(OUT)/greedy.tsv | awk '!s[$$0]++' | paste -sd' ')
confirm_contrasts = $$(awk -F'\t' -v e=$(EARLIER_CONFIG) 'NR > 2 && $$2 == $(K) { \
	printf "%s%s_vs_none=+%s -none", s, $$1, $$3; s = "|"; \
	if ($$3 != e) printf "|%s_vs_earlier=+%s -%s", $$1, $$3, e }' $(OUT)/greedy.tsv)
define confirm-rule
$(call pass_out,$(OUT)/greedy/confirm-$(1),proper,contrasts) &: $(OUT)/greedy.tsv $(OUT)/proper/tokens-$(1).qft $(MODEL) $(TOOLS) $(CHANNEL_STATS)
	@mkdir -p $$(@D)
	$(call score,proper,$(OUT)/greedy/confirm-$(1),$(EARLIER_CONFIG) $$(chosen),$(ROUND_JOBS),$(OUT)/proper/tokens-$(1).qft,$$(confirm_contrasts))
endef
$(foreach h,A B,$(eval $(call confirm-rule,$(h))))

$(OUT)/greedy-confirm.tsv: $(OUT)/greedy.tsv $(OUT)/greedy/confirm-A.disp.tsv $(OUT)/greedy/confirm-B.disp.tsv $(PROTECT_SRC)
	$(PROTECT_PY) confirm $< $@ $(OUT)/greedy/confirm-A.disp.tsv $(OUT)/greedy/confirm-B.disp.tsv

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

$(OUT)/greedy.tsv: $(OUT)/configs.tsv $(OUT)/proper/disparity.tsv $(OUT)/halves.tsv $(ALL_UNITS) $(PROTECT_SRC)
	$(PROTECT_PY) greedy-table $(GREEDY_OPTS) --k $(K) $< $(OUT)/proper/disparity.tsv $@ $(ALL_UNITS)

# the comparison of every configuration of the first pass, and the
# claims' contrasts (the compat method's without intervals)
define first-pass-rule
$(OUT)/$(1)/$(2).tsv: $(OUT)/$(1)/g$(FIRST_GROUP).$(2).tsv
	cp $$< $$@.tmp
	mv $$@.tmp $$@
endef
$(foreach m,$(METHODS),$(foreach t,compare contrasts,$(eval $(call first-pass-rule,$(m),$(t)))))

# --- the report -------------------------------------------------------------

REPORT := $(LIB)/protect-report
REPORT_OPTS = --languages $(LANGUAGES) --model $(MODEL) --corpus $(CORPUS) \
	  --tokenize='$(TOKENIZE)' --quant='$(QUANT_OPTS)' --paras='$(PARAS)' \
	  --bootstrap $(BOOTSTRAP) --seed $(SEED) \
	  --budget $(BUDGET) --earlier $(EARLIER) --sets '$(SETS)'
REPORT_IN := $(foreach m,$(METHODS),$(OUT)/$(m)/lang.tsv $(OUT)/$(m)/disparity.tsv $(OUT)/$(m)/stats.tsv) \
	$(OUT)/configs.tsv $(OUT)/greedy.tsv $(if $(filter-out 0,$(K)),$(OUT)/greedy-confirm.tsv) \
	$(foreach m,$(METHODS),$(OUT)/$(m)/contrasts.tsv) $(LANGUAGES) $(REPORT) $(QFTSV)

# the study's own tables, which qf-fit reads
$(OUT)/summary.tsv $(OUT)/criticality.tsv $(OUT)/morph.tsv $(OUT)/damage.tsv &: $(REPORT_IN)
	$(PY) $(REPORT) --tables $(REPORT_OPTS) $(OUT)

# --- the statistics (qf-fit; docs/fit.md) --------------------------------------------

QF_FIT := $(BIN)/qf-fit
FIT := $(OUT)/fit
# Spearman's correlations with BCa bootstrap intervals and, for the
# layers' few points, permutation p-values (Holm over a table's rows)
COR = $(QF_FIT) cor --method spearman $(if $(filter-out 0,$(BOOTSTRAP)),--bootstrap $(BOOTSTRAP)) --seed $(SEED)
WEIGHT_PAIRS := proper_benefit:variance,proper_benefit:kurtosis,proper_benefit:absmax,proper_benefit:rel_fro,compat_benefit:variance,compat_benefit:kurtosis,compat_benefit:absmax,compat_benefit:compat_rel_fro
FIT_TABLES := $(FIT)/methods.tsv $(FIT)/weights.tsv $(FIT)/fertility.tsv \
	$(foreach m,$(METHODS),$(FIT)/earlier-$(m).coef.tsv $(FIT)/earlier-$(m).model.tsv)

# do the two methods order the configurations alike?
$(FIT)/methods.tsv: $(OUT)/summary.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(COR) --where kind=protect --pairs proper_mean:compat_mean,proper_rel_ref_mean:compat_rel_ref_mean -o $@ $<

# the single-layer benefit against the layer's weight statistics
$(FIT)/weights.tsv: $(OUT)/criticality.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(COR) --permutations 9999 --pairs $(WEIGHT_PAIRS) -o $@ $<

# claim 6: does a language's fertility predict its damage under none?
$(FIT)/fertility.tsv: $(OUT)/damage.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(COR) --pairs fertility:proper_none,fertility:compat_none -o $@ $<

# the earlier study's fit form, log(disparity) ~ norm(variance), per
# method: in-sample and leave-one-layer-out R2 in the model table
$(FIT)/earlier-%.coef.tsv $(FIT)/earlier-%.model.tsv: $(OUT)/criticality.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(QF_FIT) lm 'log($*_mean) ~ z(variance)' --model-out $(FIT)/earlier-$*.model.tsv \
	  -o $(FIT)/earlier-$*.coef.tsv $<

# the earlier study's claims, decided (pipelines/lib/verdicts.py: the
# cells of the contrasts and fit tables, and the rules)
$(OUT)/verdicts.tsv: $(foreach m,$(METHODS),$(OUT)/$(m)/contrasts.tsv $(FIT)/earlier-$(m).coef.tsv \
		$(FIT)/earlier-$(m).model.tsv) $(FIT)/fertility.tsv $(LIB)/verdicts.py $(QFTSV)
	$(PY) $(LIB)/verdicts.py sweep $(OUT)

$(OUT)/report.md: $(REPORT_IN) $(OUT)/summary.tsv $(OUT)/criticality.tsv $(OUT)/morph.tsv $(FIT_TABLES) $(OUT)/verdicts.tsv
	$(PY) $(REPORT) $(REPORT_OPTS) $(OUT)

stats: $(FIT_TABLES)
verdicts: $(OUT)/verdicts.tsv

.PHONY: all tables stats verdicts
