/*
 * Running an operator's program (a publish command, a fence target): no
 * shell, no PATH search, stdin from /dev/null, its output on our stderr,
 * in its own process group, killed with that group at its deadline.
 */
#ifndef CMS_APPLIER_COMMAND_H
#define CMS_APPLIER_COMMAND_H

#include "common/error.h"

#include <stdint.h>

/* Runs argv[0] with envp and waits at most timeout_ms.  0 when it exits 0;
 * otherwise CMS_ERROR saying why (exit status, signal, not started, killed
 * at the deadline).  what names it in messages ("publish command"). */
int applier_run_command(char *const argv[], char *const envp[], int64_t timeout_ms,
			const char *what, struct cms_error *err);

#endif
