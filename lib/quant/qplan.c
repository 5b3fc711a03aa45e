/* qplan.c - what qf-quantize does to a record: selection, protection,
 * bits per layer, the records a quantized tensor becomes, statistics */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

static const char *const kinds[QF_QKINDS] = {
	"tok_emb", "pos_emb", "ln_weight", "ln_bias", "attn_qkv", "attn_out",
	"mlp_in", "mlp_out", "bias", "head",
};

/* ------------------------------------------------------------ options */

void qf_qplan_init(qf_qplan *p)
{
	memset(p, 0, sizeof *p);
	p->nonfinite = QF_QNF_ERROR;
}

void qf_qplan_free(qf_qplan *p)
{
	free(p->names);
	free(p->pnames);
	free(p->pname_hits);
	p->names = p->pnames = NULL;
	p->pname_hits = NULL;
	p->nnames = p->npnames = 0;
}

static int kind_index(const char *s, size_t len)
{
	for (int i = 0; i < QF_QKINDS; i++)
		if (strlen(kinds[i]) == len && strncmp(kinds[i], s, len) == 0)
			return i;
	return -1;
}

unsigned qf_qkinds_parse(const char *opt, const char *s, qf_err *err)
{
	unsigned set = 0;

	if (strcmp(s, "all") == 0)
		return (1u << QF_QKINDS) - 1;
	while (*s) {
		size_t len = strcspn(s, ",");
		int k = kind_index(s, len);
		if (k < 0)
			return qf_err_set(err, "%s: unknown kind '%.*s' (tok_emb, "
					  "pos_emb, ln_weight, ln_bias, attn_qkv, "
					  "attn_out, mlp_in, mlp_out, bias, head)",
					  opt, (int)len, s), 0;
		set |= 1u << k;
		s += len;
		if (*s == ',' && !*++s)
			return qf_err_set(err, "%s: empty item in the list", opt), 0;
	}
	if (!set)
		qf_err_set(err, "%s: empty list", opt);
	return set;
}

int qf_qbits_parse(const char *opt, const char *s, qf_err *err)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(s, 64, &v, &e) < 0)
		return qf_err_set(err, "%s: %s", opt, e.msg);
	if (v < 2 || v > 8)
		return qf_err_set(err, "%s: bits %" PRIu64 " out of range 2..8",
				  opt, v);
	return (int)v;
}

static int parse_layer(const char *opt, const char *s, int *layer, qf_err *err)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(s, QF_QMAX_LAYERS - 1, &v, &e) < 0)
		return qf_err_set(err, "%s: %s", opt, e.msg);
	*layer = (int)v;
	return 0;
}

int qf_qplan_add_name(qf_qplan *p, int protect, const char *glob, qf_err *err)
{
	const char ***list = protect ? &p->pnames : &p->names;
	int *n = protect ? &p->npnames : &p->nnames;
	const char **l = realloc(*list, (size_t)(*n + 1) * sizeof **list);
	uint64_t *hits;

	if (!l)
		return qf_err_set(err, "out of memory");
	*list = l;
	l[(*n)++] = glob;
	if (!protect)
		return 0;
	hits = realloc(p->pname_hits, (size_t)*n * sizeof *hits);
	if (!hits)
		return qf_err_set(err, "out of memory");
	hits[*n - 1] = 0;
	p->pname_hits = hits;
	return 0;
}

int qf_qplan_protect_layers(qf_qplan *p, const char *list, qf_err *err)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int l, rc = 0;

	if (!copy)
		return qf_err_set(err, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		rc = parse_layer("--protect-layers", tok, &l, err);
		if (rc < 0)
			break;
		p->prot_layer[l] = 1;
		if (l + 1 > p->prot_layers_max)
			p->prot_layers_max = l + 1;
	}
	free(copy);
	if (rc == 0 && !p->prot_layers_max)
		rc = qf_err_set(err, "--protect-layers: empty list");
	return rc;
}

