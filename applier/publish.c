/*
 * Publish targets: file (atomic JSON write: temp file, fsync, rename, fsync
 * of the folder, then read back), odbc (replace one row per store in a
 * table, then read back), command (a program run without a shell, with the
 * location in its environment and a timeout; a non-zero exit fails), ldap
 * (one modify of a directory entry over TLS, then a base search that must
 * read back every value: what Set-CsConfigurationStoreLocation does to
 * Lync's service connection point).
 */
#define _GNU_SOURCE
#include "applier/publish.h"
#include "applier/command.h"
#include "applier/engine.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <lber.h>
#include <ldap.h>

#include "common/lib_ldap.h"
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int publish_location_json(const struct published_location *loc, struct buf *out,
			  struct cms_error *err)
{
	json_t *o = json_object();
	char t[32], *text;

	cms_format_time(t, loc->now);
	json_object_set_new(o, "store", json_string(loc->store));
	json_object_set_new(o, "engine", json_string(loc->engine));
	json_object_set_new(o, "primary", json_string(loc->primary));
	json_object_set_new(o, "mirror", loc->mirror ? json_string(loc->mirror) : json_null());
	json_object_set_new(o, "primary_fqdn", loc->primary_fqdn ? json_string(loc->primary_fqdn) : json_null());
	json_object_set_new(o, "primary_instance", loc->primary_instance ? json_string(loc->primary_instance) : json_null());
	json_object_set_new(o, "serial", json_integer(loc->serial));
	json_object_set_new(o, "lineage", loc->lineage ? json_string(loc->lineage) : json_null());
	json_object_set_new(o, "plan_id", loc->plan_id ? json_string(loc->plan_id) : json_null());
	json_object_set_new(o, "run_id", json_string(loc->run_id));
	json_object_set_new(o, "updated_at", json_string(t));
	text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
	json_decref(o);
	if (!text)
		return cms_error_set(err, CMS_ERROR, "cannot encode the location of store '%s'", loc->store);
	buf_adds(out, text);
	buf_addch(out, '\n');
	free(text);
	return 0;
}

/* The folder of a location file is created on first publish (0755). */
static int make_parent_dir(const char *path, struct cms_error *err)
{
	char *copy = xstrdup(path), *slash;
	int rc = 0;

	for (slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			rc = cms_error_set(err, CMS_ERROR, "cannot create folder '%s' for location file '%s': %s",
					   copy, path, strerror(errno));
			break;
		}
		*slash = '/';
	}
	free(copy);
	return rc;
}

/* Whether a target that holds serial `serial` of lineage `lineage` (NULL:
 * written before targets carried one) may be given loc: never another
 * lineage, never an older serial of the same one.  The same serial is a
 * re-publish (restore) and is allowed. */
static int check_held(const char *what, int64_t serial, const char *lineage,
		      const struct published_location *loc, struct cms_error *err)
{
	if (lineage && loc->lineage && strcmp(lineage, loc->lineage))
		return cms_error_set(err, CMS_EREFUSED, "%s holds serial %" PRId64 " of lineage %s; "
				     "this run would publish serial %" PRId64 " of another lineage, %s",
				     what, serial, lineage, loc->serial, loc->lineage);
	if (serial > loc->serial)
		return cms_error_set(err, CMS_EREFUSED, "%s holds serial %" PRId64 "%s%s, newer than "
				     "serial %" PRId64 " this run would publish", what, serial,
				     lineage ? " of lineage " : "", lineage ? lineage : "", loc->serial);
	return 0;
}

/* What a location file holds now.  Nothing, or a document that is not a
 * location with a serial, makes no claim; a device, a FIFO or a folder is
 * refused (never replaced). */
static int check_file(const struct publish_target *t, const struct published_location *loc,
		      struct cms_error *err)
{
	json_t *doc = NULL, *v;
	char *text = NULL, *what = NULL;
	const char *lineage = NULL, *store;
	size_t len = 0;
	struct stat sb;
	int rc = 0;

