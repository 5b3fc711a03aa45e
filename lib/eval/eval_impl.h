/* eval_impl.h - the evaluation's state, shared by the files of lib/eval/
 * only (private to the folder).
 *
 * eval.c makes and frees a qf_eval; score.c scores records into units;
 * scopes.c keeps the languages and the scopes; figures.c computes the
 * figures of one set of units; bootstrap.c draws the replicates and
 * their intervals; tables.c writes the tables (docs/eval.md);
 * compare.c the comparison of the test models (--compare); contrast.c
 * their contrasts (--contrasts). */
#ifndef QF_EVAL_IMPL_H
#define QF_EVAL_IMPL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core/internal.h"
#include "eval/eval.h"

/* Per-language figures, in the order of the table's columns (their names
 * are in tables.c). */
enum {
	F_FERT, F_NLL, F_PPL, F_BPB, F_BPC, F_DNLL, F_PPLR, F_DEG, F_DBPB,
	F_DEGB, F_KLMEAN, F_KLMED, F_KLP99, F_TOP1, F_RMSDP, F_RELDEG,
	F_DBITSU, F_KLU, NF
};

/* Disparity figures over a scope. */
enum {
	G_MEAN, G_MAX, G_MIN, G_RANGE, G_MAXMIN, G_CV, G_RELREF, G_GRATIO,
	G_GDIFF, G_MEAN_VB, G_RANGE_VB, G_MAXMIN_VB, G_CV_VB, G_RELREF_VB,
	G_TAU, G_TAUR, G_TAU_VB, NG
};
/* The figures printed after the status column (added later). */
#define G_LATE G_TAU

/* Why a figure has no value: not applicable (no status), or a
 * degenerate denominator (reported). */
enum { R_OK, R_NA, R_DEN0, R_DENMIN, R_NOJACK };

/* The sums a unit keeps per model. */
enum { S_NLL, S_KL, S_TOP1, S_DP2, NS };

/* A unit's kind attribute: none (or another value), body, heading. */
enum { K_NONE, K_BODY, K_HEADING };

struct unit {
	int lang;
	uint64_t scored, tokens, bytes, chars, words;
	size_t kl_off;		/* its KL values in kl[t][kl_off ..] */
	char *id;		/* the parallel unit it translates, or NULL */
	uint64_t ordinal;	/* among the records given to qf_eval_doc */
	int kind;		/* K_* */
};

struct lang {
	char *code;
	int *unit;		/* its units, in stream order */
	int n, cap;
	/* with clusters (ev->cluster): cpos[cstart[k] .. cstart[k + 1]) are
	 * the positions in unit[] of its units of cluster k */
	int *cstart, *cpos;
};

struct scope {
	char *name;
	unsigned char *in;	/* [nlang]: member */
	int n;
};

struct table {			/* --group-by: a column of the languages table */
	char *column, *path;
	char **code, **val;
	int n;
};

/* One set of figures: the estimate or a replicate. */
struct figs {
	double *f;		/* [nlang][nm][NF] */
	unsigned char *r;	/* reasons, same shape */
	double *g;		/* [ntest][nscope][NG] */
	unsigned char *gr;
	int *gmax, *gmin;	/* [ntest][nscope]: languages (estimate only) */
	int *gnov;		/* and the first language whose measure has
				 * no value, or -1 */
	double *gsd;		/* [ntest][nscope]: the SD of D (n - 1) */
	double *fse, *gse;	/* the jackknife SE of every figure (the
				 * estimate; replicates with clusters) */
	double *tc;		/* [ntest][nscope]: tau's own correction (a
				 * replicate with clusters), else NULL: the
				 * estimate's (ev->tauc) */
	double *cse;		/* [ncontrast][nscope][NCFIG][2]: the
				 * jackknife SE of every contrast (CIDX) */
};

