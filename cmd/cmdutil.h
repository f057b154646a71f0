/*
 * The steps the commands share (cmd/cmdutil.c and the command files that
 * define them): loading the config and picking a store, opening the state
 * and the history, planning, recording a run.  Command declarations and
 * argument parsing are in cmd/cmd.h.
 */
#ifndef CMS_CMD_CMDUTIL_H
#define CMS_CMD_CMDUTIL_H

#include "cmd/cmd.h"
#include "applier/planning.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct state;
struct plan;
struct observation;
struct diag_list;
struct applier_env;
struct buf;

/* Prints diagnostics as "FILE:LINE:COL: error: MESSAGE" + "  hint: ..."
 * lines, closed by err's summary ("'cms.yaml' has 3 errors"); a file that
 * could not be read at all is one "cmsctl: ..." line. */
void cmd_print_diags(const struct diag_list *dl, const struct cms_error *err);
/* The same as one JSON error object carrying the diagnostics (--json). */
void cmd_fail_json_diags(const struct diag_list *dl, const struct cms_error *err);
/* Loads the config; on failure prints every diagnostic and returns the exit
 * status (1), else 0. */
int cmd_load_config(struct cmd_args *a, struct config **out);
/* The store named by -s, or the only store; prints and returns an exit
 * status on failure, else 0. */
int cmd_pick_store(struct cmd_args *a, const struct config *cfg, const struct store **out);
/* Sets err's hint for a store name the config does not have: a close
 * name ("did you mean 'redmond'?") and the list of its stores. */
void cmd_hint_store(const struct config *cfg, const char *name, struct cms_error *err);
/* Opens the state; with create false a missing state gives *out NULL and 0. */
int cmd_open_state(struct cmd_args *a, bool create, struct state **out, struct cms_error *err);
/* Opens the state that spec names: a URL (postgresql://..., sqlite:PATH)
 * or a config file whose backend says where it is.  *name_out (the
 * caller's) is what the state is called in messages. */
int cmd_state_open_spec(const char *spec, bool create, struct state **out, char **name_out,
			struct cms_error *err);
/* Opens the state; with create false a missing state is CMS_ENOTFOUND. */
int cmd_state_open(struct cmd_args *a, bool create, struct state **out, struct cms_error *err);
/* Resolves where the state and the history live (a->backend, a->state,
 * a->history): once per invocation, loading the config when --state and
 * --history do not both say it.  A config given with -c must load; the
 * default cms.yaml may be absent (then the defaults are in the current
 * folder). */
int cmd_backend(struct cmd_args *a, struct cms_error *err);
struct backend;
/* Fills a->backend from a loaded config's backend (what cmd_load_config
 * does), unless already resolved. */
void cmd_backend_from_config(struct cmd_args *a, const struct backend *b);
/* Commits a plan's JSON and text to the history. */
int cmd_commit_plan(struct cmd_args *a, const struct plan *p, const struct buf *json,
		    const char *id, struct cms_error *err);
/* The same, into an open history (plan --all commits many plans). */
int cmd_commit_plan_in(struct cmd_args *a, struct history *h, const struct plan *p, const struct buf *json,
		       const char *id, struct cms_error *err);
/* Loads a plan from a file path, or from the history by (abbreviated) id.
 * id receives the blob id of its bytes. */
int cmd_load_plan(struct cmd_args *a, const char *ref, struct plan **out, struct buf *json,
		  char id[41], struct cms_error *err);

/* The context of an apply or restore for this invocation: signals,
 * --lock-timeout (already checked), progress, test hooks, the state and
 * history through env (cmd_applier_env), --report written once the run is
 * in the history.  op is the operator's name (borrowed). */
struct apply_ctx;
void cmd_run_ctx(struct cmd_args *a, const struct store *st, const struct applier_env *env,
		 const char *op, struct apply_ctx *ctx);
/* After an apply or restore run (recorded by the applier): prints the
 * outcome (text, or the report with --json).  Returns arc, or
 * CMS_EINTERRUPTED with err set when a successful run could not be
 * printed. */
struct apply_result;
int cmd_finish_run(struct cmd_args *a, const struct apply_result *res, int arc,
		   struct cms_error *err);

/* What became of one saved plan, for the summary of a plan set. */
struct cmd_run_summary {
	char store[128];
	char plan_id[41];
	char outcome[32];     /* ok, failed, rolled_back, interrupted, unchanged, refused */
	char run_id[64];      /* empty when no run started */
	int64_t serial;       /* the recorded serial when the run ended */
	char message[512];    /* the error, when it failed */
};
/* Applies one saved plan (file or history id) after every check; prints
 * like `apply PLAN`, fills sum when not NULL, returns the exit status. */
int cmd_apply_saved(struct cmd_args *a, const struct config *cfg, const char *ref,
		    struct cmd_run_summary *sum);
/* Applies every plan of a plan set folder (planset.c); returns the exit
 * status of the set. */
int cmd_apply_set(struct cmd_args *a, const struct config *cfg, const char *dir);

/* --lock-timeout DURATION in milliseconds (0 when not given); prints a
 * usage error and returns EXIT_USAGE when malformed, else EXIT_OK. */
int cmd_lock_timeout(struct cmd_args *a, int64_t *out_ms);

/* Opens the history (creating its parent folder, mode 0700, when that
 * folder alone is missing: the default .cmsctl/). */
struct history;
int cmd_open_history(struct cmd_args *a, struct history **out, struct cms_error *err);

/* The applier's view of this invocation's state and history (applier/
 * runner.h): opened through cmd_state_open() and cmd_open_history(),
 * notes and extra errors on stderr.  Borrows a. */
struct applier_env;
int cmd_applier_env(struct cmd_args *a, struct applier_env *out, struct cms_error *err);

/* applier_level_history() with this invocation's state (sdb NULL: opened,
 * nothing done when there is none) and history. */
int cmd_level_history(struct cmd_args *a, const struct store *st, struct state *sdb,
		      struct cms_error *err);

/* The state a history commit records its tip in (for audit verify): this
 * invocation's, or NULL with a warning when it cannot be opened. */
struct state *cmd_tip_state(struct cmd_args *a);
/* After a commit that succeeded (rc 0): warns when its tip could not be
 * recorded; clears warn. */
void cmd_tip_warning(int rc, struct cms_error *warn);

#endif
