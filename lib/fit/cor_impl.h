/* cor_impl.h - what cor.c and perm.c share (private to lib/fit/). */
#ifndef QF_FIT_COR_IMPL_H
#define QF_FIT_COR_IMPL_H

#include "core/internal.h"
#include "fit/fit.h"

/* The relative tolerance under which scipy.stats.permutation_test counts
 * a resampled statistic as equal to the observed one. */
#define QF_PERM_EPS 1e-14

/* Replicate b's generator: 4 splitmix64 steps from seed + 4 b golden
 * (lib/eval/bootstrap.c's scheme: disjoint seeds). */
static inline void qf_fit_rng(uint64_t seed, uint64_t b, uint64_t s[4])
{
	uint64_t x = seed + 4 * b * 0x9E3779B97F4A7C15u;

	for (int i = 0; i < 4; i++)
		s[i] = qf_splitmix64(&x);
}

/* A uniform index in [0, n): the high 64 bits of draw * n. */
static inline uint64_t qf_fit_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)qf_xoshiro256ss(s) * n) >> 64);
}

/* The pairs of x, y without a NaN into xo, yo; returns their count. */
int qf_cor_complete(const double *x, const double *y, int n,
		    double *xo, double *yo);

/* The p of a permutation test from the counts of resampled statistics
 * at most and at least the observed one (within QF_PERM_EPS) among
 * nperm, adjusted (1 + count) / (1 + nperm) when not exact. */
double qf_perm_p(uint64_t nless, uint64_t ngreater, uint64_t nperm,
		 int exact);

#endif
