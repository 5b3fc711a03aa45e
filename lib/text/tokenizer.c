/*
 * tokenizer.c - tokenizers: "bytes" (one token per byte) and GPT-2's
 * byte-level BPE, from encoder.json + vocab.bpe or from a Hugging Face
 * tokenizer.json of that kind (formats/tokenizers.md).
 *
 * GPT-2 encoding is pre-tokenization by GPT-2's regex
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * matched by hand (next_piece; character classes from the generated
 * lib/text/unicode_class.c), then BPE on the bytes of each piece.  The merging
 * is GPT-2's (encoder.py): repeatedly the pair of lowest rank, every
 * occurrence left to right, until no pair has a rank.  It runs on a
 * linked list with a heap of (rank, position) candidates, so a piece of m
 * bytes costs O(m log m) however long it is (Thai, Chinese, Burmese have
 * long pieces).  A piece that is itself a token which BPE rebuilds whole
 * (decided for every token at load) is looked up directly.
 *
 * Everything is done with token ids: a merge is a pair of ids to (rank,
 * result id) in a hash table.  The tokenizer is immutable after loading;
 * encoding allocates its own scratch space, so it is reentrant.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/internal.h"
#include "core/json.h"
#include "text/text.h"
#include "text/unicode.h"

/* lib/text/unicode_class.c (generated): 0 other, 1 \p{L}, 2 \p{N}, 3 White_Space */
enum { C_OTHER, C_LETTER, C_NUMBER, C_SPACE };

enum { TOK_BYTES, TOK_BPE };

#define MAX_FILE (256u << 20)		/* bytes of a tokenizer file */
#define MAX_PIECE 0x7fffffffu		/* bytes of one pre-tokenized piece */
#define NO_KEY UINT64_MAX

struct merge_slot {
	uint64_t key;		/* (uint64_t)left id << 32 | right id */
	uint32_t rank;
	int32_t result;
};

struct qf_tokenizer {
	int kind;
	size_t n;		/* tokens */
	char *arena;		/* pieces, each followed by a NUL */
	size_t *off;		/* piece i at arena + off[i], length
				 * off[i + 1] - off[i] - 1 */
	int32_t byte_id[256];	/* token of each single byte */
	int32_t *vslot;		/* hash of pieces: token id or -1 */
	size_t vmask;
	struct merge_slot *mslot;
	size_t mmask;
	unsigned char *whole;	/* whole[i]: BPE of piece i gives just i */
	int64_t *formed;	/* formed[i]: the lowest rank of a merge that
				 * gives token i; -1 for a single byte,
				 * INT64_MAX when none does */
	size_t maxlen;		/* bytes of the longest token */
	int monotone;		/* every merge ranks after those that give
				 * its two parts: BPE merges in rank order */
};

/* ------------------------------------------------------------ byte alphabet */

/* GPT-2's bytes_to_unicode(): the printable bytes '!'..'~', 0xa1..0xac
 * and 0xae..0xff stand for themselves, the other 68 bytes, in order, for
 * U+0100..U+0143: 0x00..0x20, 0x7f..0xa0, then 0xad. */
static uint32_t byte_to_cp(unsigned b)
{
	if (b <= 0x20)
		return 0x100 + b;
	if (b >= 0x7f && b <= 0xa0)
		return 0x121 + (b - 0x7f);
	if (b == 0xad)
		return 0x143;
	return b;
}

/* The byte a code point of the alphabet stands for, or -1. */
static int cp_to_byte(uint32_t cp)
{
	if (cp < 0x100)
		return byte_to_cp(cp) == cp ? (int)cp : -1;
	if (cp < 0x121)
		return (int)(cp - 0x100);
	if (cp < 0x143)
		return (int)(cp - 0x121 + 0x7f);
	if (cp == 0x143)
		return 0xad;
	return -1;
}

/* ------------------------------------------------------------ UTF-8 */

/* The character at s[0..n) (n > 0): its length, and its code point in
 * *cp; an ill-formed sequence gives length 1 and *cp = UINT32_MAX. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
	int32_t c;
	size_t len = qf_utf8_next(s, n, &c);

	*cp = c < 0 ? UINT32_MAX : (uint32_t)c;
	return c < 0 ? 1 : len;
}

/* The class of an ASCII character (qf_uni_class's for it). */
static int ascii_class(unsigned c)
{
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return C_LETTER;
	if (c >= '0' && c <= '9')
		return C_NUMBER;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return C_SPACE;
	return C_OTHER;
}

/* Class of the character at s[0..n) and its length in *len.  Bytes that
 * are not valid UTF-8 are characters of class "other", one byte each. */
static int char_class(const unsigned char *s, size_t n, size_t *len)
{
	uint32_t cp;

	if (s[0] < 0x80) {
		*len = 1;
		return ascii_class(s[0]);
	}
	*len = utf8_dec(s, n, &cp);
	return cp == UINT32_MAX ? C_OTHER : qf_uni_class(cp);
}

/* ------------------------------------------------------------ pre-tokenizer */

/* End of the regex match that starts at p (p < n).  The alternatives are
 * tried in order, as a backtracking regex engine would; since every
 * character is a letter, a number, a space or "other", some alternative
 * always matches and the matches tile the text. */
static size_t next_piece(const unsigned char *s, size_t n, size_t p)
{
	size_t len, q, last;
	int c;

	/* 's 't 're 've 'm 'll 'd: lower case only, as in GPT-2 */
	if (s[p] == '\'' && n - p >= 2) {
		unsigned a = s[p + 1];
		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return p + 2;
		if (n - p >= 3) {
			unsigned b = s[p + 2];
			if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
			    (a == 'l' && b == 'l'))
				return p + 3;
		}
	}
	c = char_class(s + p, n - p, &len);
	q = p;
	/*  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ : an optional U+0020 and a
	 * run of one class */
	if (s[p] == ' ' && n - p >= 2) {
		size_t l2;
		int c2 = char_class(s + p + 1, n - p - 1, &l2);
		if (c2 != C_SPACE) {
			c = c2;
			q = p + 1;
			len = l2;
		}
	}
	if (c != C_SPACE) {
		q += len;
		while (q < n && char_class(s + q, n - q, &len) == c)
			q += len;
		return q;
	}
	/* \s+(?!\S) : a run of spaces, less its last character when a
	 * non-space follows; else \s+ : a single space before a non-space */
	last = p;
	q = p + len;
	while (q < n && char_class(s + q, n - q, &len) == C_SPACE) {
		last = q;
		q += len;
	}
	if (q == n || last == p)
		return q;
	return last;
}

