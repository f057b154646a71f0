/*
 * cmsctl's entry point: the one command table, option parsing from each
 * command's option list (so --help and usage come from the same table), and
 * dispatch.  Exit statuses are the contract in cmd.h.
 */
#include "cmd/cmd.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CMSCTL_VERSION
#define CMSCTL_VERSION "0.0.0"
#endif

static const struct command commands[] = {
	{ "validate", cmd_validate, "Check the config offline (schema and semantics)", "",
	  cmd_validate_opts, true, 0, 0,
	  "Loads the config strictly and reports every problem with file:line:column.\n"
	  "Exit 0 when valid (one summary line per store), 1 with every diagnostic." },
	{ "plan", cmd_plan, "Show what apply would change, and save it for review", "",
	  cmd_plan_opts, true, 0, 0,
	  "Probes the servers (unless --offline), diffs the desired location against the\n"
	  "recorded state and the observations, prints the plan and, with -o, saves it and\n"
	  "commits it to the history.  With --detailed-exitcode: 0 no changes, 2 changes." },
	{ "apply", cmd_apply, "Execute a saved plan (or plan and ask)", "[PLAN-FILE]",
	  cmd_apply_opts, true, 0, 1,
	  "With a plan file, executes exactly that plan after re-checking it.  Without\n"
	  "one, plans, shows the plan and asks; only the answer 'yes' proceeds." },
	{ "status", cmd_status, "Recorded location, observed roles, lag and drift", "",
	  cmd_status_opts, true, 0, 0, NULL },
	{ "show", cmd_show, "Show a saved plan file or a plan id from the history", "PLAN",
	  cmd_show_opts, true, 1, 1, NULL },
	{ "history", cmd_history, "Plans, approvals and applies from the git history", "",
	  cmd_history_opts, true, 0, 0, NULL },
	{ "approve", cmd_approve, "Record a reviewer's approval of a plan id", "PLAN-ID",
	  cmd_approve_opts, true, 1, 1, NULL },
	{ "restore", cmd_restore, "Re-assert the recorded location after an interruption", "",
	  cmd_restore_opts, true, 0, 0, NULL },
	{ "lock", cmd_lock, "List state locks ('lock list')", "list",
	  cmd_lock_opts, true, 1, 1, NULL },
	{ "unlock", cmd_unlock, "Break a state lock (audited)", "STORE LOCK-ID",
	  cmd_unlock_opts, true, 2, 2, NULL },
	{ "audit", cmd_audit, "Check the history and the state ('audit verify')", "verify",
	  cmd_audit_opts, true, 1, 1,
	  "Walks the history and the state and lists every finding: plan files whose bytes\n"
	  "do not hash to their id, applies of plans not in the history, approvals whose\n"
	  "signature does not verify, location serials that skip, a state that differs\n"
	  "from the history, runs without a report, a rewritten history branch.\n"
	  "Exit 0 when clean, 1 with findings." },
};

static const struct cmd_opt common_opts[] = {
	{ "config", 'c', "FILE", "config file (default: cms.yaml)" },
	{ "state", 0, "PATH", "state database (default: .cmsctl/state.db)" },
	{ "history", 0, "PATH", "history git repository (default: .cmsctl/history)" },
	{ "help", 'h', NULL, "show this help" },
	{ 0 },
};

static const struct cmd_opt json_opt = { "json", 0, NULL, "print data as JSON on stdout" };

static void collect_opts(const struct command *cmd, struct cmd_args *a)
{
	const struct cmd_opt *o;

	a->nopts = 0;
	for (o = cmd->opts; o && o->name; o++)
		a->opts[a->nopts++] = o;
	if (cmd->has_json)
		a->opts[a->nopts++] = &json_opt;
	for (o = common_opts; o->name; o++)
		a->opts[a->nopts++] = o;
}

static void print_help(const struct command *cmd, FILE *fp)
{
	struct cmd_args a;
	size_t i;

	memset(&a, 0, sizeof(a));
	collect_opts(cmd, &a);
	fprintf(fp, "usage: cmsctl %s [options]%s%s\n\n%s\n", cmd->name,
		*cmd->synopsis ? " " : "", cmd->synopsis, cmd->summary);
	if (cmd->description)
		fprintf(fp, "\n%s\n", cmd->description);
	fputs("\noptions:\n", fp);
	for (i = 0; i < a.nopts; i++) {
		const struct cmd_opt *o = a.opts[i];
		char left[64];

		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(fp, "  %-28s %s\n", left, o->help);
	}
}

static void print_main_help(FILE *fp)
{
	size_t i;

	fputs("usage: cmsctl <command> [options]\n\n"
	      "Plan and apply moves of a Central Management Store between its primary,\n"
	      "its mirror and its disaster-recovery backups.\n\ncommands:\n", fp);
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n'cmsctl <command> --help' shows a command's options.\n"
	      "exit status: 0 ok, 1 error, 2 plan has changes (--detailed-exitcode),\n"
	      "3 plan stale/expired/tampered/applied, 4 lock held, 5 declined,\n"
	      "6 apply interrupted, 7 precondition refused, 64 usage\n", fp);
}

