/*
 * Loading cms.yaml into the model, strictly.
 *
 * libyaml's document API gives a tree of nodes that keep their positions; a
 * walk shaped like the format (version, stores, servers, location, policy,
 * publish) turns it into the model and records every problem as a
 * diagnostic, so that one run reports all of them.  The model is handed out
 * only when there is none.
 *
 * Decisions worth knowing (docs/config.md is the user-facing reference):
 *  - Scalars are typed as YAML 1.1 readers (PyYAML, and so the JSON Schema
 *    check in the tests) type them: where a string is expected, a plain
 *    `123`, `yes` or empty value is refused with a hint to quote it, rather
 *    than silently read as text.  Booleans are only `true` and `false`.
 *  - Limits tell a fleet from an attack (docs/config.md, "Limits"): before
 *    libyaml builds the document, a pass over its events refuses a file of
 *    more than MAX_NODES nodes or nested deeper than MAX_DEPTH, so that the
 *    document in memory is bounded by what was written.  Aliases are
 *    allowed, but the walk counts every node it reaches again through an
 *    alias; past MAX_ALIAS_NODES it stops (the "billion laughs" defence; it
 *    also ends cycles).  Plain nodes, however many stores they describe,
 *    never count against the alias limit.
 *  - The walk only descends where the format expects something: the value
 *    of an unknown key is never read, only reported.
 *  - No secret reaches a message: values of password_env, password_file and
 *    connection strings are never quoted, and a literal password is named
 *    by its key only.
 *  - Diagnostics are sorted by position before they are returned.
 */
#include "planner/config.h"
#include "planner/engines.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ldap.h>

#include "common/lib_ldap.h"
#include <yaml.h>

#define MAX_FILE_BYTES (64 << 20)      /* 64 MiB: about 250,000 stores of two servers */
#define MAX_FILE_TEXT "64 MiB"
#define TOO_LARGE_HINT "a config is read up to " MAX_FILE_TEXT " (about 250,000 stores of " \
	"two servers): split the stores over several configs"
#define MAX_NODES 2000000               /* YAML nodes written in the file (about 70,000 stores) */
#define MAX_DEPTH 64                    /* nesting of collections; the format needs 8 */
#define MAX_ALIAS_NODES 1000000         /* nodes the walk reaches again through aliases */
#define MAX_ALIAS_BYTES (64 << 20)      /* text of the scalars it reaches again: the file limit */
#define MAX_ANCHORS 20000               /* anchors (&name): libyaml looks each up among all */
#define MAX_DIAGS 1000                  /* diagnostics reported; the rest are counted */
#define MAX_PASSWORD_BYTES 4096         /* a password file larger than this is a mistake */
#define MAX_DURATION_MS (365LL * 86400 * 1000) /* keeps seconds within 32 bits downstream */
#define QUOTE_MAX 64                    /* bytes of offending text shown in a message */
#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

/* ---- small text helpers ---------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static char to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (to_lower(*a) != to_lower(*b))
			return false;
	return *a == *b;
}

/* Offending text, quoted for a message: at most QUOTE_MAX bytes (cut on a
 * UTF-8 boundary, then "..."), control characters escaped so that a message
 * stays on one line and cannot drive a terminal. */
struct quoted {
	char s[QUOTE_MAX * 4 + 24]; /* quotes, "..." and room for a short prefix */
};

static struct quoted quote_n(const char *s, size_t len)
{
	struct quoted q;
	size_t i, o = 0, n = len;
	bool cut = false;

	if (n > QUOTE_MAX) {
		n = QUOTE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	q.s[o++] = '\'';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			q.s[o++] = '\\';
			q.s[o++] = 'n';
		} else if (c == '\t') {
			q.s[o++] = '\\';
			q.s[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			static const char hex[] = "0123456789abcdef";

			q.s[o++] = '\\';
			q.s[o++] = 'x';
			q.s[o++] = hex[c >> 4];
			q.s[o++] = hex[c & 15];
		} else {
			q.s[o++] = (char)c;
		}
	}
	if (cut) {
		memcpy(q.s + o, "...", 3);
		o += 3;
	}
	q.s[o++] = '\'';
	q.s[o] = '\0';
	return q;
}

/* The quoted text as a char * usable within one full expression (C11: a
 * struct returned by value lives until the end of that expression). */
#define Q(str) (quote_n((str), strlen(str)).s)
#define QN(node) (quote_n(scalar_text(node), (node)->data.scalar.length).s)

/* ---- public checks ----------------------------------------------------- */

int config_is_identifier(const char *s)
{
	size_t i;

	if (!s || !(is_alpha(s[0]) || s[0] == '_'))
		return 0;
	for (i = 1; s[i]; i++)
		if (!(is_alnum(s[i]) || s[i] == '_') || i >= 128)
			return 0;
	return 1;
}

int config_is_name(const char *s)
{
	size_t i;

	if (!s || !is_alnum(s[0]))
		return 0;
	for (i = 1; s[i]; i++)
		if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-') || i >= 63)
			return 0;
	return 1;
}

/* A host name: dot-separated labels of letters, digits and '-' (not at
 * either end of a label), each at most 63 bytes, at most 253 in all, with an
 * optional final dot.  IPv4 addresses fit too. */
static bool is_hostname(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > 253 || s[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return s[len - 1] != '-';
}

/* An ODBC data source name: what odbc.ini can hold, and nothing that could
 * smuggle attributes into the "DSN=..." string it becomes. */
static bool is_dsn(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= 128 && !strpbrk(s, "[]{}(),;?*=!@\\") &&
	       s[0] != ' ' && s[len - 1] != ' ';
}

/* A folder as SQL Server sees it: a share (\\host\share...), a drive
 * path (D:\...) or, for SQL Server on Linux, an absolute path; it ends up
 * in N'...' literals, so no quotes, and no wildcards. */
static bool is_log_backup_folder(const char *s)
{
	size_t len = strlen(s);
	bool unc = len > 2 && s[0] == '\\' && s[1] == '\\' && s[2] != '\\';
	bool drive = len > 2 && ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) &&
		     s[1] == ':' && s[2] == '\\';

	return len <= 200 && (unc || drive || s[0] == '/') && !strpbrk(s, "'\"*?<>|");
}

size_t config_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d;
	size_t *prev2, *prev, *cur, *tmp;

	/* Optimal string alignment: insert, delete, substitute, and swap two
	 * neighbours, each 1.  Three rows of lb + 1. */
	prev2 = xcalloc(lb + 1, sizeof(size_t));
	prev = xcalloc(lb + 1, sizeof(size_t));
	cur = xcalloc(lb + 1, sizeof(size_t));
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;

			d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (prev[j - 1] + cost < d)
				d = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	d = prev[lb];
	free(prev2);
	free(prev);
	free(cur);
	return d;
}

const char *config_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
	size_t len = strlen(word), limit = len / 3, best_d = (size_t)-1, i;
	const char *best = NULL;

	/* Within a third of the word's length (at least 1): close enough to be
	 * a slip, far enough apart not to suggest nonsense. */
	if (limit < 1)
		limit = 1;
	for (i = 0; i < n; i++) {
		size_t lc = strlen(candidates[i]), d;

		if ((lc > len ? lc - len : len - lc) > limit)
			continue;
		d = config_edit_distance(word, candidates[i]);
		if (d <= limit && d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best;
}

int config_parse_duration_ms(int64_t *out, const char *s)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
	};
	int64_t total = 0;
	int last = -1;
	const char *p = s;

	/* Groups of digits and a unit, largest unit first, each unit once. */
	if (!s || !*s)
		return -1;
	while (*p) {
		int64_t n = 0;
		size_t ulen = 0, u;
		int found = -1;

		if (!is_digit(*p))
			return -1;
		for (; is_digit(*p); p++) {
			if (n > (INT64_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*p - '0');
		}
		while (is_alpha(p[ulen]))
			ulen++;
		for (u = 0; u < ARRAY_SIZE(units); u++)
			if (strlen(units[u].unit) == ulen && !strncmp(p, units[u].unit, ulen))
				found = (int)u;
		if (found <= last)
			return -1;
		last = found;
		p += ulen;
		if (n > (INT64_MAX - total) / units[found].ms)
			return -1;
		total += n * units[found].ms;
	}
	*out = total;
	return 0;
}