	if (stat(t->path, &sb) < 0)
		return errno == ENOENT ? 0 : cms_error_set(err, CMS_ERROR, "cannot read location file "
							    "'%s': %s", t->path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return cms_error_set(err, CMS_EREFUSED, "cannot write location file '%s': it is %s, "
				     "not a regular file; left as it is", t->path,
				     cms_file_kind(sb.st_mode));
	if ((rc = cms_read_file(&text, &len, t->path, 1 << 20, err)) < 0)
		return rc;
	what = xasprintf("location file '%s'", t->path);
	doc = json_loadb(text, len, 0, NULL);
	store = json_string_value(json_object_get(doc, "store"));
	v = json_object_get(doc, "serial");
	if (!store || !json_is_integer(v))
		goto done;
	if (strcmp(store, loc->store)) {
		rc = cms_error_set(err, CMS_EREFUSED, "%s holds the location of store '%s', not '%s'",
				   what, store, loc->store);
		goto done;
	}
	if (json_is_string(json_object_get(doc, "lineage")))
		lineage = json_string_value(json_object_get(doc, "lineage"));
	rc = check_held(what, (int64_t)json_integer_value(v), lineage, loc, err);
done:
	json_decref(doc);
	free(text);
	free(what);
	return rc;
}

static int publish_file(const struct publish_target *t, const struct published_location *loc,
			struct buf *log, struct cms_error *err)
{
	struct buf doc = BUF_INIT;
	char *back = NULL;
	size_t len = 0;
	int rc;

	if ((rc = publish_location_json(loc, &doc, err)) < 0)
		goto done;
	if ((rc = check_file(t, loc, err)) < 0)
		goto done;
	if ((rc = make_parent_dir(t->path, err)) < 0)
		goto done;
	if ((rc = cms_write_file_atomic(t->path, doc.ptr, doc.len, 0644, "location file", err)) < 0)
		goto done;
	if ((rc = cms_read_file(&back, &len, t->path, 1 << 20, err)) < 0)
		goto done;
	if (len != doc.len || memcmp(back, doc.ptr, len) != 0) {
		rc = cms_error_set(err, CMS_ERROR, "location file '%s' does not read back as written",
				   t->path);
		goto done;
	}
	buf_addf(log, "wrote %zu bytes to %s and read them back\n", doc.len, t->path);
done:
	free(back);
	buf_free(&doc);
	return rc;
}

/* Connects to an odbc target, its password read and wiped again. */
static int odbc_open(struct db **db, const struct publish_target *t, const struct store *st,
		     struct cms_error *err)
{
	const char *table = t->table ? t->table : "cms_location";
	char *connstr = NULL;
	int rc;

	*db = NULL;
	if (!config_is_identifier(table))
		return cms_error_set(err, CMS_ERROR, "publish table '%s' is not a plain identifier", table);
	connstr = t->dsn ? xasprintf("DSN=%s", t->dsn) : xstrdup(t->connection);
	rc = engine_odbc_open(db, "publish target", connstr, t->password_env, t->password_file, st,
			      err);
	free(connstr);
	return rc;
}

/* The serial and lineage the table's row of the store holds, checked
 * against loc (check_held); no row is a first publish. */
static int check_odbc_row(struct db *db, const char *table, const struct published_location *loc,
			  struct cms_error *err)
{
	struct db_result *res = NULL;
	struct buf sql = BUF_INIT;
	const char *serial;
	char *what = NULL, *end = NULL;
	long long n;
	int rc;

	buf_addf(&sql, "SELECT serial, lineage FROM %s WHERE store = ", table);
	db_add_string_literal(&sql, loc->store);
	if ((rc = db_exec(db, sql.ptr, &res, err)) < 0)
		goto done;
	if (res->nrows == 0)
		goto done;
	what = xasprintf("table '%s' (row of store '%s')", table, loc->store);
	serial = db_result_get(res, 0, 0);
	errno = 0;
	n = serial ? strtoll(serial, &end, 10) : 0;
	if (res->nrows != 1 || !serial || errno || end == serial || *end) {
		rc = cms_error_set(err, CMS_EREFUSED, "%s does not hold one row with a serial", what);
		goto done;
	}
	rc = check_held(what, (int64_t)n, db_result_get(res, 0, 1), loc, err);
done:
	db_result_free(res);
	buf_free(&sql);
	free(what);
	return rc;
}

static int publish_odbc(const struct publish_target *t, const struct store *st,
			const struct published_location *loc, struct buf *log,
			struct db_stmt_log **stmts, size_t *nstmts, struct cms_error *err)
{
	const char *table = t->table ? t->table : "cms_location";
	struct db *db = NULL;
	struct db_result *res = NULL;
	struct buf sql = BUF_INIT;
	char ts[32];
	const char *got_p, *got_m;
	int rc;

