/*
 * Plan sets: many stores in one run, for the day a site is lost and every
 * store whose primary lived there must move at once.
 *
 * `plan --all -o FOLDER` writes one plan file per store that has changes,
 * FOLDER/STORE.json, each its own plan with its own id, committed to the
 * history like any plan (so each is approved on its own).  `apply FOLDER`
 * applies every plan of the set, up to --parallel at a time, each in a
 * child process of its own: its own lock, steps, report and history commit
 * (the history's ref update is compare-and-swap, so concurrent commits are
 * serialised without losing one), and nothing one store does -- failing,
 * being refused, crashing -- can stop or roll back another.  The parent
 * only reads the plans' store names, starts the children, relays their
 * output line by line prefixed with the store's name (the progress of each
 * store), and prints the summary.
 */
#include "cmd/cmd.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "common/dynlib.h"
#include "common/fileio.h"
#include "common/util.h"
#include "planner/config.h"
#include "planner/plan.h"
#include "state/history.h"
#include "state/level.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLANSET_DEFAULT_PARALLEL 4
#define PLANSET_MAX_PARALLEL 64

struct member {
	char *path;                  /* FOLDER/NAME.json */
	char *store;                 /* from the plan, or NULL when unreadable */
	pid_t pid;                   /* 0: not started (or reaped) */
	int out_fd, err_fd, res_fd;  /* the child's stdout, stderr, summary; -1 when closed */
	struct buf out, err, res;    /* partial lines (out: everything with --json) */
	int exit_status;             /* the child's exit status, or -1 */
	char plan_id[41];            /* the plan file's id, or "" when unreadable */
	bool done;
	bool unsummarised;           /* it ended without writing its summary */
	struct cmd_run_summary sum;  /* read back from res */
};

static void pass_pending(void);

static bool is_digit_char(char c)
{
	return c >= '0' && c <= '9';
}

static int cmp_member(const void *x, const void *y)
{
	const struct member *a = x, *b = y;

	return strcmp(a->path, b->path);
}

/* Lists the *.json files of FOLDER (sorted), reading each plan's store.  A folder with
 * two plans of one store is refused before anything runs; one with no plan
 * (plan --all -o of stores without changes) has nothing to apply. */
static int list_set(const char *dir, struct member **out, size_t *n, struct cms_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct member *m = NULL;
	size_t len = 0, alloc = 0, i, j;

	*out = NULL;
	*n = 0;
	if (!d)
		return cms_error_set(err, CMS_ERROR, "cannot read plan set '%s': %s", dir,
				     strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		struct member *x;

		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		x = ARRAY_PUSH(m, len, alloc);
		memset(x, 0, sizeof(*x));
		x->path = xasprintf("%s/%s", dir, de->d_name);
		buf_init(&x->out);
		buf_init(&x->err);
		buf_init(&x->res);
		x->out_fd = x->err_fd = x->res_fd = -1;
		x->exit_status = -1;
	}
	closedir(d);
	if (len == 0)
		return 0; /* no store had changes: nothing to apply */
	qsort(m, len, sizeof(*m), cmp_member);
	for (i = 0; i < len; i++) {
		struct cms_error ignored = CMS_ERROR_INIT;
		struct plan *p = NULL;
		char *data = NULL;
		size_t dlen = 0;

		/* The child checks everything; here only the store is needed. */
		if (cms_read_file(&data, &dlen, m[i].path, 4 << 20, &ignored) == 0 &&
		    plan_from_json(&p, data, dlen, m[i].path, &ignored) == 0) {
			m[i].store = xstrdup(p->store);
			history_blob_id(data, dlen, m[i].plan_id);
		}
		plan_free(p);
		free(data);
		cms_error_clear(&ignored);
		for (j = 0; m[i].store && j < i; j++) {
			if (m[j].store && !strcmp(m[j].store, m[i].store)) {
				cms_error_set(err, CMS_EUSAGE, "plan set '%s' has two plans of store "
					      "'%s': '%s' and '%s'", dir, m[i].store, m[j].path,
					      m[i].path);
				*out = m;
				*n = i + 1;
				return CMS_EUSAGE;
			}
		}
	}
	*out = m;
	*n = len;
	return 0;
}

static void free_set(struct member *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(m[i].path);
		free(m[i].store);
		buf_free(&m[i].out);
		buf_free(&m[i].err);
		buf_free(&m[i].res);
	}
	free(m);
}