int config_parse_size(uint64_t *out, const char *s)
{
	static const struct {
		const char *unit;
		uint64_t bytes;
	} units[] = {
		{ "", 1 }, { "B", 1 },
		{ "kB", 1000ULL }, { "MB", 1000000ULL }, { "GB", 1000000000ULL },
		{ "TB", 1000000000000ULL },
		{ "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 }, { "GiB", 1ULL << 30 },
		{ "TiB", 1ULL << 40 },
	};
	uint64_t n = 0;
	size_t u;

	if (!s || !is_digit(*s))
		return -1;
	for (; is_digit(*s); s++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	for (u = 0; u < ARRAY_SIZE(units); u++) {
		if (strcmp(s, units[u].unit) != 0)
			continue;
		/* Sizes travel as JSON integers: keep them within int64. */
		if (n > (uint64_t)INT64_MAX / units[u].bytes)
			return -1;
		*out = n * units[u].bytes;
		return 0;
	}
	return -1;
}

/* ---- diagnostics ------------------------------------------------------- */

void diag_list_free(struct diag_list *dl)
{
	size_t i;

	if (!dl)
		return;
	for (i = 0; i < dl->len; i++) {
		free(dl->items[i].file);
		free(dl->items[i].message);
		free(dl->items[i].hint);
	}
	free(dl->items);
	dl->items = NULL;
	dl->len = dl->alloc = 0;
}

/* Names already defined (stores of the config, servers of a store), so
 * that a duplicate is found in constant time: a fleet of 10,000 stores or a
 * store of 10,000 servers is checked in linear time.  Open addressing; the
 * keys are borrowed from the model, whose arrays never move while loading. */
struct name_index {
	const char **keys;        /* cap slots, NULL when free */
	size_t *vals;             /* the index of keys[i] in its array */
	size_t cap;               /* a power of two, at least twice the names */
};

static void name_index_init(struct name_index *x, size_t n)
{
	x->cap = 16;
	while (x->cap < 2 * n)
		x->cap *= 2;
	x->keys = xcalloc(x->cap, sizeof(*x->keys));
	x->vals = xcalloc(x->cap, sizeof(*x->vals));
}

static void name_index_free(struct name_index *x)
{
	free(x->keys);
	free(x->vals);
	memset(x, 0, sizeof(*x));
}

/* Adds key with val; when key is already there, returns false with the
 * value it was added with in *first. */
static bool name_index_add(struct name_index *x, const char *key, size_t val, size_t *first)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	const unsigned char *p;
	size_t i;

	for (p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (i = (size_t)h & (x->cap - 1); x->keys[i]; i = (i + 1) & (x->cap - 1)) {
		if (!strcmp(x->keys[i], key)) {
			*first = x->vals[i];
			return false;
		}
	}
	x->keys[i] = key;
	x->vals[i] = val;
	return true;
}

struct loader {
	const char *file;         /* name in diagnostics: the path as given */
	const char *dir;          /* folder for relative paths */
	yaml_document_t *doc;
	struct diag_list *diags;
	unsigned char *seen;      /* per node (index - 1): already reached once */
	size_t nseen;             /* nodes in the document: the length of seen */
	size_t expanded;          /* nodes reached again, through an alias */
	size_t expanded_bytes;    /* the text of the scalars among them */
	bool stopped;             /* a limit passed: walk no further */
	size_t first_diag;        /* diags->len when the load began */
	size_t more_diags;        /* diagnostics past MAX_DIAGS, not kept */
	struct diag spare;        /* what such a diagnostic is written into */
	struct name_index stores; /* store names defined so far */
	struct name_index servers; /* server names of the store being read */
};

static struct diag *vreport_at(struct diag_list *dl, const char *file, int line, int column,
			       const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static struct diag *vreport_at(struct diag_list *dl, const char *file, int line, int column,
			       const char *fmt, va_list ap)
{
	struct diag *d = ARRAY_PUSH(dl->items, dl->len, dl->alloc);
	struct buf b = BUF_INIT;

	buf_vaddf(&b, fmt, ap);
	d->file = xstrdup(file);
	d->line = line;
	d->column = column;
	d->message = buf_detach(&b, NULL);
	d->hint = NULL;
	return d;
}

/* A diagnostic about the file as a whole (it cannot be read): line 0. */
static struct diag *report_file(struct diag_list *dl, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct diag *report_file(struct diag_list *dl, const char *file, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	va_start(ap, fmt);
	d = vreport_at(dl, file, 0, 0, fmt, ap);
	va_end(ap);
	return d;
}

static struct diag *report_at(struct loader *ld, int line, int column, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Past MAX_DIAGS diagnostics the rest are only counted (a small file can
 * hold a million errors): the walk stops, and the diagnostic goes to a
 * spare that hint() may still write to.  NULL while under the limit. */
static struct diag *past_limit(struct loader *ld)
{
	if (ld->diags->len - ld->first_diag < MAX_DIAGS)
		return NULL;
	ld->more_diags++;
	ld->stopped = true;
	free(ld->spare.message);
	free(ld->spare.hint);
	memset(&ld->spare, 0, sizeof(ld->spare));
	return &ld->spare;
}

static struct diag *report_at(struct loader *ld, int line, int column, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	if ((d = past_limit(ld)) != NULL)
		return d;
	va_start(ap, fmt);
	d = vreport_at(ld->diags, ld->file, line, column, fmt, ap);
	va_end(ap);
	return d;
}

/* A diagnostic at a node's start (libyaml counts from 0). */
static struct diag *report(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct diag *report(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	if ((d = past_limit(ld)) != NULL)
		return d;
	va_start(ap, fmt);
	d = vreport_at(ld->diags, ld->file, (int)n->start_mark.line + 1,
		       (int)n->start_mark.column + 1, fmt, ap);
	va_end(ap);
	return d;
}

static void hint(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hint(struct diag *d, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(d->hint);
	d->hint = buf_detach(&b, NULL);
}

/* "did you mean 'x'?" when a candidate is close, else the whole list. */
static void hint_choices(struct diag *d, const char *word, const char *const *candidates,
			 size_t n, const char *list_intro)
{
	const char *dym = config_did_you_mean(word, candidates, n);
	struct buf b = BUF_INIT;
	size_t i;

	if (dym) {
		hint(d, "did you mean '%s'?", dym);
		return;
	}
	buf_adds(&b, list_intro);
	for (i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? ", " : " ", candidates[i]);
	free(d->hint);
	d->hint = buf_detach(&b, NULL);
}

static struct pos pos_of(const yaml_node_t *n)
{
	struct pos p = { (int)n->start_mark.line + 1, (int)n->start_mark.column + 1 };

	return p;
}

/* ---- scalars ----------------------------------------------------------- */

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

enum scalar_type {
	SC_STRING,
	SC_NULL,
	SC_BOOL,
	SC_INT,
	SC_FLOAT,
	SC_DATE,
};

/* [-+]? then digits (and '_') in the given base; at least one digit. */
static bool digits_in(const char *p, int base)
{
	bool any = false;

	for (; *p; p++) {
		char c = to_lower(*p);

		if (c == '_')
			continue;
		if (!((base == 2 && (c == '0' || c == '1')) || (base == 8 && c >= '0' && c <= '7') ||
		      (base == 10 && is_digit(c)) ||
		      (base == 16 && (is_digit(c) || (c >= 'a' && c <= 'f')))))
			return false;
		any = true;
	}
	return any;
}

static bool looks_int(const char *s)
{
	const char *p = s + (*s == '-' || *s == '+');
	size_t i;

	if (p[0] == '0' && p[1] == 'b')
		return digits_in(p + 2, 2);
	if (p[0] == '0' && p[1] == 'x')
		return digits_in(p + 2, 16);
	if (p[0] == '0' && p[1])
		return digits_in(p + 1, 8);
	if (!is_digit(p[0]))
		return false;
	/* decimal, or YAML 1.1 base 60 (1:30) */
	for (i = 0; p[i]; i++)
		if (!(is_digit(p[i]) || p[i] == '_' || p[i] == ':'))
			return false;
	return p[i - 1] != ':';
}

static bool looks_float(const char *s)
{
	const char *p = s + (*s == '-' || *s == '+');
	bool dot = false, digits = false;

	if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF") ||
	    !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
		return true;
	for (; *p && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			if (dot)
				return false;
			dot = true;
		} else if (is_digit(*p)) {
			digits = true;
		} else if (*p != '_') {
			return false;
		}
	}
	if (!dot || !digits)
		return false;
	if (*p) {
		p++;
		if (*p != '-' && *p != '+')
			return false;
		p++;
		if (!*p)
			return false;
		for (; *p; p++)
			if (!is_digit(*p))
				return false;
	}
	return true;
}

static bool looks_date(const char *s)
{
	size_t i;

	for (i = 0; i < 4; i++)
		if (!is_digit(s[i]))
			return false;
	if (s[4] != '-' || !is_digit(s[5]))
		return false;
	i = is_digit(s[6]) ? 7 : 6;
	if (s[i] != '-' || !is_digit(s[i + 1]))
		return false;
	i += is_digit(s[i + 2]) ? 3 : 2;
	return s[i] == '\0' || s[i] == 'T' || s[i] == 't' || s[i] == ' ';
}

/* How a YAML 1.1 reader types a scalar: quoted and block scalars are
 * strings; plain ones may be null, booleans, numbers or dates. */
static enum scalar_type scalar_type(const yaml_node_t *n)
{
	static const char *const bools[] = {
		"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES",
		"no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
	};
	const char *s = scalar_text(n);
	size_t i;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return SC_STRING;
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return SC_NULL;
	for (i = 0; i < ARRAY_SIZE(bools); i++)
		if (!strcmp(s, bools[i]))
			return SC_BOOL;
	if (looks_int(s))
		return SC_INT;
	if (looks_float(s))
		return SC_FLOAT;
	if (looks_date(s))
		return SC_DATE;
	return SC_STRING;
}

/* What a node is, for "got ..." in a message.  Secret values are described,
 * never shown. */
static struct quoted got(const yaml_node_t *n, bool secret)
{
	struct quoted q;
	const char *what = NULL;

	if (n->type == YAML_MAPPING_NODE)
		what = "a mapping";
	else if (n->type == YAML_SEQUENCE_NODE)
		what = "a sequence";
	else if (scalar_type(n) == SC_NULL && n->data.scalar.length == 0)
		what = "an empty value";
	else if (secret)
		what = scalar_type(n) == SC_STRING ? "a string" : "a number or boolean";
	if (what) {
		snprintf(q.s, sizeof(q.s), "%s", what);
		return q;
	}
	q = quote_n(scalar_text(n), n->data.scalar.length);
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		static const char prefix[] = "the string ";
		size_t len = strlen(q.s);

		memmove(q.s + sizeof(prefix) - 1, q.s, len + 1);
		memcpy(q.s, prefix, sizeof(prefix) - 1);
	}
	return q;
}

/* ---- walking ----------------------------------------------------------- */

/* Reaches a node: counts it when it was reached before (only an alias makes
 * the same node reachable again, and that is what is counted) and checks
 * its tag.  NULL when the walk must not look at it; the reason is already
 * reported. */
static yaml_node_t *visit(struct loader *ld, int index)
{
	yaml_node_t *n;
	const char *tag, *want;

	if (ld->stopped)
		return NULL;
	n = yaml_document_get_node(ld->doc, index);
	if (!n)
		return NULL;
	if ((size_t)index > ld->nseen)
		return NULL;
	if (!ld->seen[index - 1]) {
		ld->seen[index - 1] = 1;
	} else if (++ld->expanded > MAX_ALIAS_NODES) {
		struct diag *d = report(ld, n, "aliases repeat more than %d nodes", MAX_ALIAS_NODES);

		hint(d, "every use of an alias counts the nodes it repeats, and a config may repeat "
		     "at most %d: this looks like an alias bomb or a cycle (plain nodes, one per "
		     "store, do not count)", MAX_ALIAS_NODES);
		ld->stopped = true;
		return NULL;
	} else if (n->type == YAML_SCALAR_NODE &&
		   (ld->expanded_bytes += n->data.scalar.length) > MAX_ALIAS_BYTES) {
		/* Few repeats of a large value cost as much as many of a small
		 * one: the text repeated counts too. */
		struct diag *d = report(ld, n, "aliases repeat more than " MAX_FILE_TEXT " of text");

		hint(d, "every use of an alias counts the text it repeats, and a config may repeat "
		     "at most " MAX_FILE_TEXT " (as much as a config may hold): this looks like an "
		     "alias bomb");
		ld->stopped = true;
		return NULL;
	}
	tag = n->tag ? (const char *)n->tag : "";
	want = n->type == YAML_MAPPING_NODE ? YAML_DEFAULT_MAPPING_TAG :
	       n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG : YAML_DEFAULT_SCALAR_TAG;
	if (strcmp(tag, want) != 0) {
		const char *shown = tag;
		struct buf b = BUF_INIT;
		struct diag *d;

		if (!strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX))) {
			buf_addf(&b, "!!%s", tag + strlen(YAML_TAG_PREFIX));
			shown = b.ptr;
		}
		d = report(ld, n, "unsupported YAML tag %s", Q(shown));
		hint(d, "remove the tag: cms.yaml uses plain YAML values");
		buf_free(&b);
		return NULL;
	}
	return n;
}

struct field {
	yaml_node_t *key;   /* NULL when the key is absent */
	yaml_node_t *value; /* NULL when absent, or when already reported */
};

static bool is_password_key(const char *k)
{
	return eq_nocase(k, "password") || eq_nocase(k, "pwd") || eq_nocase(k, "passwd") ||
	       eq_nocase(k, "secret");
}

/* Reads the pairs of a mapping whose keys are keys[0..nkeys): out[i] gets
 * the key and value of keys[i].  Reports unknown keys (with did-you-mean),
 * literal-password keys and duplicate keys.  what names the mapping in
 * messages ("policy"). */
static void read_mapping(struct loader *ld, const yaml_node_t *map, const char *what,
			 const char *const *keys, size_t nkeys, struct field *out)
{
	yaml_node_pair_t *pair;
	size_t i;

	memset(out, 0, nkeys * sizeof(*out));
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = visit(ld, pair->key);
		const char *text;
		struct diag *d;

		if (!k) {
			if (ld->stopped)
				return;
			continue;
		}
		if (k->type != YAML_SCALAR_NODE) {
			d = report(ld, k, "expected a key name in %s, got %s", what, got(k, false).s);
			hint(d, "keys are plain words like 'name'");
			continue;
		}
		text = scalar_text(k);
		for (i = 0; i < nkeys; i++)
			if (strlen(keys[i]) == k->data.scalar.length && !strcmp(keys[i], text))
				break;
		if (i == nkeys) {
			if (is_password_key(text)) {
				d = report(ld, k, "literal password in key %s", QN(k));
				hint(d, "keep secrets out of the config: use password_env "
				     "(an environment variable) or password_file (a file with mode 0600)");
			} else if (!strcmp(text, "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
				d = report(ld, k, "YAML merge keys ('<<') are not supported in %s", what);
				hint(d, "write the keys out; an alias (*name) may stand for a whole value");
			} else {
				d = report(ld, k, "unknown key %s in %s", QN(k), what);
				hint_choices(d, text, keys, nkeys, "valid keys:");
			}
			continue;
		}
		if (out[i].key) {
			d = report(ld, k, "duplicate key %s in %s", QN(k), what);
			hint(d, "first at line %d, column %d", pos_of(out[i].key).line,
			     pos_of(out[i].key).column);
			continue;
		}
		out[i].key = k;
		out[i].value = visit(ld, pair->value);
		if (ld->stopped)
			return;
	}
}

static void missing(struct loader *ld, const yaml_node_t *map, const char *key,
		    const char *where, const char *advice)
{
	struct diag *d = report(ld, map, "missing required key '%s' in %s", key, where);

	if (advice)
		hint(d, "%s", advice);
}

static bool expect_type(struct loader *ld, const yaml_node_t *n, yaml_node_type_t type,
			const char *what)
{
	struct diag *d;

	if (n->type == type)
		return true;
	d = report(ld, n, "expected %s for %s, got %s",
		   type == YAML_MAPPING_NODE ? "a mapping" : "a sequence", what, got(n, false).s);
	if (type == YAML_SEQUENCE_NODE && n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.length > 0)
		hint(d, "write a list: [%s] or one '- item' per line", scalar_text(n));
	return false;
}

enum {
	STR_SECRET = 1,      /* never show the value */
	STR_ALLOW_EMPTY = 2, /* "" is fine (command arguments) */
};

/* A text value: a scalar that reads as a string, not empty, without control
 * characters.  Returns the text (borrowed) or NULL after reporting. */
static const char *get_string(struct loader *ld, const yaml_node_t *n, const char *what,
			      unsigned flags)
{
	const char *s;
	size_t i, len;
	struct diag *d;
	enum scalar_type t;

	if (n->type != YAML_SCALAR_NODE) {
		report(ld, n, "expected a string for %s, got %s", what, got(n, false).s);
		return NULL;
	}
	t = scalar_type(n);
	if (t == SC_NULL && n->data.scalar.length == 0) {
		if (flags & STR_ALLOW_EMPTY)
			return "";
		d = report(ld, n, "expected a string for %s, got an empty value", what);
		hint(d, "give it a value, or remove the key");
		return NULL;
	}
	if (t != SC_STRING) {
		d = report(ld, n, "expected a string for %s, got %s", what,
			   got(n, flags & STR_SECRET).s);
		if (!(flags & STR_SECRET))
			hint(d, "quote it to use it as text: \"%s\"", scalar_text(n));
		return NULL;
	}
	s = scalar_text(n);
	len = n->data.scalar.length;
	if (len == 0 && !(flags & STR_ALLOW_EMPTY)) {
		report(ld, n, "%s is empty", what);
		return NULL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		/* C0 controls, DEL, and the C1 controls U+0080 to U+009F
		 * (UTF-8 0xC2 0x80 to 0xC2 0x9F; NEL is one). */
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9F)) {
			if (flags & STR_SECRET)
				report(ld, n, "%s contains a control character (a line break, tab "
				       "or similar)", what);
			else
				report(ld, n, "%s contains a control character: %s", what, QN(n));
			return NULL;
		}
	}
	return s;
}

/* An integer: a plain decimal scalar within [min, max]. */
static bool get_int(struct loader *ld, const yaml_node_t *n, const char *what,
		    long long min, long long max, long long *out)
{
	const char *s, *p;
	long long v;
	struct diag *d;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		goto bad;
	s = scalar_text(n);
	p = s + (*s == '-');
	if (!is_digit(*p) || (p[0] == '0' && p[1]))
		goto bad;
	for (; *p; p++)
		if (!is_digit(*p))
			goto bad;
	errno = 0;
	v = strtoll(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max) {
		report(ld, n, "%s must be between %lld and %lld, got %s", what, min, max, QN(n));
		return false;
	}
	*out = v;
	return true;
bad:
	d = report(ld, n, "expected an integer for %s, got %s", what, got(n, false).s);
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		hint(d, "remove the quotes");
	return false;
}

static bool get_bool(struct loader *ld, const yaml_node_t *n, const char *what, bool *out)
{
	struct diag *d;

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(scalar_text(n), "true")) {
			*out = true;
			return true;
		}
		if (!strcmp(scalar_text(n), "false")) {
			*out = false;
			return true;
		}
	}
	d = report(ld, n, "expected a boolean (true or false) for %s, got %s", what,
		   got(n, false).s);
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		hint(d, "remove the quotes");
	return false;
}

#define SIZE_ADVICE "use a number of bytes, or a number and a unit: " \
	"B, kB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 16MiB)"
#define DURATION_ADVICE "use numbers with units, largest first: " \
	"ms, s, m, h, d (e.g. 30s, 5m, 1h30m)"

/* A size: a plain integer (bytes) or a string such as "16MiB". */
static bool get_size(struct loader *ld, const yaml_node_t *n, const char *what, uint64_t *out)
{
	struct diag *d;
	enum scalar_type t;

	if (n->type != YAML_SCALAR_NODE)
		goto bad;
	t = scalar_type(n);
	if (t != SC_STRING && t != SC_INT)
		goto bad;
	if (config_parse_size(out, scalar_text(n)) == 0)
		return true;
	d = report(ld, n, "invalid size %s for %s", QN(n), what);
	hint(d, SIZE_ADVICE);
	return false;
bad:
	d = report(ld, n, "expected a size for %s, got %s", what, got(n, false).s);
	hint(d, SIZE_ADVICE);
	return false;
}

