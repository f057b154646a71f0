/*
 * Connection failures of the SQL Server engine through the real FreeTDS
 * ODBC driver (driver name `FreeTDS`, Debian package tdsodbc), no SQL
 * Server needed: a port nobody listens on, and a listener that accepts the
 * TCP connection but never answers the TDS pre-login.  Each must fail with
 * a clear error carrying an SQLSTATE, within the login timeout plus 2 s,
 * and never echo the password.  Then the same two servers through the
 * mssql engine: probe records them unreachable, check_target refuses.
 *
 * The silent listener is a child process started by this test (it accepts
 * and holds connections, never writes); the test kills it by its pid, and
 * it ends itself after 60 s should the test die first.
 *
 * Named instances: a fake SQL Server Browser (UDP 1434 on loopback, a
 * child process like the listener) answers FreeTDS's instance query for
 * `Server=127.0.0.1\RTC` with the TCP port of a silent listener of its
 * own; the test checks that the driver asked for RTC (CLNT_UCAST_INST,
 * [MC-SQLR] 2.2.4) and then connected to the announced port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "applier/db.h"
#include "applier/engine.h"
#include "common/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOGIN_TIMEOUT_MS 2000
#define QUERY_TIMEOUT_MS 5000
#define SECRET "s3cret-Pw;}"

struct fixture {
	int closed_port;     /* bound then closed: nothing listens */
	int silent_port;     /* the child's listener */
	pid_t silent_pid;
};

/* Binds a TCP socket on 127.0.0.1 to a free port and listens when asked;
 * returns the socket (port in *port) or -1. */
static int bind_loopback(int *port, bool listening)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (listening && listen(fd, 16) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	int fd;

	*state = f;
	if ((fd = bind_loopback(&f->closed_port, false)) < 0)
		return -1;
	close(fd);
	if ((fd = bind_loopback(&f->silent_port, true)) < 0)
		return -1;
	f->silent_pid = fork();
	if (f->silent_pid < 0) {
		close(fd);
		return -1;
	}
	if (f->silent_pid == 0) {
		alarm(60);
		for (;;) {
			/* accepted connections stay open and silent */
			if (accept(fd, NULL, NULL) < 0 && errno != EINTR)
				_exit(0);
		}
	}
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f && f->silent_pid > 0) {
		kill(f->silent_pid, SIGKILL);
		waitpid(f->silent_pid, NULL, 0);
	}
	free(f);
	return 0;
}

static char *connection_string(int port)
{
	return xasprintf("Driver=FreeTDS;Server=127.0.0.1;Port=%d;Database=master;TDS_Version=7.4;Uid=sa",
			 port);
}

/* "[XXXXX]" with five SQLSTATE characters somewhere in s. */
static bool has_sqlstate(const char *s)
{
	const char *p;
	int i;

	for (p = strchr(s, '['); p; p = strchr(p + 1, '[')) {
		for (i = 1; i <= 5; i++) {
			if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z')))
				break;
		}
		if (i == 6 && p[6] == ']')
			return true;
	}
	return false;
}

static void assert_contains(const char *hay, const char *needle)
{
	assert_non_null(hay);
	if (!strstr(hay, needle))
		fail_msg("'%s' lacks '%s'", hay, needle);
}

/* Connects straight through db_connect_odbc; returns the elapsed time. */
static int64_t connect_and_fail(int port, struct cms_error *err)
{
	struct db *db = NULL;
	char *cs = connection_string(port);
	int64_t start = cms_monotonic_ms(), elapsed;
	int rc;

	rc = db_connect_odbc(&db, "mssql-test", cs, SECRET, LOGIN_TIMEOUT_MS, QUERY_TIMEOUT_MS, err);
	elapsed = cms_monotonic_ms() - start;
	free(cs);
	assert_int_equal(rc, CMS_ERROR);
	assert_null(db);
	assert_non_null(err->message);
	if (strstr(err->message, "[IM002]") || strstr(err->message, "[01000]"))
		fail_msg("the FreeTDS ODBC driver is not registered (apt-get install tdsodbc): %s",
			 err->message);
	assert_contains(err->message, "cannot connect to server 'mssql-test': [");
	if (!has_sqlstate(err->message))
		fail_msg("no SQLSTATE in '%s'", err->message);
	if (strstr(err->message, "s3cret"))
		fail_msg("the password leaked into '%s'", err->message);
	if (elapsed >= LOGIN_TIMEOUT_MS + 2000)
		fail_msg("took %lld ms, more than the login timeout (%d ms) + 2 s: %s",
			 (long long)elapsed, LOGIN_TIMEOUT_MS, err->message);
	return elapsed;
}