/* A map file with newlines as commas and comments dropped. */
static char *read_map_file(const char *path, qf_err *err)
{
	FILE *f = fopen(path, "r");
	char *text = NULL, *t;
	size_t len = 0, cap = 0;
	int c;

	if (!f)
		return qf_err_set(err, "--bits-map: %s: %s", path, strerror(errno)),
		       NULL;
	while ((c = getc(f)) != EOF) {
		if (c == '#')
			while ((c = getc(f)) != EOF && c != '\n')
				;
		if (c == EOF)
			break;
		if (len + 2 > cap) {
			cap = cap ? 2 * cap : 256;
			if (!(t = realloc(text, cap)))
				break;
			text = t;
		}
		text[len++] = (char)(c == '\n' ? ',' : c);
	}
	fclose(f);
	t = c == EOF ? realloc(text, len + 1) : NULL;
	if (!t) {
		free(text);
		return qf_err_set(err, "out of memory"), NULL;
	}
	t[len] = 0;
	return t;
}

static int map_item(qf_qplan *p, char *item, qf_err *err)
{
	char *eq = strchr(item, '=');
	int bits, l;

	if (!eq)
		return qf_err_set(err, "--bits-map: '%s' is not KEY=BITS", item);
	*eq = 0;
	bits = qf_qbits_parse("--bits-map", eq + 1, err);
	if (bits < 0)
		return -1;
	if (strcmp(item, "default") == 0) {
		p->map_default = bits;
		return 0;
	}
	if (parse_layer("--bits-map", item, &l, err) < 0)
		return -1;
	p->bits_of[l] = bits;
	if (l + 1 > p->bits_map_max)
		p->bits_map_max = l + 1;
	return 0;
}

int qf_qplan_bits_map(qf_qplan *p, const char *map, qf_err *err)
{
	char *text, *save = NULL, *tok;
	int rc = 0;

	if (map[0] == '@')
		text = read_map_file(map + 1, err);
	else if (!(text = strdup(map)))
		qf_err_set(err, "out of memory");
	if (!text)
		return -1;
	for (tok = strtok_r(text, ", \t\r", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ", \t\r", &save))
		rc = map_item(p, tok, err);
	free(text);
	if (rc == 0 && !p->map_default && !p->bits_map_max)
		rc = qf_err_set(err, "--bits-map: empty map");
	return rc;
}

/* ------------------------------------------------------------ selection */

int qf_qrec_layer(const qf_rec *rec)
{
	const char *l = qf_rec_get(rec, "layer");
	qf_err e;
	uint64_t v;

	if (!l || qf_parse_u64(l, QF_QMAX_LAYERS - 1, &v, &e) < 0)
		return -1;
	return (int)v;
}

int qf_qconfig_layers(const qf_rec *rec)
{
	const char *kind = qf_rec_get(rec, "kind"), *nl;
	uint64_t v;
	qf_err e;

	if (!(kind && strcmp(kind, "config") == 0) &&
	    strcmp(rec->name, "config") != 0)
		return -1;
	nl = qf_rec_get(rec, "n_layer");
	if (!nl || qf_parse_u64(nl, QF_QMAX_LAYERS, &v, &e) < 0)
		return -1;
	return (int)v;
}

