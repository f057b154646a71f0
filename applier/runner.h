/*
 * The entries of apply and restore below cmd/: one path from a saved plan
 * to its record (the plan is in the history and re-derives, the run goes
 * through applier/apply.c, its report and location reach the history), and
 * the same for restore.  Any caller gets every check; cmd/ parses, asks,
 * prints and maps the error to an exit code.
 *
 * cmd/ knows where the state and the history are (the config, --state,
 * --history) and fetches the history's remote once per command, so it
 * hands the entries a struct applier_env that opens them.
 */
#ifndef CMS_APPLIER_RUNNER_H
#define CMS_APPLIER_RUNNER_H

#include "applier/apply.h"
#include "common/buf.h"
#include "common/error.h"
#include "planner/model.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <stdbool.h>
#include <stdint.h>

struct applier_env {
	const char *state_name;           /* the state, as messages name it */
	/* Opens the state; with create false a missing one is CMS_ENOTFOUND. */
	int (*open_state)(void *arg, bool create, struct state **out, struct cms_error *err);
	const char *history_path;         /* the history, as messages name it */
	struct history_remote remote;     /* the history's shared remote; url NULL: none */
	/* Opens the history (fetched from its remote once per command; with
	 * refetch, fetched again). */
	int (*open_history)(void *arg, bool refetch, struct history **out, struct cms_error *err);
	/* A remark for the operator ("recorded run ... from the journal"). */
	void (*note)(void *arg, const char *text);
	/* An error beside the one returned (a failed run whose record failed
	 * too): shown, not returned. */
	void (*warn)(void *arg, const struct cms_error *e);
	/* Sends the history's local commits to its remote, when it has one
	 * and they are ahead; a failure is shown as a warning (the next
	 * command sends them).  Called by apply and restore before they
	 * release the store's lock (their run recorded, or none begun: what
	 * they levelled).  NULL: nothing. */
	void (*push)(void *arg);
	/* Fetches the history's remote now (and brings the local branch
	 * level): 0, or an error when it cannot.  No remote: 0.  NULL: none
	 * (a levelling with a remote then records nothing it cannot check). */
	int (*fetch)(void *arg, struct cms_error *err);
	/* Test hook: called by a levelling that found runs to record, before
	 * it looks at the store's lock.  NULL: nothing. */
	void (*before_level)(void *arg);
	void *arg;
};

/* env->note with a formatted text. */
void applier_note(const struct applier_env *env, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The lease of a store's lock: renewed between steps, it must outlast the
 * longest single step (catch-up, a statement, a publish command), with
 * room to spare: 15 minutes plus twice the longest bound. */
int64_t applier_lease_s(const struct store *st);

/* history_find_plan, with a message naming the history searched and a
 * hint when the id is not there. */
int applier_find_plan(const struct applier_env *env, struct history *h, const char *id,
		      char **data, size_t *len, struct cms_error *err);

/* A plan (ref: its file or id, for messages) must be in the history
 * (saved with 'plan -o' and not edited since): CMS_ESTALE naming the
 * history otherwise. */
int applier_check_in_history(const struct applier_env *env, const char *ref, const char *id,
			     struct cms_error *err);

/* Everything a saved plan must be before a run starts: in the history,
 * not made --offline, and what the planner makes of its recorded inputs
 * under the config st as it is now (planner_check_rederived). */
int applier_verify_plan(const struct applier_env *env, const struct store *st,
			const struct plan *p, const struct buf *json, const char *id,
			const char *ref, struct cms_error *err);

/* A run that could not be recorded is refused before it starts: the
 * history must take a commit (history_check_writable), and its remote,
 * when there is one, must answer (history_remote_check); else CMS_EREFUSED
 * (exit 7). */
int applier_check_history_writable(const struct applier_env *env, struct cms_error *err);

/* Brings the history level with the state for store st: every finished
 * run without a report in the history is committed from the journal
 * (state/level.h), with a note for each.  sdb NULL: the state is opened
 * (and nothing is done when there is none).  For a caller that does not
 * hold the store's lock: nothing is recorded while a live process holds it
 * (that process records its own run before it lets the lock go). */
int applier_level_history(const struct applier_env *env, struct state *sdb,
			  const struct store *st, struct cms_error *err);

/* Applies the saved plan p (its bytes json, blob id id; ref names it in
 * messages) to ctx->store: applier_verify_plan(), then, when it has
 * changes, the history checked writable and levelled, the state opened
 * (created) through ctx->env, the run (applier/apply.c), and its record in
 * the history (ctx->write_report called once it is there).  ctx->state is
 * not read; a zero ctx->lease_s is the store's (applier_lease_s), a NULL
 * ctx->approvals counts the approvals the history records under the
 * store's policy.  out->run_id stays NULL when no run started (a plan
 * without changes returns 0 so).  A run that succeeded but cannot be
 * recorded is CMS_EINTERRUPTED; a failed one keeps its error and the
 * record's goes to env->warn. */
int applier_run_plan(const struct apply_ctx *ctx, const struct plan *p, const struct buf *json,
		     const char *id, const char *ref, struct apply_result *out,
		     struct cms_error *err);

/* Restores ctx->store (applier_restore()) the same way: the state opened
 * through ctx->env (none: nothing was ever applied), the history checked
 * writable (not for a dry run, which records nothing) and levelled, the
 * run, its record.  A NULL ctx->load_plan reads the interrupted run's plan
 * from the history.  A dry run decides the steps, shows them through
 * ctx->confirm and stops there (CMS_EDECLINED), having changed nothing. */
int applier_run_restore(const struct apply_ctx *ctx, bool dry_run, struct apply_result *out,
			struct cms_error *err);

#endif