	if ((rc = odbc_open(&db, t, st, err)) < 0)
		goto done;
	cms_format_time(ts, loc->now);
	/* One row per store: delete and insert in one transaction is an
	 * upsert every SQL dialect understands. */
	if ((rc = db_begin(db, err)) < 0)
		goto done;
	if ((rc = check_odbc_row(db, table, loc, err)) < 0)
		goto rollback;
	buf_addf(&sql, "DELETE FROM %s WHERE store = ", table);
	db_add_string_literal(&sql, loc->store);
	if ((rc = db_exec(db, sql.ptr, NULL, err)) < 0)
		goto rollback;
	buf_reset(&sql);
	buf_addf(&sql, "INSERT INTO %s (store, primary_server, mirror_server, serial, lineage, "
		 "updated_at) VALUES (", table);
	db_add_string_literal(&sql, loc->store);
	buf_adds(&sql, ", ");
	db_add_string_literal(&sql, loc->primary);
	buf_adds(&sql, ", ");
	if (loc->mirror)
		db_add_string_literal(&sql, loc->mirror);
	else
		buf_adds(&sql, "NULL");
	buf_addf(&sql, ", %" PRId64 ", ", loc->serial);
	if (loc->lineage)
		db_add_string_literal(&sql, loc->lineage);
	else
		buf_adds(&sql, "NULL");
	buf_adds(&sql, ", ");
	db_add_string_literal(&sql, ts);
	buf_adds(&sql, ")");
	if ((rc = db_exec(db, sql.ptr, NULL, err)) < 0)
		goto rollback;
	if ((rc = db_commit(db, err)) < 0)
		goto done;
	buf_reset(&sql);
	buf_addf(&sql, "SELECT primary_server, mirror_server FROM %s WHERE store = ", table);
	db_add_string_literal(&sql, loc->store);
	if ((rc = db_exec(db, sql.ptr, &res, err)) < 0)
		goto done;
	got_p = db_result_get(res, 0, 0);
	got_m = db_result_get(res, 0, 1);
	if (res->nrows != 1 || !got_p || strcmp(got_p, loc->primary) ||
	    (loc->mirror ? !got_m || strcmp(got_m, loc->mirror) : got_m != NULL)) {
		rc = cms_error_set(err, CMS_ERROR, "table '%s' does not read back the location of store '%s'",
				   table, loc->store);
		goto done;
	}
	buf_addf(log, "replaced the row of store %s in table %s and read it back\n", loc->store, table);
	goto done;
rollback:
	{
		struct cms_error ignored = CMS_ERROR_INIT;

		db_rollback(db, &ignored);
		cms_error_clear(&ignored);
	}
done:
	if (db) {
		struct db_stmt_log *l = NULL;
		size_t n = 0, i;

		db_take_log(db, &l, &n);
		for (i = 0; i < n; i++)
			*ARRAY_APPEND(*stmts, *nstmts) = l[i];
		free(l);
	}
	db_result_free(res);
	db_close(db);
	buf_free(&sql);
	return rc;
}

static char *env_entry(const char *name, const char *value)
{
	return xasprintf("%s=%s", name, value ? value : "");
}

static int publish_command(const struct publish_target *t, const struct published_location *loc,
			   struct buf *log, struct cms_error *err)
{
	char *envp[16], serial[32];
	size_t ne = 0, i;
	const char *path = getenv("PATH");
	int rc;

	snprintf(serial, sizeof(serial), "%" PRId64, loc->serial);
	envp[ne++] = env_entry("CMS_STORE", loc->store);
	envp[ne++] = env_entry("CMS_ENGINE", loc->engine);
	envp[ne++] = env_entry("CMS_PRIMARY", loc->primary);
	envp[ne++] = env_entry("CMS_MIRROR", loc->mirror);
	envp[ne++] = env_entry("CMS_PRIMARY_FQDN", loc->primary_fqdn);
	envp[ne++] = env_entry("CMS_PRIMARY_INSTANCE", loc->primary_instance);
	envp[ne++] = env_entry("CMS_SERIAL", serial);
	envp[ne++] = env_entry("CMS_LINEAGE", loc->lineage);
	envp[ne++] = env_entry("CMS_PLAN_ID", loc->plan_id);
	envp[ne++] = env_entry("CMS_RUN_ID", loc->run_id);
	envp[ne++] = env_entry("PATH", path ? path : "/usr/bin:/bin");
	envp[ne] = NULL;

