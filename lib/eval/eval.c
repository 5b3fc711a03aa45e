/*
 * eval.c - per-language quality of a reference model and test models,
 * their degradation, its disparity across languages, and paired bootstrap
 * intervals (the work of qf-eval; docs/eval.md is the specification).
 * This file makes and frees the evaluation; eval_impl.h says which file
 * does the rest.
 *
 * qf_eval_doc (score.c) runs every model over one record, window by
 * window: the reference first, its log-probabilities of the window's
 * scored rows kept (a logits hook), then each test model, compared row by
 * row on the eval's thread pool.  What is kept per record (a unit) is a
 * handful of sums per model and the per-token KL values.  qf_eval_finish
 * (bootstrap.c) computes every figure from the units, once for the
 * estimate and once per bootstrap replicate, on the pool; replicate b has
 * its own generator, so the result does not depend on the thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

const char *qf_measure_name(int m)
{
	static const char *const n[QF_MEASURES] = {
		"deg_byte", "deg", "d_bpb", "d_nll", "d_bits_unit", "kl_unit",
	};

	return m >= 0 && m < QF_MEASURES ? n[m] : NULL;
}

const char *qf_measure_list(void)
{
	return "deg_byte, deg, d_bpb, d_nll, d_bits_unit, kl_unit";
}

int qf_measure_parse(const char *s)
{
	for (int m = 0; m < QF_MEASURES; m++)
		if (strcmp(s, qf_measure_name(m)) == 0)
			return m;
	return -1;
}

/* The models' shared vocabulary, the window and stride (*W, *S: o's, or
 * their defaults) and the baseline, checked. */
static int check_setup(qf_model **models, const char *const *names, int n,
		       const qf_eval_opts *o, int *W, int *S, qf_err *err)
{
	int C = 0;

	if (n < 1)
		return qf_err_set(err, "no reference model");
	for (int i = 0; i < n; i++) {
		const qf_model_config *c = qf_model_cfg(models[i]);

		if (c->vocab_size != qf_model_cfg(models[0])->vocab_size)
			return qf_err_set(err, "model %s has vocab_size %d, the "
					  "reference %s %d: models must share a "
					  "vocabulary", names[i], c->vocab_size,
					  names[0],
					  qf_model_cfg(models[0])->vocab_size);
		C = i == 0 || c->n_ctx < C ? c->n_ctx : C;
	}
	*W = o->window ? o->window : C;
	if (*W < 2 || *W > C)
		return qf_err_set(err, "window %d out of range [2, n_ctx %d]", *W, C);
	*S = o->stride ? o->stride : *W / 2 > 0 ? *W / 2 : 1;
	if (*S < 1 || *S >= *W)
		return qf_err_set(err, "stride %d out of range [1, window %d)", *S,
				  *W);
	if (o->baseline < 0 || (n > 1 && o->baseline >= n - 1))
		return qf_err_set(err, "baseline model %d out of range",
				  o->baseline);
	return 0;
}

/* The arrays of the models and of one window; -1: out of memory. */
static int alloc_models(qf_eval *ev, qf_model **models,
			const char *const *names)
{
	size_t n = (size_t)ev->nm, W = (size_t)ev->W;

	ev->m = calloc(n, sizeof *ev->m);
	ev->name = calloc(n, sizeof *ev->name);
	ev->nll = calloc(n, sizeof *ev->nll);
	ev->kl = calloc(n, sizeof *ev->kl);
	ev->lpr = malloc(W * ev->V * sizeof *ev->lpr);
	ev->ref_arg = malloc(W * sizeof *ev->ref_arg);
	ev->row_kl = malloc(W * sizeof *ev->row_kl);
	ev->row_dp = malloc(W * sizeof *ev->row_dp);
	ev->row_top1 = malloc(W);
	if (!ev->m || !ev->name || !ev->nll || !ev->kl || !ev->lpr ||
	    !ev->ref_arg || !ev->row_kl || !ev->row_dp || !ev->row_top1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		ev->m[i] = models[i];
		if (!(ev->name[i] = strdup(names[i])))
			return -1;
	}
	return 0;
}

qf_eval *qf_eval_new(qf_model **models, const char *const *names, int n,
		     const qf_eval_opts *o, qf_err *err)
{
	qf_eval *ev;
	int W = 0, S = 0;

	if (check_setup(models, names, n, o, &W, &S, err) < 0)
		return NULL;
	if (!(ev = calloc(1, sizeof *ev)))
		goto oom;
	ev->o = *o;
	ev->nm = n;
	ev->V = qf_model_cfg(models[0])->vocab_size;
	ev->W = W;
	ev->S = S;
	ev->last = -1;
	ev->ref_lang = -1;
	if (alloc_models(ev, models, names) < 0)
		goto oom;
	if (!(ev->pool = qf_pool_new(o->threads > 0 ? o->threads : 1, err))) {
		qf_eval_free(ev);
		return NULL;
	}
	return ev;
oom:
	qf_eval_free(ev);
	qf_err_set(err, "out of memory");
	return NULL;
}

void qf_eval_free(qf_eval *ev)
{
	if (!ev)
		return;
	for (int i = 0; i < ev->nm; i++) {
		if (ev->name)
			free(ev->name[i]);
		if (ev->nll)
			free(ev->nll[i]);
		if (ev->kl)
			free(ev->kl[i]);
	}
	free(ev->m);
	free(ev->name);
	free(ev->nll);
	free(ev->kl);
	free(ev->lpr);
	free(ev->ref_arg);
	free(ev->row_kl);
	free(ev->row_dp);
	free(ev->row_top1);
	for (size_t i = 0; ev->u && i < ev->nu; i++)
		free(ev->u[i].id);
	free(ev->u);
	free(ev->usum);
	qf_ev_scopes_free(ev);
	qf_ev_contrasts_free(ev);
	qf_ev_figs_free(&ev->est);
	qf_ev_resample_free(ev);
	if (ev->rep)
		for (int b = 0; b < ev->o.bootstrap; b++)
			qf_ev_figs_free(&ev->rep[b]);
	free(ev->rep);
	if (ev->pool)
		qf_pool_free(ev->pool);
	free(ev);
}

int qf_eval_models(const qf_eval *ev)
{
	return ev->nm;
}

const char *qf_eval_model_name(const qf_eval *ev, int i)
{
	return i >= 0 && i < ev->nm ? ev->name[i] : NULL;
}

uint64_t qf_eval_units(const qf_eval *ev)
{
	return ev->nu;
}

uint64_t qf_eval_headings_left_out(const qf_eval *ev)
{
	return ev->nheading;
}
