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
/* Overwrites n bytes with zeros in a way the compiler keeps (a secret
 * that is about to be freed), and frees a secret string after wiping it
 * (NULL: nothing). */
void cms_wipe(void *p, size_t n);
void cms_free_secret(char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The one way arrays grow.  array_grow() makes *arr (of *alloc elements
 * of size elem) hold at least n, doubling, the new elements zeroed; with
 * alloc NULL the array has no kept capacity (exactly its length, however it
 * was allocated) and is made exactly n long, its last element zeroed.  ARRAY_PUSH(arr, len, alloc)
 * appends a slot and returns its address (len incremented); ARRAY_APPEND
 * does the same for an array without a capacity field (a short list that
 * other code may also have allocated to its exact length). */
void array_grow(void *arr_ptr, size_t *alloc, size_t n, size_t elem);
#define ARRAY_PUSH(arr, len, alloc) \
	(array_grow(&(arr), &(alloc), (len) + 1, sizeof(*(arr))), &(arr)[(len)++])
#define ARRAY_APPEND(arr, len) \
	(array_grow(&(arr), NULL, (len) + 1, sizeof(*(arr))), &(arr)[(len)++])

/* The last second RFC 3339's four-digit year can write,
 * 9999-12-31T23:59:59Z: the end of the range of every cmsctl time. */
#define CMS_TIME_MAX INT64_C(253402300799)

/* Wall-clock "now" in seconds since the epoch: CMSCTL_NOW when set, so
 * tests can fix the clock; otherwise time(NULL).  CMSCTL_NOW is exactly
 * YYYY-MM-DDTHH:MM:SSZ (a real calendar date, from 1970) or decimal epoch
 * seconds (digits only, at most CMS_TIME_MAX).  Returns 0, -1 when
 * CMSCTL_NOW is anything else, or -2 when it is set in a build without
 * CMSCTL_TEST_CLOCK (only test builds honour it; *out is then the real
 * time). */
int cms_now(int64_t *out);
/* The real clock, whatever CMSCTL_NOW says: for the times the record
 * keeps of what people did (approvals, history commits of plans). */
int64_t cms_real_now(void);

/* Formats t as RFC 3339 UTC, "2026-01-01T00:00:00Z"; out holds >= 21 bytes.
 * A t outside 0..CMS_TIME_MAX is written as the nearest end of that range. */
void cms_format_time(char out[32], int64_t t);
/* Parses exactly that format (a real date, 1970 or later, no leading or
 * trailing characters); returns 0 or -1. */
int cms_parse_time(int64_t *out, const char *s);

/* Wall-clock "now" in milliseconds since the epoch, for the times of runs
 * (reports and the journal): CMSCTL_NOW's second (.000) when set, under
 * the same rules and return values as cms_now; otherwise CLOCK_REALTIME. */
int cms_now_ms(int64_t *out);
/* Formats t_ms as RFC 3339 UTC with milliseconds,
 * "2026-01-01T00:00:00.123Z"; out holds >= 25 bytes.  Clamped like
 * cms_format_time. */
void cms_format_time_ms(char out[32], int64_t t_ms);
/* Parses cms_format_time_ms's format, or cms_format_time's (whole
 * seconds, .000), into milliseconds; returns 0 or -1. */
int cms_parse_time_ms(int64_t *out, const char *s);

/* Monotonic milliseconds, for durations. */
int64_t cms_monotonic_ms(void);

/* One pause of a wait for a lock another process holds, having waited
 * waited_ms so far: an eighth of that, at least 0.5 ms and at most 5 ms,
 * jittered by up to half, so that a short wait looks often and many
 * waiters do not all wake every millisecond (nor in step). */
void cms_lock_pause(int64_t waited_ms);
/* Takes an exclusive flock(2) on fd, waiting up to wait_ms with
 * cms_lock_pause between looks: 0, CMS_ELOCKED when another process kept
 * it that long, or CMS_ERROR with errno set. */
int cms_flock_wait(int fd, int64_t wait_ms);

/* The operator: CMSCTL_OPERATOR when set, else "user@host". Caller frees. */
char *cms_operator(void);

/* Fills out with n random bytes from getrandom(2); returns 0 or -1. */
int cms_random_bytes(void *out, size_t n);
/* A random lowercase hex id of 2*nbytes characters; caller frees. */
char *cms_random_hex(size_t nbytes);

#endif
