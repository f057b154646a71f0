/*
 * cmsctl history: what the git history says happened — plans, approvals,
 * applies, restores, unlocks — newest first, as text, JSON, or a static
 * HTML page for auditors.  `--html DIR` exports the page with every run's
 * report and plan next to it, each run's approvals judged (counted or not,
 * and why) and the result of audit verify; the page needs no script: the
 * store filter is CSS (:target).
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "common/fileio.h"
#include "common/html.h"
#include "common/json.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/approval.h"
#include "state/audit.h"
#include "state/history.h"
#include "state/state.h"

#include <errno.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <unistd.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct cmd_opt cmd_history_opts[] = {
	{ OPT_STORE, 's', "STORE", "only this store" },
	{ OPT_HTML, 0, "DIR", "export a static HTML page of the history, with every run's report and plan, "
	  "into folder DIR (a FILE ending in .html, or '-', gets the page alone)" },
	{ 0 },
};

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *entry_json(const struct history_entry *e)
{
	json_t *o = json_object(), *ap = json_array();
	const char *run_id = e->run_id, *store = e->store;
	char t[32];
	size_t i;

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

/* --- the export (history --html DIR) ------------------------------------ */

static bool safe_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n && n <= max && s[0] != '.' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool is_hex(const char *s, size_t len)
{
	return s && strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/* Creates the folders of path below dir (0755). */
static int make_parents(const char *path, struct cms_error *err)
{
	char *copy = xstrdup(path), *slash;
	int rc = 0;

	for (slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			rc = cms_error_set(err, CMS_ERROR, "cannot create folder '%s': %s", copy,
					   strerror(errno));
			break;
		}
		*slash = '/';
	}
	free(copy);
	return rc;
}

/* Copies a file of the history at hpath to dir/rel; 0 when absent. */
static int export_file(struct history *h, const char *dir, const char *hpath, const char *rel,
		       bool *exported, struct cms_error *err)
{
	char *data = NULL, *path = xasprintf("%s/%s", dir, rel);
	size_t len = 0;
	int rc;

	*exported = false;
	rc = history_read(h, hpath, &data, &len, err);
	if (rc == CMS_ENOTFOUND) {
		cms_error_clear(err);
		rc = 0;
	} else if (rc == 0 && (rc = make_parents(path, err)) == 0 &&
		   (rc = cms_write_file_atomic(path, data, len, 0644, "history export", err)) == 0) {
		*exported = true;
	}
	free(data);
	free(path);
	return rc;
}

struct run_row {
	const struct history_entry *e;
	char store[128];
	char *report_href, *report_json_href, *plan_href; /* relative links, or NULL */
	char *author, *outcome;
	int64_t window_ms;           /* -1: none */
	struct approval *appr;
	size_t nappr;
};

static void run_row_free(struct run_row *r)
{
	free(r->report_href);
	free(r->report_json_href);
	free(r->plan_href);
	free(r->author);
	free(r->outcome);
	approval_list_free(r->appr, r->nappr);
}

static const struct store *find_store(const struct config *cfg, const char *name)
{
	return cfg ? config_find_store(cfg, name) : NULL;
}