/* The jackknife's sums of one figure (resample.c). */
struct mom {
	double s1, s2, s3;	/* this stratum's sums of d, d^2, d^3 */
	double u2, u3;		/* every finished stratum's of U^2, U^3 */
	double vj;		/* and of the jackknife variance */
	int bad;
};

struct qf_eval {
	qf_eval_opts o;
	qf_model **m;
	char **name;
	int nm;			/* models; 0 is the reference */
	int V, W, S;
	qf_pool *pool;
	/* data */
	struct unit *u;
	size_t nu, ucap;
	uint64_t nrec;		/* records given, headings left out among them */
	uint64_t nheading;	/* headings left out */
	double *usum;		/* [nu][nm][NS] */
	float **kl;		/* [nm - 1][total scored] */
	size_t nkl, klcap;
	struct lang *lang;	/* sorted by code at finish */
	int nlang, langcap, last;
	/* one window */
	float *lpr;		/* [W][V]: the reference's log-probabilities */
	int32_t *ref_arg;	/* [W] */
	float *row_kl, *row_dp;	/* [W] */
	unsigned char *row_top1;
	float **nll;		/* [nm][n - 1], one record */
	size_t nllcap;
	/* scopes */
	struct table *tab;
	int ntab;
	char **gname_, **glist;	/* --group NAME=L1,L2 */
	int ngroup;
	struct scope *sc;
	int nsc;
	/* results */
	int finished;
	struct figs est;
	struct figs *rep;	/* [bootstrap] */
	int ref_lang;		/* index, or -1 */
	/* resampling (resample.c) */
	int cluster;		/* 1: parallel units drawn jointly */
	int ncl;		/* clusters: the distinct unit ids */
	char **clid;		/* [ncl], sorted bytewise (not owned) */
	double *tauc;		/* [ntest][nsc]: tau's correction, or NAN */
	double *unitc;		/* [ntest][QF_MEASURES]: the same over all
				 * languages for every measure: what the noise
				 * of sampling units adds to the variance of
				 * the D_L (the reliability's var_unit) */
	struct figs acc;	/* the jackknife's acceleration of every
				 * figure (f, g; NAN: none), for BCa */
	/* contrasts (contrast.c) */
	qf_contrast *con;
	int ncon;
	int **csc;		/* [ncontrast]: a cross-scope contrast's term i
				 * is in scope csc[c][i] (qf_eval_finish);
				 * NULL for the others */
	double *cacc;		/* [ncontrast][nscope][NCFIG][2] (CIDX): the
				 * acceleration of every contrast (NAN: none) */
};

#define FIG(fs, ev, l, m, k) ((fs)->f[(((size_t)(l) * (ev)->nm + (m)) * NF) + (k)])
#define REA(fs, ev, l, m, k) ((fs)->r[(((size_t)(l) * (ev)->nm + (m)) * NF) + (k)])
#define GFIG(fs, ev, t, s, k) ((fs)->g[(((size_t)(t) * (ev)->nsc + (s)) * NG) + (k)])
#define GREA(fs, ev, t, s, k) ((fs)->gr[(((size_t)(t) * (ev)->nsc + (s)) * NG) + (k)])

/* The figures of the comparison and the contrasts (compare.c), in their
 * tables' order: the disparity table's for which lower means less
 * disparity. */
struct cfig {
	int k;			/* G_* */
	const char *name;
};
#define NCFIG 7
extern const struct cfig qf_ev_cfig[NCFIG];
/* The scales of a contrast: of the figures, of their logarithms. */
enum { SC_DIFF, SC_LOG, NSCALE };
/* Contrast c, scope s, figure j (of qf_ev_cfig), scale x; a cross-scope
 * contrast has the same value in every s. */
#define CIDX(ev, c, s, j, x) \
	((((size_t)(c) * (ev)->nsc + (s)) * NCFIG + (j)) * NSCALE + (x))
#define NCON(ev) ((size_t)(ev)->ncon * (ev)->nsc * NCFIG * NSCALE)