static const char *member_name(const struct member *m)
{
	const char *slash;

	if (m->store)
		return m->store;
	slash = strrchr(m->path, '/');
	return slash ? slash + 1 : m->path;
}

/* Writes all of data to fd; errors are ignored (the terminal went away).
 * A signal that interrupts the write is passed on at once. */
static void write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR) {
			pass_pending();
			continue;
		}
		if (w <= 0)
			return;
		data += w;
		len -= (size_t)w;
	}
}

/* Relays the complete lines of b to fd, each prefixed "STORE: "; with
 * flush, the partial last line too. */
static void relay_lines(const struct member *m, struct buf *b, int fd, bool flush)
{
	size_t start = 0;
	struct buf line = BUF_INIT;

	while (start < b->len) {
		char *nl = memchr(b->ptr + start, '\n', b->len - start);
		size_t end = nl ? (size_t)(nl - b->ptr) + 1 : b->len;

		if (!nl && !flush)
			break;
		buf_reset(&line);
		/* The name comes from a plan file or its file name, the line
		 * from a child: neither may forge a line or steer a terminal. */
		cmd_escape_controls(&line, member_name(m), strlen(member_name(m)), false);
		buf_adds(&line, ": ");
		cmd_escape_controls(&line, b->ptr + start, end - start - (nl ? 1 : 0), false);
		buf_addch(&line, '\n');
		write_all(fd, line.ptr, line.len);
		start = end;
	}
	buf_free(&line);
	if (start) {
		memmove(b->ptr, b->ptr + start, b->len - start);
		buf_setlen(b, b->len - start);
	}
}

/* Writes the summary of one run for the parent: "key value" lines. */
static void write_summary(int fd, const struct cmd_run_summary *s, int rc)
{
	struct buf b = BUF_INIT;
	char *msg = xstrdup(s->message), *nl;

	while ((nl = strchr(msg, '\n')) != NULL)
		*nl = ' ';
	buf_addf(&b, "exit %d\nstore %s\nplan_id %s\noutcome %s\nrun_id %s\nserial %" PRId64
		 "\nmessage %s\n", rc, s->store, s->plan_id, s->outcome, s->run_id, s->serial, msg);
	write_all(fd, b.ptr, b.len);
	buf_free(&b);
	free(msg);
}

static void read_summary(struct member *m)
{
	char *line = m->res.ptr, *next;

	for (; line && *line; line = next) {
		char *sp;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp++ = '\0';
#define FIELD(name) if (!strcmp(line, #name)) snprintf(m->sum.name, sizeof(m->sum.name), "%s", sp)
		FIELD(store);
		FIELD(plan_id);
		FIELD(outcome);
		FIELD(run_id);
		FIELD(message);
#undef FIELD
		if (!strcmp(line, "serial"))
			m->sum.serial = strtoll(sp, NULL, 10);
	}
}

/* Signals to the set (SIGINT, SIGTERM, SIGHUP): counted here, passed on
 * to the running children by the loop of cmd_apply_set.  Each child has
 * a process group of its own, so a signal to the set's group (Ctrl-C on
 * a terminal, kill -INT -PGID, timeout(1)) reaches the parent only and
 * each child gets it once, from the parent. */
static volatile sig_atomic_t set_signal, set_signals;
static const int set_sigs[] = { SIGINT, SIGTERM, SIGHUP };

/* The set being applied, for passing signals on from wherever the parent
 * waits (its loop, a write to a terminal that does not read). */
static struct {
	struct member *m;
	size_t n, *next, *finished;
	sig_atomic_t passed;
	int first_sig; /* the signal the first pass sent */
} set_now;

static void on_set_signal(int sig)
{
	set_signal = sig;
	set_signals++;
	/* The first two go to the stores; a third ends the set's process at
	 * once (a parent stuck writing to a terminal that reads nothing, say),
	 * leaving each store to what the second told it. */
	if (set_signals >= 3)
		_exit(EXIT_INTERRUPTED);
}


/* Blocks or unblocks the stop signals; with old, the mask before. */
static void block_set_signals(int how, sigset_t *old)
{
	sigset_t ss;
	size_t i;

	sigemptyset(&ss);
	for (i = 0; i < ARRAY_SIZE(set_sigs); i++)
		sigaddset(&ss, set_sigs[i]);
	sigprocmask(how, &ss, old);
}

/* What the parent found before it changed anything, for its children. */
static bool parent_tty;

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* In the child: the single-plan apply, with stdout, stderr and the summary
 * going to the parent's pipes.  Never returns. */
