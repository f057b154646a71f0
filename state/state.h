/*
 * The state store: per store, the lineage, serial and recorded location;
 * the journal of runs and their steps; locks; approvals; consumed plan
 * ids.  All state access goes through this narrow interface, which
 * dispatches to a backend (state/backend.h): an SQLite file, the embedded
 * default described below, or a shared PostgreSQL database (state_pg.c).
 *
 * The file is created on first use (mode 0600, its folder 0700), in WAL
 * mode, with a busy timeout and foreign keys on; its schema is migrated by
 * PRAGMA user_version.  A file that is not a cmsctl state (application_id),
 * is newer than this binary, or is corrupt is refused and never modified.
 * No secret is ever written to it.
 */
#ifndef CMS_STATE_STATE_H
#define CMS_STATE_STATE_H

#include "common/error.h"
#include "common/strv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state;

struct recorded {
	bool exists;      /* false: the store was never adopted */
	char *lineage;    /* random id made once, at adoption */
	int64_t serial;   /* increments by one with every committed change */
	char *primary;    /* recorded location */
	char *mirror;     /* or NULL */
	char *updated_at; /* RFC 3339 */
};
void recorded_free(struct recorded *r); /* frees content */

/* Opens (creating when create is true and the file is absent).  With create
 * false, a missing file is CMS_ENOTFOUND. */
int state_open(struct state **out, const char *path, bool create, struct cms_error *err);

/* Where a state lives: which backend, and its address. */
struct state_target {
	const char *backend;    /* "sqlite" or "postgresql" */
	const char *path;       /* sqlite: the file */
	const char *connection; /* postgresql: libpq connection string or URI, no secret */
	const char *password;   /* postgresql: or NULL (libpq's PGPASSWORD, ~/.pgpass) */
};
/* Opens the state of t through its backend, as state_open does for a file:
 * with create false, a state that does not exist yet (a missing file, a
 * database without cmsctl's schema) is CMS_ENOTFOUND.  The password is
 * never kept in the state, in a message or in the database. */
int state_open_target(struct state **out, const struct state_target *t, bool create,
		      struct cms_error *err);
/* What the state is, for messages: its path, or "postgresql: <connection>".
 * Borrowed. */
const char *state_name(const struct state *st);
void state_close(struct state *st);

/* Runs PRAGMA integrity_check.  *out_result (the caller frees it) is "ok"
 * or the problems found, one a line; when not "ok" the call also fails
 * with CMS_ERROR naming the first problem. */
int state_integrity_check(struct state *st, char **out_result, struct cms_error *err);

/* The names of the recorded stores, sorted, into *names (empty at the
 * call; the caller frees it, on failure too). */
int state_list_stores(struct state *st, struct cms_strv *names, struct cms_error *err);

int state_read_store(struct state *st, const char *store, struct recorded *out,
		     struct cms_error *err);

/* Who holds a lock, one column each.  A run of cmsctl names its process
 * too, so that a later run can tell a dead holder of its own host and PID
 * namespace from a live one it cannot see (another container with the same
 * host name); a lock written by hand may name only someone. */
struct lock_holder {
	char *name;   /* the operator ("user@host"), or any text */
	int64_t pid;  /* the holding process; 0 when the lock names none */
	char *host;   /* that process's host name; NULL when pid is 0 */
	char *pid_ns; /* its PID namespace, "pid:[N]" ("pid:[?]": unknown), followed by
		       * " boot=ID start=TICKS" where known; NULL when pid is 0 */
};
/* The holder as messages show it: "NAME (pid N on HOST, NS)", or NAME
 * alone when it names no process.  Caller frees. */
char *lock_holder_text(const struct lock_holder *h);
void lock_holder_free(struct lock_holder *h); /* frees content; accepts NULL */

/* Locks (one per store).  The lease is renewed by state_lock_renew.  A held,
 * unexpired lock of someone else is CMS_ELOCKED with the holder in the
 * message. */
struct lock_info {
	char *store, *id;
	struct lock_holder holder;
	char *holder_text; /* lock_holder_text(&holder), for messages */
	char *reason;
	int64_t acquired_at, lease_until; /* seconds since the epoch */
};
void lock_info_free(struct lock_info *l);                 /* frees content */
void lock_info_list_free(struct lock_info *l, size_t n); /* frees each and the array */
/* state_lock_renew extends a lease only once a tenth of it has passed
 * (it checks the lock is still held either way): apply renews before
 * every step, and each write is a sync. */
