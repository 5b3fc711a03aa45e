/*
 * aciq.c - ACIQ (Banner et al. 2019): the expected squared error of
 * clipping and quantizing a Gaussian or a Laplace, and the clip that
 * minimises it.  Definitions: docs/quantize.md.
 */
#include <math.h>

#include "quant/quant_impl.h"

/* One tail: the integral over x > a of (x - a)^2 times the density. */
static double tail_gauss(double a, double sigma)
{
	double t = a / sigma;

	return sigma * sigma * ((1 + t * t) * 0.5 * erfc(t / M_SQRT2) -
				t * exp(-t * t / 2) / sqrt(2 * M_PI));
}

static double tail_laplace(double a, double b)
{
	if (a >= 0)
		return b * b * exp(-a / b);
	return 2 * b * b + a * a - b * b * exp(a / b);
}

/* Expected squared error for clipping at c - a_lo and c + a_hi (c the
 * prior's centre) and 2^bits bins over the range. */
double qf_aciq_pred(int laplace, double a_lo, double a_hi, double scale,
		    int bits)
{
	double w = a_lo + a_hi, q = w * w / (12.0 * ldexp(1.0, 2 * bits));

	if (!(scale > 0))
		return q;
	if (laplace)
		return tail_laplace(a_lo, scale) + tail_laplace(a_hi, scale) + q;
	return tail_gauss(a_lo, scale) + tail_gauss(a_hi, scale) + q;
}

double qf_aciq_mse_gauss(double alpha, double sigma, int bits)
{
	return qf_aciq_pred(0, alpha, alpha, sigma, bits);
}

double qf_aciq_mse_laplace(double alpha, double b, int bits)
{
	return qf_aciq_pred(1, alpha, alpha, b, bits);
}

/* The formulas are convex in alpha; their minimum is where the derivative
 * (in units of sigma or b) changes sign, found by bisection. */
static double dmse_gauss(double t, int bits)
{
	double q = 0.5 * erfc(t / M_SQRT2), phi = exp(-t * t / 2) / sqrt(2 * M_PI);

	return 4 * (t * q - phi) + 2 * t / (3 * ldexp(1.0, 2 * bits));
}

static double dmse_laplace(double a, int bits)
{
	return -2 * exp(-a) + 2 * a / (3 * ldexp(1.0, 2 * bits));
}

static double bisect(double (*d)(double, int), int bits)
{
	double lo = 0, hi = 64;

	for (int i = 0; i < 200 && hi - lo > 0; i++) {
		double mid = (lo + hi) / 2;
		if (mid == lo || mid == hi)
			break;
		if (d(mid, bits) < 0)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

double qf_aciq_alpha_gauss(int bits)
{
	return bisect(dmse_gauss, bits);
}

double qf_aciq_alpha_laplace(int bits)
{
	return bisect(dmse_laplace, bits);
}

