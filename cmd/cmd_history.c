/*
 * cmsctl history: what the git history says happened — plans, approvals,
 * applies, restores, unlocks — newest first, as text, JSON, or a static
 * HTML page for auditors.
 */
#include "cmd/cmd.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/html.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/history.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct cmd_opt cmd_history_opts[] = {
	{ "store", 's', "STORE", "only this store" },
	{ "html", 0, "FILE", "also write a static HTML page of the history there ('-': stdout)" },
	{ 0 },
};

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The value of a "Name: value" trailer line of body, or NULL. */
static char *trailer(const char *body, const char *name)
{
	size_t n = strlen(name);
	const char *p = body;

	while (p && *p) {
		if (!strncasecmp(p, name, n) && p[n] == ':' && p[n + 1] == ' ') {
			const char *v = p + n + 2;

			return xstrndup(v, strcspn(v, "\n"));
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static json_t *entry_json(const struct history_entry *e)
{
	json_t *o = json_object(), *ap = json_array();
	char *run_id = trailer(e->body, "Run-Id");
	char *store = e->store ? xstrdup(e->store) : NULL;
	char t[32];
	size_t i;

	/* Every subject starts with "<store>: " (state/history.h). */
	if (!store && e->subject && strstr(e->subject, ": "))
		store = xstrndup(e->subject, (size_t)(strstr(e->subject, ": ") - e->subject));

	cms_format_time(t, e->time);
	json_object_set_new(o, "commit", json_string(e->commit));
	json_object_set_new(o, "time", json_string(t));
	json_object_set_new(o, "subject", jstr(e->subject));
	json_object_set_new(o, "kind", jstr(e->kind));
	json_object_set_new(o, "plan_id", jstr(e->plan_id));
	{
		char *end = NULL;
		long long serial = e->serial ? strtoll(e->serial, &end, 10) : 0;

		json_object_set_new(o, "store_serial", e->serial && end && !*end && *e->serial ?
				    json_integer(serial) : json_null());
	}
	json_object_set_new(o, "store", store ? json_string(store) : json_null());
	json_object_set_new(o, "run_id", run_id ? json_string(run_id) : json_null());
	json_object_set_new(o, "operator", jstr(e->operator_name));
	json_object_set_new(o, "outcome", jstr(e->outcome));
	for (i = 0; i < e->napproved_by; i++)
		json_array_append_new(ap, json_string(e->approved_by[i]));
	json_object_set_new(o, "approved_by", ap);
	free(run_id);
	free(store);
	return o;
}

static void render_html(const struct history_entry *es, size_t n, struct buf *b)
{
	size_t i, j;

	buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		 "<title>cmsctl history</title><style>body{font-family:sans-serif;margin:2em}"
		 "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;"
		 "text-align:left;vertical-align:top}code{font-size:90%}</style></head><body>\n"
		 "<h1>cmsctl history</h1>\n<table>\n<tr><th>time</th><th>commit</th><th>subject</th>"
		 "<th>plan id</th><th>serial</th><th>operator</th><th>outcome</th><th>approved by</th></tr>\n");
	for (i = 0; i < n; i++) {
		char t[32];

		cms_format_time(t, es[i].time);
		buf_adds(b, "<tr><td>");
		buf_add_html(b, t);
		buf_adds(b, "</td><td><code>");
		buf_add_html(b, es[i].commit);
		buf_adds(b, "</code></td><td>");
		buf_add_html(b, es[i].subject);
		buf_adds(b, "</td><td><code>");
		buf_add_html(b, es[i].plan_id);
		buf_adds(b, "</code></td><td>");
		buf_add_html(b, es[i].serial);
		buf_adds(b, "</td><td>");
		buf_add_html(b, es[i].operator_name);
		buf_adds(b, "</td><td>");
		buf_add_html(b, es[i].outcome);
		buf_adds(b, "</td><td>");
		for (j = 0; j < es[i].napproved_by; j++) {
			if (j)
				buf_adds(b, ", ");
			buf_add_html(b, es[i].approved_by[j]);
		}
		buf_adds(b, "</td></tr>\n");
	}
	buf_adds(b, "</table>\n</body></html>\n");
}

/* -s naming a store with no entries: fine when the config has it (nothing
 * happened yet), an error when it does not (a typo, most likely). */
static int check_store_known(struct cmd_args *a, const char *store)
{
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	int rc = EXIT_OK;

	if (config_load(&cfg, a->config, &dl, &err) == 0 && !config_find_store(cfg, store)) {
		cms_error_set(&err, CMS_ERROR, "no store '%s' in '%s' and no history entry for it in '%s'",
			      store, cfg->path, a->history);
		cmd_hint_store(cfg, store, &err);
		rc = cmd_fail(&err);
	}
	config_free(cfg);
	diag_list_free(&dl);
	cms_error_clear(&err);
	return rc;
}

int cmd_history(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = NULL;
	struct history_entry *es = NULL;
	struct buf out = BUF_INIT, html = BUF_INIT;
	const char *htmlpath = cmd_opt_value(a, "html");
	size_t i, n = 0;
	int rc = EXIT_OK;

	/* Reading never creates: no history yet is an empty one. */
	if (access(a->history, F_OK) != 0 && errno == ENOENT) {
		if (cmd_opt_value(a, "store") &&
		    (rc = check_store_known(a, cmd_opt_value(a, "store"))) != EXIT_OK)
			goto done;
		cmd_note("no history at '%s' yet", a->history);
		if (a->json && cmd_write_stdout("[]\n", 3, &err) < 0)
			rc = cmd_fail(&err);
		goto done;
	}
	if (cmd_open_history(a, &h, &err) < 0 ||
	    history_log(h, cmd_opt_value(a, "store"), &es, &n, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (n == 0 && cmd_opt_value(a, "store") &&
	    (rc = check_store_known(a, cmd_opt_value(a, "store"))) != EXIT_OK)
		goto done;
	if (a->json) {
		json_t *arr = json_array();
		char *text;

		for (i = 0; i < n; i++)
			json_array_append_new(arr, entry_json(&es[i]));
		text = json_dumps(arr, JSON_SORT_KEYS | JSON_INDENT(2));
		json_decref(arr);
		buf_adds(&out, text ? text : "[]");
		buf_addch(&out, '\n');
		free(text);
	} else {
		for (i = 0; i < n; i++) {
			char t[32];
			size_t j;

			cms_format_time(t, es[i].time);
			buf_addf(&out, "%s %.12s %s\n", t, es[i].commit, es[i].subject);
			if (es[i].plan_id)
				buf_addf(&out, "    plan %s", es[i].plan_id);
			if (es[i].serial)
				buf_addf(&out, ", serial %s", es[i].serial);
			if (es[i].operator_name)
				buf_addf(&out, ", by %s", es[i].operator_name);
			if (es[i].outcome)
				buf_addf(&out, ", outcome %s", es[i].outcome);
			for (j = 0; j < es[i].napproved_by; j++)
				buf_addf(&out, "%s%s", j ? ", " : ", approved by ", es[i].approved_by[j]);
			if (es[i].plan_id || es[i].operator_name)
				buf_addch(&out, '\n');
		}
		if (n == 0 && cmd_opt_value(a, "store"))
			cmd_note("the history at '%s' has no entries for store '%s' yet", a->history,
				 cmd_opt_value(a, "store"));
		else if (n == 0)
			cmd_note("the history at '%s' has no entries yet", a->history);
	}
	if (htmlpath) {
		render_html(es, n, &html);
		if (cmd_write_output(htmlpath, html.ptr, html.len, "history page", &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
	}
	if (cmd_output_is_stdout(htmlpath))
		cmd_write_stderr(out.ptr, out.len); /* the page is the data */
	else if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		rc = cmd_fail(&err);
done:
	history_log_free(es, n);
	history_close(h);
	buf_free(&out);
	buf_free(&html);
	cms_error_clear(&err);
	return rc;
}
