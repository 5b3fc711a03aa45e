/*
 * qf-fit - the statistics of a study over TSV tables: linear models
 * (lm), correlations (cor), permutation tests of two groups (perm), linear
 * mixed models and ICCs (mixed), with the tables joined and filtered on
 * the way in.
 *
 * One binary, one subcommand a run: the subcommand is the first
 * operand, and each is one entry of subcmds[], which lists the options
 * it takes beyond the common ones (the others refuse them).  Options, files and
 * messages; the work is lib/fit/'s, specified in docs/fit.md.  Memory:
 * the tables, whole, as text.  See docs/man/qf-fit.1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-fit SUBCOMMAND [OPTION]... [TABLE]...\n"
	"The statistics of a study over TSV tables (as qf's tools write them),\n"
	"several joined on key columns.  With no TABLE, or when TABLE is -,\n"
	"read standard input.  Subcommands:\n"
	"  lm FORMULA             a linear model, least squares (weighted with\n"
	"                         --weights): 'y ~ x1 + x2 + x1:x2 + C(f)', '- 1'\n"
	"                         drops the intercept; log(), log1p(), z(), rank(),\n"
	"                         sq() transform a column\n"
	"  cor                    correlations of many pairs of columns, with\n"
	"                         tests, intervals and adjusted p-values\n"
	"  perm 'Y ~ GROUP'       a permutation test of the difference of the means\n"
	"                         of Y between two levels of the column GROUP\n"
	"  mixed FORMULA --groups G[,G2]\n"
	"                         a linear mixed model by REML: FORMULA's fixed\n"
	"                         effects, a random intercept per level of each\n"
	"                         grouping column (one, or two crossed)\n"
	"\n"
	"Tables:\n"
	"      --join KEY[,KEY]...  join the tables on these columns (every key\n"
	"                         once in every table)\n"
	"      --where COL=VALUE  keep the rows where COL is VALUE (repeatable)\n"
	"      --drop-na          drop rows with an NA in a column used (and\n"
	"                         say how many), rather than stop\n"
	"Output:\n"
	"  -o, --output FILE      the coefficients table (default: standard output)\n"
	"      --model-out FILE   the model table: n, R^2, F, AIC, BIC, CV R^2...\n"
	"      --digits N         significant digits of numbers (default 6, 1..17)\n"
	"lm:\n"
	"      --weights COL      weighted least squares with weights COL\n"
	"      --folds K          k-fold cross-validated R^2 (K >= 2)\n"
	"      --seed S           seed of the folds (default 1)\n"
	"      --cv-group COL     leave-one-group-out R^2, a group a value of COL\n"
	"      --vs FORMULA       F test against this smaller nested model\n"
	"cor:\n"
	"      --pairs X:Y[,X:Y]...  these pairs of columns (or transforms: log(x))\n"
	"      --x COLS [--y COLS]  every column of --x with every one of --y;\n"
	"                         without --y, every pair of the --x columns\n"
	"      --method M         pearson (default), spearman or kendall\n"
	"      --partial COLS     Pearson's partial correlation given these columns\n"
	"      --adjust A         p adjusted over the rows: holm (default), bh, none\n"
	"      --bootstrap B      the interval from B bootstrap replicates of the\n"
	"                         pairs (seeded with --seed, default 1)\n"
	"      --ci K             its kind: bca (default) or percentile\n"
	"      --permutations N   also a permutation p (exact when there are at\n"
	"                         most N orders, else N seeded random ones)\n"
	"perm:\n"
	"      --levels A,B       the two levels compared, A - B (default: the\n"
	"                         column's two levels, in text order)\n"
	"      --permutations N   exact when there are at most N relabelings, else\n"
	"                         N seeded random ones (default 9999)\n"
	"      --seed S           seed of the random permutations (default 1)\n"
	"mixed:\n"
	"      --groups G[,G2]    the grouping columns (random intercepts)\n"
	"      --ml               maximum likelihood rather than REML\n"
	"      --intervals        profile likelihood intervals of the variance\n"
	"                         components (and of the ICC, one factor)\n"
	"      --icc              -o is the ICC(1) table of the one factor, with\n"
	"                         its intervals (a profile across replicates)\n"
	"      --ranef FILE       the predicted random effects, per level\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-fit lm 'log(disparity) ~ z(variance)' --model-out model.tsv -o coef.tsv criticality.tsv\n"
	"  qf-fit lm 'y ~ x' --join lang --weights n --cv-group morph lang.tsv languages.tsv\n"
	"  qf-fit lm 'y ~ x1 + x2 + x1:x2' --vs 'y ~ x1' --model-out - -o /dev/null t.tsv\n"
	"  qf-fit cor --method spearman --x variance,layer --y 'log(disparity)' criticality.tsv\n"
	"  qf-fit cor --x 'y,x,log(n)' --bootstrap 2000 --adjust bh lang.tsv\n"
	"  qf-fit perm 'y ~ morph' --levels m0,m1 --join lang lang.tsv languages.tsv\n"
	"  qf-fit mixed 'log(kl_sum) ~ 1' --groups lang,unit --intervals --model-out vc.tsv units.tsv\n"
	"  qf-fit mixed 'crit ~ 1' --groups layer --icc profiles.tsv\n"
	;

enum { O_JOIN = 0x2000, O_WHERE, O_DROPNA, O_MODEL, O_DIGITS, O_WEIGHTS,
       O_FOLDS, O_SEED, O_CVGROUP, O_VS };
enum { O_GROUPS = 0x2400, O_ML, O_INTERVALS, O_ICC, O_RANEF };

#define MAXW 64
#define MAXSEEN 64

enum { O_PAIRS = 0x2100, O_X, O_Y, O_METHOD, O_PARTIAL, O_ADJUST, O_BOOT,
       O_CI, O_PERMS, O_LEVELS };

/* Lists of expressions, split at commas. */
struct list {
	char **s;
	int n;
};

