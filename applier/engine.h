/*
 * Engines: how the abstract steps of a plan become statements on a store's
 * servers.  One implementation per enum engine_kind (engine_sqlite.c,
 * engine_postgresql.c, engine_mssql.c), all over the db session (db.h).
 *
 * An engine never prints.  Every statement it sends is logged on the db
 * session it used; engine_take_log() hands the statements run since the
 * last call to the applier, which journals them with the step.
 */
#ifndef CMS_APPLIER_ENGINE_H
#define CMS_APPLIER_ENGINE_H

#include "applier/db.h"
#include "common/error.h"
#include "planner/model.h"
#include "planner/observe.h"

#include <stdbool.h>
#include <stdint.h>

struct engine;

/* Opens a db session to a server of the store: how an engine connects.
 * The default opens ODBC with the server's connection/dsn and password;
 * unit tests substitute a function that hands out scripted fakes. */
typedef int (*engine_connect_fn)(struct db **out, const struct store *store,
				 const struct server *srv, void *ctx, struct cms_error *err);

struct engine_ops {
	const char *name;
	/* Probes every server of the store into out (one entry per config
	 * server, config order).  An unreachable server is an observation
	 * (reachable = false, error set), not a failure. */
	int (*probe)(struct engine *e, struct observation *out, struct cms_error *err);
	/* Target is reachable and holds every database, in a role it can be
	 * promoted from. */
	int (*check_target)(struct engine *e, const char *target, struct cms_error *err);
	/* Makes the primary refuse writes, then verifies a write is refused. */
	int (*fence)(struct engine *e, const char *server, struct cms_error *err);
	/* Undoes fence (rollback before promotion; restore). */
	int (*unfence)(struct engine *e, const char *server, struct cms_error *err);
	/* Waits (or copies) until target has everything source has, at most
	 * timeout_ms; CMS_EREFUSED on timeout. */
	int (*catch_up)(struct engine *e, const char *source, const char *target,
			int64_t timeout_ms, struct cms_error *err);
	/* Promotes target, database by database; old_primary (may be NULL:
	 * unreachable) is what it replaces.  Returns once the engine itself
	 * sees the target writable.  Every refusal (CMS_EREFUSED) is made
	 * before the first change: the applier then undoes the fence and the
	 * run ends rolled back, once a probe confirms nothing was promoted. */
	int (*promote)(struct engine *e, const char *target, const char *old_primary,
		       bool force, struct cms_error *err);
	/* After promotion: what the old primary becomes, where the engine can
	 * do it (sqlite: mirror); engines that cannot return 0 and add a
	 * follow-up instead. */
	int (*demote)(struct engine *e, const char *old_primary, const char *new_primary,
		      struct cms_error *err);
	void (*close)(struct engine *e);
	/* Optional (restore, under the store's lock): removes what interrupted
	 * runs left behind on the servers (sqlite: catch-up copies), saying
	 * what in one follow-up each. */
	int (*tidy)(struct engine *e, struct cms_error *err);
	/* Optional (restore, before it undoes a run whose promotion of target
	 * began): makes target stay read-only should that promotion still
	 * complete, for engines whose promotion is only asked for and taken
	 * later (postgresql: pg_promote(false) signals the startup process).
	 * Fails when target is found promoted already (fenced then): the
	 * promotion took, and the run is not undone.  NULL: a promotion is
	 * over when its statement returns. */
	int (*keep_copy)(struct engine *e, const char *target, struct cms_error *err);
	/* NULL, or: fence and unfence send nothing on this engine, and this
	 * says why (for the report, instead of "a write is refused"). */
	const char *fence_note;
	/* Optional: checks a session just connected to server idx, before
	 * engine_session hands it out (mssql: that the server answers as the
	 * configured instance).  CMS_EREFUSED when it answered as another
	 * server; any other failure is taken for CMS_ERROR. */
	int (*check_session)(struct engine *e, size_t idx, struct db *db, struct cms_error *err);
	/* Its probe opens a session to every server (engine_session): the
	 * probe connects them all at once first (engine_probe). */
	bool probe_connects_all;
	/* Its fence opens a second session to the server it fences
	 * (engine_take_spare): engine_preconnect may open it ahead. */
	bool fence_takes_spare;
};

/* What the applier knows about the primary a move replaces, set before
 * check_target and again before promote: engines decide from it whether a
 * move that may lose data (forced service, a forced failover, recovering
 * restored copies) may run at all.  Unreachable is not down: such a move
 * needs old_isolated, or an old primary that answers and whose own
 * database shows it cannot serve. */
