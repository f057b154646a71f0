/*
 * What every engine shares: choosing the implementation for a store, the
 * default way of connecting to a server (ODBC with the policy's timeouts
 * and the password read from its reference), one cached session per
 * server, the refusal of a move for a server that cannot be reached, and
 * the statement log and follow-ups an engine gathers for the applier.
 *
 * An engine implementation gets a server's session with engine_session()
 * (or, for a session of its own, connects through e->connect and calls
 * engine_absorb_log() before closing it), runs its statements with
 * engine_exec() or engine_query_value(), so that the applier can journal
 * every statement of a step, in order, with engine_take_log().
 */
#include "applier/engine.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/engines.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Sessions engine_preconnect opened are taken by an engine opened within
 * this long; after a longer wait (for the store's lock, say) they may have
 * been ended meanwhile (another runner's fence ends every client
 * session), and the engine connects afresh. */
#define ENGINE_PRECONNECT_FRESH_MS 2000
/* A connect that failed longer ago than this when the probe needs the
 * session is tried again. */
#define ENGINE_EARLY_FAILURE_FRESH_MS 250
/* A session engine_preconnect opened that has been idle longer than this
 * when the engine first uses it (the apply waited, for its lock say) is
 * asked whether it still answers before it serves: another runner's fence
 * may have ended it meanwhile, and a dead session would make the probe
 * report its server unreachable. */
#define ENGINE_PRECONNECT_VERIFY_MS 250

/* Used when a store was built without the config loader's defaults. */
#define ENGINE_DEFAULT_LOGIN_TIMEOUT_MS 5000
#define ENGINE_DEFAULT_QUERY_TIMEOUT_MS 30000

/* The implementations, one per row of planner/engines.c. */
struct engine_impl {
	enum engine_kind kind;
	int (*init)(struct engine *e, struct cms_error *err);
};
static const struct engine_impl implementations[] = {
	{ ENGINE_SQLITE, engine_sqlite_init },
	{ ENGINE_POSTGRESQL, engine_postgresql_init },
	{ ENGINE_MSSQL, engine_mssql_init },
};

static const struct engine_impl *implementation(enum engine_kind k)
{
	size_t i;

	for (i = 0; i < sizeof(implementations) / sizeof(implementations[0]); i++)
		if (implementations[i].kind == k)
			return &implementations[i];
	return NULL;
}

/* What connecting every server at once left for engine_session: a
 * session still to check (check_session runs on the calling thread), or
 * the connect's failure, reported by the first engine_session instead of
 * connecting again.  The connect runs on a thread of its own (started),
 * which whoever needs its result joins first (joined). */
struct engine_early {
	struct db *db;
	int rc;
	struct cms_error err;
	bool unchecked;
	bool ahead; /* opened by engine_preconnect, taken by engine_open */
	bool asked; /* asked whether it answers (verify_main): not tried again */
	/* the connecting thread's */
	const struct store *st;
	const struct server *srv;
	engine_connect_fn connect;
	void *connect_ctx;
	pthread_t th;
	bool started;
	bool joined;
	int64_t started_ms, ended_ms; /* cms_monotonic_ms() around the connect */
	atomic_int cancel; /* set: nobody will take it (db_odbc_cancel_flag) */
};

/* Connects made ahead of the engine (engine_preconnect), for the next
 * engine_open of the same store to take: a session to every server, and
 * a second one (spare) to each server named. */
struct preconnect {
	const struct store *st;
	int64_t started_ms;         /* cms_monotonic_ms() */
	struct engine_early *early; /* one per server */
	struct engine_early *spare; /* one per server, started where asked */
};
static struct preconnect *pending;

static void *early_main(void *arg)
{
	struct engine_early *x = arg;

	db_odbc_cancel_flag(&x->cancel);
	x->started_ms = cms_monotonic_ms();
	x->rc = x->connect(&x->db, x->st, x->srv, x->connect_ctx, &x->err);
	db_odbc_cancel_flag(NULL);
	x->ended_ms = cms_monotonic_ms();
	return NULL;
}

/* On x's thread: x->db, a session opened ahead and idle since, is asked
 * whether it still answers (SELECT 1 within a login timeout).  One that
 * failed at once (ended by a fence, a restart) is replaced by a new
 * connect; one that did not answer in time stays failed, as its connect
 * would have: connecting again would double the wait for a server that
 * is down. */
static void *verify_main(void *arg)
{
	struct engine_early *x = arg;
	int64_t login_ms = engine_login_timeout_ms(x->st), t0 = cms_monotonic_ms();
	struct db_result *res = NULL;

	db_odbc_cancel_flag(&x->cancel);
	db_set_deadline(x->db, t0 + login_ms);
	x->rc = db_exec(x->db, "SELECT 1", &res, &x->err);
	db_set_deadline(x->db, 0);
	db_result_free(res);
	if (x->rc < 0) {
		db_close(x->db);
		x->db = NULL;
		if (cms_monotonic_ms() - t0 < login_ms / 2) {
			cms_error_clear(&x->err);
			x->started_ms = cms_monotonic_ms();
			x->rc = x->connect(&x->db, x->st, x->srv, x->connect_ctx, &x->err);
		} else {
			cms_error_prefix(&x->err, "a session to server '%s' opened ahead did not "
					 "answer within %" PRId64 " ms", x->srv->name, login_ms);
		}
	}
	db_odbc_cancel_flag(NULL);
	x->ended_ms = cms_monotonic_ms();
	return NULL;
}

static void early_spawn(struct engine_early *x, void *(*fn)(void *))
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	x->joined = false;
	x->started = pthread_create(&x->th, NULL, fn, x) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Starts x's connect on a thread of its own; signals stay with the
 * calling thread.  Not started: whoever needs the session connects it. */
static void early_start(struct engine_early *x, const struct store *st, size_t idx,
			engine_connect_fn connect, void *connect_ctx)
{
	x->st = st;
	x->srv = &st->servers[idx];
	x->ahead = false;
	x->asked = false;
	x->connect = connect;
	x->connect_ctx = connect_ctx;
	early_spawn(x, early_main);
}

static void early_join(struct engine_early *x)
{
	if (x->started && !x->joined) {
		pthread_join(x->th, NULL);
		x->joined = true;
	}
}

/* Raises the cancel flag of every connect of xs still in progress. */
static void early_cancel(struct engine_early *xs, size_t n)
{
	size_t i;

	for (i = 0; xs && i < n; i++)
		if (xs[i].started && !xs[i].joined)
			atomic_store(&xs[i].cancel, 1);
}

/* Waits for every connect of xs (n of them) and closes what nobody took.
 * Connects still in progress are nobody's any more: they are cut first
 * (db_odbc_cancel_flag), so that a server that does not answer does not
 * hold the process until its login timeout. */
static void early_free(struct engine_early *xs, size_t n)
{
	size_t i;

	early_cancel(xs, n);
	for (i = 0; xs && i < n; i++) {
		early_join(&xs[i]);
		db_close(xs[i].db);
		cms_error_clear(&xs[i].err);
	}
	free(xs);
}

static void preconnect_free(struct preconnect *pc)
{
	if (!pc)
		return;
	/* All cut at once: the graces of their drivers run side by side. */
	early_cancel(pc->early, pc->st->nservers);
	early_cancel(pc->spare, pc->st->nservers);
	early_free(pc->early, pc->st->nservers);
	early_free(pc->spare, pc->st->nservers);
	free(pc);
}

/* limit_ms; a test build takes another from the environment variable
 * named (a test that holds an apply must not depend on how fast the
 * machine is): CMSCTL_TEST_PRECONNECT_VERIFY_MS for
 * ENGINE_PRECONNECT_VERIFY_MS, CMSCTL_TEST_PRECONNECT_FRESH_MS for
 * ENGINE_PRECONNECT_FRESH_MS. */
static int64_t preconnect_limit_ms(const char *test_env, int64_t limit_ms)
{
#ifdef CMSCTL_TEST_BUILD
	const char *v = getenv(test_env);

	if (v && *v)
		return strtoll(v, NULL, 10);
#else
	(void)test_env;
#endif
	return limit_ms;
}

int engine_open(struct engine **out, const struct store *store, engine_connect_fn connect,
		void *connect_ctx, struct cms_error *err)
{
	const struct engine_impl *impl;
	struct engine *e = NULL;
	int rc = 0;

	*out = NULL;
	if (!store)
		return cms_error_set(err, CMS_ERROR, "no store to open an engine for");
	e = xcalloc(1, sizeof(*e));
	e->store = store;
	e->sessions = xcalloc(store->nservers ? store->nservers : 1, sizeof(*e->sessions));
	e->connect = connect ? connect : engine_connect_odbc;
	e->connect_ctx = connect_ctx;
	if (!engine_traits(store->engine) ||
	    engine_traits(store->engine)->version != ENGINE_TRAITS_VERSION)
		rc = cms_error_set(err, CMS_ERROR, "store '%s': the engine table has no current row "
				   "for engine %d", store->name, (int)store->engine);
	else if (!(impl = implementation(store->engine)))
		rc = cms_error_set(err, CMS_ERROR, "store '%s' has an unknown engine (%d)",
				   store->name, (int)store->engine);
	else
		rc = impl->init(e, err);
	if (rc < 0)
		goto done;
	if (!e->ops) {
		rc = cms_error_set(err, CMS_ERROR, "the engine of store '%s' did not initialise",
				   store->name);
		goto done;
	}
	/* The connects engine_preconnect started for this store, if they
	 * are what this engine would make itself. */
	if (pending && cms_monotonic_ms() - pending->started_ms >
			       preconnect_limit_ms("CMSCTL_TEST_PRECONNECT_FRESH_MS",
						   ENGINE_PRECONNECT_FRESH_MS))
		engine_preconnect_drop(); /* a long wait (the store's lock): connect afresh */
	if (pending && pending->st == store && e->connect == engine_connect_odbc && !connect_ctx) {
		size_t i;

		for (i = 0; i < store->nservers; i++)
			pending->early[i].ahead = true;
		e->early = pending->early;
		e->early_ahead = true;
		e->spare = pending->spare;
		free(pending);
		pending = NULL;
	}
	*out = e;
	e = NULL;
done:
	engine_close(e);
	return rc;
}

void engine_close(struct engine *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; e->sessions && i < e->store->nservers; i++)
		engine_session_drop(e, i);
	free(e->sessions);
	early_cancel(e->early, e->store->nservers);
	early_cancel(e->spare, e->store->nservers);
	early_free(e->early, e->store->nservers);
	early_free(e->spare, e->store->nservers);
	if (e->ops && e->ops->close)
		e->ops->close(e);
	db_stmt_log_free(e->log, e->nlog);
	free(e->step_note);
	for (i = 0; i < e->nfollowups; i++)
		free(e->followups[i]);
	free(e->followups);
	free(e);
}


