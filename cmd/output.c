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
#include "common/buf.h"
#include "common/fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

	if (err->file && err->line > 0) {
		fputs("cmsctl: ", stderr);
		put_line(stderr, err->file);
		fprintf(stderr, ":%d:%d: ", err->line, err->column);
	} else {
		fputs("cmsctl: ", stderr);
	}
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
