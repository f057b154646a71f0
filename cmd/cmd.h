/*
 * The command-line layer: the command table, option parsing shared by every
 * command, and output helpers.  Only this layer prints or chooses an exit
 * status; everything below returns errors.
 */
#ifndef CMS_CMD_CMD_H
#define CMS_CMD_CMD_H

#include "common/error.h"
#include "state/state.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses: the documented contract (README, docs/cmsctl.1). */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_CHANGES = 2,
	EXIT_STALE = 3,
	EXIT_LOCKED = 4,
	EXIT_DECLINED = 5,
	EXIT_INTERRUPTED = 6,
	EXIT_REFUSED = 7,
	EXIT_USAGE = 64,
};

struct cmd_opt {
	const char *name;    /* long name, without "--" */
	char short_name;     /* or 0 */
	const char *arg;     /* metavariable when it takes a value, NULL for a flag */
	const char *help;
};

struct cmd_args {
	const struct command *cmd;
	const char *values[32];   /* by index into the command's merged option list */
	bool given[32];
	const struct cmd_opt *opts[32];
	size_t nopts;
	char **pos;               /* positional arguments (borrowed from argv) */
	size_t npos;
	/* Common options, resolved with defaults. */
	const char *config;       /* -c, default cms.yaml */
	bool config_given;        /* -c was given */
	const char *state;        /* the state, for messages: --state, else the config's
				   * backend (set by cmd_backend) */
	const char *history;      /* --history, else the config's backend (cmd_backend) */
	bool json;                /* --json */
	bool progress;            /* --progress (also on when stderr is a terminal) */
	bool verbose;             /* -v/--verbose or CMSCTL_LOG=debug */
	struct {
		int open_step;    /* the step whose progress line is open, or 0 */
	} shown;                  /* what the progress lines have printed so far */
	struct cmd_backend *backend; /* resolved by cmd_backend, freed by main */
};

/* Where the state and the history of this invocation live: --state and
 * --history, else the config's `backend:` block (paths relative to the
 * config's folder), else the defaults next to the config. */
struct cmd_backend {
	char *state_kind;    /* "sqlite" or "postgresql" */
	char *state_path;    /* sqlite */
	char *connection;    /* postgresql */
	char *password_env, *password_file; /* postgresql, or NULL */
	char *state_display; /* what the state is called in messages */
	char *history;
	char *remote;        /* the history's shared remote, or NULL */
	char *ssh_key;       /* key file for an ssh remote, or NULL */
	bool synced;         /* the history was brought level with its remote once */
	bool pushed;         /* a push was tried already (history push) */
};
/* After a command: with a shared remote, sends the history commits it
 * lacks; a failure is a warning (the commits stay local, the next command
 * or 'history push' retries), never a change of the exit status. */
void cmd_history_push_pending(struct cmd_args *a);
/* With a shared remote: fetches (when reachable) and says how far the
 * local history is ahead of it, as a line appended to text (when not NULL)
 * and as a JSON object {remote, ahead, behind, reachable} (the caller's);
 * NULL without a remote. */
struct buf;
typedef struct json_t json_t;
json_t *cmd_history_remote_status(struct cmd_args *a, struct buf *text);
/* Sends the history commits the remote lacks; 0, or <0 with err set.
 * *pushed: how many were sent. */
int cmd_history_push(struct cmd_args *a, size_t *pushed, struct cms_error *err);
void cmd_backend_free(struct cmd_backend *b);

struct command {
	const char *name;
	int (*fn)(struct cmd_args *a);
	const char *summary;
	const char *synopsis;       /* arguments after the name, e.g. "[FILE]" */
	const struct cmd_opt *opts; /* command-specific, terminated by {0} */
	bool has_json;              /* accepts --json */
	unsigned min_pos, max_pos;  /* positional argument counts */
	const char *description;    /* a paragraph for --help, or NULL */
};

/* The value of an option by long name, or NULL when not given. */
const char *cmd_opt_value(const struct cmd_args *a, const char *name);
bool cmd_opt_flag(const struct cmd_args *a, const char *name);

/* Prints "cmsctl: <message>" (with file:line:column and a hint when set) to
 * stderr and returns the exit status for err->code. */