static int gather_row(struct history *h, const struct config *cfg, const char *dir,
		      const struct history_entry *e, struct run_row *r, struct cms_error *err)
{
	const char *colon = strstr(e->subject, ": ");
	char *hpath = NULL, *rel = NULL, *data = NULL;
	size_t len = 0;
	bool done = false;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->e = e;
	r->window_ms = -1;
	if (!colon || (size_t)(colon - e->subject) >= sizeof(r->store))
		return 0;
	memcpy(r->store, e->subject, (size_t)(colon - e->subject));
	r->store[colon - e->subject] = '\0';
	if (!safe_name(r->store, 100))
		r->store[0] = '\0';
	r->outcome = xstrdup(e->outcome);
	if (!*r->store || !is_hex(e->run_id, 16))
		return 0;
	/* The run's report, exported and read for its window. */
	hpath = history_path_report(r->store, e->run_id, "html");
	if ((rc = export_file(h, dir, hpath, hpath, &done, err)) < 0)
		goto done;
	if (done)
		r->report_href = xstrdup(hpath);
	free(hpath);
	hpath = history_path_report(r->store, e->run_id, "json");
	if ((rc = export_file(h, dir, hpath, hpath, &done, err)) < 0)
		goto done;
	if (done) {
		json_t *o;

		r->report_json_href = xstrdup(hpath);
		if (history_read(h, hpath, &data, &len, err) == 0 &&
		    (o = json_loadb(data, len, 0, NULL))) {
			json_t *w = json_object_get(o, "write_unavailable_ms");

			if (json_is_integer(w))
				r->window_ms = (int64_t)json_integer_value(w);
			json_decref(o);
		}
		cms_error_clear(err);
		free(data);
		data = NULL;
	}
	/* Its plan, with the plan's author, and the approvals of it judged. */
	if (is_hex(e->plan_id, 40) &&
	    history_find_plan(h, e->plan_id, &data, &len, err) == 0) {
		const struct store *st = find_store(cfg, r->store);
		struct approval_policy pol;
		json_t *o = json_loadb(data, len, 0, NULL);
		json_t *au = o ? json_object_get(o, "author") : NULL;
		char *path;

		r->author = json_is_string(au) ? xstrdup(json_string_value(au)) : NULL;
		json_decref(o);
		rel = xasprintf("%s/plans/%s.json", r->store, e->plan_id);
		path = xasprintf("%s/%s", dir, rel);
		if ((rc = make_parents(path, err)) == 0)
			rc = cms_write_file_atomic(path, data, len, 0644, "history export", err);
		free(path);
		if (rc < 0)
			goto done;
		r->plan_href = rel;
		rel = NULL;
		pol.author = r->author;
		pol.allowed_signers = st ? st->allowed_signers : NULL;
		pol.signed_required = st ? st->signed_approvals : true;
		if ((rc = approval_list(h, NULL, r->store, e->plan_id, &pol, &r->appr, &r->nappr,
					err)) < 0)
			goto done;
	}
	cms_error_clear(err);
	rc = 0;
done:
	free(hpath);
	free(rel);
	free(data);
	return rc;
}

static void html_link(struct buf *b, const char *href, const char *text)
{
	if (!href) {
		buf_add_html(b, text);
		return;
	}
	buf_adds(b, "<a href=\"");
	buf_add_html(b, href);
	buf_adds(b, "\">");
	buf_add_html(b, text);
	buf_adds(b, "</a>");
}

static void html_row(struct buf *b, const struct run_row *r)
{
	char t[32], w[32];
	size_t i, k;

	cms_format_time(t, r->e->time);
	buf_adds(b, "<tr><td>");
	buf_add_html(b, t);
	buf_adds(b, "</td><td>");
	buf_add_html(b, r->store);
	buf_adds(b, "</td><td><code>");
	html_link(b, r->report_href, r->e->run_id ? r->e->run_id : "-");
	if (r->report_json_href) {
		buf_adds(b, "</code> (");
		html_link(b, r->report_json_href, "json");
		buf_adds(b, ")<code>");
	}
	buf_adds(b, "</code></td><td>");
	buf_add_html(b, r->e->kind);
	buf_adds(b, "</td><td class=\"");
	buf_adds(b, r->outcome && !strcmp(r->outcome, "ok") ? "ok" : "bad");
	buf_adds(b, "\">");
	buf_add_html(b, r->outcome ? r->outcome : "-");
	buf_adds(b, "</td><td>");
	if (r->window_ms >= 0)
		snprintf(w, sizeof(w), "%" PRId64 " ms", r->window_ms);
	else
		snprintf(w, sizeof(w), "-");
	buf_add_html(b, w);
	buf_adds(b, "</td><td><code>");
	html_link(b, r->plan_href, r->e->plan_id ? r->e->plan_id : "-");
	buf_adds(b, "</code></td><td>");
	buf_add_html(b, r->author ? r->author : "-");
	buf_adds(b, "</td><td>");
	buf_add_html(b, r->e->operator_name ? r->e->operator_name : "-");
	for (k = 0; k < 2; k++) {
		bool any = false;

		buf_adds(b, "</td><td>");
		for (i = 0; i < r->nappr; i++) {
			const struct approval *ap = &r->appr[i];

			if (ap->counted != (k == 0))
				continue;
			buf_adds(b, any ? "<br>" : "");
			any = true;
			buf_add_html(b, ap->principal);
			buf_adds(b, ap->signature ? " (signed" : " (unsigned");
			if (!ap->counted) {
				buf_adds(b, ": ");
				buf_add_html(b, ap->why_not);
			}
			buf_adds(b, ")");
		}
		if (!any)
			buf_adds(b, "-");
	}
	buf_adds(b, "</td><td>");
	buf_add_html(b, r->e->subject);
	buf_adds(b, "</td></tr>\n");
}

