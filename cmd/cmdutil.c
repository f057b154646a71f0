/*
 * Steps several commands share: loading the config with its diagnostics,
 * choosing the store, finding and opening the state and the history (and
 * handing them to the applier, cmd_applier_env), loading plans.  Kept here
 * so that plan, apply, status and show do each of these the same way; what
 * is decided about a plan or a run is in applier/.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/planning.h"
#include "applier/runner.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void cmd_print_diags(const struct diag_list *dl, const struct cms_error *err)
{
	size_t i, positioned = 0;

	if (cmd_json_errors()) {
		cmd_fail_json_diags(dl, err);
		return;
	}
	for (i = 0; i < dl->len; i++) {
		const struct diag *d = &dl->items[i];

		if (d->line > 0) {
			fprintf(stderr, "%s:%d:%d: error: %s\n", d->file, d->line, d->column,
				d->message);
			positioned++;
		} else {
			fprintf(stderr, "cmsctl: %s\n", d->message);
		}
		if (d->hint)
			fprintf(stderr, "  hint: %s\n", d->hint);
	}
	/* The count closes a list; a file that could not be read is one line. */
	if (positioned && err->message)
		fprintf(stderr, "cmsctl: %s\n", err->message);
}

int cmd_load_config(struct cmd_args *a, struct config **out)
{
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT;
	int rc;

	if (config_load(out, a->config, &dl, &err) < 0) {
		cmd_print_diags(&dl, &err);
		rc = cms_error_exit_status(err.code ? err.code : CMS_ERROR);
	} else {
		cmd_backend_from_config(a, &(*out)->backend);
		rc = EXIT_OK;
	}
	diag_list_free(&dl);
	cms_error_clear(&err);
	return rc;
}

