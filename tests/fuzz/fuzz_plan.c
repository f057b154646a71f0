/*
 * libFuzzer target: the plan file parser on arbitrary bytes (plan files are
 * external input).  A plan that parses must render and re-encode without
 * crashing.
 */
#include "common/buf.h"
#include "planner/plan.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct plan *p = NULL;

	if (plan_from_json(&p, (const char *)data, size, "fuzz", &err) == 0) {
		struct buf b = BUF_INIT;

		plan_render(p, NULL, &b);
		buf_reset(&b);
		plan_to_json(p, &b, &err);
		buf_free(&b);
		plan_free(p);
	}
	cms_error_clear(&err);
	return 0;
}
