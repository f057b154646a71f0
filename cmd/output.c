/*
 * Output helpers shared by the commands: error reporting in one format,
 * progress notes on stderr, checked writes of data to stdout.
 *
 * Everything shown on a terminal passes through here, and much of it comes
 * from servers (role and database names, replication states, driver
 * messages): control characters are written as \xNN, so an answer with an
 * escape sequence cannot drive the operator's terminal or forge a line.
 * Messages are one line each, so a newline in one is escaped too; text
 * written as data keeps its newlines and tabs.  The bytes of an output
 * written to "-" (a plan, a report) go out unchanged: they are a file's.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/db.h"
#include "planner/config.h"

#include <jansson.h>
#include "common/buf.h"
#include "common/fileio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Whether errors go to stderr as one JSON object (--json).  Set once by
 * main before the command runs, read by every error path of the command
 * line; nothing below cmd/ sees it. */
static bool errors_as_json;

void cmd_output_json_errors(bool on)
{
	errors_as_json = on;
}

bool cmd_json_errors(void)
{
	return errors_as_json;
}

static const char *exit_name(int status)
{
	switch (status) {
	case EXIT_OK: return "ok";
	case EXIT_CHANGES: return "changes";
	case EXIT_STALE: return "stale";
	case EXIT_LOCKED: return "locked";
	case EXIT_DECLINED: return "declined";
	case EXIT_INTERRUPTED: return "interrupted";
	case EXIT_REFUSED: return "refused";
	case EXIT_USAGE: return "usage";
	default: return "error";
	}
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* {"error": {...}} on stderr; diags (optional) are the config's. */
static void print_json_error(const struct cms_error *err, int status, const struct diag_list *dl)
{
	json_t *e = json_object(), *root;
	char *text;

	json_object_set_new(e, "message", jstr_or_null(err->message ? err->message : "unknown error"));
	json_object_set_new(e, "exit_status", json_integer(status));
	json_object_set_new(e, "kind", json_string(exit_name(status)));
	json_object_set_new(e, "hint", jstr_or_null(err->hint));
	/* The error's own position: always null (schemas/error.schema.json);
	 * a config error's positions are its diagnostics'. */
	json_object_set_new(e, "file", json_null());
	json_object_set_new(e, "line", json_null());
	json_object_set_new(e, "column", json_null());
	if (dl) {
		json_t *arr = json_array();
		size_t i;

		for (i = 0; i < dl->len; i++) {
			const struct diag *d = &dl->items[i];

			json_array_append_new(arr, json_pack("{s:o, s:i, s:i, s:o, s:o}",
							     "file", jstr_or_null(d->file), "line", d->line,
							     "column", d->column,
							     "message", jstr_or_null(d->message),
							     "hint", jstr_or_null(d->hint)));
		}
		json_object_set_new(e, "diagnostics", arr);
	}
	root = json_pack("{s:o}", "error", e);
	text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(root);
	if (text) {
		fprintf(stderr, "%s\n", text);
		free(text);
	} else {
		fprintf(stderr, "{\"error\": {\"message\": \"cannot encode the error as JSON\"}}\n");
	}
}

void cmd_fail_json_diags(const struct diag_list *dl, const struct cms_error *err)
{
	print_json_error(err, cms_error_exit_status(err->code ? err->code : CMS_ERROR), dl);
}

void cmd_escape_controls(struct buf *out, const char *s, size_t len, bool keep_lines)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && !(keep_lines && (c == '\n' || c == '\t'))) || c == 0x7f)
			buf_addf(out, "\\x%02x", c);
		else
			buf_addch(out, (char)c);
	}
}

/* Writes s to fp with every control character escaped (one line). */
static void put_line(FILE *fp, const char *s)
{
	struct buf b = BUF_INIT;

	cmd_escape_controls(&b, s, strlen(s), false);
	fwrite(b.ptr, 1, b.len, fp);
	buf_free(&b);
}

int cmd_fail(const struct cms_error *err)
{
	const char *msg = err->message ? err->message : "unknown error";

	if (errors_as_json) {
		int status = cms_error_exit_status(err->code ? err->code : CMS_ERROR);

		print_json_error(err, status, NULL);
		return status;
	}

	fputs("cmsctl: ", stderr);
	put_line(stderr, msg);
	fputc('\n', stderr);
	if (err->hint) {
		fputs("hint: ", stderr);
		put_line(stderr, err->hint);
		fputc('\n', stderr);
	}
	return cms_error_exit_status(err->code ? err->code : CMS_ERROR);
}

void cmd_note(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	fputs("cmsctl: ", stderr);
	put_line(stderr, b.ptr);
	fputc('\n', stderr);
	buf_free(&b);
}