/* ------------------------------------------------------------ hashing */

/* splitmix64's output function (qf_splitmix64 without the step of its
 * state): spreads a hash over the bits a table index takes. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_bytes(const unsigned char *s, size_t n)
{
	return mix64(qf_fnv1a(QF_FNV1A_INIT, s, n) ^ n);
}

static const char *piece(const qf_tokenizer *t, size_t id, size_t *len)
{
	*len = t->off[id + 1] - t->off[id] - 1;
	return t->arena + t->off[id];
}

/* Token whose piece is s[0..n), or -1. */
static int32_t vocab_find_h(const qf_tokenizer *t, const void *s, size_t n,
			    uint64_t h)
{
	size_t i = h & t->vmask;
	int32_t id;

	while ((id = t->vslot[i]) >= 0) {
		size_t len;
		const char *p = piece(t, (size_t)id, &len);
		if (len == n && memcmp(p, s, n) == 0)
			return id;
		i = (i + 1) & t->vmask;
	}
	return -1;
}

static int32_t vocab_find(const qf_tokenizer *t, const void *s, size_t n)
{
	return vocab_find_h(t, s, n, hash_bytes(s, n));
}

static const struct merge_slot *merge_find(const qf_tokenizer *t,
					   int32_t a, int32_t b)
{
	uint64_t key = (uint64_t)a << 32 | (uint32_t)b;
	size_t i = mix64(key) & t->mmask;

	for (;;) {
		const struct merge_slot *m = &t->mslot[i];
		if (m->key == key)
			return m;
		if (m->key == NO_KEY)
			return NULL;
		i = (i + 1) & t->mmask;
	}
}

/* ------------------------------------------------------------ BPE */

/* Scratch space of one encode call. */
struct work {
	int32_t *tok;		/* symbol at each position; -1: merged away */
	uint32_t *next, *prev;	/* linked list of live positions */
	size_t cap;
	uint64_t *heap;		/* candidates: rank << 32 | position */
	size_t hcap;
	uint64_t *pend;		/* candidates found during a round */
	size_t pcap;
	/* pieces already merged in this call: where they are in the text
	 * and where their ids are in the output */
	const unsigned char *text;
	struct cached *cache;
	size_t merged;		/* pieces merged so far */
	/* when spine is set, bpe() records the symbols that ended its
	 * text, in the order BPE built them (cut_safe) */
	struct step *spine;	/* NULL, or spbuf */
	struct step *spbuf;	/* room for maxlen + 1 steps */
	size_t nspine;
	int64_t born;		/* rank of the merge that made the last one */
};

/* A symbol at the end of a text while BPE ran: its token, made by the
 * merge of rank born (-1: a byte from the start), merged into a longer
 * one by the merge of rank died (INT64_MAX: never). */
struct step {
	int32_t tok;
	int64_t born, died;
};

struct cached {
	uint64_t hash;
	size_t at;		/* the piece: text + at, len bytes */
	uint32_t len;
	uint32_t nids;
	size_t ids;		/* its ids: (*ids)[ids .. ids + nids) */
};

#define CACHE_SIZE 4096		/* entries, direct-mapped */
#define CACHE_AFTER 64		/* pieces merged before a cache pays */
#define CACHE_MAX 64		/* bytes of the longest piece cached */

#define NONE UINT32_MAX

static void work_free(struct work *w)
{
	free(w->tok);
	free(w->next);
	free(w->prev);
	free(w->heap);
	free(w->pend);
	free(w->cache);
	free(w->spbuf);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * size);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int work_reserve(struct work *w, size_t m)
{
	size_t c = w->cap, c2 = w->cap, c3 = w->cap;

	if (m <= w->cap)
		return 0;
	if (grow((void **)&w->tok, &c, m, sizeof *w->tok) < 0 ||
	    grow((void **)&w->next, &c2, m, sizeof *w->next) < 0 ||
	    grow((void **)&w->prev, &c3, m, sizeof *w->prev) < 0)
		return -1;
	w->cap = c < c2 ? (c < c3 ? c : c3) : (c2 < c3 ? c2 : c3);
	/* a heap entry per pair at the start; the pending list holds at
	 * most two per merge of one round */
	if (grow((void **)&w->heap, &w->hcap, m, sizeof *w->heap) < 0 ||
	    grow((void **)&w->pend, &w->pcap, 2 * m, sizeof *w->pend) < 0)
		return -1;
	return 0;
}

static void sift_down(uint64_t *h, size_t n, size_t i)
{
	uint64_t x = h[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1] < h[c])
			c++;
		if (h[c] >= x)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static void sift_up(uint64_t *h, size_t i)
{
	uint64_t x = h[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h[p] <= x)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = x;
}

/* The last symbol of the text, tok, was merged by rank died. */
static void spine_add(struct work *w, int32_t tok, int64_t died)
{
	w->spine[w->nspine++] = (struct step){ tok, w->born, died };
	w->born = died;
}

/* BPE's start on the m bytes of s: a symbol per byte in a list, and a
 * heap of the pairs that have a rank; returns the heap's size. */
static size_t bpe_start(const qf_tokenizer *t, struct work *w,
			const unsigned char *s, size_t m)
{
	size_t hn = 0;

	for (size_t i = 0; i < m; i++) {
		w->tok[i] = t->byte_id[s[i]];
		w->prev[i] = i ? (uint32_t)(i - 1) : NONE;
		w->next[i] = i + 1 < m ? (uint32_t)(i + 1) : NONE;
	}
	for (size_t i = 0; i + 1 < m; i++) {
		const struct merge_slot *ms = merge_find(t, w->tok[i],
							 w->tok[i + 1]);
		if (ms)
			w->heap[hn++] = (uint64_t)ms->rank << 32 | i;
	}
	for (size_t i = hn / 2; i-- > 0;)
		sift_down(w->heap, hn, i);
	return hn;
}

