/* blas.h - the choice of OpenBLAS's core as a pure function (internal to
 * lib/tool and its tests; tools call qf_tool_start). */
#ifndef QF_TOOL_BLAS_H
#define QF_TOOL_BLAS_H

#include "core/internal.h"

/* The decision as a pure function: the core type to set, or NULL to
 * leave OpenBLAS alone.  corename: what OpenBLAS runs
 * (openblas_get_corename()); env_coretype, env_guard: the values of
 * OPENBLAS_CORETYPE and QF_OPENBLAS_REEXEC (NULL when unset). */
const char *qf_blas_core_choice(const char *corename, unsigned cpu,
				const char *env_coretype,
				const char *env_guard);

#endif
