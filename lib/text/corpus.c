/*
 * corpus.c - corpora as documents (formats/corpus.md).
 *
 * An input is a plain file, a directory (walked in sorted order) or an
 * archive (tar, optionally gzip/bzip2/xz/zstd compressed, or zip; read
 * with libarchive, never written to disk).  Each file or member chosen is
 * one document: plain UTF-8 text whose paragraphs are separated by blank
 * lines, a TSV of paragraphs with their parallel units, or HTML whose
 * markup is stripped here.  The reader holds one member at a time and
 * hands out documents or paragraphs.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "text/text.h"

#define MAX_MEMBER (256u << 20)	/* bytes of one file or member */
#define MAX_DEPTH 64		/* directory levels walked */
#define PEEK 512		/* bytes read to recognise an archive */
#define RAW_KEEP (1u << 20)	/* bytes of read buffer kept for the next */
#define DEFAULT_GLOB "*.txt, *.tsv, *.html, *.htm"

/* ------------------------------------------------------------ buffers */

struct buf {
	char *p;
	size_t n, cap;
};

static int buf_grow(struct buf *b, size_t add)
{
	size_t cap;
	char *p;

	if (b->cap - b->n > add)
		return 0;
	if (add > SIZE_MAX / 2 - b->n)
		return -1;
	cap = b->cap ? b->cap : 256;
	while (cap - b->n <= add)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_put(struct buf *b, const void *s, size_t n)
{
	if (buf_grow(b, n) < 0)
		return -1;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

static int buf_putc(struct buf *b, char c)
{
	return buf_put(b, &c, 1);
}

static int buf_put_cp(struct buf *b, uint32_t cp)
{
	unsigned char u[4];

	return buf_put(b, u, qf_utf8_put(cp, u));
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

/* The 25 code points of the Unicode White_Space property (PropList.txt):
 * U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000. */
static int is_white(int32_t c)
{
	if (c <= 0x20)
		return c == 0x20 || (c >= 0x09 && c <= 0x0d);
	if (c < 0x85)
		return 0;
	switch (c) {
	case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202f: case 0x205f: case 0x3000:
		return 1;
	}
	return c >= 0x2000 && c <= 0x200a;
}

/* Nothing but White_Space (an ill-formed byte counts as text). */
static int all_white(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		int32_t cp;
		i += qf_utf8_next(s + i, n - i, &cp);
		if (cp < 0 || !is_white(cp))
			return 0;
	}
	return 1;
}

void qf_text_count(const char *str, size_t len, uint64_t *chars,
		   uint64_t *words)
{
	const unsigned char *s = (const unsigned char *)str;
	uint64_t nc = 0, nw = 0;
	size_t i = 0;
	int in = 0;

	while (i < len) {
		int32_t cp;
		i += qf_utf8_next(s + i, len - i, &cp);
		nc++;
		if (cp >= 0 && is_white(cp)) {
			in = 0;
		} else if (!in) {
			in = 1;
			nw++;
		}
	}
	if (chars)
		*chars = nc;
	if (words)
		*words = nw;
}

/* ------------------------------------------------------------ plain text */

/* Paragraphs of plain text into out, separated by "\n\n": a paragraph is
 * a run of lines that are not blank (blank: only White_Space), joined by
 * "\n"; a CR before LF is dropped. */
static int plain_paras(const char *s, size_t n, struct buf *out)
{
	size_t a = 0;
	int in = 0;

	while (a < n) {
		const char *nl = memchr(s + a, '\n', n - a);
		size_t b = nl ? (size_t)(nl - s) : n, e = b;

		if (e > a && s[e - 1] == '\r')
			e--;
		if (all_white(s + a, e - a)) {
			in = 0;
		} else {
			if (in ? buf_putc(out, '\n') < 0 :
			    out->n && buf_put(out, "\n\n", 2) < 0)
				return -1;
			if (buf_put(out, s + a, e - a) < 0)
				return -1;
			in = 1;
		}
		a = b + 1;
	}
	return 0;
}

/* ------------------------------------------------------------ HTML */

/* HTML 4.01's 252 character entities and &apos;, sorted by name (C
 * locale).  HTML5's longer list is not supported (formats/corpus.md). */
static const struct entity {
	const char *name;
	uint32_t cp;
} entities[] = {
	{ "AElig", 0xc6 }, { "Aacute", 0xc1 }, { "Acirc", 0xc2 },
	{ "Agrave", 0xc0 }, { "Alpha", 0x391 }, { "Aring", 0xc5 },
	{ "Atilde", 0xc3 }, { "Auml", 0xc4 }, { "Beta", 0x392 },
	{ "Ccedil", 0xc7 }, { "Chi", 0x3a7 }, { "Dagger", 0x2021 },
	{ "Delta", 0x394 }, { "ETH", 0xd0 }, { "Eacute", 0xc9 },
	{ "Ecirc", 0xca }, { "Egrave", 0xc8 }, { "Epsilon", 0x395 },
	{ "Eta", 0x397 }, { "Euml", 0xcb }, { "Gamma", 0x393 },
	{ "Iacute", 0xcd }, { "Icirc", 0xce }, { "Igrave", 0xcc },
	{ "Iota", 0x399 }, { "Iuml", 0xcf }, { "Kappa", 0x39a },
	{ "Lambda", 0x39b }, { "Mu", 0x39c }, { "Ntilde", 0xd1 },
	{ "Nu", 0x39d }, { "OElig", 0x152 }, { "Oacute", 0xd3 },
	{ "Ocirc", 0xd4 }, { "Ograve", 0xd2 }, { "Omega", 0x3a9 },
	{ "Omicron", 0x39f }, { "Oslash", 0xd8 }, { "Otilde", 0xd5 },
	{ "Ouml", 0xd6 }, { "Phi", 0x3a6 }, { "Pi", 0x3a0 },
	{ "Prime", 0x2033 }, { "Psi", 0x3a8 }, { "Rho", 0x3a1 },
	{ "Scaron", 0x160 }, { "Sigma", 0x3a3 }, { "THORN", 0xde },
	{ "Tau", 0x3a4 }, { "Theta", 0x398 }, { "Uacute", 0xda },
	{ "Ucirc", 0xdb }, { "Ugrave", 0xd9 }, { "Upsilon", 0x3a5 },
	{ "Uuml", 0xdc }, { "Xi", 0x39e }, { "Yacute", 0xdd },
	{ "Yuml", 0x178 }, { "Zeta", 0x396 }, { "aacute", 0xe1 },
	{ "acirc", 0xe2 }, { "acute", 0xb4 }, { "aelig", 0xe6 },
	{ "agrave", 0xe0 }, { "alefsym", 0x2135 }, { "alpha", 0x3b1 },
	{ "amp", 0x26 }, { "and", 0x2227 }, { "ang", 0x2220 },
	{ "apos", 0x27 }, { "aring", 0xe5 }, { "asymp", 0x2248 },
	{ "atilde", 0xe3 }, { "auml", 0xe4 }, { "bdquo", 0x201e },
	{ "beta", 0x3b2 }, { "brvbar", 0xa6 }, { "bull", 0x2022 },
	{ "cap", 0x2229 }, { "ccedil", 0xe7 }, { "cedil", 0xb8 },
	{ "cent", 0xa2 }, { "chi", 0x3c7 }, { "circ", 0x2c6 },
	{ "clubs", 0x2663 }, { "cong", 0x2245 }, { "copy", 0xa9 },
	{ "crarr", 0x21b5 }, { "cup", 0x222a }, { "curren", 0xa4 },
	{ "dArr", 0x21d3 }, { "dagger", 0x2020 }, { "darr", 0x2193 },
	{ "deg", 0xb0 }, { "delta", 0x3b4 }, { "diams", 0x2666 },
	{ "divide", 0xf7 }, { "eacute", 0xe9 }, { "ecirc", 0xea },
	{ "egrave", 0xe8 }, { "empty", 0x2205 }, { "emsp", 0x2003 },
	{ "ensp", 0x2002 }, { "epsilon", 0x3b5 }, { "equiv", 0x2261 },
	{ "eta", 0x3b7 }, { "eth", 0xf0 }, { "euml", 0xeb },
	{ "euro", 0x20ac }, { "exist", 0x2203 }, { "fnof", 0x192 },
	{ "forall", 0x2200 }, { "frac12", 0xbd }, { "frac14", 0xbc },
	{ "frac34", 0xbe }, { "frasl", 0x2044 }, { "gamma", 0x3b3 },
	{ "ge", 0x2265 }, { "gt", 0x3e }, { "hArr", 0x21d4 },
	{ "harr", 0x2194 }, { "hearts", 0x2665 }, { "hellip", 0x2026 },
	{ "iacute", 0xed }, { "icirc", 0xee }, { "iexcl", 0xa1 },
	{ "igrave", 0xec }, { "image", 0x2111 }, { "infin", 0x221e },
	{ "int", 0x222b }, { "iota", 0x3b9 }, { "iquest", 0xbf },
	{ "isin", 0x2208 }, { "iuml", 0xef }, { "kappa", 0x3ba },
	{ "lArr", 0x21d0 }, { "lambda", 0x3bb }, { "lang", 0x2329 },
	{ "laquo", 0xab }, { "larr", 0x2190 }, { "lceil", 0x2308 },
	{ "ldquo", 0x201c }, { "le", 0x2264 }, { "lfloor", 0x230a },
	{ "lowast", 0x2217 }, { "loz", 0x25ca }, { "lrm", 0x200e },
	{ "lsaquo", 0x2039 }, { "lsquo", 0x2018 }, { "lt", 0x3c },
	{ "macr", 0xaf }, { "mdash", 0x2014 }, { "micro", 0xb5 },
	{ "middot", 0xb7 }, { "minus", 0x2212 }, { "mu", 0x3bc },
	{ "nabla", 0x2207 }, { "nbsp", 0xa0 }, { "ndash", 0x2013 },
	{ "ne", 0x2260 }, { "ni", 0x220b }, { "not", 0xac },
	{ "notin", 0x2209 }, { "nsub", 0x2284 }, { "ntilde", 0xf1 },
	{ "nu", 0x3bd }, { "oacute", 0xf3 }, { "ocirc", 0xf4 },
	{ "oelig", 0x153 }, { "ograve", 0xf2 }, { "oline", 0x203e },
	{ "omega", 0x3c9 }, { "omicron", 0x3bf }, { "oplus", 0x2295 },
	{ "or", 0x2228 }, { "ordf", 0xaa }, { "ordm", 0xba },
	{ "oslash", 0xf8 }, { "otilde", 0xf5 }, { "otimes", 0x2297 },
	{ "ouml", 0xf6 }, { "para", 0xb6 }, { "part", 0x2202 },
	{ "permil", 0x2030 }, { "perp", 0x22a5 }, { "phi", 0x3c6 },
	{ "pi", 0x3c0 }, { "piv", 0x3d6 }, { "plusmn", 0xb1 },
	{ "pound", 0xa3 }, { "prime", 0x2032 }, { "prod", 0x220f },
	{ "prop", 0x221d }, { "psi", 0x3c8 }, { "quot", 0x22 },
	{ "rArr", 0x21d2 }, { "radic", 0x221a }, { "rang", 0x232a },
	{ "raquo", 0xbb }, { "rarr", 0x2192 }, { "rceil", 0x2309 },
	{ "rdquo", 0x201d }, { "real", 0x211c }, { "reg", 0xae },
	{ "rfloor", 0x230b }, { "rho", 0x3c1 }, { "rlm", 0x200f },
	{ "rsaquo", 0x203a }, { "rsquo", 0x2019 }, { "sbquo", 0x201a },
	{ "scaron", 0x161 }, { "sdot", 0x22c5 }, { "sect", 0xa7 },
	{ "shy", 0xad }, { "sigma", 0x3c3 }, { "sigmaf", 0x3c2 },
	{ "sim", 0x223c }, { "spades", 0x2660 }, { "sub", 0x2282 },
	{ "sube", 0x2286 }, { "sum", 0x2211 }, { "sup", 0x2283 },
	{ "sup1", 0xb9 }, { "sup2", 0xb2 }, { "sup3", 0xb3 },
	{ "supe", 0x2287 }, { "szlig", 0xdf }, { "tau", 0x3c4 },
	{ "there4", 0x2234 }, { "theta", 0x3b8 }, { "thetasym", 0x3d1 },
	{ "thinsp", 0x2009 }, { "thorn", 0xfe }, { "tilde", 0x2dc },
	{ "times", 0xd7 }, { "trade", 0x2122 }, { "uArr", 0x21d1 },
	{ "uacute", 0xfa }, { "uarr", 0x2191 }, { "ucirc", 0xfb },
	{ "ugrave", 0xf9 }, { "uml", 0xa8 }, { "upsih", 0x3d2 },
	{ "upsilon", 0x3c5 }, { "uuml", 0xfc }, { "weierp", 0x2118 },
	{ "xi", 0x3be }, { "yacute", 0xfd }, { "yen", 0xa5 },
	{ "yuml", 0xff }, { "zeta", 0x3b6 }, { "zwj", 0x200d },
	{ "zwnj", 0x200c },
};

static int entity_cmp(const void *key, const void *ent)
{
	return strcmp(key, ((const struct entity *)ent)->name);
}

/* Elements whose start or end tag ends a paragraph. */
static const char *const block_tags[] = {
	"address", "article", "aside", "blockquote", "body", "br", "caption",
	"dd", "details", "dialog", "div", "dl", "dt", "fieldset",
	"figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
	"h5", "h6", "head", "header", "hgroup", "hr", "html", "legend", "li",
	"main", "menu", "nav", "ol", "p", "pre", "section", "summary",
	"table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
};

/* Elements whose content is dropped: raw text up to their end tag. */
static const char *const skip_tags[] = { "script", "style", "title" };

static int in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TAG_MAX 16	/* longer tag names match nothing here */

struct html {
	const unsigned char *s;
	size_t n;
	struct buf *out;	/* paragraphs, separated by "\n\n" */
	struct buf para;	/* the paragraph being built */
	int space;		/* whitespace seen since the last text */
	int seen_html;		/* the <html> start tag has been read */
	char *iso;		/* its data-iso6393 attribute */
	char *lang;		/* its lang attribute */
};

static int html_ws(unsigned c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_alpha(unsigned c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int is_alnum(unsigned c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* Text into the paragraph, HTML whitespace collapsed to one space and
 * none at its start. */
static int html_text(struct html *h, const void *text, size_t n)
{
	const unsigned char *s = text;
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		if (html_ws(s[i])) {
			h->space = 1;
			i++;
			continue;
		}
		while (j < n && !html_ws(s[j]))
			j++;
		if (h->space && h->para.n && buf_putc(&h->para, ' ') < 0)
			return -1;
		h->space = 0;
		if (buf_put(&h->para, s + i, j - i) < 0)
			return -1;
		i = j;
	}
	return 0;
}

static int html_cp(struct html *h, uint32_t cp)
{
	unsigned char u[4];

	return html_text(h, u, qf_utf8_put(cp, u));
}

/* End the paragraph: keep it unless it is empty or all White_Space. */
static int html_break(struct html *h)
{
	int rc = 0;

	if (h->para.n && !all_white(h->para.p, h->para.n)) {
		if (h->out->n)
			rc = buf_put(h->out, "\n\n", 2);
		if (rc == 0)
			rc = buf_put(h->out, h->para.p, h->para.n);
	}
	h->para.n = 0;
	h->space = 0;
	return rc;
}

/* A numeric character reference's code point, as HTML5 maps it. */
static uint32_t charref_cp(uint32_t v)
{
	static const uint16_t cp1252[32] = {
		0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021,
		0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
		0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
		0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
	};

	if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0xfffd;
	if (v >= 0x80 && v <= 0x9f)
		return cp1252[v - 0x80];
	return v;
}

/* Decode the character reference at s[i] == '&' into out (a paragraph
 * via html_text, or an attribute value).  Returns the index after it;
 * what is not a reference stays as it is. */
static size_t charref(const unsigned char *s, size_t n, size_t i,
		      uint32_t *cp, int *ok)
{
	size_t j = i + 1;

	*ok = 0;
	if (j < n && s[j] == '#') {
		int hex = j + 1 < n && (s[j + 1] | 0x20) == 'x';
		uint32_t v = 0;
		size_t d0;

		j += 1 + hex;
		d0 = j;
		for (; j < n; j++) {
			unsigned c = s[j], dv;
			if (c >= '0' && c <= '9')
				dv = c - '0';
			else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				dv = (c | 0x20) - 'a' + 10;
			else
				break;
			v = v > 0x10ffff ? v : v * (hex ? 16 : 10) + dv;
		}
		if (j == d0)
			return i + 1;
		if (j < n && s[j] == ';')
			j++;
		*cp = charref_cp(v);
		*ok = 1;
		return j;
	} else {
		char name[16];
		const struct entity *e;
		size_t k = 0;

		while (j < n && is_alnum(s[j]) && k < sizeof name - 1)
			name[k++] = (char)s[j++];
		name[k] = 0;
		if (k == 0 || j >= n || s[j] != ';')
			return i + 1;
		e = bsearch(name, entities, NITEMS(entities), sizeof *e,
			    entity_cmp);
		if (!e)
			return i + 1;
		*cp = e->cp;
		*ok = 1;
		return j + 1;
	}
}

/* An attribute value with character references decoded (malloc'd). */
static char *attr_value(const unsigned char *s, size_t n)
{
	struct buf b = { 0 };
	size_t i = 0;

	if (buf_grow(&b, n) < 0)
		return NULL;
	b.p[0] = 0;
	while (i < n) {
		uint32_t cp;
		int ok;
		if (s[i] == '&') {
			size_t j = charref(s, n, i, &cp, &ok);
			if (ok ? buf_put_cp(&b, cp) : buf_putc(&b, '&')) {
				buf_free(&b);
				return NULL;
			}
			i = j;
		} else if (buf_putc(&b, (char)s[i++]) < 0) {
			buf_free(&b);
			return NULL;
		}
	}
	return b.p;
}

/* Index of the first case-insensitive occurrence of "</name" followed by
 * whitespace, '/' or '>' at or after i; n if none. */
static size_t find_end_tag(const unsigned char *s, size_t n, size_t i,
			   const char *name)
{
	size_t k = strlen(name);

	for (; i + 2 + k <= n; i++) {
		if (s[i] != '<' || s[i + 1] != '/')
			continue;
		size_t m = 0;
		while (m < k && (s[i + 2 + m] | 0x20) == (unsigned char)name[m])
			m++;
		if (m == k && (i + 2 + k == n || html_ws(s[i + 2 + k]) ||
			       s[i + 2 + k] == '/' || s[i + 2 + k] == '>'))
			return i;
	}
	return n;
}

/* The name of the tag at s[j] in lower case into name (TAG_MAX + 1
 * bytes; a longer name becomes "?", which matches no element); returns
 * the index after it. */
static size_t tag_name(const unsigned char *s, size_t n, size_t j,
		       char *name)
{
	size_t k = 0;

	while (j < n && !html_ws(s[j]) && s[j] != '/' && s[j] != '>') {
		if (k <= TAG_MAX)
			name[k++] = (char)(s[j] >= 'A' && s[j] <= 'Z' ?
					   s[j] | 0x20 : s[j]);
		j++;
	}
	if (k > TAG_MAX)
		k = 0, name[0] = '?';	/* matches no element */
	name[k] = 0;
	return j;
}

/* The attribute at s[j] of a tag (is_html: the first <html> start tag,
 * whose lang and data-iso6393 values are kept in h).  Returns the index
 * after it, n when the input ends in a quoted value (the tag is then
 * dropped), or -1 (out of memory). */
static int64_t html_attr(struct html *h, size_t j, int is_html)
{
	const unsigned char *s = h->s;
	size_t n = h->n, a0, a1, v0 = 0, v1 = 0;
	char **dst = NULL;

	a0 = j++;
	while (j < n && !html_ws(s[j]) && s[j] != '/' && s[j] != '>' &&
	       s[j] != '=')
		j++;
	a1 = j;
	while (j < n && html_ws(s[j]))
		j++;
	if (j >= n || s[j] != '=')
		return (int64_t)j;
	j++;
	while (j < n && html_ws(s[j]))
		j++;
	if (j < n && (s[j] == '"' || s[j] == '\'')) {
		const unsigned char *q = memchr(s + j + 1, s[j], n - j - 1);
		if (!q)
			return (int64_t)n;
		v0 = j + 1;
		v1 = (size_t)(q - s);
		j = v1 + 1;
	} else {
		v0 = j;
		while (j < n && !html_ws(s[j]) && s[j] != '>')
			j++;
		v1 = j;
	}
	if (!is_html)
		return (int64_t)j;
	if (a1 - a0 == 4 && strncasecmp((const char *)s + a0, "lang", 4) == 0)
		dst = &h->lang;
	else if (a1 - a0 == 12 &&
		 strncasecmp((const char *)s + a0, "data-iso6393", 12) == 0)
		dst = &h->iso;
	if (dst && !*dst && !(*dst = attr_value(s + v0, v1 - v0)))
		return -1;
	return (int64_t)j;
}

/* A start or end tag at s[i] == '<'; returns the index after it, or -1
 * (out of memory). */
static int64_t html_tag(struct html *h, size_t i, int end)
{
	const unsigned char *s = h->s;
	size_t n = h->n, j;
	char name[TAG_MAX + 1];
	int is_html;

	j = tag_name(s, n, i + 1 + end, name);
	is_html = !end && !h->seen_html && strcmp(name, "html") == 0;
	for (;;) {
		int64_t r;

		while (j < n && (html_ws(s[j]) || s[j] == '/'))
			j++;
		if (j >= n)
			return (int64_t)n;	/* EOF in a tag: dropped */
		if (s[j] == '>') {
			j++;
			break;
		}
		if ((r = html_attr(h, j, is_html)) < 0)
			return -1;
		j = (size_t)r;
	}
	if (is_html)
		h->seen_html = 1;
	if (in_list(name, block_tags, NITEMS(block_tags)) && html_break(h) < 0)
		return -1;
	if (!end && in_list(name, skip_tags, NITEMS(skip_tags)))
		j = find_end_tag(s, n, j, name);
	return (int64_t)j;
}

/* Index after the first occurrence of the string t at or after i, or n. */
static size_t skip_past(const unsigned char *s, size_t n, size_t i,
			const char *t)
{
	size_t k = strlen(t);

	for (; i + k <= n; i++)
		if (memcmp(s + i, t, k) == 0)
			return i + k;
	return n;
}

/* Markup-free paragraphs of an HTML document into out (see
 * formats/corpus.md for what is kept and dropped). */
static int html_strip(struct html *h)
{
	const unsigned char *s = h->s;
	size_t n = h->n, i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t j;

		if (c == '&') {
			uint32_t cp;
			int ok;
			j = charref(s, n, i, &cp, &ok);
			if (ok ? html_cp(h, cp) : html_text(h, "&", 1))
				return -1;
			i = j;
		} else if (c != '<') {
			j = i + 1;
			while (j < n && s[j] != '<' && s[j] != '&')
				j++;
			if (html_text(h, s + i, j - i) < 0)
				return -1;
			i = j;
		} else if (i + 1 < n && is_alpha(s[i + 1])) {
			int64_t r = html_tag(h, i, 0);
			if (r < 0)
				return -1;
			i = (size_t)r;
		} else if (i + 2 < n && s[i + 1] == '/' && is_alpha(s[i + 2])) {
			int64_t r = html_tag(h, i, 1);
			if (r < 0)
				return -1;
			i = (size_t)r;
		} else if (i + 3 < n && memcmp(s + i, "<!--", 4) == 0) {
			/* "<!-->" and "<!--->" are whole comments */
			if (i + 4 < n && s[i + 4] == '>')
				i += 5;
			else if (i + 5 < n && s[i + 4] == '-' && s[i + 5] == '>')
				i += 6;
			else
				i = skip_past(s, n, i + 4, "-->");
		} else if (i + 8 < n && memcmp(s + i, "<![CDATA[", 9) == 0) {
			i = skip_past(s, n, i + 9, "]]>");
		} else if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?' ||
					 s[i + 1] == '/')) {
			/* doctype, declarations, processing instructions,
			 * "</>" and other bogus comments */
			i = skip_past(s, n, i + 2, ">");
		} else {
			if (html_text(h, "<", 1) < 0)
				return -1;
			i++;
		}
	}
	return html_break(h);
}

/* ------------------------------------------------------------ names */

/* s for a one-line message: control bytes and bytes that are not UTF-8
 * as \xNN, cut to about size bytes. */
static void shown(char *buf, size_t size, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, j = 0;

	while (i < n && j + 8 < size) {
		int32_t cp;
		size_t k = s[i] < 0x80 ? 1 : qf_utf8_next(s + i, n - i, &cp);

		if (s[i] < 0x20 || s[i] == 0x7f || (s[i] >= 0x80 && cp < 0)) {
			j += (size_t)snprintf(buf + j, size - j, "\\x%02x", s[i]);
			k = 1;
		} else {
			if (j + k + 8 >= size)
				break;
			memcpy(buf + j, s + i, k);
			j += k;
		}
		i += k;
	}
	if (i < n)
		j += (size_t)snprintf(buf + j, size - j, "...");
	buf[j] = 0;
}

#define MAX_LANG 64	/* bytes of a language code */

/* Parts "_X" or "-X" after a code, X being ASCII letters and digits. */
static int lang_parts(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = 0;
		if (s[i] != '_' && s[i] != '-')
			return 0;
		for (i++; i < n && is_alnum((unsigned char)s[i]); i++)
			k++;
		if (k == 0)
			return 0;
	}
	return 1;
}

