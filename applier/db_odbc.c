/*
 * The production database session: unixODBC.
 *
 * One environment and one connection handle per session, opened with
 * SQLDriverConnect and SQL_DRIVER_NOPROMPT (cmsctl never asks a person for
 * anything through a driver).  Every connection gets a login timeout and a
 * connection timeout, every statement a query timeout, in whole seconds
 * rounded up and never 0 (0 means "wait forever" in ODBC).
 *
 * Results are fetched completely, every column as a string through
 * SQLGetData in chunks, so that long values are never silently cut and SQL
 * NULL stays distinguishable from "".  Extra result sets are drained and
 * ignored, but an error reported while draining them (a failing statement
 * late in a batch) fails the statement.
 *
 * Deadlines are cmsctl's own, never only the driver's or the server's
 * (psqlODBC turns the query timeout into the server-side statement_timeout,
 * which a frozen server never applies): every call that can wait on a
 * server (connect, a statement with its rows, a transaction boundary,
 * disconnect) runs under a watchdog thread.  At the call's deadline --
 * its timeout plus a short grace, capped by db->deadline_ms -- the
 * watchdog shuts down the session's sockets (the ones its connect
 * opened: "Which sockets a connect opened" below), with
 * SO_LINGER 0 so that their close discards what was not delivered.  shutdown(2)
 * wakes a recv or poll blocked in the driver at once, where SQLCancel
 * would itself wait on the frozen server; the call returns an error and
 * the session is marked cut, so nothing else waits on it.  The call stays
 * on the calling thread: the watchdog touches no ODBC handle.
 *
 * Connect is the exception: it can wait outside any socket of the session
 * (a host name whose DNS server never answers: glibc's resolver polls a
 * UDP socket of its own, and spins rather than returns when that socket
 * is shut down).  So SQLDriverConnect runs on a worker thread while the
 * calling thread keeps the deadline: at the deadline it cuts the new
 * stream sockets (a frozen postmaster), waits a short grace for the
 * driver to return, and otherwise abandons the attempt: the worker, once
 * the driver returns, disconnects and frees the handles and the
 * connection string itself.  unixODBC holds no process-wide lock during
 * a driver's connect unless the driver's odbcinst.ini entry asks for
 * Threading=3.
 *
 * A session to a file on this machine (db_connect_odbc_file: the sqlite
 * engine's databases) has no socket to cut: it connects and runs on the
 * calling thread, without worker or watchdog, its waits bounded by the
 * driver's busy timeout, so that a plan set's child for a sqlite store
 * makes no thread (each thread of a forked child made every copy-on-write
 * fault a TLB shootdown on the other core).
 *
 * Secrets: the password is appended to the connection string only for the
 * SQLDriverConnect call, wiped from memory right after, and scrubbed from
 * every diagnostic (drivers sometimes echo the connection string in their
 * messages), as is any PWD= value that might appear in one.
 */
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NODELETE */
#include "applier/db.h"
#include "common/buf.h"
#include "common/strv.h"
#include "common/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sql.h>
#include <sqlext.h>

#include "common/lib_odbc.h"

/* Upper bound on one fetched value: the statements cmsctl sends return
 * small values; anything bigger is a broken or hostile server. */
#define ODBC_MAX_CELL (16u * 1024u * 1024u)
/* At most this many diagnostic records are gathered per failure. */
#define ODBC_MAX_DIAG 16
/* How long past a call's own timeout cmsctl waits before cutting the
 * session: a server that still answers reports its own timeout first. */
#define ODBC_CUT_GRACE_MS 500
/* How long past a connect's deadline (and its cut) the calling thread
 * waits for the driver to return before it abandons the attempt. */
#define ODBC_ABANDON_GRACE_MS 500

/* A socket of this process: its descriptor and inode. */
struct odbc_sock {
	int fd;
	unsigned long ino;
};

struct odbc_socks {
	struct odbc_sock *v;
	size_t n, alloc;
};

struct db_odbc {
	struct db base;          /* first: a struct db * is a struct db_odbc * */
	SQLHENV env;
	SQLHDBC dbc;
	int connected;           /* SQLDriverConnect succeeded: disconnect on close */
	SQLULEN query_timeout_s; /* for SQL_ATTR_QUERY_TIMEOUT, >= 1 */
	int64_t login_timeout_ms; /* the deadline of connect and disconnect */
	int64_t query_timeout_ms; /* the deadline of each statement */
	struct odbc_socks socks; /* the session's sockets, cut at a deadline */
	bool cut;                /* a deadline passed: the session is dead */
	bool file;               /* a file on this machine (db_connect_odbc_file) */
	bool psql;               /* psqlODBC's: counted in psql_open (below) */
};

/* ---- deadlines ----------------------------------------------------------- */

/* Every socket of this process, from /proc/self/fd (the links only: an
 * fstat() of a file on a hung network mount would hang).  Used where the
 * connects are not recorded (see below). */
static void odbc_socks_of_process(struct odbc_socks *out)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	out->n = 0;
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[64], link[64], *end;
		unsigned long ino;
		ssize_t len;
		long fd;

		fd = strtol(de->d_name, &end, 10);
		if (*end || end == de->d_name || fd < 0 || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		array_grow(&out->v, &out->alloc, out->n + 1, sizeof(*out->v));
		out->v[out->n].fd = (int)fd;
		out->v[out->n].ino = ino;
		out->n++;
	}
	closedir(d);
}

static bool odbc_socks_has(const struct odbc_socks *s, const struct odbc_sock *k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].fd == k->fd && s->v[i].ino == k->ino)
			return true;
	return false;
}

/* A condition variable whose timed waits count on CLOCK_MONOTONIC. */
static void monotonic_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/*
 * Connects take turns until they reach the network.  unixODBC 2.3.11
 * (Debian 12) reads odbcinst.ini and odbc.ini, and loads the driver, in
 * ways that are not safe on two threads at once (fixed upstream in
 * 2.3.13): a connect that read at the same time as another could find no
 * entry for its driver and fail with "Can't open lib 'PostgreSQL Unicode'
 * : file not found", as if the driver were not installed.  psqlODBC reads
 * its settings the same way.  All of that comes before the driver's first
 * name lookup (getaddrinfo) or connect(2), which cmsctl sees (both are
 * defined below): a connect holds ini_gate while it makes its handles
 * (the driver manager reads its settings then too), and again, on the
 * thread that runs SQLDriverConnect, from that call until then, so those
 * reads take turns while the network waits, the long part, still
 * overlap.  A connect waits for the gate up to its own login timeout, the
 * second time within the connect's deadline (a holder stuck before the network
 * should not happen: past that, the waiter goes on without the gate
 * rather than fail), and stops waiting when it is cancelled.
 */
#define ODBC_INI_GATE_LOOK_MS 10 /* how often a waiter looks at its cancel flag */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool busy;
} ini_gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };
static pthread_once_t ini_gate_once = PTHREAD_ONCE_INIT;
/* This thread holds the gate (a connect's worker, in the driver). */
static _Thread_local bool ini_gate_held;

/* Also in a child of fork(): the gate's holder, a thread of the parent,
 * is not there. */
static void ini_gate_reset(void)
{
	pthread_mutex_init(&ini_gate.mu, NULL);
	monotonic_cond_init(&ini_gate.cv);
	ini_gate.busy = false;
	ini_gate_held = false;
}

static void ini_gate_init(void)
{
	ini_gate_reset();
	pthread_atfork(NULL, NULL, ini_gate_reset);
}

/* Takes the gate (a token rather than a lock: a connect's worker gives it
 * back at its first getaddrinfo or connect); false when it was not free
 * within wait_ms or cancel was raised. */
