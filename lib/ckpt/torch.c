/*
 * torch.c - the checkpoint backend for torch.save zip files
 * (formats/torch.md).
 *
 * A torch.save zip holds ARCHIVE/data.pkl, a pickle of the state dict
 * whose tensors name their storages by key, and one member
 * ARCHIVE/data/KEY per storage with its raw little-endian bytes, stored
 * uncompressed.  Opening reads the zip's central directory, the local
 * headers of the storage members (to find where their bytes lie) and
 * data.pkl, which the restricted unpickler (pickle.c) interprets; no
 * storage byte is read until qf_ckpt_read, which preads a contiguous
 * tensor's bytes straight into place and gathers a strided view through
 * a bounded window.  A compressed member (torch never writes one) is read
 * through libarchive instead.
 *
 * The central directory is parsed here because libarchive does not tell
 * where a member's local header lies.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt_impl.h"
#include "ckpt/pickle.h"

#define MAX_MEMBERS (1u << 20)
#define MAX_CD (256u << 20)		/* bytes of the central directory */
#define MAX_PKL (256u << 20)		/* bytes of data.pkl */
#define WINDOW (16u << 20)		/* bytes read at a time by gather() */
#define MAX_EXPANDED (64u << 20)	/* bytes of an expanded view read */

struct member {
	char *name;
	uint64_t lho;		/* offset of the local header */
	uint64_t csize, usize;
	int method, flags;
	int resolved;		/* data below is known */
	uint64_t data;		/* offset of the bytes in the file */
};

/* One tensor of the list, as the pickle described it. */
struct tinfo {
	size_t m;		/* the storage's member */
	size_t es;		/* element size */
	uint64_t off;		/* storage offset, elements */
	int ndim;
	uint64_t size[QF_MAX_DIMS];
	uint64_t stride[QF_MAX_DIMS];
	uint64_t numel;
	int contig;
};

struct torch {
	int fd;
	uint64_t fsize;
	struct member *m;	/* sorted by name */
	size_t nm;
	struct tinfo *t;	/* parallel to the qf_ckpt tensor list */
	size_t tcap;
};

/* ------------------------------------------------------------ the zip */

/* s for a one-line message: control bytes escaped, long ones cut. */
static void quote(char *buf, size_t size, const char *s, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			j += (size_t)snprintf(buf + j, size - j, "\\x%02x", ch);
		else
			buf[j++] = (char)ch;
		if (i + 1 < len && j + 8 >= size)
			j += (size_t)snprintf(buf + j, size - j, "...");
	}
	buf[j] = 0;
}

static int has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->name,
		      ((const struct member *)b)->name);
}

static struct member *find(struct torch *tc, const char *name)
{
	struct member key = { .name = (char *)name };

	return bsearch(&key, tc->m, tc->nm, sizeof key, cmp_member);
}

/* The zip64 extra field (id 1) of a central directory entry: the fields
 * whose 32-bit value is 0xffffffff follow in the order usize, csize, lho. */
static int zip64_extra(const unsigned char *x, size_t n, struct member *m)
{
	while (n >= 4) {
		unsigned id = qf_get_u16(x), len = qf_get_u16(x + 2);
		if (len > n - 4)
			return -1;
		if (id == 1) {
			uint64_t *f[3] = { &m->usize, &m->csize, &m->lho };
			size_t k = 0;
			for (int i = 0; i < 3; i++) {
				if (*f[i] != 0xffffffffu)
					continue;
				if (k + 8 > len)
					return -1;
				*f[i] = qf_get_u64(x + 4 + k);
				k += 8;
			}
			return 0;
		}
		x += 4 + len;
		n -= 4 + len;
	}
	return 0;
}

