/* Development scaffolding: weak placeholders replaced by each command's own
 * file.  Removed once every command exists. */
#include "cmd/cmd.h"
#include <stdio.h>
#define PLACEHOLDER(n) \
	__attribute__((weak)) const struct cmd_opt cmd_##n##_opts[] = { { 0 } }; \
	__attribute__((weak)) int cmd_##n(struct cmd_args *a) \
	{ (void)a; fputs("cmsctl: '" #n "' is not implemented yet\n", stderr); return EXIT_ERROR; }
PLACEHOLDER(validate)
PLACEHOLDER(plan)
PLACEHOLDER(apply)
PLACEHOLDER(status)
PLACEHOLDER(show)
PLACEHOLDER(history)
PLACEHOLDER(approve)
PLACEHOLDER(restore)
PLACEHOLDER(lock)
PLACEHOLDER(unlock)