static bool ini_gate_take(const atomic_int *cancel, int64_t wait_ms)
{
	int64_t until = cms_monotonic_ms() + wait_ms;
	bool got = false;

	pthread_once(&ini_gate_once, ini_gate_init);
	pthread_mutex_lock(&ini_gate.mu);
	for (;;) {
		struct timespec ts;
		int64_t now = cms_monotonic_ms(), step;

		if (!ini_gate.busy) {
			ini_gate.busy = true;
			got = true;
			break;
		}
		if (now >= until || (cancel && atomic_load(cancel)))
			break;
		step = until - now < ODBC_INI_GATE_LOOK_MS ? until - now : ODBC_INI_GATE_LOOK_MS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)step * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&ini_gate.cv, &ini_gate.mu, &ts);
	}
	pthread_mutex_unlock(&ini_gate.mu);
	return got;
}

static void ini_gate_give_back(void)
{
	pthread_mutex_lock(&ini_gate.mu);
	ini_gate.busy = false;
	pthread_cond_broadcast(&ini_gate.cv);
	pthread_mutex_unlock(&ini_gate.mu);
}

/* Gives the gate back if this thread holds it. */
static void ini_gate_leave(void)
{
	if (ini_gate_held) {
		ini_gate_held = false;
		ini_gate_give_back();
	}
}

static int (*libc_getaddrinfo)(const char *, const char *, const struct addrinfo *,
			       struct addrinfo **);
static pthread_once_t libc_getaddrinfo_once = PTHREAD_ONCE_INIT;

static void libc_getaddrinfo_init(void)
{
	*(void **)&libc_getaddrinfo = dlsym(RTLD_NEXT, "getaddrinfo");
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	ini_gate_leave();
	pthread_once(&libc_getaddrinfo_once, libc_getaddrinfo_init);
	if (!libc_getaddrinfo) {
		errno = ENOSYS;
		return EAI_SYSTEM;
	}
	return libc_getaddrinfo(node, service, hints, res);
}

/*
 * Which sockets a connect opened.  cmsctl defines connect(2) itself and
 * exports it (the link option in CMakeLists.txt), so the drivers' calls
 * (libpq's, FreeTDS's) come here first: a thread that connects a session
 * records, in its own list, each socket it connects, then the call goes
 * on to the C library's connect.  Connects on several threads at once
 * then each know their own sockets.  glibc's name lookups connect through
 * an internal entry and are never recorded (a cut resolver socket makes
 * the resolver spin).  Where the symbol is not exported (rec_works() is
 * false) the sockets are found as before, by what appeared in
 * /proc/self/fd while the session connected, and connects take turns.
 */
static _Thread_local struct odbc_socks *rec_to;  /* this thread's list, while connecting */
static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER; /* guards every list */
static int (*libc_connect)(int, __CONST_SOCKADDR_ARG, socklen_t);
static pthread_once_t libc_connect_once = PTHREAD_ONCE_INIT;

static void libc_connect_init(void)
{
	*(void **)&libc_connect = dlsym(RTLD_NEXT, "connect");
}

int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	struct odbc_socks *to = rec_to;
	struct stat sb;

	ini_gate_leave();
	pthread_once(&libc_connect_once, libc_connect_init);
	if (to && fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
		pthread_mutex_lock(&rec_mu);
		array_grow(&to->v, &to->alloc, to->n + 1, sizeof(*to->v));
		to->v[to->n].fd = fd;
		to->v[to->n].ino = (unsigned long)sb.st_ino;
		to->n++;
		pthread_mutex_unlock(&rec_mu);
	}
	if (!libc_connect) {
		errno = ENOSYS;
		return -1;
	}
	return libc_connect(fd, addr, len);
}

static bool rec_active;
static pthread_once_t rec_once = PTHREAD_ONCE_INIT;

static void rec_init(void)
{
	rec_active = dlsym(RTLD_DEFAULT, "connect") == (void *)connect;
}

/* True when the drivers' connect() calls reach the one above. */
static bool rec_works(void)
{
	pthread_once(&rec_once, rec_init);
	return rec_active;
}

/* A copy of a list that a connecting thread may still be adding to. */
static void socks_copy(const struct odbc_socks *src, struct odbc_socks *dst)
{
	dst->n = 0;
	pthread_mutex_lock(&rec_mu);
	if (src->n) {
		array_grow(&dst->v, &dst->alloc, src->n, sizeof(*dst->v));
		memcpy(dst->v, src->v, src->n * sizeof(*src->v));
		dst->n = src->n;
	}
	pthread_mutex_unlock(&rec_mu);
}

/* Descriptor fd is still socket k (the driver may have closed it, and
 * the number gone to another session's socket). */
static bool still_sock(const struct odbc_sock *k)
{
	struct stat sb;

	return fstat(k->fd, &sb) == 0 && S_ISSOCK(sb.st_mode) && (unsigned long)sb.st_ino == k->ino;
}

/* A watchdog over one call: an entry in the list of the process's one
 * watchdog thread (below), which cuts the call's sockets at its
 * deadline. */
struct odbc_guard {
	struct odbc_guard *next;
	int64_t deadline_ms;             /* cms_monotonic_ms() */
	bool running, fired;
	bool idle;                       /* nothing to cut: no watchdog */
	const struct odbc_socks *cut;    /* these sockets, or */
	const struct odbc_socks *before; /* every socket not among these */
};

/* A stream (TCP or unix) socket: a session's.  A datagram socket that
 * appeared during a connect is a resolver's, which a shutdown would make
 * spin instead of return (see the top of this file). */
static bool is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* Wakes whatever waits on fd, and makes the driver's later close reset
 * the connection (SO_LINGER 0) instead of leaving the kernel to retransmit
 * what was still queued -- a statement sent into a partition -- for
 * minutes, to be run by the server once the partition heals. */
static void cut_socket(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	shutdown(fd, SHUT_RDWR);
}

/* Cuts the call's sockets; how many it cut.  A session with none (a
 * driver that reads files, as the SQLite one) has nothing to cut: its
 * call returns on its own, with its own result. */
static size_t guard_cut(struct odbc_guard *g)
{
	struct odbc_socks now = { NULL, 0, 0 };
	size_t i, n = 0;

	if (g->cut) {
		/* Only a descriptor that is still the same socket: one the
		 * driver closed may now be another session's. */
		socks_copy(g->cut, &now);
		for (i = 0; i < now.n; i++)
			if (still_sock(&now.v[i]) && is_stream(now.v[i].fd)) {
				cut_socket(now.v[i].fd);
				n++;
			}
		free(now.v);
		return n;
	}
	odbc_socks_of_process(&now);
	for (i = 0; i < now.n; i++)
		if (!odbc_socks_has(g->before, &now.v[i]) && is_stream(now.v[i].fd)) {
			cut_socket(now.v[i].fd);
			n++;
		}
	free(now.v);
	return n;
}

/*
 * The watchdog thread: one per process, started by the first guarded call
 * and kept (a thread per call cost a clone, a stack and, on exit, a TLB
 * shootdown on every core: most of a sqlite store's apply).  It sleeps
 * until the earliest deadline among the guards in its list, or until one
 * is added; a guard whose deadline passed is cut and taken off the list.
 * Cuts happen with the list's lock held, so once guard_stop() has taken
 * a guard off, no cut of it is under way.  A child of fork() has no
 * thread: it starts its own (wd_atfork_child).
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct odbc_guard *list;
	int64_t until;  /* the thread sleeps until then (INT64_MAX: a signal) */
	bool started;   /* the thread runs (in this process) */
} wd = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, INT64_MAX, false };
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

