/*
 * cmsctl's entry point: the one command table, option parsing from each
 * command's option list (so --help and usage come from the same table), and
 * dispatch.  Exit statuses are the contract in cmd.h.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/db.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/history.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CMSCTL_VERSION
#define CMSCTL_VERSION "0.0.0"
#endif

static int cmd_version(struct cmd_args *a);
static int cmd_completion(struct cmd_args *a);

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
	{ "apply", cmd_apply, "Execute a saved plan (or plan and ask)", "[PLAN-FILE|PLAN-ID]",
	  cmd_apply_opts, true, 0, 1,
	  "With a plan file, or the id of a plan in the history, executes exactly that plan\n"
	  "after re-checking it.  Without one, plans, shows the plan and asks; only the\n"
	  "answer 'yes' proceeds." },
	{ "status", cmd_status, "Recorded location, observed roles, lag and drift", "",
	  cmd_status_opts, true, 0, 0, NULL },
	{ "show", cmd_show, "Show a saved plan file or a plan id from the history", "PLAN",
	  cmd_show_opts, true, 1, 1, NULL },
	{ "history", cmd_history, "Plans, approvals and applies from the git history", "[push]",
	  cmd_history_opts, true, 0, 1,
	  "Lists the history, newest first.  'history push' sends the commits the\n"
	  "backend's shared remote lacks (every command that commits also tries)." },
	{ "approve", cmd_approve, "Record a reviewer's approval of a plan", "PLAN-FILE|PLAN-ID",
	  cmd_approve_opts, true, 1, 1,
	  "The plan is a plan file saved with 'cmsctl plan -o' or its id (7 to 40 hex digits)\n"
	  "from 'cmsctl history'; either way it must be in the history." },
	{ "restore", cmd_restore, "Re-assert the recorded location after an interruption", "",
	  cmd_restore_opts, true, 0, 0, NULL },
	{ "lock", cmd_lock, "List state locks ('lock list')", "list",
	  cmd_lock_opts, true, 1, 1, NULL },
	{ "unlock", cmd_unlock, "Break a state lock (audited)", "STORE LOCK-ID",
	  cmd_unlock_opts, true, 2, 2, NULL },
	{ "version", cmd_version, "Print the version", "", NULL, true, 0, 0, NULL },
	{ "completion", cmd_completion, "Print the bash or zsh completion script", "bash|zsh",
	  NULL, false, 1, 1,
	  "The script is generated from the command table, so it always matches this\n"
	  "binary.  Packages install it; by hand: source <(cmsctl completion bash)." },
	{ "state", cmd_state, "Show the recorded state, or migrate it to another backend",
	  "show|migrate", cmd_state_opts, true, 1, 1,
	  "'state show' prints everything the state records: stores, runs and their\n"
	  "steps, approvals, used plans and locks.  'state migrate --to CONFIG-OR-URL'\n"
	  "copies the state into another, empty one (an SQLite file into PostgreSQL):\n"
	  "the target is a config file whose backend names it, postgresql://... or\n"
	  "sqlite:PATH.  A non-empty target, or a source with a lock held, is refused." },
	{ "audit", cmd_audit, "Check the history and the state ('audit verify')", "verify",
	  cmd_audit_opts, true, 1, 1,
	  "Walks the history and the state and lists every finding: plan files whose bytes\n"
	  "do not hash to their id, applies of plans not in the history, approvals whose\n"
	  "signature does not verify or that an apply counted without a record, location\n"
	  "serials that skip, a state that differs from the history, runs without a report\n"
	  "and reports without a run, a rewritten history branch or remote, a recorded file\n"
	  "changed or removed, a file cmsctl never writes.  Without a config signatures are\n"
	  "not checked, without a state its records are not: the summary says so.\n"
	  "Exit 0 when clean, 1 with findings." },
};

static const struct cmd_opt common_opts[] = {
	{ OPT_CONFIG, 'c', "FILE", "config file (default: cms.yaml)" },
	{ OPT_STATE, 0, "PATH|URL", "state: a file, sqlite:PATH or postgresql://... "
	  "(default: the config's backend)" },
	{ OPT_HISTORY, 0, "PATH", "history git repository (default: the config's backend)" },
	{ OPT_PROGRESS, 0, NULL, "show each step of a run on stderr (default when it is a terminal)" },
	{ OPT_VERBOSE, 'v', NULL, "also show the statements sent and their timings (CMSCTL_LOG=debug)" },
	{ OPT_HELP, 'h', NULL, "show this help" },
	{ 0 },
};

static const struct cmd_opt json_opt = { OPT_JSON, 0, NULL, "print data as JSON on stdout" };

static void collect_opts(const struct command *cmd, struct cmd_args *a)
{
	const struct cmd_opt *o;

	a->nopts = 0;
	for (o = cmd->opts; o && o->id; o++)
		a->opts[a->nopts++] = o;
	if (cmd->has_json)
		a->opts[a->nopts++] = &json_opt;
	for (o = common_opts; o->id; o++)
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
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, cmd_opt_name(o),
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", cmd_opt_name(o), o->arg ? " " : "",
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

	if (cmd_json_errors()) {
		struct cms_error err = CMS_ERROR_INIT;

		va_start(ap, fmt);
		cms_error_vset(&err, CMS_EUSAGE, fmt, ap);
		va_end(ap);
		if (cmd)
			cms_error_hint(&err, "usage: cmsctl %s [options]%s%s (see 'cmsctl %s --help')",
				       cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis, cmd->name);
		else
			cms_error_hint(&err, "see 'cmsctl help'");
		cmd_fail(&err);
		cms_error_clear(&err);
		return EXIT_USAGE;
	}
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

int cmd_unknown_subcommand(const struct command *cmd, const char *word,
			   const char *const *names, size_t n)
{
	const char *dym = config_did_you_mean(word, names, n);
	struct buf list = BUF_INIT;
	size_t i;
	int rc;

	if (dym)
		return cmd_usage_error(cmd, "unknown %s subcommand '%s': did you mean '%s'?",
				       cmd->name, word, dym);
	for (i = 0; i < n; i++)
		buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
	rc = cmd_usage_error(cmd, "unknown %s subcommand '%s' (%s)", cmd->name, word, list.ptr);
	buf_free(&list);
	return rc;
}

static const struct cmd_opt *find_long(struct cmd_args *a, const char *name, size_t len,
				       size_t *idx)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (strlen(cmd_opt_name(a->opts[i])) == len &&
		    !strncmp(cmd_opt_name(a->opts[i]), name, len)) {
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
			if (!o) {
				char *word = xasprintf("%.*s", (int)len, arg + 2);
				const char *names[32], *dym;
				size_t k;

				for (k = 0; k < a->nopts; k++)
					names[k] = cmd_opt_name(a->opts[k]);
				dym = config_did_you_mean(word, names, a->nopts);
				free(word);
				if (dym)
					return cmd_usage_error(cmd, "unknown option '%.*s': did you mean '--%s'?",
							       (int)len + 2, arg, dym);
				return cmd_usage_error(cmd, "unknown option '%.*s'", (int)len + 2, arg);
			}
			if (eq) {
				if (!o->arg)
					return cmd_usage_error(cmd, "option '--%s' takes no value", cmd_opt_name(o));
				val = eq + 1;
			}
		} else {
			o = find_short(a, arg[1], &idx);
			if (!o)
				return cmd_usage_error(cmd, "unknown option '%.2s'", arg);
			/* getopt's way: "-sredmond" is "-s redmond"; a flag takes
			 * no attached value. */
			if (arg[2]) {
				if (!o->arg)
					return cmd_usage_error(cmd, "option '-%c' takes no value (in '%s')",
							       arg[1], arg);
				val = arg + 2;
			}
		}
		if (o->id == OPT_HELP)
			return 1;
		if (o->arg && !val) {
			if (i + 1 >= argc)
				return cmd_usage_error(cmd, "option '--%s' needs a value (%s)", cmd_opt_name(o), o->arg);
			val = argv[++i];
		}
		a->given[idx] = true;
		a->values[idx] = val;
		if (o->id == OPT_STORE) {
			*ARRAY_APPEND(a->stores, a->nstores) = val;
		}
	}
	if (a->nstores > 1 && strcmp(cmd->name, "plan"))
		return cmd_usage_error(cmd, "'%s' takes one -s (given %zu); 'plan' takes several",
				       cmd->name, a->nstores);
	if (a->npos < cmd->min_pos)
		return cmd_usage_error(cmd, "missing argument");
	if (a->npos > cmd->max_pos)
		return cmd_usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_pos]);
	a->config = cmd_opt_value(a, OPT_CONFIG);
	a->config_given = a->config != NULL;
	if (!a->config)
		a->config = "cms.yaml";
	/* The state and history come from the config's backend unless given
	 * here; cmd_backend resolves them when a command needs them. */
	a->state = cmd_opt_value(a, OPT_STATE);
	a->history = cmd_opt_value(a, OPT_HISTORY);
	a->json = cmd_opt_flag(a, OPT_JSON);
	a->progress = cmd_opt_flag(a, OPT_PROGRESS);
	a->verbose = cmd_opt_flag(a, OPT_VERBOSE) ||
		     (getenv("CMSCTL_LOG") && !strcmp(getenv("CMSCTL_LOG"), "debug"));
	return 0;
}

