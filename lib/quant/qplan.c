/*
 * qplan.c - the plan of a quantization run: which tensors to quantize
 * (by kind or name), which to keep in full precision (protection), the
 * INT bits per layer; what becomes of a record, and the checks of the
 * plan against the model.  Applying it: qapply.c.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

static const char *const kinds[QF_QKINDS] = {
	"tok_emb", "pos_emb", "ln_weight", "ln_bias", "attn_qkv", "attn_out",
	"mlp_in", "mlp_out", "bias", "head",
};

/* ------------------------------------------------------------ the plan */

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
	free(p->name_hits);
	qf_pool_free(p->pool);
	qf_qchan_free(p->chan);
	p->chan = NULL;
	p->names = p->pnames = NULL;
	p->pname_hits = p->name_hits = NULL;
	p->nnames = p->npnames = 0;
	p->pool = NULL;
}

const char *qf_qkind_name(int kind)
{
	return kind >= 0 && kind < QF_QKINDS ? kinds[kind] : NULL;
}

int qf_qkind_parse(const char *name)
{
	for (int i = 0; i < QF_QKINDS; i++)
		if (strcmp(kinds[i], name) == 0)
			return i;
	return -1;
}

int qf_qplan_add_name(qf_qplan *p, int protect, const char *glob, qf_err *err)
{
	const char ***list = protect ? &p->pnames : &p->names;
	uint64_t **hlist = protect ? &p->pname_hits : &p->name_hits;
	int *n = protect ? &p->npnames : &p->nnames;
	const char **l = realloc(*list, (size_t)(*n + 1) * sizeof **list);
	uint64_t *hits;

	if (!l)
		return qf_err_set(err, "out of memory");
	*list = l;
	hits = realloc(*hlist, (size_t)(*n + 1) * sizeof *hits);
	if (!hits)
		return qf_err_set(err, "out of memory");
	*hlist = hits;
	hits[*n] = 0;
	l[(*n)++] = glob;
	return 0;
}

void qf_qplan_protect_layer(qf_qplan *p, int layer)
{
	p->prot_layer[layer] = 1;
	if (layer + 1 > p->prot_layers_max)
		p->prot_layers_max = layer + 1;
}

void qf_qplan_map_bits(qf_qplan *p, int layer, int bits)
{
	if (layer < 0) {
		p->map_default = bits;
		return;
	}
	p->bits_of[layer] = bits;
	if (layer + 1 > p->bits_map_max)
		p->bits_map_max = layer + 1;
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

	return k ? qf_qkind_parse(k) : -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Whether the selection takes rec; counts what matched it. */
static int selected(qf_qplan *p, const qf_rec *rec, int kind)
{
	int sel = 0;

	if (p->compat)
		return ends_with(rec->name, "weight");
	if (kind >= 0 && (p->include >> kind & 1)) {
		p->include_hits[kind]++;
		sel = 1;
	}
	for (int i = 0; i < p->nnames; i++)
		if (fnmatch(p->names[i], rec->name, 0) == 0) {
			p->name_hits[i]++;
			sel = 1;
		}
	return sel;
}

int qf_qplan_status(qf_qplan *p, const qf_rec *rec)
{
	int kind = kind_of(rec), layer = qf_qrec_layer(rec), prot = 0;

	if (!qf_dtype_is_float(rec->dtype) || qf_rec_numel(rec) == 0)
		return QF_QST_PASS;
	if (!selected(p, rec, kind))
		return QF_QST_KEPT;
	p->nselected++;
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

/* The kinds of a set, "attn_qkv, attn_out and mlp_in". */
static void kind_list(unsigned set, char *buf, size_t len)
{
	size_t at = 0;
	int n = 0, left = __builtin_popcount(set);

	buf[0] = 0;
	for (int k = 0; k < QF_QKINDS && at < len; k++) {
		if (!(set >> k & 1))
			continue;
		left--;
		at += (size_t)snprintf(buf + at, len - at, "%s%s", n++ == 0 ? "" :
				       left ? ", " : " or ", kinds[k]);
	}
}

/* The selection: each -n glob and each kind named, then the whole. */
static int check_selection(const qf_qplan *p, qf_err *err)
{
	char list[256];

	for (int i = 0; i < p->nnames; i++)
		if (!p->name_hits[i])
			return qf_err_set(err, "--include-name: '%s' matches no "
					  "floating-point tensor", p->names[i]);
	for (int k = 0; k < QF_QKINDS; k++)
		if ((p->include_named >> k & 1) && !p->include_hits[k])
			return qf_err_set(err, "--include: kind %s matches no "
					  "floating-point tensor", kinds[k]);
	if (p->nselected)
		return 0;
	if (p->compat)
		return qf_err_set(err, "--compat: no floating-point tensor "
				  "whose name ends in 'weight'");
	kind_list(p->include, list, sizeof list);
	return qf_err_set(err, "nothing to quantize: no floating-point tensor "
			  "of kind %s (see --include, --include-name)",
			  list[0] ? list : "(none)");
}

int qf_qplan_check_matches(const qf_qplan *p, qf_err *err)
{
	if (check_selection(p, err) < 0)
		return -1;
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
	if (p->chan && !p->chan_numel)
		return qf_err_set(err, "--protect-channels: no linear weight of a "
				  "layer (attn_qkv, attn_out, mlp_in, mlp_out) is "
				  "quantized");
	return 0;
}

/* ------------------------------------------------------------ --bits-map @FILE */

int qf_qmap_read(const char *path, char **text, qf_err *err)
{
	size_t len, j = 0;
	char *t;
	int comment = 0;

	if (qf_read_text_file(path, QF_QMAP_MAX, &t, &len, err) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		if (c == '\n')
			comment = 0;
		else if (c == '#')
			comment = 1;
		if (!comment)
			t[j++] = c == '\n' ? ',' : c;
	}
	t[j] = 0;
	*text = t;
	return 0;
}
