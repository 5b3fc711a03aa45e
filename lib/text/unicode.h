/* unicode.h - Unicode classes for the pre-tokenizers (internal to lib/text). */
#ifndef QF_TEXT_UNICODE_H
#define QF_TEXT_UNICODE_H

#include <stdint.h>

/* Unicode classes for GPT-2's pre-tokenizer (lib/text/unicode_class.c,
 * generated): 0 other, 1 letter, 2 number, 3 White_Space; and the
 * Unicode version of the table. */
int qf_uni_class(uint32_t cp);
const char *qf_uni_version(void);

#endif