/* BPE on the m bytes of s (1 < m <= MAX_PIECE; w reserved for m): the
 * resulting ids into out (room for m); returns their number, or -1 when
 * the heap outgrew memory.
 *
 * GPT-2 merges in rounds: the lowest-ranked pair present, at every
 * position left to right (a pair overlapping one just merged is skipped),
 * then the next round.  The heap pops candidates by rank, then position;
 * a candidate is stale when its position was merged away or its pair has
 * changed.  Pairs created by a round's merges wait in w->pend until the
 * round's rank is exhausted, so that a new pair of lower rank (possible
 * only in odd merge lists) cannot jump into the round. */
static ssize_t bpe(const qf_tokenizer *t, struct work *w,
		   const unsigned char *s, size_t m, int32_t *out)
{
	int32_t *tok = w->tok;
	uint32_t *next = w->next, *prev = w->prev;
	uint64_t *h = w->heap, cur = UINT64_MAX;
	size_t hn = bpe_start(t, w, s, m), np = 0, k;
	const struct merge_slot *ms;

	w->nspine = 0;
	w->born = -1;

	for (;;) {
		uint64_t top;
		uint32_t i, j;

		if (np && (hn == 0 || h[0] >> 32 != cur)) {
			if (grow((void **)&w->heap, &w->hcap, hn + np,
				 sizeof *h) < 0)
				return -1;
			h = w->heap;
			for (size_t e = 0; e < np; e++) {
				h[hn] = w->pend[e];
				sift_up(h, hn++);
			}
			np = 0;
		}
		if (hn == 0)
			break;
		top = h[0];
		h[0] = h[--hn];
		if (hn)
			sift_down(h, hn, 0);
		i = (uint32_t)top;
		if (tok[i] < 0 || (j = next[i]) == NONE)
			continue;
		ms = merge_find(t, tok[i], tok[j]);
		if (!ms || ms->rank != top >> 32)
			continue;
		cur = top >> 32;
		if (w->spine && next[j] == NONE)
			spine_add(w, tok[j], (int64_t)cur);
		tok[i] = ms->result;
		tok[j] = -1;
		next[i] = next[j];
		if (next[j] != NONE)
			prev[next[j]] = i;
		if (prev[i] != NONE) {
			ms = merge_find(t, tok[prev[i]], tok[i]);
			if (ms)
				w->pend[np++] = (uint64_t)ms->rank << 32 | prev[i];
		}
		if (next[i] != NONE) {
			ms = merge_find(t, tok[i], tok[next[i]]);
			if (ms)
				w->pend[np++] = (uint64_t)ms->rank << 32 | i;
		}
	}
	k = 0;
	for (uint32_t i = 0; i != NONE; i = next[i])
		out[k++] = tok[i];
	if (w->spine)
		spine_add(w, out[k - 1], INT64_MAX);
	return (ssize_t)k;
}

/* Make room for need more ids after *n. */
static int ids_reserve(int32_t **ids, size_t *n, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 256;
	int32_t *p;

	if (need <= *cap - *n)
		return 0;
	if (need > SIZE_MAX / sizeof **ids / 2 - *n)
		return -1;
	while (c - *n < need)
		c *= 2;
	p = realloc(*ids, c * sizeof *p);
	if (!p)
		return -1;
	*ids = p;
	*cap = c;
	return 0;
}

/* ------------------------------------------------------------ long pieces */

/*
 * A piece longer than WINDOW bytes (qf_bpe_window, text/unicode.h: a
 * text without spaces, Thai, Chinese, a hostile run of letters) is
 * merged WINDOW bytes at a time, so that the scratch space stays that of
 * a window whatever the piece's length, with ids identical to BPE of the
 * whole piece.
 *
 * That holds at a cut d where BPE of the whole piece never merges across
 * d: then it is BPE of the bytes before d followed by BPE of those after.
 * A window s[a..c) is merged (a being such a cut) and a boundary d of
 * its tokens, at least half a window in, is taken when cut_safe() proves
 * it.  The ids before d are kept and the next window starts at d.  When
 * no boundary of a window is proved safe (a run of one repeated letter
 * in a merge list whose ranks are not in order), the rest of the piece
 * is merged whole, as short pieces are.
 */
size_t qf_bpe_window = 64u << 10;	/* text/unicode.h */
#define WINDOW qf_bpe_window

/* The symbols that end at d (the end of token tok, whose bytes start at
 * p) while BPE of the text before d runs: since d is a boundary of the
 * window's tokens, they are those of BPE of tok's bytes alone. */
static int spine_at(const qf_tokenizer *t, struct work *w,
		    const unsigned char *s, size_t p, size_t d, int32_t tok,
		    int32_t *out)
{
	w->spine = w->spbuf;
	if (d - p == 1) {
		w->nspine = 0;
		w->born = -1;
		spine_add(w, tok, INT64_MAX);
	} else if (bpe(t, w, s + p, d - p, out) != 1 || out[0] != tok) {
		w->spine = NULL;
		return -1;	/* cannot be: tok came out of BPE whole */
	}
	w->spine = NULL;
	return 0;
}

/*
 * Whether BPE of the piece s[0..m) can ever merge across d, a boundary
 * of the window's tokens whose last token before d is tok, starting at
 * p.  Until it does, the symbol x ending at d is the one BPE of the bytes
 * before d has there (spine_at), and the symbol y starting at d is some
 * token that starts s[d..m).  A merge of x and y of rank r can happen
 * only while x lives (born < r < died; a merge of the same rank that
 * ends x is to its left, so comes first) and once y can exist (a merge
 * of rank below r gives it, or it is a byte): merges go by rank when the
 * merge list is monotone.  When it is not, any merge of x and y is taken
 * to be possible.  Returns 1 when no merge across d is possible.
 */
