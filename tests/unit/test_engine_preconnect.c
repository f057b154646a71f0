/*
 * Connects made ahead of the engine (engine_preconnect, applier/engine.c),
 * with real ODBC sessions: the servers of a PostgreSQL store are SQLite
 * files reached through the SQLite3 ODBC driver, which is all the
 * connects need (the engine's own statements are not run here).  Checks
 * that the engine of the same store takes the sessions and the fence's
 * second session, that another store's engine and an engine with
 * scripted sessions take nothing, that what nobody took is closed (the
 * suite also runs under ASan and LSan), that a failed connect is said at
 * the session's first use, and that one that failed fast is tried again
 * at the probe unless the server refused the login (a fake PostgreSQL
 * server on a local port counts the connects).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "applier/engine.h"
#include "common/util.h"
#include "planner/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
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

/* A fake PostgreSQL server on a local port: it counts the connections it
 * accepts, and answers each at once, either by closing it (a transport
 * failure, as a server restarting) or with an ErrorResponse of a failed
 * password (the server answered: a login it refused). */
struct fake_pg {
	int fd;
	int port;
	bool refuse_login;
	atomic_int accepted;
	pthread_t th;
};

static void *fake_pg_main(void *arg)
{
	struct fake_pg *f = arg;
	static const char msg[] = "SFATAL\0C28P01\0Mpassword authentication failed for user \"cmsctl\"\0";
	int c;

	while ((c = accept(f->fd, NULL, NULL)) >= 0) {
		atomic_fetch_add(&f->accepted, 1);
		if (f->refuse_login) {
			unsigned char in[512], out[512];
			uint32_t len = (uint32_t)(4 + sizeof(msg));

			if (read(c, in, sizeof(in)) > 0) {
				out[0] = 'E';
				out[1] = (unsigned char)(len >> 24);
				out[2] = (unsigned char)(len >> 16);
				out[3] = (unsigned char)(len >> 8);
				out[4] = (unsigned char)len;
				memcpy(out + 5, msg, sizeof(msg));
				if (write(c, out, 5 + sizeof(msg)) < 0) {
					/* the client went away: counted all the same */
				}
			}
		}
		close(c);
	}
	return NULL;
}

static void fake_pg_start(struct fake_pg *f, bool refuse_login)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->refuse_login = refuse_login;
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->fd, 16), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, fake_pg_main, f), 0);
}

static int fake_pg_stop(struct fake_pg *f)
{
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->fd);
	return atomic_load(&f->accepted);
}

/* pool-b is the fake server; the probe needs every session (engine_probe
 * connects them all first).  A connect made ahead that failed fast is
 * tried once more then, unless the server refused the login. */
static void run_fake(bool refuse_login, int want_connects)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;
	struct engine *e = NULL;
	struct fake_pg f;
	struct world w;

	fake_pg_start(&f, refuse_login);
	world_init(&w, NULL);
	snprintf(w.conns[1], sizeof(w.conns[1]),
		 "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%d;Database=postgres;Uid=cmsctl;"
		 "pqopt={sslmode=disable gssencmode=disable}", f.port);
	engine_preconnect(&w.store, NULL, 0);
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_true(e->early_ahead);
	/* Each server is observed unreachable (pool-a's statements are not
	 * SQLite's), which is no failure of the probe. */
	memset(&obs, 0, sizeof(obs));
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	assert_false(observation_find(&obs, "pool-b")->reachable);
	observation_free(&obs);
	engine_close(e);
	assert_int_equal(fake_pg_stop(&f), want_connects);
	world_free(&w);
}

static void test_a_fast_failure_is_tried_again_at_the_probe(void **state)
{
	(void)state;
	run_fake(false, 2);
}

static void test_a_refused_login_is_not_tried_again(void **state)
{
	(void)state;
	run_fake(true, 1);
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* How many statements "SELECT 1" the engine's and its sessions' logs
 * hold, and how many of them succeeded (*ok). */
static int count_select_1(struct engine *e, int *ok)
{
	struct db_stmt_log *l = NULL;
	size_t n = 0, i, k;
	int c = 0;

	*ok = 0;
	for (k = 0; k < e->store->nservers; k++)
		if (e->sessions[k])
			engine_absorb_log(e, e->sessions[k]);
	engine_take_log(e, &l, &n);
	for (i = 0; i < n; i++)
		if (l[i].sql && !strcmp(l[i].sql, "SELECT 1")) {
			c++;
			*ok += l[i].ok == 1;
		}
	db_stmt_log_free(l, n);
	return c;
}

/* Sessions opened ahead and idle longer than the limit (set here for the
 * test build, so that the machine's speed does not matter) when the probe
 * needs them are asked whether they answer, and answer (live SQLite
 * sessions); within the limit they are not asked. */
static void probe_with_limit(const char *verify_ms, int want_asked)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct observation obs;
	struct engine *e = NULL;
	struct world w;
	int ok = 0;

	world_init(&w, NULL);
	setenv("CMSCTL_TEST_PRECONNECT_VERIFY_MS", verify_ms, 1);
	engine_preconnect(&w.store, NULL, 0);
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_true(e->early_ahead);
	memset(&obs, 0, sizeof(obs));
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	unsetenv("CMSCTL_TEST_PRECONNECT_VERIFY_MS");
	observation_free(&obs);
	assert_int_equal(count_select_1(e, &ok), want_asked);
	assert_int_equal(ok, want_asked);
	engine_close(e);
	world_free(&w);
}