/* An ISO 639-3 code, optionally with parts: s[0..n). */
static int lang_ok(const char *s, size_t n)
{
	if (n < 3 || n > MAX_LANG)
		return 0;
	for (size_t i = 0; i < 3; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return 0;
	return lang_parts(s + 3, n - 3);
}

#define LANG_FORM "three lower-case letters of ISO 639-3, optionally " \
	"with _SCRIPT or _VARIANT parts of ASCII letters and digits: fin, " \
	"cmn_hans, deu_1996"

int qf_lang_check(const char *code, qf_err *err)
{
	char q[160];

	if (lang_ok(code, strlen(code)))
		return 0;
	shown(q, sizeof q, code);
	return qf_err_set(err, "'%s' is not a language code (%s)", q,
			  LANG_FORM);
}

/* A BCP 47 tag as written in HTML's lang attribute ("de-1996", "en"):
 * letters, then parts "-X" of 1 to 8 ASCII letters and digits. */
static int bcp47_ok(const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n && is_alpha((unsigned char)s[i]))
		i++;
	if (i == 0 || i > 8 || n > MAX_LANG)
		return 0;
	while (i < n) {
		size_t k = 0;
		if (s[i] != '-')
			return 0;
		for (i++; i < n && is_alnum((unsigned char)s[i]); i++)
			k++;
		if (k == 0 || k > 8)
			return 0;
	}
	return 1;
}

