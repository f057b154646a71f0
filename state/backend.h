/*
 * The state backend interface: what a place that keeps cmsctl's state must
 * do, as one versioned table of operations (the shape of libgit2's
 * git_refdb_backend).  state.c dispatches every public state_* call through
 * it and never asks which backend it is talking to; each backend is one
 * file (state_sqlite.c, state_pg.c) that fills a table and an open
 * function, plus one line in state.c's list of backends.
 *
 * Every operation has the contract of the state.h function of the same
 * name.  A backend's handle starts with struct state (its ops and its name
 * for messages), so that the handle state.h hands out is the backend's.
 */
#ifndef CMS_STATE_BACKEND_H
#define CMS_STATE_BACKEND_H

#include "state/state.h"

#define STATE_BACKEND_VERSION 2

struct state_backend {
	unsigned int version; /* STATE_BACKEND_VERSION */
	const char *name;     /* "sqlite", "postgresql" */

	void (*close)(struct state *st);
	int (*integrity_check)(struct state *st, char **out_result, struct cms_error *err);
	int (*list_stores)(struct state *st, struct cms_strv *names, struct cms_error *err);
	int (*read_store)(struct state *st, const char *store, struct recorded *out,
			  struct cms_error *err);

	int (*lock)(struct state *st, const char *store, const struct lock_holder *holder,
		    const char *reason, int64_t lease_s, int64_t now, char **lock_id_out,
		    struct cms_error *err);
	int (*lock_renew)(struct state *st, const char *store, const char *lock_id,
			  int64_t lease_s, int64_t now, struct cms_error *err);
	int (*unlock)(struct state *st, const char *store, const char *lock_id,
		      struct cms_error *err);
	int (*lock_list)(struct state *st, struct lock_info **out, size_t *n,
			 struct cms_error *err);

	/* A batch of writes in one transaction: what 0 begins it, 1 commits
	 * it, 2 rolls it back (its own failure not reported), 3 begins one
	 * whose commit need not be durable yet (state_batch_begin_lazy).
	 * Only run_begin and step_set run inside one. */
	int (*batch)(struct state *st, int what, struct cms_error *err);
	int (*run_begin)(struct state *st, const char *run_id, const char *store,
			 const char *plan_id, const char *kind, const char *operator_name,
			 int64_t now, struct cms_error *err);
	int (*step_set)(struct state *st, const char *run_id, int n, const char *action,
			const char *server, enum step_status status, const char *detail_json,
			int64_t now, int64_t duration_ms, struct cms_error *err);
	int (*run_finish)(struct state *st, const char *run_id, const char *outcome, int64_t now,
			  struct cms_error *err);
	/* The newest run of store (by insertion); only an unfinished one when
	 * unfinished is true.  CMS_ENOTFOUND when there is none. */
	int (*run_newest)(struct state *st, const char *store, bool unfinished,
			  struct run_info *out, struct cms_error *err);
	int (*run_steps)(struct state *st, const char *run_id, struct step_info **out, size_t *n,
			 struct cms_error *err);
	int (*run_list)(struct state *st, const char *store, struct run_info **out, size_t *n,
			struct cms_error *err);
	int (*history_tip_set)(struct state *st, const char *commit_id, int64_t now,
			       struct cms_error *err);
	int (*history_tip)(struct state *st, char **commit_id, struct cms_error *err);
	int (*history_tip_replace)(struct state *st, const char *old_id, const char *new_id,
				   int64_t now, bool *replaced, struct cms_error *err);

	int (*commit)(struct state *st, const char *store, const char *lineage,
		      int64_t expected_serial, const char *primary, const char *mirror,
		      const char *plan_id, const char *run_id, int64_t now, int64_t *new_serial,
		      struct cms_error *err);
	int (*plan_consumed)(struct state *st, const char *plan_id, bool *out,
			     struct cms_error *err);
	int (*consume_plan)(struct state *st, const char *plan_id, const char *store,
			    const char *run_id, int64_t now, struct cms_error *err);
	int (*approve)(struct state *st, const char *plan_id, const char *store,
		       const char *approver, int64_t now, struct cms_error *err);
	int (*approvals)(struct state *st, const char *plan_id, struct cms_strv *approvers,
			 struct cms_error *err);

	/* Everything recorded, runs in insertion order. */
	int (*dump)(struct state *st, struct state_dump *out, struct cms_error *err);
	/* Writes d into an empty state in one transaction; a state that holds
	 * anything is refused (CMS_ERROR) and left as it was. */
	int (*load)(struct state *st, const struct state_dump *d, struct cms_error *err);
};

struct state {
	const struct state_backend *ops;
	char *name; /* for messages: the file, or "postgresql: <connection>" */
};

/* The backends' open functions (see state_open_target). */
int state_sqlite_open(struct state **out, const char *path, bool create, struct cms_error *err);
int state_pg_open(struct state **out, const struct state_target *t, bool create,
		  struct cms_error *err);

/* Helpers the backends share (state.c). */
const char *state_step_status_text(enum step_status s); /* NULL when out of range */
int state_step_status_parse(const char *name, enum step_status *out);
/* A lock row's columns, in the order both backends read and write them,
 * and what taking over a store's row replaces (the same SQL in both). */
#define STATE_LOCK_COLUMNS \
	"store, id, holder, reason, acquired_at, lease_until, holder_pid, holder_host, holder_pid_ns"
#define STATE_LOCK_TAKE_OVER \
	" ON CONFLICT (store) DO UPDATE SET id = excluded.id, holder = excluded.holder," \
	" reason = excluded.reason, acquired_at = excluded.acquired_at," \
	" lease_until = excluded.lease_until, holder_pid = excluded.holder_pid," \
	" holder_host = excluded.holder_host, holder_pid_ns = excluded.holder_pid_ns"
/* The refusal of a lock held by someone else: CMS_ELOCKED, naming l's
 * holder, reason and lease, with the unlock command as the hint. */
int state_lock_held(struct cms_error *err, const struct lock_info *l);
/* Splits a holder written as text before schema version 4, "NAME (pid N on
 * HOST, NS)", into *out (the caller frees it); text of any other form is
 * the name alone.  Only the migration to version 4 reads that text. */
void state_lock_holder_parse_legacy(const char *text, struct lock_holder *out);

#endif
