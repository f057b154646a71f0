/*
 * The command-line layer: the command table, option parsing shared by every
 * command, and output helpers.  Only this layer prints or chooses an exit
 * status; everything below returns errors.
 */
#ifndef CMS_CMD_CMD_H
#define CMS_CMD_CMD_H

#include "common/error.h"

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
	const char *state;        /* --state, default .cmsctl/state.db */
	const char *history;      /* --history, default .cmsctl/history */
	bool json;                /* --json */
	bool progress;            /* --progress (also on when stderr is a terminal) */
	bool verbose;             /* -v/--verbose or CMSCTL_LOG=debug */
	struct {
		int open_step;    /* the step whose progress line is open, or 0 */
	} shown;                  /* what the progress lines have printed so far */
};

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
int cmd_unlock(struct cmd_args *a);

/* Option tables of the commands, defined next to each command. */
extern const struct cmd_opt cmd_validate_opts[], cmd_plan_opts[], cmd_apply_opts[],
	cmd_status_opts[], cmd_show_opts[], cmd_history_opts[], cmd_approve_opts[],
	cmd_restore_opts[], cmd_lock_opts[], cmd_unlock_opts[];

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
	const char *assume_down;        /* --assume-down SERVER, or NULL */
	const char *assume_down_reason; /* --reason TEXT */
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

/* The lease of a store's lock: renewed between steps, it must outlast the
 * longest single step (catch-up, a statement, a publish command), with
 * room to spare: 15 minutes plus twice the longest bound. */
int64_t cmd_lease_s(const struct store *st);

/* Opens the history (creating its parent folder, mode 0700, when that
 * folder alone is missing: the default .cmsctl/). */
struct history;
int cmd_open_history(struct cmd_args *a, struct history **out, struct cms_error *err);
