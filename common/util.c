/*
 * Checked allocation, the settable clock, the operator's name and random ids:
 * small things every layer needs and none should write twice.
 */
#define _GNU_SOURCE
#include "common/util.h"
#include "common/buf.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
	fprintf(stderr, "cmsctl: fatal: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b, NULL);
}

void array_grow(void *arr_ptr, size_t *alloc, size_t n, size_t elem)
{
	void **arr = arr_ptr;
	size_t want;

	if (n <= *alloc)
		return;
	want = *alloc ? *alloc * 2 : 8;
	if (want < n)
		want = n;
	if (want > SIZE_MAX / elem)
		oom(SIZE_MAX);
	*arr = xrealloc(*arr, want * elem);
	memset((char *)*arr + *alloc * elem, 0, (want - *alloc) * elem);
	*alloc = want;
}

int cms_parse_time(int64_t *out, const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

void cms_format_time(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cms_now(int64_t *out)
{
	const char *s = getenv("CMSCTL_NOW");
	char *end;
	long long v;

	if (!s || !*s) {
		*out = (int64_t)time(NULL);
		return 0;
	}
#ifndef CMSCTL_TEST_CLOCK
	/* Only a test build lets the environment move the clock: in
	 * production it would backdate plans and their expiry. */
	*out = (int64_t)time(NULL);
	return -2;
#endif
	if (cms_parse_time(out, s) == 0)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

int64_t cms_real_now(void)
{
	return (int64_t)time(NULL);
}

int64_t cms_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *cms_operator(void)
{
	const char *env = getenv("CMSCTL_OPERATOR");
	char host[256] = "localhost";
	struct passwd *pw;
	const char *user;

	if (env && *env)
		return xstrdup(env);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	pw = getpwuid(geteuid());
	user = pw ? pw->pw_name : getenv("USER");
	return xasprintf("%s@%s", user ? user : "unknown", host);
}

int cms_random_bytes(void *out, size_t n)
{
	unsigned char *p = out;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

char *cms_random_hex(size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	char *s;
	size_t i;

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	if (cms_random_bytes(raw, nbytes) < 0)
		return NULL;
	s = xmalloc(nbytes * 2 + 1);
	for (i = 0; i < nbytes; i++) {
		s[2 * i] = hex[raw[i] >> 4];
		s[2 * i + 1] = hex[raw[i] & 15];
	}
	s[2 * nbytes] = '\0';
	return s;
}