static int cut_safe(const qf_tokenizer *t, struct work *w,
		    const unsigned char *s, size_t m, size_t p, size_t d,
		    int32_t tok, int32_t *out)
{
	if (spine_at(t, w, s, p, d, tok, out) < 0)
		return 0;
	for (size_t l = 1; l <= t->maxlen && l <= m - d; l++) {
		int32_t y = vocab_find(t, s + d, l);

		if (y < 0 || t->formed[y] == INT64_MAX)
			continue;
		for (size_t k = 0; k < w->nspine; k++) {
			const struct step *x = &w->spbuf[k];
			const struct merge_slot *ms = merge_find(t, x->tok, y);
			int64_t r;

			if (!ms)
				continue;
			r = (int64_t)ms->rank;
			if (!t->monotone || (x->born < r && r < x->died &&
					     t->formed[y] < r))
				return 0;
		}
	}
	return 1;
}

/* The ids of the window s[a..a + WINDOW) up to its last safe cut at or
 * after a + WINDOW / 2 appended to ids (out, *n of them); that cut into
 * *cut, or 0 when there is none (nothing appended). */
static int window(const qf_tokenizer *t, struct work *w,
		  const unsigned char *s, size_t m, size_t a, int32_t *out,
		  size_t *n, size_t *cut, int32_t *scratch)
{
	ssize_t k = bpe(t, w, s + a, WINDOW, out);
	size_t d = a + WINDOW;

	*cut = 0;
	if (k < 0)
		return -1;
	for (size_t kept = (size_t)k; kept > 0 && d >= a + WINDOW / 2;
	     kept--) {
		size_t len;
		int32_t tok = out[kept - 1];

		piece(t, (size_t)tok, &len);
		if (cut_safe(t, w, s, m, d - len, d, tok, scratch)) {
			*n += kept;
			*cut = d;
			return 0;
		}
		d -= len;
	}
	return 0;
}

/* The ids of a piece longer than WINDOW, window by window. */
static int encode_long(const qf_tokenizer *t, struct work *w,
		       const unsigned char *s, size_t m, int32_t **ids,
		       size_t *n, size_t *cap)
{
	int32_t *scratch = malloc((t->maxlen + 1) * sizeof *scratch);
	size_t a = 0, cut = 1;
	ssize_t k;

	if (!scratch || (!w->spbuf && !(w->spbuf = malloc((t->maxlen + 1) *
							 sizeof *w->spbuf))) ||
	    work_reserve(w, WINDOW) < 0)
		goto oom;
	while (m - a > WINDOW && cut) {
		if (ids_reserve(ids, n, cap, WINDOW) < 0 ||
		    window(t, w, s, m, a, *ids + *n, n, &cut, scratch) < 0)
			goto oom;
		a = cut ? cut : a;
	}
	free(scratch);
	/* the last window, or the rest of a piece without a safe cut */
	if (ids_reserve(ids, n, cap, m - a) < 0)
		return -1;
	if (m - a == 1) {
		(*ids)[(*n)++] = t->byte_id[s[a]];
		return 0;
	}
	if (work_reserve(w, m - a) < 0 ||
	    (k = bpe(t, w, s + a, m - a, *ids + *n)) < 0)
		return -1;
	*n += (size_t)k;
	return 0;
oom:
	free(scratch);
	return -1;
}

/* Ids of one pre-tokenized piece appended to *ids.  Pieces that are not
 * whole tokens go through BPE, unless the same piece was merged earlier in
 * this call: the cache (of this call only, so that encoding stays
 * reentrant) points at that piece in the text and at its ids in the
 * output, which only ever grows. */
static int encode_piece(const qf_tokenizer *t, struct work *w,
			const unsigned char *s, size_t m, int32_t **ids,
			size_t *n, size_t *cap)
{
	struct cached *c = NULL;
	uint64_t h;
	int32_t id;
	ssize_t k;

	if (m > WINDOW)
		return encode_long(t, w, s, m, ids, n, cap);
	if (ids_reserve(ids, n, cap, m) < 0)
		return -1;
	if (m == 1) {
		(*ids)[(*n)++] = t->byte_id[s[0]];
		return 0;
	}
	h = hash_bytes(s, m);
	id = vocab_find_h(t, s, m, h);
	if (id >= 0 && t->whole[id]) {
		(*ids)[(*n)++] = id;
		return 0;
	}
	if (m <= CACHE_MAX && w->cache) {
		c = &w->cache[h % CACHE_SIZE];
		if (c->hash == h && c->len == m &&
		    memcmp(w->text + c->at, s, m) == 0) {
			memcpy(*ids + *n, *ids + c->ids, c->nids * sizeof **ids);
			*n += c->nids;
			return 0;
		}
	}
	if (work_reserve(w, m) < 0)
		return -1;
	k = bpe(t, w, s, m, *ids + *n);
	if (k < 0)
		return -1;
	if (m <= CACHE_MAX && !w->cache && ++w->merged == CACHE_AFTER) {
		w->cache = calloc(CACHE_SIZE, sizeof *w->cache);
		if (w->cache)
			c = &w->cache[h % CACHE_SIZE];
	}
	if (c)
		*c = (struct cached){ h, (size_t)(s - w->text), (uint32_t)m,
				      (uint32_t)k, *n };
	*n += (size_t)k;
	return 0;
}

int64_t qf_tok_encode(const qf_tokenizer *t, const char *text, size_t len,
		      int32_t **ids, size_t *n, size_t *cap, qf_err *err)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n0 = *n, p = 0;
	struct work w = { .text = s };

	if (t->kind == TOK_BYTES) {
		if (ids_reserve(ids, n, cap, len) < 0)
			return qf_err_set(err, "tokenize: out of memory");
		for (size_t i = 0; i < len; i++)
			(*ids)[(*n)++] = s[i];
		return (int64_t)len;
	}
	while (p < len) {
		size_t q = next_piece(s, len, p);
		if (q - p > MAX_PIECE) {
			work_free(&w);
			*n = n0;
			return qf_err_set(err, "tokenize: a piece of %zu bytes "
					  "without a break (limit %u)", q - p,
					  MAX_PIECE);
		}
		if (encode_piece(t, &w, s + p, q - p, ids, n, cap) < 0) {
			work_free(&w);
			*n = n0;
			return qf_err_set(err, "tokenize: out of memory");
		}
		p = q;
	}
	work_free(&w);
	return (int64_t)(*n - n0);
}

/* ------------------------------------------------------------ the API */