static void run_child(struct cmd_args *a, const struct config *cfg, struct member *m,
		      const char *report_dir, int out_fd, int err_fd, int res_fd)
{
	struct cmd_run_summary sum;
	char *report = NULL;
	size_t i;
	int rc, devnull;

	/* The parent's ends of the other stores' pipes are not this store's
	 * to hold: held here, a store whose parent is gone would get no
	 * EPIPE, only block once its pipe is full, while this one runs. */
	for (i = 0; i < set_now.n; i++) {
		if (&set_now.m[i] == m)
			continue;
		close_fd(&set_now.m[i].out_fd);
		close_fd(&set_now.m[i].err_fd);
		close_fd(&set_now.m[i].res_fd);
	}
	/* Its own process group (see set_signals); its own handlers of the
	 * stop signals, installed while they are blocked (since before the
	 * fork), so none passed on by the parent is lost; no terminal input
	 * (a background process group reading it would be stopped). */
	setpgid(0, 0);
	cmd_catch_stop_signals();
	block_set_signals(SIG_UNBLOCK, NULL);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0 && devnull != STDIN_FILENO) {
		dup2(devnull, STDIN_FILENO);
		close(devnull);
	}
	/* SIGPIPE stays ignored, as the parent set it: the child's output
	 * goes to the parent's pipes, which break only when the parent is
	 * gone (killed with SIGKILL), and a store must not die of that in
	 * the middle of a step (fenced, not promoted): its writes fail, and
	 * it finishes its run, recorded in the state and the history.  The
	 * programs it runs start with SIGPIPE at its default
	 * (applier/command.c).  The progress of a terminal when the
	 * parent's stderr is one (the child's is a pipe). */
	if (parent_tty)
		a->progress = true;
	a->progress_lines = true; /* the set relays whole lines only */
	if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(EXIT_ERROR);
	close(out_fd);
	close(err_fd);
	setvbuf(stdout, NULL, _IOFBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	/* --report FOLDER: FOLDER/STORE.html for this store. */
	for (i = 0; report_dir && i < a->nopts; i++) {
		if (a->opts[i]->id == OPT_REPORT) {
			report = xasprintf("%s/%s.html", report_dir, member_name(m));
			a->values[i] = report;
		}
	}
	memset(&sum, 0, sizeof(sum));
	rc = cmd_apply_saved(a, cfg, m->path, &sum);
	fflush(stdout);
	fflush(stderr);
	write_summary(res_fd, &sum, rc);
	free(report);
	_exit(rc);
}

/* Does, once here, what every child would do again: loads the libraries
 * every child needs (and initialises libgit2, which parses the CA bundle),
 * and opens the state once, which checks a SQLite state's file
 * (quick_check, as long as the whole file): the forked children inherit
 * the libraries and the check of the file as it is now.  A library that
 * does not load, or a state that does not open, is left to each child,
 * which reports it as a single apply would. */
static void preload(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = NULL;

	if (history_git_init(&err) < 0 || cms_lib_odbc_load(&err) < 0 ||
	    cms_lib_sqlite_load(&err) < 0)
		cms_error_clear(&err);
	if (cmd_state_open(a, false, &st, &err) < 0)
		cms_error_clear(&err);
	state_close(st);
}

static int cloexec_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		return -1;
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0) {
		close(fds[0]);
		close(fds[1]);
		fds[0] = fds[1] = -1;
		return -1;
	}
	return 0;
}

static int start_member(struct cmd_args *a, const struct config *cfg, struct member *m,
			const char *report_dir)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, res[2] = { -1, -1 };
	pid_t pid;

	/* Close-on-exec: a publish command a child runs must not inherit
	 * the summary pipe (a daemon holding it would keep the set waiting)
	 * nor the pipes of other stores.  dup2 onto stdout and stderr clears
	 * the flag where it is wanted. */
	if (cloexec_pipe(out) < 0 || cloexec_pipe(err) < 0 || cloexec_pipe(res) < 0)
		goto fail;
	/* The stop signals are blocked across the fork: the child unblocks
	 * them once its own handlers are in place, so none passed on is lost
	 * or taken by the parent's handler in the child. */
	fflush(NULL);
	block_set_signals(SIG_BLOCK, NULL);
	pid = fork();
	if (pid < 0) {
		block_set_signals(SIG_UNBLOCK, NULL);
		goto fail;
	}
	if (pid == 0) {
		close(out[0]);
		close(err[0]);
		close(res[0]);
		run_child(a, cfg, m, report_dir, out[1], err[1], res[1]);
	}
	setpgid(pid, pid); /* also here: no window where the child is in the set's group */
	block_set_signals(SIG_UNBLOCK, NULL);
	close(out[1]);
	close(err[1]);
	close(res[1]);
	m->pid = pid;
	m->out_fd = out[0];
	m->err_fd = err[0];
	m->res_fd = res[0];
	return 0;
