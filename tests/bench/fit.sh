#!/usr/bin/env bash
# tests/bench/fit.sh BUILD [ROUNDS] - qf-fit against statsmodels and scipy
# through the command line (docs/benchmarks.md, issue 19).
#
# tests/bench/fit_ref.py writes seeded tables (numpy) and is the
# reference: a Python script a subcommand that reads the same table with
# pandas, fits with statsmodels or scipy, and writes its table, so that
# both sides pay for reading and writing.  First every qf-fit command and
# its reference run once and their tables are compared (fit_ref.py
# agree: 1e-8 relative on closed forms, 1e-4 on the variance components;
# the k-fold R2 on qf's folds and the bootstrap on qf's draws, fed to the
# reference): the script fails if they disagree.  Then each pair is timed
# (tests/bench/pairs.sh): ROUNDS rounds (default 5), 3 for the slow
# pairs (the 200 000-row models, the crossed mixed model); the timed
# references draw their own folds and replicates (numpy).  Files go to
# $TMPDIR, else /dev/shm, else /tmp.  Not a test: nothing passes or
# fails on speed.
set -euo pipefail
build=${1:?usage: fit.sh BUILD [ROUNDS]}
rounds=${2:-5}
bin=$(cd "$build/bin" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
. "$here/pairs.sh"
scratch fit
export PATH=$bin:$PATH

ref="$py $here/fit_ref.py"
F='y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + C(g)'
X=$(seq -s, -f 'c%g' 1 30)
lm="qf-fit lm '$F' --digits 17 --model-out lm_m.tsv -o lm_c.tsv lm.tsv"
lmr="$ref lm lm.tsv lm_c.ref lm_m.ref '$F'"
sp="qf-fit cor --method spearman --x $X --digits 17 -o sp.tsv cor.tsv"
spr="$ref cor cor.tsv sp.ref spearman $X"
kd="qf-fit cor --method kendall --x $X --digits 17 -o kd.tsv kendall.tsv"
kdr="$ref cor kendall.tsv kd.ref kendall $X"
bt="qf-fit cor --method spearman --pairs a:b --bootstrap 2000 --digits 17 -o bt.tsv boot.tsv"
btr="$ref boot boot.tsv bt.ref 2000"
mx="qf-fit mixed 'y ~ x' --groups lang,unit --digits 17 --model-out mx_m.tsv -o mx_c.tsv crossed.tsv"
mxr="$ref mixed crossed.tsv mx_c.ref mx_m.ref 'y ~ x' lang,unit"
m1="qf-fit mixed 'y ~ x' --groups g --intervals --digits 17 --model-out m1_m.tsv -o m1_c.tsv oneway.tsv"
m1r="$ref mixed oneway.tsv m1_c.ref m1_m.ref 'y ~ x' g"

# agree KIND QF-COMMAND REFERENCE FILE...: both once, then their tables.
agree() {
	local kind=$1
	bash -c "$2"
	bash -c "$3"
	shift 3
	$ref agree "$kind" "$@"
}

echo "# $($py -c 'import numpy, pandas, scipy, statsmodels as s
print("statsmodels", s.__version__, "scipy", scipy.__version__, "pandas", pandas.__version__, "numpy", numpy.__version__)')"
echo "# $rounds rounds (3 for the slow pairs), median of each; files in $tmp"
$ref gen .
t0=$SECONDS
agree lm "$lm --folds 10" "$lmr --folds 10 --qf-folds" lm_c.tsv lm_m.tsv lm_c.ref lm_m.ref
agree cor "$sp" "$spr" sp.tsv sp.ref
agree cor "$kd" "$kdr" kd.tsv kd.ref
agree boot "$bt" "$btr --qf-draws" bt.tsv bt.ref
agree mixed "$mx" "$mxr" mx_c.tsv mx_m.tsv mx_c.ref mx_m.ref
agree mixed "$m1" "$m1r" m1_c.tsv m1_m.tsv m1_c.ref m1_m.ref
echo "# the tables agree ($((SECONDS - t0)) s)"

header "qf-fit" "statsmodels / scipy (fit_ref.py)"
pair "$sp" "$spr" "\`cor --method spearman\`, 30 columns (435 pairs) x 5000 rows, Holm" \
	"\`spearmanr\` a pair, \`multipletests\`"
pair "$kd" "$kdr" "\`cor --method kendall\`, the same x 1000 rows" \
	"\`kendalltau\` a pair, \`multipletests\`"
pair "$bt" "$btr" "\`cor --method spearman --bootstrap 2000\`, 1 pair x 200 rows (BCa)" \
	"\`bootstrap(method='BCa')\` of \`spearmanr\`"
pair "$m1" "$m1r" "\`mixed 'y ~ x' --groups g --intervals\`, 50 groups x 40 rows" \
	"\`MixedLM\` (groups; no intervals)"
all=$rounds
rounds=$((all < 3 ? all : 3))
pair "$mx" "$mxr" "\`mixed 'y ~ x' --groups lang,unit\`, 30 x 150 crossed (4500 rows)" \
	"\`MixedLM\`, two \`vc_formula\` components"
pair "$lm" "$lmr" "\`lm\` y ~ x1..x8 + C(g), 200 000 rows, 48 coefficients" \
	"\`smf.ols\`, \`HC3_se\`, \`get_influence\` (PRESS)"
pair "$lm --folds 10" "$lmr --folds 10" "the same \`--folds 10\`" \
	"the same + 10 \`sm.OLS\` fits"
rounds=$all
echo
echo "# Python's start and the imports alone, in each reference's time (3 runs):"
echo
echo "| the reference's imports | wall (CPU), peak RSS |"
echo "|---|---|"
for m in 'scipy.stats, statsmodels.stats.multitest' 'scipy.stats' \
	'statsmodels.api' 'statsmodels.api, statsmodels.formula.api'; do
	: > q.t
	for ((r = 0; r < 3; r++)); do
		timed "$py -c 'import numpy, pandas, $m'" >> q.t
	done
	printf '| `import numpy, pandas, %s` | %s |\n' "$m" "$(figures q.t)"
done