static void *wd_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wd.mu);
	for (;;) {
		int64_t now = cms_monotonic_ms(), next = INT64_MAX;
		struct odbc_guard **pp = &wd.list, *g;
		struct timespec ts;

		while ((g = *pp) != NULL) {
			if (now >= g->deadline_ms) {
				*pp = g->next;
				g->fired = guard_cut(g) > 0;
				continue;
			}
			if (g->deadline_ms < next)
				next = g->deadline_ms;
			pp = &g->next;
		}
		wd.until = next;
		if (next == INT64_MAX) {
			pthread_cond_wait(&wd.cv, &wd.mu);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&wd.cv, &wd.mu, &ts);
	}
	return NULL;
}

/* In a child of fork(): the parent's thread is not there, nor are its
 * calls; the lock may have been held by a thread that is not there
 * either. */
static void wd_atfork_child(void)
{
	pthread_mutex_init(&wd.mu, NULL);
	monotonic_cond_init(&wd.cv);
	wd.list = NULL;
	wd.until = INT64_MAX;
	wd.started = false;
}

static void wd_init(void)
{
	wd_atfork_child(); /* the same: a monotonic condition variable */
	pthread_atfork(NULL, NULL, wd_atfork_child);
}

/* With wd.mu held: the thread runs, or could not be made now (the next
 * guarded call tries again). */