static int parse_cd(struct torch *tc, const unsigned char *cd, size_t size,
		    uint64_t count, const char *path, qf_err *err)
{
	size_t pos = 0;

	if (count > MAX_MEMBERS)
		return qf_err_set(err, "%s: more than %u zip members", path,
				  MAX_MEMBERS);
	tc->m = calloc(count ? count : 1, sizeof *tc->m);
	if (!tc->m)
		return qf_err_set(err, "%s: out of memory", path);
	for (uint64_t i = 0; i < count; i++) {
		struct member *m = &tc->m[tc->nm];
		const unsigned char *e = cd + pos;
		size_t nlen, xlen, clen;

		if (size - pos < 46 || qf_get_u32(e) != 0x02014b50)
			return qf_err_set(err, "%s: zip central directory is "
					  "corrupt (entry %" PRIu64 ")", path, i);
		nlen = qf_get_u16(e + 28);
		xlen = qf_get_u16(e + 30);
		clen = qf_get_u16(e + 32);
		if (size - pos - 46 < nlen + xlen + clen)
			return qf_err_set(err, "%s: zip central directory is "
					  "corrupt (entry %" PRIu64 ")", path, i);
		if (nlen == 0 || has_control((const char *)e + 46, nlen))
			return qf_err_set(err, "%s: zip member %" PRIu64 " has a "
					  "bad name", path, i);
		m->flags = qf_get_u16(e + 8);
		m->method = qf_get_u16(e + 10);
		m->csize = qf_get_u32(e + 20);
		m->usize = qf_get_u32(e + 24);
		m->lho = qf_get_u32(e + 42);
		if (zip64_extra(e + 46 + nlen, xlen, m) < 0)
			return qf_err_set(err, "%s: zip member %" PRIu64 ": bad "
					  "zip64 field", path, i);
		m->name = malloc(nlen + 1);
		if (!m->name)
			return qf_err_set(err, "%s: out of memory", path);
		memcpy(m->name, e + 46, nlen);
		m->name[nlen] = 0;
		tc->nm++;
		pos += 46 + nlen + xlen + clen;
	}
	qsort(tc->m, tc->nm, sizeof *tc->m, cmp_member);
	for (size_t i = 1; i < tc->nm; i++)
		if (strcmp(tc->m[i - 1].name, tc->m[i].name) == 0)
			return qf_err_set(err, "%s: zip member %s appears twice",
					  path, tc->m[i].name);
	return 0;
}

/* Find the end of central directory record in the file's last 64 KiB:
 * its entry count, size and offset of the central directory, and its own
 * file offset. */
static int find_eocd(struct torch *tc, const char *path, uint64_t *count,
		     uint64_t *size, uint64_t *off, uint64_t *eocdp,
		     qf_err *err)
{
	unsigned char *tail;
	uint64_t tlen, eocd = 0;
	int found = 0;

	tlen = tc->fsize < 22 + 65535 ? tc->fsize : 22 + 65535;
	if (tlen < 22)
		return qf_err_set(err, "%s: not a zip file (too short)", path);
	tail = malloc(tlen);
	if (!tail)
		return qf_err_set(err, "%s: out of memory", path);
	if (qf_pread_all(tc->fd, tail, tlen, tc->fsize - tlen, path, err) < 0) {
		free(tail);
		return -1;
	}
	for (uint64_t i = tlen - 22 + 1; i-- > 0;)
		if (qf_get_u32(tail + i) == 0x06054b50 &&
		    i + 22 + qf_get_u16(tail + i + 20) <= tlen) {
			eocd = i;
			found = 1;
			break;
		}
	if (!found) {
		free(tail);
		return qf_err_set(err, "%s: zip end of central directory not "
				  "found (truncated?)", path);
	}
	*count = qf_get_u16(tail + eocd + 10);
	*size = qf_get_u32(tail + eocd + 12);
	*off = qf_get_u32(tail + eocd + 16);
	*eocdp = eocd + tc->fsize - tlen;	/* a file offset */
	free(tail);
	return 0;
}

/* The zip64 end of central directory record, found through the locator
 * just before the record at eocd. */