int cmd_fail(const struct cms_error *err);
/* With --json, errors go to stderr as one JSON object
 * {"error": {message, exit_status, kind, hint, file, line, column}}
 * (schemas/error.schema.json); set once by main. */
void cmd_output_json_errors(bool on);
bool cmd_json_errors(void);
/* Prints a usage error and returns EXIT_USAGE. */
int cmd_usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Progress and chatter: stderr, prefixed "cmsctl: ". */
void cmd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Asks question on the terminal; 0 on the answer "yes", else
 * CMS_EDECLINED (and without a terminal, with hint: how not to be asked). */
int cmd_confirm(const char *question, const char *hint, struct cms_error *err);

/* Shows a run's progress on stderr, one line per step with its duration,
 * when stderr is a terminal, with --progress or --verbose (which adds the
 * statements sent and their timings). */
struct apply_ctx;
void cmd_set_progress(struct cmd_args *a, struct apply_ctx *ctx);

/* Writes all of data to stdout; 0 or -1 (with err set). */
struct buf;

/* Appends s (len bytes) to out with control characters as \xNN; with
 * keep_lines, newlines and tabs stay. */
void cmd_escape_controls(struct buf *out, const char *s, size_t len, bool keep_lines);
/* Writes all of data to stdout, control characters other than newlines
 * and tabs escaped; 0 or -1 (with err set). */
int cmd_write_stdout(const char *data, size_t len, struct cms_error *err);
/* Writes all of data to stderr (the text a command moves off stdout when
 * one of its outputs is "-"); 0 or -1. */
int cmd_write_stderr(const char *data, size_t len);
/* True for "-", the name of standard output. */
bool cmd_output_is_stdout(const char *path);
/* Writes an output the operator named (-o, --report, --html): "-" is
 * stdout, a regular file is replaced atomically, a device or FIFO written
 * in place, anything else refused (cms_write_output). */
int cmd_write_output(const char *path, const char *data, size_t len, const char *what,
		     struct cms_error *err);

/* Catches SIGINT, SIGTERM and SIGHUP for apply and restore (cmd/signals.c):
 * the first sets the returned flag (the signal's number), read by the
 * applier between steps; a second ends the process at once, exit 6. */
const volatile sig_atomic_t *cmd_catch_stop_signals(void);

/* Test hooks of apply and restore (CMSCTL_TEST_HOLD_AT, cmd/testhooks.c;
 * a test build only, else no effect). */
void cmd_test_hooks(struct apply_ctx *ctx);
void cmd_test_hold_before_record(const char *run_id);

/* The commands. */
int cmd_validate(struct cmd_args *a);
int cmd_plan(struct cmd_args *a);
int cmd_apply(struct cmd_args *a);
int cmd_status(struct cmd_args *a);
int cmd_show(struct cmd_args *a);
int cmd_history(struct cmd_args *a);
int cmd_approve(struct cmd_args *a);
int cmd_restore(struct cmd_args *a);
int cmd_lock(struct cmd_args *a);
int cmd_state(struct cmd_args *a);
int cmd_unlock(struct cmd_args *a);
int cmd_audit(struct cmd_args *a);

/* Option tables of the commands, defined next to each command. */
extern const struct cmd_opt cmd_validate_opts[], cmd_plan_opts[], cmd_apply_opts[],
	cmd_status_opts[], cmd_show_opts[], cmd_history_opts[], cmd_approve_opts[],
	cmd_restore_opts[], cmd_lock_opts[], cmd_unlock_opts[], cmd_state_opts[],
	cmd_audit_opts[];

#endif

/* --- shared steps of the commands (cmdutil.c) --- */
struct config;
struct store;
struct state;
struct plan;
struct observation;
struct diag_list;
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
/* Reads (and forgets) the password of each server of a store: a missing
 * password variable or unreadable password file is an error naming it. */
int cmd_check_secrets(const struct store *st, struct cms_error *err);
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
/* Probes the servers of a store (or, offline, records that nothing was
 * asked). */
int cmd_observe(const struct store *st, bool offline, struct observation *out,
		struct cms_error *err);

/* 1 with *holder (the caller's) when the store's lock is held by a live
 * process, or by one elsewhere whose lease has not run out: a run in
 * progress; 0 when not; negative on error. */