static bool wd_start(void)
{
	sigset_t all, old;
	pthread_attr_t ta;
	pthread_t th;

	if (wd.started)
		return true;
	/* Signals stay with the calling threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	wd.started = pthread_create(&th, &ta, wd_main, NULL) == 0;
	pthread_attr_destroy(&ta);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return wd.started;
}

/* The deadline of a call with its own timeout, capped by the db's. */
static int64_t call_deadline(const struct db_odbc *o, int64_t timeout_ms)
{
	int64_t now = cms_monotonic_ms(), d = now + timeout_ms + ODBC_CUT_GRACE_MS, cap;

	/* A call made at or past the step's end (its last look) still gets
	 * the grace: a server that answers answers within it. */
	if (o->base.deadline_ms > 0) {
		cap = o->base.deadline_ms > now + ODBC_CUT_GRACE_MS ? o->base.deadline_ms
								     : now + ODBC_CUT_GRACE_MS;
		if (cap < d)
			d = cap;
	}
	return d;
}

/* Puts a watchdog on the call: cut (or, when connecting, every socket not
 * in before) is cut at deadline_ms.  Without the thread (it could not be
 * made) the call runs unguarded, bounded by the driver's own timeouts
 * only. */
static void guard_start(struct odbc_guard *g, int64_t deadline_ms, const struct odbc_socks *cut,
			const struct odbc_socks *before)
{
	memset(g, 0, sizeof(*g));
	g->deadline_ms = deadline_ms;
	g->cut = cut;
	g->before = before;
	/* A session with no socket (a file on this machine) has nothing to
	 * cut: the thread would cut nothing and the call's own result would
	 * stand.  Without it, the process makes no thread for it. */
	if (cut && cut->n == 0 && !before) {
		g->idle = true;
		return;
	}
	pthread_once(&wd_once, wd_init);
	pthread_mutex_lock(&wd.mu);
	if (wd_start()) {
		g->running = true;
		g->next = wd.list;
		wd.list = g;
		/* Wake the thread only when this deadline is sooner than
		 * what it sleeps until. */
		if (deadline_ms < wd.until) {
			wd.until = deadline_ms;
			pthread_cond_signal(&wd.cv);
		}
	}
	pthread_mutex_unlock(&wd.mu);
}

/* Takes the watchdog off the call; true when it cut the session. */
static bool guard_stop(struct odbc_guard *g)
{
	struct odbc_guard **pp;
	bool fired;

	if (g->idle)
		return false;
	if (!g->running)
		return false;
	pthread_mutex_lock(&wd.mu);
	for (pp = &wd.list; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	fired = g->fired;
	pthread_mutex_unlock(&wd.mu);
	return fired;
}

/* Replaces err with "server did not answer within <timeout>". */
static int cut_error(struct db_odbc *o, const char *what, int64_t timeout_ms, struct cms_error *err)
{
	o->cut = true;
	if (o->base.deadline_ms > 0 && cms_monotonic_ms() >= o->base.deadline_ms)
		return cms_error_set(err, CMS_ERROR, "%s on server '%s': no answer before the "
				     "step's deadline; cmsctl cut the session", what, o->base.label);
	return cms_error_set(err, CMS_ERROR, "%s on server '%s': no answer within %" PRId64
			     " ms; cmsctl cut the session", what, o->base.label, timeout_ms);
}

static SQLULEN timeout_seconds(int64_t ms)
{
	if (ms <= 1000)
		return 1;
	return (SQLULEN)((ms + 999) / 1000);
}


static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

void db_scrub_secret(struct buf *b, const char *secret)
{
	struct buf out = BUF_INIT;
	size_t slen;
	const char *p, *hit, *from;
	bool changed = false;

	if (!secret || !*secret || !b->ptr || !strstr(b->ptr, secret))
		return;
	slen = strlen(secret);
	p = from = b->ptr;
	/* Only whole words: the secret "x" must leave "Unexpected" alone,
	 * while "'x'" or "=x;" lose it.  A secret that starts or ends with a
	 * punctuation character is bounded by that character itself. */
	while ((hit = strstr(p, secret)) != NULL) {
		bool starts = hit == b->ptr || !word_char(hit[-1]) || !word_char(secret[0]);
		bool ends = !word_char(hit[slen]) || !word_char(secret[slen - 1]);

		if (!starts || !ends) {
			p = hit + 1;
			continue;
		}
		buf_add(&out, from, (size_t)(hit - from));
		buf_adds(&out, "***");
		p = from = hit + slen;
		changed = true;
	}
	if (!changed) {
		buf_free(&out);
		return;
	}
	buf_adds(&out, from);
	cms_wipe(b->ptr, b->len);
	buf_free(b);
	*b = out;
}

/* Masks the value of any PWD= attribute (braced or not) in b. */
static void scrub_pwd_attributes(struct buf *b)
{
	struct buf out = BUF_INIT;
	const char *p = b->ptr;
	int changed = 0;

	while (*p) {
		if ((p == b->ptr || !isalnum((unsigned char)p[-1])) && strncasecmp(p, "pwd=", 4) == 0) {
			buf_add(&out, p, 4);
			buf_adds(&out, "***");
			p += 4;
			if (*p == '{') {
				/* Braced: runs to a '}' not doubled. */
				p++;
				while (*p) {
					if (*p == '}' && p[1] == '}') {
						p += 2;
						continue;
					}
					if (*p == '}') {
						p++;
						break;
					}
					p++;
				}
			} else {
				while (*p && *p != ';')
					p++;
			}
			changed = 1;
			continue;
		}
		buf_addch(&out, *p++);
	}
	if (!changed) {
		buf_free(&out);
		return;
	}
	cms_wipe(b->ptr, b->len);
	buf_free(b);
	*b = out;
}

/* Appends every diagnostic record of handle to out as
 * "[SQLSTATE] native N: message", separated by "; ".  Control characters
 * in a driver's message become spaces: it is untrusted input that ends up
 * on one line of a terminal or a log. */
static void odbc_diag(struct buf *out, SQLSMALLINT type, SQLHANDLE h)
{
	SQLSMALLINT i;
	size_t start = out->len;

	for (i = 1; i <= ODBC_MAX_DIAG; i++) {
		SQLCHAR state[6] = "";
		SQLCHAR small[SQL_MAX_MESSAGE_LENGTH];
		SQLCHAR *msg = small, *big = NULL;
		SQLINTEGER native = 0;
		SQLSMALLINT len = 0;
		SQLRETURN r;
		size_t k, n;

		r = SQLGetDiagRec(type, h, i, state, &native, small, (SQLSMALLINT)sizeof(small), &len);
		if (!SQL_SUCCEEDED(r))
			break;
		if (len >= (SQLSMALLINT)sizeof(small)) {
			SQLSMALLINT len2 = 0;

			big = xmalloc((size_t)len + 1);
			r = SQLGetDiagRec(type, h, i, state, &native, big, (SQLSMALLINT)(len + 1), &len2);
			if (SQL_SUCCEEDED(r)) {
				msg = big;
				len = len2 < len ? len2 : len;
			} else {
				len = (SQLSMALLINT)(sizeof(small) - 1);
			}
		}
		state[5] = '\0';
		if (out->len > start)
			buf_adds(out, "; ");
		buf_addf(out, "[%s] native %ld: ", state[0] ? (char *)state : "?????", (long)native);
		n = strnlen((char *)msg, len < 0 ? 0 : (size_t)len);
		while (n > 0 && isspace((unsigned char)msg[n - 1]))
			n--;
		for (k = 0; k < n; k++) {
			unsigned char c = msg[k];
			buf_addch(out, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
		}
		if (big) {
			cms_wipe(big, (size_t)len);
			free(big);
		}
	}
	if (out->len == start)
		buf_adds(out, "no diagnostic from the ODBC driver");
}

/* ---- psqlODBC's last disconnect ---------------------------------------------
 *
 * psqlODBC keeps a process-wide count of its connections with logging on
 * and off.  cmsctl's own connections say CommLog=0 (planner/engines.c),
 * but when the count of open ones falls to zero the driver falls back to
 * its registration in odbcinst.ini, which Debian's odbc-postgresql ships
 * with CommLog=1: the disconnect that closes the last connection then
 * writes a line to /tmp/psqlodbc_<program><user><pid>.log, a file per
 * process that used PostgreSQL.  So the last of this process's psqlODBC
 * sessions is not disconnected: it is parked, idle (on the connection's
 * own database), and its socket closes when the process exits; the server
 * ends that backend as it ends any whose client went away.  At most one is parked: while it is, no count falls to zero;
 * it is disconnected once another session opens.  A child of fork()
 * leaves it alone (psql_atfork_child). */
static pthread_mutex_t psql_mu = PTHREAD_MUTEX_INITIALIZER;
static int psql_open; /* psqlODBC sessions open in this process, the parked one too */
static SQLHENV psql_parked_env = SQL_NULL_HENV;
static SQLHDBC psql_parked_dbc = SQL_NULL_HDBC;
static pthread_once_t psql_once = PTHREAD_ONCE_INIT;

/* A child of fork() may have been made while another thread held the
 * lock.  The parent's parked session is the parent's: its socket is
 * shared, so the child never disconnects it (the driver in the child
 * still counts it open, which is all it is for). */
static void psql_atfork_child(void)
{
	pthread_mutex_init(&psql_mu, NULL);
	if (psql_parked_dbc != SQL_NULL_HDBC) {
		psql_parked_env = SQL_NULL_HENV;
		psql_parked_dbc = SQL_NULL_HDBC;
		psql_open--;
	}
}

static void psql_init(void)
{
	pthread_atfork(NULL, NULL, psql_atfork_child);
}

static bool is_psqlodbc(SQLHDBC dbc)
{
	SQLCHAR name[64] = "";
	SQLSMALLINT len = 0;

	if (!SQL_SUCCEEDED(SQLGetInfo(dbc, SQL_DRIVER_NAME, name, (SQLSMALLINT)sizeof(name), &len)))
		return false;
	name[sizeof(name) - 1] = '\0';
	return strncmp((const char *)name, "psqlodbc", 8) == 0;
}

/* After a connect that succeeded (o->connected set).  A session parked
 * before is disconnected now, while o keeps the count above zero: parked,
 * it would be one more client of its server, which a fence of that server
 * would end and wait for. */
static void psql_opened(struct db_odbc *o)
{
	SQLHENV env = SQL_NULL_HENV;
	SQLHDBC dbc = SQL_NULL_HDBC;

	if (o->file || !is_psqlodbc(o->dbc))
		return;
	o->psql = true;
	pthread_once(&psql_once, psql_init);
	pthread_mutex_lock(&psql_mu);
	psql_open++;
	if (psql_parked_dbc != SQL_NULL_HDBC) {
		env = psql_parked_env;
		dbc = psql_parked_dbc;
		psql_parked_env = SQL_NULL_HENV;
		psql_parked_dbc = SQL_NULL_HDBC;
		psql_open--;
	}
	pthread_mutex_unlock(&psql_mu);
	if (dbc != SQL_NULL_HDBC) {
		/* Idle: its Terminate message goes into an empty socket
		 * buffer, and the close does not wait for the server. */
		SQLDisconnect(dbc);
		SQLFreeHandle(SQL_HANDLE_DBC, dbc);
		SQLFreeHandle(SQL_HANDLE_ENV, env);
	}
}

/* o, a psqlODBC session, is closing: true when it is the last open one
 * and is parked instead (odbc_close forgets its handles).  One whose
 * deadline cut it is disconnected (its socket is gone already). */
static bool psql_closing(struct db_odbc *o)
{
	bool parked = false;

	pthread_mutex_lock(&psql_mu);
	if (psql_open == 1 && !o->cut && psql_parked_dbc == SQL_NULL_HDBC) {
		psql_parked_env = o->env;
		psql_parked_dbc = o->dbc;
		parked = true;
	} else if (psql_open > 0) {
		psql_open--;
	}
	pthread_mutex_unlock(&psql_mu);
	return parked;
}

static void odbc_close(struct db *db)
{
	struct db_odbc *o = (struct db_odbc *)db;

	/* o->psql: connected, and counted (psql_opened). */
	if (o->psql && psql_closing(o)) {
		o->dbc = SQL_NULL_HDBC;
		o->env = SQL_NULL_HENV;
	}
	if (o->dbc != SQL_NULL_HDBC) {
		if (o->connected) {
			struct odbc_guard g;

			guard_start(&g, call_deadline(o, o->login_timeout_ms), &o->socks, NULL);
			SQLDisconnect(o->dbc);
			guard_stop(&g);
		}
		SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
		o->dbc = SQL_NULL_HDBC;
	}
	if (o->env != SQL_NULL_HENV) {
		SQLFreeHandle(SQL_HANDLE_ENV, o->env);
		o->env = SQL_NULL_HENV;
	}
	o->connected = 0;
	free(o->socks.v);
	o->socks.v = NULL;
	o->socks.n = o->socks.alloc = 0;
}

static int stmt_error(struct db_odbc *o, const char *sql, SQLSMALLINT type, SQLHANDLE h,
		      const char *what, struct cms_error *err)
{
	struct buf diag = BUF_INIT;
	size_t sqllen = strlen(sql);
	int rc;

	odbc_diag(&diag, type, h);
	scrub_pwd_attributes(&diag);
	rc = cms_error_set(err, CMS_ERROR, "%s on server '%s': %s (in '%.200s%s')", what,
			   o->base.label, diag.ptr, sql, sqllen > 200 ? "..." : "");
	buf_free(&diag);
	return rc;
}

/* Fetches column col of the current row as a string; *out NULL for SQL
 * NULL.  Returns 0, or -1 with the failing return code in *ret (or
 * SQL_SUCCESS when the value was too large). */
static int odbc_get_cell(SQLHSTMT st, SQLUSMALLINT col, char **out, SQLRETURN *ret)
{
	char chunk[4096];
	struct buf val = BUF_INIT;
	int isnull = 0;

	*out = NULL;
	*ret = SQL_SUCCESS;
	for (;;) {
		SQLLEN ind = 0;
		SQLRETURN r = SQLGetData(st, col, SQL_C_CHAR, chunk, (SQLLEN)sizeof(chunk), &ind);

		if (r == SQL_NO_DATA)
			break; /* everything was returned by the previous call */
		if (!SQL_SUCCEEDED(r)) {
			*ret = r;
			buf_free(&val);
			return -1;
		}
		if (ind == SQL_NULL_DATA) {
			isnull = 1;
			break;
		}
		if (ind == SQL_NO_TOTAL || ind >= (SQLLEN)sizeof(chunk)) {
			/* Truncated: the buffer holds sizeof - 1 bytes and a NUL. */
			buf_add(&val, chunk, sizeof(chunk) - 1);
		} else if (ind >= 0) {
			buf_add(&val, chunk, (size_t)ind);
			break;
		} else {
			*ret = SQL_ERROR;
			buf_free(&val);
			return -1;
		}
		if (val.len > ODBC_MAX_CELL) {
			buf_free(&val);
			return -1;
		}
	}
	if (isnull) {
		buf_free(&val);
		return 0;
	}
	*out = buf_detach(&val, NULL);
	return 0;
}

static int odbc_fetch(struct db_odbc *o, const char *sql, SQLHSTMT st, struct db_result **out,
		      struct cms_error *err)
{
	struct db_result *res = xcalloc(1, sizeof(*res));
	size_t alloc_cells = 0, ncells = 0;
	SQLSMALLINT ncols = 0;
	SQLRETURN r;
	SQLUSMALLINT c;
	int rc = 0;

	r = SQLNumResultCols(st, &ncols);
	if (!SQL_SUCCEEDED(r)) {
		rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "cannot read the result of a statement", err);
		goto done;
	}
	if (ncols <= 0)
		goto done;
	res->ncols = (size_t)ncols;
	res->colnames = xcalloc(res->ncols, sizeof(char *));
	for (c = 1; c <= (SQLUSMALLINT)ncols; c++) {
		SQLCHAR name[256];
		SQLSMALLINT namelen = 0;

		/* The name only: asked for the type or nullability, psqlODBC
		 * looks the columns up in the catalog (a query of 1 to 7 ms per
		 * result on a view). */
		r = SQLDescribeCol(st, c, name, (SQLSMALLINT)sizeof(name), &namelen, NULL, NULL,
				   NULL, NULL);
		if (!SQL_SUCCEEDED(r)) {
			rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "cannot describe a result column", err);
			goto done;
		}
		name[sizeof(name) - 1] = '\0';
		res->colnames[c - 1] = xstrdup((char *)name);
	}
	for (;;) {
		r = SQLFetch(st);
		if (r == SQL_NO_DATA)
			break;
		if (!SQL_SUCCEEDED(r)) {
			rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "statement failed", err);
			goto done;
		}
		array_grow(&res->cells, &alloc_cells, ncells + res->ncols, sizeof(char *));
		for (c = 1; c <= (SQLUSMALLINT)ncols; c++) {
			char *cell = NULL;

			if (odbc_get_cell(st, c, &cell, &r) < 0) {
				if (r == SQL_SUCCESS)
					rc = cms_error_set(err, CMS_ERROR,
							   "statement failed on server '%s': a value is larger than %u bytes (in '%.200s')",
							   o->base.label, ODBC_MAX_CELL, sql);
				else
					rc = stmt_error(o, sql, SQL_HANDLE_STMT, st,
							"cannot read a result value", err);
				goto done;
			}
			res->cells[ncells++] = cell;
		}
		res->nrows++;
	}
done:
	if (rc < 0) {
		/* Cells of a partial row are freed with the complete ones. */
		res->nrows = (ncells + res->ncols - 1) / (res->ncols ? res->ncols : 1);
		db_result_free(res);
		res = NULL;
	}
	*out = res;
	return rc;
}