static void closed_port_fails_at_once_with_sqlstate(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;

	connect_and_fail(f->closed_port, &err);
	assert_contains(err.message, "[08001]"); /* unable to connect to data source */
	cms_error_clear(&err);
}

static void silent_listener_fails_at_the_login_timeout(void **state)
{
	struct fixture *f = *state;
	struct cms_error err = CMS_ERROR_INIT;
	int64_t elapsed = connect_and_fail(f->silent_port, &err);

	assert_contains(err.message, "[HYT00]"); /* timeout expired */
	/* it was the login timeout that ended the wait, not something else */
	if (elapsed < LOGIN_TIMEOUT_MS - 500)
		fail_msg("gave up after %lld ms, before the login timeout: %s", (long long)elapsed,
			 err.message);
	cms_error_clear(&err);
}

static void engine_reports_both_unreachable_and_refuses_them(void **state)
{
	struct fixture *f = *state;
	char *dbs[] = { "xds", "lis" };
	struct server servers[2];
	struct store st;
	struct observation obs;
	struct engine *e = NULL;
	struct cms_error err = CMS_ERROR_INIT;
	int64_t start;
	size_t i;

	memset(servers, 0, sizeof(servers));
	memset(&st, 0, sizeof(st));
	servers[0].name = "pool-closed";
	servers[0].connection = connection_string(f->closed_port);
	servers[0].password_env = "CMSCTL_TEST_MSSQL_PASSWORD";
	servers[1].name = "pool-silent";
	servers[1].role = SERVER_ROLE_MIRROR;
	servers[1].connection = connection_string(f->silent_port);
	servers[1].password_env = "CMSCTL_TEST_MSSQL_PASSWORD";
	st.name = "redmond";
	st.engine = ENGINE_MSSQL;
	st.databases = dbs;
	st.ndatabases = 2;
	st.servers = servers;
	st.nservers = 2;
	st.location.primary = "pool-closed";
	st.policy.login_timeout_ms = LOGIN_TIMEOUT_MS;
	st.policy.query_timeout_ms = QUERY_TIMEOUT_MS;
	st.policy.catch_up_timeout_ms = 1000;
	assert_int_equal(setenv("CMSCTL_TEST_MSSQL_PASSWORD", SECRET, 1), 0);

	if (engine_open(&e, &st, NULL, NULL, &err) < 0)
		fail_msg("engine_open: %s", err.message);
	start = cms_monotonic_ms();
	assert_int_equal(engine_probe(e, &obs, &err), 0);
	assert_true(cms_monotonic_ms() - start < 2 * (LOGIN_TIMEOUT_MS + 2000));
	assert_int_equal(obs.nservers, 2);
	for (i = 0; i < 2; i++) {
		const struct server_obs *so = &obs.servers[i];

		assert_string_equal(so->server, servers[i].name);
		assert_false(so->reachable);
		assert_int_equal(so->role, OBS_UNKNOWN);
		assert_non_null(so->error);
		if (!has_sqlstate(so->error))
			fail_msg("no SQLSTATE in '%s'", so->error);
		if (strstr(so->error, "s3cret"))
			fail_msg("the password leaked into '%s'", so->error);
	}
	assert_contains(obs.servers[0].error, "cannot connect to server 'pool-closed': [");
	assert_contains(obs.servers[1].error, "cannot connect to server 'pool-silent': [HYT00]");
	observation_free(&obs);

	start = cms_monotonic_ms();
	assert_int_equal(e->ops->check_target(e, "pool-silent", &err), CMS_EREFUSED);
	assert_true(cms_monotonic_ms() - start < LOGIN_TIMEOUT_MS + 2000);
	assert_contains(err.message,
			"target 'pool-silent' is unreachable: cannot connect to server 'pool-silent': [HYT00]");
	assert_int_equal(e->nlog, 0); /* no statement was ever sent */

	engine_close(e);
	cms_error_clear(&err);
	unsetenv("CMSCTL_TEST_MSSQL_PASSWORD");
	free(servers[0].connection);
	free(servers[1].connection);
}

