/*
 * Connects made ahead of the engine (engine_preconnect, applier/engine.c),
 * with real ODBC sessions: the servers of a PostgreSQL store are SQLite
 * files reached through the SQLite3 ODBC driver, which is all the
 * connects need (the engine's own statements are not run here).  Checks
 * that the engine of the same store takes the sessions and the fence's
 * second session, that another store's engine and an engine with
 * scripted sessions take nothing, that what nobody took is closed (the
 * suite also runs under ASan and LSan), and that a failed connect is said
 * at the session's first use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "applier/engine.h"
#include "common/util.h"
#include "planner/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct world {
	char dir[64];
	char conns[2][160];
	struct server servers[2];
	char *databases[1];
	struct store store;
};

static void world_init(struct world *w, const char *second_driver)
{
	static const char *const names[] = { "pool-a", "pool-b" };
	size_t i;

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/cmsctl-preconnect.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	for (i = 0; i < 2; i++) {
		snprintf(w->conns[i], sizeof(w->conns[i]), "Driver=%s;Database=%s/%s.db",
			 i == 1 && second_driver ? second_driver : "SQLite3", w->dir, names[i]);
		w->servers[i].name = (char *)names[i];
		w->servers[i].connection = w->conns[i];
		w->servers[i].role = i ? SERVER_ROLE_MIRROR : SERVER_ROLE_PRIMARY;
	}
	w->databases[0] = (char *)"xds";
	w->store.name = "redmond";
	w->store.engine = ENGINE_POSTGRESQL;
	w->store.databases = w->databases;
	w->store.ndatabases = 1;
	w->store.servers = w->servers;
	w->store.nservers = 2;
	w->store.location.primary = "pool-a";
	w->store.location.mirror = "pool-b";
	w->store.policy.login_timeout_ms = 5000;
	w->store.policy.query_timeout_ms = 5000;
}

static void world_free(struct world *w)
{
	char path[128];
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.db", w->dir, w->servers[i].name);
		unlink(path);
	}
	rmdir(w->dir);
}

/* A session answers a statement. */
static void assert_live(struct db *db)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct db_result *res = NULL;

	assert_non_null(db);
	assert_int_equal(db_exec(db, "SELECT 1", &res, &err), 0);
	assert_non_null(res);
	assert_int_equal(res->nrows, 1);
	db_result_free(res);
}

static int no_connect(struct db **out, const struct store *store, const struct server *srv,
		      void *ctx, struct cms_error *err)
{
	(void)store;
	(void)ctx;
	*out = NULL;
	return cms_error_set(err, CMS_ERROR, "scripted: no session for '%s'", srv->name);
}

static void test_the_engine_takes_the_sessions_and_the_spare(void **state)
{
	const char *spares[] = { "pool-a" };
	struct cms_error err = CMS_ERROR_INIT;
	struct engine *e = NULL;
	struct db *db = NULL, *spare = NULL;
	struct world w;

	(void)state;
	world_init(&w, NULL);
	engine_preconnect(&w.store, spares, 1);
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_non_null(e->early);
	assert_true(e->early_ahead);
	assert_non_null(e->spare);
	/* Both servers' sessions, connected ahead. */
	assert_int_equal(engine_session(e, 0, &db, &err), 0);
	assert_live(db);
	assert_int_equal(engine_session(e, 1, &db, &err), 0);
	assert_live(db);
	/* The second session to pool-a, only to pool-a, once. */
	assert_int_equal(engine_take_spare(e, 0, &spare), 1);
	assert_live(spare);
	assert_ptr_not_equal(spare, e->sessions[0]);
	db_close(spare);
	assert_int_equal(engine_take_spare(e, 0, &spare), 0);
	assert_null(spare);
	assert_int_equal(engine_take_spare(e, 1, &spare), 0);
	assert_null(spare);
	engine_close(e);
	/* Taken: the next engine connects itself. */
	e = NULL;
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_null(e->early);
	assert_null(e->spare);
	engine_close(e);
	world_free(&w);
}

static void test_other_engines_take_nothing_and_the_rest_is_closed(void **state)
{
	const char *spares[] = { "pool-b" };
	struct cms_error err = CMS_ERROR_INIT;
	struct engine *e = NULL;
	struct world w, other;

	(void)state;
	world_init(&w, NULL);
	world_init(&other, NULL);
	engine_preconnect(&w.store, spares, 1);
	/* Another store: not its sessions. */
	assert_int_equal(engine_open(&e, &other.store, NULL, NULL, &err), 0);
	assert_null(e->early);
	engine_close(e);
	/* Scripted sessions: not what it would make itself. */
	assert_int_equal(engine_open(&e, &w.store, no_connect, &w, &err), 0);
	assert_null(e->early);
	assert_null(e->spare);
	engine_close(e);
	/* Nobody took them: closed here (LSan would see a leak otherwise). */
	engine_preconnect_drop();
	engine_preconnect_drop(); /* twice is nothing */
	/* A sqlite store: its probe does not connect every server at once. */
	w.store.engine = ENGINE_SQLITE;
	engine_preconnect(&w.store, spares, 1);
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_null(e->early);
	engine_close(e);
	world_free(&w);
	world_free(&other);
}

/* pool-b's driver does not exist: its connect made ahead fails at once.
 * pool-a's session is still taken; pool-b's failure is said by its first
 * use, naming the server, and nothing is left open. */
static void test_a_failed_connect_is_said_at_first_use(void **state)
{
	const char *spares[] = { "pool-b" };
	struct cms_error err = CMS_ERROR_INIT;
	struct engine *e = NULL;
	struct db *db = NULL;
	struct world w;

	(void)state;
	world_init(&w, "cmsctl-no-such-driver");
	engine_preconnect(&w.store, spares, 1);
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_non_null(e->early);
	assert_int_equal(engine_session(e, 0, &db, &err), 0);
	assert_live(db);
	db = NULL;
	assert_int_not_equal(engine_session(e, 1, &db, &err), 0);
	assert_null(db);
	assert_non_null(err.message);
	assert_non_null(strstr(err.message, "pool-b"));
	cms_error_clear(&err);
	/* Its second session failed too: none to take. */
	assert_int_equal(engine_take_spare(e, 1, &db), 0);
	assert_null(db);
	engine_close(e);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_engine_takes_the_sessions_and_the_spare),
		cmocka_unit_test(test_other_engines_take_nothing_and_the_rest_is_closed),
		cmocka_unit_test(test_a_failed_connect_is_said_at_first_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