/* A duration: a string such as "30s"; a bare number is refused (which unit
 * was meant?).  Must be more than zero and at most 365 days. */
static bool get_duration(struct loader *ld, const yaml_node_t *n, const char *what,
			 int64_t *out_ms)
{
	const char *s, *p;
	struct diag *d;
	enum scalar_type t;

	if (n->type != YAML_SCALAR_NODE)
		goto bad;
	t = scalar_type(n);
	if (t != SC_STRING && t != SC_INT)
		goto bad;
	s = scalar_text(n);
	for (p = s; is_digit(*p); p++)
		;
	if (p != s && !*p) {
		d = report(ld, n, "duration %s for %s has no unit", QN(n), what);
		hint(d, "add a unit, e.g. '%ss' (units: ms, s, m, h, d)", s);
		return false;
	}
	if (config_parse_duration_ms(out_ms, s) < 0) {
		d = report(ld, n, "invalid duration %s for %s", QN(n), what);
		hint(d, DURATION_ADVICE);
		return false;
	}
	if (*out_ms <= 0) {
		report(ld, n, "%s must be longer than zero, got %s", what, QN(n));
		return false;
	}
	if (*out_ms > MAX_DURATION_MS) {
		report(ld, n, "%s is too long: %s is more than 365d", what, QN(n));
		return false;
	}
	return true;
bad:
	d = report(ld, n, "expected a duration for %s, got %s", what, got(n, false).s);
	hint(d, DURATION_ADVICE);
	return false;
}

/* ---- values with meaning ---------------------------------------------- */

#define IDENT_ADVICE "a plain SQL identifier: letters, digits and '_', " \
	"not starting with a digit, at most 128 characters"
#define NAME_ADVICE "use letters, digits, '_', '.' and '-', starting with a letter " \
	"or digit, at most 63 characters"

/* An identifier value (database, instance, table, availability group). */
static char *get_identifier(struct loader *ld, const yaml_node_t *n, const char *what,
			    const char *kind)
{
	const char *s = get_string(ld, n, what, 0);
	struct diag *d;

	if (!s)
		return NULL;
	if (!config_is_identifier(s)) {
		d = report(ld, n, "invalid %s %s", kind, QN(n));
		hint(d, "%s must be " IDENT_ADVICE, kind);
		return NULL;
	}
	return xstrdup(s);
}

static char *get_env_name(struct loader *ld, const yaml_node_t *n, const char *what)
{
	const char *s = get_string(ld, n, what, STR_SECRET);
	struct diag *d;

	if (!s)
		return NULL;
	if (!config_is_identifier(s)) {
		d = report(ld, n, "%s is not an environment variable name", what);
		hint(d, "use letters, digits and '_', not starting with a digit, e.g. "
		     "CMS_POOL_A_PASSWORD (the value is not shown: it might be a password)");
		return NULL;
	}
	return xstrdup(s);
}

/* Relative paths are relative to the config file's folder. */
static char *resolve_path(const char *dir, const char *p)
{
	size_t dl;

	if (p[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
		return xstrdup(p);
	dl = strlen(dir);
	if (dir[dl - 1] == '/')
		return xasprintf("%s%s", dir, p);
	return xasprintf("%s/%s", dir, p);
}

static char *get_path(struct loader *ld, const yaml_node_t *n, const char *what,
		      unsigned flags)
{
	const char *s = get_string(ld, n, what, flags);
	struct diag *d;

	if (!s)
		return NULL;
	if (s[0] == '~') {
		d = report(ld, n, "%s starts with '~', which is not expanded", what);
		hint(d, "write the full path, or one relative to the config's folder");
		return NULL;
	}
	return resolve_path(ld->dir, s);
}

static bool contains_nocase(const char *s, const char *word)
{
	size_t n = strlen(word), i;

	for (; *s; s++) {
		for (i = 0; i < n && s[i] && tolower((unsigned char)s[i]) == word[i]; i++)
			;
		if (i == n)
			return true;
	}
	return false;
}

/* Attributes that make a driver write a log or a trace, which can hold the
 * password of every connection of the process: psqlODBC's Debug and
 * CommLog (short forms B2, B3; CX packs both as bits), Logdir and Dtclog;
 * FreeTDS's DumpFile, DumpFileAppend and DebugFlags; the driver managers'
 * Trace and TraceFile. */
static const char *const logging_keys[] = {
	"debug", "b2", "commlog", "b3", "cx", "logdir", "dtclog",
	"dumpfile", "dumpfileappend", "debugflags", "trace", "tracefile",
};

static bool is_logging_key(const char *key)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(logging_keys); i++)
		if (eq_nocase(key, logging_keys[i]))
			return true;
	return false;
}

/* Looks for a password attribute in an ODBC connection string (attributes
 * "key=value" separated by ';', a value may be {braced}, '}}' inside braces
 * is a '}').  Returns 0 when clean, 1 with its key copied to key_out, 2
 * when the attribute turns on driver logging, -1 when the string is
 * malformed. */
static int connection_password(const char *s, char *key_out, size_t key_size)
{
	const char *p = s;

	while (*p) {
		const char *k, *ke;

		while (*p == ' ' || *p == ';')
			p++;
		if (!*p)
			break;
		k = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		ke = p;
		while (ke > k && ke[-1] == ' ')
			ke--;
		if ((size_t)(ke - k) < key_size) {
			memcpy(key_out, k, (size_t)(ke - k));
			key_out[ke - k] = '\0';
			if (eq_nocase(key_out, "pwd") || eq_nocase(key_out, "password"))
				return 1;
			if (is_logging_key(key_out))
				return 2;
		}
		/* libpq options passed through psqlODBC's pqopt={...} can carry a
		 * password too: "pqopt={password=...}". */
		if (eq_nocase(key_out, "pqopt") && *p == '=' && contains_nocase(p, "password") &&
		    (size_t)(ke - k) < key_size)
			return 1;
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ')
			p++;
		if (*p == '{') {
			for (p++;; p++) {
				if (!*p)
					return -1;
				if (*p == '}') {
					if (p[1] == '}') {
						p++;
						continue;
					}
					p++;
					break;
				}
			}
		}
		while (*p && *p != ';')
			p++;
	}
	return 0;
}

/* The value of attribute key (case-insensitive) in an ODBC connection
 * string, braces removed, into out; 1 found, 0 not (or too long). */
static int connection_value(const char *s, const char *key, char *out, size_t size)
{
	const char *p = s;
	char k[64];

	while (*p) {
		const char *ks, *ke;
		size_t n = 0;

		while (*p == ' ' || *p == ';')
			p++;
		if (!*p)
			break;
		ks = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		ke = p;
		while (ke > ks && ke[-1] == ' ')
			ke--;
		if ((size_t)(ke - ks) >= sizeof(k) || *p != '=') {
			while (*p && *p != ';')
				p++;
			continue;
		}
		memcpy(k, ks, (size_t)(ke - ks));
		k[ke - ks] = '\0';
		for (p++; *p == ' '; p++)
			;
		if (*p == '{') {
			for (p++; *p && !(*p == '}' && p[1] != '}'); p++) {
				if (*p == '}')
					p++;
				if (n + 1 < size)
					out[n++] = *p;
			}
			if (*p)
				p++;
		} else {
			while (*p && *p != ';') {
				if (n + 1 < size)
					out[n++] = *p;
				p++;
			}
			while (n && out[n - 1] == ' ')
				n--;
		}
		while (*p && *p != ';')
			p++;
		out[n] = '\0';
		if (eq_nocase(k, key))
			return n + 1 < size ? 1 : 0;
	}
	return 0;
}

/* A named instance is reached either as Server=host\INSTANCE (FreeTDS asks
 * the SQL Server Browser for its port) or through an explicit Port=; a
 * connection string that names neither would reach the default instance,
 * and one that names another instance is a contradiction. */
static void check_instance_connection(struct loader *ld, const yaml_node_t *n,
				      const struct server *sv)
{
	char server[256], port[16];
	const char *slash;
	struct diag *d;

	if (!connection_value(sv->connection, "Server", server, sizeof(server)) &&
	    !connection_value(sv->connection, "Servername", server, sizeof(server)))
		return; /* a FreeTDS section or a DSN: the identity check at connect decides */
	slash = strchr(server, '\\');
	if (sv->instance && slash && !eq_nocase(slash + 1, sv->instance)) {
		d = report(ld, n, "'connection' reaches instance '%s' (Server=%s), but 'instance' is '%s'",
			   slash + 1, server, sv->instance);
		hint(d, "name the same instance in both");
	} else if (sv->instance && !slash &&
		   !connection_value(sv->connection, "Port", port, sizeof(port))) {
		d = report(ld, n, "'connection' names neither instance '%s' nor a port: it would reach "
			   "the default instance of '%s'", sv->instance, server);
		hint(d, "write Server=%s\\%s (found through the SQL Server Browser) or the instance's "
		     "Port=", server, sv->instance);
	} else if (!sv->instance && slash) {
		d = report(ld, n, "'connection' reaches instance '%s' (Server=%s), but the server has "
			   "no 'instance'", slash + 1, server);
		hint(d, "add 'instance: %s': cmsctl checks which instance answers", slash + 1);
	}
}

static char *get_connection(struct loader *ld, const yaml_node_t *n, const char *what)
{
	const char *s = get_string(ld, n, what, STR_SECRET);
	char key[32];
	struct diag *d;

	if (!s)
		return NULL;
	switch (connection_password(s, key, sizeof(key))) {
	case 1:
		d = report(ld, n, "literal password in %s (attribute '%s')", what, key);
		hint(d, "remove it; give the password through password_env or password_file");
		return NULL;
	case 2:
		d = report(ld, n, "driver logging in %s (attribute '%s')", what, key);
		hint(d, "remove it; a driver log or trace can hold the passwords of every "
		     "connection, and cmsctl never writes one");
		return NULL;
	case -1:
		d = report(ld, n, "malformed connection string in %s: unterminated '{'", what);
		hint(d, "a braced value ends with '}'; write '}}' for a '}' inside it");
		return NULL;
	}
	return xstrdup(s);
}

/* ---- the format -------------------------------------------------------- */

static const char *const role_names[] = { "primary", "mirror", "backup" };

enum { TOP_VERSION, TOP_STORES, TOP_BACKEND, TOP_NKEYS };
static const char *const top_keys[] = { "version", "stores", "backend" };

enum {
	BK_STATE, BK_CONNECTION, BK_PASSWORD_ENV, BK_PASSWORD_FILE, BK_HISTORY, BK_REMOTE,
	BK_SSH_KEY, BK_NKEYS
};
static const char *const backend_keys[] = {
	"state", "connection", "password_env", "password_file", "history", "remote", "ssh_key",
};

enum { ST_NAME, ST_ENGINE, ST_DATABASES, ST_SERVERS, ST_LOCATION, ST_POLICY, ST_PUBLISH, ST_NKEYS };
static const char *const store_keys[] = {
	"name", "engine", "databases", "servers", "location", "policy", "publish",
};

enum {
	SV_NAME, SV_FQDN, SV_INSTANCE, SV_CONNECTION, SV_DSN, SV_PATH, SV_USER,
	SV_PASSWORD_ENV, SV_PASSWORD_FILE, SV_AVAILABILITY_GROUP, SV_ROLE, SV_FENCE, SV_LOG_BACKUPS,
	SV_NKEYS
};
static const char *const server_keys[] = {
	"name", "fqdn", "instance", "connection", "dsn", "path", "user",
	"password_env", "password_file", "availability_group", "role", "fence", "log_backups",
};

#define E_SQLITE (1u << ENGINE_SQLITE)
#define E_PG (1u << ENGINE_POSTGRESQL)
#define E_MSSQL (1u << ENGINE_MSSQL)
#define E_ALL (E_SQLITE | E_PG | E_MSSQL)

/* Which engines use each server key; a key an engine would ignore is an
 * error rather than silently dropped. */
static const unsigned server_key_engines[SV_NKEYS] = {
	[SV_NAME] = E_ALL, [SV_FQDN] = E_ALL, [SV_INSTANCE] = E_MSSQL,
	[SV_CONNECTION] = E_PG | E_MSSQL, [SV_DSN] = E_PG | E_MSSQL, [SV_PATH] = E_SQLITE,
	[SV_USER] = E_PG | E_MSSQL, [SV_PASSWORD_ENV] = E_PG | E_MSSQL,
	[SV_PASSWORD_FILE] = E_PG | E_MSSQL, [SV_AVAILABILITY_GROUP] = E_MSSQL, [SV_ROLE] = E_ALL,
	[SV_FENCE] = E_ALL, [SV_LOG_BACKUPS] = E_MSSQL,
};

enum { LO_PRIMARY, LO_MIRROR, LO_NKEYS };
static const char *const location_keys[] = { "primary", "mirror" };

enum {
	PO_ALLOW_DATA_LOSS, PO_MAX_LAG_BYTES, PO_CATCH_UP_TIMEOUT, PO_PLAN_TTL, PO_APPROVALS,
	PO_LOGIN_TIMEOUT, PO_QUERY_TIMEOUT, PO_ALLOWED_SIGNERS, PO_SIGNED_APPROVALS, PO_NKEYS
};
static const char *const policy_keys[] = {
	"allow_data_loss", "max_lag_bytes", "catch_up_timeout", "plan_ttl", "approvals",
	"login_timeout", "query_timeout", "allowed_signers", "signed_approvals",
};

enum {
	PU_FILE, PU_ODBC, PU_COMMAND, PU_LDAP, PU_TABLE, PU_PASSWORD_ENV, PU_PASSWORD_FILE,
	PU_TIMEOUT, PU_DN, PU_BIND_DN, PU_CA_FILE, PU_ATTRIBUTES, PU_REQUIRED, PU_NKEYS
};
static const char *const publish_keys[] = {
	"file", "odbc", "command", "ldap", "table", "password_env", "password_file", "timeout",
	"dn", "bind_dn", "ca_file", "attributes", "required",
};
enum { FE_COMMAND, FE_TIMEOUT, FE_NKEYS };
static const char *const fence_keys[] = { "command", "timeout" };

