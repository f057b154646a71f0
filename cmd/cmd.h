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

/* Every option of every command, once: its id (OPT_STORE) and its long
 * name ("store").  Code names options by id, so a misspelt option does
 * not compile. */
#define CMD_OPTIONS(X) \
	X(ACCEPT_DRIFT, "accept-drift") \
	X(ALL, "all") \
	X(AS, "as") \
	X(ASSUME_DOWN, "assume-down") \
	X(CONFIG, "config") \
	X(DETAILED_EXITCODE, "detailed-exitcode") \
	X(DRY_RUN, "dry-run") \
	X(FORCE, "force") \
	X(HELP, "help") \
	X(HISTORY, "history") \
	X(HTML, "html") \
	X(JSON, "json") \
	X(KEY, "key") \
	X(LOCK_TIMEOUT, "lock-timeout") \
	X(OFFLINE, "offline") \
	X(OUT, "out") \
	X(PARALLEL, "parallel") \
	X(PROGRESS, "progress") \
	X(REASON, "reason") \
	X(REPORT, "report") \
	X(STATE, "state") \
	X(STORE, "store") \
	X(TICKET, "ticket") \
	X(TO, "to") \
	X(VERBOSE, "verbose") \
	X(YES, "yes")

enum cmd_opt_id {
	OPT_NONE, /* ends an option table */
#define CMD_OPT_ID(id, name) OPT_##id,
	CMD_OPTIONS(CMD_OPT_ID)
#undef CMD_OPT_ID
	OPT_COUNT
};

struct cmd_opt {
	enum cmd_opt_id id;  /* its long name is cmd_opt_name(o) */
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
	const char **stores;      /* every -s/--store given, in order (plan takes several) */
	size_t nstores;
	/* Common options, resolved with defaults. */
	const char *config;       /* -c, default cms.yaml */
	bool config_given;        /* -c was given */
	const char *state;        /* the state, for messages: --state, else the config's
				   * backend (set by cmd_backend) */
	const char *history;      /* --history, else the config's backend (cmd_backend) */
	bool json;                /* --json */
	bool progress;            /* --progress (also on when stderr is a terminal) */
	bool progress_lines;      /* progress in whole lines: a step's start and its end
				   * each on a line of its own (a plan set's store, whose
				   * stderr the set relays line by line) */
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
	char *rewritten;     /* ... or not: the remote's branch was rewritten (why) */
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
/* After audit_verify (state/audit.h): the findings only the command knows,
 * appended to *f: a shared remote whose branch was found rewritten when
 * the history was opened (history-rewritten). */
struct audit_finding;
void cmd_audit_remote_findings(struct cmd_args *a, struct audit_finding **f, size_t *n);
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
/* "store" for OPT_STORE, without "--". */
const char *cmd_opt_name(const struct cmd_opt *o);
const char *cmd_opt_value(const struct cmd_args *a, enum cmd_opt_id id);
bool cmd_opt_flag(const struct cmd_args *a, enum cmd_opt_id id);

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
/* The usage error of a subcommand word that none of names[0..n) is: the
 * closest one as a did-you-mean, else the list. */
int cmd_unknown_subcommand(const struct command *cmd, const char *word,
			   const char *const *names, size_t n);
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
volatile sig_atomic_t *cmd_stop_phase(void);

/* Test hooks of apply and restore (CMSCTL_TEST_HOLD_AT, cmd/testhooks.c;
 * a test build only, else no effect). */
void cmd_test_hooks(struct apply_ctx *ctx);
/* The test hooks of a levelling (CMSCTL_TEST_HOLD_AT=level). */
struct applier_env;
void cmd_test_env_hooks(struct applier_env *env);

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