	if ((rc = applier_run_command(t->argv, envp, t->timeout_ms, "publish command", err)) == 0)
		buf_addf(log, "ran %s: exit 0\n", t->argv[0]);
	for (i = 0; i < ne; i++)
		free(envp[i]);
	return rc;
}

/* ---- ldap ------------------------------------------------------------- */

/* "fqdn\instance", the fqdn alone, or the name when there is no fqdn. */
static void add_sql_location(struct buf *b, const char *name, const struct server *srv)
{
	buf_adds(b, srv && srv->fqdn ? srv->fqdn : name);
	if (srv && srv->instance) {
		buf_addch(b, '\\');
		buf_adds(b, srv->instance);
	}
}

int publish_ldap_value(char **out, const char *tmpl, const struct store *st,
		       const struct published_location *loc, struct cms_error *err)
{
	const struct server *ps = store_find_server(st, loc->primary);
	const struct server *ms = loc->mirror ? store_find_server(st, loc->mirror) : NULL;
	struct buf b = BUF_INIT;
	const char *p = tmpl, *open_, *close;

	*out = NULL;
	while ((open_ = strchr(p, '{'))) {
		const char *what;
		size_t len;

		buf_add(&b, p, (size_t)(open_ - p));
		if (!(close = strchr(open_, '}')))
			goto bad;
		len = (size_t)(close - open_ - 1);
		what = open_ + 1;
#define IS(word) (len == strlen(word) && !strncmp(what, word, len))
		if (!strncmp(what, "mirror", 6) && !loc->mirror &&
		    (IS("mirror") || IS("mirror_fqdn") || IS("mirror_instance") || IS("mirror_sql"))) {
			buf_free(&b);
			return 0;
		}
		if (IS("store"))
			buf_adds(&b, loc->store);
		else if (IS("primary"))
			buf_adds(&b, loc->primary);
		else if (IS("primary_fqdn"))
			buf_adds(&b, ps && ps->fqdn ? ps->fqdn : loc->primary);
		else if (IS("primary_instance"))
			buf_adds(&b, ps && ps->instance ? ps->instance : "");
		else if (IS("primary_sql"))
			add_sql_location(&b, loc->primary, ps);
		else if (IS("mirror"))
			buf_adds(&b, loc->mirror);
		else if (IS("mirror_fqdn"))
			buf_adds(&b, ms && ms->fqdn ? ms->fqdn : loc->mirror);
		else if (IS("mirror_instance"))
			buf_adds(&b, ms && ms->instance ? ms->instance : "");
		else if (IS("mirror_sql"))
			add_sql_location(&b, loc->mirror, ms);
		else if (IS("serial"))
			buf_addf(&b, "%" PRId64, loc->serial);
		else
			goto bad;
#undef IS
		p = close + 1;
	}
	buf_adds(&b, p);
	if (!b.len) {
		buf_free(&b);
		return cms_error_set(err, CMS_ERROR, "ldap value template '%.128s' gives an empty value",
				     tmpl);
	}
	*out = buf_detach(&b, NULL);
	return 1;
bad:
	buf_free(&b);
	return cms_error_set(err, CMS_ERROR, "ldap value template '%.128s' has an unknown placeholder",
			     tmpl);
}

/* Wraps an LDAP failure once: what was being done, the result's text, and
 * the server's diagnostic message when it gave one. */
static int ldap_fail(struct cms_error *err, LDAP *ld, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ldap_fail(struct cms_error *err, LDAP *ld, int code, const char *fmt, ...)
{
	struct buf what = BUF_INIT;
	char *diag = NULL;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&what, fmt, ap);
	va_end(ap);
	if (ld)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	cms_error_set(err, CMS_ERROR, "%s: %s (ldap %d)%s%s", what.ptr, ldap_err2string(code), code,
		      diag && *diag ? ": " : "", diag && *diag ? diag : "");
	if (diag)
		ldap_memfree(diag);
	buf_free(&what);
	return CMS_ERROR;
}

static struct timeval ms_to_timeval(int64_t ms)
{
	struct timeval tv;