/* Which kinds (bits 1 << PU_FILE .. 1 << PU_LDAP) each publish key belongs to. */
#define PU_BIT(k) (1u << (k))
static const unsigned publish_key_kinds[PU_NKEYS] = {
	[PU_FILE] = PU_BIT(PU_FILE), [PU_ODBC] = PU_BIT(PU_ODBC),
	[PU_COMMAND] = PU_BIT(PU_COMMAND), [PU_LDAP] = PU_BIT(PU_LDAP),
	[PU_TABLE] = PU_BIT(PU_ODBC),
	[PU_PASSWORD_ENV] = PU_BIT(PU_ODBC) | PU_BIT(PU_LDAP),
	[PU_PASSWORD_FILE] = PU_BIT(PU_ODBC) | PU_BIT(PU_LDAP),
	[PU_TIMEOUT] = PU_BIT(PU_COMMAND),
	[PU_DN] = PU_BIT(PU_LDAP), [PU_BIND_DN] = PU_BIT(PU_LDAP),
	[PU_CA_FILE] = PU_BIT(PU_LDAP), [PU_ATTRIBUTES] = PU_BIT(PU_LDAP),
	[PU_REQUIRED] = PU_BIT(PU_FILE) | PU_BIT(PU_ODBC) | PU_BIT(PU_COMMAND) | PU_BIT(PU_LDAP),
};
/* The first kind a key belongs to, for the hint about where it goes. */
static const char *publish_key_home(size_t k)
{
	size_t kind;

	for (kind = PU_FILE; kind <= PU_LDAP; kind++)
		if (publish_key_kinds[k] & PU_BIT(kind))
			return publish_keys[kind];
	return "?";
}

static void policy_defaults(struct policy *p)
{
	p->allow_data_loss = false;
	p->max_lag_bytes = 16ULL << 20;
	p->catch_up_timeout_ms = 30 * 1000;
	p->plan_ttl_s = 24 * 3600;
	p->approvals = 0;
	p->login_timeout_ms = 5 * 1000;
	p->query_timeout_ms = 30 * 1000;
}

static void load_policy(struct loader *ld, const yaml_node_t *n, struct store *st)
{
	struct policy *p = &st->policy;
	struct field f[PO_NKEYS];
	long long approvals;
	int64_t ms;

	if (!expect_type(ld, n, YAML_MAPPING_NODE, "'policy'"))
		return;
	read_mapping(ld, n, "policy", policy_keys, PO_NKEYS, f);
	if (f[PO_ALLOW_DATA_LOSS].value)
		get_bool(ld, f[PO_ALLOW_DATA_LOSS].value, "'allow_data_loss'", &p->allow_data_loss);
	if (f[PO_MAX_LAG_BYTES].value)
		get_size(ld, f[PO_MAX_LAG_BYTES].value, "'max_lag_bytes'", &p->max_lag_bytes);
	if (f[PO_CATCH_UP_TIMEOUT].value &&
	    get_duration(ld, f[PO_CATCH_UP_TIMEOUT].value, "'catch_up_timeout'", &ms))
		p->catch_up_timeout_ms = ms;
	if (f[PO_PLAN_TTL].value && get_duration(ld, f[PO_PLAN_TTL].value, "'plan_ttl'", &ms)) {
		if (ms % 1000) {
			struct diag *d = report(ld, f[PO_PLAN_TTL].value,
						"'plan_ttl' must be whole seconds, got %s",
						QN(f[PO_PLAN_TTL].value));

			hint(d, "e.g. 30m, 24h, 2d");
		} else {
			p->plan_ttl_s = ms / 1000;
		}
	}
	if (f[PO_APPROVALS].value &&
	    get_int(ld, f[PO_APPROVALS].value, "'approvals'", 0, 16, &approvals))
		p->approvals = (int)approvals;
	if (f[PO_LOGIN_TIMEOUT].value &&
	    get_duration(ld, f[PO_LOGIN_TIMEOUT].value, "'login_timeout'", &ms))
		p->login_timeout_ms = ms;
	if (f[PO_QUERY_TIMEOUT].value &&
	    get_duration(ld, f[PO_QUERY_TIMEOUT].value, "'query_timeout'", &ms))
		p->query_timeout_ms = ms;
	if (f[PO_ALLOWED_SIGNERS].value)
		st->allowed_signers = get_path(ld, f[PO_ALLOWED_SIGNERS].value, "'allowed_signers'", 0);
	if (f[PO_SIGNED_APPROVALS].value)
		get_bool(ld, f[PO_SIGNED_APPROVALS].value, "'signed_approvals'", &st->signed_approvals);
}

static void load_fence(struct loader *ld, const yaml_node_t *n, struct server *sv);

/* name: a valid name, unique in the store (*name_ok when valid). */
static void load_server_name(struct loader *ld, const yaml_node_t *map, struct field *f,
			     struct store *st, struct server *sv, bool *name_ok)
{
	struct diag *d;
	const char *s;
	size_t i;

	if (!f[SV_NAME].key) {
		missing(ld, map, "name", "server", NULL);
	} else if (f[SV_NAME].value && (s = get_string(ld, f[SV_NAME].value, "'name'", 0))) {
		if (!config_is_name(s)) {
			d = report(ld, f[SV_NAME].value, "invalid server name %s", QN(f[SV_NAME].value));
			hint(d, NAME_ADVICE);
		} else {
			*name_ok = true;
			sv->name = xstrdup(s);
			if (!name_index_add(&ld->servers, sv->name, st->nservers - 1, &i)) {
				d = report(ld, f[SV_NAME].value, "duplicate server name %s in store%s%s",
					   Q(s), st->name ? " " : "", st->name ? Q(st->name) : "");
				hint(d, "first defined at line %d, column %d",
				     st->servers[i].at.line, st->servers[i].at.column);
			}
		}
	}
}

/* Keys the store's engine would not use are reported and dropped. */
static void drop_foreign_keys(struct loader *ld, struct field *f, const struct store *st)
{
	struct diag *d;
	size_t k;

	for (k = 0; k < SV_NKEYS; k++) {
		if (!f[k].key || (server_key_engines[k] & (1u << st->engine)))
			continue;
		d = report(ld, f[k].key, "key '%s' is not allowed for engine %s", server_keys[k],
			   engine_kind_name(st->engine));
		if (k == SV_PATH)
			hint(d, "'path' is for sqlite servers; use 'connection' or 'dsn'");
		else if (k == SV_INSTANCE || k == SV_AVAILABILITY_GROUP || k == SV_LOG_BACKUPS)
			hint(d, "'%s' is for mssql servers", server_keys[k]);
		else
			hint(d, "a sqlite server is a directory: it is reached through 'path'");
		f[k].key = f[k].value = NULL;
	}
}

/* How the server is reached and who it is: fqdn, instance, connection or
 * dsn or path, user and password, availability group, role. */
static void load_server_fields(struct loader *ld, struct field *f, struct server *sv,
			       const char *where)
{
	struct diag *d;
	const char *s;
	size_t i;

	if (f[SV_FQDN].value && (s = get_string(ld, f[SV_FQDN].value, "'fqdn'", 0))) {
		if (!is_hostname(s)) {
			d = report(ld, f[SV_FQDN].value, "invalid fqdn %s", QN(f[SV_FQDN].value));
			hint(d, "a host name: dot-separated labels of letters, digits and '-'");
		} else {
			sv->fqdn = xstrdup(s);
		}
	}
	if (f[SV_INSTANCE].value)
		sv->instance = get_identifier(ld, f[SV_INSTANCE].value, "'instance'", "instance name");
	if (f[SV_CONNECTION].value)
		sv->connection = get_connection(ld, f[SV_CONNECTION].value, "'connection'");
	if (f[SV_DSN].value && (s = get_string(ld, f[SV_DSN].value, "'dsn'", 0))) {
		if (!is_dsn(s)) {
			d = report(ld, f[SV_DSN].value, "invalid dsn %s", QN(f[SV_DSN].value));
			hint(d, "a data source name from odbc.ini, at most 128 characters, "
			     "without []{}(),;?*=!@\\");
		} else {
			sv->dsn = xstrdup(s);
		}
	}
	if (f[SV_PATH].value)
		sv->path = get_path(ld, f[SV_PATH].value, "'path'", 0);
	if (f[SV_USER].value && (s = get_string(ld, f[SV_USER].value, "'user'", 0)))
		sv->user = xstrdup(s);
	if (f[SV_PASSWORD_ENV].value)
		sv->password_env = get_env_name(ld, f[SV_PASSWORD_ENV].value, "'password_env'");
	if (f[SV_PASSWORD_FILE].value)
		sv->password_file = get_path(ld, f[SV_PASSWORD_FILE].value, "'password_file'",
					     STR_SECRET);
	if (f[SV_PASSWORD_ENV].key && f[SV_PASSWORD_FILE].key) {
		d = report(ld, f[SV_PASSWORD_FILE].key,
			   "both 'password_env' and 'password_file' in %s", where);
		hint(d, "keep one of them");
	}
	if (f[SV_AVAILABILITY_GROUP].value)
		sv->availability_group = get_identifier(ld, f[SV_AVAILABILITY_GROUP].value,
							"'availability_group'",
							"availability group name");
	if (f[SV_ROLE].value && (s = get_string(ld, f[SV_ROLE].value, "'role'", 0))) {
		for (i = 0; i < ARRAY_SIZE(role_names) && strcmp(s, role_names[i]); i++)
			;
		if (i < ARRAY_SIZE(role_names)) {
			sv->role = (enum server_role)i;
		} else {
			d = report(ld, f[SV_ROLE].value, "unknown role %s", QN(f[SV_ROLE].value));
			hint_choices(d, s, role_names, ARRAY_SIZE(role_names), "expected one of:");
		}
	}
}

/* log_backups: only on a backup server, a folder SQL Server can read. */
static void load_log_backups(struct loader *ld, struct field *f, struct server *sv,
			     const char *where)
{
	struct diag *d;
	const char *s;

	if (!f[SV_LOG_BACKUPS].value ||
	    !(s = get_string(ld, f[SV_LOG_BACKUPS].value, "'log_backups'", 0)))
		return;
	if (sv->role != SERVER_ROLE_BACKUP) {
		d = report(ld, f[SV_LOG_BACKUPS].key, "'log_backups' in %s, which is not a backup",
			   where);
		hint(d, "'log_backups' is the folder of log backups that a backup server "
		     "(role: backup) restores before it takes over; remove it, or set 'role: backup'");
	} else if (!is_log_backup_folder(s)) {
		d = report(ld, f[SV_LOG_BACKUPS].value, "invalid 'log_backups' folder %s",
			   QN(f[SV_LOG_BACKUPS].value));
		hint(d, "an absolute folder as SQL Server sees it, a share (\\\\host\\share\\dir) "
		     "or a drive path (D:\\logship), at most 200 characters, without quotes, "
		     "'*' or '?'");
	} else {
		sv->log_backups = xstrdup(s);
	}
}

/* What the store's engine needs to reach a server: a folder, or one of
 * connection and dsn (with an instance name where the engine has them). */
static void check_server_reach(struct loader *ld, const yaml_node_t *map, struct field *f,
			       const struct store *st, struct server *sv, const char *where)
{
	struct diag *d;

	if (engine_traits(st->engine)->has_instances && sv->connection)
		check_instance_connection(ld, f[SV_CONNECTION].value, sv);
	if (engine_traits(st->engine)->servers_are_folders) {
		if (!f[SV_PATH].key)
			missing(ld, map, "path", where,
				"a sqlite server is a directory holding one <database>.db file per database");
	} else if (!f[SV_CONNECTION].key && !f[SV_DSN].key) {
		d = report(ld, map, "%s needs 'connection' or 'dsn'", where);
		hint(d, "give an ODBC connection string (connection) or a data source name (dsn)");
	} else if (f[SV_CONNECTION].key && f[SV_DSN].key) {
		d = report(ld, f[SV_DSN].key, "both 'connection' and 'dsn' in %s", where);
		hint(d, "keep one of them");
	}
}

static void load_server(struct loader *ld, const yaml_node_t *map, struct store *st,
			bool engine_known, bool *name_ok)
{
	struct server *sv = &st->servers[st->nservers++];
	struct field f[SV_NKEYS];
	char where[96];

	*name_ok = false;
	sv->at = pos_of(map);
	sv->role = SERVER_ROLE_PRIMARY;
	read_mapping(ld, map, "server", server_keys, SV_NKEYS, f);
	if (ld->stopped)
		return;

	load_server_name(ld, map, f, st, sv, name_ok);
	if (sv->name)
		snprintf(where, sizeof(where), "server '%s'", sv->name);
	else
		snprintf(where, sizeof(where), "server");
	if (engine_known)
		drop_foreign_keys(ld, f, st);
	load_server_fields(ld, f, sv, where);
	if (f[SV_FENCE].value)
		load_fence(ld, f[SV_FENCE].value, sv);
	load_log_backups(ld, f, sv, where);
	if (engine_known)
		check_server_reach(ld, map, f, st, sv, where);
}

static void undefined_server(struct loader *ld, const yaml_node_t *n, const struct store *st,
			     const char *name)
{
	const char **names = xcalloc(st->nservers + 1, sizeof(*names));
	struct diag *d = report(ld, n, "undefined server %s", QN(n));
	size_t i, k = 0;

	for (i = 0; i < st->nservers; i++)
		if (st->servers[i].name)
			names[k++] = st->servers[i].name;
	if (k)
		hint_choices(d, name, names, k, "servers of this store:");
	else
		hint(d, "the store defines no servers");
	free(names);
}

