#!/usr/bin/python3
"""replicate.py - the profiles of several models' protection sweeps in
one table each (pipelines/replicate.mk).

  replicate.py OUT NAME=SWEEP...

Reads each sweep's criticality.tsv, morph.tsv and qf-fit's
fit/earlier-proper.{coef,model}.tsv (protect.mk's outputs) and writes
into OUT:

  layers.tsv          model, layer and the layer's figures: the benefit
                      of keeping it (proper_benefit, compat_benefit), the
                      damage of quantizing it alone (proper_alone,
                      compat_alone), its weight variance
  languages.tsv       model, lang, morph_type, script and the damage of
                      quantizing every layer (proper_none: the proper
                      measure, compat_none: compat's deg)
  earlier-models.tsv  model, then qf-fit's model row of the earlier
                      study's fit on that model and the slope's row of
                      its coefficients (slope, slope_lo, slope_hi,
                      slope_p)

Values are copied as the tables hold them: no statistic is computed here
(qf-fit computes them from these tables).  Every sweep's tables must have
been made with the same kernels.  Each file is written whole under a
temporary name and renamed.  Standard library only.
"""
import os
import sys

sys.dont_write_bytecode = True    # no __pycache__ in pipelines/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qftsv  # noqa: E402

PROG = "replicate.py"
LAYER_COLS = ["proper_benefit", "proper_alone", "compat_benefit", "compat_alone", "variance"]


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        sys.stderr.write("usage: %s OUT NAME=SWEEP...\n" % PROG)
        return 2
    out = argv[1]
    tables = []
    layers, langs, earlier = [], [], []
    earlier_head = None
    try:
        for arg in argv[2:]:
            name, d = arg.split("=", 1)
            crit = qftsv.Table(os.path.join(d, "criticality.tsv"))
            morph = qftsv.Table(os.path.join(d, "morph.tsv"))
            model = qftsv.Table(os.path.join(d, "fit", "earlier-proper.model.tsv"))
            coef = qftsv.Table(os.path.join(d, "fit", "earlier-proper.coef.tsv"))
            tables += [crit, morph, model, coef]
            crit.need("layer", *LAYER_COLS)
            for r in crit.dicts():
                layers.append([name, r["layer"]] + [r[c] for c in LAYER_COLS])
            # the proper measure's column: proper_MEASURE, with _lo, _hi
            meas = [c for c in morph.head if c.startswith("proper_")
                    and not c.endswith(("_lo", "_hi"))]
            if len(meas) != 1:
                raise qftsv.Error(morph.path, "not one proper measure column: %s"
                                  % (", ".join(meas) or "none"))
            morph.need("lang", "role", "morph_type", "script", "compat_deg")
            for r in morph.dicts():
                if r["role"] == "none":
                    langs.append([name, r["lang"], r["morph_type"], r["script"],
                                  r[meas[0]], r["compat_deg"]])
            mh = model.head
            if earlier_head is None:
                earlier_head = mh
            elif mh != earlier_head:
                raise qftsv.Error(model.path, "another header than %s's" % tables[2].path)
            rows = model.dicts()
            if len(rows) != 1:
                raise qftsv.Error(model.path, "%d model rows, not 1" % len(rows))
            coef.need("term", "estimate", "ci_low", "ci_high", "p")
            slope = [r for r in coef.dicts() if r["term"] != "Intercept"]
            if len(slope) != 1:
                raise qftsv.Error(coef.path, "not one slope")
            s = slope[0]
            earlier.append([name] + [rows[0][c] for c in mh] +
                           [s["estimate"], s["ci_low"], s["ci_high"], s["p"]])
        k = qftsv.same_kernels(tables)
        prov = k.replace(" ", " tool=replicate.py ", 1) if k else None
        os.makedirs(out, exist_ok=True)
        qftsv.write(os.path.join(out, "layers.tsv"), ["model", "layer"] + LAYER_COLS, layers, prov)
        qftsv.write(os.path.join(out, "languages.tsv"),
                    ["model", "lang", "morph_type", "script", "proper_none", "compat_none"],
                    langs, prov)
        qftsv.write(os.path.join(out, "earlier-models.tsv"),
                    ["model"] + earlier_head + ["slope", "slope_lo", "slope_hi", "slope_p"],
                    earlier, prov)
    except qftsv.Error as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 1
    except OSError as e:
        sys.stderr.write("%s: %s: %s\n" % (PROG, e.filename, (e.strerror or "error").lower()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