static void html_table(struct buf *b, const struct run_row *rows, size_t n, const char *store)
{
	size_t i, shown = 0;

	buf_adds(b, "<table>\n<tr><th>time</th><th>store</th><th>run</th><th>kind</th>"
		 "<th>outcome</th><th>write-unavailable</th><th>plan</th><th>author</th>"
		 "<th>operator</th><th>approvals counted</th><th>approvals not counted</th>"
		 "<th>subject</th></tr>\n");
	for (i = 0; i < n; i++) {
		if (store && strcmp(rows[i].store, store))
			continue;
		html_row(b, &rows[i]);
		shown++;
	}
	buf_adds(b, "</table>\n");
	if (!shown)
		buf_adds(b, "<p>No runs.</p>\n");
}

static int export_html(struct cmd_args *a, struct history *h, const struct history_entry *es,
		       size_t n, const char *dir, struct cms_error *err)
{
	struct config *cfg = NULL;
	struct state *sdb = NULL;
	struct audit_store *stores = NULL;
	struct audit_finding *f = NULL;
	struct audit_counts counts;
	struct run_row *rows = NULL;
	struct buf b = BUF_INIT;
	char **names = NULL, *index = NULL;
	size_t nrows = 0, nf = 0, nnames = 0, nalloc = 0, nstores = 0, i, j;
	int rc = 0;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cms_error_set(err, CMS_ERROR, "cannot create folder '%s': %s", dir,
				     strerror(errno));
	if (access(a->config, F_OK) == 0) {
		if (cmd_load_config(a, &cfg) != EXIT_OK) {
			rc = cms_error_set(err, CMS_ERROR, "cannot export the history: '%s' does not load",
					   a->config);
			goto done;
		}
		stores = xcalloc(cfg->nstores ? cfg->nstores : 1, sizeof(*stores));
		for (i = 0; i < cfg->nstores; i++) {
			stores[i].name = cfg->stores[i].name;
			stores[i].allowed_signers = cfg->stores[i].allowed_signers;
		}
		nstores = cfg->nstores;
	}
	if ((rc = cmd_open_state(a, false, &sdb, err)) < 0 ||
	    (rc = audit_verify(h, sdb, stores, nstores, cmd_opt_value(a, OPT_STORE), &f, &nf, &counts,
			       err)) < 0)
		goto done;
	cmd_audit_remote_findings(a, &f, &nf);
	rows = xcalloc(n ? n : 1, sizeof(*rows));
	for (i = 0; i < n; i++) {
		if (!es[i].kind || (strcmp(es[i].kind, "apply") && strcmp(es[i].kind, "restore")))
			continue;
		if ((rc = gather_row(h, cfg, dir, &es[i], &rows[nrows], err)) < 0)
			goto done;
		if (!*rows[nrows].store) {
			run_row_free(&rows[nrows]);
			continue;
		}
		for (j = 0; j < nnames && strcmp(names[j], rows[nrows].store); j++)
			;
		if (j == nnames)
			*ARRAY_PUSH(names, nnames, nalloc) = xstrdup(rows[nrows].store);
		nrows++;
	}
	buf_adds(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		 "<title>cmsctl history</title><style>body{font-family:sans-serif;margin:2em}"
		 "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;"
		 "text-align:left;vertical-align:top}code{font-size:90%}.ok{color:#060}"
		 ".bad{color:#a00}.view{display:none}.view:target{display:block}#all{display:block}"
		 ".view:target~#all{display:none}nav a{margin-right:1em}</style></head><body>\n"
		 "<h1>cmsctl history</h1>\n");
	buf_addf(&b, "<p id=\"audit\" class=\"%s\">audit verify: %s (%zu finding%s; %zu store%s, "
		 "%zu plans, %zu applies, %zu approvals, %zu locations, %zu runs checked%s%s)</p>\n",
		 nf ? "bad" : "ok", nf ? "FAILED" : "passed", nf, nf == 1 ? "" : "s", counts.stores,
		 counts.stores == 1 ? "" : "s", counts.plans, counts.applies, counts.approvals,
		 counts.locations, counts.runs, nstores ? "" : "; no config: signatures not checked",
		 sdb ? "" : "; no state: its runs, serials and recorded tip not checked");
	if (nf) {
		buf_adds(&b, "<ul class=\"bad\">\n");
		for (i = 0; i < nf; i++) {
			buf_adds(&b, "<li>");
			buf_add_html(&b, f[i].store ? f[i].store : "history");
			buf_adds(&b, ": ");
			buf_add_html(&b, f[i].kind);
			buf_adds(&b, ": ");
			buf_add_html(&b, f[i].message);
			buf_adds(&b, "</li>\n");
		}
		buf_adds(&b, "</ul>\n");
	}
	buf_adds(&b, "<nav>Show: <a href=\"#all\">all stores</a>");
	for (i = 0; i < nnames; i++) {
		buf_adds(&b, "<a href=\"#store-");
		buf_add_html(&b, names[i]);
		buf_adds(&b, "\">");
		buf_add_html(&b, names[i]);
		buf_adds(&b, "</a>");
	}
	buf_adds(&b, "</nav>\n");
	/* The per-store views come first: a targeted one hides #all after it. */
	for (i = 0; i < nnames; i++) {
		buf_adds(&b, "<section class=\"view\" id=\"store-");
		buf_add_html(&b, names[i]);
		buf_adds(&b, "\"><h2>Store ");
		buf_add_html(&b, names[i]);
		buf_adds(&b, "</h2>\n");
		html_table(&b, rows, nrows, names[i]);
		buf_adds(&b, "</section>\n");
	}
	buf_adds(&b, "<section class=\"view\" id=\"all\"><h2>All stores</h2>\n");
	html_table(&b, rows, nrows, NULL);
	buf_adds(&b, "</section>\n</body></html>\n");
	index = xasprintf("%s/index.html", dir);
	rc = cms_write_file_atomic(index, b.ptr, b.len, 0644, "history page", err);
	if (rc == 0)
		cmd_note("wrote '%s' (%zu runs, audit verify %s)", index, nrows,
			 nf ? "FAILED" : "passed");
done:
	for (i = 0; i < nrows; i++)
		run_row_free(&rows[i]);
	free(rows);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(index);
	audit_findings_free(f, nf);
	free(stores);
	state_close(sdb);
	config_free(cfg);
	buf_free(&b);
	return rc;
}