	if (ms <= 0)
		ms = 30 * 1000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

/* Connects with TLS (ldaps://, or StartTLS on ldap://), the server's
 * certificate checked against ca_file or the system's CAs, then binds. */
static int ldap_open(LDAP **out, const struct publish_target *t, const struct store *st,
		     const char *password, struct cms_error *err)
{
	struct timeval net = ms_to_timeval(st->policy.login_timeout_ms);
	struct timeval api = ms_to_timeval(st->policy.query_timeout_ms);
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;
	struct berval cred;
	LDAP *ld = NULL;

	*out = NULL;
	if (cms_lib_ldap_load(err) < 0)
		return CMS_ERROR;
	if ((rc = ldap_initialize(&ld, t->uri)) != LDAP_SUCCESS)
		return ldap_fail(err, NULL, rc, "cannot use ldap uri '%s'", t->uri);
	if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &api)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand)) != LDAP_OPT_SUCCESS ||
	    (t->ca_file &&
	     (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, t->ca_file)) != LDAP_OPT_SUCCESS) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero)) != LDAP_OPT_SUCCESS) {
		ldap_fail(err, ld, rc, "cannot set up the tls connection to '%s'", t->uri);
		goto fail;
	}
	if (!strncmp(t->uri, "ldap://", 7) && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		ldap_fail(err, ld, rc, "starttls with '%s' failed", t->uri);
		goto fail;
	}
	cred.bv_val = (char *)password;
	cred.bv_len = strlen(password);
	if ((rc = ldap_sasl_bind_s(ld, t->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL)) !=
	    LDAP_SUCCESS) {
		ldap_fail(err, ld, rc, "cannot bind to '%s' as '%s'", t->uri, t->bind_dn);
		goto fail;
	}
	*out = ld;
	return 0;
fail:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return CMS_ERROR;
}

/* Whether the entry read back holds exactly values[i] (or nothing, for a
 * removed attribute) for every attribute. */
static int ldap_check_entry(LDAP *ld, LDAPMessage *res, const struct publish_target *t,
			    char **values, struct cms_error *err)
{
	LDAPMessage *entry = ldap_first_entry(ld, res);
	size_t i;

	if (!entry || ldap_next_entry(ld, entry))
		return cms_error_set(err, CMS_ERROR, "entry '%s' does not read back as one entry", t->dn);
	for (i = 0; i < t->nattrs; i++) {
		struct berval **got = ldap_get_values_len(ld, entry, t->attrs[i].name);
		int n = got ? ldap_count_values_len(got) : 0;
		bool ok;

		if (!values[i])
			ok = n == 0;
		else
			ok = n == 1 && got[0]->bv_len == strlen(values[i]) &&
			     !memcmp(got[0]->bv_val, values[i], got[0]->bv_len);
		if (!ok) {
			cms_error_set(err, CMS_ERROR,
				      "attribute '%s' of '%s' reads back %d value%s%s%.*s%s, not %s%s%s",
				      t->attrs[i].name, t->dn, n, n == 1 ? "" : "s",
				      n == 1 ? " '" : "", n == 1 ? (int)(got[0]->bv_len > 256 ? 256 : got[0]->bv_len) : 0,
				      n == 1 ? got[0]->bv_val : "", n == 1 ? "'" : "",
				      values[i] ? "'" : "", values[i] ? values[i] : "none",
				      values[i] ? "'" : "");
			ldap_value_free_len(got);
			return CMS_ERROR;
		}
		ldap_value_free_len(got);
	}
	return 0;
}

