/*
 * The growable string buffer; invariants are in buf.h.
 */
#include "common/buf.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char buf_empty_[1];

void buf_init(struct buf *b)
{
	b->ptr = buf_empty_;
	b->len = 0;
	b->alloc = 0;
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t want;

	if (extra > SIZE_MAX - b->len - 1) {
		fputs("cmsctl: fatal: buffer size overflow\n", stderr);
		abort();
	}
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return;
	if (b->alloc == 0) {
		size_t n = want < 64 ? 64 : want;
		b->ptr = xmalloc(n);
		b->ptr[0] = '\0';
		b->alloc = n;
		return;
	}
	{
		size_t n = b->alloc * 2;
		if (n < want)
			n = want;
		b->ptr = xrealloc(b->ptr, n);
		b->alloc = n;
	}
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	buf_grow(b, len);
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->ptr + b->len, b->alloc - b->len, fmt, cp);
	va_end(cp);
	if (n < 0) {
		fputs("cmsctl: fatal: bad format string\n", stderr);
		abort();
	}
	if ((size_t)n >= b->alloc - b->len) {
		buf_grow(b, (size_t)n);
		va_copy(cp, ap);
		n = vsnprintf(b->ptr + b->len, b->alloc - b->len, fmt, cp);
		va_end(cp);
	}
	b->len += (size_t)n;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void buf_setlen(struct buf *b, size_t len)
{
	if (len > b->len)
		abort();
	if (b->alloc == 0)
		return;
	b->len = len;
	b->ptr[len] = '\0';
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

char *buf_detach(struct buf *b, size_t *len_out)
{
	char *s;

	if (len_out)
		*len_out = b->len;
	s = b->alloc ? b->ptr : xstrdup("");
	buf_init(b);
	return s;
}

void buf_free(struct buf *b)
{
	if (b->alloc)
		free(b->ptr);
	buf_init(b);
}