static int read_zip64_eocd(struct torch *tc, const char *path, uint64_t eocd,
			   uint64_t *count, uint64_t *size, uint64_t *off,
			   qf_err *err)
{
	unsigned char z[56];

	if (eocd < 20 ||
	    qf_pread_all(tc->fd, z, 20, eocd - 20, path, err) < 0)
		return qf_err_set(err, "%s: zip64 locator missing", path);
	if (qf_get_u32(z) != 0x07064b50)
		return qf_err_set(err, "%s: zip64 locator missing", path);
	uint64_t z64 = qf_get_u64(z + 8);
	if (tc->fsize < 56 || z64 > tc->fsize - 56 ||
	    qf_pread_all(tc->fd, z, 56, z64, path, err) < 0 ||
	    qf_get_u32(z) != 0x06064b50)
		return qf_err_set(err, "%s: zip64 end of central "
				  "directory is corrupt", path);
	*count = qf_get_u64(z + 32);
	*size = qf_get_u64(z + 40);
	*off = qf_get_u64(z + 48);
	return 0;
}

/* Find the end of central directory record (and its zip64 form) and
 * read the central directory. */
static int read_cd(struct torch *tc, const char *path, qf_err *err)
{
	unsigned char *cd;
	uint64_t eocd = 0, count = 0, size = 0, off = 0;
	int rc;

	if (find_eocd(tc, path, &count, &size, &off, &eocd, err) < 0)
		return -1;
	if ((count == 0xffff || size == 0xffffffffu || off == 0xffffffffu) &&
	    read_zip64_eocd(tc, path, eocd, &count, &size, &off, err) < 0)
		return -1;
	if (size > MAX_CD)
		return qf_err_set(err, "%s: zip central directory larger than "
				  "%u bytes", path, MAX_CD);
	if (off > tc->fsize || size > tc->fsize - off)
		return qf_err_set(err, "%s: zip central directory lies outside "
				  "the file (truncated?)", path);
	if (count > size / 46)
		return qf_err_set(err, "%s: zip central directory is corrupt",
				  path);
	cd = malloc(size ? size : 1);
	if (!cd)
		return qf_err_set(err, "%s: out of memory", path);
	rc = qf_pread_all(tc->fd, cd, size, off, path, err);
	if (rc == 0)
		rc = parse_cd(tc, cd, size, count, path, err);
	free(cd);
	return rc;
}

/* Where a member's bytes lie, from its local header. */
static int resolve(struct torch *tc, struct member *m, const char *path,
		   qf_err *err)
{
	unsigned char h[30];

	if (m->resolved)
		return 0;
	if (m->lho > tc->fsize || tc->fsize - m->lho < 30)
		return qf_err_set(err, "%s: %s: local header lies outside the "
				  "file", path, m->name);
	if (qf_pread_all(tc->fd, h, 30, m->lho, path, err) < 0)
		return -1;
	if (qf_get_u32(h) != 0x04034b50)
		return qf_err_set(err, "%s: %s: bad local header", path, m->name);
	if ((m->flags | qf_get_u16(h + 6)) & 1)
		return qf_err_set(err, "%s: %s: encrypted", path, m->name);
	if (qf_get_u16(h + 8) != m->method)
		return qf_err_set(err, "%s: %s: local header and central "
				  "directory disagree on the method", path,
				  m->name);
	m->data = m->lho + 30 + qf_get_u16(h + 26) + qf_get_u16(h + 28);
	if (m->method == 0) {
		if (m->csize != m->usize)
			return qf_err_set(err, "%s: %s: stored member with "
					  "compressed size %" PRIu64 " and size %"
					  PRIu64, path, m->name, m->csize,
					  m->usize);
		if (m->data > tc->fsize || m->usize > tc->fsize - m->data)
			return qf_err_set(err, "%s: %s: data runs past the end of "
					  "the file (truncated?)", path, m->name);
	}
	m->resolved = 1;
	return 0;
}

/* libarchive's message about a, on one line. */
static const char *arch_msg(struct archive *a, char *buf, size_t size)
{
	const char *s = archive_error_string(a);
	size_t n;

	snprintf(buf, size, "%s", s && *s ? s : "libarchive failed");
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = 0;
	return buf;
}