static int odbc_exec(struct db *db, const char *sql, struct db_result **out, struct cms_error *err)
{
	struct db_odbc *o = (struct db_odbc *)db;
	struct db_result *res = NULL;
	SQLHSTMT st = SQL_NULL_HSTMT;
	struct odbc_guard g;
	SQLRETURN r;
	int rc = 0;

	if (out)
		*out = NULL;
	if (!o->connected)
		return cms_error_set(err, CMS_ERROR, "statement failed on server '%s': not connected",
				     db->label);
	if (o->cut)
		return cms_error_set(err, CMS_ERROR, "statement failed on server '%s': the session "
				     "was cut after a deadline", db->label);
	guard_start(&g, call_deadline(o, o->query_timeout_ms), &o->socks, NULL);
	r = SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st);
	if (!SQL_SUCCEEDED(r)) {
		st = SQL_NULL_HSTMT;
		rc = stmt_error(o, sql, SQL_HANDLE_DBC, o->dbc, "cannot allocate a statement", err);
		goto done;
	}
	r = SQLSetStmtAttr(st, SQL_ATTR_QUERY_TIMEOUT, (SQLPOINTER)(uintptr_t)o->query_timeout_s, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "cannot set the query timeout", err);
		goto done;
	}
	r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
	if (r == SQL_NO_DATA) {
		/* e.g. an UPDATE that matched no row: success, no result. */
		res = xcalloc(1, sizeof(*res));
		goto done;
	}
	if (!SQL_SUCCEEDED(r)) {
		rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "statement failed", err);
		goto done;
	}
	/* Rows are fetched even when the caller discards them: some servers
	 * report an error only while the rows are read. */
	if ((rc = odbc_fetch(o, sql, st, &res, err)) < 0)
		goto done;
	for (;;) {
		r = SQLMoreResults(st);
		if (r == SQL_NO_DATA)
			break;
		if (!SQL_SUCCEEDED(r)) {
			rc = stmt_error(o, sql, SQL_HANDLE_STMT, st, "statement failed", err);
			goto done;
		}
	}
done:
	if (st != SQL_NULL_HSTMT)
		SQLFreeHandle(SQL_HANDLE_STMT, st);
	if (guard_stop(&g))
		rc = cut_error(o, "statement failed", o->query_timeout_ms, err);
	if (rc < 0 || !out)
		db_result_free(res);
	else
		*out = res;
	return rc;
}

/* Transactions through the ODBC API (autocommit off, SQLEndTran), which
 * every driver maps to its own dialect; a bare "BEGIN" is not even valid
 * T-SQL.  Logged like statements, so the journal shows the boundaries. */