#define STATE_LEASE_RENEW_PART 10
int state_lock(struct state *st, const char *store, const struct lock_holder *holder,
	       const char *reason, int64_t lease_s, int64_t now, char **lock_id_out,
	       struct cms_error *err);
int state_lock_renew(struct state *st, const char *store, const char *lock_id,
		     int64_t lease_s, int64_t now, struct cms_error *err);
int state_unlock(struct state *st, const char *store, const char *lock_id, struct cms_error *err);
int state_lock_list(struct state *st, struct lock_info **out, size_t *n, struct cms_error *err);

/* The journal. */
enum step_status { STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_SKIPPED, STEP_UNDONE };
const char *step_status_name(enum step_status s);

/* What a run is, and how it ended: the journal keeps their names (and the
 * schema refuses any other, a CHECK of the state's migrations). */
enum run_kind { RUN_APPLY, RUN_RESTORE };
enum run_outcome {
	RUN_RUNNING,     /* not finished (in progress, or interrupted) */
	RUN_OK,
	RUN_FAILED,
	RUN_ROLLED_BACK, /* failed before promotion, the fence undone */
	RUN_INTERRUPTED, /* closed as interrupted (a dead restore) */
	RUN_RESTORED,    /* finished by the restore that closed it */
};
const char *run_kind_name(enum run_kind k);
const char *run_outcome_name(enum run_outcome o);
/* 0 and *out for a known name, -1 otherwise. */
int run_outcome_parse(const char *name, enum run_outcome *out);

struct run_info {
	char *id, *store, *plan_id, *kind, *operator_name, *outcome;
	char *started_at, *finished_at; /* RFC 3339 or NULL */
};
void run_info_free(struct run_info *r); /* frees content */

struct step_info {
	int n;
	char *action, *server, *detail_json; /* detail: statements and timings, JSON */
	enum step_status status;
	char *started_at, *finished_at;
	int64_t duration_ms;
};
void step_info_free(struct step_info *s);                 /* frees content */
void step_info_list_free(struct step_info *s, size_t n); /* frees each and the array */

/* Several writes as one transaction (one sync instead of one each):
 * state_batch_begin, then only state_run_begin and state_step_set, then
 * state_batch_end, which commits when commit is true and rolls back
 * otherwise (nothing of the batch is then written). */
int state_batch_begin(struct state *st, struct cms_error *err);
/* The same, but the batch's commit returns before it is durable: it
 * survives the process's end (SIGKILL included) once committed, and power
 * loss once any later write has committed, since every other write waits
 * for all that came before it.  For writes that nothing irreversible
 * waits on. */
int state_batch_begin_lazy(struct state *st, struct cms_error *err);
int state_batch_end(struct state *st, bool commit, struct cms_error *err);

/* A run begins with outcome "running".
 * state_step_set inserts or updates step n: started_at is stamped when it
 * enters running (and cleared when it is put back to pending),
 * finished_at when it reaches done, failed, skipped or undone; a NULL
 * action, server or detail_json, or a negative duration_ms, keeps the
 * value recorded before.  Run and step times (now_ms) are milliseconds
 * since the epoch, kept as RFC 3339 with milliseconds. */
int state_run_begin(struct state *st, const char *run_id, const char *store, const char *plan_id,
		    enum run_kind kind, const char *operator_name, int64_t now_ms,
		    struct cms_error *err);
int state_step_set(struct state *st, const char *run_id, int n, const char *action,
		   const char *server, enum step_status status, const char *detail_json,
		   int64_t now_ms, int64_t duration_ms, struct cms_error *err);
int state_run_finish(struct state *st, const char *run_id, enum run_outcome outcome,
		     int64_t now_ms, struct cms_error *err);
/* The newest run of a store whose outcome is still "running" (an
 * interrupted apply), or CMS_ENOTFOUND. */
int state_run_unfinished(struct state *st, const char *store, struct run_info *out,
			 struct cms_error *err);