/* Appends ";KEY=value".  The value is braced ('}' doubled) only when it
 * must be: psqlODBC takes braces literally (UID={cmsctl} logs in as
 * "{cmsctl}"), while a ';', a brace or an edge space could not be told
 * from the syntax otherwise; drivers that parse braces (FreeTDS, Microsoft's)
 * read a plain value the same. */
static void add_attribute(struct buf *b, const char *key, const char *value)
{
	size_t len = strlen(value);
	const char *p;
	bool brace;

	brace = len == 0 || strpbrk(value, ";{}=") != NULL || value[0] == ' ' ||
		value[len - 1] == ' ';
	if (b->len && b->ptr[b->len - 1] != ';')
		buf_addch(b, ';');
	buf_adds(b, key);
	buf_addch(b, '=');
	if (!brace) {
		buf_adds(b, value);
		return;
	}
	buf_addch(b, '{');
	for (p = value; *p; p++) {
		if (*p == '}')
			buf_addch(b, '}');
		buf_addch(b, *p);
	}
	buf_addch(b, '}');
}

/* A store's query timeout, or the default for a store built without the
 * config loader's. */
static int64_t engine_query_timeout_ms(const struct store *store)
{
	return store->policy.query_timeout_ms > 0 ? store->policy.query_timeout_ms
						  : ENGINE_DEFAULT_QUERY_TIMEOUT_MS;
}