static int odbc_tx(struct db *db, int what, struct cms_error *err)
{
	static const char *const words[] = { "BEGIN", "COMMIT", "ROLLBACK" };
	struct db_odbc *o = (struct db_odbc *)db;
	struct db_stmt_log *entry;
	int64_t start = cms_monotonic_ms();
	struct odbc_guard g;
	SQLRETURN r;
	int rc = 0;

	if (what < 0 || what > 2)
		return cms_error_set(err, CMS_ERROR, "unknown transaction request %d", what);
	if (!o->connected)
		return cms_error_set(err, CMS_ERROR, "%s failed on server '%s': not connected",
				     words[what], db->label);
	if (o->cut)
		return cms_error_set(err, CMS_ERROR, "%s failed on server '%s': the session was "
				     "cut after a deadline", words[what], db->label);
	guard_start(&g, call_deadline(o, o->query_timeout_ms), &o->socks, NULL);
	if (what == 0) {
		r = SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0);
		if (!SQL_SUCCEEDED(r))
			rc = stmt_error(o, words[what], SQL_HANDLE_DBC, o->dbc,
					"cannot begin a transaction", err);
	} else {
		r = SQLEndTran(SQL_HANDLE_DBC, o->dbc, what == 1 ? SQL_COMMIT : SQL_ROLLBACK);
		if (!SQL_SUCCEEDED(r))
			rc = stmt_error(o, words[what], SQL_HANDLE_DBC, o->dbc,
					what == 1 ? "cannot commit" : "cannot roll back", err);
		/* Back to autocommit either way: the transaction is over, or
		 * the connection is unusable and will be closed. */
		r = SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
		if (rc == 0 && !SQL_SUCCEEDED(r))
			rc = stmt_error(o, words[what], SQL_HANDLE_DBC, o->dbc,
					"cannot restore autocommit", err);
	}
	if (guard_stop(&g))
		rc = cut_error(o, words[what], o->query_timeout_ms, err);
	entry = ARRAY_PUSH(db->log, db->nlog, db->alloc_log);
	entry->label = xstrdup(db->label);
	entry->database = db->database ? xstrdup(db->database) : NULL;
	entry->sql = xstrdup(words[what]);
	entry->duration_ms = cms_monotonic_ms() - start;
	entry->ok = rc == 0;
	return rc;
}

static const struct db_ops odbc_ops = {
	.exec = odbc_exec,
	.close = odbc_close,
	.tx = odbc_tx,
};

/* The database the session is in, as the driver reports it (for the
 * statement log); left NULL when the driver does not say or takes longer
 * than the login timeout to. */
static void odbc_read_catalog(struct db_odbc *o)
{
	SQLCHAR name[256];
	SQLINTEGER len = 0;
	struct odbc_guard g;
	SQLRETURN r;
	int fired;

	guard_start(&g, call_deadline(o, o->login_timeout_ms), &o->socks, NULL);
	r = SQLGetConnectAttr(o->dbc, SQL_ATTR_CURRENT_CATALOG, name, (SQLINTEGER)sizeof(name), &len);
	fired = guard_stop(&g);
	if (fired)
		o->cut = true; /* the next call says the session was cut */
	if (fired || !SQL_SUCCEEDED(r) || len <= 0 || (size_t)len >= sizeof(name))
		return;
	name[len] = '\0';
	db_set_database(&o->base, (const char *)name);
}

static int connect_error(struct db_odbc *o, SQLSMALLINT type, SQLHANDLE h, const char *what,
			 const char *password, const char *escaped, struct cms_error *err)
{
	struct buf diag = BUF_INIT;
	int rc;

	if (h != SQL_NULL_HANDLE)
		odbc_diag(&diag, type, h);
	else
		buf_adds(&diag, "the ODBC driver manager could not allocate a handle");
	db_scrub_secret(&diag, password);
	db_scrub_secret(&diag, escaped);
	scrub_pwd_attributes(&diag);
	rc = cms_error_set(err, CMS_ERROR, "%s '%s': %s", what, o->base.label, diag.ptr);
	cms_wipe(diag.ptr, diag.len);
	buf_free(&diag);
	return rc;
}

/* A connect in progress on a worker thread.  The one that finishes last
 * frees it: the caller when the worker returned in time, the worker when
 * the caller abandoned it. */
struct odbc_connect_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	SQLHENV env;
	SQLHDBC dbc;
	char *cs;     /* the connection string with the password */
	size_t cslen;
	SQLRETURN r;
	bool done, abandoned;
	const atomic_int *cancel; /* the connecting thread's (db_odbc_cancel_flag), or NULL */
	struct odbc_socks rec; /* the sockets the driver connected (rec_works()) */
	bool gate; /* the connect takes ini_gate for its driver's setup, */
	int64_t gate_wait_ms; /* waiting for it this long at most, */
	atomic_int stop;      /* or until the caller gave up on the connect */
};

/* The calling thread's cancel flag for its connects (db_odbc_cancel_flag). */
static _Thread_local const atomic_int *thread_cancel;

void db_odbc_cancel_flag(const atomic_int *flag)
{
	thread_cancel = flag;
}

static bool job_cancelled(const struct odbc_connect_job *j)
{
	return j->cancel && atomic_load(j->cancel);
}

/* Connect workers abandoned and still inside the driver. */
static int live_abandoned;
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

int db_odbc_abandoned_workers(void)
{
	int n;

	pthread_mutex_lock(&live_mu);
	n = live_abandoned;
	pthread_mutex_unlock(&live_mu);
	return n;
}

static void job_free(struct odbc_connect_job *j)
{
	cms_wipe(j->cs, j->cslen);
	free(j->cs);
	free(j->rec.v);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

/* SQLDriverConnect of job j, holding ini_gate (when j wants it) until the
 * driver reaches the network.  Raised while it waits for the gate, stop
 * means nobody wants the connect any more: it is not made (SQL_ERROR). */
static SQLRETURN gated_connect(struct odbc_connect_job *j, const atomic_int *stop)
{
	SQLRETURN r = SQL_ERROR;

	ini_gate_held = j->gate && ini_gate_take(stop, j->gate_wait_ms);
	if (!j->gate || ini_gate_held || !stop || !atomic_load(stop))
		r = SQLDriverConnect(j->dbc, NULL, (SQLCHAR *)j->cs, SQL_NTS, NULL, 0, NULL,
				     SQL_DRIVER_NOPROMPT);
	ini_gate_leave();
	return r;
}

/* Runs one connect job; false when the caller abandoned it (the worker
 * then cleaned up after it, and is of no more use: it may have waited in
 * the driver for minutes). */
static bool connect_run(struct odbc_connect_job *j)
{
	SQLRETURN r;
	bool abandoned;

	rec_to = &j->rec;
	/* Within the caller's deadline: a caller that gave up (its deadline,
	 * its cancel flag) while this worker waited for the gate has it not
	 * connect at all.  (j->stop, not the caller's flag: the caller's may
	 * be gone once it abandoned this worker.) */
	r = gated_connect(j, &j->stop);
	rec_to = NULL;
	pthread_mutex_lock(&j->mu);
	j->r = r;
	j->done = true;
	abandoned = j->abandoned;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (abandoned) {
		if (SQL_SUCCEEDED(r))
			SQLDisconnect(j->dbc);
		SQLFreeHandle(SQL_HANDLE_DBC, j->dbc);
		SQLFreeHandle(SQL_HANDLE_ENV, j->env);
		job_free(j);
		pthread_mutex_lock(&live_mu);
		live_abandoned--;
		pthread_mutex_unlock(&live_mu);
	}
	return !abandoned;
}

/*
 * Connect workers are kept: one that finished its connect in time waits
 * for the next (a thread per connect cost a clone, a stack and a TLB
 * shootdown on exit, and the sqlite engine connects a few dozen times per
 * apply).  At most one waits; an abandoned one ends once the driver
 * returns.  A child of fork() has none (cw_atfork_child).
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct odbc_connect_job *job; /* handed to the waiting worker */
	bool waiting;                 /* a worker waits for a job */
} cw = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, false };
static pthread_once_t cw_once = PTHREAD_ONCE_INIT;

static void cw_atfork_child(void)
{
	pthread_mutex_init(&cw.mu, NULL);
	pthread_cond_init(&cw.cv, NULL);
	cw.job = NULL;
	cw.waiting = false;
}

static void cw_init(void)
{
	pthread_atfork(NULL, NULL, cw_atfork_child);
}