/* A compressed member's bytes [off, off + n) through libarchive. */
static int read_archive(const char *path, const struct member *m,
			uint64_t off, void *buf, size_t n, qf_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	unsigned char *scratch = NULL;
	char msg[512];
	int rc = -1, r;

	if (!a)
		return qf_err_set(err, "%s: out of memory", path);
	archive_read_support_format_zip_seekable(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		qf_err_set(err, "%s: %s", path, arch_msg(a, msg, sizeof msg));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (!name || strcmp(name, m->name) != 0)
			continue;
		scratch = malloc(65536);
		if (!scratch) {
			qf_err_set(err, "%s: out of memory", path);
			goto out;
		}
		while (off > 0) {
			la_ssize_t k = archive_read_data(a, scratch,
				off < 65536 ? (size_t)off : 65536);
			if (k <= 0)
				goto short_read;
			off -= (uint64_t)k;
		}
		while (n > 0) {
			la_ssize_t k = archive_read_data(a, buf, n);
			if (k <= 0)
				goto short_read;
			buf = (unsigned char *)buf + k;
			n -= (size_t)k;
		}
		rc = 0;
		goto out;
	}
	if (r == ARCHIVE_EOF)
		qf_err_set(err, "%s: %s: member not found by libarchive", path,
			   m->name);
	else
		qf_err_set(err, "%s: %s", path, arch_msg(a, msg, sizeof msg));
	goto out;
short_read:
	qf_err_set(err, "%s: %s: %s", path, m->name, archive_error_string(a) ?
		   arch_msg(a, msg, sizeof msg) : "member ends early");
out:
	free(scratch);
	archive_read_free(a);
	return rc;
}

/* Bytes [off, off + n) of a member. */
static int read_member(struct torch *tc, const char *path,
		       const struct member *m, uint64_t off, void *buf,
		       size_t n, qf_err *err)
{
	if (off > m->usize || n > m->usize - off)
		return qf_err_set(err, "%s: %s: read past the member's end", path,
				  m->name);
	if (n == 0)
		return 0;
	if (m->method == 0)
		return qf_pread_all(tc->fd, buf, n, m->data + off, path, err);
	return read_archive(path, m, off, buf, n, err);
}

/* ------------------------------------------------------------ reading */

/* The element strides of the dense destination into dstr; returns the end
 * of the tensor's span in the storage, in bytes. */
static uint64_t span_end(const struct tinfo *ti, uint64_t *dstr)
{
	int nd = ti->ndim;
	uint64_t hi = ti->off;

	for (int d = nd - 1; d >= 0; d--) {
		dstr[d] = d == nd - 1 ? 1 : dstr[d + 1] * ti->size[d + 1];
		hi += (ti->size[d] - 1) * ti->stride[d];
	}
	return (hi + 1) * ti->es;
}

/* The dimensions by decreasing stride (a stable sort). */
static void stride_order(const struct tinfo *ti, int *perm)
{
	int nd = ti->ndim;

	for (int d = 0; d < nd; d++)
		perm[d] = d;
	for (int i = 1; i < nd; i++)
		for (int j = i; j > 0 &&
		     ti->stride[perm[j]] > ti->stride[perm[j - 1]]; j--) {
			int x = perm[j];
			perm[j] = perm[j - 1];
			perm[j - 1] = x;
		}
}

/* Step the index idx to the next element in the order perm, moving the
 * storage and destination positions along; 0 after the last element. */
static int next_element(const struct tinfo *ti, const int *perm,
			const uint64_t *dstr, uint64_t *idx, uint64_t *src,
			uint64_t *dpos)
{
	for (int k = ti->ndim - 1; k >= 0; k--) {
		int d = perm[k];
		if (++idx[d] < ti->size[d]) {
			*src += ti->stride[d];
			*dpos += dstr[d];
			return 1;
		}
		idx[d] = 0;
		*src -= (ti->size[d] - 1) * ti->stride[d];
		*dpos -= (ti->size[d] - 1) * dstr[d];
	}
	return 0;
}

/* Gather a strided tensor: visit its elements in the order of their
 * storage offsets (dimensions by decreasing stride), reading the storage
 * through a window of at most WINDOW bytes. */
