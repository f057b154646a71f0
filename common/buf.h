/*
 * A growable string buffer.
 *
 * Invariants, after buf_init() and after every other call:
 *   - ptr is never NULL: it points at a NUL-terminated string (possibly the
 *     shared empty string while alloc == 0, which must not be written to);
 *   - len is the length of that string, ptr[len] == '\0';
 *   - alloc == 0, or alloc > len and ptr is owned by the buffer.
 * The buffer may hold NUL bytes before len (binary data); ptr[len] is still
 * NUL.  Allocation failure aborts the process with a message: there is no
 * half-appended state to handle.
 */
#ifndef CMS_COMMON_BUF_H
#define CMS_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *ptr;    /* NUL-terminated content, never NULL */
	size_t len;   /* bytes used, not counting the terminating NUL */
	size_t alloc; /* bytes allocated, 0 while ptr is the shared empty string */
};

extern char buf_empty_[];
#define BUF_INIT { buf_empty_, 0, 0 }

void buf_init(struct buf *b);
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_setlen(struct buf *b, size_t len);  /* len <= b->len */
void buf_reset(struct buf *b);               /* len = 0, keeps memory */
/* Hands the string to the caller (who frees it) and re-initialises b. */
char *buf_detach(struct buf *b, size_t *len_out);
void buf_free(struct buf *b);

#endif