/* The language a file name gives: the base name without its extension
 * when it is meant as a code, that is when it starts with three ASCII
 * letters followed by its end, '_' or '-' ("eng", "cmn_hans",
 * "deu_1996", "hau_NG"); *lang NULL when it is not ("text", "007").
 * A name meant as a code that is not one ("Eng", "eng_") is an error
 * naming source: the documents would otherwise go under a wrong
 * language. */
static int lang_from_name(const char *source, const char *path,
			  char **lang, qf_err *err)
{
	const char *b = strrchr(path, '/'), *dot;
	char q[160];
	size_t n;

	*lang = NULL;
	b = b ? b + 1 : path;
	dot = strrchr(b, '.');
	n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
	if (n < 3 || !is_alpha((unsigned char)b[0]) ||
	    !is_alpha((unsigned char)b[1]) || !is_alpha((unsigned char)b[2]) ||
	    (n > 3 && b[3] != '_' && b[3] != '-'))
		return 0;
	if (!lang_ok(b, n)) {
		char *name = strndup(b, n);
		if (!name)
			return qf_err_set(err, "%s: out of memory", source);
		shown(q, sizeof q, name);
		free(name);
		return qf_err_set(err, "%s: the file name gives the language "
				  "'%s', which is not a language code (%s): "
				  "rename the file or give --lang", source, q,
				  LANG_FORM);
	}
	if (!(*lang = strndup(b, n)))
		return qf_err_set(err, "%s: out of memory", source);
	return 0;
}

