# demo.mk - the placeholder default study: weight statistics of a model.
#
# Until qf reads real checkpoints (qf-extract) this takes an .npz of
# GPT-2-shaped weights, turns it into a qf stream, writes per-tensor
# statistics as TSV and checks that the stream converts back to the same
# arrays.  Later issues grow this into the protection sweep.
#
#   make -f pipelines/demo.mk [OUT=out/demo] [WEIGHTS=file.npz]
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

OUT ?= $(TOP)/out/demo
WEIGHTS ?= $(OUT)/demo-weights.npz

all: $(OUT)/stats.tsv $(OUT)/roundtrip.ok
	@echo "demo: $(OUT)/stats.tsv"
	@column -t -s $$'\t' $(OUT)/stats.tsv | head -n 12

$(OUT)/demo-weights.npz: $(TOP)/pipelines/data/make-demo-weights.py
	@mkdir -p $(@D)
	$(PY) $< $@.tmp.npz && mv $@.tmp.npz $@

$(OUT)/weights.qft: $(WEIGHTS) $(QF_CAT)
	$(QF_CAT) --from npz --shuffle --level $(LEVEL) -o $@ $<

# name dtype shape bytes attrs mean std min max nan
$(OUT)/stats.tsv: $(OUT)/weights.qft $(QF_CAT)
	{ printf 'name\tdtype\tshape\tbytes\tattrs\tmean\tstd\tmin\tmax\tnan\n'; \
	  $(QF_CAT) --stats $<; } > $@.tmp && mv $@.tmp $@

$(OUT)/roundtrip.ok: $(OUT)/weights.qft $(WEIGHTS) $(QF_CAT)
	$(QF_CAT) --to npz -o $(OUT)/back.npz $<
	$(PY) -c 'import numpy as np, sys; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); \
	  assert sorted(a.files) == sorted(b.files); \
	  assert all(a[k].tobytes() == b[k].tobytes() for k in a.files)' $(WEIGHTS) $(OUT)/back.npz
	touch $@

.PHONY: all