static int kind_of(const qf_rec *rec)
{
	const char *k = qf_rec_get(rec, "kind");

	return k ? kind_index(k, strlen(k)) : -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int selected(const qf_qplan *p, const qf_rec *rec, int kind)
{
	if (p->compat)
		return ends_with(rec->name, "weight");
	if (kind >= 0 && (p->include >> kind & 1))
		return 1;
	for (int i = 0; i < p->nnames; i++)
		if (fnmatch(p->names[i], rec->name, 0) == 0)
			return 1;
	return 0;
}

int qf_qplan_status(qf_qplan *p, const qf_rec *rec)
{
	int kind = kind_of(rec), layer = qf_qrec_layer(rec), prot = 0;

	if (!qf_dtype_is_float(rec->dtype) || qf_rec_numel(rec) == 0)
		return QF_QST_PASS;
	if (!selected(p, rec, kind))
		return QF_QST_KEPT;
	if (layer >= 0 && p->prot_layer[layer]) {
		p->prot_layer_hits[layer]++;
		prot = 1;
	}
	if (kind >= 0 && (p->prot_kind >> kind & 1)) {
		p->prot_kind_hits[kind]++;
		prot = 1;
	}
	for (int i = 0; i < p->npnames; i++)
		if (fnmatch(p->pnames[i], rec->name, 0) == 0) {
			p->pname_hits[i]++;
			prot = 1;
		}
	return prot ? QF_QST_PROTECTED : QF_QST_QUANT;
}

int qf_qplan_check_layers(const qf_qplan *p, int n_layer, const char *src,
			  qf_err *err)
{
	for (int l = n_layer; l < p->prot_layers_max; l++)
		if (p->prot_layer[l])
			return qf_err_set(err, "--protect-layers: no layer %d (%s "
					  "has %d layers)", l, src, n_layer);
	for (int l = n_layer; l < p->bits_map_max; l++)
		if (p->bits_of[l])
			return qf_err_set(err, "--bits-map: no layer %d (%s has "
					  "%d layers)", l, src, n_layer);
	return 0;
}

int qf_qplan_check_matches(const qf_qplan *p, qf_err *err)
{
	for (int l = 0; l < p->prot_layers_max; l++)
		if (p->prot_layer[l] && !p->prot_layer_hits[l])
			return qf_err_set(err, "--protect-layers: layer %d matches "
					  "no tensor that would be quantized", l);
	for (int k = 0; k < QF_QKINDS; k++)
		if ((p->prot_kind >> k & 1) && !p->prot_kind_hits[k])
			return qf_err_set(err, "--protect-kind: kind %s matches no "
					  "tensor that would be quantized", kinds[k]);
	for (int i = 0; i < p->npnames; i++)
		if (!p->pname_hits[i])
			return qf_err_set(err, "--protect-name: '%s' matches no "
					  "tensor that would be quantized",
					  p->pnames[i]);
	return 0;
}

/* ------------------------------------------------------------ statistics */

/* One row of the statistics. */
struct row {
	int st;			/* enum qf_qstatus */
	qf_qspec q;
	qf_wstats ws;
	qf_qres r;
	uint64_t numel, nonfinite, numel_fp, bytes_in, bytes_out, bytes_fp;
};

struct agg {
	struct row sum;		/* quantized tensors pooled */
	int any;
	uint64_t numel_fp, bytes_in, bytes_out, bytes_fp, ntensors, nquant;
};

struct qf_qstats {
	FILE *tsv;
	struct agg layer[QF_QMAX_LAYERS];
	struct agg total;
	int max_layer;
};

static const char *const status_names[] = {
	"pass", "quantized", "protected", "kept",
};

static const char tsv_header[] =
	"row\tname\tlayer\tkind\tstatus\tscheme\tbits\tsym\tgran\tgroup\tclip\t"
	"round\tnumel\tmean\tvariance\tkurtosis\tabsmax\toutlier_frac\talpha\t"
	"clipped_frac\tmse\tsqnr_db\trel_fro\taciq_mse_gauss\taciq_mse_laplace\t"
	"nonfinite\tnumel_fp\tbytes_in\tbytes_out\tfp_frac_params\tfp_frac_bytes\n";

qf_qstats *qf_qstats_new(FILE *tsv, qf_err *err)
{
	qf_qstats *s = calloc(1, sizeof *s);

	if (!s)
		return qf_err_set(err, "out of memory"), NULL;
	s->tsv = tsv;
	s->max_layer = -1;
	if (tsv) {
		qf_provenance_comment(tsv);
		fputs(tsv_header, tsv);
	}
	return s;
}

void qf_qstats_free(qf_qstats *s)
{
	free(s);
}

int qf_qstats_layers(const qf_qstats *s)
{
	return s->max_layer + 1;
}

void qf_qstats_totals(const qf_qstats *s, qf_qtotals *t)
{
	const struct agg *a = &s->total;

	t->ntensors = a->ntensors;
	t->nquant = a->nquant;
	t->numel_quant = a->sum.numel;
	t->numel_fp = a->numel_fp;
	t->bytes_in = a->bytes_in;
	t->bytes_out = a->bytes_out;
	t->bytes_fp = a->bytes_fp;
}

static void agg_add(struct agg *a, const struct row *r)
{
	a->bytes_in += r->bytes_in;
	a->bytes_out += r->bytes_out;
	a->numel_fp += r->numel_fp;
	a->bytes_fp += r->bytes_fp;
	a->ntensors++;
	a->any = 1;
	if (r->st != QF_QST_QUANT)
		return;
	qf_wstats_merge(&a->sum.ws, &r->ws);
	a->sum.numel += r->numel;
	a->sum.r.sse += r->r.sse;
	a->sum.r.sumsq += r->r.sumsq;
	a->sum.r.clipped += r->r.clipped;
	a->sum.r.pred_gauss += r->r.pred_gauss;
	a->sum.r.pred_laplace += r->r.pred_laplace;
	a->sum.nonfinite += r->nonfinite;
	a->nquant++;
}

static void put_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("\tNA", f);
	else if (isinf(v))
		fputs(v > 0 ? "\tinf" : "\t-inf", f);
	else
		fprintf(f, "\t%.9g", v);
}