static void test_sessions_idle_a_while_are_asked_first(void **state)
{
	(void)state;
	probe_with_limit("-1", 2);
}

static void test_sessions_taken_at_once_are_not_asked(void **state)
{
	(void)state;
	probe_with_limit("600000", 0);
}

/* An engine opened long after the connects (past the freshness limit,
 * here set to 0 ms for the test build) takes none of them: they are
 * closed, and its sessions are its own. */
static void test_sessions_opened_too_long_ago_are_dropped(void **state)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct engine *e = NULL;
	struct db *db = NULL;
	struct world w;

	(void)state;
	world_init(&w, NULL);
	setenv("CMSCTL_TEST_PRECONNECT_FRESH_MS", "0", 1);
	engine_preconnect(&w.store, NULL, 0);
	pause_ms(5);
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	unsetenv("CMSCTL_TEST_PRECONNECT_FRESH_MS");
	assert_null(e->early);
	assert_false(e->early_ahead);
	assert_int_equal(engine_session(e, 0, &db, &err), 0);
	assert_live(db);
	engine_close(e);
	/* Nothing is pending any more: the next engine connects itself too. */
	assert_int_equal(engine_open(&e, &w.store, NULL, NULL, &err), 0);
	assert_null(e->early);
	engine_close(e);
	world_free(&w);
}

/* Connects on several threads at once, the first ODBC calls of their
 * process (a child of fork() of this process, which has made none yet:
 * this test runs first), through the SQLite3 and the PostgreSQL drivers
 * (the latter to a closed port): every SQLite3 connect succeeds and every
 * PostgreSQL one fails with the server's refusal, not with a driver that
 * could not be loaded.  The connects hand the gate on (applier/db_odbc.c,
 * ini_gate); a test of the hand-off, not a reproduction of unixODBC's
 * race, which was never seen on demand. */
struct stress_arg {
	const char *connstr;
	bool pg;
	int failed;
	char why[256];
};

static void *stress_connect(void *arg)
{
	struct stress_arg *a = arg;
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = NULL;

	int rc = db_connect_odbc(&db, "stress", a->connstr, NULL, 5000, 5000, &err);

	/* SQLite3: must connect.  PostgreSQL (a closed port): must fail, and
	 * only because nothing listens there. */
	if (a->pg ? rc == 0 || !err.message || strstr(err.message, "open lib") : rc < 0) {
		a->failed = 1;
		snprintf(a->why, sizeof(a->why), "%s", err.message ? err.message : "connected");
	}
	db_close(db);
	cms_error_clear(&err);
	return NULL;
}

static void test_first_connects_of_a_process_at_once(void **state)
{
	enum { THREADS = 6, ROUNDS = 40 };
	struct world w;
	char pg[200];
	int round, failed = 0, port;

	(void)state;
	world_init(&w, NULL);
	/* A port nothing listens on: bound, then closed. */
	{
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
		port = ntohs(a.sin_port);
		close(fd);
	}
	snprintf(pg, sizeof(pg), "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=%d;"
		 "Database=postgres;Uid=cmsctl;pqopt={sslmode=disable gssencmode=disable}", port);
	for (round = 0; round < ROUNDS; round++) {
		int fds[2], status = 0;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct stress_arg args[THREADS];
			pthread_t th[THREADS];
			int i, n = 0;

			close(fds[0]);
			for (i = 0; i < THREADS; i++) {
				memset(&args[i], 0, sizeof(args[i]));
				args[i].pg = i % 3 == 2;
				args[i].connstr = args[i].pg ? pg : w.conns[i % 2];
				pthread_create(&th[i], NULL, stress_connect, &args[i]);
			}
			for (i = 0; i < THREADS; i++) {
				pthread_join(th[i], NULL);
				if (args[i].failed) {
					n++;
					if (write(fds[1], args[i].why, strlen(args[i].why)) < 0 ||
					    write(fds[1], "\n", 1) < 0)
						_exit(99);
				}
			}
			_exit(n);
		}
		close(fds[1]);
		{
			char buf[512];
			ssize_t k = read(fds[0], buf, sizeof(buf) - 1);

			if (k > 0) {
				buf[k] = '\0';
				print_message("round %d: %s", round, buf);
			}
		}
		close(fds[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		failed += WEXITSTATUS(status);
	}
	world_free(&w);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: its children must make their process's first ODBC
		 * calls. */
		cmocka_unit_test(test_first_connects_of_a_process_at_once),
		cmocka_unit_test(test_the_engine_takes_the_sessions_and_the_spare),
		cmocka_unit_test(test_other_engines_take_nothing_and_the_rest_is_closed),
		cmocka_unit_test(test_a_failed_connect_is_said_at_first_use),
		cmocka_unit_test(test_a_fast_failure_is_tried_again_at_the_probe),
		cmocka_unit_test(test_a_refused_login_is_not_tried_again),
		cmocka_unit_test(test_sessions_idle_a_while_are_asked_first),
		cmocka_unit_test(test_sessions_taken_at_once_are_not_asked),
		cmocka_unit_test(test_sessions_opened_too_long_ago_are_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