/* The newest run of a store, whatever its outcome, or CMS_ENOTFOUND. */
int state_run_last(struct state *st, const char *store, struct run_info *out,
		   struct cms_error *err);
/* Every run of a store, oldest first; free each with run_info_free, then
 * the array. */
int state_run_list(struct state *st, const char *store, struct run_info **out, size_t *n,
		   struct cms_error *err);
int state_run_steps(struct state *st, const char *run_id, struct step_info **out, size_t *n,
		    struct cms_error *err);

/* Commits a new recorded location for store in one transaction: when
 * expected_serial >= 0 the store must be at that serial (else CMS_ESTALE);
 * lineage is set when the store is new (adoption).  Marks plan_id consumed
 * (a plan id already consumed is CMS_ESTALE, unless run_id itself consumed
 * it with state_consume_plan).  A new store needs expected_serial 0 (or
 * < 0) and a lineage; for a recorded one a non-NULL lineage must match
 * (else CMS_ESTALE).  Returns the new serial. */
int state_commit(struct state *st, const char *store, const char *lineage,
		 int64_t expected_serial, const char *primary, const char *mirror,
		 const char *plan_id, const char *run_id, int64_t now, int64_t *new_serial,
		 struct cms_error *err);

int state_plan_consumed(struct state *st, const char *plan_id, bool *out, struct cms_error *err);
/* Marks a plan consumed without changing the location (a failed apply
 * still uses up its plan).  Again by the same run_id is a no-op; by another
 * run it is CMS_ESTALE. */
int state_consume_plan(struct state *st, const char *plan_id, const char *store,
		       const char *run_id, int64_t now, struct cms_error *err);

/* Idempotent: approving the same plan twice records the first time.
 * Returns 1 when this call recorded the approval, 0 when the approver's
 * approval was recorded already (by another runner, say). */
int state_approve(struct state *st, const char *plan_id, const char *store, const char *approver,
		  int64_t now, struct cms_error *err);
/* Sorted by approver, into *approvers (as state_list_stores). */
int state_approvals(struct state *st, const char *plan_id, struct cms_strv *approvers,
		    struct cms_error *err);

/* The history branch tip as of the last history commit cmsctl made (audit
 * verify checks that the branch only ever grew from it); CMS_ENOTFOUND
 * when none was recorded.  *commit_id is the caller's. */
int state_history_tip_set(struct state *st, const char *commit_id, int64_t now,
			  struct cms_error *err);
int state_history_tip(struct state *st, char **commit_id, struct cms_error *err);
/* The recorded tip set to new_id only while it is old_id (a compare and
 * swap: a local commit rebuilt on a moved remote tip gets a new id, and
 * the tip recorded for it follows, unless another commit was recorded
 * since); *replaced says whether it was. */
int state_history_tip_replace(struct state *st, const char *old_id, const char *new_id,
			      int64_t now, bool *replaced, struct cms_error *err);

/* Everything a state records, for `state show` and `state migrate`. */
struct state_store_row {
	char *name;
	struct recorded rec;
};
struct state_step_row {
	char *run_id;
	struct step_info step;
};
struct state_approval_row {
	char *plan_id, *store, *approver, *approved_at;
};
struct state_consumed_row {
	char *plan_id, *store, *run_id, *consumed_at; /* run_id may be NULL */
};
struct state_dump {
	struct state_store_row *stores;       /* sorted by name */
	size_t nstores;
	struct run_info *runs;                /* in the order they began */
	size_t nruns;
	struct state_step_row *steps;         /* by run, then n */
	size_t nsteps;
	struct state_approval_row *approvals; /* by plan id, then approver */
	size_t napprovals;
	struct state_consumed_row *consumed;  /* by plan id */
	size_t nconsumed;
	struct lock_info *locks;              /* by store */
	size_t nlocks;
	char *history_tip;                    /* the recorded history tip, or NULL */
};
void state_dump_free(struct state_dump *d); /* frees content; accepts NULL */
int state_dump(struct state *st, struct state_dump *out, struct cms_error *err);
/* Copies d into st, in one transaction, run order kept, then the history
 * tip.  A target that already records anything is refused (CMS_ERROR,
 * nothing written); locks are not copied (a lock belongs to a running
 * process). */
int state_load(struct state *st, const struct state_dump *d, struct cms_error *err);

#endif