/* "its stores: a, b, c" */
static char *store_list(const struct config *cfg)
{
	struct buf b = BUF_INIT;
	size_t i;

	/* A fleet's names would make a message of a hundred kilobytes. */
	for (i = 0; i < cfg->nstores && i < 10; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", cfg->stores[i].name);
	if (cfg->nstores > 10)
		buf_addf(&b, " and %zu more", cfg->nstores - 10);
	return buf_detach(&b, NULL);
}

void cmd_hint_store(const struct config *cfg, const char *name, struct cms_error *err)
{
	const char *names[64], *dym;
	char *list = store_list(cfg);
	size_t i, n = 0;

	for (i = 0; i < cfg->nstores && n < ARRAY_SIZE(names); i++)
		names[n++] = cfg->stores[i].name;
	dym = config_did_you_mean(name, names, n);
	if (dym)
		cms_error_hint(err, "did you mean '%s'? (stores of '%s': %s)", dym, cfg->path, list);
	else
		cms_error_hint(err, "the stores of '%s' are: %s", cfg->path, list);
	free(list);
}

int cmd_pick_store(struct cmd_args *a, const struct config *cfg, const struct store **out)
{
	const char *name = cmd_opt_value(a, OPT_STORE);
	struct cms_error err = CMS_ERROR_INIT;
	int rc;

	*out = NULL;
	if (name) {
		*out = config_find_store(cfg, name);
		if (*out)
			return EXIT_OK;
		cms_error_set(&err, CMS_ERROR, "no store '%s' in '%s'", name, cfg->path);
		cmd_hint_store(cfg, name, &err);
	} else if (cfg->nstores == 1) {
		*out = &cfg->stores[0];
		return EXIT_OK;
	} else {
		char *list = store_list(cfg);

		cms_error_set(&err, CMS_EUSAGE, "'%s' has %zu stores (%s): choose one with -s STORE",
			      cfg->path, cfg->nstores, list);
		cms_error_hint(&err, "for example 'cmsctl %s -s %s'", a->cmd->name, cfg->stores[0].name);
		free(list);
	}
	rc = cmd_fail(&err);
	cms_error_clear(&err);
	return rc;
}

void cmd_backend_free(struct cmd_backend *b)
{
	if (!b)
		return;
	free(b->state_kind);
	free(b->state_path);
	free(b->connection);
	free(b->password_env);
	free(b->password_file);
	free(b->state_display);
	free(b->history);
	free(b->remote);
	free(b->ssh_key);
	free(b->rewritten);
	free(b);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* --state: "postgresql://..." (or "postgres://...") is a PostgreSQL state,
 * "sqlite:PATH" or a plain path an SQLite file, relative to the current
 * folder like any path given on the command line. */
static void backend_state_option(struct cmd_backend *b, const char *v)
{
	if (!strncmp(v, "postgresql://", 13) || !strncmp(v, "postgres://", 11)) {
		b->state_kind = xstrdup("postgresql");
		b->connection = xstrdup(v);
	} else {
		b->state_kind = xstrdup("sqlite");
		b->state_path = xstrdup(strncmp(v, "sqlite:", 7) ? v : v + 7);
	}
}

static void backend_display(struct cmd_args *a)
{
	struct cmd_backend *b = a->backend;

	if (!strcmp(b->state_kind, "sqlite"))
		b->state_display = xstrdup(b->state_path);
	else
		b->state_display = xasprintf("postgresql: %s", b->connection);
	a->state = b->state_display;
	a->history = b->history;
}

void cmd_backend_from_config(struct cmd_args *a, const struct backend *cb)
{
	const char *opt_state = cmd_opt_value(a, OPT_STATE);
	const char *opt_history = cmd_opt_value(a, OPT_HISTORY);
	struct cmd_backend *b;

	if (a->backend)
		return;
	b = a->backend = xcalloc(1, sizeof(*b));
	if (opt_state) {
		backend_state_option(b, opt_state);
	} else if (cb->state_kind == STATE_BACKEND_POSTGRESQL) {
		b->state_kind = xstrdup("postgresql");
		b->connection = dup_or_null(cb->connection);
		b->password_env = dup_or_null(cb->password_env);
		b->password_file = dup_or_null(cb->password_file);
	} else {
		b->state_kind = xstrdup("sqlite");
		b->state_path = xstrdup(cb->state_path);
	}
	b->history = xstrdup(opt_history ? opt_history : cb->history);
	b->remote = dup_or_null(cb->remote);
	b->ssh_key = dup_or_null(cb->ssh_key);
	backend_display(a);
}

int cmd_backend(struct cmd_args *a, struct cms_error *err)
{
	struct config *cfg = NULL;
	struct diag_list dl = { 0 };
	struct stat sb;
	int rc = 0;

	if (a->backend)
		return 0;
	if (!a->config_given && stat(a->config, &sb) != 0 && errno == ENOENT) {
		/* No config here: the defaults, in the current folder. */
		struct backend none = { 0 };

		none.state_kind = STATE_BACKEND_SQLITE;
		none.state_path = (char *)".cmsctl/state.db";
		none.history = (char *)".cmsctl/history";
		cmd_backend_from_config(a, &none);
		return 0;
	}
	if (config_load(&cfg, a->config, &dl, err) < 0) {
		cmd_print_diags(&dl, err);
		rc = cms_error_set(err, CMS_ERROR, "cannot tell where the state is: config '%s' "
				   "does not load", a->config);
		cms_error_hint(err, "'cmsctl validate -c %s' lists its problems; --state and "
			       "--history name the state and history directly", a->config);
		goto done;
	}
	cmd_backend_from_config(a, &cfg->backend);
done:
	config_free(cfg);
	diag_list_free(&dl);
	return rc;
}

/* Opens the state b names, reading its password (if any) just for the
 * connection. */
static int open_backend_state(const struct cmd_backend *b, bool create, struct state **out,
			      struct cms_error *err)
{
	struct state_target t = { 0 };
	char *password = NULL;
	int rc;

	t.backend = b->state_kind;
	t.path = b->state_path;
	t.connection = b->connection;
	if ((b->password_env || b->password_file) &&
	    (rc = config_read_password(&password, b->password_env, b->password_file, err)) < 0)
		return rc;
	t.password = password;
	rc = state_open_target(out, &t, create, err);
	cms_free_secret(password);
	return rc;
}

int cmd_state_open(struct cmd_args *a, bool create, struct state **out, struct cms_error *err)
{
	int rc;

	*out = NULL;
	if ((rc = cmd_backend(a, err)) < 0)
		return rc;
	return open_backend_state(a->backend, create, out, err);
}

int cmd_state_open_spec(const char *spec, bool create, struct state **out, char **name_out,
			struct cms_error *err)
{
	struct cmd_backend *b = xcalloc(1, sizeof(*b));
	struct config *cfg = NULL;
	struct diag_list dl = { 0 };
	int rc = 0;

	*out = NULL;
	*name_out = NULL;
	if (!strncmp(spec, "postgresql://", 13) || !strncmp(spec, "postgres://", 11) ||
	    !strncmp(spec, "sqlite:", 7)) {
		backend_state_option(b, spec);
	} else {
		if (config_load(&cfg, spec, &dl, err) < 0) {
			cmd_print_diags(&dl, err);
			rc = cms_error_set(err, CMS_ERROR, "cannot read the backend of config '%s'",
					   spec);
			goto done;
		}
		if (cfg->backend.state_kind == STATE_BACKEND_POSTGRESQL) {
			b->state_kind = xstrdup("postgresql");
			b->connection = dup_or_null(cfg->backend.connection);
			b->password_env = dup_or_null(cfg->backend.password_env);
			b->password_file = dup_or_null(cfg->backend.password_file);
		} else {
			b->state_kind = xstrdup("sqlite");
			b->state_path = xstrdup(cfg->backend.state_path);
		}
	}
	if (!strcmp(b->state_kind, "sqlite"))
		*name_out = xstrdup(b->state_path);
	else
		*name_out = xasprintf("postgresql: %s", b->connection);
	rc = open_backend_state(b, create, out, err);
done:
	config_free(cfg);
	diag_list_free(&dl);
	cmd_backend_free(b);
	return rc;
}

int cmd_open_state(struct cmd_args *a, bool create, struct state **out, struct cms_error *err)
{
	int rc = cmd_state_open(a, create, out, err);

	if (rc == CMS_ENOTFOUND && !create) {
		cms_error_clear(err);
		*out = NULL;
		return 0;
	}
	return rc;
}

int cmd_commit_plan(struct cmd_args *a, const struct plan *p, const struct buf *json,
		    const char *id, struct cms_error *err)
{
	struct history *h = NULL;
	int rc;

	if ((rc = cmd_open_history(a, &h, err)) < 0)
		return rc;
	rc = cmd_commit_plan_in(a, h, p, json, id, err);
	history_close(h);
	return rc;
}

int cmd_commit_plan_in(struct cmd_args *a, struct history *h, const struct plan *p,
		       const struct buf *json, const char *id, struct cms_error *err)
{
	struct cms_error warn = CMS_ERROR_INIT;
	struct state *sdb = cmd_tip_state(a);
	int rc = applier_commit_plan(h, sdb, p, json, id, &warn, err);

	cmd_tip_warning(rc, &warn);
	state_close(sdb);
	return rc;
}

static bool looks_like_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 7 || n > 40)
		return false;
	return strspn(s, "0123456789abcdef") == n;
}

