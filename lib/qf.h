/*
 * qf.h - the qf library: tensor streams, dtypes, numpy files, tool support.
 *
 * qf 0.1.0.  One public header; tools/ include nothing else from lib/.
 *
 * Error model.  Every fallible function takes a `qf_err *` as its last
 * argument and returns 0 (or a count, or a pointer) on success and -1 (or
 * NULL) on failure, with a one-line message in err->msg of the form
 *
 *     FILE: record NAME: what is wrong
 *
 * (the "record NAME: " part only where a record is concerned).  The library
 * never prints and never exits; the qf_tool_* functions at the end of this
 * header are the one exception: they are the tools' shared front end and
 * write to stderr by design.
 *
 * The stream format itself is specified in formats/stream.md.
 */
#ifndef QF_H
#define QF_H

#include "core/core.h"
#include "stream/stream.h"
#include "quant/quant.h"
#include "text/text.h"
#include "ckpt/ckpt.h"
#include "model/model.h"
#include "eval/eval.h"
#include "train/train.h"
#include "tool/tool.h"

#endif
