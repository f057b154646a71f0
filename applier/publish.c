/*
 * Publish targets: file (atomic JSON write: temp file, fsync, rename, fsync
 * of the folder, then read back), odbc (replace one row per store in a
 * table, then read back), command (a program run without a shell, with the
 * location in its environment and a timeout; a non-zero exit fails).
 */
#define _GNU_SOURCE
#include "applier/publish.h"
#include "applier/command.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
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

static int publish_file(const struct publish_target *t, const struct published_location *loc,
			struct buf *log, struct cms_error *err)
{
	struct buf doc = BUF_INIT;
	char *back = NULL;
	size_t len = 0;
	int rc;

	if ((rc = publish_location_json(loc, &doc, err)) < 0)
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

static int publish_odbc(const struct publish_target *t, const struct store *st,
			const struct published_location *loc, struct buf *log,
			struct db_stmt_log **stmts, size_t *nstmts, struct cms_error *err)
{
	const char *table = t->table ? t->table : "cms_location";
	struct db *db = NULL;
	struct db_result *res = NULL;
	struct buf sql = BUF_INIT;
	char *password = NULL, *connstr = NULL, ts[32];
	const char *got_p, *got_m;
	int rc;

	if (!config_is_identifier(table))
		return cms_error_set(err, CMS_ERROR, "publish table '%s' is not a plain identifier", table);
	if ((rc = config_read_password(&password, t->password_env, t->password_file, err)) < 0)
		goto done;
	connstr = t->dsn ? xasprintf("DSN=%s", t->dsn) : xstrdup(t->connection);
	if ((rc = db_connect_odbc(&db, "publish", connstr, password, st->policy.login_timeout_ms,
				  st->policy.query_timeout_ms, err)) < 0)
		goto done;
	cms_format_time(ts, loc->now);
	/* One row per store: delete and insert in one transaction is an
	 * upsert every SQL dialect understands. */
	if ((rc = db_begin(db, err)) < 0)
		goto done;
	buf_addf(&sql, "DELETE FROM %s WHERE store = ", table);
	db_add_string_literal(&sql, loc->store);
	if ((rc = db_exec(db, sql.ptr, NULL, err)) < 0)
		goto rollback;
	buf_reset(&sql);
	buf_addf(&sql, "INSERT INTO %s (store, primary_server, mirror_server, serial, updated_at) VALUES (",
		 table);
	db_add_string_literal(&sql, loc->store);
	buf_adds(&sql, ", ");
	db_add_string_literal(&sql, loc->primary);
	buf_adds(&sql, ", ");
	if (loc->mirror)
		db_add_string_literal(&sql, loc->mirror);
	else
		buf_adds(&sql, "NULL");
	buf_addf(&sql, ", %" PRId64 ", ", loc->serial);
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
		for (i = 0; i < n; i++) {
			*stmts = xrealloc(*stmts, (*nstmts + 1) * sizeof(**stmts));
			(*stmts)[(*nstmts)++] = l[i];
		}
		free(l);
	}
	db_result_free(res);
	db_close(db);
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	free(connstr);
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
	}
	return cms_error_set(err, CMS_ERROR, "unknown publish target");
}