static int gather(struct torch *tc, const char *path, const struct tinfo *ti,
		  unsigned char *dst, qf_err *err)
{
	const struct member *m = &tc->m[ti->m];
	int perm[QF_MAX_DIMS];
	uint64_t idx[QF_MAX_DIMS] = { 0 }, dstr[QF_MAX_DIMS];
	uint64_t hi, src, dpos, wlo = 0, whi = 0, cap;
	size_t es = ti->es;
	unsigned char *win;
	int rc = 0;

	if (ti->numel == 0)
		return 0;
	hi = span_end(ti, dstr);
	cap = hi - ti->off * es;
	if (m->method == 0 && cap > WINDOW)
		cap = WINDOW;
	win = malloc(cap);
	if (!win)
		return qf_err_set(err, "%s: out of memory", path);
	stride_order(ti, perm);
	src = ti->off;
	dpos = 0;
	do {
		uint64_t b = src * es;
		if (b < wlo || b + es > whi) {
			uint64_t n = hi - b < cap ? hi - b : cap;
			rc = read_member(tc, path, m, b, win, (size_t)n, err);
			if (rc < 0)
				break;
			wlo = b;
			whi = b + n;
		}
		memcpy(dst + dpos * es, win + (b - wlo), es);
	} while (next_element(ti, perm, dstr, idx, &src, &dpos));
	free(win);
	return rc;
}

static int torch_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	struct torch *tc = c->impl;
	const struct tinfo *ti = &tc->t[i];

	if (ti->contig)
		return read_member(tc, c->path, &tc->m[ti->m], ti->off * ti->es,
				   dst, (size_t)(ti->numel * ti->es), err);
	return gather(tc, c->path, ti, dst, err);
}

static void torch_close(qf_ckpt *c)
{
	struct torch *tc = c->impl;

	if (!tc)
		return;
	if (tc->fd >= 0)
		close(tc->fd);
	for (size_t i = 0; i < tc->nm; i++)
		free(tc->m[i].name);
	free(tc->m);
	free(tc->t);
	free(tc);
	c->impl = NULL;
}

static const struct qf_ckpt_backend torch_be = { "torch", torch_read,
						 torch_close };

/* ------------------------------------------------------------ loading */

/* The storage member of a tensor (its bytes located), which must hold
 * the storage's elements exactly; its name into mname. */
static struct member *storage_member(qf_ckpt *c, const char *archive,
				     const char *name, const qf_pstorage *st,
				     char *mname, size_t size, qf_err *err)
{
	struct torch *tc = c->impl;
	struct member *m;
	size_t es = qf_dtype_size(st->dtype);

	snprintf(mname, size, "%s/data/%s", archive, st->key);
	m = find(tc, mname);
	if (!m) {
		qf_err_set(err, "%s: tensor %s: storage member %s is missing",
			   c->path, name, mname);
		return NULL;
	}
	if (resolve(tc, m, c->path, err) < 0)
		return NULL;
	if (st->numel > UINT64_MAX / es || st->numel * es != m->usize) {
		qf_err_set(err, "%s: tensor %s: %s holds %" PRIu64 " bytes, not %"
			   PRIu64 " elements of %s", c->path, name, mname,
			   m->usize, st->numel, st->type);
		return NULL;
	}
	return m;
}

/* The shape of a tensor: sizes and strides, the number of elements
 * (UINT64_MAX when that overflows) and whether it is contiguous. */
static void tensor_shape(const qf_ptensor *pt, struct tinfo *ti)
{
	uint64_t expect = 1;

	ti->off = pt->offset;
	ti->ndim = pt->ndim;
	ti->numel = 1;
	ti->contig = 1;
	for (int d = pt->ndim - 1; d >= 0; d--) {
		ti->size[d] = pt->size[d];
		ti->stride[d] = pt->stride[d];
		if (pt->size[d] == 0)
			ti->numel = 0;
		else if (ti->numel)
			ti->numel = ti->numel <= UINT64_MAX / pt->size[d] ?
				ti->numel * pt->size[d] : UINT64_MAX;
		if (pt->size[d] > 1 && pt->stride[d] != expect)
			ti->contig = 0;
		expect = pt->size[d] <= UINT64_MAX / (expect ? expect : 1) ?
			expect * pt->size[d] : UINT64_MAX;
	}
	if (ti->numel == 0)
		ti->contig = 1;
}

