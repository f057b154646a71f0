/*
 * The production database session: unixODBC.
 *
 * One environment and one connection handle per session, opened with
 * SQLDriverConnect and SQL_DRIVER_NOPROMPT (cmsctl never asks a person for
 * anything through a driver).  Every connection gets a login timeout and a
 * connection timeout, every statement a query timeout, in whole seconds
 * rounded up and never 0 (0 means "wait forever" in ODBC).
 *
 * Results are fetched completely, every column as a string through
 * SQLGetData in chunks, so that long values are never silently cut and SQL
 * NULL stays distinguishable from "".  Extra result sets are drained and
 * ignored, but an error reported while draining them (a failing statement
 * late in a batch) fails the statement.
 *
 * Secrets: the password is appended to the connection string only for the
 * SQLDriverConnect call, wiped from memory right after, and scrubbed from
 * every diagnostic (drivers sometimes echo the connection string in their
 * messages), as is any PWD= value that might appear in one.
 */
#include "applier/db.h"
#include "common/buf.h"
#include "common/util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sql.h>
#include <sqlext.h>

/* Upper bound on one fetched value: the statements cmsctl sends return
 * small values; anything bigger is a broken or hostile server. */
#define ODBC_MAX_CELL (16u * 1024u * 1024u)
/* At most this many diagnostic records are gathered per failure. */
#define ODBC_MAX_DIAG 16

struct db_odbc {
	struct db base;          /* first: a struct db * is a struct db_odbc * */
	SQLHENV env;
	SQLHDBC dbc;
	int connected;           /* SQLDriverConnect succeeded: disconnect on close */
	SQLULEN query_timeout_s; /* for SQL_ATTR_QUERY_TIMEOUT, >= 1 */
};

static SQLULEN timeout_seconds(int64_t ms)
{
	if (ms <= 1000)
		return 1;
	return (SQLULEN)((ms + 999) / 1000);
}

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

void db_scrub_secret(struct buf *b, const char *secret)
{
	struct buf out = BUF_INIT;
	size_t slen;
	const char *p, *hit, *from;
	bool changed = false;

	if (!secret || !*secret || !b->ptr || !strstr(b->ptr, secret))
		return;
	slen = strlen(secret);
	p = from = b->ptr;
	/* Only whole words: the secret "x" must leave "Unexpected" alone,
	 * while "'x'" or "=x;" lose it.  A secret that starts or ends with a
	 * punctuation character is bounded by that character itself. */
	while ((hit = strstr(p, secret)) != NULL) {
		bool starts = hit == b->ptr || !word_char(hit[-1]) || !word_char(secret[0]);
		bool ends = !word_char(hit[slen]) || !word_char(secret[slen - 1]);

		if (!starts || !ends) {
			p = hit + 1;
			continue;
		}
		buf_add(&out, from, (size_t)(hit - from));
		buf_adds(&out, "***");
		p = from = hit + slen;
		changed = true;
	}
	if (!changed) {
		buf_free(&out);
		return;
	}
	buf_adds(&out, from);
	wipe(b->ptr, b->len);
	buf_free(b);
	*b = out;
}

/* Masks the value of any PWD= attribute (braced or not) in b. */
static void scrub_pwd_attributes(struct buf *b)
{
	struct buf out = BUF_INIT;
	const char *p = b->ptr;
	int changed = 0;

	while (*p) {
		if ((p == b->ptr || !isalnum((unsigned char)p[-1])) && strncasecmp(p, "pwd=", 4) == 0) {
			buf_add(&out, p, 4);
			buf_adds(&out, "***");
			p += 4;
			if (*p == '{') {
				/* Braced: runs to a '}' not doubled. */
				p++;
				while (*p) {
					if (*p == '}' && p[1] == '}') {
						p += 2;
						continue;
					}
					if (*p == '}') {
						p++;
						break;
					}
					p++;
				}
			} else {
				while (*p && *p != ';')
					p++;
			}
			changed = 1;
			continue;
		}
		buf_addch(&out, *p++);
	}
	if (!changed) {
		buf_free(&out);
		return;
	}
	wipe(b->ptr, b->len);
	buf_free(b);
	*b = out;
}