/* The fake SQL Server Browser: answers every CLNT_UCAST_INST request on
 * udp with an SVR_RESP naming tcp_port, accepts (and holds) connections on
 * tcp, and writes one line per event to out: "udp <instance>", "tcp". */
static void browser_child(int udp, int tcp, int tcp_port, int out)
{
	alarm(60);
	for (;;) {
		struct pollfd p[2] = { { udp, POLLIN, 0 }, { tcp, POLLIN, 0 } };
		char buf[512], resp[512], line[300];
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n;
		int len;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[0].revents & POLLIN) {
			n = recvfrom(udp, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &flen);
			if (n >= 2 && buf[0] == 0x04) {
				buf[n] = '\0';
				len = snprintf(line, sizeof(line), "udp %s\n", buf + 1);
				if (write(out, line, (size_t)len) < 0)
					_exit(1);
				len = snprintf(resp + 3, sizeof(resp) - 3,
					       "ServerName;VM;InstanceName;%s;IsClustered;No;Version;15.0.2000.5;tcp;%d;;",
					       buf + 1, tcp_port);
				resp[0] = 0x05;
				resp[1] = (char)(len & 0xff);
				resp[2] = (char)((len >> 8) & 0xff);
				sendto(udp, resp, (size_t)len + 3, 0, (struct sockaddr *)&from, flen);
			}
		}
		if (p[1].revents & POLLIN) {
			/* the accepted connection stays open (and silent) until exit */
			if (accept(tcp, NULL, NULL) >= 0 && write(out, "tcp\n", 4) < 0)
				_exit(1);
		}
	}
}

static void named_instance_is_found_through_the_browser(void **state)
{
	struct sockaddr_in sa;
	struct cms_error err = CMS_ERROR_INIT;
	struct db *db = NULL;
	char got[512];
	int udp, tcp, tcp_port, fds[2], rc;
	ssize_t n, total = 0;
	pid_t pid;

	(void)state;
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(udp >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(1434);
	if (bind(udp, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("cannot bind the fake SQL Server Browser to 127.0.0.1:1434: %s", strerror(errno));
	assert_true((tcp = bind_loopback(&tcp_port, true)) >= 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		browser_child(udp, tcp, tcp_port, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	close(udp);
	close(tcp);

	rc = db_connect_odbc(&db, "pool-rtc",
			     "Driver=FreeTDS;Server=127.0.0.1\\RTC;Database=master;TDS_Version=7.4;Uid=sa",
			     SECRET, LOGIN_TIMEOUT_MS, QUERY_TIMEOUT_MS, &err);
	/* The listener never answers the pre-login: the login times out. */
	assert_int_equal(rc, CMS_ERROR);
	assert_null(db);
	assert_contains(err.message, "cannot connect to server 'pool-rtc': [");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	while (total < (ssize_t)sizeof(got) - 1 &&
	       (n = read(fds[0], got + total, sizeof(got) - 1 - (size_t)total)) > 0)
		total += n;
	got[total] = '\0';
	close(fds[0]);
	/* Asked the browser for RTC, then connected to the port it named. */
	assert_contains(got, "udp RTC\n");
	assert_contains(got, "tcp\n");
	if (strstr(got, "tcp\n") < strstr(got, "udp RTC\n"))
		fail_msg("connected before asking the browser: %s", got);
	cms_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(closed_port_fails_at_once_with_sqlstate),
		cmocka_unit_test(silent_listener_fails_at_the_login_timeout),
		cmocka_unit_test(engine_reports_both_unreachable_and_refuses_them),
		cmocka_unit_test(named_instance_is_found_through_the_browser),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
