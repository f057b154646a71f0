/*
 * The one place cmsctl starts an operator's program (command.h has the
 * contract).  cmsctl enforces the deadline itself: a program that hangs
 * (a hypervisor API that never answers) is killed with its whole process
 * group, so a fence or a publish never waits longer than its timeout.
 */
#define _GNU_SOURCE
#include "applier/command.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int applier_run_command(char *const argv[], char *const envp[], int64_t timeout_ms,
			const char *what, struct cms_error *err)
{
	int64_t deadline;
	pid_t pid;
	int status = 0, devnull;

	pid = fork();
	if (pid < 0)
		return cms_error_set(err, CMS_ERROR, "cannot run %s '%s': %s", what, argv[0],
				     strerror(errno));
	if (pid == 0) {
		/* The child: its output goes to our stderr (chatter), never stdout. */
		devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(2, 1);
		setpgid(0, 0);
		/* The program starts as from a shell: SIGPIPE at its default
		 * (an ignored SIGPIPE survives execve, and a plan set's parent
		 * ignores it for itself), no signal blocked. */
		{
			sigset_t none;

			signal(SIGPIPE, SIG_DFL);
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no window where a kill of the group misses it */
	deadline = cms_monotonic_ms() + timeout_ms;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			kill(-pid, SIGKILL);
			return cms_error_set(err, CMS_ERROR, "cannot wait for %s '%s': %s", what,
					     argv[0], strerror(errno));
		}
		if (cms_monotonic_ms() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return cms_error_set(err, CMS_ERROR, "%s '%s' did not finish within %" PRId64
					     " ms and was killed", what, argv[0], timeout_ms);
		}
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return cms_error_set(err, CMS_ERROR, "%s '%s' could not be started (exit 127)", what,
				     argv[0]);
	if (WIFEXITED(status))
		return cms_error_set(err, CMS_ERROR, "%s '%s' failed with exit %d", what, argv[0],
				     WEXITSTATUS(status));
	return cms_error_set(err, CMS_ERROR, "%s '%s' was killed by signal %d", what, argv[0],
			     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