/* Check that a tensor's elements lie within its storage; the storage
 * index of its last element into *lastp (the offset when empty). */
static int check_extent(qf_ckpt *c, const char *name, const char *mname,
			const qf_ptensor *pt, const qf_pstorage *st,
			uint64_t numel, uint64_t *lastp, qf_err *err)
{
	uint64_t last = pt->offset;

	*lastp = last;
	if (numel == 0) {
		if (pt->offset > st->numel)
			return qf_err_set(err, "%s: tensor %s: storage offset %"
					  PRIu64 " lies outside %s of %" PRIu64
					  " elements", c->path, name, pt->offset,
					  mname, st->numel);
		return 0;
	}
	/* the last element's index, within the storage */
	int bad = pt->offset >= st->numel;
	for (int d = 0; d < pt->ndim && !bad; d++) {
		uint64_t span = pt->size[d] - 1;
		if (span && pt->stride[d] > (st->numel - last) / span)
			bad = 1;
		else
			last += span * pt->stride[d];
	}
	if (bad || last >= st->numel)
		return qf_err_set(err, "%s: tensor %s: elements lie outside %s "
				  "of %" PRIu64 " elements", c->path, name,
				  mname, st->numel);
	*lastp = last;
	return 0;
}

/* A view with more elements than its storage holds from its offset
 * (stride 0, or strides that overlap: torch's expand) would make a few
 * stored bytes into any number: it is read only up to MAX_EXPANDED
 * bytes. */
static int check_expanded(qf_ckpt *c, const char *name, const char *mname,
			  const struct tinfo *ti, const qf_pstorage *st,
			  qf_err *err)
{
	uint64_t have = st->numel - ti->off;

	if (ti->numel <= have || (ti->numel <= MAX_EXPANDED / ti->es))
		return 0;
	if (ti->numel == UINT64_MAX)
		return qf_err_set(err, "%s: tensor %s: an expanded view of more "
				  "than 2^64 elements over %s of %" PRIu64
				  " elements", c->path, name, mname, st->numel);
	return qf_err_set(err, "%s: tensor %s: an expanded view of %" PRIu64
			  " elements over %s of %" PRIu64 " elements is "
			  "larger than the %u MiB qf materialises", c->path,
			  name, ti->numel, mname, st->numel,
			  MAX_EXPANDED >> 20);
}

/* Room in tc->t for one more tensor after the first n. */
static int grow_tinfo(struct torch *tc, size_t n, const char *path,
		      qf_err *err)
{
	if (n == tc->tcap) {
		size_t cap = tc->tcap ? tc->tcap * 2 : 64;
		struct tinfo *x = realloc(tc->t, cap * sizeof *x);
		if (!x)
			return qf_err_set(err, "%s: out of memory", path);
		tc->t = x;
		tc->tcap = cap;
	}
	return 0;
}

/* Check a tensor against its storage and add it to the list. */
static int add_tensor(qf_ckpt *c, const char *archive, const char *name,
		      const qf_ptensor *pt, qf_err *err)
{
	struct torch *tc = c->impl;
	const qf_pstorage *st = pt->storage->st;
	struct member *m;
	struct tinfo ti;
	qf_ckpt_tensor t;
	uint64_t last;
	char mname[4096 + QF_PK_MAX_KEY + 16];

	memset(&ti, 0, sizeof ti);
	m = storage_member(c, archive, name, st, mname, sizeof mname, err);
	if (!m)
		return -1;
	ti.m = (size_t)(m - tc->m);
	ti.es = qf_dtype_size(st->dtype);
	tensor_shape(pt, &ti);
	if (check_extent(c, name, mname, pt, st, ti.numel, &last, err) < 0 ||
	    check_expanded(c, name, mname, &ti, st, err) < 0)
		return -1;
	memset(&t, 0, sizeof t);
	t.name = (char *)name;
	t.dtype = st->dtype;
	t.ndim = pt->ndim;
	memcpy(t.dims, pt->size, sizeof t.dims);
	t.src_type = (char *)st->type;
	t.file = mname;
	t.offset = (m->method == 0 ? m->data : 0) + pt->offset * ti.es;
	t.nbytes = ti.numel == 0 ? 0 : ti.contig ? ti.numel * ti.es :
		(last - pt->offset + 1) * ti.es;
	if (grow_tinfo(tc, c->n, c->path, err) < 0 ||
	    qf_ckpt_add(c, &t, err) < 0)
		return -1;
	tc->t[c->n - 1] = ti;
	return 0;
}