static int has_ext(const char *path, const char *ext)
{
	const char *b = strrchr(path, '/'), *dot;

	b = b ? b + 1 : path;
	dot = strrchr(b, '.');
	return dot && dot != b && strcasecmp(dot + 1, ext) == 0;
}

/* QF_TEXT_HTML, QF_TEXT_TSV or QF_TEXT_PLAIN, by the name, else by the
 * content (a TSV corpus is only known by its name). */
static int detect_format(const char *name, const char *s, size_t n)
{
	size_t i = 0;

	if (has_ext(name, "html") || has_ext(name, "htm") ||
	    has_ext(name, "xhtml"))
		return QF_TEXT_HTML;
	if (has_ext(name, "txt"))
		return QF_TEXT_PLAIN;
	if (has_ext(name, "tsv"))
		return QF_TEXT_TSV;
	while (i < n && html_ws((unsigned char)s[i]))
		i++;
	if ((n - i >= 14 && strncasecmp(s + i, "<!doctype html", 14) == 0) ||
	    (n - i >= 5 && strncasecmp(s + i, "<html", 5) == 0))
		return QF_TEXT_HTML;
	return QF_TEXT_PLAIN;
}

/* A name printable on one line: control bytes become '?'. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ------------------------------------------------------------ TSV */

/*
 * A TSV corpus (formats/corpus.md): a header "unit\tkind\ttext", then
 * one paragraph a line with the id of the parallel unit it translates
 * and its kind.  Its units are kept beside the paragraphs, in order.
 */
#define TSV_HEADER "unit\tkind\ttext"
#define MAX_UNIT 64	/* bytes of a unit id */

static const char *const unit_kinds[] = { "heading", "body" };

struct units {
	char **id;
	const char **kind;
	uint64_t *line;		/* where each was read */
	size_t n, cap;
};

static void units_free(struct units *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->id[i]);
	free(u->id);
	free(u->kind);
	free(u->line);
	memset(u, 0, sizeof *u);
}

static int units_add(struct units *u, const char *id, size_t n,
		     const char *kind, uint64_t line)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 64;
		char **v = realloc(u->id, cap * sizeof *v);
		const char **k = v ? realloc(u->kind, cap * sizeof *k) : NULL;
		uint64_t *l = k ? realloc(u->line, cap * sizeof *l) : NULL;

		if (v)
			u->id = v;
		if (k)
			u->kind = k;
		if (!l)
			return -1;
		u->line = l;
		u->cap = cap;
	}
	if (!(u->id[u->n] = strndup(id, n)))
		return -1;
	u->kind[u->n] = kind;
	u->line[u->n++] = line;
	return 0;
}