/* Appends every diagnostic record of handle to out as
 * "[SQLSTATE] native N: message", separated by "; ".  Control characters
 * in a driver's message become spaces: it is untrusted input that ends up
 * on one line of a terminal or a log. */
static void odbc_diag(struct buf *out, SQLSMALLINT type, SQLHANDLE h)
{
	SQLSMALLINT i;
	size_t start = out->len;

	for (i = 1; i <= ODBC_MAX_DIAG; i++) {
		SQLCHAR state[6] = "";
		SQLCHAR small[SQL_MAX_MESSAGE_LENGTH];
		SQLCHAR *msg = small, *big = NULL;
		SQLINTEGER native = 0;
		SQLSMALLINT len = 0;
		SQLRETURN r;
		size_t k, n;

		r = SQLGetDiagRec(type, h, i, state, &native, small, (SQLSMALLINT)sizeof(small), &len);
		if (!SQL_SUCCEEDED(r))
			break;
		if (len >= (SQLSMALLINT)sizeof(small)) {
			SQLSMALLINT len2 = 0;

			big = xmalloc((size_t)len + 1);
			r = SQLGetDiagRec(type, h, i, state, &native, big, (SQLSMALLINT)(len + 1), &len2);
			if (SQL_SUCCEEDED(r)) {
				msg = big;
				len = len2 < len ? len2 : len;
			} else {
				len = (SQLSMALLINT)(sizeof(small) - 1);
			}
		}
		state[5] = '\0';
		if (out->len > start)
			buf_adds(out, "; ");
		buf_addf(out, "[%s] native %ld: ", state[0] ? (char *)state : "?????", (long)native);
		n = strnlen((char *)msg, len < 0 ? 0 : (size_t)len);
		while (n > 0 && isspace((unsigned char)msg[n - 1]))
			n--;
		for (k = 0; k < n; k++) {
			unsigned char c = msg[k];
			buf_addch(out, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
		}
		if (big) {
			wipe(big, (size_t)len);
			free(big);
		}
	}
	if (out->len == start)
		buf_adds(out, "no diagnostic from the ODBC driver");
}

static void odbc_close(struct db *db)
{
	struct db_odbc *o = (struct db_odbc *)db;

	if (o->dbc != SQL_NULL_HDBC) {
		if (o->connected)
			SQLDisconnect(o->dbc);
		SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
		o->dbc = SQL_NULL_HDBC;
	}
	if (o->env != SQL_NULL_HENV) {
		SQLFreeHandle(SQL_HANDLE_ENV, o->env);
		o->env = SQL_NULL_HENV;
	}
	o->connected = 0;
}

static int stmt_error(struct db_odbc *o, const char *sql, SQLSMALLINT type, SQLHANDLE h,
		      const char *what, struct cms_error *err)
{
	struct buf diag = BUF_INIT;
	size_t sqllen = strlen(sql);
	int rc;

	odbc_diag(&diag, type, h);
	scrub_pwd_attributes(&diag);
	rc = cms_error_set(err, CMS_ERROR, "%s on server '%s': %s (in '%.200s%s')", what,
			   o->base.label, diag.ptr, sql, sqllen > 200 ? "..." : "");
	buf_free(&diag);
	return rc;
}

/* Fetches column col of the current row as a string; *out NULL for SQL
 * NULL.  Returns 0, or -1 with the failing return code in *ret (or
 * SQL_SUCCESS when the value was too large). */
static int odbc_get_cell(SQLHSTMT st, SQLUSMALLINT col, char **out, SQLRETURN *ret)
{
	char chunk[4096];
	struct buf val = BUF_INIT;
	int isnull = 0;

	*out = NULL;
	*ret = SQL_SUCCESS;
	for (;;) {
		SQLLEN ind = 0;
		SQLRETURN r = SQLGetData(st, col, SQL_C_CHAR, chunk, (SQLLEN)sizeof(chunk), &ind);

		if (r == SQL_NO_DATA)
			break; /* everything was returned by the previous call */
		if (!SQL_SUCCEEDED(r)) {
			*ret = r;
			buf_free(&val);
			return -1;
		}
		if (ind == SQL_NULL_DATA) {
			isnull = 1;
			break;
		}
		if (ind == SQL_NO_TOTAL || ind >= (SQLLEN)sizeof(chunk)) {
			/* Truncated: the buffer holds sizeof - 1 bytes and a NUL. */
			buf_add(&val, chunk, sizeof(chunk) - 1);
		} else if (ind >= 0) {
			buf_add(&val, chunk, (size_t)ind);
			break;
		} else {
			*ret = SQL_ERROR;
			buf_free(&val);
			return -1;
		}
		if (val.len > ODBC_MAX_CELL) {
			buf_free(&val);
			return -1;
		}
	}
	if (isnull) {
		buf_free(&val);
		return 0;
	}
	*out = buf_detach(&val, NULL);
	return 0;
}

static int odbc_fetch(struct db_odbc *o, const char *sql, SQLHSTMT st, struct db_result **out,
		      struct cms_error *err)
{
	struct db_result *res = xcalloc(1, sizeof(*res));
	size_t alloc_cells = 0, ncells = 0;
	SQLSMALLINT ncols = 0;
	SQLRETURN r;
	SQLUSMALLINT c;
	int rc = 0;

	r = SQLNumResultCols(st, &ncols);
	if (!SQL_SUCCEEDED(r)) {
		rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "cannot read the result of a statement", err);
		goto done;
	}
	if (ncols <= 0)
		goto done;
	res->ncols = (size_t)ncols;
	res->colnames = xcalloc(res->ncols, sizeof(char *));
	for (c = 1; c <= (SQLUSMALLINT)ncols; c++) {
		SQLCHAR name[256];
		SQLSMALLINT namelen = 0, type = 0, digits = 0, nullable = 0;
		SQLULEN size = 0;

		r = SQLDescribeCol(st, c, name, (SQLSMALLINT)sizeof(name), &namelen, &type, &size,
				   &digits, &nullable);
		if (!SQL_SUCCEEDED(r)) {
			rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "cannot describe a result column", err);
			goto done;
		}
		name[sizeof(name) - 1] = '\0';
		res->colnames[c - 1] = xstrdup((char *)name);
	}
	for (;;) {
		r = SQLFetch(st);
		if (r == SQL_NO_DATA)
			break;
		if (!SQL_SUCCEEDED(r)) {
			rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "statement failed", err);
			goto done;
		}
		array_grow(&res->cells, &alloc_cells, ncells + res->ncols, sizeof(char *));
		for (c = 1; c <= (SQLUSMALLINT)ncols; c++) {
			char *cell = NULL;

			if (odbc_get_cell(st, c, &cell, &r) < 0) {
				if (r == SQL_SUCCESS)
					rc = cms_error_set(err, CMS_ERROR,
							   "statement failed on server '%s': a value is larger than %u bytes (in '%.200s')",
							   o->base.label, ODBC_MAX_CELL, sql);
				else
					rc = stmt_error(o, sql, SQL_HANDLE_STMT, st,
							"cannot read a result value", err);
				goto done;
			}
			res->cells[ncells++] = cell;
		}
		res->nrows++;
	}
