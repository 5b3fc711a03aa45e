/* unicode.h - Unicode classes for the pre-tokenizers, and the tokenizer's
 * window (internal to lib/text; the unit tests use both). */
#ifndef QF_TEXT_UNICODE_H
#define QF_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Unicode classes for GPT-2's pre-tokenizer (lib/text/unicode_class.c,
 * generated): 0 other, 1 letter, 2 number, 3 White_Space; and the
 * Unicode version of the table. */
int qf_uni_class(uint32_t cp);
const char *qf_uni_version(void);

/* Bytes of a long pre-tokenized piece that BPE merges at a time
 * (tokenizer.c, "long pieces"); 64 KiB.  The ids do not depend on it:
 * the unit tests set it small, or to SIZE_MAX (a piece merged whole),
 * and compare.  Set it only while no thread encodes. */
extern size_t qf_bpe_window;

#endif