int cmd_load_plan(struct cmd_args *a, const char *ref, struct plan **out, struct buf *json,
		  char id[41], struct cms_error *err)
{
	struct applier_env env;
	struct history *h = NULL;
	struct stat stbuf;
	char *data = NULL, *what = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (stat(ref, &stbuf) == 0 || !looks_like_id(ref)) {
		rc = cms_read_input(&data, &len, ref, 4 << 20, "plan file", err);
		if (rc < 0) {
			if (rc == CMS_ENOTFOUND)
				rc = cms_error_set(err, CMS_ERROR,
						   "cannot read plan file '%s': no such file", ref);
			cms_error_hint(err, "give a plan file saved with 'cmsctl plan -o FILE', or a plan "
				       "id (7 to 40 hex digits) from 'cmsctl history'");
			goto done;
		}
		what = xasprintf("plan file '%s'", ref);
	} else {
		if ((rc = cmd_open_history(a, &h, err)) < 0)
			goto done;
		if ((rc = cmd_applier_env(a, &env, err)) < 0 ||
		    (rc = applier_find_plan(&env, h, ref, &data, &len, err)) < 0)
			goto done;
		what = xasprintf("plan '%s'", ref);
	}
	history_blob_id(data, len, id);
	if ((rc = plan_from_json(out, data, len, what, err)) < 0)
		goto done;
	buf_add(json, data, len);
done:
	history_close(h);
	free(data);
	free(what);
	return rc;
}

static int env_open_state(void *arg, bool create, struct state **out, struct cms_error *err)
{
	return cmd_state_open(arg, create, out, err);
}

static int env_open_history(void *arg, bool refetch, struct history **out, struct cms_error *err)
{
	struct cmd_args *a = arg;

	/* Fetch again: another runner pushes its record. */
	if (refetch && a->backend)
		a->backend->synced = false;
	return cmd_open_history(a, out, err);
}

static void env_note(void *arg, const char *text)
{
	(void)arg;
	cmd_note("%s", text);
}

/* A warning is not the command's error: under --json it must not be a
 * second error object on stderr. */
static void env_warn(void *arg, const struct cms_error *e)
{
	(void)arg;
	cmd_note("warning: %s", e->message ? e->message : "unknown problem");
	if (e->hint)
		cmd_note("hint: %s", e->hint);
}