done:
	if (rc < 0) {
		/* Cells of a partial row are freed with the complete ones. */
		res->nrows = (ncells + res->ncols - 1) / (res->ncols ? res->ncols : 1);
		db_result_free(res);
		res = NULL;
	}
	*out = res;
	return rc;
}

static int odbc_exec(struct db *db, const char *sql, struct db_result **out, struct cms_error *err)
{
	struct db_odbc *o = (struct db_odbc *)db;
	struct db_result *res = NULL;
	SQLHSTMT st = SQL_NULL_HSTMT;
	SQLRETURN r;
	int rc = 0;

	if (out)
		*out = NULL;
	if (!o->connected)
		return cms_error_set(err, CMS_ERROR, "statement failed on server '%s': not connected",
				     db->label);
	r = SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st);
	if (!SQL_SUCCEEDED(r)) {
		st = SQL_NULL_HSTMT;
		rc = stmt_error(o, sql, SQL_HANDLE_DBC, o->dbc, "cannot allocate a statement", err);
		goto done;
	}
	r = SQLSetStmtAttr(st, SQL_ATTR_QUERY_TIMEOUT, (SQLPOINTER)(uintptr_t)o->query_timeout_s, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "cannot set the query timeout", err);
		goto done;
	}
	r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
	if (r == SQL_NO_DATA) {
		/* e.g. an UPDATE that matched no row: success, no result. */
		res = xcalloc(1, sizeof(*res));
		goto done;
	}
	if (!SQL_SUCCEEDED(r)) {
		rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "statement failed", err);
		goto done;
	}
	/* Rows are fetched even when the caller discards them: some servers
	 * report an error only while the rows are read. */
	if ((rc = odbc_fetch(o, sql, st, &res, err)) < 0)
		goto done;
	for (;;) {
		r = SQLMoreResults(st);
		if (r == SQL_NO_DATA)
			break;
		if (!SQL_SUCCEEDED(r)) {
			rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "statement failed", err);
			goto done;
		}
	}