static void put_frac(FILE *f, uint64_t a, uint64_t b)
{
	put_num(f, b ? (double)a / (double)b : NAN);
}

/* The error columns of a quantized row. */
static void put_errors(FILE *f, const qf_qres *r, double n)
{
	put_num(f, (double)r->clipped / n);
	put_num(f, r->sse / n);
	put_num(f, r->sse > 0 ? 10 * log10(r->sumsq / r->sse) :
		r->sumsq > 0 ? INFINITY : NAN);
	put_num(f, r->sumsq > 0 ? sqrt(r->sse / r->sumsq) : NAN);
	put_num(f, r->pred_gauss / n);
	put_num(f, r->pred_laplace / n);
}

/* The columns from numel on. */
static void put_figures(FILE *f, const struct row *r, int quant, double alpha,
			uint64_t numel_fp, uint64_t bytes_in, uint64_t bytes_out,
			uint64_t bytes_fp)
{
	const qf_wstats *w = &r->ws;
	double n = (double)w->n;

	fprintf(f, "\t%" PRIu64, r->numel);
	put_num(f, w->n ? w->mean : NAN);
	put_num(f, qf_wstats_var(w));
	put_num(f, qf_wstats_kurtosis(w));
	put_num(f, w->n ? w->absmax : NAN);
	put_num(f, w->n ? (double)w->outliers / n : NAN);
	put_num(f, alpha);
	if (quant)
		put_errors(f, &r->r, n);
	else
		fputs("\t0\t0\tinf\t0\tNA\tNA", f);
	fprintf(f, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
		r->nonfinite, numel_fp, bytes_in, bytes_out);
	put_frac(f, numel_fp, (quant ? r->numel : 0) + numel_fp);
	put_frac(f, bytes_fp, bytes_out);
}

static void put_spec(FILE *f, const qf_qspec *q)
{
	fprintf(f, "\t%s\t%d\t%d\t%s\t", qf_qscheme_name(q->scheme), q->bits,
		q->sym, qf_qgran_name(q->gran));
	if (q->gran == QF_QG_GROUP)
		fprintf(f, "%" PRIu64, q->group);
	else
		fputs("NA", f);
	if (q->clip == QF_QC_PERCENTILE)
		fprintf(f, "\tpercentile:%g", q->pct);
	else
		fprintf(f, "\t%s", qf_qclip_name(q->clip));
	fprintf(f, "\t%s", qf_qround_name(q->round));
}

static void tensor_row(FILE *f, const qf_rec *rec, const struct row *r)
{
	const char *kind = qf_rec_get(rec, "kind"), *layer = qf_rec_get(rec, "layer");
	int quant = r->st == QF_QST_QUANT;

	fprintf(f, "tensor\t%s\t%s\t%s\t%s", rec->name, layer ? layer : "NA",
		kind ? kind : "NA", status_names[r->st]);
	if (quant)
		put_spec(f, &r->q);
	else
		fputs("\tNA\tNA\tNA\tNA\tNA\tNA\tNA", f);
	put_figures(f, r, quant, quant && r->r.units ?
		    r->r.alpha_sum / (double)r->r.units : NAN,
		    r->numel_fp, r->bytes_in, r->bytes_out, r->bytes_fp);
	putc('\n', f);
}

