/*
 * qf-fit - the statistics of a study over TSV tables: linear models
 * (lm), with the tables joined and filtered on the way in.
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
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-fit lm 'log(disparity) ~ z(variance)' --model-out model.tsv -o coef.tsv criticality.tsv\n"
	"  qf-fit lm 'y ~ x' --join lang --weights n --cv-group morph lang.tsv languages.tsv\n"
	"  qf-fit lm 'y ~ x1 + x2 + x1:x2' --vs 'y ~ x1' --model-out - -o /dev/null t.tsv\n";

enum { O_JOIN = 0x2000, O_WHERE, O_DROPNA, O_MODEL, O_DIGITS, O_WEIGHTS,
       O_FOLDS, O_SEED, O_CVGROUP, O_VS };

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
	char **tables;
	int ntables;
};

/* A subcommand: its name and its run (parse_args checks its options). */
struct subcmd {
	const char *name;
	int (*run)(struct opts *o, const qf_fit_table *t, qf_err *e);
};

static int run_lm(struct opts *o, const qf_fit_table *t, qf_err *e);

static const struct subcmd subcmds[] = {
	{ "lm", run_lm },
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
	default:
		qf_tool_common_option(c, usage, argv);
	}
}

/* The subcommand named by argv[1], or misuse. */
static const struct subcmd *subcommand(int argc, char **argv)
{
	if (argc < 2)
		qf_tool_usage_error("no subcommand (lm)");
	for (size_t i = 0; i < sizeof subcmds / sizeof subcmds[0]; i++)
		if (strcmp(argv[1], subcmds[i].name) == 0)
			return &subcmds[i];
	if (argv[1][0] != '-')
		qf_tool_usage_error("unknown subcommand '%s'", argv[1]);
	return NULL;	/* --help, --version or misuse: the option loop */
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
		QF_OPT_END
	};
	qf_err e;
	int c;

	o->digits = 6;
	o->lm.seed = 1;
	o->cmd = subcommand(argc, argv);
	opterr = 0;
	optind = o->cmd ? 2 : 1;
	while ((c = getopt_long(argc, argv, ":o:h", longs, NULL)) != -1)
		option(o, c, argv);
	if (!o->cmd)
		qf_tool_usage_error("no subcommand (lm) before the options");
	if (optind >= argc)
		qf_tool_usage_error("lm: no formula");
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
	qf_tool_distinct_outputs((const char *[]){ "-o", "--model-out" },
				 (const char *[]){ o->output ? o->output : "-",
						   o->model_out }, 2);
}

static void opts_free(void *arg)
{
	struct opts *o = arg;

	for (int i = 0; i < o->nkey; i++)
		free(o->keys[i]);
	free(o->keys);
	qf_fit_formula_free(o->f);
	qf_fit_formula_free(o->fvs);
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