int engine_connect_odbc(struct db **out, const struct store *store, const struct server *srv,
			void *ctx, struct cms_error *err)
{
	struct buf connstr = BUF_INIT;
	int rc = 0;

	(void)ctx;
	*out = NULL;
	if (srv->connection && *srv->connection) {
		buf_adds(&connstr, srv->connection);
	} else if (srv->dsn && *srv->dsn) {
		buf_adds(&connstr, "DSN=");
		buf_adds(&connstr, srv->dsn);
	} else {
		rc = cms_error_set(err, CMS_ERROR,
				   "cannot connect to server '%s': it has neither a connection string nor a dsn",
				   srv->name);
		goto done;
	}
	/* The configured login name; per ODBC the first occurrence of a
	 * keyword wins, so a UID already in the connection string stays. */
	if (srv->user && *srv->user)
		add_attribute(&connstr, "UID", srv->user);
	/* The engine's own attributes (psqlODBC: driver logging off, since its
	 * logs hold every connection's password). */
	if (engine_traits(store->engine) && engine_traits(store->engine)->connection_suffix)
		buf_adds(&connstr, engine_traits(store->engine)->connection_suffix);
	if (engine_traits(store->engine) && engine_traits(store->engine)->servers_are_folders)
		/* A database file in a folder of this machine: no password,
		 * no socket, no thread (db_connect_odbc_file). */
		rc = db_connect_odbc_file(out, srv->name, connstr.ptr,
					  engine_login_timeout_ms(store),
					  engine_query_timeout_ms(store), err);
	else
		rc = engine_odbc_open(out, srv->name, connstr.ptr, srv->password_env,
				      srv->password_file, store, err);
done:
	buf_free(&connstr);
	return rc;
}

