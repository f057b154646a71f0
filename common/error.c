/*
 * The error object: formatting, moving and mapping codes to exit statuses.
 * See error.h for the conventions every layer follows.
 */
#include "common/error.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int cms_error_vset(struct cms_error *err, int code, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;

	if (!err)
		return code;
	cms_error_clear(err);
	buf_vaddf(&b, fmt, ap);
	err->code = code;
	err->message = buf_detach(&b, NULL);
	return code;
}

int cms_error_set(struct cms_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cms_error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void cms_error_hint(struct cms_error *err, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(err->hint);
	err->hint = buf_detach(&b, NULL);
}

void cms_error_prefix(struct cms_error *err, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (err->message)
		buf_addf(&b, ": %s", err->message);
	free(err->message);
	err->message = buf_detach(&b, NULL);
}

void cms_error_move(struct cms_error *dst, struct cms_error *src)
{
	if (!dst || dst == src)
		return;
	cms_error_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

void cms_error_clear(struct cms_error *err)
{
	if (!err)
		return;
	free(err->message);
	free(err->hint);
	memset(err, 0, sizeof(*err));
}

int cms_error_exit_status(int code)
{
	switch (code) {
	case CMS_OK:
		return 0;
	case CMS_ESTALE:
		return 3;
	case CMS_ELOCKED:
		return 4;
	case CMS_EDECLINED:
		return 5;
	case CMS_EINTERRUPTED:
		return 6;
	case CMS_EREFUSED:
		return 7;
	case CMS_EUSAGE:
		return 64;
	default:
		return 1;
	}
}
