/*
 * cms_json_dumps(), cms_json_add() and cms_json_strv() (common/json.h).
 */
#include "common/json.h"

#include <stdio.h>
#include <stdlib.h>

char *cms_json_dumps(const json_t *j, size_t flags)
{
	char *text = json_dumps(j, flags | JSON_ENCODE_ANY);

	if (!text) {
		fputs("cmsctl: out of memory encoding JSON\n", stderr);
		abort();
	}
	return text;
}

void cms_json_add(struct buf *b, const json_t *j, size_t flags)
{
	char *text = cms_json_dumps(j, flags);

	buf_adds(b, text);
	buf_addch(b, '\n');
	free(text);
}

json_t *cms_json_strv(const struct cms_strv *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}