int64_t engine_login_timeout_ms(const struct store *store)
{
	return store->policy.login_timeout_ms > 0 ? store->policy.login_timeout_ms
						  : ENGINE_DEFAULT_LOGIN_TIMEOUT_MS;
}

int engine_odbc_open(struct db **out, const char *label, const char *connstr,
		     const char *password_env, const char *password_file, const struct store *store,
		     struct cms_error *err)
{
	char *password = NULL;
	int64_t login_ms, query_ms;
	int rc;

	*out = NULL;
	if ((rc = config_read_password(&password, password_env, password_file, err)) < 0) {
		cms_error_prefix(err, "cannot connect to server '%s'", label);
		return rc;
	}
	login_ms = engine_login_timeout_ms(store);
	query_ms = engine_query_timeout_ms(store);
	rc = db_connect_odbc(out, label, connstr, password, login_ms, query_ms, err);
	cms_free_secret(password);
	return rc;
}

void engine_take_log(struct engine *e, struct db_stmt_log **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!e)
		return;
	*out = e->log;
	*n = e->nlog;
	e->log = NULL;
	e->nlog = 0;
	e->alloc_log = 0;
}

void engine_absorb_log(struct engine *e, struct db *db)
{
	struct db_stmt_log *log = NULL;
	size_t n = 0, i;

	if (!e || !db)
		return;
	db_take_log(db, &log, &n);
	for (i = 0; i < n; i++)
		*ARRAY_PUSH(e->log, e->nlog, e->alloc_log) = log[i];
	free(log); /* the entries' strings now belong to e->log */
}

int engine_exec(struct engine *e, struct db *db, const char *database, const char *sql,
		struct db_result **out, struct cms_error *err)
{
	int rc = db_exec_on(db, database, sql, out, err);

	engine_absorb_log(e, db);
	return rc;
}