/* Per language and model, the sums over a multiset of units. */
struct acc {
	double units, tokens, scored, bytes, chars, words, s[NS];
};

/* A thread's scratch space for computing one set of figures. */
struct work {
	float *klbuf;		/* gather of KL values */
	size_t klcap;
	struct acc *acc;	/* [nm] */
	int *draw;
	size_t drawcap;
	/* a replicate's jackknife (resample.c), made at its first use */
	struct figs jfs;
	struct mom *mom;
	int *cd;
	int jready;
	double *cval;		/* [2 NCON]: contrasts of a leave-out set,
				 * of the replicate */
	int no_quantiles;	/* leave kl_median and kl_p99 NA (a
				 * replicate's jackknife: the bootstrap-t
				 * does not use their SEs) */
};

/* ------------------------------------------------------------ scopes.c */

/* The index of language code, added if new (ev->last: the one before,
 * the likely one); -1: out of memory. */
int qf_ev_lang_index(qf_eval *ev, const char *code);
/* The index of language code, or -1. */
int qf_ev_find_lang(const qf_eval *ev, const char *code);
/* Append unit to language li's list; -1: out of memory. */
int qf_ev_lang_add_unit(qf_eval *ev, int li, int unit);
/* Languages in code order; units keep their indices. */
void qf_ev_sort_langs(qf_eval *ev);
/* The scopes: all, each value of each --group-by column, each --group. */
int qf_ev_make_scopes(qf_eval *ev, qf_err *err);
/* The languages, the tables, the groups and the scopes. */
void qf_ev_scopes_free(qf_eval *ev);

/* ------------------------------------------------------------ figures.c */

/* The storage of one set of figures (est: with the languages of the
 * disparity's max and min); -1: out of memory, what was allocated is
 * left for qf_ev_figs_free. */
int qf_ev_figs_alloc(const qf_eval *ev, struct figs *fs, int est);
void qf_ev_figs_free(struct figs *fs);

/* The per-language figure (F_*) that measure (QF_MEASURE_*) is. */
int qf_ev_measure_fig(int measure);
/* Figures of language l from units draw[0..n) (indices into its units),
 * into fs; -1: out of memory. */
int qf_ev_lang_figs(const qf_eval *ev, int l, const int *draw, int n,
		    struct work *wk, struct figs *fs);
/* rel_deg of every language, once all languages have their figures. */
void qf_ev_rel_figs(const qf_eval *ev, struct figs *fs);
/* Disparity figures of every test model and scope. */
void qf_ev_disp_figs(const qf_eval *ev, struct figs *fs);

/* ------------------------------------------------------------ resample.c */

/* The clusters of the bootstrap: with --cluster unit (or auto, when
 * every unit has an id) the distinct unit ids, each language's units
 * grouped by them; -1 with err set. */
int qf_ev_clusters(qf_eval *ev, qf_err *err);
/* Language l's units of one set of figures: all of them in stream order
 * (cdraw NULL) or those of the drawn clusters cdraw[0..nd) in draw
 * order, into wk->draw; returns their count, -1: out of memory. */
int qf_ev_cluster_units(const qf_eval *ev, int l, const int *cdraw, int nd,
			struct work *wk);
/* The jackknife over the clusters (or each language's units): the
 * acceleration of every figure (ev->acc) and tau's correction
 * (ev->tauc); -1: out of memory. */
int qf_ev_jackknife(qf_eval *ev, struct work *wk);
/* The jackknife of replicate fs over its drawn clusters cdraw[0..ncl):
 * the SE of every figure (fs->fse, gse) and tau's own correction
 * (fs->tc), then fs's disparity figures again with it; -1: out of
 * memory. */
int qf_ev_rep_jackknife(const qf_eval *ev, const int *cdraw, struct work *wk,
			struct figs *fs);
void qf_ev_work_free(struct work *wk);
void qf_ev_resample_free(qf_eval *ev);
/* BCa: z0 from the replicates vals[0..n) and the estimate; the level of
 * an interval's end at nominal level alpha. */