const char *qf_tok_name(const qf_tokenizer *t)
{
	return t->kind == TOK_BYTES ? "bytes" : "gpt2-bpe";
}

size_t qf_tok_vocab_size(const qf_tokenizer *t)
{
	return t->n;
}

const char *qf_tok_piece(const qf_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || (size_t)id >= t->n)
		return NULL;
	return piece(t, (size_t)id, len);
}

void qf_tok_free(qf_tokenizer *t)
{
	if (!t)
		return;
	free(t->arena);
	free(t->off);
	free(t->vslot);
	free(t->mslot);
	free(t->whole);
	free(t->formed);
	free(t);
}

qf_tokenizer *qf_tok_bytes(qf_err *err)
{
	qf_tokenizer *t = calloc(1, sizeof *t);

	if (!t || !(t->arena = malloc(512)) ||
	    !(t->off = malloc(257 * sizeof *t->off))) {
		qf_tok_free(t);
		qf_err_set(err, "bytes tokenizer: out of memory");
		return NULL;
	}
	t->kind = TOK_BYTES;
	t->n = 256;
	for (size_t i = 0; i < 256; i++) {
		t->arena[2 * i] = (char)i;
		t->arena[2 * i + 1] = 0;
		t->off[i] = 2 * i;
		t->byte_id[i] = (int32_t)i;
	}
	t->off[256] = 512;
	return t;
}

/* ------------------------------------------------------------ loading */

/* A vocabulary being read: token strings in the byte-level alphabet
 * (UTF-8, not NUL-terminated) with their ids, in file order. */
struct entry {
	const char *str;
	size_t len;
	uint64_t id;
};

struct loader {
	const char *path;	/* file named in messages */
	const char *vplace;	/* where the vocabulary is: "" or "KEY: " */
	qf_err *err;
	qf_tokenizer *t;
	struct entry *ent;
	size_t nent, capent;
};

/* A token string for a message: at most 40 bytes (whole characters),
 * control characters, quotes, backslashes and invalid UTF-8 escaped. */
#define SHOW_MAX 200
static const char *show(char *buf, const char *s, size_t n)
{
	size_t o = 0, i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		size_t l = utf8_dec((const unsigned char *)s + i, n - i, &cp);
		if (i >= 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' ||
		    cp == UINT32_MAX) {
			snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
			l = 1;
		} else {
			memcpy(buf + o, s + i, l);
			o += l;
		}
		i += l;
	}
	buf[o] = 0;
	return buf;
}

/* Token string (alphabet) to its bytes in out (room for n bytes): returns
 * their number, or -1 with the offending code point in *bad (UINT32_MAX
 * for invalid UTF-8). */
static ssize_t alphabet_decode(const char *s, size_t n, unsigned char *out,
			       uint32_t *bad)
{
	size_t i = 0, k = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = utf8_dec((const unsigned char *)s + i, n - i, &cp);
		int b = cp == UINT32_MAX ? -1 : cp_to_byte(cp);
		if (b < 0) {
			*bad = cp;
			return -1;
		}
		out[k++] = (unsigned char)b;
		i += l;
	}
	return (ssize_t)k;
}

static int oom(struct loader *l)
{
	return qf_err_set(l->err, "%s: out of memory", l->path);
}

static int add_entry(struct loader *l, const char *s, size_t n, uint64_t id)
{
	if (grow((void **)&l->ent, &l->capent, l->nent + 1, sizeof *l->ent) < 0)
		return oom(l);
	l->ent[l->nent++] = (struct entry){ s, n, id };
	return 0;
}

static size_t pow2_above(size_t n)
{
	size_t c = 16;

	while (c < 2 * n)
		c *= 2;
	return c;
}

/* Check the ids (unique, and dense: 0..n-1) and index the entries by id. */
static int check_ids(struct loader *l, struct entry **by_id)
{
	size_t n = l->nent;
	char a[SHOW_MAX], b[SHOW_MAX];

	for (size_t i = 0; i < n; i++) {
		struct entry *e = &l->ent[i], *o;
		if (e->id >= n)
			return qf_err_set(l->err, "%s: %stoken \"%s\": id %"
					  PRIu64 " out of range: the ids of %zu "
					  "tokens must be 0..%zu", l->path,
					  l->vplace, show(a, e->str, e->len),
					  e->id, n, n - 1);
		o = by_id[e->id];
		if (o)
			return qf_err_set(l->err, "%s: %sduplicate id %" PRIu64
					  ": tokens \"%s\" and \"%s\"", l->path,
					  l->vplace, e->id,
					  show(a, o->str, o->len),
					  show(b, e->str, e->len));
		by_id[e->id] = e;
	}
	return 0;
}

/* Token id (entry e) decoded into the arena at *total and entered in the
 * hash of pieces. */
static int add_piece(struct loader *l, size_t id, const struct entry *e,
		     size_t *total)
{
	qf_tokenizer *t = l->t;
	unsigned char *p = (unsigned char *)t->arena + *total;
	uint32_t bad;
	ssize_t k = alphabet_decode(e->str, e->len, p, &bad);
	char a[SHOW_MAX];
	size_t s;

	if (k < 0 && bad == UINT32_MAX)
		return qf_err_set(l->err, "%s: %stoken \"%s\": invalid UTF-8",
				  l->path, l->vplace, show(a, e->str, e->len));
	if (k < 0)
		return qf_err_set(l->err, "%s: %stoken \"%s\": character U+%04"
				  PRIX32 " is not in GPT-2's byte-level "
				  "alphabet", l->path, l->vplace,
				  show(a, e->str, e->len), bad);
	t->off[id] = *total;
	p[k] = 0;
	*total += (size_t)k + 1;
	t->off[id + 1] = *total;
	if (vocab_find(t, p, (size_t)k) >= 0)
		return qf_err_set(l->err, "%s: %sduplicate token \"%s\"",
				  l->path, l->vplace, show(a, e->str, e->len));
	s = hash_bytes(p, (size_t)k) & t->vmask;
	while (t->vslot[s] >= 0)
		s = (s + 1) & t->vmask;
	t->vslot[s] = (int32_t)id;
	return 0;
}

