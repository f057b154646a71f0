/*
 * Reports: what a run did, for auditors.  The JSON follows
 * schemas/report.schema.json; the HTML page is self-contained (inline style,
 * no script, no external asset) and escapes every value.  The same step
 * detail JSON goes into the journal, so state and report tell one story.
 */
#include "applier/report.h"
#include "common/json.h"
#include "common/html.h"
#include "common/util.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *checks_json(const struct run_check *c, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "check", c[i].check,
						   "observed", c[i].observed, "ok", c[i].ok));
	return a;
}

static json_t *step_json(const struct run_step *s)
{
	json_t *o = json_object(), *stmts = json_array();
	size_t i;

	json_object_set_new(o, "n", json_integer(s->n));
	json_object_set_new(o, "action", json_string(s->undo ? "unfence" : plan_action_name(s->action)));
	json_object_set_new(o, "server", jstr(s->server));
	json_object_set_new(o, "description", jstr(s->description));
	json_object_set_new(o, "status", json_string(step_status_name(s->status)));
	json_object_set_new(o, "started_at", *s->started_at ? json_string(s->started_at) : json_null());
	json_object_set_new(o, "duration_ms", json_integer(s->duration_ms));
	for (i = 0; i < s->nstmts; i++)
		json_array_append_new(stmts, json_pack("{s:s, s:o, s:s, s:I, s:b}", "server",
						       s->stmts[i].label ? s->stmts[i].label : "",
						       "database", jstr(s->stmts[i].database),
						       "sql", s->stmts[i].sql ? s->stmts[i].sql : "",
						       "duration_ms", (json_int_t)s->stmts[i].duration_ms,
						       "ok", s->stmts[i].ok));
	json_object_set_new(o, "statements", stmts);
	json_object_set_new(o, "checks", checks_json(s->checks, s->nchecks));
	json_object_set_new(o, "notes", s->notes.len ? json_string(s->notes.ptr) : json_null());
	json_object_set_new(o, "error", jstr(s->error));
	return o;
}

char *report_step_detail_json(const struct run_step *s)
{
	json_t *o = step_json(s);
	char *text = cms_json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);

	json_decref(o);
	return text;
}

static int64_t unavailable_ms(const struct run *r)
{
	if (r->window_ms >= 0)
		return r->window_ms;
	if (r->t_fence < 0 || r->t_promoted < 0)
		return -1;
	return r->t_promoted - r->t_fence;
}

static char *subject_of(const struct run *r)
{
	const char *store = r->ctx->store->name;

	if (!r->p)
		return xasprintf("%s: restore %s: %s", store, r->loc_primary ? r->loc_primary : "-",
				 r->outcome);
	/* A restore says what it did to the run it closed. */
	if (r->settled && !strcmp(r->settled, "finished"))
		return xasprintf("%s: restore: finished %s %s -> %s: %s", store,
				 plan_mode_name(r->p->mode), r->p->from.primary ? r->p->from.primary : "-",
				 r->p->to.primary, r->outcome);
	if (r->settled)
		return xasprintf("%s: restore: undid %s %s -> %s, %s stays primary: %s", store,
				 plan_mode_name(r->p->mode), r->p->from.primary ? r->p->from.primary : "-",
				 r->p->to.primary, r->loc_primary ? r->loc_primary : "-", r->outcome);
	if (r->p->mode == PLAN_ADOPT)
		return xasprintf("%s: %s adopt %s: %s", store, r->kind, r->p->to.primary, r->outcome);
	return xasprintf("%s: %s %s %s -> %s: %s", store, r->kind, plan_mode_name(r->p->mode),
			 r->p->from.primary ? r->p->from.primary : "-", r->p->to.primary, r->outcome);
}

char *report_subject(const struct run *r)
{
	char *s = subject_of(r), *with;

	if (!r->publish_failed)
		return s;
	with = xasprintf("%s, %zu publish target%s left to retry", s, r->publish_failed,
			 r->publish_failed == 1 ? "" : "s");
	free(s);
	return with;
}

bool report_attestation(const struct run *r, const char **server, const char **reason,
			const char **by)
{
	if (r->attested && r->ctx && r->ctx->assume_down) {
		*server = r->ctx->assume_down;
		*reason = r->ctx->assume_down_reason ? r->ctx->assume_down_reason : "";
		*by = r->operator_name ? r->operator_name : "?";
		return true;
	}
	if (r->p && r->p->assume_down) {
		*server = r->p->assume_down;
		*reason = r->p->assume_down_reason ? r->p->assume_down_reason : "";
		*by = r->p->author ? r->p->author : "?";
		return true;
	}
	*server = *reason = *by = NULL;
	return false;
}