done:
	if (st != SQL_NULL_HSTMT)
		SQLFreeHandle(SQL_HANDLE_STMT, st);
	if (rc < 0 || !out)
		db_result_free(res);
	else
		*out = res;
	return rc;
}

/* Transactions through the ODBC API (autocommit off, SQLEndTran), which
 * every driver maps to its own dialect; a bare "BEGIN" is not even valid
 * T-SQL.  Logged like statements, so the journal shows the boundaries. */
static int odbc_tx(struct db *db, int what, struct cms_error *err)
{
	static const char *const words[] = { "BEGIN", "COMMIT", "ROLLBACK" };
	struct db_odbc *o = (struct db_odbc *)db;
	struct db_stmt_log *entry;
	int64_t start = cms_monotonic_ms();
	SQLRETURN r;
	int rc = 0;

	if (what < 0 || what > 2)
		return cms_error_set(err, CMS_ERROR, "unknown transaction request %d", what);
	if (!o->connected)
		return cms_error_set(err, CMS_ERROR, "%s failed on server '%s': not connected",
				     words[what], db->label);
	if (what == 0) {
		r = SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0);
		if (!SQL_SUCCEEDED(r))
			rc = stmt_error(o, words[what], SQL_HANDLE_DBC, o->dbc,
					"cannot begin a transaction", err);
	} else {
		r = SQLEndTran(SQL_HANDLE_DBC, o->dbc, what == 1 ? SQL_COMMIT : SQL_ROLLBACK);
		if (!SQL_SUCCEEDED(r))
			rc = stmt_error(o, words[what], SQL_HANDLE_DBC, o->dbc,
					what == 1 ? "cannot commit" : "cannot roll back", err);
		/* Back to autocommit either way: the transaction is over, or
		 * the connection is unusable and will be closed. */
		r = SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
		if (rc == 0 && !SQL_SUCCEEDED(r))
			rc = stmt_error(o, words[what], SQL_HANDLE_DBC, o->dbc,
					"cannot restore autocommit", err);
	}
	entry = ARRAY_PUSH(db->log, db->nlog, db->alloc_log);
	entry->label = xstrdup(db->label);
	entry->sql = xstrdup(words[what]);
	entry->duration_ms = cms_monotonic_ms() - start;
	entry->ok = rc == 0;
	return rc;
}

static const struct db_ops odbc_ops = {
	.exec = odbc_exec,
	.close = odbc_close,
	.tx = odbc_tx,
};