static void load_location(struct loader *ld, const yaml_node_t *n, struct store *st,
			  bool servers_ok)
{
	struct location *loc = &st->location;
	struct field f[LO_NKEYS];
	const struct server *mirror = NULL;
	const char *s;
	struct diag *d;

	if (!expect_type(ld, n, YAML_MAPPING_NODE, "'location'"))
		return;
	read_mapping(ld, n, "location", location_keys, LO_NKEYS, f);
	if (ld->stopped)
		return;
	if (!f[LO_PRIMARY].key) {
		missing(ld, n, "primary", "location", "name the server that should hold the store");
	} else if (f[LO_PRIMARY].value &&
		   (s = get_string(ld, f[LO_PRIMARY].value, "'primary'", 0))) {
		loc->primary = xstrdup(s);
		loc->primary_at = pos_of(f[LO_PRIMARY].value);
		if (servers_ok && !store_find_server(st, s))
			undefined_server(ld, f[LO_PRIMARY].value, st, s);
	}
	if (f[LO_MIRROR].value && (s = get_string(ld, f[LO_MIRROR].value, "'mirror'", 0))) {
		loc->mirror = xstrdup(s);
		loc->mirror_at = pos_of(f[LO_MIRROR].value);
		if (loc->primary && !strcmp(loc->primary, s)) {
			d = report(ld, f[LO_MIRROR].value, "primary and mirror are the same server %s",
				   Q(s));
			hint(d, "the mirror must be another server of the store; or remove 'mirror'");
		} else if (servers_ok && !(mirror = store_find_server(st, s))) {
			undefined_server(ld, f[LO_MIRROR].value, st, s);
		} else if (mirror && mirror->role == SERVER_ROLE_BACKUP) {
			d = report(ld, f[LO_MIRROR].value, "mirror %s has role backup", Q(s));
			hint(d, "a backup is not a synchronous partner: give it role mirror, "
			     "or choose another mirror");
		}
	}
}

static void load_command(struct loader *ld, const yaml_node_t *n, char ***argv_out,
			 size_t *argc_out)
{
	yaml_node_item_t *item;
	size_t count;
	struct diag *d;

	if (!expect_type(ld, n, YAML_SEQUENCE_NODE, "'command'"))
		return;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0) {
		d = report(ld, n, "'command' is empty");
		hint(d, "give the program and its arguments, e.g. [/usr/local/bin/notify, --store]");
		return;
	}
	*argv_out = xcalloc(count + 1, sizeof(char *));
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *a = visit(ld, *item);
		const char *s;

		if (!a) {
			if (ld->stopped)
				return;
			continue;
		}
		if (item == n->data.sequence.items.start) {
			char *prog = get_path(ld, a, "the program of 'command'", 0);

			if (!prog)
				continue;
			/* Run with execve, not a PATH search: make it a path. */
			if (!strchr(prog, '/')) {
				char *rel = xasprintf("./%s", prog);

				free(prog);
				prog = rel;
			}
			(*argv_out)[(*argc_out)++] = prog;
			continue;
		}
		if ((s = get_string(ld, a, "an argument of 'command'", STR_ALLOW_EMPTY)) &&
		    *argc_out > 0)
			(*argv_out)[(*argc_out)++] = xstrdup(s);
	}
}

/* fence: an ordered list of {command: [...], timeout: 30s}. */
static void load_fence(struct loader *ld, const yaml_node_t *n, struct server *sv)
{
	yaml_node_item_t *item;
	size_t count;
	struct diag *d;

	if (!expect_type(ld, n, YAML_SEQUENCE_NODE, "'fence'"))
		return;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0) {
		d = report(ld, n, "'fence' is empty");
		hint(d, "list fence targets, e.g. '- command: [/usr/local/sbin/power-off, pg-a]'; "
		     "or remove 'fence'");
		return;
	}
	sv->fence = xcalloc(count, sizeof(*sv->fence));
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *m = visit(ld, *item);
		struct fence_target *t;
		struct field f[FE_NKEYS];

		if (!m) {
			if (ld->stopped)
				return;
			continue;
		}
		if (!expect_type(ld, m, YAML_MAPPING_NODE, "an item of 'fence'"))
			continue;
		t = &sv->fence[sv->nfence++];
		t->at = pos_of(m);
		t->timeout_ms = 30 * 1000;
		read_mapping(ld, m, "fence target", fence_keys, FE_NKEYS, f);
		if (ld->stopped)
			return;
		if (!f[FE_COMMAND].key) {
			missing(ld, m, "command", "fence target",
				"the program that isolates the server and its arguments; exit 0 means fenced");
			continue;
		}
		if (f[FE_COMMAND].value)
			load_command(ld, f[FE_COMMAND].value, &t->argv, &t->argc);
		if (f[FE_TIMEOUT].value)
			get_duration(ld, f[FE_TIMEOUT].value, "'timeout'", &t->timeout_ms);
	}
}

/* ---- ldap publish targets ---------------------------------------------- */

const char *const config_ldap_placeholders[] = {
	"store", "primary", "primary_fqdn", "primary_instance", "primary_sql",
	"mirror", "mirror_fqdn", "mirror_instance", "mirror_sql", "serial", NULL,
};

int config_check_ldap_template(const char *tmpl, const char **bad, size_t *badlen)
{
	const char *p = tmpl, *close;
	size_t i, len;

	while ((p = strchr(p, '{'))) {
		if (!(close = strchr(p, '}'))) {
			*bad = p;
			*badlen = strlen(p);
			return -1;
		}
		len = (size_t)(close - p - 1);
		for (i = 0; config_ldap_placeholders[i]; i++)
			if (strlen(config_ldap_placeholders[i]) == len &&
			    !strncmp(config_ldap_placeholders[i], p + 1, len))
				break;
		if (!config_ldap_placeholders[i]) {
			*bad = p;
			*badlen = len + 2;
			return -1;
		}
		p = close + 1;
	}
	return 0;
}

/* An LDAP attribute description as cmsctl accepts it: a letter, then
 * letters, digits and '-' (RFC 4512 keystring), at most 128. */
static bool is_ldap_attr_name(const char *s)
{
	size_t i;

	if (!is_alpha(s[0]))
		return false;
	for (i = 1; s[i]; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return i <= 128;
}

/* ldaps://host[:port] or ldap://host[:port], nothing else (no path, no
 * list of URIs): TLS is always used, and the host is the certificate's. */
static char *get_ldap_uri(struct loader *ld, const yaml_node_t *n)
{
	const char *s = get_string(ld, n, "'ldap'", 0), *host, *p;
	struct diag *d;

	if (!s)
		return NULL;
	if (!strncmp(s, "ldaps://", 8))
		host = s + 8;
	else if (!strncmp(s, "ldap://", 7))
		host = s + 7;
	else
		goto bad;
	for (p = host; *p && *p != ':'; p++)
		if (!is_alnum(*p) && *p != '.' && *p != '-')
			goto bad;
	if (p == host)
		goto bad;
	if (*p == ':') {
		size_t digits = 0;

		for (p++; is_digit(*p); p++)
			digits++;
		if (!digits || digits > 5)
			goto bad;
	}
	if (*p && strcmp(p, "/"))
		goto bad;
	return xstrdup(s);
bad:
	d = report(ld, n, "invalid LDAP URI %s", QN(n));
	hint(d, "write ldaps://host[:port] (TLS from the start) or ldap://host[:port] "
	     "(StartTLS, always required)");
	return NULL;
}

/* A distinguished name: RFC 4514 text that libldap parses. */
static char *get_dn(struct loader *ld, const yaml_node_t *n, const char *what)
{
	const char *s = get_string(ld, n, what, 0);
	LDAPDN parsed = NULL;
	struct diag *d;

	if (!s)
		return NULL;
	{
		struct cms_error lerr = CMS_ERROR_INIT;

		if (cms_lib_ldap_load(&lerr) < 0) {
			report(ld, n, "cannot check the distinguished name in %s: %s", what, lerr.message);
			cms_error_clear(&lerr);
			return NULL;
		}
	}
	if (ldap_str2dn(s, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || !parsed) {
		d = report(ld, n, "invalid distinguished name in %s: %s", what, QN(n));
		hint(d, "e.g. \"CN=Topology Settings,CN=RTC Service,CN=Services,CN=Configuration,"
		     "DC=litwareinc,DC=com\"");
		if (parsed)
			ldap_dnfree(parsed);
		return NULL;
	}
	ldap_dnfree(parsed);
	return xstrdup(s);
}

static void load_ldap_attributes(struct loader *ld, const yaml_node_t *n,
				 struct publish_target *t)
{
	yaml_node_pair_t *pair;
	size_t count, i;
	struct diag *d;

	if (!expect_type(ld, n, YAML_MAPPING_NODE, "'attributes'"))
		return;
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count == 0) {
		d = report(ld, n, "'attributes' is empty");
		hint(d, "e.g. msRTCSIP-BackEndServer: \"{primary_sql}\"");
		return;
	}
	t->attrs = xcalloc(count, sizeof(*t->attrs));
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = visit(ld, pair->key), *v;
		const char *name, *value, *bad = NULL;
		size_t badlen = 0;

		if (!k) {
			if (ld->stopped)
				return;
			continue;
		}
		if (!(name = get_string(ld, k, "an attribute name", 0)))
			continue;
		if (!is_ldap_attr_name(name)) {
			d = report(ld, k, "invalid LDAP attribute name %s", QN(k));
			hint(d, "a letter, then letters, digits and '-', e.g. msRTCSIP-BackEndServer");
			continue;
		}
		for (i = 0; i < t->nattrs; i++) {
			if (eq_nocase(t->attrs[i].name, name)) {
				d = report(ld, k, "duplicate attribute %s in 'attributes'", QN(k));
				hint(d, "first at line %d, column %d (attribute names ignore case)",
				     t->attrs[i].at.line, t->attrs[i].at.column);
				break;
			}
		}
		if (i < t->nattrs)
			continue;
		if (!(v = visit(ld, pair->value))) {
			if (ld->stopped)
				return;
			continue;
		}
		if (!(value = get_string(ld, v, "an attribute value", 0)))
			continue;
		if (config_check_ldap_template(value, &bad, &badlen) < 0) {
			d = report(ld, v, "unknown placeholder '%.*s' in the value of attribute '%s'",
				   (int)(badlen > 64 ? 64 : badlen), bad, name);
			hint(d, "placeholders: {store}, {primary}, {primary_fqdn}, {primary_instance}, "
			     "{primary_sql}, {mirror}, {mirror_fqdn}, {mirror_instance}, {mirror_sql}, "
			     "{serial}");
			continue;
		}
		t->attrs[t->nattrs].name = xstrdup(name);
		t->attrs[t->nattrs].value = xstrdup(value);
		t->attrs[t->nattrs].at = pos_of(k);
		t->nattrs++;
	}
}

static void load_ldap(struct loader *ld, const yaml_node_t *map, struct field *f,
		      struct publish_target *t)
{
	struct diag *d;

	if (f[PU_LDAP].value)
		t->uri = get_ldap_uri(ld, f[PU_LDAP].value);
	if (f[PU_DN].value)
		t->dn = get_dn(ld, f[PU_DN].value, "'dn'");
	else if (!f[PU_DN].key)
		missing(ld, map, "dn", "an 'ldap' publish target",
			"the entry to modify, e.g. CN=Topology Settings,CN=RTC Service,"
			"CN=Services,CN=Configuration,DC=litwareinc,DC=com");
	if (f[PU_BIND_DN].value)
		t->bind_dn = get_dn(ld, f[PU_BIND_DN].value, "'bind_dn'");
	else if (!f[PU_BIND_DN].key)
		missing(ld, map, "bind_dn", "an 'ldap' publish target",
			"the account that may write the entry; its password comes from "
			"password_env or password_file");
	if (f[PU_CA_FILE].value)
		t->ca_file = get_path(ld, f[PU_CA_FILE].value, "'ca_file'", 0);
	if (f[PU_ATTRIBUTES].value)
		load_ldap_attributes(ld, f[PU_ATTRIBUTES].value, t);
	else if (!f[PU_ATTRIBUTES].key)
		missing(ld, map, "attributes", "an 'ldap' publish target",
			"e.g. attributes: {msRTCSIP-BackEndServer: \"{primary_sql}\"}");
	if (!f[PU_PASSWORD_ENV].key && !f[PU_PASSWORD_FILE].key) {
		d = report(ld, map, "an 'ldap' publish target needs 'password_env' or 'password_file'");
		hint(d, "the password of bind_dn; cmsctl binds with it over TLS only");
	}
}

static void load_publish_item(struct loader *ld, const yaml_node_t *map,
			      struct publish_target *t)
{
	struct field f[PU_NKEYS];
	int kind = -1;
	size_t k;
	struct diag *d;

	t->at = pos_of(map);
	read_mapping(ld, map, "publish target", publish_keys, PU_NKEYS, f);
	if (ld->stopped)
		return;
	for (k = PU_FILE; k <= PU_LDAP; k++) {
		if (!f[k].key)
			continue;
		if (kind < 0) {
			kind = (int)k;
			continue;
		}
		d = report(ld, f[k].key, "publish target has both '%s' and '%s'",
			   publish_keys[kind], publish_keys[k]);
		hint(d, "use one publish item per target");
	}
	if (kind < 0) {
		d = report(ld, map, "publish target needs one of 'file', 'odbc', 'command' or 'ldap'");
		hint(d, "e.g. '- file: published/location.json'");
		return;
	}
	for (k = PU_TABLE; k < PU_NKEYS; k++) {
		if (!f[k].key || (publish_key_kinds[k] & PU_BIT(kind)))
			continue;
		d = report(ld, f[k].key, "key '%s' is not allowed in a '%s' publish target",
			   publish_keys[k], publish_keys[kind]);
		hint(d, "'%s' belongs to '%s' targets", publish_keys[k], publish_key_home(k));
		f[k].key = f[k].value = NULL;
	}
	t->kind = kind == PU_FILE ? PUBLISH_FILE : kind == PU_ODBC ? PUBLISH_ODBC
		: kind == PU_COMMAND ? PUBLISH_COMMAND : PUBLISH_LDAP;
	t->timeout_ms = 30 * 1000;
	t->required = true;
	if (f[PU_REQUIRED].value)
		get_bool(ld, f[PU_REQUIRED].value, "'required'", &t->required);
	if (kind == PU_ODBC || kind == PU_LDAP) {
		if (f[PU_PASSWORD_ENV].value)
			t->password_env = get_env_name(ld, f[PU_PASSWORD_ENV].value, "'password_env'");
		if (f[PU_PASSWORD_FILE].value)
			t->password_file = get_path(ld, f[PU_PASSWORD_FILE].value, "'password_file'",
						    STR_SECRET);
		if (f[PU_PASSWORD_ENV].key && f[PU_PASSWORD_FILE].key) {
			d = report(ld, f[PU_PASSWORD_FILE].key,
				   "both 'password_env' and 'password_file' in publish target");
			hint(d, "keep one of them");
		}
	}
	switch (kind) {
	case PU_FILE:
		if (f[PU_FILE].value)
			t->path = get_path(ld, f[PU_FILE].value, "'file'", 0);
		break;
	case PU_ODBC:
		if (f[PU_ODBC].value)
			t->connection = get_connection(ld, f[PU_ODBC].value, "'odbc'");
		if (f[PU_TABLE].value)
			t->table = get_identifier(ld, f[PU_TABLE].value, "'table'", "table name");
		else
			t->table = xstrdup("cms_location");
		break;
	case PU_COMMAND:
		if (f[PU_COMMAND].value)
			load_command(ld, f[PU_COMMAND].value, &t->argv, &t->argc);
		if (f[PU_TIMEOUT].value)
			get_duration(ld, f[PU_TIMEOUT].value, "'timeout'", &t->timeout_ms);
		break;
	case PU_LDAP:
		load_ldap(ld, map, f, t);
		break;
	}
}

