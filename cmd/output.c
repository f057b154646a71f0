/*
 * Output helpers shared by the commands: error reporting in one format,
 * progress notes on stderr, checked writes of data to stdout.
 */
#include "cmd/cmd.h"
#include "common/fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cmd_fail(const struct cms_error *err)
{
	if (err->file && err->line > 0)
		fprintf(stderr, "cmsctl: %s:%d:%d: %s\n", err->file, err->line, err->column,
			err->message ? err->message : "unknown error");
	else
		fprintf(stderr, "cmsctl: %s\n", err->message ? err->message : "unknown error");
	if (err->hint)
		fprintf(stderr, "hint: %s\n", err->hint);
	return cms_error_exit_status(err->code ? err->code : CMS_ERROR);
}

void cmd_note(const char *fmt, ...)
{
	va_list ap;

	fputs("cmsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cmd_write_stdout(const char *data, size_t len, struct cms_error *err)
{
	if (len && fwrite(data, 1, len, stdout) != len)
		return cms_error_set(err, CMS_ERROR, "cannot write to standard output: %s",
				     strerror(errno));
	if (fflush(stdout) != 0)
		return cms_error_set(err, CMS_ERROR, "cannot write to standard output: %s",
				     strerror(errno));
	return 0;
}

bool cmd_output_is_stdout(const char *path)
{
	return path && strcmp(path, "-") == 0;
}

int cmd_write_output(const char *path, const char *data, size_t len, const char *what,
		     struct cms_error *err)
{
	if (cmd_output_is_stdout(path))
		return cmd_write_stdout(data, len, err);
	return cms_write_output(path, data, len, 0644, what, err);
}

int cmd_write_stderr(const char *data, size_t len)
{
	if (len && fwrite(data, 1, len, stderr) != len)
		return -1;
	return fflush(stderr) == 0 ? 0 : -1;
}