/* A unit id: 1 to MAX_UNIT ASCII letters, digits, '.', '_' or '-'. */
static int unit_ok(const char *s, size_t n)
{
	if (n == 0 || n > MAX_UNIT)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static const char *unit_kind(const char *s, size_t n)
{
	for (size_t i = 0; i < NITEMS(unit_kinds); i++)
		if (strlen(unit_kinds[i]) == n && memcmp(s, unit_kinds[i], n) == 0)
			return unit_kinds[i];
	return NULL;
}

struct idref {
	const char *id;
	size_t i;
};

static int by_id(const void *a, const void *b)
{
	const struct idref *x = a, *y = b;
	int r = strcmp(x->id, y->id);

	return r ? r : (x->i > y->i) - (x->i < y->i);
}

/* The first line (in the file) that repeats an earlier line's unit id:
 * its index in u, u->n when none does, or -1 (out of memory).  Sorting
 * keeps this O(n log n) for long files. */
static int64_t first_repeat(const struct units *u)
{
	struct idref *v = malloc((u->n ? u->n : 1) * sizeof *v);
	size_t best = u->n;

	if (!v)
		return -1;
	for (size_t i = 0; i < u->n; i++)
		v[i] = (struct idref){ u->id[i], i };
	qsort(v, u->n, sizeof *v, by_id);
	for (size_t i = 1; i < u->n; i++)
		if (strcmp(v[i].id, v[i - 1].id) == 0 && v[i].i < best)
			best = v[i].i;
	free(v);
	return (int64_t)best;
}

/* One line's fields: its three tab-separated fields, or an error. */
static int tsv_fields(const char *source, uint64_t ln, const char *s,
		      size_t n, const char **f, size_t *fn, qf_err *err)
{
	size_t k = 0, a = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '\t')
			continue;
		if (k < 3) {
			f[k] = s + a;
			fn[k] = i - a;
		}
		k++;
		a = i + 1;
	}
	if (k != 3)
		return qf_err_set(err, "%s: line %" PRIu64 ": %zu field%s, "
				  "expected 3 (unit, kind, text)", source, ln,
				  k, k == 1 ? "" : "s");
	return 0;
}

/* One paragraph line: its text into out, its unit into u. */
static int tsv_line(const char *source, uint64_t ln, const char *s,
		    size_t n, struct buf *out, struct units *u, qf_err *err)
{
	const char *f[3], *kind;
	size_t fn[3];
	char q[160], *v;

	if (tsv_fields(source, ln, s, n, f, fn, err) < 0)
		return -1;
	if (!unit_ok(f[0], fn[0])) {
		if (!(v = strndup(f[0], fn[0])))
			return qf_err_set(err, "%s: out of memory", source);
		shown(q, sizeof q, v);
		free(v);
		return qf_err_set(err, "%s: line %" PRIu64 ": unit '%s' is "
				  "not an id (1 to %d ASCII letters, digits, "
				  "'.', '_', '-')", source, ln, q, MAX_UNIT);
	}
	if (!(kind = unit_kind(f[1], fn[1]))) {
		if (!(v = strndup(f[1], fn[1])))
			return qf_err_set(err, "%s: out of memory", source);
		shown(q, sizeof q, v);
		free(v);
		return qf_err_set(err, "%s: line %" PRIu64 ": unknown kind "
				  "'%s' (heading or body)", source, ln, q);
	}
	if (all_white(f[2], fn[2]))
		return qf_err_set(err, "%s: line %" PRIu64 ": no text", source,
				  ln);
	if ((out->n && buf_put(out, "\n\n", 2) < 0) ||
	    buf_put(out, f[2], fn[2]) < 0 ||
	    units_add(u, f[0], fn[0], kind, ln) < 0)
		return qf_err_set(err, "%s: out of memory", source);
	return 0;
}

/* The paragraphs of a TSV corpus into out (separated by "\n\n": a text
 * holds no newline), their units into u.  Lines end in LF or CRLF; the
 * last may lack one. */
static int tsv_paras(const char *source, const char *s, size_t n,
		     struct buf *out, struct units *u, qf_err *err)
{
	uint64_t ln = 0;
	size_t a = 0;
	int64_t r;

	while (a < n) {
		const char *nl = memchr(s + a, '\n', n - a);
		size_t b = nl ? (size_t)(nl - s) : n, e = b;

		if (e > a && s[e - 1] == '\r')
			e--;
		if (++ln == 1) {
			if (e - a != strlen(TSV_HEADER) ||
			    memcmp(s + a, TSV_HEADER, e - a) != 0)
				return qf_err_set(err, "%s: line 1: not the "
						  "header 'unit<TAB>kind<TAB>"
						  "text'", source);
		} else if (tsv_line(source, ln, s + a, e - a, out, u, err) < 0) {
			return -1;
		}
		a = b + 1;
	}
	if (ln == 0)
		return qf_err_set(err, "%s: line 1: not the header "
				  "'unit<TAB>kind<TAB>text'", source);
	if ((r = first_repeat(u)) < 0)
		return qf_err_set(err, "%s: out of memory", source);
	for (size_t i = 0; (size_t)r < u->n && i < (size_t)r; i++)
		if (strcmp(u->id[i], u->id[r]) == 0)
			return qf_err_set(err, "%s: line %" PRIu64 ": unit '%s' "
					  "repeats line %" PRIu64, source,
					  u->line[r], u->id[r], u->line[i]);
	return 0;
}

/* ------------------------------------------------------------ the reader */

enum { K_FILE, K_DIR, K_ARCHIVE };

struct qf_corpus {
	char *path;		/* as given */
	char *name;		/* in messages: path, or "<stdin>" */
	char *glob;		/* NULL: the default suffixes */
	char *lang;		/* NULL: from names or markup */
	int format, unit, replace;
	int kind;
	int dead;
	uint64_t members;	/* files or members read */
	uint64_t entries;	/* archive entries seen, chosen or not */
	/* a file or an archive */
	FILE *f;
	int own;
	int file_done;
	unsigned char peek[PEEK];
	size_t npeek, ppeek;
	unsigned char rbuf[1 << 16];
	struct archive *a;
	/* a directory: the chosen files' relative paths, sorted */
	char **files;
	size_t nfiles, ifile;
	/* the current member */
	struct buf raw;
	char *text;		/* paragraphs separated by "\n\n" */
	size_t len, pos;
	int have;
	uint64_t pidx;
	char *msource, *mlang;
	struct units units;	/* its paragraphs' units (TSV), or none */
};

static int oom(const qf_corpus *c, qf_err *err)
{
	return qf_err_set(err, "%s: out of memory", c->name);
}

static int chosen(const qf_corpus *c, const char *rel)
{
	if (c->glob)
		return fnmatch(c->glob, rel, 0) == 0;
	return has_ext(rel, "txt") || has_ext(rel, "tsv") ||
	       has_ext(rel, "html") || has_ext(rel, "htm");
}

/* The text of a member's raw bytes s[0..n): a leading BOM dropped,
 * invalid UTF-8 an error naming its offset or, with c->replace, replaced
 * by U+FFFD in a copy (fixed).  *t, *len: the text, in s or in fixed. */