fail:
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&res[0]);
	close_fd(&res[1]);
	return -1;
}

/* Reads what x's stdout and stderr hold now, relays it and closes them:
 * x has ended, and whatever still holds them (a program it left running)
 * is not waited for. */
static void drain(struct member *x, bool json)
{
	int *fds[2] = { &x->out_fd, &x->err_fd };
	struct buf *bufs[2] = { &x->out, &x->err };
	int k;

	for (k = 0; k < 2; k++) {
		int avail = 0;

		if (*fds[k] < 0)
			continue;
		if (ioctl(*fds[k], FIONREAD, &avail) < 0)
			avail = 0;
		while (avail > 0) {
			char chunk[8192];
			ssize_t r = read(*fds[k], chunk, (size_t)avail < sizeof(chunk) ?
					 (size_t)avail : sizeof(chunk));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			buf_add(bufs[k], chunk, (size_t)r);
			avail -= (int)r;
		}
		close_fd(fds[k]);
		if (k == 1 || !json)
			relay_lines(x, bufs[k], STDERR_FILENO, true);
	}
}

/* Reads what is ready on the running children's pipes; reaps those that
 * have ended (their summary pipe closed).  Returns the number of
 * children reaped. */
static size_t pump(struct member *m, size_t n, bool json)
{
	struct pollfd *pfd = xcalloc(3 * n + 1, sizeof(*pfd));
	struct { struct member *m; int which; } *who = xcalloc(3 * n + 1, sizeof(*who));
	size_t np = 0, i, reaped = 0;
	int timeout = 200;

	for (i = 0; i < n; i++) {
		int *fds[3] = { &m[i].out_fd, &m[i].err_fd, &m[i].res_fd };
		int k;

		if (!m[i].pid)
			continue;
		for (k = 0; k < 3; k++) {
			if (*fds[k] < 0)
				continue;
			pfd[np].fd = *fds[k];
			pfd[np].events = POLLIN;
			who[np].m = &m[i];
			who[np].which = k;
			np++;
		}
	}
	/* A child whose summary pipe closed has ended (or is ending): look
	 * again soon even if its other pipes stay silent (below). */
	for (i = 0; i < n; i++)
		if (m[i].pid && m[i].res_fd < 0)
			timeout = 10;
	/* A stop signal ends the wait (EINTR); one that came just before it
	 * is seen at the latest when the bounded wait ends. */
	if (np && poll(pfd, np, timeout) > 0) {
		for (i = 0; i < np; i++) {
			struct member *x = who[i].m;
			int *fd = who[i].which == 0 ? &x->out_fd : who[i].which == 1 ? &x->err_fd :
				  &x->res_fd;
			struct buf *b = who[i].which == 0 ? &x->out : who[i].which == 1 ? &x->err :
					&x->res;
			char chunk[8192];
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(*fd, chunk, sizeof(chunk));
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0) {
				buf_add(b, chunk, (size_t)r);
			} else {
				close_fd(fd);
			}
			/* Progress: stderr always, stdout unless it is the JSON report. */
			if (who[i].which == 1)
				relay_lines(x, b, STDERR_FILENO, *fd < 0);
			else if (who[i].which == 0 && !json)
				relay_lines(x, b, STDERR_FILENO, *fd < 0);
		}
	}
	for (i = 0; i < n; i++) {
		int status = 0;
		pid_t w;

		/* The summary pipe is the child's alone (close-on-exec): it
		 * closes when the child ends.  Its stdout and stderr may stay
		 * open in a program it left running (a publish command's
		 * daemon): once the child itself has ended, what they hold is
		 * read and they are closed, and the set goes on. */
		if (!m[i].pid || m[i].res_fd >= 0)
			continue;
		if (m[i].out_fd >= 0 || m[i].err_fd >= 0) {
			w = waitpid(m[i].pid, &status, WNOHANG);
			if (w == 0)
				continue;
			drain(&m[i], json);
		} else {
			w = waitpid(m[i].pid, &status, 0);
		}
		if (w < 0)
			status = EXIT_ERROR << 8;
		m[i].pid = 0;
		m[i].done = true;
		m[i].exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		read_summary(&m[i]);
		/* No summary: the process ended before it could write one (a
		 * crash, or a second signal that stops at once).  Its exit
		 * status says how far it got, and the state what it left
		 * (check_unsummarised). */
		m[i].unsummarised = !*m[i].sum.outcome;
		if (!*m[i].sum.outcome)
			snprintf(m[i].sum.outcome, sizeof(m[i].sum.outcome), "%s",
				 WIFSIGNALED(status) ? "crashed" :
				 m[i].exit_status == EXIT_INTERRUPTED ? "interrupted" :
				 m[i].exit_status == EXIT_ERROR ? "failed" : "refused");
		if (!WIFSIGNALED(status) && !*m[i].sum.message && !*m[i].sum.run_id &&
		    m[i].exit_status != EXIT_OK)
			snprintf(m[i].sum.message, sizeof(m[i].sum.message),
				 "the process applying it ended (exit %d) before it said what it "
				 "left: 'cmsctl status -s %s' shows it", m[i].exit_status,
				 m[i].store ? m[i].store : "STORE");
		if (WIFSIGNALED(status) && !*m[i].sum.message)
			snprintf(m[i].sum.message, sizeof(m[i].sum.message),
				 "the process applying it was killed by signal %d", WTERMSIG(status));
		reaped++;
	}
	free(pfd);
	free(who);
	return reaped;
}