static void env_push(void *arg)
{
	cmd_history_push_pending(arg);
}

/* A local commit rebuilt on the remote's tip: the state's recorded
 * history tip, when it named the old commit, names the new one (else
 * audit verify takes the rebuild for a rewritten branch). */
static void follow_rebuilt(void *arg, const char *old_id, const char *new_id)
{
	struct cmd_args *a = arg;
	struct cms_error err = CMS_ERROR_INIT;
	struct state *sdb = NULL;
	bool replaced = false;

	if (cmd_open_state(a, false, &sdb, &err) < 0 ||
	    (sdb && state_history_tip_replace(sdb, old_id, new_id, (int64_t)time(NULL), &replaced,
					      &err) < 0))
		cmd_note("warning: the history tip recorded in the state names %.12s, which was "
			 "rebuilt as %.12s on the remote's tip, and could not follow it: %s",
			 old_id, new_id, err.message);
	state_close(sdb);
	cms_error_clear(&err);
}

static void remote_warn(void *arg, const char *message)
{
	(void)arg;
	cmd_note("warning: %s", message);
}

/* The config's history remote, with the state's tip following rebuilds. */
static void remote_of(struct cmd_args *a, struct history_remote *hr)
{
	memset(hr, 0, sizeof(*hr));
	hr->url = a->backend->remote;
	hr->ssh_key = a->backend->ssh_key;
	hr->rebuilt = follow_rebuilt;
	hr->rebuilt_arg = a;
	hr->warn = remote_warn;
}

static int env_fetch(void *arg, struct cms_error *err)
{
	struct cmd_args *a = arg;
	struct history_remote hr;

	if (cmd_backend(a, err) < 0)
		return CMS_ERROR;
	if (!a->backend->remote)
		return 0;
	remote_of(a, &hr);
	a->backend->synced = true;
	return history_remote_sync(a->history, NULL, &hr, err);
}

int cmd_applier_env(struct cmd_args *a, struct applier_env *out, struct cms_error *err)
{
	memset(out, 0, sizeof(*out));
	if (cmd_backend(a, err) < 0)
		return CMS_ERROR;
	out->state_name = a->state;
	out->open_state = env_open_state;
	out->history_path = a->history;
	out->remote.url = a->backend->remote;
	out->remote.ssh_key = a->backend->ssh_key;
	out->open_history = env_open_history;
	out->note = env_note;
	out->warn = env_warn;
	out->push = env_push;
	out->fetch = env_fetch;
	cmd_test_env_hooks(out);
	out->arg = a;
	return 0;
}

int cmd_open_history(struct cmd_args *a, struct history **out, struct cms_error *err)
{
	struct cmd_backend *b;
	struct stat stbuf;
	char *copy, *slash;
	int rc;

	if (cmd_backend(a, err) < 0)
		return CMS_ERROR;
	copy = xstrdup(a->history);
	slash = strrchr(copy, '/');
	if (slash && slash != copy) {
		*slash = '\0';
		if (stat(copy, &stbuf) < 0 && mkdir(copy, 0700) < 0 && errno != EEXIST) {
			rc = cms_error_set(err, CMS_ERROR, "cannot create folder '%s' for the history: %s",
					   copy, strerror(errno));
			free(copy);
			return rc;
		}
	}
	free(copy);
	if ((rc = history_open(out, a->history, NULL, err)) < 0)
		return rc;
	b = a->backend;
	if (b->remote && !b->synced) {
		struct history_remote hr;
		struct cms_error serr = CMS_ERROR_INIT;

		/* Once per command: reading or writing, start from what the
		 * remote holds when it can be reached. */
		remote_of(a, &hr);
		b->synced = true;
		rc = history_remote_sync(a->history, NULL, &hr, &serr);
		if (rc == CMS_EREFUSED) /* only a rewritten remote is refused */
			b->rewritten = xstrdup(serr.message);
		if (rc < 0)
			cmd_note("warning: working from the local history: %s", serr.message);
		cms_error_clear(&serr);
	}
	return 0;
}

int cmd_history_push(struct cmd_args *a, size_t *pushed, struct cms_error *err)
{
	struct history_remote hr;
	struct stat sb;

	*pushed = 0;
	if (cmd_backend(a, err) < 0)
		return CMS_ERROR;
	if (!a->backend->remote)
		return cms_error_set(err, CMS_ERROR, "the history has no remote: set 'remote' in "
				     "the config's backend block");
	a->backend->pushed = true;
	if (stat(a->history, &sb) != 0)
		return 0; /* nothing committed here yet */
	remote_of(a, &hr);
	return history_remote_push(a->history, NULL, &hr, pushed, err);
}