const char *cmd_opt_name(const struct cmd_opt *o)
{
	static const char *const names[OPT_COUNT] = {
		[OPT_NONE] = "",
#define CMD_OPT_NAME(id, name) [OPT_##id] = name,
		CMD_OPTIONS(CMD_OPT_NAME)
#undef CMD_OPT_NAME
	};

	return o && (unsigned)o->id < OPT_COUNT ? names[o->id] : "";
}

const char *cmd_opt_value(const struct cmd_args *a, enum cmd_opt_id id)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (a->opts[i]->id == id)
			return a->given[i] ? a->values[i] : NULL;
	return NULL;
}

bool cmd_opt_flag(const struct cmd_args *a, enum cmd_opt_id id)
{
	size_t i;

	for (i = 0; i < a->nopts; i++)
		if (a->opts[i]->id == id)
			return a->given[i];
	return false;
}

/* "unknown command 'plam': did you mean 'plan'?" */
static int unknown_command(const char *name)
{
	const char *names[ARRAY_SIZE(commands)], *dym;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		names[i] = commands[i].name;
	dym = config_did_you_mean(name, names, ARRAY_SIZE(commands));
	if (dym)
		return cmd_usage_error(NULL, "unknown command '%s': did you mean '%s'?", name, dym);
	return cmd_usage_error(NULL, "unknown command '%s'", name);
}