static void load_publish(struct loader *ld, const yaml_node_t *n, struct store *st)
{
	yaml_node_item_t *item;
	size_t count;

	if (!expect_type(ld, n, YAML_SEQUENCE_NODE, "'publish'"))
		return;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	st->publish = xcalloc(count + 1, sizeof(*st->publish));
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *m = visit(ld, *item);

		if (!m) {
			if (ld->stopped)
				return;
			continue;
		}
		if (!expect_type(ld, m, YAML_MAPPING_NODE, "an item of 'publish'"))
			continue;
		load_publish_item(ld, m, &st->publish[st->npublish++]);
		if (ld->stopped)
			return;
	}
}

static void load_databases(struct loader *ld, const yaml_node_t *n, struct store *st)
{
	struct name_index names;
	yaml_node_item_t *item;
	struct pos *at;
	size_t count, i;
	struct diag *d;

	if (!expect_type(ld, n, YAML_SEQUENCE_NODE, "'databases'"))
		return;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0) {
		d = report(ld, n, "'databases' is empty");
		hint(d, "list the databases that move together, e.g. [xds, lis]");
		return;
	}
	st->databases = xcalloc(count, sizeof(char *));
	at = xcalloc(count, sizeof(*at));
	/* Duplicates through an index: linear in a long list. */
	name_index_init(&names, count);
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *db = visit(ld, *item);
		char *name;

		if (!db) {
			if (ld->stopped)
				break;
			continue;
		}
		if (!(name = get_identifier(ld, db, "an item of 'databases'", "database name")))
			continue;
		if (!name_index_add(&names, name, st->ndatabases, &i)) {
			d = report(ld, db, "duplicate database %s", Q(name));
			hint(d, "first at line %d, column %d", at[i].line, at[i].column);
			free(name);
			continue;
		}
		at[st->ndatabases] = pos_of(db);
		st->databases[st->ndatabases++] = name;
	}
	name_index_free(&names);
	free(at);
}

/* Returns whether every server has a valid name, so that references to
 * servers can be checked without a cascade of follow-on errors. */
static bool load_servers(struct loader *ld, const yaml_node_t *n, struct store *st,
			 bool engine_known)
{
	yaml_node_item_t *item;
	size_t count;
	bool all_ok = true, ok;
	struct diag *d;

	if (!expect_type(ld, n, YAML_SEQUENCE_NODE, "'servers'"))
		return false;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0) {
		d = report(ld, n, "'servers' is empty");
		hint(d, "list the servers that can hold the store's databases");
		return false;
	}
	st->servers = xcalloc(count, sizeof(*st->servers));
	name_index_init(&ld->servers, count);
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *m = visit(ld, *item);

		if (!m) {
			if (ld->stopped)
				break;
			all_ok = false;
			continue;
		}
		if (!expect_type(ld, m, YAML_MAPPING_NODE, "an item of 'servers'")) {
			all_ok = false;
			continue;
		}
		load_server(ld, m, st, engine_known, &ok);
		if (ld->stopped)
			break;
		all_ok = all_ok && ok;
	}
	name_index_free(&ld->servers);
	return all_ok && !ld->stopped;
}

static void load_store(struct loader *ld, const yaml_node_t *map, struct config *cfg)
{
	struct store *st = &cfg->stores[cfg->nstores++];
	struct field f[ST_NKEYS];
	bool engine_known = false, servers_ok = false;
	char where[96];
	const char *s;
	struct diag *d;
	size_t i;

	st->at = pos_of(map);
	policy_defaults(&st->policy);
	st->signed_approvals = true;
	read_mapping(ld, map, "store", store_keys, ST_NKEYS, f);
	if (ld->stopped)
		return;

	if (!f[ST_NAME].key) {
		missing(ld, map, "name", "store", NULL);
	} else if (f[ST_NAME].value && (s = get_string(ld, f[ST_NAME].value, "'name'", 0))) {
		if (!config_is_name(s)) {
			d = report(ld, f[ST_NAME].value, "invalid store name %s", QN(f[ST_NAME].value));
			hint(d, NAME_ADVICE);
		} else {
			st->name = xstrdup(s);
			if (!name_index_add(&ld->stores, st->name, cfg->nstores - 1, &i)) {
				d = report(ld, f[ST_NAME].value, "duplicate store name %s", Q(s));
				hint(d, "first defined at line %d, column %d",
				     cfg->stores[i].at.line, cfg->stores[i].at.column);
			}
		}
	}
	if (st->name)
		snprintf(where, sizeof(where), "store '%s'", st->name);
	else
		snprintf(where, sizeof(where), "store");

	if (!f[ST_ENGINE].key) {
		size_t n, k;
		const struct engine_traits *all = engine_traits_all(&n);
		struct buf names = BUF_INIT;

		buf_adds(&names, "expected one of:");
		for (k = 0; k < n; k++)
			buf_addf(&names, "%s %s", k ? "," : "", all[k].name);
		missing(ld, map, "engine", where, names.ptr);
		buf_free(&names);
	} else if (f[ST_ENGINE].value &&
		   (s = get_string(ld, f[ST_ENGINE].value, "'engine'", 0))) {
		const struct engine_traits *t = engine_traits_by_name(s);

		if (t) {
			st->engine = t->kind;
			engine_known = true;
		} else {
			size_t n, k;
			const struct engine_traits *all = engine_traits_all(&n);
			const char **names = xcalloc(n, sizeof(*names));

			for (k = 0; k < n; k++)
				names[k] = all[k].name;
			d = report(ld, f[ST_ENGINE].value, "unknown engine %s", QN(f[ST_ENGINE].value));
			hint_choices(d, s, (const char *const *)names, n, "expected one of:");
			free(names);
		}
	}

	if (!f[ST_DATABASES].key)
		missing(ld, map, "databases", where,
			"list the databases that move together, e.g. databases: [xds, lis]");
	else if (f[ST_DATABASES].value)
		load_databases(ld, f[ST_DATABASES].value, st);
	if (ld->stopped)
		return;

	if (!f[ST_SERVERS].key)
		missing(ld, map, "servers", where, "list the servers that can hold the store");
	else if (f[ST_SERVERS].value)
		servers_ok = load_servers(ld, f[ST_SERVERS].value, st, engine_known);
	if (ld->stopped)
		return;

	if (!f[ST_LOCATION].key)
		missing(ld, map, "location", where,
			"name the active primary, e.g. location: {primary: pool-a}");
	else if (f[ST_LOCATION].value)
		load_location(ld, f[ST_LOCATION].value, st, servers_ok);
	if (ld->stopped)
		return;

	if (f[ST_POLICY].value)
		load_policy(ld, f[ST_POLICY].value, st);
	if (ld->stopped)
		return;
	if (f[ST_PUBLISH].value)
		load_publish(ld, f[ST_PUBLISH].value, st);
}

/* ---- the backend block -------------------------------------------------- */

#define DEFAULT_STATE_PATH ".cmsctl/state.db"
#define DEFAULT_HISTORY_PATH ".cmsctl/history"

/* Whether a libpq connection string (keyword=value pairs, or a
 * postgresql:// URI) carries a password: a "password" keyword or
 * parameter, or a "user:secret@" part in a URI. */
static bool libpq_has_password(const char *s)
{
	const char *rest, *at, *colon, *end;

	if (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11)) {
		rest = strstr(s, "://") + 3;
		end = rest + strcspn(rest, "/?");
		at = memchr(rest, '@', (size_t)(end - rest));
		colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
		if (colon)
			return true;
		return contains_nocase(end, "password=");
	}
	return contains_nocase(s, "password");
}

/* A remote is a URL (ssh://, file://, https://, http://), scp-like
 * "user@host:path", or a path (resolved against the config's folder). */
static char *get_remote(struct loader *ld, const yaml_node_t *n)
{
	const char *s = get_string(ld, n, "'remote'", 0);
	const char *colon, *slash;
	struct diag *d;

	if (!s)
		return NULL;
	if (strstr(s, "://")) {
		if (strncmp(s, "ssh://", 6) && strncmp(s, "file://", 7) &&
		    strncmp(s, "https://", 8) && strncmp(s, "http://", 7)) {
			d = report(ld, n, "unsupported history remote %s", QN(n));
			hint(d, "use ssh://, file://, https:// or a path");
			return NULL;
		}
		return xstrdup(s);
	}
	colon = strchr(s, ':');
	slash = strchr(s, '/');
	if (colon && (!slash || colon < slash) && s[0] != '.' && s[0] != '/')
		return xstrdup(s); /* user@host:path */
	return get_path(ld, n, "'remote'", 0);
}

static void load_backend(struct loader *ld, const yaml_node_t *n, struct backend *b)
{
	struct field f[BK_NKEYS];
	const char *s;
	struct diag *d;
	bool pg = false;

	b->given = true;
	b->at = pos_of(n);
	if (!expect_type(ld, n, YAML_MAPPING_NODE, "'backend'"))
		return;
	read_mapping(ld, n, "backend", backend_keys, BK_NKEYS, f);
	if (ld->stopped)
		return;
	if (f[BK_STATE].value && (s = get_string(ld, f[BK_STATE].value, "'state'", 0))) {
		if (!strcmp(s, "postgresql")) {
			b->state_kind = STATE_BACKEND_POSTGRESQL;
			pg = true;
		} else if (!strcmp(s, "sqlite")) {
			b->state_kind = STATE_BACKEND_SQLITE;
		} else if (!strncmp(s, "sqlite:", 7) && s[7]) {
			b->state_kind = STATE_BACKEND_SQLITE;
			if (s[7] == '~') {
				d = report(ld, f[BK_STATE].value, "'state' path starts with '~', which "
					   "is not expanded");
				hint(d, "write the full path, or one relative to the config's folder");
			} else {
				b->state_path = resolve_path(ld->dir, s + 7);
			}
		} else {
			d = report(ld, f[BK_STATE].value, "unknown state backend %s",
				   QN(f[BK_STATE].value));
			hint(d, "expected sqlite:PATH (the default, sqlite:.cmsctl/state.db) or "
			     "postgresql (with 'connection')");
		}
	}
	if (f[BK_CONNECTION].value) {
		if (!pg) {
			d = report(ld, f[BK_CONNECTION].key, "'connection' is only for "
				   "'state: postgresql'");
			hint(d, "remove it, or set 'state: postgresql'");
		} else if ((s = get_string(ld, f[BK_CONNECTION].value, "'connection'",
					   STR_SECRET))) {
			if (libpq_has_password(s)) {
				d = report(ld, f[BK_CONNECTION].value,
					   "literal password in 'connection' of the backend");
				hint(d, "remove it; give the password through password_env or "
				     "password_file");
			} else {
				b->connection = xstrdup(s);
			}
		}
	} else if (pg && !f[BK_CONNECTION].key) {
		missing(ld, n, "connection", "backend",
			"a libpq connection string, e.g. \"host=db.example dbname=cmsctl "
			"user=cmsctl\"");
	}
	if (f[BK_PASSWORD_ENV].value || f[BK_PASSWORD_FILE].value) {
		if (!pg) {
			d = report(ld, f[BK_PASSWORD_ENV].key ? f[BK_PASSWORD_ENV].key :
				   f[BK_PASSWORD_FILE].key,
				   "'%s' is only for 'state: postgresql'",
				   f[BK_PASSWORD_ENV].key ? "password_env" : "password_file");
			hint(d, "an SQLite state needs no password");
		} else {
			if (f[BK_PASSWORD_ENV].value)
				b->password_env = get_env_name(ld, f[BK_PASSWORD_ENV].value,
							       "'password_env'");
			if (f[BK_PASSWORD_FILE].value)
				b->password_file = get_path(ld, f[BK_PASSWORD_FILE].value,
							    "'password_file'", STR_SECRET);
			if (f[BK_PASSWORD_ENV].key && f[BK_PASSWORD_FILE].key) {
				d = report(ld, f[BK_PASSWORD_FILE].key,
					   "both 'password_env' and 'password_file' in backend");
				hint(d, "keep one of them");
			}
		}
	}
	if (f[BK_HISTORY].value)
		b->history = get_path(ld, f[BK_HISTORY].value, "'history'", 0);
	if (f[BK_REMOTE].value)
		b->remote = get_remote(ld, f[BK_REMOTE].value);
	if (f[BK_SSH_KEY].value) {
		if (!f[BK_REMOTE].key) {
			d = report(ld, f[BK_SSH_KEY].key, "'ssh_key' without a 'remote'");
			hint(d, "set 'remote' to an ssh:// URL, or remove 'ssh_key'");
		} else {
			b->ssh_key = get_path(ld, f[BK_SSH_KEY].value, "'ssh_key'", STR_SECRET);
		}
	}
}

/* Fills what the backend block left out with the defaults, relative to the
 * config's folder. */
static void backend_defaults(struct backend *b, const char *dir)
{
	if (b->state_kind == STATE_BACKEND_SQLITE && !b->state_path)
		b->state_path = resolve_path(dir, DEFAULT_STATE_PATH);
	if (!b->history)
		b->history = resolve_path(dir, DEFAULT_HISTORY_PATH);
}

/* path with its "." segments and repeated slashes removed, so that two
 * spellings of one file compare equal ("..", which depends on links, is
 * kept); a relative path (a config in the current folder keeps its paths
 * as written) after cwd (the current folder, or NULL), to compare with
 * absolute ones.  Caller frees. */