static json_t *report_json(const struct run *r)
{
	json_t *o = json_object(), *steps = json_array();
	const char *ad_server, *ad_reason, *ad_by;
	char t[32];
	int64_t w = unavailable_ms(r);
	size_t i;

	json_object_set_new(o, "format_version", json_integer(REPORT_FORMAT_VERSION));
	json_object_set_new(o, "run_id", json_string(r->run_id));
	json_object_set_new(o, "kind", json_string(r->kind));
	json_object_set_new(o, "store", json_string(r->ctx->store->name));
	json_object_set_new(o, "engine", json_string(engine_kind_name(r->ctx->store->engine)));
	json_object_set_new(o, "operator", json_string(r->operator_name));
	json_object_set_new(o, "author", r->p ? jstr(r->p->author) : json_null());
	json_object_set_new(o, "plan_id", jstr(r->plan_id));
	json_object_set_new(o, "mode", r->p ? json_string(plan_mode_name(r->p->mode)) : json_null());
	json_object_set_new(o, "from", r->p ? json_pack("{s:o, s:o}", "primary", jstr(r->p->from.primary),
							"mirror", jstr(r->p->from.mirror)) : json_null());
	json_object_set_new(o, "to", r->p ? json_pack("{s:o, s:o}", "primary", jstr(r->p->to.primary),
						      "mirror", jstr(r->p->to.mirror)) : json_null());
	json_object_set_new(o, "assume_down", report_attestation(r, &ad_server, &ad_reason, &ad_by) ?
			    json_pack("{s:s, s:s}", "server", ad_server, "reason", ad_reason) :
			    json_null());
	json_object_set_new(o, "reason", r->p ? jstr(r->p->reason) : json_null());
	json_object_set_new(o, "ticket", r->p ? jstr(r->p->ticket) : json_null());
	json_object_set_new(o, "approvals", cms_json_strv(&r->approvals));
	cms_format_time_ms(t, r->started);
	json_object_set_new(o, "started_at", json_string(t));
	cms_format_time_ms(t, r->finished ? r->finished : r->started);
	json_object_set_new(o, "finished_at", json_string(t));
	json_object_set_new(o, "outcome", json_string(r->outcome));
	json_object_set_new(o, "error", jstr(r->error));
	json_object_set_new(o, "serial_before", json_integer(r->serial_before));
	json_object_set_new(o, "serial_after", json_integer(r->serial_after));
	json_object_set_new(o, "location", json_pack("{s:o, s:o}", "primary", jstr(r->loc_primary),
						     "mirror", jstr(r->loc_mirror)));
	json_object_set_new(o, "prechecks", checks_json(r->prechecks, r->nprechecks));
	for (i = 0; i < r->nsteps; i++)
		json_array_append_new(steps, step_json(&r->steps[i]));
	json_object_set_new(o, "steps", steps);
	json_object_set_new(o, "write_unavailable_ms", w >= 0 ? json_integer(w) : json_null());
	json_object_set_new(o, "followups", cms_json_strv(&r->followups));
	return o;
}

static void html_row(struct buf *h, const char *k, const char *v)
{
	buf_adds(h, "<tr><th>");
	buf_add_html(h, k);
	buf_adds(h, "</th><td>");
	buf_add_html(h, v ? v : "-");
	buf_adds(h, "</td></tr>\n");
}

static void html_checks(struct buf *h, const struct run_check *c, size_t n)
{
	size_t i;

	if (!n)
		return;
	buf_adds(h, "<table class=\"checks\"><tr><th>check</th><th>observed</th><th>ok</th></tr>\n");
	for (i = 0; i < n; i++) {
		buf_adds(h, "<tr><td>");
		buf_add_html(h, c[i].check);
		buf_adds(h, "</td><td>");
		buf_add_html(h, c[i].observed);
		buf_addf(h, "</td><td class=\"%s\">%s</td></tr>\n", c[i].ok ? "ok" : "bad",
			 c[i].ok ? "yes" : "no");
	}
	buf_adds(h, "</table>\n");
}