/* DIR mode: an existing folder, or a new path that does not end in
 * ".html"; '-' and FILE.html get the page alone. */
static bool is_export_dir(const char *path)
{
	struct stat st;
	size_t n = strlen(path);

	if (cmd_output_is_stdout(path))
		return false;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode);
	return !(n >= 5 && !strcmp(path + n - 5, ".html"));
}

int cmd_history(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct history *h = NULL;
	struct history_entry *es = NULL;
	struct buf out = BUF_INIT, html = BUF_INIT;
	const char *htmlpath = cmd_opt_value(a, OPT_HTML);
	size_t i, n = 0;
	int rc = EXIT_OK;

	if (a->npos && strcmp(a->pos[0], "push") != 0)
		return cmd_unknown_subcommand(a->cmd, a->pos[0], (const char *const[]){ "push" }, 1);
	if (a->npos) {
		size_t pushed = 0;

		if (cmd_history_push(a, &pushed, &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
		cmd_note("pushed %zu history commit%s to '%s'", pushed, pushed == 1 ? "" : "s",
			 a->backend->remote);
		if (a->json) {
			json_t *o = json_pack("{s:s, s:I}", "remote", a->backend->remote, "pushed",
					      (json_int_t)pushed);

			cms_json_add(&out, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			json_decref(o);
			if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
				rc = cmd_fail(&err);
		}
		goto done;
	}
	if (cmd_backend(a, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	/* Reading never creates: no history yet is an empty one. */
	if (access(a->history, F_OK) != 0 && errno == ENOENT) {
		if (cmd_opt_value(a, OPT_STORE) &&
		    (rc = check_store_known(a, cmd_opt_value(a, OPT_STORE))) != EXIT_OK)
			goto done;
		cmd_note("no history at '%s' yet", a->history);
		if (a->json && cmd_write_stdout("[]\n", 3, &err) < 0)
			rc = cmd_fail(&err);
		goto done;
	}
	if (cmd_open_history(a, &h, &err) < 0 ||
	    history_log(h, cmd_opt_value(a, OPT_STORE), &es, &n, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (n == 0 && cmd_opt_value(a, OPT_STORE) &&
	    (rc = check_store_known(a, cmd_opt_value(a, OPT_STORE))) != EXIT_OK)
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
		if (n == 0 && cmd_opt_value(a, OPT_STORE))
			cmd_note("the history at '%s' has no entries for store '%s' yet", a->history,
				 cmd_opt_value(a, OPT_STORE));
		else if (n == 0)
			cmd_note("the history at '%s' has no entries yet", a->history);
	}
	if (htmlpath && is_export_dir(htmlpath)) {
		if (export_html(a, h, es, n, htmlpath, &err) < 0) {
			rc = cmd_fail(&err);
			goto done;
		}
	} else if (htmlpath) {
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