int engine_query_value(struct engine *e, struct db *db, const char *sql, char **out,
		       struct cms_error *err)
{
	int rc = db_query_value(db, sql, out, err);

	engine_absorb_log(e, db);
	return rc;
}

void engine_add_followup(struct engine *e, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	size_t i;

	if (!e)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	/* The same advice twice (a retried step) is said once. */
	for (i = 0; i < e->nfollowups; i++) {
		if (strcmp(e->followups[i], b.ptr) == 0) {
			buf_free(&b);
			return;
		}
	}
	*ARRAY_PUSH(e->followups, e->nfollowups, e->alloc_followups) = buf_detach(&b, NULL);
}

/* Whether a failed connect's error says the server answered and refused
 * the login (SQLSTATE class 28, or what PostgreSQL and SQL Server say of
 * a bad password, a missing role or database, pg_hba.conf): trying again
 * would only count one more failed login against the account, which a
 * lockout policy may hold against it. */
static bool server_answered(const struct cms_error *err)
{
	static const char *const marks[] = {
		"[28", "authentication", "password", "Login failed", "login failed",
		"does not exist", "pg_hba.conf", "permission denied",
	};
	size_t i;

	if (err->code == CMS_EINTERRUPTED)
		return false; /* the statement guard: nothing was sent */
	for (i = 0; err->message && i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(err->message, marks[i]))
			return true;
	return false;
}

bool engine_error_answered(const struct cms_error *err)
{
	/* Also a server that answered but takes no session now: it is up. */
	static const char *const more[] = {
		"the database system is", "too many clients", "connection slots",
	};
	size_t i;

	if (err->code == CMS_EINTERRUPTED)
		return false; /* the statement guard: nothing was sent */
	if (server_answered(err))
		return true;
	for (i = 0; err->message && i < sizeof(more) / sizeof(more[0]); i++)
		if (strstr(err->message, more[i]))
			return true;
	return false;
}

/* Takes the result of x's connect into server idx's session. */
static void early_take(struct engine *e, size_t idx)
{
	struct engine_early *x = &e->early[idx];

	if (!x->started || x->joined)
		return;
	early_join(x);
	if (x->rc == 0 && !e->sessions[idx]) {
		e->sessions[idx] = x->db;
		x->db = NULL;
		x->unchecked = true;
	}
}

/* Connects every server that has no session yet, each on its own thread,
 * when the sessions are ODBC ones and ODBC connects may run at once: the
 * probe then waits for the slowest server, not for the sum of them.
 * Otherwise (scripted sessions in tests, a driver manager that cannot)
 * nothing happens here and engine_session connects one by one.  Connects
 * engine_preconnect started are waited for instead. */