/* The newest apply run of plan_id for store that began at or after
 * since_ms (wall clock: this set's start), into *out; false when there is
 * none (the process died before its run began).  A restore's run carries
 * the plan id of the run it settled, and an older apply of the same plan
 * is another invocation's: neither says what this store's process did. */
static bool set_member_run(struct state *st, const char *store, const char *plan_id,
			   int64_t since_ms, struct run_info *out)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct run_info *runs = NULL;
	size_t nruns = 0, k;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (state_run_list(st, store, &runs, &nruns, &err) < 0) {
		cms_error_clear(&err);
		return false;
	}
	for (k = nruns; k-- > 0 && !found;) {
		int64_t at;

		if (!runs[k].kind || strcmp(runs[k].kind, "apply") || !runs[k].plan_id ||
		    strcmp(runs[k].plan_id, plan_id) || !runs[k].started_at ||
		    cms_parse_time_ms(&at, runs[k].started_at) < 0 || at < since_ms)
			continue;
		*out = runs[k];
		memset(&runs[k], 0, sizeof(runs[k]));
		found = true;
	}
	for (k = 0; k < nruns; k++)
		run_info_free(&runs[k]);
	free(runs);
	return found;
}

/* A store whose process ended without its summary (killed, or stopped
 * at once by a second signal) is looked up in the state, which says what
 * its run did; the state (and the history) are opened only when some
 * store ended so.  A run left unfinished (fenced, or promoted and not
 * recorded) needs 'cmsctl restore' whatever killed the process: the
 * store is interrupted (6), as a single apply that stops after its change
 * began.  A run that ended (before the process did, or since, by someone's
 * restore) is reported with its outcome; one that moved the store (ok, or
 * restored) but whose record the history lacks, or cannot be read to
 * confirm, is 6, as a single apply whose run cannot be recorded. */
