/*
 * Checked allocation, the settable clock, the operator's name and random ids:
 * small things every layer needs and none should write twice.
 */
#define _GNU_SOURCE
#include "common/util.h"
#include "common/buf.h"
#include "common/error.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/file.h>
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

	if (!alloc) { /* no kept capacity: exactly n, the last (new) element zeroed */
		if (n == 0)
			return;
		if (n > SIZE_MAX / elem)
			oom(SIZE_MAX);
		*arr = xrealloc(*arr, n * elem);
		memset((char *)*arr + (n - 1) * elem, 0, elem);
		return;
	}
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

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), valid for every year cmsctl accepts. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int cms_parse_time(int64_t *out, const char *s)
{
	int y, mo, d, h, mi, se;

	/* Exactly YYYY-MM-DDTHH:MM:SSZ: no space, no junk, a real date. */
	if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + se;
	return 0;
}

void cms_format_time(char out[32], int64_t t)
{
	time_t tt;
	struct tm tm;

	/* Out of what the format can say: the nearest end, never garbage. */
	if (t < 0)
		t = 0;
	if (t > CMS_TIME_MAX)
		t = CMS_TIME_MAX;
	tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

int cms_now(int64_t *out)
{
	const char *s = getenv("CMSCTL_NOW");
	int64_t v = 0;
	const char *p;

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
	/* Epoch seconds: digits only, within what RFC 3339 can write. */
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9' || p - s >= 12)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v > CMS_TIME_MAX)
		return -1;
	*out = v;
	return 0;
}

int cms_now_ms(int64_t *out)
{
	const char *s = getenv("CMSCTL_NOW");
	struct timespec ts;
	int64_t sec;
	int rc;

	if (s && *s) {
		rc = cms_now(&sec);
		if (rc != -2) {
			*out = sec * 1000;
			return rc;
		}
	} else {
		rc = 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	*out = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return rc;
}

void cms_format_time_ms(char out[32], int64_t t_ms)
{
	int ms;
	size_t len;

	if (t_ms < 0)
		t_ms = 0;
	if (t_ms > CMS_TIME_MAX * 1000 + 999)
		t_ms = CMS_TIME_MAX * 1000 + 999;
	ms = (int)(t_ms % 1000);
	cms_format_time(out, t_ms / 1000);
	/* "...:SSZ" (20 characters) becomes "...:SS.mmmZ" (24). */
	len = strlen(out);
	if (len < 1 || len + 4 >= 32)
		return;
	out[len - 1] = '.';
	out[len] = (char)('0' + ms / 100);
	out[len + 1] = (char)('0' + ms / 10 % 10);
	out[len + 2] = (char)('0' + ms % 10);
	out[len + 3] = 'Z';
	out[len + 4] = '\0';
}

int cms_parse_time_ms(int64_t *out, const char *s)
{
	char whole[32];
	size_t len;
	int64_t sec;
	int i;

	if (!s)
		return -1;
	len = strlen(s);
	if (len == 24 && s[19] == '.' && s[23] == 'Z') {
		for (i = 20; i < 23; i++)
			if (s[i] < '0' || s[i] > '9')
				return -1;
		memcpy(whole, s, 19);
		whole[19] = 'Z';
		whole[20] = '\0';
		if (cms_parse_time(&sec, whole) < 0)
			return -1;
		*out = sec * 1000 + (s[20] - '0') * 100 + (s[21] - '0') * 10 + (s[22] - '0');
		return 0;
	}
	if (cms_parse_time(&sec, s) < 0)
		return -1;
	*out = sec * 1000;
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

void cms_lock_pause(int64_t waited_ms)
{
	int64_t us = waited_ms * 1000 / 8;
	unsigned char r = 0;
	struct timespec ts;

	if (us < 500)
		us = 500;
	if (us > 5000)
		us = 5000;
	cms_random_bytes(&r, 1);
	us += us * r / 512; /* + 0 to 50% */
	ts.tv_sec = 0;
	ts.tv_nsec = (long)us * 1000L;
	nanosleep(&ts, NULL);
}

int cms_flock_wait(int fd, int64_t wait_ms)
{
	int64_t start = cms_monotonic_ms();

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return CMS_ERROR;
		if (cms_monotonic_ms() - start >= wait_ms)
			return CMS_ELOCKED;
		/* Often at first (a holder keeps it a few ms). */
		cms_lock_pause(cms_monotonic_ms() - start);
	}
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

void cms_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

void cms_free_secret(char *s)
{
	if (!s)
		return;
	cms_wipe(s, strlen(s));
	free(s);
}
