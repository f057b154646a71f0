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
/* Prints a usage error and returns EXIT_USAGE. */
int cmd_usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Progress and chatter: stderr, prefixed "cmsctl: ". */
void cmd_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes all of data to stdout; 0 or -1 (with err set). */
int cmd_write_stdout(const char *data, size_t len, struct cms_error *err);

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