/* The token of every single byte: each must have one. */
static int byte_ids(struct loader *l)
{
	qf_tokenizer *t = l->t;

	for (unsigned b = 0; b < 256; b++) {
		unsigned char c = (unsigned char)b;

		t->byte_id[b] = vocab_find(t, &c, 1);
		if (t->byte_id[b] < 0)
			return qf_err_set(l->err, "%s: %sno token for byte 0x%02x "
					  "(U+%04" PRIX32 " in the byte-level "
					  "alphabet): every byte needs one",
					  l->path, l->vplace, b, byte_to_cp(b));
	}
	return 0;
}

/* The tokenizer from the entries: ids dense and unique, pieces decoded
 * and hashed, every byte present. */
static int build_vocab(struct loader *l)
{
	qf_tokenizer *t;
	size_t n = l->nent, total = 0;
	struct entry **by_id = NULL;
	int rc = -1;

	if (n == 0)
		return qf_err_set(l->err, "%s: %sempty vocabulary", l->path,
				  l->vplace);
	if (n > INT32_MAX)
		return qf_err_set(l->err, "%s: %smore than %d tokens", l->path,
				  l->vplace, INT32_MAX);
	t = l->t = calloc(1, sizeof *t);
	by_id = calloc(n, sizeof *by_id);
	if (!t || !by_id)
		goto oom;
	t->kind = TOK_BPE;
	t->n = n;
	if (check_ids(l, by_id) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		total += l->ent[i].len + 1;
	t->arena = malloc(total);
	t->off = malloc((n + 1) * sizeof *t->off);
	t->vmask = pow2_above(n) - 1;
	t->vslot = malloc((t->vmask + 1) * sizeof *t->vslot);
	if (!t->arena || !t->off || !t->vslot)
		goto oom;
	memset(t->vslot, 0xff, (t->vmask + 1) * sizeof *t->vslot);
	total = 0;
	for (size_t id = 0; id < n; id++)
		if (add_piece(l, id, by_id[id], &total) < 0)
			goto out;
	rc = byte_ids(l);
	goto out;
oom:
	oom(l);
out:
	free(by_id);
	return rc;
}

static int merges_init(struct loader *l, size_t count)
{
	qf_tokenizer *t = l->t;

	t->mmask = pow2_above(count) - 1;
	t->mslot = malloc((t->mmask + 1) * sizeof *t->mslot);
	if (!t->mslot)
		return oom(l);
	for (size_t i = 0; i <= t->mmask; i++)
		t->mslot[i].key = NO_KEY;
	return 0;
}

/* The token of symbol s (an alphabet string) into *id, its bytes into
 * buf; returns the number of bytes, or -1. */
static ssize_t symbol(const qf_tokenizer *t, const char *s, size_t n,
		      unsigned char *buf, int32_t *id)
{
	uint32_t bad;
	ssize_t k = alphabet_decode(s, n, buf, &bad);

	if (k < 0 || (*id = vocab_find(t, buf, (size_t)k)) < 0)
		return -1;
	return k;
}

/* A merge of rank `rank` at place (a line or an array index): the
 * symbols a and b (alphabet strings) must be tokens and so must a + b.
 * A pair listed twice takes its last rank, as GPT-2's
 * dict(zip(merges, range(...))) does. */
static int add_merge(struct loader *l, const char *place, const char *a,
		     size_t na, const char *b, size_t nb, uint32_t rank)
{
	qf_tokenizer *t = l->t;
	unsigned char *buf;
	ssize_t ka, kb;
	int32_t ia, ib, ir;
	uint64_t key;
	size_t i;
	char sa[SHOW_MAX], sb[SHOW_MAX];

	if (na == 0 || nb == 0)
		return qf_err_set(l->err, "%s: %s: empty symbol", l->path,
				  place);
	buf = malloc(na + nb);
	if (!buf)
		return oom(l);
	ka = symbol(t, a, na, buf, &ia);
	kb = ka < 0 ? -1 : symbol(t, b, nb, buf + ka, &ib);
	if (ka < 0 || kb < 0) {
		free(buf);
		if (ka < 0)
			show(sa, a, na);
		else
			show(sa, b, nb);
		return qf_err_set(l->err, "%s: %s: unknown symbol \"%s\" (not "
				  "a token)", l->path, place, sa);
	}
	ir = vocab_find(t, buf, (size_t)(ka + kb));
	free(buf);
	if (ir < 0)
		return qf_err_set(l->err, "%s: %s: the merge of \"%s\" and "
				  "\"%s\" is not a token", l->path, place,
				  show(sa, a, na), show(sb, b, nb));
	key = (uint64_t)ia << 32 | (uint32_t)ib;
	i = mix64(key) & t->mmask;
	while (t->mslot[i].key != NO_KEY && t->mslot[i].key != key)
		i = (i + 1) & t->mmask;
	t->mslot[i] = (struct merge_slot){ key, rank, ir };
	return 0;
}

/* Mark the tokens that BPE of their own bytes gives back whole. */
static int find_whole(struct loader *l)
{
	qf_tokenizer *t = l->t;
	struct work w = { 0 };
	int32_t *out = NULL;
	size_t ocap = 0;

	t->whole = calloc(t->n, 1);
	if (!t->whole)
		goto oom;
	for (size_t id = 0; id < t->n; id++) {
		size_t len;
		const char *p = piece(t, id, &len);
		ssize_t k;
		if (len < 2) {
			t->whole[id] = len == 1;
			continue;
		}
		if (len > MAX_PIECE || work_reserve(&w, len) < 0 ||
		    grow((void **)&out, &ocap, len, sizeof *out) < 0)
			goto oom;
		k = bpe(t, &w, (const unsigned char *)p, len, out);
		if (k < 0)
			goto oom;
		t->whole[id] = k == 1 && out[0] == (int32_t)id;
	}
	work_free(&w);
	free(out);
	return 0;
oom:
	work_free(&w);
	free(out);
	return oom(l);
}

/* What cut_safe needs: the rank at which each token can first be made,
 * whether the merge list is monotone, the longest token. */
static int merge_order(struct loader *l)
{
	qf_tokenizer *t = l->t;
	int64_t *last = malloc(t->n * sizeof *last);

	t->formed = malloc(t->n * sizeof *t->formed);
	if (!last || !t->formed) {
		free(last);
		return oom(l);
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t len;
		piece(t, i, &len);
		t->formed[i] = len == 1 ? -1 : INT64_MAX;
		last[i] = -1;
		t->maxlen = len > t->maxlen ? len : t->maxlen;
	}
	for (size_t i = 0; i <= t->mmask; i++) {
		const struct merge_slot *ms = &t->mslot[i];
		int64_t r = (int64_t)ms->rank;
		if (ms->key == NO_KEY)
			continue;
		if (r < t->formed[ms->result])
			t->formed[ms->result] = r;
		if (r > last[ms->result])
			last[ms->result] = r;
	}
	t->monotone = 1;
	for (size_t i = 0; i <= t->mmask; i++) {
		const struct merge_slot *ms = &t->mslot[i];
		if (ms->key != NO_KEY &&
		    ((int64_t)ms->rank <= last[ms->key >> 32] ||
		     (int64_t)ms->rank <= last[(uint32_t)ms->key]))
			t->monotone = 0;
	}
	free(last);
	return 0;
}

/* The end of loading: the whole tokens marked, the tokenizer handed
 * over (NULL on error; the loader still holds it). */
static qf_tokenizer *loader_take(struct loader *l)
{
	qf_tokenizer *t;

	if (find_whole(l) < 0 || merge_order(l) < 0)
		return NULL;
	t = l->t;
	l->t = NULL;
	return t;
}

static void loader_free(struct loader *l)
{
	free(l->ent);
	qf_tok_free(l->t);
	l->t = NULL;
}

/* A tokenizer file, whole.  A directory is refused first: reading one
 * fails with EISDIR, which "read error" alone would not say. */
static int read_file(const char *path, char **text, size_t *len,
		     qf_err *err)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return qf_err_set(err, "%s: %s", path, strerror(EISDIR));
	return qf_read_text_file(path, MAX_FILE, text, len, err);
}