static int check_utf8(const qf_corpus *c, const char *source,
		      const unsigned char *s, size_t n, struct buf *fixed,
		      const char **t, size_t *len, qf_err *err)
{
	size_t i = 0, start = 0;

	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = start = 3;
	while (i < n) {
		int32_t cp;
		size_t k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		k = qf_utf8_next(s + i, n - i, &cp);
		if (cp < 0) {
			if (!c->replace)
				return qf_err_set(err, "%s: byte %zu: invalid UTF-8",
						  source, i);
			if (!fixed->p && buf_put(fixed, s + start, i - start) < 0)
				goto nomem;
			if (buf_put_cp(fixed, 0xfffd) < 0)
				goto nomem;
		} else if (fixed->p && buf_put(fixed, s + i, k) < 0) {
			goto nomem;
		}
		i += k;
		/* copy ASCII runs in one go once repairing */
		if (fixed->p) {
			size_t j = i;
			while (j < n && s[j] < 0x80)
				j++;
			if (buf_put(fixed, s + i, j - i) < 0)
				goto nomem;
			i = j;
		}
	}
	*t = fixed->p ? fixed->p : (const char *)s + start;
	*len = fixed->p ? fixed->n : n - start;
	return 0;
nomem:
	return qf_err_set(err, "%s: out of memory", source);
}

/* The paragraphs of text t[0..n) into out, separated by "\n\n": as HTML
 * (its language attributes then in h), as TSV (their units then in u) or
 * as plain text, as c->format or the file name fname and the content
 * say. */
static int paragraphs(const qf_corpus *c, const char *source,
		      const char *fname, const char *t, size_t n,
		      struct html *h, struct buf *out, struct units *u,
		      qf_err *err)
{
	int fmt = c->format != QF_TEXT_AUTO ? c->format :
		  detect_format(fname, t, n);
	int rc;

	if (fmt == QF_TEXT_TSV)
		return tsv_paras(source, t, n, out, u, err);
	if (fmt != QF_TEXT_HTML) {
		rc = plain_paras(t, n, out);
	} else {
		h->s = (const unsigned char *)t;
		h->n = n;
		h->out = out;
		rc = html_strip(h);
	}
	return rc < 0 ? qf_err_set(err, "%s: out of memory", source) : 0;
}

/* The language of HTML markup: data-iso6393 of <html> (an ISO 639-3
 * code), else its lang attribute (a BCP 47 tag, taken as written); NULL
 * when neither is there.  A value that is neither form is an error. */
static int markup_lang(const char *source, const struct html *h,
		       const char **lang, qf_err *err)
{
	char q[160];

	*lang = NULL;
	if (h->iso && *h->iso) {
		if (!lang_ok(h->iso, strlen(h->iso))) {
			shown(q, sizeof q, h->iso);
			return qf_err_set(err, "%s: <html data-iso6393=\"%s\">: "
					  "not a language code (%s): give --lang",
					  source, q, LANG_FORM);
		}
		*lang = h->iso;
	} else if (h->lang && *h->lang) {
		if (!bcp47_ok(h->lang)) {
			shown(q, sizeof q, h->lang);
			return qf_err_set(err, "%s: <html lang=\"%s\">: not a "
					  "language tag (BCP 47: de-1996): give "
					  "--lang", source, q);
		}
		*lang = h->lang;
	}
	return 0;
}

/* A member's language into *lang (malloc'd): the one given, else from
 * the file name, else from the markup, else "und". */
static int member_lang(const qf_corpus *c, const char *source,
		       const char *fname, const struct html *h, char **lang,
		       qf_err *err)
{
	const char *m;

	if (c->lang) {
		*lang = strdup(c->lang);
	} else {
		if (lang_from_name(source, fname, lang, err) < 0)
			return -1;
		if (*lang)
			return 0;
		if (markup_lang(source, h, &m, err) < 0)
			return -1;
		*lang = strdup(m ? m : "und");
	}
	if (!*lang)
		return qf_err_set(err, "%s: out of memory", source);
	return 0;
}

/*
 * Turn the raw bytes of a member (c->raw) into its paragraphs: check or
 * repair UTF-8, drop a leading BOM, strip HTML, split, find the language.
 * source names the member in messages and documents; fname is its file
 * name (for the format and the language).
 */
static int load(qf_corpus *c, const char *source, const char *fname,
		qf_err *err)
{
	struct buf fixed = { 0 }, out = { 0 };
	struct html h = { 0 };
	struct units u = { 0 };
	const char *t = NULL;
	size_t n = 0;
	int rc = -1;
	char *lang = NULL;

	if (!qf_utf8_valid(source, strlen(source))) {
		char q[512];
		shown(q, sizeof q, source);
		qf_err_set(err, "%s: file name is not valid UTF-8", q);
		goto done;
	}
	if (check_utf8(c, source, (const unsigned char *)c->raw.p, c->raw.n,
		       &fixed, &t, &n, err) < 0)
		goto done;
	if (paragraphs(c, source, fname, t, n, &h, &out, &u, err) < 0)
		goto done;
	if (out.n == 0) {
		qf_err_set(err, "%s: no text", source);
		goto done;
	}
	if (member_lang(c, source, fname, &h, &lang, err) < 0)
		goto done;
	free(c->msource);
	c->msource = strdup(source);
	if (!c->msource)
		goto nomem;
	free(c->mlang);
	c->mlang = lang;
	lang = NULL;
	free(c->text);
	c->text = out.p;
	c->len = out.n;
	out.p = NULL;
	units_free(&c->units);
	c->units = u;
	memset(&u, 0, sizeof u);
	c->pos = 0;
	c->pidx = 0;
	c->have = 1;
	c->members++;
	rc = 0;
	/* a large member's raw bytes are not kept beside its text */
	if (c->raw.cap > RAW_KEEP)
		buf_free(&c->raw);
	goto done;
nomem:
	rc = qf_err_set(err, "%s: out of memory", source);
done:
	free(lang);
	buf_free(&fixed);
	buf_free(&out);
	buf_free(&h.para);
	units_free(&u);
	free(h.iso);
	free(h.lang);
	return rc;
}

/* Read f to its end (after what is already in c->raw) into c->raw. */
static int slurp(qf_corpus *c, FILE *f, const char *source, qf_err *err)
{
	for (;;) {
		size_t k;
		if (buf_grow(&c->raw, 1 << 16) < 0)
			return qf_err_set(err, "%s: out of memory", source);
		k = fread(c->raw.p + c->raw.n, 1, c->raw.cap - c->raw.n - 1, f);
		c->raw.n += k;
		if (c->raw.n > MAX_MEMBER)
			return qf_err_set(err, "%s: larger than %u bytes",
					  source, MAX_MEMBER);
		if (k == 0)
			break;
	}
	if (ferror(f))
		return qf_err_set(err, "%s: %s", source, strerror(errno));
	return 0;
}

/* --- directories */

static int add_file(qf_corpus *c, const char *rel)
{
	char **v;

	if (c->nfiles % 64 == 0) {
		v = realloc(c->files, (c->nfiles + 64) * sizeof *v);
		if (!v)
			return -1;
		c->files = v;
	}
	if (!(c->files[c->nfiles] = strdup(rel)))
		return -1;
	c->nfiles++;
	return 0;
}

static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *p = malloc(na + nb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, na);
	if (na && a[na - 1] != '/')
		p[na++] = '/';
	memcpy(p + na, b, nb + 1);
	return p;
}

/* Collect the chosen regular files under c->path/rel.  Names starting
 * with '.' are skipped; symbolic links to files are followed, those to
 * directories are not. */