static const char *article(int type)
{
	return type == QF_PV_NONE ? "" : type == QF_PV_INT ? "an " : "a ";
}

static int all_tensors(const qf_pv *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[2 * i + 1]->type != QF_PV_TENSOR)
			return 0;
	return 1;
}

static const qf_pv *dict_get(const qf_pv *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++) {
		const qf_pv *k = d->v[2 * i];
		if (k->type == QF_PV_STR && strlen(key) == k->len &&
		    memcmp(k->s, key, k->len) == 0)
			return d->v[2 * i + 1];
	}
	return NULL;
}

/* The state dict: the top-level dict when it maps names to tensors, else
 * its "state_dict" or "model" entry when that does. */
static const qf_pv *state_dict(const qf_pv *root, const char *where,
			       qf_err *err)
{
	static const char *const keys[] = { "state_dict", "model" };
	const qf_pv *d;

	if (root->type != QF_PV_DICT) {
		qf_err_set(err, "%s: not a state dict: the top-level object is "
			   "%s%s", where, article(root->type),
			   qf_pv_type_name(root->type));
		return NULL;
	}
	if (all_tensors(root))
		return root;
	for (size_t i = 0; i < 2; i++) {
		d = dict_get(root, keys[i]);
		if (d && d->type == QF_PV_DICT) {
			if (!all_tensors(d))
				root = d;	/* name the culprit below */
			else
				return d;
			break;
		}
	}
	for (size_t i = 0; i < root->n; i++) {
		const qf_pv *k = root->v[2 * i], *v = root->v[2 * i + 1];
		char kbuf[128];
		if (v->type == QF_PV_TENSOR)
			continue;
		if (k->type == QF_PV_STR)
			quote(kbuf, sizeof kbuf, k->s, k->len);
		else
			snprintf(kbuf, sizeof kbuf, "(%s%s)", article(k->type),
				 qf_pv_type_name(k->type));
		qf_err_set(err, "%s: not a state dict: entry %.110s is %s%s, not "
			   "a tensor", where, kbuf, article(v->type),
			   qf_pv_type_name(v->type));
		break;
	}
	return NULL;
}