struct cor_opts {
	const char *pairs, *x, *y, *partial, *levels;
	int method, adjust;	/* QF_COR_*; QF_ADJ_* or -1: none */
	int nboot, ci;		/* --bootstrap, QF_BOOT_* (-1: not given) */
	uint64_t nperm;		/* --permutations; 0 not given */
	struct list px, py, z;	/* the pairs (px.s[i], py.s[i]), covariates */
	struct list lv;		/* perm's two levels */
	char *resp, *group;	/* perm's 'RESP ~ GROUP' */
};

struct opts;
static int cor_option(struct opts *o, int c);
static void cor_operands(struct opts *o, int argc, char **argv);
static void perm_operands(struct opts *o, int argc, char **argv);
static int run_cor(struct opts *o, const qf_fit_table *t, qf_err *e);
static int run_perm(struct opts *o, const qf_fit_table *t, qf_err *e);
static void cor_free(struct opts *o);

struct opts {
	const struct subcmd *cmd;
	const char *output, *model_out, *join, *where[MAXW];
	int nwhere, digits;
	char **keys;		/* --join, split */
	int nkey;
	const char *formula, *vs;
	qf_fit_formula *f, *fvs;
	qf_fit_lm_opts lm;
	struct {
		char *groups;	/* --groups, split into opts.groups */
		qf_fit_mixed_opts opts;
		int icc;
		const char *ranef;
	} mixed;
	char **tables;
	int ntables;
	int seen[MAXSEEN], nseen;	/* the options given */
	struct cor_opts cor;	/* cor, perm */
};

/* A subcommand: its name, the options it takes beyond those of every
 * subcommand (-o, --join, --where, --digits; 0 ends the list: the others
 * are misuse), its operands (from optind: misuse exits) and its run. */
struct subcmd {
	const char *name;
	const int *opts;
	void (*operands)(struct opts *o, int argc, char **argv);
	int (*run)(struct opts *o, const qf_fit_table *t, qf_err *e);
};

static void lm_operands(struct opts *o, int argc, char **argv);
static int run_lm(struct opts *o, const qf_fit_table *t, qf_err *e);
static void mixed_operands(struct opts *o, int argc, char **argv);
static int run_mixed(struct opts *o, const qf_fit_table *t, qf_err *e);

static const int lm_opts[] = {
	O_MODEL, O_DROPNA, O_WEIGHTS, O_FOLDS, O_SEED, O_CVGROUP, O_VS, 0
};
static const int cor_opts[] = {
	O_PAIRS, O_X, O_Y, O_METHOD, O_PARTIAL, O_ADJUST, O_BOOT, O_CI, O_PERMS,
	O_SEED, 0
};
static const int perm_opts[] = { O_LEVELS, O_PERMS, O_SEED, 0 };
static const int mixed_opts[] = {
	O_MODEL, O_DROPNA, O_GROUPS, O_ML, O_INTERVALS, O_ICC, O_RANEF, 0
};

static const struct subcmd subcmds[] = {
	{ "lm", lm_opts, lm_operands, run_lm },
	{ "cor", cor_opts, cor_operands, run_cor },
	{ "perm", perm_opts, perm_operands, run_perm },
	{ "mixed", mixed_opts, mixed_operands, run_mixed },
};