static void report_html(const struct run *r, struct buf *h)
{
	const char *ad_server, *ad_reason, *ad_by;
	char t[32], num[64];
	int64_t w = unavailable_ms(r);
	char *subject = report_subject(r);
	size_t i, j;

	buf_adds(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
	buf_add_html(h, subject);
	buf_adds(h, "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
		 "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #aaa;"
		 "padding:3px 8px;text-align:left;vertical-align:top}code,pre{font-size:90%;"
		 "white-space:pre-wrap}.ok{color:#060}.bad{color:#a00;font-weight:bold}</style>\n"
		 "</head><body>\n<h1>");
	buf_add_html(h, subject);
	buf_adds(h, "</h1>\n<table>\n");
	html_row(h, "run id", r->run_id);
	html_row(h, "kind", r->kind);
	html_row(h, "store", r->ctx->store->name);
	html_row(h, "operator", r->operator_name);
	html_row(h, "plan author", r->p ? r->p->author : "-");
	html_row(h, "plan id", r->plan_id);
	html_row(h, "mode", r->p ? plan_mode_name(r->p->mode) : NULL);
	if (report_attestation(r, &ad_server, &ad_reason, &ad_by)) {
		char *ad = xasprintf("%s, attested by %s: %s", ad_server, ad_by, ad_reason);

		html_row(h, "assumed down", ad);
		free(ad);
	}
	if (r->p && r->p->reason)
		html_row(h, "reason", r->p->reason);
	if (r->p && r->p->ticket)
		html_row(h, "ticket", r->p->ticket);
	for (i = 0; i < r->approvals.n; i++)
		html_row(h, "approved by", r->approvals.v[i]);
	if (!r->approvals.n)
		html_row(h, "approved by", "(no approvals)");
	cms_format_time_ms(t, r->started);
	html_row(h, "started", t);
	cms_format_time_ms(t, r->finished ? r->finished : r->started);
	html_row(h, "finished", t);
	html_row(h, "outcome", r->outcome);
	html_row(h, "error", r->error);
	snprintf(num, sizeof(num), "%" PRId64 " -> %" PRId64, r->serial_before, r->serial_after);
	html_row(h, "serial", num);
	html_row(h, "recorded primary", r->loc_primary);
	html_row(h, "recorded mirror", r->loc_mirror);
	if (w >= 0 && r->window_ms >= 0 && r->window_note) {
		char *wn = xasprintf("%" PRId64 " ms (%s)", w, r->window_note);

		html_row(h, "write-unavailable window", wn);
		free(wn);
	} else {
		if (w >= 0)
			snprintf(num, sizeof(num), "%" PRId64 " ms (fence to promoted)", w);
		else
			snprintf(num, sizeof(num), "not measured (no fence and promotion in this run)");
		html_row(h, "write-unavailable window", num);
	}
	buf_adds(h, "</table>\n");
	if (r->nprechecks) {
		buf_adds(h, "<h2>Checks before any change</h2>\n");
		html_checks(h, r->prechecks, r->nprechecks);
	}
	buf_adds(h, "<h2>Steps</h2>\n");
	for (i = 0; i < r->nsteps; i++) {
		const struct run_step *s = &r->steps[i];

		buf_addf(h, "<h3>%d. ", s->n);
		buf_add_html(h, s->undo ? "unfence" : plan_action_name(s->action));
		buf_adds(h, " ");
		buf_add_html(h, s->server);
		buf_adds(h, ": ");
		buf_add_html(h, step_status_name(s->status));
		buf_addf(h, " (%" PRId64 " ms)</h3>\n<p>", s->duration_ms);
		buf_add_html(h, s->description);
		buf_adds(h, "</p>\n");
		if (s->error) {
			buf_adds(h, "<p class=\"bad\">");
			buf_add_html(h, s->error);
			buf_adds(h, "</p>\n");
		}
		html_checks(h, s->checks, s->nchecks);
		if (s->nstmts) {
			buf_adds(h, "<table class=\"statements\"><tr><th>server</th><th>database</th>"
				 "<th>statement</th><th>ms</th><th>ok</th></tr>\n");
			for (j = 0; j < s->nstmts; j++) {
				buf_adds(h, "<tr><td>");
				buf_add_html(h, s->stmts[j].label);
				buf_adds(h, "</td><td>");
				buf_add_html(h, s->stmts[j].database ? s->stmts[j].database : "-");
				buf_adds(h, "</td><td><code>");
				buf_add_html(h, s->stmts[j].sql);
				buf_addf(h, "</code></td><td>%" PRId64 "</td><td class=\"%s\">%s</td></tr>\n",
					 s->stmts[j].duration_ms, s->stmts[j].ok ? "ok" : "bad",
					 s->stmts[j].ok ? "yes" : "no");
			}
			buf_adds(h, "</table>\n");
		}
		if (s->notes.len) {
			buf_adds(h, "<pre>");
			buf_add_html(h, s->notes.ptr);
			buf_adds(h, "</pre>\n");
		}
	}
	buf_adds(h, "<h2>Follow-ups</h2>\n<ul>\n");
	for (i = 0; i < r->followups.n; i++) {
		buf_adds(h, "<li>");
		buf_add_html(h, r->followups.v[i]);
		buf_adds(h, "</li>\n");
	}
	if (!r->followups.n)
		buf_adds(h, "<li>none</li>\n");
	buf_adds(h, "</ul>\n</body></html>\n");
	free(subject);
}

void report_build(const struct run *r, struct buf *json, struct buf *html)
{
	json_t *o = report_json(r);

	cms_json_add(json, o, JSON_SORT_KEYS | JSON_INDENT(2));
	json_decref(o);
	report_html(r, html);
}

static void free_checks(struct run_check *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].check);
		free(c[i].observed);
	}
	free(c);
}

void report_run_free_steps(struct run *r)
{
	size_t i;

	for (i = 0; i < r->nsteps; i++) {
		struct run_step *s = &r->steps[i];

		free(s->server);
		free(s->description);
		db_stmt_log_free(s->stmts, s->nstmts);
		free_checks(s->checks, s->nchecks);
		buf_free(&s->notes);
		free(s->error);
	}
	free(r->steps);
	r->steps = NULL;
	r->nsteps = 0;
}

void report_run_free_content(struct run *r)
{
	report_run_free_steps(r);
	free_checks(r->prechecks, r->nprechecks);
	cms_strv_free(&r->followups);
	free(r->run_id);
	free(r->loc_primary);
	free(r->loc_mirror);
	free(r->window_note);
	free(r->error);
}