static void *connect_main(void *arg)
{
	struct odbc_connect_job *j = arg;

	while (connect_run(j)) {
		pthread_mutex_lock(&cw.mu);
		if (cw.waiting) {
			/* Another worker already waits: one is enough. */
			pthread_mutex_unlock(&cw.mu);
			break;
		}
		cw.waiting = true;
		while (!cw.job)
			pthread_cond_wait(&cw.cv, &cw.mu);
		j = cw.job;
		cw.job = NULL;
		pthread_mutex_unlock(&cw.mu);
	}
	return NULL;
}

/* Hands j to the waiting worker, or starts one (with every signal
 * blocked: signals stay with the calling thread); false when no thread
 * could be made. */
static bool connect_start(struct odbc_connect_job *j)
{
	sigset_t all, old;
	pthread_attr_t ta;
	pthread_t th;
	bool started;

	pthread_once(&cw_once, cw_init);
	pthread_mutex_lock(&cw.mu);
	if (cw.waiting && !cw.job) {
		cw.job = j;
		cw.waiting = false;
		pthread_cond_signal(&cw.cv);
		pthread_mutex_unlock(&cw.mu);
		return true;
	}
	pthread_mutex_unlock(&cw.mu);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&th, &ta, connect_main, j) == 0;
	pthread_attr_destroy(&ta);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return started;
}

/* With j->mu held: waits until the worker is done or deadline_ms passes;
 * true when it is done.  A cancellable wait also ends, looking every
 * ODBC_CANCEL_LOOK_MS, once the connecting thread's cancel flag is set. */
#define ODBC_CANCEL_LOOK_MS 10
static bool job_wait(struct odbc_connect_job *j, int64_t deadline_ms, bool cancellable)
{
	while (!j->done) {
		struct timespec ts;
		int64_t until = deadline_ms, now = cms_monotonic_ms();

		if (now >= deadline_ms || (cancellable && job_cancelled(j)))
			return false;
		if (cancellable && j->cancel && until > now + ODBC_CANCEL_LOOK_MS)
			until = now + ODBC_CANCEL_LOOK_MS;
		ts.tv_sec = (time_t)(until / 1000);
		ts.tv_nsec = (long)(until % 1000) * 1000000L;
		pthread_cond_timedwait(&j->cv, &j->mu, &ts);
	}
	return true;
}

/* SQLDriverConnect with the connection string cs (taken: wiped and freed
 * here or by the worker) under the connect's deadline.  Sets *r and *cut
 * (the deadline passed: the session's stream sockets were shut down:
 * those the connect recorded, or else those that appeared since before),
 * and moves the recorded sockets to *rec.  Returns false when the attempt
 * was abandoned: the handles are the worker's then, and o no longer holds
 * them. */
static bool connect_bounded(struct db_odbc *o, struct buf *cs, const struct odbc_socks *before,
			    bool gate, SQLRETURN *r, bool *cut, struct odbc_socks *rec)
{
	struct odbc_connect_job *j = xcalloc(1, sizeof(*j));
	int64_t deadline = call_deadline(o, o->login_timeout_ms);
	bool recording = rec_works();

	*cut = false;
	pthread_mutex_init(&j->mu, NULL);
	monotonic_cond_init(&j->cv);
	j->env = o->env;
	j->dbc = o->dbc;
	j->cancel = thread_cancel;
	j->gate = gate;
	j->gate_wait_ms = o->login_timeout_ms;
	j->cs = buf_detach(cs, &j->cslen);
	if (o->file || !connect_start(j)) {
		/* A file on this machine (nothing to cut, and a hung file
		 * system would hang the state and the history the same way),
		 * or no thread could be made: the call runs here, bounded by
		 * the socket watchdog only. */
		struct odbc_guard g;

		guard_start(&g, deadline, o->file ? &j->rec : recording ? &j->rec : NULL,
			    o->file ? NULL : before);
		rec_to = &j->rec;
		*r = gated_connect(j, j->cancel);
		rec_to = NULL;
		*cut = guard_stop(&g);
		goto finished;
	}
	pthread_mutex_lock(&j->mu);
	if (!job_wait(j, deadline, true)) {
		struct odbc_guard cutter;

		atomic_store(&j->stop, 1); /* one still waiting for the gate stops */
		pthread_mutex_unlock(&j->mu);
		memset(&cutter, 0, sizeof(cutter));
		if (recording)
			cutter.cut = &j->rec;
		else
			cutter.before = before;
		/* Nothing to cut (a file driver, a name lookup): the call's
		 * own result stands if it comes within the grace. */
		*cut = guard_cut(&cutter) > 0;
		pthread_mutex_lock(&j->mu);
		if (!job_wait(j, cms_monotonic_ms() + ODBC_ABANDON_GRACE_MS, false)) {
			j->abandoned = true;
			pthread_mutex_lock(&live_mu);
			live_abandoned++;
			pthread_mutex_unlock(&live_mu);
			pthread_mutex_unlock(&j->mu);
			o->env = SQL_NULL_HENV;
			o->dbc = SQL_NULL_HDBC;
			return false;
		}
	}
	*r = j->r;
	pthread_mutex_unlock(&j->mu);
finished:
	pthread_mutex_lock(&rec_mu);
	*rec = j->rec;
	memset(&j->rec, 0, sizeof(j->rec));
	pthread_mutex_unlock(&rec_mu);
	job_free(j);
	return true;
}

/* Without recording, connects take turns: what appeared in /proc/self/fd
 * while one connected must be that one's. */