static qf_json *read_json(const char *path, char **text, qf_err *err)
{
	size_t len;
	qf_json *j;

	if (read_file(path, text, &len, err) < 0)
		return NULL;
	j = qf_json_parse(*text, len, path, err);
	if (!j) {
		free(*text);
		*text = NULL;
	}
	return j;
}

/* The entries of a JSON object {"token": id, ...}. */
static int read_vocab_object(struct loader *l, const qf_json *o)
{
	char a[SHOW_MAX];

	if (!o || o->type != QF_JSON_OBJECT)
		return qf_err_set(l->err, "%s: %snot a JSON object of "
				  "\"token\": id", l->path, l->vplace);
	for (size_t i = 0; i < o->n; i++) {
		uint64_t id;
		size_t len = strlen(o->keys[i]);
		if (qf_json_u64(o->items[i], &id) < 0)
			return qf_err_set(l->err, "%s: %stoken \"%s\": the id "
					  "is not a non-negative integer",
					  l->path, l->vplace,
					  show(a, o->keys[i], len));
		if (add_entry(l, o->keys[i], len, id) < 0)
			return -1;
	}
	return 0;
}

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* The blank-separated fields of the line s[0..n): the first two from
 * f[i] to fe[i]; returns their number, 3 for more than two. */
static size_t split_fields(const char *s, size_t n, const char **f,
			   const char **fe)
{
	size_t nf = 0, k = 0;

	while (k < n) {
		while (k < n && is_blank(s[k]))
			k++;
		if (k == n)
			break;
		if (nf == 2)
			return 3;
		f[nf] = s + k;
		while (k < n && !is_blank(s[k]))
			k++;
		fe[nf++] = s + k;
	}
	return nf;
}

/* vocab.bpe: an optional "#version..." first line, then a merge per
 * line, "a b" (fields separated by blanks), highest priority first.
 * Empty lines are skipped. */
static int read_merges_file(struct loader *l, const char *text, size_t len)
{
	size_t p = 0, lines = 0, lineno = 0;
	uint32_t rank = 0;
	char place[48];

	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (merges_init(l, lines + 1) < 0)
		return -1;
	while (p < len) {
		const char *s = text + p, *e = memchr(s, '\n', len - p);
		const char *f[2] = { 0 }, *fe[2] = { 0 };
		size_t n = e ? (size_t)(e - s) : len - p, nf;

		p += n + (e != NULL);
		lineno++;
		snprintf(place, sizeof place, "line %zu", lineno);
		if (!qf_utf8_valid(s, n))
			return qf_err_set(l->err, "%s: %s: invalid UTF-8",
					  l->path, place);
		if (lineno == 1 && n >= 8 && memcmp(s, "#version", 8) == 0)
			continue;
		nf = split_fields(s, n, f, fe);
		if (nf == 0)
			continue;
		if (nf != 2)
			return qf_err_set(l->err, "%s: %s: expected %s two "
					  "symbols separated by a space",
					  l->path, place, lineno == 1 ?
					  "\"#version: ...\" or a merge:" :
					  "a merge:");
		if (add_merge(l, place, f[0], (size_t)(fe[0] - f[0]), f[1],
			      (size_t)(fe[1] - f[1]), rank++) < 0)
			return -1;
	}
	return 0;
}

qf_tokenizer *qf_tok_gpt2_open(const char *encoder_json,
			       const char *vocab_bpe, qf_err *err)
{
	struct loader l = { encoder_json, "", err, NULL, NULL, 0, 0 };
	char *jtext = NULL, *mtext = NULL;
	size_t mlen;
	qf_json *j;
	qf_tokenizer *t = NULL;

	j = read_json(encoder_json, &jtext, err);
	if (!j)
		return NULL;
	if (read_vocab_object(&l, j) < 0 || build_vocab(&l) < 0)
		goto out;
	l.path = vocab_bpe;
	if (read_file(vocab_bpe, &mtext, &mlen, err) == 0 &&
	    read_merges_file(&l, mtext, mlen) == 0)
		t = loader_take(&l);
out:
	loader_free(&l);
	qf_json_free(j);
	free(jtext);
	free(mtext);
	return t;
}

/* ------------------------------------------------------------ tokenizer.json */

static int json_is(const qf_json *j, int type)
{
	return j && j->type == type;
}

