/*
 * Output helpers shared by the commands: error reporting in one format,
 * progress notes on stderr, checked writes of data to stdout.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