/* A small member's whole content (data.pkl, byteorder). */
static unsigned char *slurp_member(struct torch *tc, const char *path,
				   struct member *m, uint64_t max,
				   qf_err *err)
{
	unsigned char *buf;

	if (resolve(tc, m, path, err) < 0)
		return NULL;
	if (m->usize > max) {
		qf_err_set(err, "%s: %s: larger than %" PRIu64 " bytes", path,
			   m->name, max);
		return NULL;
	}
	buf = malloc(m->usize ? m->usize : 1);
	if (!buf) {
		qf_err_set(err, "%s: out of memory", path);
		return NULL;
	}
	if (read_member(tc, path, m, 0, buf, (size_t)m->usize, err) < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int check_byteorder(struct torch *tc, const char *path,
			   const char *archive, qf_err *err)
{
	char name[4096 + 16];
	struct member *m;
	unsigned char *b;
	size_t n;
	int rc = 0;

	snprintf(name, sizeof name, "%s/byteorder", archive);
	m = find(tc, name);
	if (!m)
		return 0;	/* before torch 1.10: little-endian */
	if (!(b = slurp_member(tc, path, m, 64, err)))
		return -1;
	n = (size_t)m->usize;
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	if (n == 3 && memcmp(b, "big", 3) == 0)
		rc = qf_err_set(err, "%s: big-endian checkpoint (%s says \"big\"); "
				"qf reads little-endian ones only", path, name);
	else if (n != 6 || memcmp(b, "little", 6) != 0)
		rc = qf_err_set(err, "%s: %s is neither \"little\" nor \"big\"",
				path, name);
	free(b);
	return rc;
}

/* The ARCHIVE/data.pkl member, whose ARCHIVE names the archive folder;
 * that name into archive. */
static int find_pkl(struct torch *tc, const char *path, struct member **pklp,
		    char *archive, size_t size, qf_err *err)
{
	struct member *pkl = NULL;

	for (size_t i = 0; i < tc->nm; i++) {
		const char *s = strchr(tc->m[i].name, '/');
		if (!s || strcmp(s, "/data.pkl") != 0)
			continue;
		if (pkl)
			return qf_err_set(err, "%s: two data.pkl members: %s and "
					  "%s", path, pkl->name, tc->m[i].name);
		pkl = &tc->m[i];
	}
	if (!pkl)
		return qf_err_set(err, "%s: no ARCHIVE/data.pkl member: not a "
				  "torch.save checkpoint", path);
	if (strlen(pkl->name) - 9 >= size)
		return qf_err_set(err, "%s: archive name too long", path);
	memcpy(archive, pkl->name, strlen(pkl->name) - 9);
	archive[strlen(pkl->name) - 9] = 0;
	*pklp = pkl;
	return 0;
}

/* Every entry of the state dict sd, named by a string key. */
static int add_tensors(qf_ckpt *c, const qf_pv *sd, const char *archive,
		       const char *where, qf_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < sd->n && rc == 0; i++) {
		const qf_pv *k = sd->v[2 * i];
		char q[128];
		if (k->type != QF_PV_STR)
			rc = qf_err_set(err, "%s: state dict key %zu is not a "
					"name", where, i);
		else if (has_control(k->s, k->len)) {
			quote(q, sizeof q, k->s, k->len);
			rc = qf_err_set(err, "%s: state dict key %zu (%s) holds a "
					"control character", where, i, q);
		} else
			rc = add_tensor(c, archive, k->s, sd->v[2 * i + 1]->t, err);
	}
	return rc;
}

/* Unpickle data.pkl and add the tensors of its state dict. */
static int load_pickle(qf_ckpt *c, const char *path, struct member *pkl,
		       const char *archive, qf_err *err)
{
	struct torch *tc = c->impl;
	char where[4096 + 64];
	unsigned char *buf;
	const qf_pv *sd;
	qf_pk *pk;
	int rc;

	if (!(buf = slurp_member(tc, path, pkl, MAX_PKL, err)))
		return -1;
	snprintf(where, sizeof where, "%s: %s", path, pkl->name);
	pk = qf_pickle_load(buf, (size_t)pkl->usize, where, err);
	free(buf);
	if (!pk)
		return -1;
	sd = state_dict(qf_pickle_root(pk), where, err);
	rc = sd ? add_tensors(c, sd, archive, where, err) : -1;
	qf_pickle_free(pk);
	return rc;
}

int qf_torch_load(qf_ckpt *c, const char *path, qf_err *err)
{
	struct torch *tc = calloc(1, sizeof *tc);
	struct member *pkl = NULL;
	char archive[4096];
	struct stat st;

	if (!tc)
		return qf_err_set(err, "%s: out of memory", path);
	tc->fd = -1;
	c->impl = tc;
	c->be = &torch_be;
	tc->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (tc->fd < 0)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	if (fstat(tc->fd, &st) < 0)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	tc->fsize = (uint64_t)st.st_size;
	if (read_cd(tc, path, err) < 0 ||
	    find_pkl(tc, path, &pkl, archive, sizeof archive, err) < 0 ||
	    check_byteorder(tc, path, archive, err) < 0)
		return -1;
	return load_pickle(c, path, pkl, archive, err);
}