static void agg_row(FILE *f, const char *row, const char *name,
		    const char *layer, const struct agg *a)
{
	fprintf(f, "%s\t%s\t%s\tNA\tquantized\tNA\tNA\tNA\tNA\tNA\tNA\tNA", row,
		name, layer);
	put_figures(f, &a->sum, 1, NAN, a->numel_fp, a->bytes_in, a->bytes_out,
		    a->bytes_fp);
	putc('\n', f);
}

static void stats_add(qf_qstats *s, const qf_rec *rec, const struct row *row)
{
	int l = qf_qrec_layer(rec);

	if (l >= 0) {
		agg_add(&s->layer[l], row);
		if (l > s->max_layer)
			s->max_layer = l;
	}
	agg_add(&s->total, row);
	if (s->tsv)
		tensor_row(s->tsv, rec, row);
}

void qf_qstats_finish(qf_qstats *s)
{
	if (!s->tsv)
		return;
	for (int l = 0; l <= s->max_layer; l++) {
		char name[32], num[16];
		if (!s->layer[l].any)
			continue;
		snprintf(name, sizeof name, "layers.%d", l);
		snprintf(num, sizeof num, "%d", l);
		agg_row(s->tsv, "layer", name, num, &s->layer[l]);
	}
	agg_row(s->tsv, "total", "all", "NA", &s->total);
}

/* ------------------------------------------------------------ records */

qf_wbatch *qf_wbatch_new(qf_err *err)
{
	qf_wbatch *b = calloc(1, sizeof *b);

	if (!b)
		return qf_err_set(err, "out of memory"), NULL;
	for (int i = 0; i < QF_WBATCH_MAX; i++)
		qf_rec_init(&b->rec[i]);
	return b;
}

void qf_wbatch_free(qf_wbatch *b)
{
	if (!b)
		return;
	for (int i = 0; i < QF_WBATCH_MAX; i++)
		qf_rec_free(&b->rec[i]);
	for (int i = 0; i < b->n; i++)
		free(b->data[i]);
	free(b);
}

/* The quant_* attributes of a quantized record (and of its codes). */
static int spec_attrs(qf_rec *out, const qf_qspec *q, qf_err *e)
{
	int rc = 0;

	rc |= qf_rec_set(out, "quant_scheme", qf_qscheme_name(q->scheme), e);
	rc |= qf_rec_setf(out, e, "quant_bits", "%d", q->bits);
	rc |= qf_rec_setf(out, e, "quant_sym", "%d", q->sym);
	rc |= qf_rec_set(out, "quant_gran", qf_qgran_name(q->gran), e);
	if (q->gran == QF_QG_GROUP)
		rc |= qf_rec_setf(out, e, "quant_group", "%" PRIu64, q->group);
	return rc ? -1 : 0;
}

static int quant_attrs(qf_rec *out, const qf_qspec *q, const qf_qres *r,
		       int src_dtype, qf_err *e)
{
	int rc = spec_attrs(out, q, e);

	rc |= qf_rec_set(out, "quant_clip", qf_qclip_name(q->clip), e);
	if (q->clip == QF_QC_PERCENTILE)
		rc |= qf_rec_setf(out, e, "quant_clip_pct", "%.17g", q->pct);
	rc |= qf_rec_setf(out, e, "quant_alpha", "%.9g",
			  r->units ? r->alpha_sum / (double)r->units : 0.0);
	if (q->clip == QF_QC_ACIQ_GAUSS || q->clip == QF_QC_ACIQ_LAPLACE)
		rc |= qf_rec_setf(out, e, "quant_alpha_k", "%.9g", r->alpha_k);
	rc |= qf_rec_set(out, "quant_round", qf_qround_name(q->round), e);
	if (q->round == QF_QR_STOCHASTIC)
		rc |= qf_rec_setf(out, e, "quant_seed", "%" PRIu64, q->seed);
	rc |= qf_rec_set(out, "quant_src_dtype", qf_dtype_name(src_dtype), e);
	return rc ? -1 : 0;
}