struct engine_move {
	const char *old_primary; /* borrowed; NULL when there is none */
	bool old_answers;        /* it answered when the plan was made (and re-checked) */
	bool old_isolated;       /* fenced from outside by a fence target, or attested down
				  * (plan --assume-down); at check_target: planned to be */
};

struct engine {
	const struct engine_ops *ops;
	struct engine_move move;         /* set by the applier; zero: nothing known */
	const struct store *store;       /* borrowed */
	engine_connect_fn connect;
	void *connect_ctx;
	struct db **sessions;            /* one per store server (same index), NULL until
					  * engine_session first connects it */
	struct engine_early *early;      /* per server: what connecting them all at once
					  * left for engine_session (NULL: nothing) */
	bool early_ahead;                /* early came from engine_preconnect (not yet probed) */
	struct engine_early *spare;      /* per server: second sessions engine_preconnect
					  * opened (engine_take_spare; NULL: none) */
	struct db_stmt_log *log;         /* statements gathered from closed sessions */
	size_t nlog, alloc_log;
	char **followups;                /* advice recorded by the engine ("re-seed pool-a") */
	size_t nfollowups, alloc_followups;
	void *priv;                      /* the implementation's own */
	char *step_note;                 /* NULL, or what the last catch_up or promote reached
					  * ("xds at LSN ..."), for the step's check; the
					  * applier takes it (frees it) */
	/* Test hook (a test build's CMSCTL_TEST_HOLD_AT=promote:DB): called by
	 * engines that promote database by database, after each database took
	 * the promotion (the sqlite engine also after each database's fence
	 * and unfence: "fence", "unfence"); and with the action "may_change" by
	 * engine_may_change (CMSCTL_TEST_HOLD_AT=may_change).  NULL: nothing. */
	void (*on_database)(void *arg, const char *action, const char *server, const char *db);
	void *on_database_arg;
	/* Asked by engines right before the statement that promotes a
	 * server, and before the sqlite catch-up renames its copy over the
	 * target's file (engine_may_change): the applier checks that its run
	 * still holds the store's lock (a process stopped past its lease may
	 * have lost it to another run).  NULL: nothing to ask.  (apply and
	 * restore also make it the guard of every statement they send:
	 * db_set_guard.) */
	int (*may_change)(void *arg, struct cms_error *err);
	void *may_change_arg;
	/* The write-unavailable window as the engine sees it
	 * (cms_monotonic_ms(); 0: not marked).  fence may set window_opened
	 * right before its first statement that changes the old primary (the
	 * checks and sessions it needs come before); promote may set
	 * window_closed once the target takes writes (checks and tidying after
	 * it are outside).  The applier clears them before the step and falls
	 * back to the step's own bounds. */
	int64_t window_opened, window_closed;
	/* Set by a promote that failed before it sent the target anything
	 * that changes it (postgresql: a read before pg_promote(), on a target
	 * that restarted or went away); the applier clears it before the step.
	 * The applier then reads the target again and, when it holds nothing
	 * as primary, undoes the fence: a failure before promotion. */
	bool promote_unsent;
	/* Set by the applier around a probe that only re-reads roles (the
	 * re-read right after a promotion; the final verification reads
	 * everything): the engine may leave out what only describes
	 * replication (postgresql: pg_stat_replication, whose first read on
	 * a server just promoted takes 10 to 15 ms). */
	bool probe_roles_only;
};

/* Creates the engine for store->engine.  connect NULL means ODBC. */
int engine_open(struct engine **out, const struct store *store, engine_connect_fn connect,
		void *connect_ctx, struct cms_error *err);
void engine_close(struct engine *e); /* accepts NULL */

/* The default connect: ODBC with login/query timeouts from the policy and
 * the password read by config_read_password(). */
/* The store's login timeout, or its default for a store the loader did
 * not build. */
int64_t engine_login_timeout_ms(const struct store *store);

int engine_connect_odbc(struct db **out, const struct store *store, const struct server *srv,
			void *ctx, struct cms_error *err);

/* The one way cmsctl opens an ODBC session (servers and odbc publish
 * targets): connstr (no secret in it) with the password read from
 * password_env/password_file and wiped after the connect, and the store's
 * login and query timeouts (their defaults for a store the loader did not
 * build).  label names the session in messages and logs. */