static int json_str_is(const qf_json *j, const char *s)
{
	return json_is(j, QF_JSON_STRING) && j->len == strlen(s) &&
	       memcmp(j->str, s, j->len) == 0;
}

/* A field that must be absent, null, false, 0 or "". */
static int hf_unset(const qf_json *j)
{
	return !j || j->type == QF_JSON_NULL || j->type == QF_JSON_FALSE ||
	       (j->type == QF_JSON_NUMBER && j->num == 0) ||
	       (j->type == QF_JSON_STRING && j->len == 0);
}

static const char *hf_type(const qf_json *j, char *buf)
{
	const qf_json *ty = qf_json_get(j, "type");

	if (!j || j->type == QF_JSON_NULL)
		return "none";
	if (!json_is(ty, QF_JSON_STRING))
		return "of no type";
	return show(buf, ty->str, ty->len);
}

static int hf_check(struct loader *l, const qf_json *root)
{
	const qf_json *model = qf_json_get(root, "model"), *pre, *norm, *ty;
	static const char *const unset[] = {
		"dropout", "continuing_subword_prefix", "end_of_word_suffix",
		"byte_fallback",
	};
	char buf[SHOW_MAX];

	if (!json_is(root, QF_JSON_OBJECT))
		return qf_err_set(l->err, "%s: not a JSON object", l->path);
	if (!json_is(model, QF_JSON_OBJECT))
		return qf_err_set(l->err, "%s: no \"model\" object: not a "
				  "Hugging Face tokenizer.json", l->path);
	ty = qf_json_get(model, "type");
	if (ty && !json_str_is(ty, "BPE"))
		return qf_err_set(l->err, "%s: model type %s is not supported "
				  "(only GPT-2's byte-level BPE)", l->path,
				  hf_type(model, buf));
	for (size_t i = 0; i < sizeof unset / sizeof *unset; i++)
		if (!hf_unset(qf_json_get(model, unset[i])))
			return qf_err_set(l->err, "%s: model.%s is set: not "
					  "supported (only GPT-2's byte-level "
					  "BPE)", l->path, unset[i]);
	norm = qf_json_get(root, "normalizer");
	if (norm && norm->type != QF_JSON_NULL)
		return qf_err_set(l->err, "%s: normalizer %s is not supported "
				  "(only GPT-2's byte-level BPE, which has "
				  "none)", l->path,
				  hf_type(norm, buf));
	pre = qf_json_get(root, "pre_tokenizer");
	if (!json_is(pre, QF_JSON_OBJECT) ||
	    !json_str_is(qf_json_get(pre, "type"), "ByteLevel"))
		return qf_err_set(l->err, "%s: pre_tokenizer %s is not "
				  "supported (only ByteLevel, GPT-2's)", l->path,
				  hf_type(pre, buf));
	if (!json_is(qf_json_get(pre, "add_prefix_space"), QF_JSON_FALSE))
		return qf_err_set(l->err, "%s: pre_tokenizer ByteLevel without "
				  "\"add_prefix_space\": false is not "
				  "supported (GPT-2 adds no space)", l->path);
	ty = qf_json_get(pre, "use_regex");
	if (ty && ty->type != QF_JSON_TRUE)
		return qf_err_set(l->err, "%s: pre_tokenizer ByteLevel with "
				  "\"use_regex\": false is not supported (GPT-2 "
				  "splits with its regex)", l->path);
	return 0;
}

/* model.merges: "a b" strings (one space) or ["a", "b"] pairs. */
static int hf_merges(struct loader *l, const qf_json *m)
{
	char place[64], sa[SHOW_MAX];

	if (!json_is(m, QF_JSON_ARRAY))
		return qf_err_set(l->err, "%s: model.merges: %s", l->path,
				  m ? "not an array" : "missing");
	if (m->n > UINT32_MAX)
		return qf_err_set(l->err, "%s: model.merges: too many",
				  l->path);
	if (merges_init(l, m->n) < 0)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		const qf_json *e = m->items[i];
		const char *a, *b;
		size_t na, nb;

		snprintf(place, sizeof place, "model.merges[%zu]", i);
		if (json_is(e, QF_JSON_STRING)) {
			const char *sp = memchr(e->str, ' ', e->len);
			size_t rest = sp ? e->len - (size_t)(sp + 1 - e->str) : 0;
			if (!sp || memchr(sp + 1, ' ', rest))
				return qf_err_set(l->err, "%s: %s: \"%s\" is "
						  "not two symbols separated by "
						  "one space", l->path, place,
						  show(sa, e->str, e->len));
			a = e->str;
			na = (size_t)(sp - a);
			b = sp + 1;
			nb = e->len - na - 1;
		} else if (json_is(e, QF_JSON_ARRAY) && e->n == 2 &&
			   json_is(e->items[0], QF_JSON_STRING) &&
			   json_is(e->items[1], QF_JSON_STRING)) {
			a = e->items[0]->str;
			na = e->items[0]->len;
			b = e->items[1]->str;
			nb = e->items[1]->len;
		} else {
			return qf_err_set(l->err, "%s: %s: neither a string "
					  "\"a b\" nor a pair [\"a\", \"b\"]",
					  l->path, place);
		}
		if (add_merge(l, place, a, na, b, nb, (uint32_t)i) < 0)
			return -1;
	}
	return 0;
}

qf_tokenizer *qf_tok_hf_open(const char *tokenizer_json, qf_err *err)
{
	struct loader l = { tokenizer_json, "model.vocab: ", err, NULL, NULL,
			    0, 0 };
	char *text = NULL;
	qf_json *j;
	const qf_json *model;
	qf_tokenizer *t = NULL;

	j = read_json(tokenizer_json, &text, err);
	if (!j)
		return NULL;
	if (hf_check(&l, j) < 0)
		goto out;
	model = qf_json_get(j, "model");
	if (read_vocab_object(&l, qf_json_get(model, "vocab")) == 0 &&
	    build_vocab(&l) == 0 &&
	    hf_merges(&l, qf_json_get(model, "merges")) == 0)
		t = loader_take(&l);
out:
	loader_free(&l);
	qf_json_free(j);
	free(text);
	return t;
}
