/* eval.h - evaluation tables (docs/eval.md). */
#ifndef QF_EVAL_EVAL_H
#define QF_EVAL_EVAL_H

#include "model/model.h"

/* ---------------------------------------------------------------- evaluation */

/* Per-language quality of a reference model and test models over token
 * records, degradation, disparity and paired bootstrap intervals: the
 * work of qf-eval, specified in docs/eval.md. */
enum { QF_MEASURE_DEG_BYTE, QF_MEASURE_DEG, QF_MEASURE_D_BPB,
       QF_MEASURE_D_NLL, QF_MEASURE_D_BITS_UNIT, QF_MEASURE_KL_UNIT,
       QF_MEASURES };
/* "deg_byte", "deg", "d_bpb", "d_nll", "d_bits_unit", "kl_unit"; parse
 * returns -1 when unknown.  qf_measure_list: them all, ", "-separated. */
const char *qf_measure_name(int measure);
int qf_measure_parse(const char *s);
const char *qf_measure_list(void);

typedef struct qf_eval_opts {
	int window, stride;	/* 0: the models' smallest n_ctx, W / 2 */
	int bootstrap;		/* replicates; 0: no intervals */
	uint64_t seed;
	int measure;		/* QF_MEASURE_*: D of the disparity figures */
	const char *ref_lang;	/* NULL: "eng", and its absence is no error */
	int baseline;		/* test model (0: the first) of *_vs_base */
	double min_den;		/* degenerate denominators: <= this */
	int threads;
	int headings;		/* score records of kind=heading too */
	int cluster;		/* QF_CLUSTER_*: what the bootstrap draws */
	int interval;		/* QF_CI_*: how intervals are read off it */
} qf_eval_opts;
/* auto (the default, 0): parallel units when every scored record has a
 * unit_id, else each language's records; unit: parallel units, and a
 * record without a unit_id is an error; record: each language's. */
enum { QF_CLUSTER_AUTO, QF_CLUSTER_UNIT, QF_CLUSTER_RECORD };
/* auto (the default, 0): t with parallel units, else bca; t: the
 * bootstrap-t (parallel units only); bca; percentile.  tau and tau_mean
 * always: percentiles moved by the bias (docs/eval.md, "Intervals"). */
enum { QF_CI_AUTO, QF_CI_T, QF_CI_BCA, QF_CI_PERCENTILE };
/* auto takes t from this many parallel units on (the fewest of the
 * coverage study, docs/eval.md), BCa below. */
#define QF_T_MIN_UNITS 12

typedef struct qf_eval qf_eval;
/* Over models[0] (the reference) and models[1..n) (test models), kept,
 * not owned, all of one vocabulary size; names[i] for the tables.
 *     model q4 has vocab_size 512, the reference ref 97: models must share a vocabulary */
qf_eval *qf_eval_new(qf_model **models, const char *const *names, int n,
		     const qf_eval_opts *o, qf_err *err);
/* Score one token record (a unit) of stream src with every model; nll,
 * when not NULL, gets each model's per-token NLL (nll[m] [n - 1] or
 * NULL).  Returns 0, or 1 when the record is a heading (kind=heading)
 * left out of the scores (opts.headings 0): checked, not scored, counted
 * in qf_eval_headings_left_out.  Its unit_id (else unit) names its
 * parallel unit in the units table, else its ordinal among the records
 * given; unit_kind (else kind) its kind.  Errors name the record:
 *     t.qft: record doc.3: no attribute first_bytes (qf-extract text writes it)
 *     t.qft: record doc.3: token id 300 at position 17 out of range (vocab_size 97) */
int qf_eval_doc(qf_eval *ev, const char *src, const qf_rec *rec,
		const int32_t *tok, uint64_t n, float *const *nll,
		qf_err *err);
uint64_t qf_eval_headings_left_out(const qf_eval *ev);
/* Scopes of the disparity table besides "all": a named list of
 * languages ("eng,deu"), and every value of a column of a languages
 * table (TSV with a header, language codes in the first column, at most
 * QF_TSV_MAX bytes: 16 MiB).  Every language of the data must have a row
 * in a table given, with qf_eval_languages too, which makes no scope;
 * qf_eval_finish checks it:
 *     languages.tsv: no row for language xyz (in the data)
 *     languages.tsv: no column morph_typ
 *     /dev/zero: larger than 16777216 bytes (the limit of a table) */
int qf_eval_group(qf_eval *ev, const char *name, const char *langs,
		  qf_err *err);
int qf_eval_group_by(qf_eval *ev, const char *table, const char *column,
		     qf_err *err);