static pthread_mutex_t serial_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * Keeping drivers loaded.  unixODBC loads a driver when a connection
 * needs it and unloads it when the last connection that used it closes;
 * the sqlite engine opens a session per database file and operation, so
 * a driver and the libraries it brings were mapped and relocated again
 * and again.  After a connect that loaded libraries, each is opened once
 * more with RTLD_NODELETE, which keeps it for the life of the process
 * (and of its children: a plan set's stores).
 */
static pthread_mutex_t pin_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long pin_adds; /* dlpi_adds when last pinned */
static struct cms_strv pinned;

struct pin_walk {
	unsigned long long adds;
	bool list;
	struct cms_strv names; /* loaded and not pinned yet */
};

/* Only looks: dl_iterate_phdr holds the loader's list lock, and a
 * dlopen() from in here could wait for another thread's dlopen, which
 * waits for that lock. */
static int pin_look(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct pin_walk *w = arg;
	size_t i;

	(void)size;
	w->adds = info->dlpi_adds;
	if (!w->list)
		return 1; /* the count is in every entry: the first will do */
	if (!info->dlpi_name || !*info->dlpi_name)
		return 0;
	for (i = 0; i < pinned.n; i++)
		if (strcmp(pinned.v[i], info->dlpi_name) == 0)
			return 0;
	cms_strv_add(&w->names, info->dlpi_name);
	return 0;
}

static void pin_loaded_libraries(void)
{
	struct pin_walk w = { 0, false, CMS_STRV_INIT };
	size_t i;

	pthread_mutex_lock(&pin_mu);
	dl_iterate_phdr(pin_look, &w);
	if (w.adds != pin_adds) {
		w.list = true;
		dl_iterate_phdr(pin_look, &w);
		pin_adds = w.adds;
		for (i = 0; i < w.names.n; i++)
			if (dlopen(w.names.v[i], RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE))
				cms_strv_add(&pinned, w.names.v[i]);
	}
	pthread_mutex_unlock(&pin_mu);
	cms_strv_free(&w.names);
}

int db_odbc_concurrent(struct cms_error *err)
{
	int rc;

	if ((rc = cms_lib_odbc_load(err)) < 0)
		return rc;
	return rec_works() ? 1 : 0;
}

static int connect_odbc(struct db **out, const char *label, const char *connstr,
			const char *password, int64_t login_timeout_ms, int64_t query_timeout_ms,
			bool file, struct cms_error *err);

int db_connect_odbc(struct db **out, const char *label, const char *connstr,
		    const char *password, int64_t login_timeout_ms, int64_t query_timeout_ms,
		    struct cms_error *err)
{
	return connect_odbc(out, label, connstr, password, login_timeout_ms, query_timeout_ms,
			    false, err);
}

int db_connect_odbc_file(struct db **out, const char *label, const char *connstr,
			 int64_t login_timeout_ms, int64_t query_timeout_ms, struct cms_error *err)
{
	return connect_odbc(out, label, connstr, NULL, login_timeout_ms, query_timeout_ms, true,
			    err);
}

static int connect_odbc(struct db **out, const char *label, const char *connstr,
			const char *password, int64_t login_timeout_ms, int64_t query_timeout_ms,
			bool file, struct cms_error *err)
{
	struct db_odbc *o = NULL;
	struct buf cs = BUF_INIT;
	char *escaped = NULL;
	SQLULEN login_s = timeout_seconds(login_timeout_ms);
	struct odbc_socks before = { NULL, 0, 0 }, rec = { NULL, 0, 0 };
	bool fired, recording, serial = false, gate = false;
	SQLRETURN r;
	int rc = 0;

	*out = NULL;
	o = xcalloc(1, sizeof(*o));
	o->base.ops = &odbc_ops;
	o->base.label = xstrdup(label ? label : "");
	o->file = file;
	o->env = SQL_NULL_HENV;
	o->dbc = SQL_NULL_HDBC;
	o->query_timeout_s = timeout_seconds(query_timeout_ms);
	o->login_timeout_ms = login_timeout_ms > 0 ? login_timeout_ms : 1000;
	o->query_timeout_ms = query_timeout_ms > 0 ? query_timeout_ms : 1000;

	if (!connstr || !*connstr) {
		rc = cms_error_set(err, CMS_ERROR, "cannot connect to server '%s': no connection string",
				   o->base.label);
		goto done;
	}
	/* Here, on the calling thread, before the connect's worker exists. */
	if ((rc = cms_lib_odbc_load(err)) < 0)
		goto done;
	/* The driver manager reads its settings from here on: connects take
	 * turns (ini_gate), or, without recording, run one at a time. */
	recording = rec_works();
	if (recording) {
		gate = ini_gate_take(thread_cancel, o->login_timeout_ms);
	} else if (!file) {
		pthread_mutex_lock(&serial_mu);
		serial = true;
	}
	if (thread_cancel && atomic_load(thread_cancel)) {
		rc = cms_error_set(err, CMS_ERROR, "connect to server '%s' cancelled", label);
		goto done;
	}
	r = SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env);
	if (!SQL_SUCCEEDED(r)) {
		o->env = SQL_NULL_HENV;
		rc = connect_error(o, 0, SQL_NULL_HANDLE, "cannot connect to server", NULL, NULL, err);
		goto done;
	}
	r = SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_ENV, o->env, "cannot select ODBC 3 for server",
				   NULL, NULL, err);
		goto done;
	}
	r = SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc);
	if (!SQL_SUCCEEDED(r)) {
		o->dbc = SQL_NULL_HDBC;
		rc = connect_error(o, SQL_HANDLE_ENV, o->env, "cannot connect to server", NULL, NULL, err);
		goto done;
	}
	r = SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)login_s, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_DBC, o->dbc, "cannot set the login timeout for server",
				   NULL, NULL, err);
		goto done;
	}
	r = SQLSetConnectAttr(o->dbc, SQL_ATTR_CONNECTION_TIMEOUT,
			      (SQLPOINTER)(uintptr_t)o->query_timeout_s, 0);
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_DBC, o->dbc,
				   "cannot set the connection timeout for server", NULL, NULL, err);
		goto done;
	}

	/* The handles are made: the connect takes the gate again for its
	 * driver's setup, on the thread that runs it. */
	if (gate) {
		ini_gate_give_back();
		gate = false;
	}
	/* Cancelled before it began (db_odbc_cancel_flag): no attempt. */
	if (thread_cancel && atomic_load(thread_cancel)) {
		rc = cms_error_set(err, CMS_ERROR, "connect to server '%s' cancelled", label);
		goto done;
	}
	buf_adds(&cs, connstr);
	if (password) {
		struct buf esc = BUF_INIT;
		const char *p;

		for (p = password; *p; p++) {
			if (*p == '}')
				buf_addch(&esc, '}');
			buf_addch(&esc, *p);
		}
		escaped = buf_detach(&esc, NULL);
		if (cs.len && cs.ptr[cs.len - 1] != ';')
			buf_addch(&cs, ';');
		buf_adds(&cs, "PWD={");
		buf_adds(&cs, escaped);
		buf_addch(&cs, '}');
	}
	/* The sockets the connect recorded are the session's; without
	 * recording, those that appear while it connects. */
	if (!recording && !file)
		odbc_socks_of_process(&before);
	if (!connect_bounded(o, &cs, &before, recording, &r, &fired, &rec)) {
		o->cut = true;
		rc = cms_error_set(err, CMS_ERROR, "cannot connect to server '%s': no answer within %"
				   PRId64 " ms, waiting outside any socket of the session (a name "
				   "lookup?); cmsctl abandoned the attempt", o->base.label,
				   o->login_timeout_ms);
		goto done;
	}
	if (fired) {
		if (SQL_SUCCEEDED(r))
			o->connected = 1;
		rc = cut_error(o, "cannot connect", o->login_timeout_ms, err);
		goto done;
	}
	if (SQL_SUCCEEDED(r) && recording) {
		size_t i;

		/* Those still open: the driver may have tried several
		 * addresses. */
		for (i = 0; i < rec.n; i++) {
			if (!still_sock(&rec.v[i]) || !is_stream(rec.v[i].fd))
				continue;
			array_grow(&o->socks.v, &o->socks.alloc, o->socks.n + 1, sizeof(*o->socks.v));
			o->socks.v[o->socks.n++] = rec.v[i];
		}
	} else if (SQL_SUCCEEDED(r) && !file) {
		struct odbc_socks now = { NULL, 0, 0 };
		size_t i;

		odbc_socks_of_process(&now);
		for (i = 0; i < now.n; i++) {
			/* TCP only: a UDP socket that appeared meanwhile is another
			 * thread's name lookup (an abandoned connect's), and a cut
			 * one makes the resolver spin. */
			if (odbc_socks_has(&before, &now.v[i]) || !is_stream(now.v[i].fd))
				continue;
			array_grow(&o->socks.v, &o->socks.alloc, o->socks.n + 1, sizeof(*o->socks.v));
			o->socks.v[o->socks.n++] = now.v[i];
		}
		free(now.v);
	}
	if (serial) {
		pthread_mutex_unlock(&serial_mu);
		serial = false;
	}
	if (!SQL_SUCCEEDED(r)) {
		rc = connect_error(o, SQL_HANDLE_DBC, o->dbc, "cannot connect to server", password,
				   escaped, err);
		goto done;
	}
	o->connected = 1;
	psql_opened(o);
	pin_loaded_libraries();
	odbc_read_catalog(o);
	*out = &o->base;
	o = NULL;
done:
	if (gate)
		ini_gate_give_back();
	if (serial)
		pthread_mutex_unlock(&serial_mu);
	free(before.v);
	free(rec.v);
	buf_free(&cs);
	if (escaped) {
		cms_wipe(escaped, strlen(escaped));
		free(escaped);
	}
	if (o)
		db_close(&o->base);
	return rc;
}
