/*
 * SIGINT, SIGTERM and SIGHUP during the commands that change servers
 * (apply, restore).  The first signal only sets a flag that the applier
 * reads between steps: the step in hand is finished, then a run that has
 * not begun promoting is rolled back (exit 1) and one that has is recorded
 * as interrupted (exit 6).  A second signal ends the process at once,
 * saying what that leaves.  The messages follow apply_ctx.stop_phase:
 * before the run is journaled nothing was changed (a second signal then
 * exits 1); once it is closed only its record is left.  Reading commands
 * install nothing: a signal ends them the default way, which harms
 * nothing.
 *
 * The flag is the one piece of process-wide state a signal handler can
 * reach; everything else receives a pointer to it through apply_ctx.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;
/* Where the run is (apply_ctx.stop_phase): 0 not begun, 1 its steps, 2
 * closed and being recorded. */
static volatile sig_atomic_t stop_phase;

static void say(const char *s)
{
	ssize_t n = write(STDERR_FILENO, s, strlen(s));

	(void)n;
}

static void on_signal(int sig)
{
	if (stop_signal) {
		if (stop_phase == 0) {
			say("cmsctl: second signal: stopping at once, before the run began; nothing "
			    "was changed\n");
			_exit(EXIT_ERROR);
		}
		if (stop_phase == 2)
			say("cmsctl: second signal: stopping at once, while the run that ended is "
			    "recorded; the state's journal has its end, and the next command that "
			    "writes the history records what is missing there or on its remote "
			    "('cmsctl status' shows what is left)\n");
		else
			say("cmsctl: second signal: stopping at once, in the middle of a step; the "
			    "store's lock and the run's journal are left as they are ('cmsctl status' "
			    "shows them), and 'cmsctl restore' finishes or undoes the run\n");
		_exit(EXIT_INTERRUPTED);
	}
	stop_signal = sig;
	if (stop_phase == 0)
		say("cmsctl: signal received: stopping before the first step (a second signal "
		    "stops at once)\n");
	else if (stop_phase == 2)
		say("cmsctl: signal received: the run has ended; recording it in the history, "
		    "then stopping (a second signal stops at once)\n");
	else
		say("cmsctl: signal received: finishing the step in hand, then stopping (a second "
		    "signal stops at once)\n");
}

volatile sig_atomic_t *cmd_stop_phase(void)
{
	return &stop_phase;
}

const volatile sig_atomic_t *cmd_catch_stop_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	return &stop_signal;
}