static void engine_connect_all(struct engine *e)
{
	const struct store *st = e->store;
	struct cms_error err = CMS_ERROR_INIT;
	int64_t login_ms;
	size_t i, todo = 0;
	bool ahead = e->early_ahead;

	if (!e->early) {
		if (e->connect != engine_connect_odbc || st->nservers < 2)
			return;
		for (i = 0; i < st->nservers; i++)
			if (!e->sessions[i])
				todo++;
		if (todo < 2)
			return;
		if (db_odbc_concurrent(&err) <= 0) {
			cms_error_clear(&err); /* engine_session reports it */
			return;
		}
		e->early = xcalloc(st->nservers, sizeof(*e->early));
		for (i = 0; i < st->nservers; i++)
			if (!e->sessions[i])
				early_start(&e->early[i], st, i, e->connect, e->connect_ctx);
	}
	for (i = 0; i < st->nservers; i++)
		early_take(e, i);
	/* Sessions opened ahead and idle for a while (the apply waited, for
	 * its lock say) are asked whether they still answer, all at once. */
	todo = 0;
	for (i = 0; ahead && i < st->nservers; i++) {
		struct engine_early *x = &e->early[i];

		if (!e->sessions[i] || !x->ahead || !x->unchecked ||
		    cms_monotonic_ms() - x->ended_ms <=
		    preconnect_limit_ms("CMSCTL_TEST_PRECONNECT_VERIFY_MS",
					ENGINE_PRECONNECT_VERIFY_MS))
			continue;
		x->ahead = false;
		x->asked = true;
		x->unchecked = false;
		x->db = e->sessions[i];
		e->sessions[i] = NULL;
		early_spawn(x, verify_main);
		if (!x->started) { /* no thread: the session serves unasked */
			e->sessions[i] = x->db;
			x->db = NULL;
			x->unchecked = true;
			continue;
		}
		todo++;
	}
	for (i = 0; todo && i < st->nservers; i++)
		early_take(e, i);
	/* A connect that failed a while ago (engine_preconnect's, which ran
	 * while the apply checked other things) is not the probe's answer,
	 * nor is one that failed fast (refused, a name not found, an error
	 * of the driver's): the server is tried again now, at little cost.
	 * One that failed at its login timeout ended just now, and stands:
	 * trying again would double the wait for a server that is down.  A
	 * login the server refused stands too (server_answered). */
	login_ms = engine_login_timeout_ms(st);
	todo = 0;
	for (i = 0; ahead && i < st->nservers; i++) {
		struct engine_early *x = &e->early[i];

		if (e->sessions[i] || !x->started || x->rc == 0 || x->asked ||
		    server_answered(&x->err) ||
		    (cms_monotonic_ms() - x->ended_ms <= ENGINE_EARLY_FAILURE_FRESH_MS &&
		     x->ended_ms - x->started_ms >= login_ms / 2))
			continue;
		cms_error_clear(&x->err);
		x->rc = 0;
		x->joined = false;
		early_start(x, st, i, x->connect, x->connect_ctx);
		todo++;
	}
	for (i = 0; todo && i < st->nservers; i++)
		early_take(e, i);
	e->early_ahead = false; /* tried again once; later probes take what is */
}

int engine_take_spare(struct engine *e, size_t idx, struct db **out)
{
	struct engine_early *x = e->spare ? &e->spare[idx] : NULL;

	*out = NULL;
	if (!x || !x->started)
		return 0;
	early_join(x);
	x->started = false;
	cms_error_clear(&x->err); /* the caller connects again and says why */
	if (x->rc < 0)
		return 0;
	*out = x->db;
	x->db = NULL;
	return 1;
}

void engine_preconnect(const struct store *st, const char *const *spares, size_t nspares)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct engine *probe = NULL;
	struct preconnect *pc;
	bool all, spare_ok;
	size_t i, j;

	if (pending || !st || st->nservers == 0)
		return;
	/* Only for an engine whose probe connects every server anyway, and
	 * only when ODBC connects may run at once. */
	all = engine_open(&probe, st, NULL, NULL, &err) == 0 && probe->ops->probe_connects_all;
	spare_ok = all && probe->ops->fence_takes_spare;
	engine_close(probe);
	cms_error_clear(&err);
	if (!all || db_odbc_concurrent(&err) <= 0) {
		cms_error_clear(&err);
		return;
	}
	pc = xcalloc(1, sizeof(*pc));
	pc->st = st;
	pc->started_ms = cms_monotonic_ms();
	pc->early = xcalloc(st->nservers, sizeof(*pc->early));
	pc->spare = xcalloc(st->nservers, sizeof(*pc->spare));
	for (i = 0; i < st->nservers; i++) {
		early_start(&pc->early[i], st, i, engine_connect_odbc, NULL);
		for (j = 0; spare_ok && j < nspares; j++)
			if (spares[j] && !strcmp(spares[j], st->servers[i].name)) {
				early_start(&pc->spare[i], st, i, engine_connect_odbc, NULL);
				break;
			}
	}
	pending = pc;
}

void engine_preconnect_drop(void)
{
	struct preconnect *pc = pending;

	pending = NULL;
	preconnect_free(pc);
}