void cmd_history_push_pending(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history_remote hr;
	struct stat sb;
	size_t pushed = 0, ahead = 0, behind = 0;

	if (!a->backend || !a->backend->remote || a->backend->pushed ||
	    stat(a->history, &sb) != 0)
		return;
	a->backend->pushed = true;
	remote_of(a, &hr);
	if (history_remote_ahead(a->history, NULL, &hr, &ahead, &behind, &err) == 0 && !ahead)
		goto done;
	cms_error_clear(&err);
	if (history_remote_push(a->history, NULL, &hr, &pushed, &err) < 0) {
		cmd_note("warning: the history is %zu commit%s ahead of its remote '%s', kept "
			 "locally: %s", ahead, ahead == 1 ? "" : "s", hr.url, err.message);
		cmd_note("'cmsctl history push' (or the next command) sends %s",
			 ahead == 1 ? "it" : "them");
	}
done:
	cms_error_clear(&err);
}

struct state *cmd_tip_state(struct cmd_args *a)
{
	struct cms_error serr = CMS_ERROR_INIT;
	struct state *sdb = NULL;

	if (cmd_open_state(a, false, &sdb, &serr) < 0) {
		cmd_note("warning: the history tip will not be recorded in the state: %s",
			 serr.message);
		sdb = NULL;
	}
	cms_error_clear(&serr);
	return sdb;
}

void cmd_tip_warning(int rc, struct cms_error *warn)
{
	if (rc == 0 && warn->message)
		cmd_note("warning: the history tip was not recorded in the state: %s", warn->message);
	cms_error_clear(warn);
}

int cmd_level_history(struct cmd_args *a, const struct store *st, struct state *sdb,
		      struct cms_error *err)
{
	struct applier_env env;
	int rc;

	if ((rc = cmd_applier_env(a, &env, err)) < 0)
		return rc;
	return applier_level_history(&env, sdb, st, err);
}

int cmd_lock_timeout(struct cmd_args *a, int64_t *out_ms)
{
	const char *v = cmd_opt_value(a, OPT_LOCK_TIMEOUT);

	*out_ms = 0;
	if (!v || !strcmp(v, "0"))
		return EXIT_OK;
	if (config_parse_duration_ms(out_ms, v) < 0)
		return cmd_usage_error(a->cmd, "--lock-timeout '%s' is not a duration (30s, 5m, 1h)",
				       v);
	return EXIT_OK;
}

json_t *cmd_history_remote_status(struct cmd_args *a, struct buf *text)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history_remote hr;
	struct history *h = NULL;
	size_t ahead = 0, behind = 0;
	char *why = NULL;
	int rc;
	bool reachable, rewritten;
	json_t *out = NULL;

	if (cmd_backend(a, &err) < 0 || !a->backend->remote)
		goto done;
	remote_of(a, &hr);
	/* Opening the history fetches from the remote when it answers. */
	if (cmd_open_history(a, &h, &err) < 0)
		goto done;
	/* The sync refuses (CMS_EREFUSED) only a remote whose branch was
	 * rewritten: it answered, and holds less than it did. */
	rc = history_remote_sync(a->history, NULL, &hr, &err);
	reachable = rc == 0 || rc == CMS_EREFUSED;
	rewritten = rc == CMS_EREFUSED;
	if (rewritten)
		why = xstrdup(err.message);
	cms_error_clear(&err);
	if (history_remote_ahead(a->history, NULL, &hr, &ahead, &behind, &err) < 0)
		goto done;
	out = json_pack("{s:s, s:I, s:I, s:b, s:b}", "remote", hr.url, "ahead", (json_int_t)ahead,
			"behind", (json_int_t)behind, "reachable", reachable, "rewritten", rewritten);
	if (!text)
		goto done;
	if (rewritten) /* ahead and behind of what it held: not what it holds */
		buf_addf(text, "history: problem: %s\n", why);
	else if (ahead)
		buf_addf(text, "history: %zu commit%s ahead of its remote '%s'%s; "
			 "'cmsctl history push' sends %s\n", ahead, ahead == 1 ? "" : "s", hr.url,
			 reachable ? "" : " (unreachable)", ahead == 1 ? "it" : "them");
	else
		buf_addf(text, "history: level with its remote '%s'%s\n", hr.url,
			 reachable ? "" : " (unreachable: as last seen)");
done:
	history_close(h);
	cms_error_clear(&err);
	free(why);
	return out;
}