static int walk(qf_corpus *c, const char *rel, int depth, qf_err *err)
{
	char *dir = *rel ? join(c->path, rel) : strdup(c->path);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!dir)
		return oom(c, err);
	if (depth > MAX_DEPTH) {
		rc = qf_err_set(err, "%s: directories nested too deep", dir);
		free(dir);
		return rc;
	}
	if (!(d = opendir(dir))) {
		rc = qf_err_set(err, "%s: %s", dir, strerror(errno));
		free(dir);
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		char *full, *r;

		if (de->d_name[0] == '.')
			continue;
		full = join(dir, de->d_name);
		r = *rel ? join(rel, de->d_name) : strdup(de->d_name);
		if (!full || !r) {
			rc = oom(c, err);
		} else if (lstat(full, &st) < 0) {
			rc = qf_err_set(err, "%s: %s", full, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(c, r, depth + 1, err);
		} else if ((S_ISREG(st.st_mode) || (S_ISLNK(st.st_mode) &&
			    stat(full, &st) == 0 && S_ISREG(st.st_mode))) &&
			   chosen(c, r) && add_file(c, r) < 0) {
			rc = oom(c, err);
		}
		free(full);
		free(r);
	}
	if (rc == 0 && errno)
		rc = qf_err_set(err, "%s: %s", dir, strerror(errno));
	closedir(d);
	free(dir);
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dir_next(qf_corpus *c, qf_err *err)
{
	char *full;
	FILE *f;
	int rc;

	if (c->ifile >= c->nfiles)
		return 0;
	full = join(c->path, c->files[c->ifile++]);
	if (!full)
		return oom(c, err);
	if (!(f = fopen(full, "rb"))) {
		rc = qf_err_set(err, "%s: %s", full, strerror(errno));
		free(full);
		return rc;
	}
	c->raw.n = 0;
	rc = slurp(c, f, full, err);
	fclose(f);
	if (rc == 0)
		rc = load(c, full, full, err);
	free(full);
	return rc < 0 ? -1 : 1;
}

/* --- archives */

static la_ssize_t ar_read(struct archive *a, void *data, const void **out)
{
	qf_corpus *c = data;
	size_t k;

	if (c->ppeek < c->npeek) {
		*out = c->peek + c->ppeek;
		k = c->npeek - c->ppeek;
		c->ppeek = c->npeek;
		return (la_ssize_t)k;
	}
	k = fread(c->rbuf, 1, sizeof c->rbuf, c->f);
	if (k == 0 && ferror(c->f)) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	*out = c->rbuf;
	return (la_ssize_t)k;
}

static la_int64_t ar_seek(struct archive *a, void *data, la_int64_t off,
			  int whence)
{
	qf_corpus *c = data;
	off_t pos;

	if (fseeko(c->f, (off_t)off, whence) < 0 || (pos = ftello(c->f)) < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return ARCHIVE_FATAL;
	}
	return (la_int64_t)pos;
}

static la_int64_t ar_skip(struct archive *a, void *data, la_int64_t n)
{
	qf_corpus *c = data;

	(void)a;
	if (n <= 0 || fseeko(c->f, (off_t)n, SEEK_CUR) < 0)
		return 0;	/* libarchive then reads and discards */
	return n;
}

/* A tar header block, as libarchive's tar reader recognises one: its
 * checksum field (octal, at byte 148) is the sum of the block's bytes
 * with that field taken as spaces, summed unsigned or, by old tars,
 * signed.  A block of zeros is the end of an archive: all an empty one
 * holds (GNU tar writes 10240 zeros). */
static int is_tar(const unsigned char *p, size_t n)
{
	uint64_t want = 0, sum = 0;
	int64_t ssum = 0;
	size_t i = 148, zeros = 0;

	if (n < 512)
		return 0;
	for (size_t k = 0; k < 512; k++) {
		unsigned char b = k >= 148 && k < 156 ? ' ' : p[k];
		sum += b;
		ssum += (signed char)b;
		zeros += p[k] == 0;
	}
	if (zeros == 512)
		return 1;
	while (i < 156 && p[i] == ' ')
		i++;
	if (i == 156 || p[i] < '0' || p[i] > '7')
		return 0;
	while (i < 156 && p[i] >= '0' && p[i] <= '7')
		want = want * 8 + (uint64_t)(p[i++] - '0');
	if (i < 156 && p[i] != ' ' && p[i] != 0)
		return 0;
	return want == sum || (int64_t)want == ssum;
}

/* The magic numbers of the archives and compressors read here. */
static int is_archive(const unsigned char *p, size_t n)
{
	static const unsigned char bz_blk[6] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
	static const unsigned char bz_eos[6] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return 1;				/* gzip */
	if (n >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
		return 1;				/* zstd */
	if (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
		return 1;				/* xz */
	if (n >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' &&
	    p[3] <= '9' && (memcmp(p + 4, bz_blk, 6) == 0 ||
			    memcmp(p + 4, bz_eos, 6) == 0))
		return 1;				/* bzip2 */
	if (n >= 4 && p[0] == 'P' && p[1] == 'K' &&
	    ((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6) ||
	     (p[2] == 7 && p[3] == 8)))
		return 1;				/* zip */
	if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
		return 1;				/* POSIX or GNU tar */
	return is_tar(p, n);				/* v7 tar, empty tar */
}

/* Refuse members that would escape or alias the tree if extracted. */
static int check_member(qf_corpus *c, struct archive_entry *e,
			const char *name, qf_err *err)
{
	const char *why = NULL, *p = name;
	unsigned type = archive_entry_filetype(e);
	char *shown;
	int rc;

	if (!*name)
		why = "empty name refused";
	else if (name[0] == '/' || name[0] == '\\' ||
		 (is_alpha((unsigned char)name[0]) && name[1] == ':'))
		why = "absolute path refused";
	while (!why && *p) {
		size_t k = strcspn(p, "/\\");
		if (k == 2 && p[0] == '.' && p[1] == '.')
			why = "'..' in path refused";
		p += k;
		if (*p)
			p++;
	}
	if (why)
		;
	else if (archive_entry_hardlink(e))
		why = "hard link refused";
	else if (type == AE_IFLNK || archive_entry_symlink(e))
		why = "symbolic link refused";
	else if (type == AE_IFCHR || type == AE_IFBLK)
		why = "device refused";
	else if (type != AE_IFREG && type != AE_IFDIR)
		why = "special file refused";
	if (!why)
		return 0;
	if (!(shown = strdup(name)))
		return oom(c, err);
	printable(shown);
	rc = qf_err_set(err, "%s: member %s: %s", c->name, shown, why);
	free(shown);
	return rc;
}

/* A chosen member whose name is not UTF-8: its documents could not say
 * where they come from (the attribute source is UTF-8). */
static int bad_name(const qf_corpus *c, const char *name, qf_err *err)
{
	char q[512];

	shown(q, sizeof q, name);
	return qf_err_set(err, "%s: member %" PRIu64 " (%s): name is not "
			  "valid UTF-8", c->name, c->entries, q);
}

/* The data of the current member, named source, into c->raw. */
static int ar_data(qf_corpus *c, const char *source, qf_err *err)
{
	c->raw.n = 0;
	for (;;) {
		la_ssize_t k;

		if (buf_grow(&c->raw, 1 << 16) < 0)
			return oom(c, err);
		k = archive_read_data(c->a, c->raw.p + c->raw.n,
				      c->raw.cap - c->raw.n - 1);
		if (k < 0)
			return qf_err_set(err, "%s: %s", source,
					  archive_error_string(c->a));
		if (k == 0)
			return 0;
		c->raw.n += (size_t)k;
		if (c->raw.n > MAX_MEMBER)
			return qf_err_set(err, "%s: larger than %u bytes",
					  source, MAX_MEMBER);
	}
}

/* The next chosen member of the archive, loaded: 1, 0 at the end, -1. */
static int ar_next(qf_corpus *c, qf_err *err)
{
	for (;;) {
		struct archive_entry *e;
		const char *name, *rel;
		char *source;
		int r = archive_read_next_header(c->a, &e);
		int64_t size;

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return qf_err_set(err, "%s: %s", c->name,
					  archive_error_string(c->a));
		name = archive_entry_pathname(e);
		if (!name)
			return qf_err_set(err, "%s: member without a usable name",
					  c->name);
		c->entries++;
		if (check_member(c, e, name, err) < 0)
			return -1;
		rel = name;
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		if (archive_entry_filetype(e) == AE_IFDIR || !chosen(c, rel))
			continue;	/* libarchive skips the data */
		if (!qf_utf8_valid(name, strlen(name)))
			return bad_name(c, name, err);
		if (!(source = malloc(strlen(c->name) + strlen(name) + 2)))
			return oom(c, err);
		sprintf(source, "%s:%s", c->name, name);
		printable(source);
		size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
		if (size > (int64_t)MAX_MEMBER)
			r = qf_err_set(err, "%s: larger than %u bytes", source,
				       MAX_MEMBER);
		else if ((r = ar_data(c, source, err)) == 0)
			r = load(c, source, rel, err);
		free(source);
		return r < 0 ? -1 : 1;
	}
}

static int ar_open(qf_corpus *c, int seekable, qf_err *err)
{
	if (!(c->a = archive_read_new()))
		return oom(c, err);
	archive_read_support_filter_gzip(c->a);
	archive_read_support_filter_bzip2(c->a);
	archive_read_support_filter_xz(c->a);
	archive_read_support_filter_zstd(c->a);
	archive_read_support_format_tar(c->a);
	archive_read_support_format_gnutar(c->a);
	archive_read_support_format_zip(c->a);
	archive_read_set_callback_data(c->a, c);
	archive_read_set_read_callback(c->a, ar_read);
	if (seekable) {
		archive_read_set_seek_callback(c->a, ar_seek);
		archive_read_set_skip_callback(c->a, ar_skip);
	}
	if (archive_read_open1(c->a) != ARCHIVE_OK)
		return qf_err_set(err, "%s: not a tar or zip archive (%s)",
				  c->name, archive_error_string(c->a));
	return 0;
}

/* --- files */

static int file_open(qf_corpus *c, qf_err *err)
{
	int seekable;

	if (strcmp(c->path, "-") == 0) {
		c->f = stdin;
	} else {
		if (!(c->f = fopen(c->path, "rb")))
			return qf_err_set(err, "%s: %s", c->name,
					  strerror(errno));
		c->own = 1;
	}
	c->npeek = fread(c->peek, 1, sizeof c->peek, c->f);
	if (c->npeek < sizeof c->peek && ferror(c->f))
		return qf_err_set(err, "%s: %s", c->name, strerror(errno));
	if (!is_archive(c->peek, c->npeek)) {
		c->kind = K_FILE;
		return 0;
	}
	c->kind = K_ARCHIVE;
	seekable = fseeko(c->f, 0, SEEK_SET) == 0;
	if (seekable)
		c->npeek = 0;
	else
		clearerr(c->f);
	return ar_open(c, seekable, err);
}

static int file_next(qf_corpus *c, qf_err *err)
{
	if (c->file_done)
		return 0;
	c->file_done = 1;
	c->raw.n = 0;
	if (buf_put(&c->raw, c->peek, c->npeek) < 0)
		return oom(c, err);
	if (slurp(c, c->f, c->name, err) < 0)
		return -1;
	return load(c, c->name, c->path, err) < 0 ? -1 : 1;
}

/* ------------------------------------------------------------ public */

qf_corpus *qf_corpus_open(const char *path, const qf_text_opts *o,
			  qf_err *err)
{
	static const qf_text_opts defaults = { 0 };
	qf_corpus *c;
	struct stat st;

	if (!o)
		o = &defaults;
	if (!path)
		path = "-";
	if (o->format < QF_TEXT_AUTO || o->format > QF_TEXT_TSV ||
	    o->unit < QF_TEXT_DOCUMENT || o->unit > QF_TEXT_PARAGRAPH) {
		qf_err_set(err, "%s: bad text options", path);
		return NULL;
	}
	if (o->lang && qf_lang_check(o->lang, err) < 0)
		return NULL;
	if (!(c = calloc(1, sizeof *c))) {
		qf_err_set(err, "%s: out of memory", path);
		return NULL;
	}
	c->path = strdup(path);
	c->name = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
	c->glob = o->member_glob ? strdup(o->member_glob) : NULL;
	c->lang = o->lang ? strdup(o->lang) : NULL;
	c->format = o->format;
	c->unit = o->unit;
	c->replace = o->replace_invalid;
	if (!c->path || !c->name || (o->member_glob && !c->glob) ||
	    (o->lang && !c->lang)) {
		qf_err_set(err, "%s: out of memory", path);
		goto fail;
	}
	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		c->kind = K_DIR;
		if (walk(c, "", 0, err) < 0)
			goto fail;
		if (c->nfiles == 0) {
			qf_err_set(err, "%s: no file matches %s", c->name,
				   c->glob ? c->glob : DEFAULT_GLOB);
			goto fail;
		}
		qsort(c->files, c->nfiles, sizeof *c->files, str_cmp);
	} else if (file_open(c, err) < 0) {
		goto fail;
	}
	return c;
fail:
	qf_corpus_close(c);
	return NULL;
}

/* Hand out the next document or paragraph of the current member. */
static int emit(qf_corpus *c, qf_doc *d, qf_err *err)
{
	qf_doc_free(d);
	if (c->unit == QF_TEXT_DOCUMENT) {
		d->text = c->text;
		d->len = c->len;
		d->index = 0;
		c->text = NULL;
		c->have = 0;
	} else {
		const char *p = c->text + c->pos, *q;
		size_t k;

		q = memmem(p, c->len - c->pos, "\n\n", 2);
		k = q ? (size_t)(q - p) : c->len - c->pos;
		if (!(d->text = malloc(k + 1)))
			return oom(c, err);
		memcpy(d->text, p, k);
		d->text[k] = 0;
		d->len = k;
		if (c->pidx < c->units.n) {
			d->unit_kind = c->units.kind[c->pidx];
			if (!(d->unit_id = strdup(c->units.id[c->pidx]))) {
				qf_doc_free(d);
				return oom(c, err);
			}
		}
		d->index = c->pidx++;
		c->pos += k + (q ? 2 : 0);
		if (!q) {
			free(c->text);
			c->text = NULL;
			c->have = 0;
		}
	}
	d->lang = strdup(c->mlang);
	d->source = strdup(c->msource);
	if (!d->lang || !d->source) {
		qf_doc_free(d);
		return oom(c, err);
	}
	return 1;
}

int qf_corpus_next(qf_corpus *c, qf_doc *d, qf_err *err)
{
	int r;

	if (c->dead)
		return qf_err_set(err, "%s: reading stopped at an earlier error",
				  c->name);
	if (!c->have) {
		switch (c->kind) {
		case K_FILE: r = file_next(c, err); break;
		case K_DIR: r = dir_next(c, err); break;
		default: r = ar_next(c, err); break;
		}
		if (r == 0 && c->kind == K_ARCHIVE && c->entries == 0) {
			qf_err_set(err, "%s: an empty archive: no documents",
				   c->name);
			r = -1;
		} else if (r == 0 && c->kind == K_ARCHIVE && c->members == 0) {
			qf_err_set(err, "%s: no member matches %s", c->name,
				   c->glob ? c->glob : DEFAULT_GLOB);
			r = -1;
		}
		if (r <= 0) {
			c->dead = r < 0;
			if (r == 0)
				qf_doc_free(d);
			return r;
		}
	}
	r = emit(c, d, err);
	if (r < 0)
		c->dead = 1;
	return r;
}

void qf_corpus_close(qf_corpus *c)
{
	if (!c)
		return;
	if (c->a)
		archive_read_free(c->a);
	if (c->f && c->own)
		fclose(c->f);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	buf_free(&c->raw);
	free(c->text);
	free(c->msource);
	free(c->mlang);
	units_free(&c->units);
	free(c->path);
	free(c->name);
	free(c->glob);
	free(c->lang);
	free(c);
}

void qf_doc_free(qf_doc *d)
{
	if (!d)
		return;
	free(d->text);
	free(d->lang);
	free(d->source);
	free(d->unit_id);
	memset(d, 0, sizeof *d);
}