static void check_unsummarised(struct cmd_args *a, struct member *m, size_t n, int64_t since_ms)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct state *st = NULL;
	struct history *h = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		struct run_info ri;
		struct recorded rec;
		struct cms_strv pending = CMS_STRV_INIT;
		const char *s = m[i].store;
		char how[96];
		bool unrecorded, known, ok;

		if (!m[i].unsummarised || !s || !*m[i].plan_id)
			continue;
		if (!st && cmd_state_open(a, false, &st, &err) < 0)
			break;
		if (!set_member_run(st, s, m[i].plan_id, since_ms, &ri))
			continue;
		memset(&rec, 0, sizeof(rec));
		if (state_read_store(st, s, &rec, &err) < 0)
			cms_error_clear(&err);
		m[i].sum.serial = rec.serial;
		recorded_free(&rec);
		if (m[i].exit_status > 128)
			snprintf(how, sizeof(how), "was killed by signal %d", m[i].exit_status - 128);
		else
			snprintf(how, sizeof(how), "ended (exit %d)", m[i].exit_status);
		snprintf(m[i].sum.plan_id, sizeof(m[i].sum.plan_id), "%s", m[i].plan_id);
		snprintf(m[i].sum.run_id, sizeof(m[i].sum.run_id), "%s", ri.id);
		if (!strcmp(ri.outcome, run_outcome_name(RUN_RUNNING))) {
			m[i].exit_status = EXIT_INTERRUPTED;
			snprintf(m[i].sum.outcome, sizeof(m[i].sum.outcome), "interrupted");
			snprintf(m[i].sum.message, sizeof(m[i].sum.message),
				 "the process applying it %s in the middle of run %s, which is left "
				 "unfinished: 'cmsctl status -s %s' shows what it left, 'cmsctl restore "
				 "-s %s' finishes or undoes it", how, ri.id, s, s);
			run_info_free(&ri);
			continue;
		}
		/* The run ended in the state: before the process did, or
		 * settled since by someone's restore.  A successful run is 0
		 * only when the history is known to hold its record. */
		known = false;
		if (!h && cmd_open_history(a, &h, &err) < 0)
			cms_error_clear(&err);
		if (h && level_pending(h, st, s, &pending, &err) == 0)
			known = true;
		cms_error_clear(&err);
		unrecorded = known && cms_strv_contains(&pending, ri.id);
		cms_strv_free(&pending);
		/* restored: finished by someone's restore, the store moved. */
		ok = !strcmp(ri.outcome, run_outcome_name(RUN_OK)) ||
		     !strcmp(ri.outcome, run_outcome_name(RUN_RESTORED));
		snprintf(m[i].sum.outcome, sizeof(m[i].sum.outcome), "%s", ri.outcome);
		m[i].exit_status = !ok ? EXIT_ERROR : unrecorded || !known ? EXIT_INTERRUPTED : EXIT_OK;
		snprintf(m[i].sum.message, sizeof(m[i].sum.message),
			 "the process applying it %s; its run %s is %s in the state%s", how, ri.id,
			 ri.outcome, !ok ? "" : unrecorded ? ", and the history lacks it: the next "
			 "apply, restore, approve or plan -o records it from the journal"
			 : !known ? ", and the history could not be read to check its record: "
			 "'cmsctl audit verify' says whether it holds it" : "");
		run_info_free(&ri);
	}
	cms_error_clear(&err);
	history_close(h);
	state_close(st);
}

/* The statuses a store's apply can end with, in the order of how much
 * the store needs attention: interrupted (6), error (1), refused (7),
 * locked (4), stale (3), declined (5), usage (64). */
static const int status_order[] = { EXIT_INTERRUPTED, EXIT_ERROR, EXIT_REFUSED, EXIT_LOCKED,
				     EXIT_STALE, EXIT_DECLINED, EXIT_USAGE };

/* A store's exit status as the contract has it: a process that crashed
 * (killed by a signal) or ended with a status outside the contract counts
 * as an error (1), unless the state says what its run did
 * (check_unsummarised); its message says what happened. */
static int member_status(const struct member *m)
{
	size_t k;

	if (m->exit_status == EXIT_OK)
		return EXIT_OK;
	for (k = 0; k < ARRAY_SIZE(status_order); k++)
		if (m->exit_status == status_order[k])
			return m->exit_status;
	return EXIT_ERROR;
}

/* The set's exit status: 0 when every store ended well (applied, or
 * nothing to do); otherwise the status of the store that most needs
 * attention (status_order). */
static int set_exit_status(const struct member *m, size_t n)
{
	size_t i, k;

	for (k = 0; k < ARRAY_SIZE(status_order); k++)
		for (i = 0; i < n; i++)
			if (member_status(&m[i]) == status_order[k])
				return status_order[k];
	return EXIT_OK;
}

