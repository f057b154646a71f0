/*
 * Test hooks of apply and restore, compiled only into a test build
 * (cmake -DCMSCTL_TEST_CLOCK=ON defines CMSCTL_TEST_BUILD); in a product
 * build CMSCTL_TEST_HOLD_AT has no effect.  With CMSCTL_TEST_HOLD_AT set,
 * the process holds still for a minute at one exact point, so that a
 * harness can SIGKILL it there, or break a server there and let it go on
 * with SIGCONT (which ends the hold early):
 *   N:STATUS     right after step N is journaled as STATUS
 *                (tests/e2e/t_apply_kill.sh);
 *   promote:DB   right after the engine promoted database DB of the target,
 *                before the next one (tests/e2e/t_store_unit.sh);
 *   fence:DB     the same after the sqlite engine fenced DB (and unfence:DB)
 *                (tests/e2e/t_lease_lost.sh);
 *   record       between the state's commit of a run and the history's
 *                (tests/e2e/t_level.sh);
 *   recorded     once the run is recorded in the history and pushed to its
 *                remote, before the store's lock is released
 *                (tests/e2e/t_level_remote.sh);
 *   level        in a command that levels the history, once it found runs
 *                to record, before it looks at the store's lock
 *                (tests/e2e/t_level_remote.sh);
 *   locked       right after apply took the store's lock, before its
 *                engine is opened (tests/integration/t_pg_connect_ahead.sh);
 *   probe        in restore, right before it probes the servers to settle
 *                an interrupted run, after its preview and prompt (its
 *                decision is made from that probe)
 *                (tests/e2e/t_lease_lost.sh);
 *   may_change   once, where an engine asks whether it may change a server
 *                (engine_may_change: before a promotion's first statement,
 *                a copy's rename), before the lease is looked at
 *                (tests/e2e/t_lease_lost.sh).
 * Each hold says so on stderr ("cmsctl: holding ...").
 */
#define _GNU_SOURCE
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "applier/apply.h"
#include "applier/runner.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef CMSCTL_TEST_BUILD
/* SIGCONT is blocked from the start of a test build's apply or restore
 * (cmd_test_hooks), so one sent as soon as a harness sees the journal,
 * before the hold began, is pending and ends the hold at once instead of
 * being lost.  Another caught signal (SIGTERM) ends it too. */
static void hold(const char *what)
{
	struct timespec sixty = { 60, 0 };
	sigset_t cont, old;

	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	sigprocmask(SIG_BLOCK, &cont, &old); /* for the holds of other commands */
	fprintf(stderr, "cmsctl: holding %s (CMSCTL_TEST_HOLD_AT)\n", what);
	sigtimedwait(&cont, NULL, &sixty);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* It holds once: a step journaled again with the same status (a fence
 * whose undo failed after a rollback) goes on. */
static void hold_at_step(void *arg, int step, enum step_status status)
{
	static bool held;
	const char *spec = arg;
	char want[64];

	snprintf(want, sizeof(want), "%d:%s", step, step_status_name(status));
	if (spec && !held && !strcmp(spec, want)) {
		char what[80];

		held = true;
		snprintf(what, sizeof(what), "at step %s", want);
		hold(what);
	}
}

static void hold_at_database(void *arg, const char *action, const char *server, const char *db)
{
	const char *spec = arg;
	char want[160];

	if (!strcmp(action, "probe")) {
		if (spec && !strcmp(spec, "probe"))
			hold("before restore probes the servers to settle an interrupted run");
		return;
	}
	if (!strcmp(action, "may_change")) {
		static bool held;

		if (spec && !held && !strcmp(spec, "may_change")) {
			held = true;
			hold("before the engine's first change of a step, at its lease check");
		}
		return;
	}
	snprintf(want, sizeof(want), "%s:%s", action, db);
	if (spec && !strcmp(spec, want)) {
		char what[200];

		snprintf(what, sizeof(what), "after %s of %s on %s", action, db, server);
		hold(what);
	}
}

static void hold_before_record(void *arg, const char *run_id)
{
	const char *spec = arg;

	if (spec && !strcmp(spec, "record")) {
		char what[96];

		snprintf(what, sizeof(what), "before recording run %s", run_id);
		hold(what);
	}
}

static void hold_after_record(void *arg, const char *run_id)
{
	const char *spec = arg;

	if (spec && !strcmp(spec, "recorded")) {
		char what[96];

		snprintf(what, sizeof(what), "after recording run %s", run_id);
		hold(what);
	}
}

static void hold_before_level(void *arg)
{
	const char *spec = getenv("CMSCTL_TEST_HOLD_AT");

	(void)arg;
	if (spec && !strcmp(spec, "level"))
		hold("before looking at the store's lock to level the history");
}

static void hold_after_lock(void *arg)
{
	const char *spec = arg;

	if (spec && !strcmp(spec, "locked"))
		hold("after taking the store's lock");
}
#endif

void cmd_test_hooks(struct apply_ctx *ctx)
{
#ifdef CMSCTL_TEST_BUILD
	const char *spec = getenv("CMSCTL_TEST_HOLD_AT");

	if (!spec)
		return;
	{
		sigset_t cont;

		sigemptyset(&cont);
		sigaddset(&cont, SIGCONT);
		sigprocmask(SIG_BLOCK, &cont, NULL);
	}
	ctx->on_journal = hold_at_step;
	ctx->on_journal_arg = (void *)spec;
	ctx->on_database = hold_at_database;
	ctx->on_database_arg = (void *)spec;
	ctx->before_record = hold_before_record;
	ctx->before_record_arg = (void *)spec;
	ctx->after_lock = hold_after_lock;
	ctx->after_lock_arg = (void *)spec;
	ctx->after_record = hold_after_record;
	ctx->after_record_arg = (void *)spec;
#else
	(void)ctx;
#endif
}

void cmd_test_env_hooks(struct applier_env *env)
{
#ifdef CMSCTL_TEST_BUILD
	if (getenv("CMSCTL_TEST_HOLD_AT"))
		env->before_level = hold_before_level;
#else
	(void)env;
#endif
}