static int publish_ldap(const struct publish_target *t, const struct store *st,
			const struct published_location *loc, struct buf *log, struct cms_error *err)
{
	struct timeval api = ms_to_timeval(st->policy.query_timeout_ms);
	char **values = xcalloc(t->nattrs + 1, sizeof(*values));
	char **names = xcalloc(t->nattrs + 1, sizeof(*names));
	LDAPMod *mods = xcalloc(t->nattrs, sizeof(*mods));
	LDAPMod **modp = xcalloc(t->nattrs + 1, sizeof(*modp));
	char ***vals = xcalloc(t->nattrs, sizeof(*vals));
	char *password = NULL;
	LDAPMessage *res = NULL;
	LDAP *ld = NULL;
	size_t i;
	int rc;

	for (i = 0; i < t->nattrs; i++) {
		if ((rc = publish_ldap_value(&values[i], t->attrs[i].value, st, loc, err)) < 0)
			goto done;
		names[i] = t->attrs[i].name;
		/* Replace with no values removes the attribute (RFC 4511 4.6). */
		vals[i] = xcalloc(2, sizeof(**vals));
		vals[i][0] = values[i];
		mods[i].mod_op = LDAP_MOD_REPLACE;
		mods[i].mod_type = t->attrs[i].name;
		mods[i].mod_values = vals[i];
		modp[i] = &mods[i];
	}
	if ((rc = config_read_password(&password, t->password_env, t->password_file, err)) < 0)
		goto done;
	if (!password) {
		rc = cms_error_set(err, CMS_ERROR, "ldap publish target '%s' has no password", t->uri);
		goto done;
	}
	if ((rc = ldap_open(&ld, t, st, password, err)) < 0)
		goto done;
	/* One operation: the directory applies every change or none. */
	if ((rc = ldap_modify_ext_s(ld, t->dn, modp, NULL, NULL)) != LDAP_SUCCESS) {
		rc = ldap_fail(err, ld, rc, "cannot modify '%s' on '%s'", t->dn, t->uri);
		goto done;
	}
	if ((rc = ldap_search_ext_s(ld, t->dn, LDAP_SCOPE_BASE, "(objectClass=*)", names, 0, NULL,
				    NULL, &api, 2, &res)) != LDAP_SUCCESS) {
		rc = ldap_fail(err, ld, rc, "cannot read back '%s' on '%s'", t->dn, t->uri);
		goto done;
	}
	if ((rc = ldap_check_entry(ld, res, t, values, err)) < 0)
		goto done;
	buf_addf(log, "modified %s on %s:", t->dn, t->uri);
	for (i = 0; i < t->nattrs; i++) {
		if (values[i])
			buf_addf(log, " %s=%s", t->attrs[i].name, values[i]);
		else
			buf_addf(log, " %s removed", t->attrs[i].name);
	}
	buf_adds(log, "; read it back\n");
	rc = 0;
done:
	if (res)
		ldap_msgfree(res);
	if (ld)
		ldap_unbind_ext_s(ld, NULL, NULL);
	cms_free_secret(password);
	for (i = 0; i < t->nattrs; i++) {
		free(values[i]);
		free(vals[i]);
	}
	free(values);
	free(names);
	free(mods);
	free(modp);
	free(vals);
	return rc;
}

int publish_target(const struct publish_target *t, const struct store *st,
		   const struct published_location *loc, struct buf *log,
		   struct db_stmt_log **stmts, size_t *nstmts, struct cms_error *err)
{
	switch (t->kind) {
	case PUBLISH_FILE:
		return publish_file(t, loc, log, err);
	case PUBLISH_ODBC:
		return publish_odbc(t, st, loc, log, stmts, nstmts, err);
	case PUBLISH_COMMAND:
		return publish_command(t, loc, log, err);
	case PUBLISH_LDAP:
		return publish_ldap(t, st, loc, log, err);
	}
	return cms_error_set(err, CMS_ERROR, "unknown publish target");
}

int publish_check_target(const struct publish_target *t, const struct store *st,
			 const struct published_location *loc, struct cms_error *err)
{
	struct db *db = NULL;
	int rc;

	switch (t->kind) {
	case PUBLISH_FILE:
		return check_file(t, loc, err) < 0 ? err->code : 1;
	case PUBLISH_ODBC:
		if ((rc = odbc_open(&db, t, st, err)) == 0)
			rc = check_odbc_row(db, t->table ? t->table : "cms_location", loc, err) < 0
				? err->code : 1;
		db_close(db);
		return rc;
	case PUBLISH_COMMAND:
	case PUBLISH_LDAP:
		break;
	}
	return 0;
}
