/*
 * JSON output with jansson, one way: a dump never fails silently (jansson
 * fails only when memory runs out, and then cmsctl aborts as xmalloc does),
 * so no caller prints "{}" in place of a document.
 */
#ifndef CMS_COMMON_JSON_H
#define CMS_COMMON_JSON_H

#include "common/buf.h"
#include "common/strv.h"

#include <jansson.h>
#include <stddef.h>

/* json_dumps(j, flags | JSON_ENCODE_ANY); never NULL.  Caller frees. */
char *cms_json_dumps(const json_t *j, size_t flags);
/* Appends the dump of j and a newline to b. */
void cms_json_add(struct buf *b, const json_t *j, size_t flags);
/* A JSON array of l's strings, in order (a new reference). */
json_t *cms_json_strv(const struct cms_strv *l);

#endif