static int connect_error(struct db_odbc *o, SQLSMALLINT type, SQLHANDLE h, const char *what,
			 const char *password, const char *escaped, struct cms_error *err)
{
	struct buf diag = BUF_INIT;
	int rc;

	if (h != SQL_NULL_HANDLE)
		odbc_diag(&diag, type, h);
	else
		buf_adds(&diag, "the ODBC driver manager could not allocate a handle");
	db_scrub_secret(&diag, password);
	db_scrub_secret(&diag, escaped);
	scrub_pwd_attributes(&diag);
	rc = cms_error_set(err, CMS_ERROR, "%s '%s': %s", what, o->base.label, diag.ptr);
	wipe(diag.ptr, diag.len);
	buf_free(&diag);
	return rc;
}

int db_connect_odbc(struct db **out, const char *label, const char *connstr,
		    const char *password, int64_t login_timeout_ms, int64_t query_timeout_ms,
		    struct cms_error *err)
{
	struct db_odbc *o = NULL;
	struct buf cs = BUF_INIT;
	char *escaped = NULL;
	SQLULEN login_s = timeout_seconds(login_timeout_ms);
	SQLRETURN r;
	int rc = 0;

	*out = NULL;
	o = xcalloc(1, sizeof(*o));
	o->base.ops = &odbc_ops;
	o->base.label = xstrdup(label ? label : "");
	o->env = SQL_NULL_HENV;
	o->dbc = SQL_NULL_HDBC;
	o->query_timeout_s = timeout_seconds(query_timeout_ms);

	if (!connstr || !*connstr) {
		rc = cms_error_set(err, CMS_ERROR, "cannot connect to server '%s': no connection string",
				   o->base.label);
		goto done;
	}
	r = SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env);
	if (!SQL_SUCCEEDED(r)) {
		o->env = SQL_NULL_HENV;
		rc = connect_error(o, 0, SQL_NULL_HANDLE, "cannot connect to server", NULL, NULL, err);
		goto done;
	}
	r = SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_ENV, o->env, "cannot select ODBC 3 for server",
				   NULL, NULL, err);
		goto done;
	}
	r = SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc);
	if (!SQL_SUCCEEDED(r)) {
		o->dbc = SQL_NULL_HDBC;
		rc = connect_error(o, SQL_HANDLE_ENV, o->env, "cannot connect to server", NULL, NULL, err);
		goto done;
	}
	r = SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)login_s, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_DBC, o->dbc, "cannot set the login timeout for server",
				   NULL, NULL, err);
		goto done;
	}
	r = SQLSetConnectAttr(o->dbc, SQL_ATTR_CONNECTION_TIMEOUT,
			      (SQLPOINTER)(uintptr_t)o->query_timeout_s, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_DBC, o->dbc,
				   "cannot set the connection timeout for server", NULL, NULL, err);
		goto done;
	}

	buf_adds(&cs, connstr);
	if (password) {
		struct buf esc = BUF_INIT;
		const char *p;

		for (p = password; *p; p++) {
			if (*p == '}')
				buf_addch(&esc, '}');
			buf_addch(&esc, *p);
		}
		escaped = buf_detach(&esc, NULL);
		if (cs.len && cs.ptr[cs.len - 1] != ';')
			buf_addch(&cs, ';');
		buf_adds(&cs, "PWD={");
		buf_adds(&cs, escaped);
		buf_addch(&cs, '}');
	}
	r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)cs.ptr, SQL_NTS, NULL, 0, NULL,
			     SQL_DRIVER_NOPROMPT);
	wipe(cs.ptr, cs.len);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_DBC, o->dbc, "cannot connect to server", password,
				   escaped, err);
		goto done;
	}
	o->connected = 1;
	*out = &o->base;
	o = NULL;
done:
	buf_free(&cs);
	if (escaped) {
		wipe(escaped, strlen(escaped));
		free(escaped);
	}
	if (o)
		db_close(&o->base);
	return rc;
}
