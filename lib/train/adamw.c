/*
 * adamw.c - the optimizer (train.h): its options, the learning rate
 * schedule (linear warm-up, cosine decay), the gradient norms (global and
 * per group), clipping, AdamW in torch's order of operations, and a whole
 * step.  The norms and the update run over the flat arrays in the state's
 * tasks (struct ftask: CHUNK elements of one tensor), the sums of squares
 * added up in task order.
 */
#include <inttypes.h>
#include <math.h>

#include "train/train_impl.h"

/* ------------------------------------------------------------ options */

void qf_train_opts_default(qf_train_opts *o)
{
	o->lr = 1e-3;
	o->min_lr = 1e-4;
	o->warmup = 100;
	o->steps = 1000;
	o->weight_decay = 0.1;
	o->beta1 = 0.9;
	o->beta2 = 0.95;
	o->eps = 1e-8;
	o->clip = 1.0;
}

int qf_train_opts_check(const qf_train_opts *o, qf_err *err)
{
	if (!(o->lr >= 0 && o->lr < 1e6))
		return qf_err_set(err, "learning rate %g out of range [0, 1e6)",
				  o->lr);
	if (!(o->min_lr >= 0 && o->min_lr <= o->lr))
		return qf_err_set(err, "minimum learning rate %g out of range "
				  "[0, lr %g]", o->min_lr, o->lr);
	if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
		return qf_err_set(err, "Adam betas %g, %g out of range [0, 1)",
				  o->beta1, o->beta2);
	if (!(o->eps > 0 && o->eps < 1))
		return qf_err_set(err, "Adam eps %g out of range (0, 1)", o->eps);
	if (!(o->weight_decay >= 0 && o->weight_decay < 1e6))
		return qf_err_set(err, "weight decay %g out of range [0, 1e6)",
				  o->weight_decay);
	if (!(o->clip >= 0 && o->clip < 1e30))
		return qf_err_set(err, "clip %g out of range [0, 1e30)", o->clip);
	if (o->steps < 1)
		return qf_err_set(err, "steps must be at least 1");
	return 0;
}

double qf_train_lr(const qf_train_opts *o, uint64_t s)
{
	double r, p, f;

	if (o->lr <= 0)
		return 0;
	if (s < o->warmup)
		return o->lr * ((double)(s + 1) / (double)o->warmup);
	r = o->min_lr / o->lr;
	p = (double)(s - o->warmup) /
	    (double)(o->steps > o->warmup + 1 ? o->steps - o->warmup : 1);
	if (p > 1)
		p = 1;
	f = r + (1 - r) * 0.5 * (1 + cos(M_PI * p));
	return o->lr * f;
}

/* ------------------------------------------------------------ norms */

/* A job over the flat tasks: the norms need t only, AdamW its factors. */
struct flat_job {
	qf_train *t;
	float lr_decay, b1, b2, c1, c2, step, bc2s, eps, clip;
};

static void sumsq_task(void *ctx, int task, int tid)
{
	const struct flat_job *j = ctx;
	const struct ftask *f = &j->t->ft[task];
	const float *g = j->t->g + j->t->t[f->ti].off + f->off;
	double s = 0;

	(void)tid;
	for (size_t i = 0; i < f->n; i++)
		s += (double)g[i] * g[i];
	j->t->part[task] = s;
}

double qf_train_grad_norms(qf_train *t, double *group)
{
	struct flat_job j = { .t = t };
	int ng = t->cfg.n_layer + 2;
	double total = 0;

	qf_pool_run(t->pool, (int)t->nft, sumsq_task, &j);
	if (group)
		for (int i = 0; i < ng; i++)
			group[i] = 0;
	for (size_t k = 0; k < t->nft; k++) {
		total += t->part[k];
		if (group)
			group[t->t[t->ft[k].ti].group] += t->part[k];
	}
	if (group)
		for (int i = 0; i < ng; i++)
			group[i] = sqrt(group[i]);
	return sqrt(total);
}

/* ------------------------------------------------------------ the update */

/* AdamW on n elements, in torch's order of operations (single-tensor
 * AdamW of torch 1.13): clip, decay, moments, bias-corrected step.  A
 * clip or decay of 1 changes nothing (x · 1 = x). */
static void adamw_span(float *restrict w, float *restrict g, float *restrict m,
		       float *restrict v, size_t n, const struct flat_job *j,
		       float decay)
{
	float clip = j->clip, b1 = j->b1, c1 = j->c1, b2 = j->b2, c2 = j->c2;
	float bc2s = j->bc2s, eps = j->eps, step = j->step;

	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * clip;

		g[i] = gi;
		w[i] *= decay;
		m[i] = m[i] * b1 + c1 * gi;
		v[i] = v[i] * b2 + c2 * gi * gi;
		w[i] += step * (m[i] / (sqrtf(v[i]) / bc2s + eps));
	}
}

static void adamw_task(void *ctx, int task, int tid)
{
	const struct flat_job *j = ctx;
	const struct ftask *f = &j->t->ft[task];
	size_t off = j->t->t[f->ti].off + f->off;

	(void)tid;
	adamw_span(j->t->w + off, j->t->g + off, j->t->m + off, j->t->v + off,
		   f->n, j, j->t->t[f->ti].decay ? j->lr_decay : 1.0f);
}

void qf_train_update(qf_train *t, const qf_train_opts *o, double norm)
{
	double lr = qf_train_lr(o, t->step), n = (double)(t->step + 1);
	double bc1 = 1 - pow(o->beta1, n), bc2 = 1 - pow(o->beta2, n);
	struct flat_job j = {
		.t = t,
		.lr_decay = (float)(1 - lr * o->weight_decay),
		.b1 = (float)o->beta1, .b2 = (float)o->beta2,
		.c1 = (float)(1 - o->beta1), .c2 = (float)(1 - o->beta2),
		.step = (float)(-(lr / bc1)), .bc2s = (float)sqrt(bc2),
		.eps = (float)o->eps, .clip = 1.0f,
	};

	if (o->clip > 0) {
		float coef = (float)(o->clip / (norm + 1e-6));

		if (coef < 1.0f)
			j.clip = coef;
	}
	qf_pool_run(t->pool, (int)t->nft, adamw_task, &j);
	t->step++;
}

/* ------------------------------------------------------------ a step */

int qf_train_step(qf_train *t, const int32_t *tok, int B, int T,
		  const qf_train_opts *o, qf_train_stats *s, qf_err *err)
{
	double loss, norm;

	if (qf_train_forward(t, tok, B, T, 1, NULL, NULL, &loss, err) < 0 ||
	    qf_train_backward(t, err) < 0)
		return -1;
	norm = qf_train_grad_norms(t, s ? s->group : NULL);
	if (!isfinite(loss) || !isfinite(norm))
		return qf_err_set(err, "step %" PRIu64 ": loss %g, gradient norm "
				  "%g: not finite", t->step + 1, loss, norm);
	if (s) {
		s->step = t->step + 1;
		s->lr = qf_train_lr(o, t->step);
		s->loss = loss;
		s->grad_norm = norm;
	}
	qf_train_update(t, o, norm);
	t->tokens += (uint64_t)B * T;
	return 0;
}

