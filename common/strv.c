/*
 * The string list (common/strv.h): growth through array_grow, so that a
 * list grows the way every other array of cmsctl does.
 */
#include "common/strv.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cms_strv_push(struct cms_strv *l, char *s)
{
	*ARRAY_PUSH(l->v, l->n, l->alloc) = s;
}

void cms_strv_add(struct cms_strv *l, const char *s)
{
	cms_strv_push(l, xstrdup(s));
}

void cms_strv_addf(struct cms_strv *l, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cms_strv_push(l, buf_detach(&b, NULL));
}

bool cms_strv_contains(const struct cms_strv *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

bool cms_strv_add_unique(struct cms_strv *l, const char *s)
{
	if (cms_strv_contains(l, s))
		return false;
	cms_strv_add(l, s);
	return true;
}

void cms_strv_truncate(struct cms_strv *l, size_t n)
{
	while (l->n > n)
		free(l->v[--l->n]);
}

void cms_strv_free(struct cms_strv *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