static char *lexical_path(const char *path, const char *cwd)
{
	struct buf b = BUF_INIT;
	const char *p = path;
	char *joined = NULL;

	if (*p != '/' && cwd) {
		joined = xasprintf("%s/%s", cwd, path);
		p = joined;
	}
	if (*p == '/')
		buf_addch(&b, '/');
	while (*p) {
		const char *e;

		while (*p == '/')
			p++;
		e = p;
		while (*e && *e != '/')
			e++;
		if (e > p && !(e - p == 1 && *p == '.')) {
			if (b.len && b.ptr[b.len - 1] != '/')
				buf_addch(&b, '/');
			buf_add(&b, p, (size_t)(e - p));
		}
		p = e;
	}
	if (!b.len)
		buf_addch(&b, '.');
	free(joined);
	return buf_detach(&b, NULL);
}

/* A location file holds one store's location (its store, lineage and
 * serial), and a publish refuses a file that holds another store's: two
 * stores that name one file cannot both publish there, and a plan set
 * that moves both at once would find out only after their switchovers.
 * Refused here, at the second store's target, in linear time. */
static void check_location_files(struct loader *ld, const struct config *cfg)
{
	struct name_index files;
	char **paths, *cwd;
	size_t np = 0, cap = 0, i, j, first;
	size_t *owner;
	const struct publish_target **target;

	for (i = 0; i < cfg->nstores; i++)
		cap += cfg->stores[i].npublish;
	if (!cap)
		return;
	cwd = getcwd(NULL, 0);
	paths = xcalloc(cap, sizeof(*paths));
	owner = xcalloc(cap, sizeof(*owner));
	target = xcalloc(cap, sizeof(*target));
	name_index_init(&files, cap);
	for (i = 0; i < cfg->nstores; i++) {
		const struct store *st = &cfg->stores[i];

		for (j = 0; j < st->npublish; j++) {
			const struct publish_target *t = &st->publish[j];
			struct diag *d;

			if (t->kind != PUBLISH_FILE || !t->path)
				continue;
			paths[np] = lexical_path(t->path, cwd);
			owner[np] = i;
			target[np] = t;
			if (name_index_add(&files, paths[np], np, &first)) {
				np++;
				continue;
			}
			if (owner[first] != i) {
				const struct store *o = &cfg->stores[owner[first]];

				d = report_at(ld, t->at.line, t->at.column, "publish file %s of store %s "
					      "is also the location file of store %s", Q(t->path),
					      Q(st->name ? st->name : ""), Q(o->name ? o->name : ""));
				hint(d, "store %s names it at line %d, column %d; a location file holds "
				     "one store's location: give each store its own file, e.g. "
				     "'published/%s.json'", Q(o->name ? o->name : ""),
				     target[first]->at.line, target[first]->at.column,
				     st->name ? st->name : "STORE");
			}
			free(paths[np]);
		}
	}
	name_index_free(&files);
	for (i = 0; i < np; i++)
		free(paths[i]);
	free(cwd);
	free(paths);
	free(owner);
	free(target);
}

/* A sqlite server's databases are the files <path>/<database>.db: two
 * servers whose paths name one folder (in one store, or in two stores that
 * have a database of the same name) share a file, and a fence or a
 * catch-up of one would change the other.  Refused here, at the later
 * server.  Paths are compared as spelled, without their "." segments and
 * repeated slashes: links and ".." are not resolved.  The work is the
 * servers (sorted by folder), plus the database names of the stores that
 * share a folder with another store, up to SQLITE_SHARED_MAX of them. */
#define SQLITE_SHARED_MAX 1000000

struct folder_use {
	size_t folder, store, server;
};

static int cmp_folder_use(const void *a, const void *b)
{
	const struct folder_use *x = a, *y = b;

	if (x->folder != y->folder)
		return x->folder < y->folder ? -1 : 1;
	if (x->store != y->store)
		return x->store < y->store ? -1 : 1;
	return x->server < y->server ? -1 : x->server > y->server;
}

/* The stores of uses [from, to) (one folder, sorted by store) share no
 * database name; *budget counts the names compared.  Reports the first
 * clash of each store.  False when the budget ran out. */
static bool check_shared_folder(struct loader *ld, const struct config *cfg,
				const struct folder_use *u, size_t from, size_t to, size_t *budget)
{
	struct name_index names;
	size_t total = 0, k, d, first;

	for (k = from; k < to; k++)
		if (k == from || u[k].store != u[k - 1].store)
			total += cfg->stores[u[k].store].ndatabases;
	if (total > *budget) {
		const struct server *sv = &cfg->stores[u[to - 1].store].servers[u[to - 1].server];
		struct diag *d2 = report_at(ld, sv->at.line, sv->at.column,
					    "too many servers share their folder with another store's "
					    "servers: more than %d database names to compare",
					    SQLITE_SHARED_MAX);
		hint(d2, "give each store's servers their own folders");
		return false;
	}
	*budget -= total;
	name_index_init(&names, total);
	for (k = from; k < to; k++) {
		const struct store *st = &cfg->stores[u[k].store];

		if (k > from && u[k].store == u[k - 1].store)
			continue;
		for (d = 0; d < st->ndatabases; d++) {
			const struct store *os;
			const struct server *sv, *ov;
			struct diag *dg;
			size_t o;

			if (name_index_add(&names, st->databases[d], u[k].store, &first))
				continue;
			os = &cfg->stores[first];
			sv = &st->servers[u[k].server];
			for (o = from; o < to && u[o].store != first; o++)
				;
			ov = &os->servers[u[o].server];
			dg = report_at(ld, sv->at.line, sv->at.column,
				       "server %s of store %s has the folder of server %s of store %s, "
				       "and both stores have database %s: one file for two stores",
				       Q(sv->name), Q(st->name ? st->name : ""), Q(ov->name),
				       Q(os->name ? os->name : ""), Q(st->databases[d]));
			hint(dg, "store %s names it at line %d, column %d; a fence or catch-up of "
			     "one store would change the other's database: give each store's "
			     "servers their own folders", Q(os->name ? os->name : ""), ov->at.line,
			     ov->at.column);
			break; /* one message a store */
		}
	}
	name_index_free(&names);
	return true;
}

static void check_sqlite_files(struct loader *ld, const struct config *cfg)
{
	struct name_index folders;
	struct folder_use *u;
	char **dirs, *cwd;
	size_t nu = 0, nd = 0, cap = 0, i, j, first, g, budget = SQLITE_SHARED_MAX;

	for (i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].engine == ENGINE_SQLITE)
			cap += cfg->stores[i].nservers;
	if (!cap)
		return;
	cwd = getcwd(NULL, 0);
	u = xcalloc(cap, sizeof(*u));
	dirs = xcalloc(cap, sizeof(*dirs));
	name_index_init(&folders, cap);
	for (i = 0; i < cfg->nstores; i++) {
		const struct store *st = &cfg->stores[i];

		if (st->engine != ENGINE_SQLITE)
			continue;
		for (j = 0; j < st->nservers; j++) {
			char *dir;

			if (!st->servers[j].path)
				continue;
			dir = lexical_path(st->servers[j].path, cwd);
			if (name_index_add(&folders, dir, nd, &first)) {
				dirs[nd] = dir;
				first = nd++;
			} else {
				free(dir);
			}
			u[nu].folder = first;
			u[nu].store = i;
			u[nu].server = j;
			nu++;
		}
	}
	qsort(u, nu, sizeof(*u), cmp_folder_use);
	for (g = 0; g < nu;) {
		size_t end = g + 1, nstores = 1, k;

		for (; end < nu && u[end].folder == u[g].folder; end++)
			if (u[end].store != u[end - 1].store)
				nstores++;
		/* Two servers of one store in one folder: one server, two names. */
		for (k = g + 1; k < end; k++) {
			const struct store *st = &cfg->stores[u[k].store];
			const struct server *sv = &st->servers[u[k].server], *ov;
			struct diag *d;

			if (u[k].store != u[k - 1].store)
				continue;
			ov = &st->servers[u[k - 1].server];
			d = report_at(ld, sv->at.line, sv->at.column,
				      "server %s has the path of server %s (%s): one folder of "
				      "databases cannot be two servers", Q(sv->name), Q(ov->name),
				      Q(sv->path));
			hint(d, "server %s is at line %d, column %d; give each server its own folder",
			     Q(ov->name), ov->at.line, ov->at.column);
		}
		if (nstores > 1 && !check_shared_folder(ld, cfg, u, g, end, &budget))
			break;
		g = end;
	}
	name_index_free(&folders);
	for (i = 0; i < nd; i++)
		free(dirs[i]);
	free(dirs);
	free(u);
	free(cwd);
}

static void load_root(struct loader *ld, yaml_node_t *root, struct config *cfg)
{
	struct field f[TOP_NKEYS];
	yaml_node_item_t *item;
	long long version;
	size_t count;
	struct diag *d;
	const yaml_node_t *n;

	if (root->type != YAML_MAPPING_NODE) {
		d = report(ld, root, "expected a mapping at the top of the config, got %s",
			   got(root, false).s);
		hint(d, "start with 'version: 1' and a 'stores:' list");
		return;
	}
	read_mapping(ld, root, "config", top_keys, TOP_NKEYS, f);
	if (ld->stopped)
		return;
	if (f[TOP_BACKEND].value)
		load_backend(ld, f[TOP_BACKEND].value, &cfg->backend);
	if (ld->stopped)
		return;
	if (!f[TOP_VERSION].key) {
		missing(ld, root, "version", "config", "add 'version: 1' at the top of the file");
	} else if (f[TOP_VERSION].value &&
		   get_int(ld, f[TOP_VERSION].value, "'version'", LLONG_MIN, LLONG_MAX, &version)) {
		if (version != 1) {
			d = report(ld, f[TOP_VERSION].value, "unsupported config version %lld", version);
			hint(d, "this cmsctl reads version 1");
		} else {
			cfg->version = 1;
		}
	}
	if (!f[TOP_STORES].key) {
		missing(ld, root, "stores", "config", "list the stores under 'stores:'");
		return;
	}
	n = f[TOP_STORES].value;
	if (!n || !expect_type(ld, n, YAML_SEQUENCE_NODE, "'stores'"))
		return;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0) {
		d = report(ld, n, "'stores' is empty");
		hint(d, "add at least one store");
		return;
	}
	cfg->stores = xcalloc(count, sizeof(*cfg->stores));
	name_index_init(&ld->stores, count);
	for (item = n->data.sequence.items.start; item < n->data.sequence.items.top; item++) {
		yaml_node_t *m = visit(ld, *item);

		if (!m) {
			if (ld->stopped)
				break;
			continue;
		}
		if (!expect_type(ld, m, YAML_MAPPING_NODE, "an item of 'stores'"))
			continue;
		load_store(ld, m, cfg);
		if (ld->stopped)
			break;
	}
	name_index_free(&ld->stores);
	if (!ld->stopped)
		check_location_files(ld, cfg);
	/* Only over a config loaded whole: a store whose engine or servers
	 * were refused is not what its author meant. */
	if (!ld->stopped && ld->diags->len == ld->first_diag && !ld->more_diags)
		check_sqlite_files(ld, cfg);
}

/* ---- parsing ----------------------------------------------------------- */

/* The byte offset of a libyaml mark (line and column from 0; the column
 * counts characters), or len when it is past the end. */
static size_t mark_offset(const char *data, size_t len, size_t line, size_t column)
{
	size_t i = 0;

	while (line > 0 && i < len) {
		if (data[i++] == '\n')
			line--;
	}
	while (column > 0 && i < len && data[i] != '\n') {
		i++;
		while (i < len && ((unsigned char)data[i] & 0xC0) == 0x80)
			i++;
		column--;
	}
	return i;
}

