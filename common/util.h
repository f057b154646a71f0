/*
 * Small helpers shared by every layer: checked allocation, string lists.
 */
#ifndef CMS_COMMON_UTIL_H
#define CMS_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Allocation that aborts with a message on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);           /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Grows *arr (of *alloc elements of size elem) to hold at least n. */
void array_grow(void *arr_ptr, size_t *alloc, size_t n, size_t elem);
#define ARRAY_PUSH(arr, len, alloc) \
	(array_grow(&(arr), &(alloc), (len) + 1, sizeof(*(arr))), &(arr)[(len)++])

/* Wall-clock "now" in seconds since the epoch: CMSCTL_NOW (RFC 3339 UTC,
 * e.g. 2026-01-01T00:00:00Z, or integer seconds) when set, so tests can fix
 * the clock; otherwise time(NULL).  Returns 0, -1 when CMSCTL_NOW is
 * malformed, or -2 when it is set in a build without CMSCTL_TEST_CLOCK
 * (only test builds honour it; *out is then the real time). */
int cms_now(int64_t *out);
/* The real clock, whatever CMSCTL_NOW says: for the times the record
 * keeps of what people did (approvals, history commits of plans). */
int64_t cms_real_now(void);

/* Formats t as RFC 3339 UTC, "2026-01-01T00:00:00Z"; out holds >= 21 bytes. */
void cms_format_time(char out[32], int64_t t);
/* Parses the same format; returns 0 or -1. */
int cms_parse_time(int64_t *out, const char *s);

/* Monotonic milliseconds, for durations. */
int64_t cms_monotonic_ms(void);

/* The operator: CMSCTL_OPERATOR when set, else "user@host". Caller frees. */
char *cms_operator(void);

/* Fills out with n random bytes from getrandom(2); returns 0 or -1. */
int cms_random_bytes(void *out, size_t n);
/* A random lowercase hex id of 2*nbytes characters; caller frees. */
char *cms_random_hex(size_t nbytes);

#endif