/* Writes data to stdout unchanged. */
static int write_raw_stdout(const char *data, size_t len, struct cms_error *err)
{
	if (len && fwrite(data, 1, len, stdout) != len)
		return cms_error_set(err, CMS_ERROR, "cannot write to standard output: %s",
				     strerror(errno));
	if (fflush(stdout) != 0)
		return cms_error_set(err, CMS_ERROR, "cannot write to standard output: %s",
				     strerror(errno));
	return 0;
}

int cmd_confirm(const char *question, const char *hint, struct cms_error *err)
{
	char line[64];
	size_t n;

	if (!isatty(STDIN_FILENO)) {
		cms_error_set(err, CMS_EDECLINED, "standard input is not a terminal: not asking");
		cms_error_hint(err, "%s", hint);
		return CMS_EDECLINED;
	}
	fprintf(stderr, "\n%s Only 'yes' is accepted: ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return cms_error_set(err, CMS_EDECLINED, "no answer: nothing was changed");
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (strcmp(line, "yes") != 0)
		return cms_error_set(err, CMS_EDECLINED, "declined ('%s'): nothing was changed", line);
	return 0;
}

/* A step's outcome and, with --verbose, its statements and their timings,
 * ending the step's progress line. */
static void progress_outcome(const struct cmd_args *a, const struct apply_step_event *ev)
{
	size_t i;

	if (ev->status == STEP_DONE || ev->status == STEP_FAILED)
		fprintf(stderr, "%s (%.2f s)%s%s\n", step_status_name(ev->status),
			(double)ev->duration_ms / 1000.0, ev->error ? ": " : "",
			ev->error ? ev->error : "");
	else
		fprintf(stderr, "%s\n", step_status_name(ev->status));
	for (i = 0; a->verbose && i < ev->nstmts; i++)
		fprintf(stderr, "cmsctl:     %6" PRId64 " ms  %s/%s%s: %s\n", ev->stmts[i].duration_ms,
			ev->stmts[i].label ? ev->stmts[i].label : "-",
			ev->stmts[i].database ? ev->stmts[i].database : "-",
			ev->stmts[i].ok ? "" : " (failed)", ev->stmts[i].sql);
	fflush(stderr);
}

static void progress_head(const struct apply_step_event *ev, const char *sep)
{
	fprintf(stderr, "cmsctl: [%d/%zu] %s%s%s%s", ev->n, ev->total, ev->action,
		ev->server ? " " : "", ev->server ? ev->server : "", sep);
}

/* Progress of a run on stderr: "cmsctl: [2/7] fence pool-a ... done (0.41 s)",
 * the line opened when the step starts, so that a long step shows what it
 * is waiting on; with --verbose the statements and their timings follow.
 * In whole lines (a plan set's store, whose stderr the set relays line by
 * line): "[2/7] fence pool-a: running", then "[2/7] fence pool-a: done
 * (0.41 s)". */
static void progress_step(void *arg, const struct apply_step_event *ev)
{
	struct cmd_args *a = arg;

	if (ev->status == STEP_PENDING)
		return;
	if (a->progress_lines) {
		progress_head(ev, ": ");
		progress_outcome(a, ev);
		return;
	}
	if (ev->status == STEP_RUNNING) {
		if (a->shown.open_step)
			fputc('\n', stderr);
		progress_head(ev, " ... ");
		fflush(stderr);
		a->shown.open_step = ev->n;
		return;
	}
	if (a->shown.open_step != ev->n) {
		if (a->shown.open_step)
			fputc('\n', stderr);
		progress_head(ev, " ... ");
	}
	a->shown.open_step = 0;
	progress_outcome(a, ev);
}

void cmd_set_progress(struct cmd_args *a, struct apply_ctx *ctx)
{
	if (!a->progress && !a->verbose && !isatty(STDERR_FILENO))
		return;
	a->shown.open_step = 0;
	ctx->on_step = progress_step;
	ctx->on_step_arg = a;
}

int cmd_write_stdout(const char *data, size_t len, struct cms_error *err)
{
	struct buf b = BUF_INIT;
	int rc;

	cmd_escape_controls(&b, data, len, true);
	rc = write_raw_stdout(b.ptr ? b.ptr : "", b.len, err);
	buf_free(&b);
	return rc;
}

bool cmd_output_is_stdout(const char *path)
{
	return path && strcmp(path, "-") == 0;
}

int cmd_write_output(const char *path, const char *data, size_t len, const char *what,
		     struct cms_error *err)
{
	if (cmd_output_is_stdout(path))
		return write_raw_stdout(data, len, err);
	return cms_write_output(path, data, len, 0644, what, err);
}

int cmd_write_stderr(const char *data, size_t len)
{
	struct buf b = BUF_INIT;
	int rc = 0;

	cmd_escape_controls(&b, data, len, true);
	if (b.len && fwrite(b.ptr, 1, b.len, stderr) != b.len)
		rc = -1;
	buf_free(&b);
	return fflush(stderr) == 0 ? rc : -1;
}