static void report_yaml_error(struct loader *ld, const yaml_parser_t *p, const char *data,
			      size_t len)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	int line = 1, column = 1;
	struct diag *d;
	size_t i, at;

	if (p->error == YAML_MEMORY_ERROR) {
		report_at(ld, 0, 0, "cannot parse config '%s': out of memory", ld->file);
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* Encoding problems have a byte offset, not a mark.  libyaml's
		 * value is a code point, or for a bad octet that octet alone: a
		 * trailing octet's offset is past the sequence's lead byte,
		 * which is where the problem starts. */
		size_t start = p->problem_offset, end;
		bool octet = strstr(problem, "octet") != NULL;

		if (octet && !strcmp(problem, "invalid trailing UTF-8 octet")) {
			while (start > 0 && start <= len && p->problem_offset - start < 3 &&
			       ((unsigned char)data[start - 1] & 0xC0) == 0x80)
				start--;
			if (start > 0 && start <= len && ((unsigned char)data[start - 1] & 0xC0) == 0xC0)
				start--;
		}
		for (i = 0; i < start && i < len; i++) {
			if (data[i] == '\n') {
				line++;
				column = 1;
			} else if (((unsigned char)data[i] & 0xC0) != 0x80) {
				column++;
			}
		}
		d = report_at(ld, line, column, "invalid YAML: %s", problem);
		if (p->problem_value != -1 && !octet) {
			hint(d, "character U+%04X at offset %zu; a config must be UTF-8 text without "
			     "control characters", (unsigned)p->problem_value, start);
		} else if (start < len) {
			struct buf b = BUF_INIT;

			end = octet ? p->problem_offset + 1 : start + 1;
			if (end > len)
				end = len;
			if (end - start > 4)
				end = start + 4;
			for (i = start; i < end; i++)
				buf_addf(&b, "%s0x%02x", i > start ? " " : "", (unsigned char)data[i]);
			hint(d, "byte%s %s at offset %zu; a config must be UTF-8 text", end - start > 1 ?
			     "s" : "", b.ptr, start);
			buf_free(&b);
		} else {
			hint(d, "a config must be UTF-8 text");
		}
		return;
	}
	line = (int)p->problem_mark.line + 1;
	column = (int)p->problem_mark.column + 1;
	/* libyaml's index counts characters, not bytes: from line and
	 * column instead. */
	at = mark_offset(data, len, p->problem_mark.line, p->problem_mark.column);
	if (p->context && !strcmp(problem, "second occurrence") &&
	    !strncmp(p->context, "found duplicate anchor", 22)) {
		/* libyaml's composer puts it the other way round. */
		size_t at0 = at, e0 = at0;

		if (at0 < len && data[at0] == '&') {
			e0 = at0 + 1;
			while (e0 < len && !strchr(" \t\r\n,[]{}", data[e0]))
				e0++;
		}
		d = report_at(ld, line, column, "invalid YAML: duplicate anchor%s%.*s (first at line "
			      "%d, column %d)", e0 > at0 ? " " : "", (int)(e0 - at0), data + at0,
			      (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
		hint(d, "each anchor (&name) is defined once; give the second another name");
		return;
	}
	if (p->context)
		d = report_at(ld, line, column, "invalid YAML: %s (%s at line %d, column %d)",
			      problem, p->context, (int)p->context_mark.line + 1,
			      (int)p->context_mark.column + 1);
	else
		d = report_at(ld, line, column, "invalid YAML: %s", problem);
	if (at < len && data[at] == '\t') {
		hint(d, "indent with spaces: YAML does not allow tabs for indentation");
	} else if (p->error == YAML_COMPOSER_ERROR && at < len && data[at] == '*') {
		/* libyaml does not say which alias; the text does. */
		size_t end = at + 1;

		while (end < len && end - at <= QUOTE_MAX && data[end] != ' ' &&
		       data[end] != '\n' && data[end] != '\r' && data[end] != ',' &&
		       data[end] != ']' && data[end] != '}')
			end++;
		hint(d, "%s is used before an anchor '&%.*s' defines it", quote_n(data + at, end - at).s,
		     (int)(end - at - 1), data + at + 1);
	}
}

struct sortable {
	struct diag d;
	size_t seq;
};

static int cmp_diag(const void *a, const void *b)
{
	const struct sortable *x = a, *y = b;

	if (x->d.line != y->d.line)
		return x->d.line < y->d.line ? -1 : 1;
	if (x->d.column != y->d.column)
		return x->d.column < y->d.column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Orders the diagnostics from index first on by position, keeping the
 * order of those at the same place. */
static void sort_diags(struct diag_list *dl, size_t first)
{
	size_t n = dl->len - first, i;
	struct sortable *tmp;

	if (n < 2)
		return;
	tmp = xcalloc(n, sizeof(*tmp));
	for (i = 0; i < n; i++) {
		tmp[i].d = dl->items[first + i];
		tmp[i].seq = i;
	}
	qsort(tmp, n, sizeof(*tmp), cmp_diag);
	for (i = 0; i < n; i++)
		dl->items[first + i] = tmp[i].d;
	free(tmp);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int finish(struct config **out, struct config *cfg, struct diag_list *diags,
		  size_t first, const char *name, struct cms_error *err)
{
	size_t n = diags->len - first;

	if (n == 0) {
		*out = cfg;
		return 0;
	}
	config_free(cfg);
	sort_diags(diags, first);
	/* A file that could not be read has one diagnostic that says it all. */
	if (n == 1 && diags->items[first].line == 0)
		return cms_error_set(err, CMS_ERROR, "%s", diags->items[first].message);
	return cms_error_set(err, CMS_ERROR, "'%s' has %zu error%s", name, n, n == 1 ? "" : "s");
}

/* What the pass over the events checks of a node's anchor and tag:
 * more than MAX_ANCHORS anchors stop the load (libyaml compares each new
 * anchor with every earlier one: their number costs its square in time);
 * an explicit tag that names a node's default type (`!!str 2`, `!!map`)
 * is refused here, where it can still be told from no tag at all (the
 * document gives both the same tag, and the walk refuses the others). */
static void prescan_node(struct loader *ld, const yaml_event_t *ev, size_t *anchors, bool *ok)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;
	const char *want = NULL;
	bool implicit = true;
	struct diag *d;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		implicit = ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit;
		want = YAML_DEFAULT_SCALAR_TAG;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		implicit = ev->data.sequence_start.implicit;
		want = YAML_DEFAULT_SEQUENCE_TAG;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		implicit = ev->data.mapping_start.implicit;
		want = YAML_DEFAULT_MAPPING_TAG;
		break;
	default:
		return;
	}
	if (anchor && *ok && ++*anchors > MAX_ANCHORS) {
		d = report_at(ld, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			      "config has more than %d anchors", MAX_ANCHORS);
		hint(d, "a config may define at most %d anchors (&name): write the values out, or "
		     "share one anchor among several aliases", MAX_ANCHORS);
		*ok = false;
	}
	/* The non-specific tag '!' is resolved to the default one too (and
	 * libyaml marks its node implicit). */
	if (tag && (!strcmp((const char *)tag, "!") || (!implicit && !strcmp((const char *)tag, want)))) {
		d = report_at(ld, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			      "unsupported YAML tag '%s%s'", strcmp((const char *)tag, "!") ? "!!" : "",
			      strcmp((const char *)tag, "!") ? want + strlen(YAML_TAG_PREFIX) : "!");
		hint(d, "remove the tag: cms.yaml uses plain YAML values (quote a string that "
		     "looks like a number or a boolean)");
	}
}

/* The pass over the events before the document is built: refuses a file
 * with more than MAX_NODES nodes or nested deeper than MAX_DEPTH, where the
 * limit is passed.  A syntax error is left to the load, which reports it
 * with its context.  true when the document may be built. */
static bool prescan(struct loader *ld, const char *data, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t nodes = 0, depth = 0, anchors = 0;
	bool ok = true, more = true;
	struct diag *d;

	if (!yaml_parser_initialize(&parser))
		return true; /* the load reports it */
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (more && ok) {
		if (!yaml_parser_parse(&parser, &ev))
			break;
		prescan_node(ld, &ev, &anchors, &ok);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			more = false;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > MAX_DEPTH) {
				d = report_at(ld, (int)ev.start_mark.line + 1,
					      (int)ev.start_mark.column + 1,
					      "config nests deeper than %d levels", MAX_DEPTH);
				hint(d, "cms.yaml needs 8 levels of nesting at most (a server's fence "
				     "command, for one); this looks like a nesting bomb");
				ok = false;
			}
			/* fall through */
		case YAML_SCALAR_EVENT:
			if (ok && ++nodes > MAX_NODES) {
				d = report_at(ld, (int)ev.start_mark.line + 1,
					      (int)ev.start_mark.column + 1,
					      "config has more than %d YAML nodes", MAX_NODES);
				hint(d, "a config is read up to %d nodes (about 70,000 stores of two "
				     "servers): split the stores over several configs", MAX_NODES);
				ok = false;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return ok;
}

/* Every return of config_load_buffer: the note that errors were left
 * out, the spare freed, then finish(). */
static int finish_load(struct loader *ldp, struct config **out, struct config *cfg,
		       struct diag_list *diags, size_t first, const char *name,
		       struct cms_error *err)
{
	const struct loader ld = *ldp;

	if (ld.more_diags) {
		/* Last after sorting: just after the last one kept. */
		int line = 0, column = 0;
		struct diag *last;
		size_t i;

		for (i = first; i < diags->len; i++)
			if (diags->items[i].line > line ||
			    (diags->items[i].line == line && diags->items[i].column > column)) {
				line = diags->items[i].line;
				column = diags->items[i].column;
			}
		last = ARRAY_PUSH(diags->items, diags->len, diags->alloc);
		memset(last, 0, sizeof(*last));
		last->file = xstrdup(name);
		last->line = line;
		last->column = column + 1;
		last->message = xasprintf("more errors not shown: at most %d are reported, and the "
					  "check stopped there", MAX_DIAGS);
		last->hint = xstrdup("fix the errors above and run again");
	}
	free(ld.spare.message);
	free(ld.spare.hint);
	return finish(out, cfg, diags, first, name, err);
}

int config_load_buffer(struct config **out, const char *name, const char *dir,
		       const char *data, size_t len, struct diag_list *diags,
		       struct cms_error *err)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct loader ld = { 0 };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	size_t first = diags->len;
	struct diag *d;

	*out = NULL;
	cfg->path = xstrdup(name);
	cfg->dir = xstrdup(dir ? dir : ".");
	ld.file = name;
	ld.dir = cfg->dir;
	ld.diags = diags;
	ld.doc = &doc;
	ld.first_diag = first;

	if (len > MAX_FILE_BYTES) {
		d = report_at(&ld, 0, 0, "cannot read config '%s': too large (more than "
			      MAX_FILE_TEXT ")", name);
		hint(d, "%s", TOO_LARGE_HINT);
		return finish_load(&ld, out, cfg, diags, first, name, err);
	}
	if (!prescan(&ld, data, len))
		return finish_load(&ld, out, cfg, diags, first, name, err);
	if (!yaml_parser_initialize(&parser)) {
		report_at(&ld, 0, 0, "cannot parse config '%s': out of memory", name);
		return finish_load(&ld, out, cfg, diags, first, name, err);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		report_yaml_error(&ld, &parser, data, len);
		yaml_parser_delete(&parser);
		return finish_load(&ld, out, cfg, diags, first, name, err);
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		d = report_at(&ld, 1, 1, "config is empty");
		hint(d, "start with 'version: 1' and a 'stores:' list");
	} else {
		ld.nseen = (size_t)(doc.nodes.top - doc.nodes.start);
		ld.seen = xcalloc(ld.nseen ? ld.nseen : 1, 1);
		if ((root = visit(&ld, 1)) != NULL)
			load_root(&ld, root, cfg);
		free(ld.seen);
		/* One document per file: a second one would be silently ignored. */
		if (!yaml_parser_load(&parser, &extra)) {
			report_yaml_error(&ld, &parser, data, len);
		} else {
			if (yaml_document_get_root_node(&extra)) {
				d = report_at(&ld, (int)extra.start_mark.line + 1,
					      (int)extra.start_mark.column + 1,
					      "more than one YAML document in config");
				hint(d, "a config is one document: remove this '---' and what follows, "
				     "or put it in its own file");
			}
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	backend_defaults(&cfg->backend, cfg->dir);
	return finish_load(&ld, out, cfg, diags, first, name, err);
}

int config_load(struct config **out, const char *path, struct diag_list *diags,
		struct cms_error *err)
{
	struct buf data = BUF_INIT;
	struct diag *d;
	char *dir;
	int fd, rc;

	*out = NULL;
	/* Without blocking, and only a regular file: a FIFO or a device is
	 * refused before anything is read from it. */
	fd = cms_open_input(path, MAX_FILE_BYTES, "config", err);
	if (fd < 0) {
		d = report_file(diags, path, "%s", err->message);
		if (strstr(err->message, "too large"))
			hint(d, "%s", TOO_LARGE_HINT);
		return cms_error_set(err, CMS_ERROR, "%s", d->message);
	}
	/* Read up to one byte past the limit, so that "too large" is known
	 * without trusting st_size (a file growing meanwhile). */
	for (;;) {
		char chunk[65536];
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			buf_free(&data);
			d = report_file(diags, path, "cannot read config '%s': %s", path, strerror(e));
			return cms_error_set(err, CMS_ERROR, "%s", d->message);
		}
		if (r == 0)
			break;
		buf_add(&data, chunk, (size_t)r);
		if (data.len > MAX_FILE_BYTES) {
			close(fd);
			buf_free(&data);
			d = report_file(diags, path, "cannot read config '%s': too large (more "
					"than " MAX_FILE_TEXT ")", path);
			return cms_error_set(err, CMS_ERROR, "%s", d->message);
		}
	}
	close(fd);
	dir = dir_of(path);
	rc = config_load_buffer(out, path, dir, data.ptr, data.len, diags, err);
	free(dir);
	buf_free(&data);
	return rc;
}

/* ---- passwords --------------------------------------------------------- */

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

int config_read_password(char **out, const char *password_env, const char *password_file,
			 struct cms_error *err)
{
	char *secret;
	struct stat sb;
	ssize_t r;
	size_t len = 0;
	int fd;

	*out = NULL;
	if (password_env && password_file)
		return cms_error_set(err, CMS_ERROR,
				     "both a password variable '%s' and a password file '%s' are set",
				     password_env, password_file);
	if (password_env) {
		const char *v = getenv(password_env);

		if (!v)
			return cms_error_set(err, CMS_ERROR,
					     "password variable '%s' is not set", password_env);
		if (!*v)
			return cms_error_set(err, CMS_ERROR,
					     "password variable '%s' is empty", password_env);
		*out = xstrdup(v);
		return 0;
	}
	if (!password_file)
		return 0;
	fd = open(password_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return cms_error_set(err, CMS_ERROR, "cannot open password file '%s': %s",
				     password_file, strerror(errno));
	/* Checked on the open file, so the file read is the file checked. */
	if (fstat(fd, &sb) < 0) {
		int e = errno;

		close(fd);
		return cms_error_set(err, CMS_ERROR, "cannot stat password file '%s': %s",
				     password_file, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return cms_error_set(err, CMS_ERROR, "password file '%s' is not a regular file",
				     password_file);
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		cms_error_set(err, CMS_ERROR,
			      "password file '%s' has mode %04o: group and others must have no access",
			      password_file, (unsigned)(sb.st_mode & 07777));
		cms_error_hint(err, "chmod 600 '%s'", password_file);
		return CMS_ERROR;
	}
	secret = xmalloc(MAX_PASSWORD_BYTES + 1);
	for (;;) {
		r = read(fd, secret + len, MAX_PASSWORD_BYTES + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len > MAX_PASSWORD_BYTES)
			break;
	}
	close(fd);
	if (r < 0 || len > MAX_PASSWORD_BYTES || memchr(secret, '\0', len)) {
		int e = errno;

		wipe(secret, len);
		free(secret);
		if (r < 0)
			return cms_error_set(err, CMS_ERROR, "cannot read password file '%s': %s",
					     password_file, strerror(e));
		if (len > MAX_PASSWORD_BYTES)
			return cms_error_set(err, CMS_ERROR,
					     "password file '%s' is too large (more than %d bytes)",
					     password_file, MAX_PASSWORD_BYTES);
		return cms_error_set(err, CMS_ERROR, "password file '%s' contains a NUL byte",
				     password_file);
	}
	/* One trailing newline is how editors and `echo` end a file. */
	if (len > 0 && secret[len - 1] == '\n') {
		len--;
		if (len > 0 && secret[len - 1] == '\r')
			len--;
	}
	secret[len] = '\0';
	if (len == 0) {
		free(secret);
		return cms_error_set(err, CMS_ERROR, "password file '%s' is empty", password_file);
	}
	*out = secret;
	return 0;
}