int engine_session(struct engine *e, size_t idx, struct db **out, struct cms_error *err)
{
	struct engine_early *x = e->early ? &e->early[idx] : NULL;
	bool check = false;
	int rc;

	*out = NULL;
	if (x)
		early_take(e, idx);
	if (!e->sessions[idx]) {
		if (x && x->started && x->rc < 0) {
			/* Its connect already failed: that is the answer. */
			rc = x->rc;
			cms_error_move(err, &x->err);
			x->started = false;
		} else {
			rc = e->connect(&e->sessions[idx], e->store, &e->store->servers[idx],
					e->connect_ctx, err);
		}
		if (rc < 0) {
			e->sessions[idx] = NULL;
			if (rc != CMS_EREFUSED)
				return rc; /* CMS_EINTERRUPTED too: the statement guard */
			if (err) /* refused is reserved for a server that answered */
				err->code = CMS_ERROR;
			return CMS_ERROR;
		}
		check = true;
	} else if (x && x->unchecked) {
		check = true;
	}
	if (x)
		x->unchecked = false;
	if (check) {
		if (e->ops->check_session &&
		    (rc = e->ops->check_session(e, idx, e->sessions[idx], err)) < 0) {
			if (rc == CMS_EINTERRUPTED) {
				/* The statement guard refused the check (the run lost
				 * its lock): the session is not at fault, nor its
				 * server; it is checked again if ever used. */
				if (x)
					x->unchecked = true;
				return rc;
			}
			engine_session_drop(e, idx);
			if (rc != CMS_EREFUSED && err)
				err->code = CMS_ERROR;
			return rc == CMS_EREFUSED ? CMS_EREFUSED : CMS_ERROR;
		}
	}
	*out = e->sessions[idx];
	return 0;
}

void engine_session_drop(struct engine *e, size_t idx)
{
	if (!e->sessions[idx])
		return;
	engine_absorb_log(e, e->sessions[idx]);
	db_close(e->sessions[idx]);
	e->sessions[idx] = NULL;
}

int engine_refuse_unreachable(struct cms_error *err, const char *what, const char *name)
{
	if (!err)
		return CMS_EREFUSED;
	if (err->code == CMS_EREFUSED)
		return CMS_EREFUSED; /* it answered, as another server: not unreachable */
	if (err->code == CMS_EINTERRUPTED)
		return CMS_EINTERRUPTED; /* the statement guard: nothing was asked */
	cms_error_prefix(err, "%s '%s' is unreachable", what, name);
	err->code = CMS_EREFUSED;
	return CMS_EREFUSED;
}

int engine_probe(struct engine *e, struct observation *out, struct cms_error *err)
{
	int rc;

	if (!e || !e->ops || !e->ops->probe)
		return cms_error_set(err, CMS_ERROR, "no engine to probe with");
	if (e->ops->probe_connects_all)
		engine_connect_all(e);
	if ((rc = e->ops->probe(e, out, err)) < 0)
		return rc;
	out->probed = true;
	return 0;
}

void engine_database_done(struct engine *e, const char *action, const char *server, const char *db)
{
	if (e && e->on_database)
		e->on_database(e->on_database_arg, action, server, db);
}

int engine_may_change(struct engine *e, struct cms_error *err)
{
	engine_database_done(e, "may_change", "", ""); /* a test build's hold */
	return e && e->may_change ? e->may_change(e->may_change_arg, err) : 0;
}

const struct server *engine_server(const struct engine *e, const char *name, size_t *index,
				   struct cms_error *err)
{
	const struct store *st = e->store;
	size_t i;

	for (i = 0; name && i < st->nservers; i++)
		if (strcmp(st->servers[i].name, name) == 0) {
			if (index)
				*index = i;
			return &st->servers[i];
		}
	cms_error_set(err, CMS_ENOTFOUND, "server '%s' is not part of store '%s'", name ? name : "",
		      st->name);
	return NULL;
}

void engine_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void engine_format_ms(char out[32], int64_t ms)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(out, 32, "%" PRId64 "s", ms / 1000);
	else
		snprintf(out, 32, "%" PRId64 "ms", ms);
}