double qf_ev_bca_z0(const double *vals, int n, double est);
double qf_ev_bca_level(double z0, double a, double alpha);

/* ------------------------------------------------------------ compare.c */

/* The sample standard deviation (n - 1) of x[0..n). */
double qf_ev_sd(const double *x, int n);
/* One block of ncol columns of n doubles, *col[i] the i-th (the block is
 * *col[0]); NULL: out of memory. */
double *qf_ev_columns(double **const *col, int ncol, size_t n);
/* Simultaneous 95% intervals (max-T) of est[t] over the T rows but skip
 * (-1: none), from replicates rep[T][B] that scatter about ctr[t] (est,
 * but for tau): se[t] the replicates' standard deviation, c the 95th
 * percentile over b of max_t |rep - ctr| / se, the interval est -+ c se;
 * a row of se 0 has [est, est] and no part in the maximum.  scr[B]. */
void qf_ev_maxt(const double *rep, const double *ctr, const double *est,
		int T, int B, int skip, double *se, double *lo, double *hi,
		double *scr);
/* The two-sided bootstrap p of H0 est = 0 from replicates rep[B] about
 * ctr: (1 + #{b: |rep_b - ctr| >= |est|}) / (B + 1). */
double qf_ev_boot_p(const double *rep, int B, double ctr, double est);
/* Holm's step-down adjustment of p[0..n) but skip (-1: none) into ph
 * (NAN at skip): the i-th smallest (ties in index order) times K - i,
 * made monotone, capped at 1; ord[n] scratch. */
void qf_ev_holm(const double *p, int n, int skip, int *ord, double *ph);
/* "MODEL:why" of test model t's figure k in scope s without a value;
 * qf_ev_put_why: the why alone. */
void qf_ev_put_est_why(FILE *f, const qf_eval *ev, int t, int s, int k);
void qf_ev_put_why(FILE *f, const qf_eval *ev, int t, int s, int k);

/* ------------------------------------------------------------ contrast.c */

/* Every contrast of fs into v[NCON(ev)] (CIDX): NAN when a model's
 * figure has no value, or on the log scale is not positive. */
void qf_ev_contrast_values(const qf_eval *ev, const struct figs *fs,
			   double *v);
/* The scope of every term of the cross-scope contrasts, once the scopes
 * are made (qf_eval_finish); -1 with err set when one is none of them. */
int qf_ev_contrast_scopes(qf_eval *ev, qf_err *err);
void qf_ev_contrasts_free(qf_eval *ev);

/* ------------------------------------------------------------ bootstrap.c */

/* The interval of a figure from the replicates: vals [B] gathered by the
 * caller; *bad gets the count of replicates without a value. */
void qf_ev_interval(double *vals, int B, double *lo, double *hi, int *bad);
/* The q-quantile of v[0..n) (sorted here; linear between order
 * statistics, numpy's default). */
double qf_ev_quantile(double *v, int n, double q);
/* "\t" and v with %.6g, or "\tNA" (no -0). */
void qf_ev_put_num(FILE *f, double v);
/* The bootstrap-t interval: est and its SE se, the replicates vals[B]
 * and their SEs ses[B] (a replicate of SE within 1e-9 of max(|est|, se)
 * of 0 has no t and is left out; none with one: the percentiles). */
void qf_ev_interval_t(double *vals, const double *ses, int B, double est,
		      double se, double *lo, double *hi, int *bad);
/* The percentiles of vals[B] moved by shift, then max(0, .) (tau). */
void qf_ev_interval_shift(double *vals, int B, double shift, double *lo,
			  double *hi, int *bad);
/* The same, BCa (docs/eval.md, "Intervals"): est the estimate, acc the
 * acceleration (NAN: 0). */
void qf_ev_interval_bca(double *vals, int B, double est, double acc,
			double *lo, double *hi, int *bad);

#endif