/* "a,b,c" into o->keys. */
static void split_keys(struct opts *o)
{
	char *s = strdup(o->join), *p, *save = NULL;

	if (!s)
		qf_tool_die(1, "out of memory");
	for (p = strtok_r(s, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char **k = realloc(o->keys, (size_t)(o->nkey + 1) * sizeof *k);

		if (!k || !(k[o->nkey] = strdup(p)))
			qf_tool_die(1, "out of memory");
		o->keys = k;
		o->nkey++;
	}
	free(s);
	if (!o->nkey || o->join[0] == ',' || strstr(o->join, ",,") ||
	    o->join[strlen(o->join) - 1] == ',')
		qf_tool_usage_error("--join wants KEY[,KEY]..., not '%s'", o->join);
}

static void option(struct opts *o, int c, char **argv)
{
	switch (c) {
	case 'o':
		o->output = optarg;
		break;
	case O_MODEL:
		o->model_out = optarg;
		break;
	case O_JOIN:
		o->join = optarg;
		break;
	case O_WHERE:
		if (o->nwhere == MAXW)
			qf_tool_usage_error("more than %d --where", MAXW);
		if (!strchr(optarg, '=') || optarg[0] == '=')
			qf_tool_usage_error("--where wants COL=VALUE, not '%s'",
					    optarg);
		o->where[o->nwhere++] = optarg;
		break;
	case O_DROPNA:
		o->lm.drop_na = 1;
		break;
	case O_DIGITS:
		o->digits = (int)qf_tool_parse_count("--digits", optarg, 17);
		if (o->digits < 1)
			qf_tool_usage_error("--digits: 1 to 17, not '%s'", optarg);
		break;
	case O_WEIGHTS:
		o->lm.weights = optarg;
		break;
	case O_FOLDS:
		o->lm.folds = (int)qf_tool_parse_count("--folds", optarg, 1000000);
		if (o->lm.folds < 2)
			qf_tool_usage_error("--folds: at least 2, not '%s'", optarg);
		break;
	case O_SEED:
		o->lm.seed = qf_tool_parse_count("--seed", optarg, UINT64_MAX);
		break;
	case O_CVGROUP:
		o->lm.cv_group = optarg;
		break;
	case O_VS:
		o->vs = optarg;
		break;
	case O_GROUPS:
		o->mixed.groups = optarg;
		break;
	case O_ML:
		o->mixed.opts.ml = 1;
		break;
	case O_INTERVALS:
		o->mixed.opts.intervals = 1;
		break;
	case O_ICC:
		o->mixed.icc = 1;
		break;
	case O_RANEF:
		o->mixed.ranef = optarg;
		break;
	default:
		if (cor_option(o, c))	/* cor, perm */
			break;
		qf_tool_common_option(c, usage, argv);
	}
}

/* "lm, cor, perm, mixed": the subcommands, for messages. */
static const char *subcmd_names(void)
{
	static char names[256];

	for (size_t i = 0, o = 0; i < sizeof subcmds / sizeof subcmds[0] &&
	     o < sizeof names; i++)
		o += (size_t)snprintf(names + o, sizeof names - o, "%s%s",
				      i ? ", " : "", subcmds[i].name);
	return names;
}

/* The subcommand named by argv[1], or misuse. */
static const struct subcmd *subcommand(int argc, char **argv)
{
	if (argc < 2)
		qf_tool_usage_error("no subcommand (%s)", subcmd_names());
	for (size_t i = 0; i < sizeof subcmds / sizeof subcmds[0]; i++)
		if (strcmp(argv[1], subcmds[i].name) == 0)
			return &subcmds[i];
	if (argv[1][0] != '-')
		qf_tool_usage_error("unknown subcommand '%s'", argv[1]);
	return NULL;	/* --help, --version or misuse: the option loop */
}

/* Remember option c (for check_options). */
static void seen(struct opts *o, int c)
{
	for (int i = 0; i < o->nseen; i++)
		if (o->seen[i] == c)
			return;
	if (o->nseen < MAXSEEN)
		o->seen[o->nseen++] = c;
}

/* Every option given is common or one the subcommand takes. */
static void check_options(const struct opts *o, const struct option *longs)
{
	static const int common[] = { 'o', O_JOIN, O_WHERE, O_DIGITS, 0 };

	for (int i = 0; i < o->nseen; i++) {
		int c = o->seen[i], ok = 0;

		for (const int *a = common; *a && !ok; a++)
			ok = *a == c;
		for (const int *a = o->cmd->opts; *a && !ok; a++)
			ok = *a == c;
		for (const struct option *l = longs; !ok && l->name; l++)
			if (l->val == c)
				qf_tool_usage_error("%s: --%s is not one of its options",
						    o->cmd->name, l->name);
	}
}

static void lm_operands(struct opts *o, int argc, char **argv)
{
	qf_err e;

	if (optind >= argc)
		qf_tool_usage_error("lm: no formula");
	o->formula = argv[optind++];
	if (qf_fit_formula_parse(o->formula, &o->f, &e) < 0 ||
	    (o->vs && qf_fit_formula_parse(o->vs, &o->fvs, &e) < 0))
		qf_tool_usage_error("%s", e.msg);
	o->lm.vs = o->fvs;
}

/* mixed's formula, --groups split, and the options that go together. */
static void mixed_operands(struct opts *o, int argc, char **argv)
{
	qf_fit_mixed_opts *m = &o->mixed.opts;
	char *save = NULL, *p;
	qf_err e;

	if (optind >= argc)
		qf_tool_usage_error("mixed: no formula");
	o->formula = argv[optind++];
	if (qf_fit_formula_parse(o->formula, &o->f, &e) < 0)
		qf_tool_usage_error("%s", e.msg);
	if (!o->mixed.groups)
		qf_tool_usage_error("mixed: no --groups (the grouping columns)");
	if (!(o->mixed.groups = strdup(o->mixed.groups)))
		qf_tool_die(1, "out of memory");
	for (p = strtok_r(o->mixed.groups, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		if (m->ngroups == QF_MIXED_MAXF)
			qf_tool_usage_error("--groups: %d columns at most",
					    QF_MIXED_MAXF);
		m->groups[m->ngroups++] = p;
	}
	if (m->ngroups == 2 && strcmp(m->groups[0], m->groups[1]) == 0)
		qf_tool_usage_error("--groups: '%s' twice", m->groups[0]);
	if (!m->ngroups)
		qf_tool_usage_error("--groups wants G[,G2]");
	if (o->mixed.icc && m->ngroups != 1)
		qf_tool_usage_error("--icc: one grouping column, not %d",
				    m->ngroups);
	m->intervals |= o->mixed.icc;
	m->drop_na = o->lm.drop_na;
}

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "model-out", required_argument, NULL, O_MODEL },
		{ "join", required_argument, NULL, O_JOIN },
		{ "where", required_argument, NULL, O_WHERE },
		{ "drop-na", no_argument, NULL, O_DROPNA },
		{ "digits", required_argument, NULL, O_DIGITS },
		{ "weights", required_argument, NULL, O_WEIGHTS },
		{ "folds", required_argument, NULL, O_FOLDS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "cv-group", required_argument, NULL, O_CVGROUP },
		{ "vs", required_argument, NULL, O_VS },
		{ "pairs", required_argument, NULL, O_PAIRS },
		{ "x", required_argument, NULL, O_X },
		{ "y", required_argument, NULL, O_Y },
		{ "method", required_argument, NULL, O_METHOD },
		{ "partial", required_argument, NULL, O_PARTIAL },
		{ "adjust", required_argument, NULL, O_ADJUST },
		{ "bootstrap", required_argument, NULL, O_BOOT },
		{ "ci", required_argument, NULL, O_CI },
		{ "permutations", required_argument, NULL, O_PERMS },
		{ "levels", required_argument, NULL, O_LEVELS },
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "ml", no_argument, NULL, O_ML },
		{ "intervals", no_argument, NULL, O_INTERVALS },
		{ "icc", no_argument, NULL, O_ICC },
		{ "ranef", required_argument, NULL, O_RANEF },
		QF_OPT_END
	};
	int c;

	o->digits = 6;
	o->lm.seed = 1;		/* also cor's and perm's */
	o->cor.ci = -1;		/* cor, perm */
	o->cmd = subcommand(argc, argv);
	opterr = 0;
	optind = o->cmd ? 2 : 1;
	while ((c = getopt_long(argc, argv, ":o:h", longs, NULL)) != -1) {
		option(o, c, argv);
		seen(o, c);
	}
	if (!o->cmd)
		qf_tool_usage_error("no subcommand (%s) before the options",
				    subcmd_names());
	check_options(o, longs);
	o->cmd->operands(o, argc, argv);
	o->tables = argv + optind;
	o->ntables = argc - optind;
	if (o->join)
		split_keys(o);
	if (o->ntables > 1 && !o->join)
		qf_tool_usage_error("%d tables: give --join KEY to join them",
				    o->ntables);
	if (o->join && o->ntables < 2)
		qf_tool_usage_error("--join needs two tables or more");
	qf_tool_distinct_outputs((const char *[]){ "-o", "--model-out",
						   "--ranef" },
				 (const char *[]){ o->output ? o->output : "-",
						   o->model_out,
						   o->mixed.ranef }, 3);
}