/* A record NAME.PART of the codes, scales or zero points. */
static int part_rec(qf_rec *out, const qf_rec *in, const qf_qspec *q,
		    const char *part, int dtype, int ndim, const uint64_t *dims,
		    qf_err *e)
{
	const char *layer = qf_rec_get(in, "layer");
	size_t len = strlen(in->name) + strlen(part) + 2;
	char *name = malloc(len), kind[32];
	int rc;

	if (!name)
		return qf_err_set(e, "out of memory");
	snprintf(name, len, "%s.%s", in->name, part);
	snprintf(kind, sizeof kind, "quant_%s", part);
	qf_rec_init(out);
	rc = qf_rec_set_name(out, name, e);
	free(name);
	if (rc == 0)
		rc = qf_rec_set_shape(out, dtype, ndim, dims, e);
	if (rc == 0)
		rc = qf_rec_set(out, "kind", kind, e);
	if (rc == 0)
		rc = qf_rec_set(out, "quant_of", in->name, e);
	if (rc == 0 && layer)
		rc = qf_rec_set(out, "layer", layer, e);
	if (rc == 0)
		rc = spec_attrs(out, q, e);
	if (rc == 0)
		rc = qf_rec_stamp(out, e);
	return rc;
}

/* "[i, j]" of a flat index. */
static void index_str(const qf_rec *rec, uint64_t i, char *buf, size_t len)
{
	uint64_t idx[QF_MAX_DIMS];
	size_t at = 0;

	for (int d = rec->ndim - 1; d >= 0; d--) {
		idx[d] = rec->dims[d] ? i % rec->dims[d] : 0;
		i = rec->dims[d] ? i / rec->dims[d] : 0;
	}
	at += (size_t)snprintf(buf, len, "[");
	for (int d = 0; d < rec->ndim && at < len; d++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu64, d ? ", " : "",
				       idx[d]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

/* The payload raw, and as f32 (the same buffer when it is f32). */
static int read_payload(qf_reader *r, const qf_rec *rec, void **raw,
			float **x, qf_err *e)
{
	uint64_t n = qf_rec_numel(rec);
	qf_err e2;

	*raw = NULL;
	*x = NULL;
	if (qf_reader_read_all(r, raw, e) < 0)
		return -1;
	if (rec->dtype == QF_F32 || !qf_dtype_is_float(rec->dtype)) {
		*x = *raw;
		return 0;
	}
	if (n > SIZE_MAX / sizeof(float) || !(*x = malloc((size_t)n * sizeof(float))))
		return qf_err_set(e, "%s: record %s: out of memory",
				  qf_reader_name(r), rec->name);
	if (qf_convert(QF_F32, *x, rec->dtype, *raw, (size_t)n, &e2) < 0)
		return qf_err_set(e, "%s: record %s: %s", qf_reader_name(r),
				  rec->name, e2.msg);
	return 0;
}

/* One tensor being quantized. */
struct job {
	const qf_qplan *p;
	const qf_rec *rec;
	const char *src;	/* the input's name */
	void *raw;
	float *x;		/* raw as f32 */
	uint64_t n;
	struct row *row;
	qf_wbatch *out;
};

/* NaN and infinity as the plan says: 1 when the tensor is to be kept. */
static int nonfinite(struct job *j, qf_err *e)
{
	int64_t bad = qf_find_nonfinite(j->x, j->n, j->p->threads);
	float *x = j->x;
	char where[256];

	if (bad < 0)
		return 0;
	index_str(j->rec, (uint64_t)bad, where, sizeof where);
	if (j->p->nonfinite == QF_QNF_ERROR)
		return qf_err_set(e, "%s: record %s: element %" PRId64 " %s is %s "
				  "(see --nonfinite)", j->src, j->rec->name, bad,
				  where, isnan(x[bad]) ? "NaN" :
				  x[bad] > 0 ? "+Inf" : "-Inf");
	for (uint64_t i = (uint64_t)bad; i < j->n; i++) {
		if (isfinite(x[i]))
			continue;
		j->row->nonfinite++;
		if (j->p->nonfinite == QF_QNF_ZERO)
			x[i] = 0;
	}
	return j->p->nonfinite == QF_QNF_KEEP;
}

static void qbuf_free(qf_qbuf *b, const float *x)
{
	if (b->y != x)
		free(b->y);
	free(b->codes);
	free(b->scales);
	free(b->zeros);
}

/* Buffers for q's results; y is x itself when the input is not needed
 * afterwards. */
static int qbuf_alloc(struct job *j, const qf_qspec *q, uint64_t units,
		      int want, qf_qbuf *b, qf_err *e)
{
	int zeros = q->scheme == QF_QS_INT && !q->sym;

	b->y = want || j->x != j->raw ? malloc((size_t)j->n * sizeof(float)) : j->x;
	if (j->p->emit_codes) {
		b->codes = malloc((size_t)j->n);
		b->scales = malloc((size_t)units * 4);
		if (zeros)
			b->zeros = malloc((size_t)units * sizeof *b->zeros);
	}
	if (!b->y || (j->p->emit_codes && (!b->codes || !b->scales ||
					   (zeros && !b->zeros)))) {
		qbuf_free(b, j->x);
		return qf_err_set(e, "%s: record %s: out of memory", j->src,
				  j->rec->name);
	}
	return 0;
}

/* The records: the tensor, then codes, scales, zero points.  Takes the
 * buffers of b over. */
static int emit(struct job *j, const qf_qspec *q, uint64_t rows,
		uint64_t units, qf_qbuf *b, qf_err *e)
{
	const qf_rec *rec = j->rec;
	qf_wbatch *out = j->out;
	int tensor = q->gran == QF_QG_TENSOR;
	uint64_t sd[2] = { tensor ? 1 : rows, tensor ? 1 : units / rows };
	int rc = qf_rec_copy(&out->rec[0], rec, e);

	if (rc == 0)
		rc = qf_rec_set_shape(&out->rec[0], QF_F32, rec->ndim, rec->dims, e);
	if (rc == 0)
		rc = quant_attrs(&out->rec[0], q, &j->row->r, rec->dtype, e);
	if (rc == 0)
		rc = qf_rec_stamp(&out->rec[0], e);	/* computed here */
	out->data[0] = b->y;
	out->n = 1;
	if (!j->p->emit_codes)
		return rc;
	if (rc == 0)
		rc = part_rec(&out->rec[1], rec, q, "codes", qf_qcodes_dtype(q),
			      rec->ndim, rec->dims, e);
	out->data[1] = b->codes;
	out->n = 2;
	if (rc == 0)
		rc = part_rec(&out->rec[2], rec, q, "scales", qf_qscales_dtype(q),
			      2, sd, e);
	out->data[2] = b->scales;
	out->n = 3;
	if (rc == 0 && b->zeros) {
		rc = part_rec(&out->rec[3], rec, q, "zeros", QF_I32, 2, sd, e);
		out->data[3] = b->zeros;
		out->n = 4;
	} else {
		free(b->zeros);
	}
	return rc;
}

/* Quantize j's tensor: 1 when --nonfinite keep leaves it as it is. */
static int quantize(struct job *j, int want, qf_err *e)
{
	const qf_rec *rec = j->rec;
	int l = qf_qrec_layer(rec), rc;
	qf_qspec q = j->p->q;
	uint64_t cols, rows, units;
	qf_qbuf b = { NULL, NULL, NULL, NULL };
	qf_err e2;

	rc = nonfinite(j, e);
	if (rc != 0)
		return rc;
	if (q.scheme == QF_QS_INT && l >= 0 && j->p->bits_of[l])
		q.bits = j->p->bits_of[l];
	cols = rec->ndim ? rec->dims[rec->ndim - 1] : 1;
	rows = j->n / cols;
	units = qf_qunits(&q, rows, cols);
	if (!units)
		return qf_err_set(e, "%s: record %s: %s needs rows whose length "
				  "is a multiple of 32, not %" PRIu64, j->src,
				  rec->name, qf_qscheme_name(q.scheme), cols);
	if (want && qf_wstats_compute(j->x, j->n, j->p->threads, &j->row->ws,
				      &e2) < 0)
		return qf_err_set(e, "%s: record %s: %s", j->src, rec->name, e2.msg);
	if (qbuf_alloc(j, &q, units, want, &b, e) < 0)
		return -1;
	if (qf_quantize(&q, j->x, rows, cols, qf_qkey(q.seed, rec->name), &b,
			want, &j->row->r, j->p->threads, &e2) < 0) {
		qbuf_free(&b, j->x);
		return qf_err_set(e, "%s: record %s: %s", j->src, rec->name, e2.msg);
	}
	j->row->st = QF_QST_QUANT;
	j->row->q = q;
	j->row->bytes_out = qf_qstored_bytes(&q, rows, cols);
	return emit(j, &q, rows, units, &b, e);
}

/* A record to quantize; -1, 0, or 1 for one to keep (--nonfinite keep). */
static int quantize_rec(const qf_qplan *p, qf_reader *r, const qf_rec *rec,
			qf_wbatch *out, struct row *row, int want, qf_err *e)
{
	struct job j = { p, rec, qf_reader_name(r), NULL, NULL,
			 qf_rec_numel(rec), row, out };
	int rc = read_payload(r, rec, &j.raw, &j.x, e);

	if (rc == 0)
		rc = quantize(&j, want, e);
	if (j.x != j.raw)
		free(j.x);
	if (rc == 1) {
		out->data[0] = j.raw;
		out->n = 1;
		return qf_rec_copy(&out->rec[0], rec, e) < 0 ? -1 : 1;
	}
	if (out->n == 0 || out->data[0] != j.raw)
		free(j.raw);
	return rc;
}

/* A record passed through as it is (with its statistics if wanted). */
static int keep_rec(qf_reader *r, const qf_rec *rec, int threads,
		    qf_wbatch *out, struct row *row, int want, qf_err *e)
{
	void *raw = NULL;
	float *x = NULL;
	qf_err e2;

	if (qf_rec_copy(&out->rec[0], rec, e) < 0)
		return -1;
	if (want) {
		if (read_payload(r, rec, &raw, &x, e) < 0 ||
		    qf_wstats_compute(x, qf_rec_numel(rec), threads, &row->ws,
				      &e2) < 0) {
			if (x && x != raw)
				free(x);
			free(raw);
			return x ? qf_err_set(e, "out of memory") : -1;
		}
		if (x != raw)
			free(x);
	} else if (qf_reader_read_all(r, &raw, e) < 0) {
		return -1;
	}
	out->data[0] = raw;
	out->n = 1;
	return 0;
}

int qf_qplan_apply(qf_qplan *p, qf_reader *r, const qf_rec *rec,
		   qf_wbatch *out, qf_qstats *s, qf_err *err)
{
	int st = qf_qplan_status(p, rec), want = s->tsv != NULL, rc;
	struct row row;

	memset(&row, 0, sizeof row);
	qf_wstats_init(&row.ws);
	row.bytes_in = qf_rec_nbytes(rec);
	row.numel = qf_rec_numel(rec);
	if (st == QF_QST_QUANT) {
		rc = quantize_rec(p, r, rec, out, &row, want, err);
		if (rc == 1)
			st = QF_QST_PROTECTED;
	} else {
		rc = keep_rec(r, rec, p->threads, out, &row,
			      want && st != QF_QST_PASS, err);
	}
	if (rc < 0)
		return -1;
	if (st == QF_QST_PASS)
		return 0;
	if (st != QF_QST_QUANT) {
		row.st = st;
		row.numel_fp = row.numel;
		row.bytes_out = row.bytes_fp = row.bytes_in;
	}
	stats_add(s, rec, &row);
	return 0;
}
