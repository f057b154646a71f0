/*
 * cmsctl validate: loads the config strictly, offline, and reports.
 *
 * Valid: one summary line per store on stdout, exit 0.  Invalid: every
 * diagnostic on stderr as "FILE:LINE:COL: error: MESSAGE" (and "  hint: ..."),
 * then "cmsctl: 'FILE' has N errors", exit 1.  A file that cannot be read at
 * all is one line, "cmsctl: cannot read config 'FILE': REASON".  With --json
 * the same facts go to stdout as one JSON object (sorted keys, per
 * schemas/validate.schema.json: valid, diagnostics, stores) and stderr
 * stays quiet; the exit status is the same.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

const struct cmd_opt cmd_validate_opts[] = { { 0 } };

/* A JSON string of s; bytes that are not UTF-8 (a file name can hold
 * anything) become '?', since jansson refuses invalid UTF-8. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy;
	size_t i;

	if (j)
		return j;
	copy = xstrdup(s);
	for (i = 0; copy[i]; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static void summarize(struct buf *out, const struct store *st)
{
	size_t i;

	buf_addf(out, "%s: ok (engine %s, %zu server%s, database%s ", st->name,
		 engine_kind_name(st->engine), st->nservers, st->nservers == 1 ? "" : "s",
		 st->ndatabases == 1 ? "" : "s");
	for (i = 0; i < st->ndatabases; i++)
		buf_addf(out, "%s%s", i ? ", " : "", st->databases[i]);
	buf_addf(out, ", primary %s", st->location.primary);
	if (st->location.mirror)
		buf_addf(out, ", mirror %s", st->location.mirror);
	buf_adds(out, ")\n");
}

static json_t *diag_json(const struct diag *d)
{
	json_t *o = json_object();

	json_object_set_new(o, "file", jstr(d->file));
	json_object_set_new(o, "line", json_integer(d->line));
	json_object_set_new(o, "column", json_integer(d->column));
	json_object_set_new(o, "message", jstr(d->message));
	json_object_set_new(o, "hint", d->hint ? jstr(d->hint) : json_null());
	return o;
}

static json_t *store_json(const struct store *st)
{
	json_t *servers = json_array(), *dbs = json_array();
	size_t i;

	for (i = 0; i < st->nservers; i++)
		json_array_append_new(servers, jstr(st->servers[i].name));
	for (i = 0; i < st->ndatabases; i++)
		json_array_append_new(dbs, jstr(st->databases[i]));
	return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o}", "name", jstr(st->name),
			 "engine", engine_kind_name(st->engine), "servers", servers, "databases", dbs,
			 "primary", jstr(st->location.primary),
			 "mirror", st->location.mirror ? jstr(st->location.mirror) : json_null());
}

/* --json: {"valid", "diagnostics" (empty when valid), "stores" (what a
 * valid file holds)}; validity is also the exit status. */
static int print_json(const struct config *cfg, const struct diag_list *dl, struct cms_error *err)
{
	json_t *diags = json_array(), *stores = json_array(), *root;
	struct buf out = BUF_INIT;
	char *text;
	size_t i;
	int rc;

	for (i = 0; i < dl->len; i++)
		json_array_append_new(diags, diag_json(&dl->items[i]));
	for (i = 0; cfg && i < cfg->nstores; i++)
		json_array_append_new(stores, store_json(&cfg->stores[i]));
	root = json_pack("{s:b, s:o, s:o}", "valid", cfg != NULL, "diagnostics", diags,
			 "stores", stores);
	text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return cms_error_set(err, CMS_ERROR, "cannot encode the diagnostics as JSON");
	buf_adds(&out, text);
	buf_addch(&out, '\n');
	free(text);
	rc = cmd_write_stdout(out.ptr, out.len, err);
	buf_free(&out);
	return rc;
}

int cmd_validate(struct cmd_args *a)
{
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT, werr = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	struct buf out = BUF_INIT;
	int status;
	size_t i;

	status = config_load(&cfg, a->config, &dl, &err) < 0 ? EXIT_ERROR : EXIT_OK;
	if (a->json) {
		if (print_json(cfg, &dl, &werr) < 0)
			status = cmd_fail(&werr);
		goto done;
	}
	if (!cfg) {
		cmd_print_diags(&dl, &err);
		goto done;
	}
	for (i = 0; i < cfg->nstores; i++)
		summarize(&out, &cfg->stores[i]);
	if (cmd_write_stdout(out.ptr, out.len, &werr) < 0)
		status = cmd_fail(&werr);
done:
	buf_free(&out);
	config_free(cfg);
	diag_list_free(&dl);
	cms_error_clear(&err);
	cms_error_clear(&werr);
	return status;
}