/* A JSON string of s, whose bytes that are not UTF-8 (a file name) are
 * written as \xNN. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	struct buf b = BUF_INIT;
	const unsigned char *p;

	if (j)
		return j;
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x80)
			buf_addch(&b, (char)*p);
		else
			buf_addf(&b, "\\x%02X", *p);
	}
	j = json_string(b.ptr ? b.ptr : "");
	buf_free(&b);
	return j;
}

static int print_summary(struct cmd_args *a, const struct member *m, size_t n, int rc,
			 struct cms_error *err)
{
	struct buf out = BUF_INIT;
	size_t i, nok = 0;
	int wrc;

	for (i = 0; i < n; i++)
		if (member_status(&m[i]) == EXIT_OK)
			nok++;
	if (a->json) {
		json_t *doc = json_object(), *arr = json_array();
		char *text;

		for (i = 0; i < n; i++) {
			json_t *o = json_object(), *report = NULL;

			json_object_set_new(o, "store", json_text(member_name(&m[i])));
			json_object_set_new(o, "plan_file", json_text(m[i].path));
			json_object_set_new(o, "plan_id", *m[i].sum.plan_id ?
					    json_text(m[i].sum.plan_id) : json_null());
			json_object_set_new(o, "outcome", json_text(m[i].sum.outcome));
			json_object_set_new(o, "exit_status", json_integer(member_status(&m[i])));
			json_object_set_new(o, "run_id", *m[i].sum.run_id ?
					    json_text(m[i].sum.run_id) : json_null());
			json_object_set_new(o, "message", *m[i].sum.message ?
					    json_text(m[i].sum.message) : json_null());
			if (m[i].out.len)
				report = json_loadb(m[i].out.ptr, m[i].out.len, 0, NULL);
			json_object_set_new(o, "report", report ? report : json_null());
			json_array_append_new(arr, o);
		}
		json_object_set_new(doc, "stores", arr);
		json_object_set_new(doc, "applied", json_integer((json_int_t)nok));
		json_object_set_new(doc, "failed", json_integer((json_int_t)(n - nok)));
		json_object_set_new(doc, "exit_status", json_integer(rc));
		text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		buf_adds(&out, text);
		buf_addch(&out, '\n');
		free(text);
		json_decref(doc);
	} else {
		buf_addf(&out, "plan set: %zu store%s, %zu ok, %zu not\n", n, n == 1 ? "" : "s", nok,
			 n - nok);
		for (i = 0; i < n; i++) {
			const struct cmd_run_summary *s = &m[i].sum;

			buf_adds(&out, "  ");
			cmd_escape_controls(&out, member_name(&m[i]), strlen(member_name(&m[i])), false);
			buf_addf(&out, ": %s", s->outcome);
			if (*s->run_id)
				buf_addf(&out, ", run %s, serial %" PRId64, s->run_id, s->serial);
			if (member_status(&m[i]) != EXIT_OK) {
				buf_addf(&out, " (exit %d)%s", member_status(&m[i]), *s->message ? ": " : "");
				cmd_escape_controls(&out, s->message, strlen(s->message), false);
			}
			buf_addch(&out, '\n');
		}
	}
	wrc = cmd_write_stdout(out.ptr, out.len, err);
	buf_free(&out);
	return wrc;
}

/* Passes each signal that came on to every running child, and says what
 * that does: the first time, each finishes its step in hand and stops, as
 * a single apply does, and the stores not started never start; the second
 * time, each stops at once. */
static void pass_pending(void)
{
	struct member *m = set_now.m;
	size_t i, nrun, n = set_now.n;

	while (m && set_now.passed < set_signals && set_now.passed < 2) {
		int sig = set_signal;
		bool first = set_now.passed++ == 0;

		/* Two of one signal sent back to back reach a child as one (a
		 * pending signal is not queued twice): the second pass sends
		 * another stop signal than the first, which a child counts as
		 * its second all the same. */
		if (first)
			set_now.first_sig = sig;
		else if (sig == set_now.first_sig)
			sig = sig == SIGTERM ? SIGINT : SIGTERM;

		nrun = 0;
		for (i = 0; i < n; i++)
			if (m[i].pid) {
				kill(m[i].pid, sig);
				nrun++;
			}
		if (first) {
			size_t left = n - *set_now.next;

			/* The stores not started yet never start. */
			for (; *set_now.next < n; (*set_now.next)++, (*set_now.finished)++) {
				struct member *x = &m[*set_now.next];

				x->done = true;
				x->exit_status = EXIT_ERROR;
				snprintf(x->sum.outcome, sizeof(x->sum.outcome), "not started");
				snprintf(x->sum.message, sizeof(x->sum.message),
					 "the set was stopped by signal %d before this store started", sig);
			}
			cmd_note("signal %d received: passed on to the %zu store%s being applied (each "
				 "finishes its step in hand, then stops); the %zu not started yet will "
				 "not start (a second signal stops the stores at once, a third ends this "
				 "process)", sig, nrun, nrun == 1 ? "" : "s", left);
		} else {
			cmd_note("second signal: passed on to the %zu store%s still running, which stop "
				 "at once ('cmsctl status' shows what each leaves)", nrun,
				 nrun == 1 ? "" : "s");
		}
	}
}