int qf_eval_languages(qf_eval *ev, const char *table, qf_err *err);
/* Compute every figure and interval, after the last record. */
int qf_eval_finish(qf_eval *ev, qf_err *err);
/* After qf_eval_finish: the interval method used (QF_CI_*, auto
 * resolved) and the parallel units drawn (0: each language's records). */
int qf_eval_interval(const qf_eval *ev, int *units);
/* The tables, after qf_eval_finish (docs/eval.md): per language, the
 * disparity, per unit. */
int qf_eval_write_lang(const qf_eval *ev, FILE *f, qf_err *err);
int qf_eval_write_disparity(const qf_eval *ev, FILE *f, qf_err *err);
int qf_eval_write_units(const qf_eval *ev, FILE *f, qf_err *err);
/* The comparison of the test models (--compare, compare.c): per scope,
 * figure and test model, simultaneous (max-T) intervals over the test
 * models, the paired difference from the best with its simultaneous
 * interval and Holm-adjusted p, and the set that cannot be told apart
 * from the best (docs/eval.md, "Comparing configurations"). */
int qf_eval_write_compare(const qf_eval *ev, FILE *f, qf_err *err);
/* A contrast of the test models (--contrast, contrast.c): a name and a
 * coefficient per test model, 0 for those not in it, evaluated within
 * each scope; the coefficients sum to 0 (docs/eval.md, "Contrasts of
 * configurations").  Or a cross-scope contrast: its terms are pairs of a
 * test model and a scope, the coefficients of each scope summing to 0,
 * evaluated once over the scopes it names. */
typedef struct qf_contrast_term {
	int model;		/* test model (names[model]) */
	double coef;		/* nonzero */
	char *scope;		/* the scope's name, as the disparity table's
				 * scope column writes it */
} qf_contrast_term;
typedef struct qf_contrast {
	char *name;
	double *coef;		/* [n]: test model t's (names[t]); all 0 in a
				 * cross-scope contrast */
	int n;
	qf_contrast_term *term;	/* [nterm]: a cross-scope contrast's terms,
				 * in the order given; NULL and 0 otherwise */
	int nterm;
} qf_contrast;
/* Parse "NAME=TERM TERM ...", each TERM a sign, an optional coefficient
 * "2*" and the name of a test model of names[0..n) ("+p0-11 -p0 -p11
 * +none"), into c (qf_contrast_free it); or, every TERM followed by
 * "@SCOPE", a cross-scope contrast ("+none@rich -p0@rich -none@other
 * +p0@other"): the first '@' ends the model's name (a model whose name
 * holds '@' cannot be scoped), the rest is the scope's name, checked
 * against the scopes by qf_eval_finish.  -1 with err set:
 *     contrast 'x=+p0 -q3': no test model 'q3'
 *     contrast 'x=+p0 -p11 +none': the coefficients sum to 1, not 0
 *     contrast 'x=+p0@rich -none': some terms name a scope, some do not
 *     contrast 'x=+p0@rich -none@other': the coefficients of scope rich sum to 1, not 0 */
int qf_contrast_parse(qf_contrast *c, const char *spec,
		      const char *const *names, int n, qf_err *err);
void qf_contrast_free(qf_contrast *c);
/* The contrasts of the contrasts table (copied), before qf_eval_finish:
 * the jackknife gives each its SEs and acceleration.  qf_eval_finish
 * fails when a cross-scope contrast names no scope of the evaluation:
 *     contrast 'x': no scope 'foo' (scopes: all, morph_type=fusional) */
int qf_eval_contrasts(qf_eval *ev, const qf_contrast *c, int n, qf_err *err);
/* The contrasts table (--contrasts), after qf_eval_finish: per scope,
 * figure of the comparison, scale (diff, log) and contrast, the estimate,
 * its SE and interval, p and Holm's over the contrasts, simultaneous
 * (max-T) intervals over them; then the cross-scope contrasts per figure
 * and scale, a family of their own, scope "rich+other" (the scopes they
 * name, in order of first appearance). */
int qf_eval_write_contrasts(const qf_eval *ev, FILE *f, qf_err *err);
/* The reliability table (--reliability), after qf_eval_finish: conf[t]
 * names the configuration test model t (models[t + 1]) is a realization
 * of (conf NULL, or conf[t] NULL: a configuration of its own, named
 * after the model); a row per configuration, in the order of its first
 * test model, and measure (docs/eval.md, "Realizations and
 * reliability"). */
int qf_eval_write_reliability(const qf_eval *ev, const char *const *conf,
			      FILE *f, qf_err *err);
int qf_eval_models(const qf_eval *ev);
const char *qf_eval_model_name(const qf_eval *ev, int i);
uint64_t qf_eval_units(const qf_eval *ev);
void qf_eval_free(qf_eval *ev);

#endif