int cmd_usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("cmsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: cmsctl %s [options]%s%s (see 'cmsctl %s --help')\n",
			cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis, cmd->name);
	else
		fputs("see 'cmsctl help'\n", stderr);
	return EXIT_USAGE;
}

static const struct cmd_opt *find_long(struct cmd_args *a, const char *name, size_t len,
				       size_t *idx)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (strlen(a->opts[i]->name) == len && !strncmp(a->opts[i]->name, name, len)) {
			*idx = i;
			return a->opts[i];
		}
	return NULL;
}

static const struct cmd_opt *find_short(struct cmd_args *a, char c, size_t *idx)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (a->opts[i]->short_name == c) {
			*idx = i;
			return a->opts[i];
		}
	return NULL;
}

/* Returns 0, 1 for --help, or EXIT_USAGE (message printed). */
static int parse_args(const struct command *cmd, int argc, char **argv, struct cmd_args *a)
{
	int i;
	bool only_pos = false;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	collect_opts(cmd, a);
	a->pos = xcalloc((size_t)argc + 1, sizeof(char *));
	for (i = 0; i < argc; i++) {
		char *arg = argv[i];
		const struct cmd_opt *o = NULL;
		const char *val = NULL;
		size_t idx = 0;

		if (only_pos || arg[0] != '-' || !arg[1]) {
			a->pos[a->npos++] = arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			only_pos = true;
			continue;
		}
		if (arg[1] == '-') {
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);

			o = find_long(a, arg + 2, len, &idx);
			if (!o)
				return cmd_usage_error(cmd, "unknown option '%.*s'", (int)len + 2, arg);
			if (eq) {
				if (!o->arg)
					return cmd_usage_error(cmd, "option '--%s' takes no value", o->name);
				val = eq + 1;
			}
		} else {
			if (arg[2])
				return cmd_usage_error(cmd, "unknown option '%s'", arg);
			o = find_short(a, arg[1], &idx);
			if (!o)
				return cmd_usage_error(cmd, "unknown option '%s'", arg);
		}
		if (!strcmp(o->name, "help"))
			return 1;
		if (o->arg && !val) {
			if (i + 1 >= argc)
				return cmd_usage_error(cmd, "option '--%s' needs a value (%s)", o->name, o->arg);
			val = argv[++i];
		}
		a->given[idx] = true;
		a->values[idx] = val;
	}
	if (a->npos < cmd->min_pos)
		return cmd_usage_error(cmd, "missing argument");
	if (a->npos > cmd->max_pos)
		return cmd_usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_pos]);
	a->config = cmd_opt_value(a, "config");
	if (!a->config)
		a->config = "cms.yaml";
	a->state = cmd_opt_value(a, "state");
	if (!a->state)
		a->state = ".cmsctl/state.db";
	a->history = cmd_opt_value(a, "history");
	if (!a->history)
		a->history = ".cmsctl/history";
	a->json = cmd_opt_flag(a, "json");
	return 0;
}

const char *cmd_opt_value(const struct cmd_args *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i]->name, name))
			return a->given[i] ? a->values[i] : NULL;
	return NULL;
}

bool cmd_opt_flag(const struct cmd_args *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i]->name, name))
			return a->given[i];
	return false;
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct cmd_args a;
	int rc;

	if (argc < 2) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("cmsctl %s\n", CMSCTL_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2) {
			cmd = find_command(argv[2]);
			if (!cmd)
				return cmd_usage_error(NULL, "unknown command '%s'", argv[2]);
			print_help(cmd, stdout);
			return EXIT_OK;
		}
		print_main_help(stdout);
		return EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return cmd_usage_error(NULL, "unknown command '%s'", argv[1]);
	{
		/* Checked once here, so that no layer below falls back to a
		 * wrong clock (expiry, leases) on a malformed value. */
		int64_t now;
		int crc = cms_now(&now);

		if (crc == -2)
			return cmd_usage_error(NULL, "CMSCTL_NOW is set, but only a test build honours it "
					       "(cmake -DCMSCTL_TEST_CLOCK=ON)");
		if (crc < 0)
			return cmd_usage_error(NULL, "CMSCTL_NOW '%s' is not an RFC 3339 UTC time "
					       "(2026-01-01T00:00:00Z) or epoch seconds",
					       getenv("CMSCTL_NOW"));
	}
	rc = parse_args(cmd, argc - 2, argv + 2, &a);
	if (rc == 1) {
		print_help(cmd, stdout);
		free(a.pos);
		return EXIT_OK;
	}
	if (rc == 0)
		rc = cmd->fn(&a);
	free(a.pos);
	return rc;
}