int engine_odbc_open(struct db **out, const char *label, const char *connstr,
		     const char *password_env, const char *password_file, const struct store *store,
		     struct cms_error *err);

/* Moves the statement log out (caller frees with db_stmt_log_free). */
void engine_take_log(struct engine *e, struct db_stmt_log **out, size_t *n);
/* Appends a db session's log to the engine's (used by implementations
 * before closing a session). */
void engine_absorb_log(struct engine *e, struct db *db);
/* Runs one statement on db (acting on database; NULL: the session's) and
 * moves its log entry to the engine's log at once, so that the applier
 * journals a step's statements in the order they were sent, whichever
 * session sent them; engine_query_value reads the first column of the
 * first row (db_query_value: NULL for SQL NULL, an error for no row;
 * caller frees). */
int engine_exec(struct engine *e, struct db *db, const char *database, const char *sql,
		struct db_result **out, struct cms_error *err);
int engine_query_value(struct engine *e, struct db *db, const char *sql, char **out,
		       struct cms_error *err);
void engine_add_followup(struct engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* What every engine shares: the server of the store named name (its index
 * into store->servers in *index when not NULL), or NULL with
 * CMS_ENOTFOUND "server 'x' is not part of store 'y'"; a sleep that
 * resumes after signals; a duration for messages ("30s", "250ms"). */
const struct server *engine_server(const struct engine *e, const char *name, size_t *index,
				   struct cms_error *err);
void engine_sleep_ms(int64_t ms);
void engine_format_ms(char out[32], int64_t ms);

/* The session to the store's server idx, connected through e->connect
 * (and checked by ops->check_session) on first use, then reused until
 * engine_session_drop or engine_close.  A server that cannot be connected
 * to fails with the connect's message and CMS_ERROR (a caller may take it
 * for unreachable); one that answers as another server with CMS_EREFUSED,
 * which no caller may take for unreachable. */
int engine_session(struct engine *e, size_t idx, struct db **out, struct cms_error *err);

/* Starts connecting, now and on threads of their own, every server of st
 * when st's engine probes every server (engine_ops.probe_connects_all) and
 * ODBC connects may run at once, and a second session to each server
 * named in spares (nspares of them) when the engine fences with one
 * (engine_ops.fence_takes_spare); otherwise nothing.
 * The next engine_open of st (ODBC sessions) takes them, so that the
 * connects run while the caller does other work (an apply's checks of
 * the history and the state).  One store at a time; what no engine took
 * is closed by engine_preconnect_drop(), which cuts connects still in
 * progress rather than wait for their login timeout. */
void engine_preconnect(const struct store *st, const char *const *spares, size_t nspares);
void engine_preconnect_drop(void);
/* A second session to server idx that engine_preconnect opened: 1 with
 * *out (the caller closes it, as one it connected itself), or 0 when
 * there is none (never opened, or its connect failed: the caller
 * connects, and says why if that fails too). */
int engine_take_spare(struct engine *e, size_t idx, struct db **out);
/* Closes server idx's session, if open, keeping its statements in the
 * engine's log; the next engine_session connects again. */
void engine_session_drop(struct engine *e, size_t idx);
/* A server a move needs that cannot be reached, as the refusal of the
 * move (exit 7): err becomes "WHAT 'NAME' is unreachable: <why>" with
 * CMS_EREFUSED.  An err already CMS_EREFUSED (the server answered as
 * another) is refused as it is.  Returns CMS_EREFUSED. */
int engine_refuse_unreachable(struct cms_error *err, const char *what, const char *name);

/* Calls e->on_database when set. */
void engine_database_done(struct engine *e, const char *action, const char *server, const char *db);
/* Whether a failed connect or statement's error shows the server answered
 * (refused a login, is starting up, has no slot left): it is up, whatever
 * else failed (server_obs.answered). */
bool engine_error_answered(const struct cms_error *err);
/* 0 when the run may go on to change a server now (e->may_change). */
int engine_may_change(struct engine *e, struct cms_error *err);

/* Convenience wrappers over e->ops. */
int engine_probe(struct engine *e, struct observation *out, struct cms_error *err);

/* Per-engine constructors (set e->ops and e->priv). */
int engine_sqlite_init(struct engine *e, struct cms_error *err);
int engine_postgresql_init(struct engine *e, struct cms_error *err);
int engine_mssql_init(struct engine *e, struct cms_error *err);

#endif
