/*
 * Steps several commands share: loading the config with its diagnostics,
 * choosing the store, opening the state, probing, planning, committing and
 * loading plans.  Kept here so that plan, apply, status and show do each of
 * these the same way.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/engine.h"
#include "applier/planning.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "applier/publish.h"
#include "state/history.h"
#include "state/record.h"
#include "state/level.h"
#include "state/state.h"

#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
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

	for (i = 0; i < cfg->nstores; i++)
		buf_addf(&b, "%s%s", i ? ", " : "", cfg->stores[i].name);
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

int cmd_find_plan(struct cmd_args *a, struct history *h, const char *id, char **data, size_t *len,
		  struct cms_error *err)
{
	int rc = history_find_plan(h, id, data, len, err);

	if (rc == CMS_ENOTFOUND) {
		cms_error_set(err, CMS_ERROR, "no plan '%s' in the history at '%s'", id, a->history);
		cms_error_hint(err, "'cmsctl history' lists the plans saved there; a plan saved with "
			       "another history needs --history PATH");
	}
	return rc;
}

int cmd_check_in_history(struct cmd_args *a, const char *ref, const char *id,
			 struct cms_error *err)
{
	struct history *h = NULL;
	char *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = cmd_open_history(a, &h, err)) < 0)
		return rc;
	rc = history_find_plan(h, id, &data, &len, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_set(err, CMS_ESTALE, "plan file '%s' (id %s) is not in the history at '%s': "
			      "it was changed after it was saved, or saved with another history, or "
			      "not saved with 'cmsctl plan -o'", ref, id, a->history);
		cms_error_hint(err, "pass --history PATH if it was saved with another history; "
			       "otherwise make and review a new plan with 'cmsctl plan -o FILE'");
	}
	free(data);
	history_close(h);
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
		if ((rc = cmd_find_plan(a, h, ref, &data, &len, err)) < 0)
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
		struct history_remote hr = { b->remote, b->ssh_key };
		struct cms_error serr = CMS_ERROR_INIT;

		/* Once per command: reading or writing, start from what the
		 * remote holds when it can be reached. */
		b->synced = true;
		if (history_remote_sync(a->history, NULL, &hr, &serr) < 0)
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
	hr.url = a->backend->remote;
	hr.ssh_key = a->backend->ssh_key;
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
	hr.url = a->backend->remote;
	hr.ssh_key = a->backend->ssh_key;
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

int cmd_record_commit(struct cmd_args *a, struct history *h, const struct history_file *files,
		       size_t nfiles, const char *message, const char *operator_name, int64_t now,
		       struct cms_error *err)
{
	struct cms_error warn = CMS_ERROR_INIT;
	struct state *sdb = cmd_tip_state(a);
	int rc = record_commit(h, sdb, files, nfiles, message, operator_name, now, NULL, &warn, err);

	cmd_tip_warning(rc, &warn);
	state_close(sdb);
	return rc;
}

int cmd_level_history(struct cmd_args *a, const struct store *st, struct state *sdb,
		      struct cms_error *err)
{
	struct history *h = NULL;
	struct state *own = NULL;
	struct recorded rec;
	struct run_info last;
	struct buf loc = BUF_INIT;
	char **pending = NULL, *op = NULL;
	size_t npending = 0, recorded = 0, i;
	int rc;