int cmd_apply_set(struct cmd_args *a, const struct config *cfg, const char *dir)
{
	struct cms_error err = CMS_ERROR_INIT;
	const char *par = cmd_opt_value(a, OPT_PARALLEL), *report_dir = cmd_opt_value(a, OPT_REPORT);
	struct member *m = NULL;
	size_t n = 0, next = 0, running = 0, finished = 0;
	long parallel = PLANSET_DEFAULT_PARALLEL;
	struct stat stbuf;
	int64_t set_started_ms = 0; /* wall clock, for check_unsummarised */
	int rc;

	if (par) {
		char *end;

		errno = 0;
		parallel = strtol(par, &end, 10);
		if (errno || !is_digit_char(*par) || *end || parallel < 1 ||
		    parallel > PLANSET_MAX_PARALLEL)
			return cmd_usage_error(a->cmd, "--parallel takes a number from 1 to %d, not '%s'",
					       PLANSET_MAX_PARALLEL, par);
	}
	if (cmd_opt_value(a, OPT_STORE))
		return cmd_usage_error(a->cmd, "-s does not go with a plan set: it applies the plan "
				       "of every store in it");
	if (report_dir && (stat(report_dir, &stbuf) < 0 || !S_ISDIR(stbuf.st_mode))) {
		cms_error_set(&err, CMS_EUSAGE, "with a plan set, --report names an existing folder "
			      "(one STORE.html per store): '%s' is not one", report_dir);
		rc = cmd_fail(&err);
		goto done;
	}
	if (list_set(dir, &m, &n, &err) < 0) {
		rc = cmd_fail(&err);
		goto done;
	}
	if (n == 0) {
		/* As Terraform applies a plan without changes: done, nothing
		 * changed.  The summary says so too. */
		cmd_note("plan set '%s' has no plan (no *.json file): nothing to apply (a set made "
			 "by 'plan --all -o' of stores without changes is empty)", dir);
		rc = print_summary(a, m, 0, EXIT_OK, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
		goto done;
	}
	/* A broken pipe on the terminal must not kill the summary's writer
	 * while children still run. */
	signal(SIGPIPE, SIG_IGN);
	parent_tty = isatty(STDERR_FILENO);
	preload(a);
	{
		struct sigaction sa;
		size_t i;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_set_signal; /* no SA_RESTART: poll returns */
		sigemptyset(&sa.sa_mask);
		set_now.m = m;
		set_now.n = n;
		set_now.next = &next;
		set_now.finished = &finished;
		for (i = 0; i < ARRAY_SIZE(set_sigs); i++)
			sigaction(set_sigs[i], &sa, NULL);
	}
	cmd_note("applying %zu plan%s of '%s', up to %ld at once", n, n == 1 ? "" : "s", dir,
		 parallel);
	if (cms_now_ms(&set_started_ms) < 0)
		set_started_ms = 0;
	while (finished < n) {
		size_t reaped;

		pass_pending();
		while (running < (size_t)parallel && next < n) {
			/* A signal taken during the last start (blocked across its
			 * fork) stops the stores not started yet here, not after
			 * the whole batch started. */
			pass_pending();
			if (next >= n)
				break;
			if (start_member(a, cfg, &m[next], report_dir) < 0) {
				m[next].done = true;
				m[next].exit_status = EXIT_ERROR;
				snprintf(m[next].sum.outcome, sizeof(m[next].sum.outcome), "not started");
				snprintf(m[next].sum.message, sizeof(m[next].sum.message),
					 "cannot start a process for it: %s", strerror(errno));
				finished++;
			} else {
				running++;
			}
			next++;
		}
		if (!running)
			continue;
		reaped = pump(m, n, a->json);
		running -= reaped;
		finished += reaped;
	}
	set_now.m = NULL; /* no store left to pass a signal on to */
	check_unsummarised(a, m, n, set_started_ms);
	rc = set_exit_status(m, n);
	if (print_summary(a, m, n, rc, &err) < 0) {
		/* As a single apply whose result cannot be printed: a set that
		 * changed something ends 6 (what it did is in the state and the
		 * history), one that did not ends 1; a store's own worse
		 * status stands. */
		bool ran = false;
		size_t i;
		int frc;

		for (i = 0; i < n; i++)
			if (*m[i].sum.run_id)
				ran = true;
		if (rc == EXIT_OK && ran)
			err.code = CMS_EINTERRUPTED;
		frc = cmd_fail(&err);
		if (rc == EXIT_OK)
			rc = frc;
	}
done:
	free_set(m, n);
	cms_error_clear(&err);
	return rc;
}