static int cmd_version(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	char *text;
	int rc;

	if (a->json) {
		json_t *o = json_pack("{s:s, s:s}", "name", "cmsctl", "version", CMSCTL_VERSION);

		text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
		json_decref(o);
		rc = cmd_write_stdout(text, strlen(text), &err) < 0 ||
		     cmd_write_stdout("\n", 1, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
		free(text);
	} else {
		text = xasprintf("cmsctl %s\n", CMSCTL_VERSION);
		rc = cmd_write_stdout(text, strlen(text), &err) < 0 ? cmd_fail(&err) : EXIT_OK;
		free(text);
	}
	cms_error_clear(&err);
	return rc;
}

/* Whether an option's value is a path (completed as a file name). */
static bool opt_takes_path(const struct cmd_opt *o)
{
	return o->arg && (!strcmp(o->arg, "FILE") || !strcmp(o->arg, "PATH") || !strcmp(o->arg, "DIR"));
}

/* Text safe inside a zsh _arguments description: no brackets, colons or quotes. */
static void zsh_words(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_addch(b, strchr("[]:'\\", *s) ? ' ' : *s);
}

static void completion_bash(struct buf *b)
{
	size_t i, k;

	buf_adds(b, "# bash completion for cmsctl, generated by 'cmsctl completion bash' from its\n"
		 "# command table.\n"
		 "_cmsctl_stores() {\n"
		 "\tlocal cfg=cms.yaml i\n"
		 "\tfor ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do\n"
		 "\t\tcase ${COMP_WORDS[i]} in -c | --config) cfg=${COMP_WORDS[i + 1]} ;; esac\n"
		 "\tdone\n"
		 "\t\"${COMP_WORDS[0]}\" validate --json -c \"$cfg\" 2>/dev/null |\n"
		 "\t\tsed -n 's/^      \"name\": \"\\(.*\\)\",\\{0,1\\}$/\\1/p'\n"
		 "}\n"
		 "_cmsctl() {\n"
		 "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} opts=\n"
		 "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
		 "\t\tCOMPREPLY=($(compgen -W '");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		buf_addf(b, "%s%s", i ? " " : "", commands[i].name);
	buf_adds(b, " help' -- \"$cur\"))\n\t\treturn\n\tfi\n\tcase $prev in\n");
	/* Options that take a path, then those that take a store. */
	{
		struct buf paths = BUF_INIT;
		struct cmd_args a;

		for (i = 0; i < ARRAY_SIZE(commands); i++) {
			collect_opts(&commands[i], &a);
			for (k = 0; k < a.nopts; k++) {
				char word[64];

				if (!opt_takes_path(a.opts[k]))
					continue;
				snprintf(word, sizeof(word), "|--%s|", cmd_opt_name(a.opts[k]));
				if (!paths.ptr || !strstr(paths.ptr, word)) {
					if (!paths.len)
						buf_addch(&paths, '|');
					buf_addf(&paths, "--%s|", cmd_opt_name(a.opts[k]));
					if (a.opts[k]->short_name)
						buf_addf(&paths, "-%c|", a.opts[k]->short_name);
				}
			}
		}
		if (paths.len > 2) {
			buf_add(b, "\t", 1);
			buf_add(b, paths.ptr + 1, paths.len - 2);
			buf_adds(b, ")\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\t\treturn ;;\n");
		}
		buf_free(&paths);
	}
	buf_adds(b, "\t-s | --store)\n\t\tCOMPREPLY=($(compgen -W \"$(_cmsctl_stores)\" -- \"$cur\"))\n"
		 "\t\treturn ;;\n\tesac\n\tcase ${COMP_WORDS[1]} in\n");
	buf_addf(b, "\thelp) COMPREPLY=($(compgen -W '");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		buf_addf(b, "%s%s", i ? " " : "", commands[i].name);
	buf_adds(b, "' -- \"$cur\"))\n\t\treturn ;;\n"
		 "\tcompletion) COMPREPLY=($(compgen -W 'bash zsh' -- \"$cur\"))\n\t\treturn ;;\n"
		 "\tlock) if [[ $cur != -* ]]; then\n"
		 "\t\tCOMPREPLY=($(compgen -W 'list' -- \"$cur\"))\n\t\treturn\n\tfi ;;\n"
		 "\tesac\n\tcase ${COMP_WORDS[1]} in\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		struct cmd_args a;

		collect_opts(&commands[i], &a);
		buf_addf(b, "\t%s) opts='", commands[i].name);
		for (k = 0; k < a.nopts; k++) {
			buf_addf(b, "%s--%s", k ? " " : "", cmd_opt_name(a.opts[k]));
			if (a.opts[k]->short_name)
				buf_addf(b, " -%c", a.opts[k]->short_name);
		}
		buf_adds(b, "' ;;\n");
	}
	buf_adds(b, "\tesac\n"
		 "\tif [[ $cur == -* ]]; then\n"
		 "\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
		 "\telse\n"
		 "\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
		 "\tfi\n"
		 "}\n"
		 "complete -F _cmsctl cmsctl\n");
}

static void completion_zsh(struct buf *b)
{
	size_t i, k;

	buf_adds(b, "#compdef cmsctl\n"
		 "# zsh completion for cmsctl, generated by 'cmsctl completion zsh' from its\n"
		 "# command table.\n"
		 "_cmsctl_stores() {\n"
		 "\tlocal -a stores\n"
		 "\tstores=(${(f)\"$(cmsctl validate --json 2>/dev/null |"
		 " sed -n 's/^      \"name\": \"\\(.*\\)\",\\{0,1\\}$/\\1/p')\"})\n"
		 "\t_describe 'store' stores\n"
		 "}\n"
		 "_cmsctl() {\n"
		 "\tlocal -a commands\n"
		 "\tcommands=(\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		buf_addf(b, "\t\t'%s:", commands[i].name);
		zsh_words(b, commands[i].summary);
		buf_adds(b, "'\n");
	}
	buf_adds(b, "\t)\n"
		 "\tif (( CURRENT == 2 )); then\n"
		 "\t\t_describe 'command' commands\n"
		 "\t\treturn\n"
		 "\tfi\n"
		 "\tlocal cmd=$words[2]\n"
		 "\tshift words\n"
		 "\t(( CURRENT-- ))\n"
		 "\tcase $cmd in\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		struct cmd_args a;

		collect_opts(&commands[i], &a);
		buf_addf(b, "\t%s)\n\t\t_arguments -s", commands[i].name);
		for (k = 0; k < a.nopts; k++) {
			const struct cmd_opt *o = a.opts[k];
			const char *action = !o->arg ? "" : opt_takes_path(o) ? ":file:_files"
				: !strcmp(o->arg, "STORE") ? ":store:_cmsctl_stores" : ":value: ";

			buf_adds(b, " \\\n\t\t\t");
			if (o->short_name)
				buf_addf(b, "'(-%c --%s)'{-%c,--%s}'[", o->short_name, cmd_opt_name(o),
					 o->short_name, cmd_opt_name(o));
			else
				buf_addf(b, "'--%s[", cmd_opt_name(o));
			zsh_words(b, o->help);
			buf_addf(b, "]%s'", action);
		}
		if (!strcmp(commands[i].name, "completion"))
			buf_adds(b, " \\\n\t\t\t'1:shell:(bash zsh)'");
		else if (!strcmp(commands[i].name, "lock"))
			buf_adds(b, " \\\n\t\t\t'1:subcommand:(list)'");
		else if (commands[i].max_pos)
			buf_adds(b, " \\\n\t\t\t'*:file:_files'");
		buf_adds(b, " ;;\n");
	}
	buf_adds(b, "\thelp) _describe 'command' commands ;;\n"
		 "\tesac\n"
		 "}\n"
		 "_cmsctl \"$@\"\n");
}

static int cmd_completion(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct buf b = BUF_INIT;
	int rc;

	if (!strcmp(a->pos[0], "bash"))
		completion_bash(&b);
	else if (!strcmp(a->pos[0], "zsh"))
		completion_zsh(&b);
	else
		return cmd_usage_error(a->cmd, "no completion for shell '%s' (bash or zsh)", a->pos[0]);
	rc = cmd_write_stdout(b.ptr, b.len, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
	buf_free(&b);
	cms_error_clear(&err);
	return rc;
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
	int rc, i;

	/* FreeTDS writes a protocol dump (login packets included) wherever
	 * TDSDUMP says; cmsctl never lets a driver log its secrets. */
	unsetenv("TDSDUMP");
	unsetenv("TDSDUMPCONFIG");
	if (argc < 2) {
		print_main_help(stderr);
		return EXIT_USAGE;
	}
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			cmd_output_json_errors(true);
	if (!strcmp(argv[1], "--version")) {
		printf("cmsctl %s\n", CMSCTL_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2) {
			cmd = find_command(argv[2]);
			if (!cmd)
				return unknown_command(argv[2]);
			print_help(cmd, stdout);
			return EXIT_OK;
		}
		print_main_help(stdout);
		return EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return unknown_command(argv[1]);
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
		free(a.stores);
		return EXIT_OK;
	}
	if (rc == 0) {
		rc = cmd->fn(&a);
		cmd_history_push_pending(&a);
	}
	cmd_backend_free(a.backend);
	free(a.pos);
	free(a.stores);
	/* libgit2 may still be loading on its thread (a command refused
	 * early): not under the libraries' exit cleanup. */
	history_git_init_join();
	/* A connect abandoned at its deadline may still be inside its driver
	 * (db.h): end without running the libraries' exit cleanup under it. */
	if (db_odbc_abandoned_workers() > 0) {
		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	return rc;
}
