/*
 * qf.h - the qf library, every layer's public header (docs/architecture.md):
 *
 *   core/core.h      errors, dtypes, records, numbers, provenance
 *   stream/stream.h  tensor streams (formats/stream.md), atomic outputs
 *   text/text.h      corpora, tokenizers, token records
 *   quant/quant.h    quantizers, selection plans, weight statistics
 *   ckpt/ckpt.h      numpy files, checkpoints, canonical weights
 *   model/model.h    the model runtime: models, hooks, runs, activations
 *   eval/eval.h      evaluation tables (docs/eval.md)
 *   train/train.h    training (docs/train.md)
 *   tool/tool.h      the tools' front end: OpenBLAS's core, options,
 *                    messages and exits, progress
 *
 * qf 0.1.0.  tools/ include this header (or one layer's) and nothing
 * else from lib/.  The error model is in core/core.h.
 */
#ifndef QF_H
#define QF_H

#include "core/core.h"
#include "stream/stream.h"
#include "quant/quant.h"
#include "text/text.h"
#include "fit/fit.h"
#include "ckpt/ckpt.h"
#include "model/model.h"
#include "eval/eval.h"
#include "train/train.h"
#include "tool/tool.h"

#endif