	memset(&rec, 0, sizeof(rec));
	memset(&last, 0, sizeof(last));
	if (!sdb) {
		if ((rc = cmd_open_state(a, false, &own, err)) < 0 || !own)
			goto done;
		sdb = own;
	}
	if ((rc = cmd_open_history(a, &h, err)) < 0 ||
	    (rc = level_pending(h, sdb, st->name, &pending, &npending, err)) < 0 || !npending)
		goto done;
	/* The location.json of the state's current record, for the newest run. */
	if ((rc = state_read_store(sdb, st->name, &rec, err)) < 0)
		goto done;
	rc = state_run_last(sdb, st->name, &last, err);
	if (rc == CMS_ENOTFOUND)
		cms_error_clear(err);
	else if (rc < 0)
		goto done;
	if (rec.exists && last.id) {
		const struct server *ps = store_find_server(st, rec.primary);
		struct published_location pl;

		memset(&pl, 0, sizeof(pl));
		pl.store = st->name;
		pl.engine = engine_kind_name(st->engine);
		pl.primary = rec.primary;
		pl.mirror = rec.mirror;
		pl.primary_fqdn = ps ? ps->fqdn : NULL;
		pl.primary_instance = ps ? ps->instance : NULL;
		pl.serial = rec.serial;
		pl.plan_id = last.plan_id;
		pl.run_id = last.id;
		pl.now = cms_real_now();
		if ((rc = publish_location_json(&pl, &loc, err)) < 0)
			goto done;
	}
	op = cms_operator();
	if ((rc = level_history(h, sdb, st->name, engine_kind_name(st->engine),
				loc.len ? loc.ptr : NULL, op, cms_real_now(), &recorded, err)) < 0)
		goto done;
	for (i = 0; i < npending; i++)
		cmd_note("recorded run %s of store %s in the history from the state's journal "
			 "(it had not been recorded)", pending[i], st->name);
done:
	state_strings_free(pending, npending);
	recorded_free(&rec);
	run_info_free(&last);
	buf_free(&loc);
	free(op);
	history_close(h);
	state_close(own);
	return rc;
}

int cmd_check_history_writable(struct cmd_args *a, struct cms_error *err)
{
	struct history *h = NULL;
	int rc;

	if ((rc = cmd_open_history(a, &h, err)) == 0)
		rc = history_check_writable(h, err);
	history_close(h);
	if (rc == 0 && a->backend && a->backend->remote) {
		struct history_remote hr = { a->backend->remote, a->backend->ssh_key };

		/* The shared record too: a run whose commits could not reach the
		 * remote other runners read is refused before it starts. */
		if ((rc = history_remote_check(a->history, &hr, err)) < 0) {
			err->code = rc = CMS_EREFUSED;
			cms_error_hint(err, "nothing was changed; bring the history remote back (or, "
				       "to record only locally, remove 'remote:' from the config's "
				       "backend block and push later with 'cmsctl history push')");
		}
	}
	return rc;
}

int64_t cmd_lease_s(const struct store *st)
{
	int64_t longest = st->policy.catch_up_timeout_ms;
	size_t i;

	if (st->policy.query_timeout_ms > longest)
		longest = st->policy.query_timeout_ms;
	for (i = 0; i < st->npublish; i++)
		if (st->publish[i].kind == PUBLISH_COMMAND && st->publish[i].timeout_ms > longest)
			longest = st->publish[i].timeout_ms;
	for (i = 0; i < st->nservers; i++) {
		int64_t all = 0;
		size_t j;

		for (j = 0; j < st->servers[i].nfence; j++)
			all += st->servers[i].fence[j].timeout_ms;
		if (all > longest)
			longest = all;
	}
	return 900 + 2 * longest / 1000;
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
	bool reachable;
	json_t *out = NULL;

	if (cmd_backend(a, &err) < 0 || !a->backend->remote)
		goto done;
	hr.url = a->backend->remote;
	hr.ssh_key = a->backend->ssh_key;
	/* Opening the history fetches from the remote when it answers. */
	if (cmd_open_history(a, &h, &err) < 0)
		goto done;
	reachable = history_remote_sync(a->history, NULL, &hr, &err) == 0;
	cms_error_clear(&err);
	if (history_remote_ahead(a->history, NULL, &hr, &ahead, &behind, &err) < 0)
		goto done;
	out = json_pack("{s:s, s:I, s:I, s:b}", "remote", hr.url, "ahead", (json_int_t)ahead,
			"behind", (json_int_t)behind, "reachable", reachable);
	if (!text)
		goto done;
	if (ahead)
		buf_addf(text, "history: %zu commit%s ahead of its remote '%s'%s; "
			 "'cmsctl history push' sends %s\n", ahead, ahead == 1 ? "" : "s", hr.url,
			 reachable ? "" : " (unreachable)", ahead == 1 ? "it" : "them");
	else
		buf_addf(text, "history: level with its remote '%s'%s\n", hr.url,
			 reachable ? "" : " (unreachable: as last seen)");
done:
	history_close(h);
	cms_error_clear(&err);
	return out;
}
