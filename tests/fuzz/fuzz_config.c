/*
 * libFuzzer target: the config loader on arbitrary bytes.  It must never
 * crash, leak or hang, whatever it is fed; diagnostics are the only output.
 * Build: cmake -DCMSCTL_FUZZ=ON -DCMAKE_C_COMPILER=clang (see docs/testing.md).
 */
#include "planner/config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list dl = { 0 };
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;

	if (config_load_buffer(&cfg, "fuzz.yaml", "/nonexistent", (const char *)data, size, &dl,
			       &err) == 0)
		config_free(cfg);
	diag_list_free(&dl);
	cms_error_clear(&err);
	return 0;
}
