/*
 * qf-fit - the statistics of a study over TSV tables: linear models
 * (lm), linear mixed models and ICCs (mixed), with the tables joined and
 * filtered on the way in.
 *
 * One binary, one subcommand a run: the subcommand is the first
 * operand, and each is one entry of subcmds[].  Options, files and
 * messages; the work is lib/fit/'s, specified in docs/fit.md.  Memory:
 * the tables, whole, as text.  See docs/man/qf-fit.1.
 */
#include <getopt.h>
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
	/* mixed: */
	"  mixed FORMULA --groups G[,G2]\n"
	"                         a linear mixed model by REML: FORMULA's fixed\n"
	"                         effects, a random intercept per level of each\n"
	"                         grouping column (one, or two crossed)\n"
	/* end of mixed */
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
	/* mixed: */
	"mixed:\n"
	"      --groups G[,G2]    the grouping columns (random intercepts)\n"
	"      --ml               maximum likelihood rather than REML\n"
	"      --intervals        profile likelihood intervals of the variance\n"
	"                         components (and of the ICC, one factor)\n"
	"      --icc              -o is the ICC(1) table of the one factor, with\n"
	"                         its intervals (a profile across replicates)\n"
	"      --ranef FILE       the predicted random effects, per level\n"
	/* end of mixed */
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-fit lm 'log(disparity) ~ z(variance)' --model-out model.tsv -o coef.tsv criticality.tsv\n"
	"  qf-fit lm 'y ~ x' --join lang --weights n --cv-group morph lang.tsv languages.tsv\n"
	"  qf-fit lm 'y ~ x1 + x2 + x1:x2' --vs 'y ~ x1' --model-out - -o /dev/null t.tsv\n"
	/* mixed: */
	"  qf-fit mixed 'log(kl_sum) ~ 1' --groups lang,unit --intervals --model-out vc.tsv units.tsv\n"
	"  qf-fit mixed 'crit ~ 1' --groups layer --icc profiles.tsv\n"
	/* end of mixed */
	;

enum { O_JOIN = 0x2000, O_WHERE, O_DROPNA, O_MODEL, O_DIGITS, O_WEIGHTS,
       O_FOLDS, O_SEED, O_CVGROUP, O_VS };
/* mixed: */
enum { O_GROUPS = 0x2400, O_ML, O_INTERVALS, O_ICC, O_RANEF };
/* end of mixed */

#define MAXW 64

struct opts {
	const struct subcmd *cmd;
	const char *output, *model_out, *join, *where[MAXW];
	int nwhere, digits;
	char **keys;		/* --join, split */
	int nkey;
	const char *formula, *vs;
	qf_fit_formula *f, *fvs;
	qf_fit_lm_opts lm;
	/* mixed: */
	struct {
		char *groups;	/* --groups, split into opts.groups */
		qf_fit_mixed_opts opts;
		int icc;
		const char *ranef;
	} mixed;
	/* end of mixed */
	char **tables;
	int ntables;
};

/* A subcommand: its name, its run, and the long options it accepts
 * (codes, 0-terminated): another is misuse (parse_args). */
struct subcmd {
	const char *name;
	int (*run)(struct opts *o, const qf_fit_table *t, qf_err *e);
	const int *accepts;
};

static int run_lm(struct opts *o, const qf_fit_table *t, qf_err *e);
static const int lm_accepts[] = {
	O_JOIN, O_WHERE, O_DROPNA, O_MODEL, O_DIGITS, O_WEIGHTS, O_FOLDS,
	O_SEED, O_CVGROUP, O_VS, 0
};
/* mixed: */
static int run_mixed(struct opts *o, const qf_fit_table *t, qf_err *e);
static const int mixed_accepts[] = {
	O_JOIN, O_WHERE, O_DROPNA, O_MODEL, O_DIGITS, O_GROUPS, O_ML,
	O_INTERVALS, O_ICC, O_RANEF, 0
};
/* end of mixed */

static const struct subcmd subcmds[] = {
	{ "lm", run_lm, lm_accepts },
	/* mixed: */
	{ "mixed", run_mixed, mixed_accepts },
	/* end of mixed */
};

/* Does the subcommand take long option c? */
static int accepts(const struct subcmd *cmd, int c)
{
	for (const int *a = cmd->accepts; *a; a++)
		if (*a == c)
			return 1;
	return 0;
}

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
	/* mixed: */
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
	/* end of mixed */
	default:
		qf_tool_common_option(c, usage, argv);
	}
}

/* "lm, mixed": the subcommands, for messages. */
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

/* mixed: */
/* --groups split, and the options that go together. */
static void mixed_args(struct opts *o)
{
	qf_fit_mixed_opts *m = &o->mixed.opts;
	char *save = NULL, *p;

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
/* end of mixed */

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
		/* mixed: */
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "ml", no_argument, NULL, O_ML },
		{ "intervals", no_argument, NULL, O_INTERVALS },
		{ "icc", no_argument, NULL, O_ICC },
		{ "ranef", required_argument, NULL, O_RANEF },
		/* end of mixed */
		QF_OPT_END
	};
	qf_err e;
	int c, li;

	o->digits = 6;
	o->lm.seed = 1;
	o->cmd = subcommand(argc, argv);
	opterr = 0;
	optind = o->cmd ? 2 : 1;
	while ((c = getopt_long(argc, argv, ":o:h", longs, &li)) != -1) {
		/* the long-only options are the subcommands' */
		if (o->cmd && c >= O_JOIN && !accepts(o->cmd, c))
			qf_tool_usage_error("--%s is not an option of %s",
					    longs[li].name, o->cmd->name);
		option(o, c, argv);
	}
	if (!o->cmd)
		qf_tool_usage_error("no subcommand (%s) before the options",
				    subcmd_names());
	if (optind >= argc)
		qf_tool_usage_error("%s: no formula", o->cmd->name);
	o->formula = argv[optind++];
	if (qf_fit_formula_parse(o->formula, &o->f, &e) < 0 ||
	    (o->vs && qf_fit_formula_parse(o->vs, &o->fvs, &e) < 0))
		qf_tool_usage_error("%s", e.msg);
	o->lm.vs = o->fvs;
	o->tables = argv + optind;
	o->ntables = argc - optind;
	if (o->join)
		split_keys(o);
	if (o->ntables > 1 && !o->join)
		qf_tool_usage_error("%d tables: give --join KEY to join them",
				    o->ntables);
	if (o->join && o->ntables < 2)
		qf_tool_usage_error("--join needs two tables or more");
	/* mixed: */
	if (o->cmd->run == run_mixed)
		mixed_args(o);
	/* end of mixed */
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

/* mixed: */
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
/* end of mixed */

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