int cmd_live_holder(struct state *sdb, const char *store, char **holder, struct cms_error *err);

/* Plans a store: state, probe, diff.  On success *json holds the plan's
 * bytes and id its blob id.  Refuses when an apply was interrupted. */
struct plan_request {
	bool offline;
	bool accept_drift;
	struct state *state;  /* an open state to read (plan --all), or NULL: open it */
	bool no_state;        /* with state NULL: there is no state yet (plan --all) */
	const char *assume_down;        /* --assume-down SERVER, or NULL */
	const char *assume_down_reason; /* --reason TEXT, with --assume-down */
	const char *reason;             /* --reason TEXT: why the change is made, or NULL */
	const char *ticket;             /* --ticket ID, or NULL */
};
struct history;
int cmd_make_plan(struct cmd_args *a, const struct store *st, const struct plan_request *req,
		  struct plan **out, struct buf *json, char id[41], struct cms_error *err);
/* Commits a plan's JSON and text to the history. */
int cmd_commit_plan(struct cmd_args *a, const struct plan *p, const struct buf *json,
		    const char *id, struct cms_error *err);
/* history_find_plan, with a message naming the history searched and a
 * hint when the id is not there. */
int cmd_find_plan(struct cmd_args *a, struct history *h, const char *id, char **data, size_t *len,
		  struct cms_error *err);
/* A plan file's id must be in the history (saved with 'plan -o' and not
 * edited since): CMS_ESTALE naming the history otherwise. */
int cmd_check_in_history(struct cmd_args *a, const char *ref, const char *id,
			 struct cms_error *err);
/* The same, into an open history (plan --all commits many plans). */
int cmd_commit_plan_in(struct cmd_args *a, struct history *h, const struct plan *p, const struct buf *json,
		       const char *id, struct cms_error *err);
/* Loads a plan from a file path, or from the history by (abbreviated) id.
 * id receives the blob id of its bytes. */
int cmd_load_plan(struct cmd_args *a, const char *ref, struct plan **out, struct buf *json,
		  char id[41], struct cms_error *err);

/* After an apply or restore run: commits its report (and, when ok, the new
 * location) to the history, writes the HTML report to --report, prints the
 * outcome (text, or the report with --json).  Returns arc, or CMS_ERROR
 * with err set when a successful run could not be recorded or printed. */
struct apply_result;
int cmd_finish_run(struct cmd_args *a, const struct store *st, const struct apply_result *res,
		   const char *plan_id, const char *kind, int arc, struct cms_error *err);

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

/* The lease of a store's lock: renewed between steps, it must outlast the
 * longest single step (catch-up, a statement, a publish command), with
 * room to spare: 15 minutes plus twice the longest bound. */
int64_t cmd_lease_s(const struct store *st);
/* --lock-timeout DURATION in milliseconds (0 when not given); prints a
 * usage error and returns EXIT_USAGE when malformed, else EXIT_OK. */
int cmd_lock_timeout(struct cmd_args *a, int64_t *out_ms);

/* Opens the history (creating its parent folder, mode 0700, when that
 * folder alone is missing: the default .cmsctl/). */
struct history;
int cmd_open_history(struct cmd_args *a, struct history **out, struct cms_error *err);

/* Brings the history level with the state for store st: every finished
 * run without a report in the history is committed from the journal
 * (state/level.h), with a note on stderr for each.  sdb NULL: the state is
 * opened (and nothing is done when there is none). */
int cmd_level_history(struct cmd_args *a, const struct store *st, struct state *sdb,
		      struct cms_error *err);

/* A run that could not be recorded is refused before it starts: the
 * history must take a commit (history_check_writable), and its remote,
 * when the config names one, must answer (history_remote_check); else
 * CMS_EREFUSED (exit 7). */
int cmd_check_history_writable(struct cmd_args *a, struct cms_error *err);

/* history_commit, then records the new tip in the state (when there is a
 * state) for audit verify; a tip that cannot be recorded is a warning. */
struct history_file;
int cmd_history_commit(struct cmd_args *a, struct history *h, const struct history_file *files,
		       size_t nfiles, const char *message, const char *operator_name, int64_t now,
		       struct cms_error *err);