static void opts_free(void *arg)
{
	struct opts *o = arg;

	for (int i = 0; i < o->nkey; i++)
		free(o->keys[i]);
	free(o->keys);
	qf_fit_formula_free(o->f);
	qf_fit_formula_free(o->fvs);
	cor_free(o);	/* cor, perm */
	free(o->mixed.groups);	/* mixed */
}

/* The tables read, joined and filtered into t. */
static int read_tables(const struct opts *o, qf_fit_table *t, qf_err *e)
{
	static char *const stdin_[] = { "-" };
	char *const *name = o->ntables ? o->tables : stdin_;
	int n = o->ntables ? o->ntables : 1;

	if (qf_fit_table_read(name[0], t, e) < 0)
		return -1;
	for (int i = 1; i < n; i++) {
		qf_fit_table u;
		int rc;

		if (qf_fit_table_read(name[i], &u, e) < 0)
			return -1;
		rc = qf_fit_table_join(t, &u, (const char *const *)o->keys,
				       o->nkey, i + 1, e);
		qf_fit_table_free(&u);
		if (rc < 0)
			return -1;
	}
	for (int i = 0; i < o->nwhere; i++) {
		const char *eq = strchr(o->where[i], '=');
		char *col = strndup(o->where[i], (size_t)(eq - o->where[i]));
		int rc;

		if (!col)
			return qf_err_set(e, "out of memory");
		rc = qf_fit_table_where(t, col, eq + 1, e);
		free(col);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int run_lm(struct opts *o, const qf_fit_table *t, qf_err *e)
{
	qf_out *oc = NULL, *om = NULL;
	qf_fit_lm r;
	int rc = -1;

	if (qf_fit_lm_run(t, o->f, &o->lm, &r, e) < 0)
		return -1;
	if (r.dropped)
		qf_tool_warn("%zu row%s with an NA dropped (--drop-na), %zu left",
			     r.dropped, r.dropped > 1 ? "s" : "", r.n);
	/* both outputs opened and written before either is committed: a
	 * path that cannot be created leaves neither */
	if ((o->model_out && !(om = qf_out_open(o->model_out, e))) ||
	    !(oc = qf_out_open(o->output, e)))
		goto out;
	if (om)
		qf_fit_lm_write_model(qf_out_file(om), &r, o->formula, o->vs,
				      o->digits);
	qf_fit_lm_write_coef(qf_out_file(oc), &r, o->digits);
	rc = om ? qf_out_commit(om, e) : 0;
	om = NULL;
	if (rc == 0)
		rc = qf_out_commit(oc, e);
	oc = NULL;
out:
	if (om)
		qf_out_abort(om);
	if (oc)
		qf_out_abort(oc);
	qf_fit_lm_free(&r);
	return rc;
}


/* s split at commas into l; an empty item is misuse. */
static void split_list(const char *opt, const char *s, struct list *l)
{
	const char *p = s;

	for (;;) {
		size_t len = strcspn(p, ",");
		char **v;

		if (!len)
			qf_tool_usage_error("%s: an empty item in '%s'", opt, s);
		if (!(v = realloc(l->s, (size_t)(l->n + 1) * sizeof *v)) ||
		    !(v[l->n] = strndup(p, len)))
			qf_tool_die(1, "out of memory");
		l->s = v;
		l->n++;
		if (!p[len])
			break;
		p += len + 1;
	}
}

static void list_free(struct list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	memset(l, 0, sizeof *l);
}

static void list_add(struct list *l, const char *s)
{
	char **v = realloc(l->s, (size_t)(l->n + 1) * sizeof *v);

	if (!v || !(v[l->n] = strdup(s)))
		qf_tool_die(1, "out of memory");
	l->s = v;
	l->n++;
}

/* A column or a transform of one, as lib/fit reads it (misuse else):
 * parsed as the response of a formula. */
static void check_expr(const char *opt, const char *s)
{
	size_t len = strlen(s);
	char *f = malloc(len + 5);
	qf_fit_formula *p = NULL;
	qf_err e;
	int ok;

	if (!f)
		qf_tool_die(1, "out of memory");
	memcpy(f, s, len);
	memcpy(f + len, " ~ 1", 5);
	ok = *s && !strchr(s, '~') && qf_fit_formula_parse(f, &p, &e) == 0;
	qf_fit_formula_free(p);
	free(f);
	if (!ok)
		qf_tool_usage_error("%s: '%s' is not a column or a transform of "
				    "one (log, log1p, z, rank, sq)", opt, s);
}

static void check_list(const char *opt, const struct list *l)
{
	for (int i = 0; i < l->n; i++)
		check_expr(opt, l->s[i]);
}

static int cor_option(struct opts *o, int c)
{
	struct cor_opts *k = &o->cor;

	switch (c) {
	case O_PAIRS:
		k->pairs = optarg;
		break;
	case O_X:
		k->x = optarg;
		break;
	case O_Y:
		k->y = optarg;
		break;
	case O_PARTIAL:
		k->partial = optarg;
		break;
	case O_LEVELS:
		k->levels = optarg;
		break;
	case O_METHOD:
		if ((k->method = qf_cor_method_parse(optarg)) < 0)
			qf_tool_usage_error("--method: pearson, spearman or "
					    "kendall, not '%s'", optarg);
		break;
	case O_ADJUST:
		if (strcmp(optarg, "none") == 0)
			k->adjust = -1;
		else if ((k->adjust = qf_adjust_parse(optarg)) < 0)
			qf_tool_usage_error("--adjust: holm, bh or none, not '%s'",
					    optarg);
		break;
	case O_BOOT:
		k->nboot = (int)qf_tool_parse_count("--bootstrap", optarg, 10000000);
		if (k->nboot < 1)
			qf_tool_usage_error("--bootstrap: at least 1, not '%s'",
					    optarg);
		break;
	case O_CI:
		if (strcmp(optarg, "bca") == 0)
			k->ci = QF_BOOT_BCA;
		else if (strcmp(optarg, "percentile") == 0)
			k->ci = QF_BOOT_PERCENTILE;
		else
			qf_tool_usage_error("--ci: bca or percentile, not '%s'",
					    optarg);
		break;
	case O_PERMS:
		k->nperm = qf_tool_parse_count("--permutations", optarg,
					       1000000000);
		if (!k->nperm)
			qf_tool_usage_error("--permutations: at least 1, not '%s'",
					    optarg);
		break;
	default:
		return 0;
	}
	return 1;
}

/* cor's pairs: --pairs X:Y,..., or --x with --y (every x with every y),
 * or --x alone (every pair of them, in order). */
static void cor_pairs(struct cor_opts *k)
{
	struct list a = { 0 }, b = { 0 };

	if (k->pairs) {
		split_list("--pairs", k->pairs, &a);
		for (int i = 0; i < a.n; i++) {
			char *c = strchr(a.s[i], ':');

			if (!c || c == a.s[i] || !c[1] || strchr(c + 1, ':'))
				qf_tool_usage_error("--pairs: 'X:Y', not '%s'",
						    a.s[i]);
			*c = 0;
			check_expr("--pairs", a.s[i]);
			check_expr("--pairs", c + 1);
			list_add(&k->px, a.s[i]);
			list_add(&k->py, c + 1);
		}
		list_free(&a);
		return;
	}
	split_list("--x", k->x, &a);
	check_list("--x", &a);
	if (k->y) {
		split_list("--y", k->y, &b);
		check_list("--y", &b);
	}
	for (int i = 0; i < a.n; i++)
		for (int j = k->y ? 0 : i + 1; j < (k->y ? b.n : a.n); j++) {
			list_add(&k->px, a.s[i]);
			list_add(&k->py, k->y ? b.s[j] : a.s[j]);
		}
	if (!k->px.n)
		qf_tool_usage_error("--x: one column and no --y: no pair");
	list_free(&a);
	list_free(&b);
}

static void cor_operands(struct opts *o, int argc, char **argv)
{
	struct cor_opts *k = &o->cor;

	(void)argc;
	(void)argv;
	if (k->pairs && (k->x || k->y))
		qf_tool_usage_error("cor: --pairs, or --x and --y, not both");
	if (!k->pairs && !k->x)
		qf_tool_usage_error(k->y ? "cor: --y without --x" :
				    "cor: no pairs (--pairs X:Y,... or --x COLS "
				    "[--y COLS])");
	if (k->ci >= 0 && !k->nboot)
		qf_tool_usage_error("cor: --ci without --bootstrap");
	if (k->ci < 0)
		k->ci = QF_BOOT_BCA;
	if (k->partial) {
		if (k->method != QF_COR_PEARSON)
			qf_tool_usage_error("cor: --partial is Pearson's (for "
					    "Spearman's, correlate rank() columns)");
		if (k->nboot || k->nperm)
			qf_tool_usage_error("cor: --partial with --%s",
					    k->nboot ? "bootstrap" : "permutations");
		split_list("--partial", k->partial, &k->z);
		check_list("--partial", &k->z);
	}
	cor_pairs(k);
}

/* perm's 'RESP ~ GROUP': a column (or transform) and a column. */
static void perm_operands(struct opts *o, int argc, char **argv)
{
	struct cor_opts *k = &o->cor;
	const char *s, *t;
	size_t n;

	if (optind >= argc)
		qf_tool_usage_error("perm: no 'Y ~ GROUP'");
	s = argv[optind++];
	if (!(t = strchr(s, '~')))
		qf_tool_usage_error("perm: 'Y ~ GROUP', not '%s'", s);
	for (n = (size_t)(t - s); n && s[n - 1] == ' '; n--)
		;
	if (!(k->resp = strndup(s, n)))
		qf_tool_die(1, "out of memory");
	for (t++; *t == ' '; t++)
		;
	for (n = strlen(t); n && t[n - 1] == ' '; n--)
		;
	if (!(k->group = strndup(t, n)))
		qf_tool_die(1, "out of memory");
	check_expr("perm", k->resp);
	if (!*k->group || strpbrk(k->group, " ~+:()*"))
		qf_tool_usage_error("perm: 'Y ~ GROUP', GROUP a column, not '%s'",
				    s);
	if (k->levels) {
		split_list("--levels", k->levels, &k->lv);
		if (k->lv.n != 2 || strcmp(k->lv.s[0], k->lv.s[1]) == 0)
			qf_tool_usage_error("--levels: two levels A,B, not '%s'",
					    k->levels);
	}
	if (!k->nperm)
		k->nperm = 9999;
}

static void cor_free(struct opts *o)
{
	struct cor_opts *k = &o->cor;

	list_free(&k->px);
	list_free(&k->py);
	list_free(&k->z);
	list_free(&k->lv);
	free(k->resp);
	free(k->group);
}

static void put_num(FILE *f, double v, int digits)
{
	if (isnan(v))
		fputs("\tNA", f);
	else
		fprintf(f, "\t%.*g", digits, v == 0 ? 0.0 : v);
}

/* One row of cor's table. */
struct cor_row {
	qf_cor c;
	size_t dropped;
	double p_adj, p_perm, p_perm_adj;
	int perm_exact;
};

/* A message of lib/fit's correlations ("x is constant") on pair i, with
 * x and y named. */
static int pair_err(const struct opts *o, const qf_fit_table *t, int i,
		    qf_err *e)
{
	const char *m = e->msg, *who = NULL;
	char msg[sizeof e->msg];

	if ((m[0] == 'x' || m[0] == 'y') && m[1] == ' ')
		who = m[0] == 'x' ? o->cor.px.s[i] : o->cor.py.s[i];
	snprintf(msg, sizeof msg, "%s", who ? m + 1 : m);
	return qf_err_set(e, "%s: pair %s:%s: %s%s", t->path, o->cor.px.s[i],
			  o->cor.py.s[i], who ? who : "", msg);
}

/* Pair i: its complete rows (from the run's columns s, ex the room for
 * its expressions), the coefficient and test, and what was asked besides
 * (bootstrap interval, permutation p). */
static int cor_pair(const struct opts *o, const qf_fit_table *t,
		    qf_fit_colset *s, const char **ex, int i,
		    struct cor_row *r, qf_err *e)
{
	const struct cor_opts *k = &o->cor;
	qf_fit_cols c;
	double *z = NULL;
	int rc = -1, nb;

	ex[0] = k->px.s[i];
	ex[1] = k->py.s[i];
	for (int j = 0; j < k->z.n; j++)
		ex[2 + j] = k->z.s[j];
	if (qf_fit_colset_columns(s, ex, 2 + k->z.n, &c, e) < 0)
		return -1;
	r->dropped = c.dropped;
	if (c.n > INT32_MAX) {
		qf_err_set(e, "%zu rows", c.n);
		goto out;
	}
	if (k->z.n) {
		/* the covariates row-major, as qf_cor_partial wants them */
		if (!(z = malloc(c.n * (size_t)k->z.n * sizeof *z + 1))) {
			qf_err_set(e, "out of memory");
			goto out;
		}
		for (size_t q = 0; q < c.n; q++)
			for (int j = 0; j < k->z.n; j++)
				z[q * (size_t)k->z.n + (size_t)j] =
					c.x[(size_t)(2 + j) * c.n + q];
		if (qf_cor_partial(c.x, c.x + c.n, z, (int)c.n, k->z.n, 0.95,
				   &r->c, e) < 0)
			goto err;
	} else if (qf_cor_test_ranked(k->method, c.x, c.x + c.n, c.rank[0],
				      c.rank[1], (int)c.n, 0.95, &r->c, e) < 0) {
		goto err;
	}
	if (k->nboot) {
		if (qf_cor_boot(k->method, c.x, c.x + c.n, (int)c.n, k->nboot,
				o->lm.seed, 0.95, k->ci, &r->c.lo, &r->c.hi,
				&nb, e) < 0)
			goto err;
		if (nb)
			qf_tool_warn("pair %s:%s: %d bootstrap replicate%s "
				     "undefined (a constant draw): no interval",
				     k->px.s[i], k->py.s[i], nb, nb > 1 ? "s" : "");
	}
	if (k->nperm && qf_cor_perm(k->method, c.x, c.x + c.n, (int)c.n,
				    k->nperm, k->nperm, o->lm.seed, &r->p_perm,
				    &r->perm_exact, e) < 0)
		goto err;
	rc = 0;
	goto out;
err:
	pair_err(o, t, i, e);
out:
	free(z);
	return rc;
}

/* The rows' p (or permutation p) adjusted over the n rows. */
static int adjust(int method, struct cor_row *r, int n, int perm, qf_err *e)
{
	double *p = calloc(2 * (size_t)n + 1, sizeof *p);
	int rc;

	if (!p)
		return qf_err_set(e, "out of memory");
	for (int i = 0; i < n; i++)
		p[i] = perm ? r[i].p_perm : r[i].c.p;
	rc = qf_p_adjust(method, p, n, p + n, e);
	for (int i = 0; i < n && rc == 0; i++) {
		if (perm)
			r[i].p_perm_adj = p[n + i];
		else
			r[i].p_adj = p[n + i];
	}
	free(p);
	return rc;
}

static void cor_write(FILE *f, const struct opts *o, const struct cor_row *r)
{
	const struct cor_opts *k = &o->cor;
	const char *ci = k->nboot ? (k->ci == QF_BOOT_BCA ? "bca" : "percentile") :
			 k->method == QF_COR_PEARSON ? "fisher" : "NA";

	qf_provenance_comment(f);
	fputs("x\ty\tgiven\tmethod\tn\tdropped\tr\tstat\tdf\tp\tp_exact\tci\t"
	      "ci_low\tci_high\tadjust\tp_adj\tp_perm\tperm_exact\tnperm\t"
	      "p_perm_adj\n", f);
	for (int i = 0; i < k->px.n; i++, r++) {
		fprintf(f, "%s\t%s\t", k->px.s[i], k->py.s[i]);
		for (int j = 0; j < k->z.n; j++)
			fprintf(f, "%s%s", j ? "," : "", k->z.s[j]);
		fprintf(f, "%s\t%s\t%d\t%zu", k->z.n ? "" : "NA",
			qf_cor_method_name(k->method), r->c.n, r->dropped);
		put_num(f, r->c.r, o->digits);
		put_num(f, r->c.stat, o->digits);
		put_num(f, r->c.df, o->digits);
		put_num(f, r->c.p, o->digits);
		fprintf(f, "\t%d\t%s", r->c.exact, isnan(r->c.lo) &&
			!k->nboot ? "NA" : ci);
		put_num(f, r->c.lo, o->digits);
		put_num(f, r->c.hi, o->digits);
		fprintf(f, "\t%s", k->adjust < 0 ? "none" : qf_adjust_name(k->adjust));
		put_num(f, r->p_adj, o->digits);
		put_num(f, r->p_perm, o->digits);
		if (k->nperm)
			fprintf(f, "\t%d\t%" PRIu64, r->perm_exact, k->nperm);
		else
			fputs("\tNA\tNA", f);
		put_num(f, r->p_perm_adj, o->digits);
		fputc('\n', f);
	}
}

static int run_cor(struct opts *o, const qf_fit_table *t, qf_err *e)
{
	struct cor_opts *k = &o->cor;
	struct cor_row *r = calloc((size_t)k->px.n + 1, sizeof *r);
	const char **ex = malloc((size_t)(2 + k->z.n) * sizeof *ex);
	qf_fit_colset *s = qf_fit_colset_new(t, k->method == QF_COR_SPEARMAN);
	qf_out *out = NULL;
	int rc = -1;

	if (!r || !ex || !s) {
		qf_err_set(e, "out of memory");
		goto out;
	}
	for (int i = 0; i < k->px.n; i++) {
		r[i].p_adj = r[i].p_perm = r[i].p_perm_adj = NAN;
		if (cor_pair(o, t, s, ex, i, &r[i], e) < 0)
			goto out;
		if (r[i].dropped)
			qf_tool_warn("pair %s:%s: %zu row%s with an NA dropped, "
				     "%d used", k->px.s[i], k->py.s[i],
				     r[i].dropped, r[i].dropped > 1 ? "s" : "",
				     r[i].c.n);
	}
	if (k->adjust >= 0 && (adjust(k->adjust, r, k->px.n, 0, e) < 0 ||
			       (k->nperm && adjust(k->adjust, r, k->px.n, 1, e) < 0)))
		goto out;
	if (!(out = qf_out_open(o->output, e)))
		goto out;
	cor_write(qf_out_file(out), o, r);
	rc = qf_out_commit(out, e);
out:
	qf_fit_colset_free(s);
	free(ex);
	free(r);
	return rc;
}

/* Is cell s NA (as a factor's: empty or "NA")? */
static int label_na(const char *s)
{
	return !*s || strcmp(s, "NA") == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* perm's two levels: --levels, else the group column's two, sorted. */
static int perm_levels(struct cor_opts *k, const qf_fit_table *t, long g,
		       qf_err *e)
{
	struct list l = { 0 };

	if (k->lv.n)
		return 0;
	for (size_t i = 0; i < t->nrow; i++) {
		const char *s = t->cell[i * t->ncol + (size_t)g];
		int j = 0;

		while (j < l.n && strcmp(l.s[j], s) != 0)
			j++;
		if (j == l.n && !label_na(s)) {
			if (l.n == 2) {
				list_free(&l);
				return qf_err_set(e, "%s: column '%s' has more than "
						  "two levels: give --levels A,B",
						  t->path, k->group);
			}
			list_add(&l, s);
		}
	}
	if (l.n < 2) {
		qf_err_set(e, "%s: column '%s' has %s level: a test of two "
			   "groups needs two", t->path, k->group,
			   l.n ? "one" : "no");
		list_free(&l);
		return -1;
	}
	qsort(l.s, 2, sizeof *l.s, cmp_str);
	k->lv = l;
	return 0;
}

/* The rows of the two levels (*in) and the rows of an NA group. */
static int perm_rows(const struct cor_opts *k, const qf_fit_table *t, long g,
		     size_t **in, size_t *nin, size_t *nna, qf_err *e)
{
	*nin = *nna = 0;
	if (!(*in = malloc((t->nrow + 1) * sizeof **in)))
		return qf_err_set(e, "out of memory");
	for (size_t i = 0; i < t->nrow; i++) {
		const char *s = t->cell[i * t->ncol + (size_t)g];

		if (label_na(s))
			++*nna;
		else if (!strcmp(s, k->lv.s[0]) || !strcmp(s, k->lv.s[1]))
			(*in)[(*nin)++] = i;
	}
	return 0;
}

static double mean(const double *x, int n)
{
	double s = 0;

	for (int i = 0; i < n; i++)
		s += x[i];
	return s / n;
}

static void perm_write(FILE *f, const struct opts *o, const qf_perm *r,
		       size_t dropped, double ma, double mb)
{
	const struct cor_opts *k = &o->cor;

	qf_provenance_comment(f);
	fputs("y\tgroup\ta\tb\tn_a\tn_b\tdropped\tmean_a\tmean_b\tdiff\tp\t"
	      "exact\tnperm\n", f);
	fprintf(f, "%s\t%s\t%s\t%s\t%d\t%d\t%zu", k->resp, k->group, k->lv.s[0],
		k->lv.s[1], r->na, r->nb, dropped);
	put_num(f, ma, o->digits);
	put_num(f, mb, o->digits);
	put_num(f, r->diff, o->digits);
	put_num(f, r->p, o->digits);
	fprintf(f, "\t%d\t%" PRIu64 "\n", r->exact, r->nperm);
}

static int run_perm(struct opts *o, const qf_fit_table *t, qf_err *e)
{
	struct cor_opts *k = &o->cor;
	const char *ex[1] = { k->resp };
	size_t *in = NULL, nin, nna;
	double *a = NULL, *b;
	qf_fit_cols c = { 0 };
	qf_out *out = NULL;
	qf_perm r;
	long g = qf_fit_table_col(t, k->group);
	int na = 0, nb = 0, rc = -1;

	if (g < 0)
		return qf_err_set(e, "%s: no column '%s'", t->path, k->group);
	if (perm_levels(k, t, g, e) < 0 ||
	    perm_rows(k, t, g, &in, &nin, &nna, e) < 0 ||
	    qf_fit_columns(t, ex, 1, in, nin, &c, e) < 0)
		goto out;
	if (!(a = malloc(2 * c.n * sizeof *a + 1))) {
		qf_err_set(e, "out of memory");
		goto out;
	}
	b = a + c.n;
	for (size_t i = 0; i < c.n; i++) {
		const char *s = t->cell[c.row[i] * t->ncol + (size_t)g];

		if (strcmp(s, k->lv.s[0]) == 0)
			a[na++] = c.x[i];
		else
			b[nb++] = c.x[i];
	}
	if (!na || !nb) {
		qf_err_set(e, "%s: no row of level '%s' of '%s' with a value",
			   t->path, k->lv.s[na ? 1 : 0], k->group);
		goto out;
	}
	if (qf_perm_diff(a, na, b, nb, k->nperm, k->nperm, o->lm.seed, &r, e) < 0)
		goto out;
	if (nna + c.dropped)
		qf_tool_warn("%zu row%s with an NA dropped, %d used", nna + c.dropped,
			     nna + c.dropped > 1 ? "s" : "", na + nb);
	if (!(out = qf_out_open(o->output, e)))
		goto out;
	perm_write(qf_out_file(out), o, &r, nna + c.dropped, mean(a, na),
		   mean(b, nb));
	rc = qf_out_commit(out, e);
out:
	free(in);
	free(a);
	qf_fit_cols_free(&c);
	return rc;
}
static int run_mixed(struct opts *o, const qf_fit_table *t, qf_err *e)
{
	const char *path[3] = { o->output, o->model_out, o->mixed.ranef };
	qf_out *out[3] = { NULL };
	qf_fit_mixed r;
	int rc = -1, i;

	if (qf_fit_mixed_run(t, o->f, &o->mixed.opts, &r, e) < 0)
		return -1;
	if (r.dropped)
		qf_tool_warn("%zu row%s with an NA dropped (--drop-na), %zu left",
			     r.dropped, r.dropped > 1 ? "s" : "", r.n);
	if (!r.fit.converged)
		qf_tool_warn("mixed model: the optimizer did not converge (see "
			     "'converged' in the model table)");
	/* every output opened and written before any is committed */
	for (i = 0; i < 3; i++)
		if ((i == 0 || path[i]) && !(out[i] = qf_out_open(path[i], e)))
			goto out;
	if (o->mixed.icc)
		qf_fit_mixed_write_icc(qf_out_file(out[0]), &r, o->digits);
	else
		qf_fit_mixed_write_coef(qf_out_file(out[0]), &r, o->digits);
	if (out[1])
		qf_fit_mixed_write_model(qf_out_file(out[1]), &r, o->formula,
					 o->digits);
	if (out[2])
		qf_fit_mixed_write_ranef(qf_out_file(out[2]), &r, o->digits);
	rc = 0;
	for (i = 2; i >= 0; i--) {
		if (out[i] && rc == 0)
			rc = qf_out_commit(out[i], e);
		else if (out[i])
			qf_out_abort(out[i]);
		out[i] = NULL;
	}
out:
	for (i = 0; i < 3; i++)
		if (out[i])
			qf_out_abort(out[i]);
	qf_fit_mixed_free(&r);
	return rc;
}

static int run(void *arg, qf_err *e)
{
	struct opts *o = arg;
	qf_fit_table t;
	int rc;

	if (read_tables(o, &t, e) < 0)
		rc = -1;	/* t holds what was read (a failed read: nothing) */
	else
		rc = o->cmd->run(o, &t, e);
	qf_fit_table_free(&t);
	return rc;
}

int main(int argc, char **argv)
{
	static const qf_tool_def tool = {
		"qf-fit", 0, parse_args, run, opts_free
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
