/*
 * The floor of a PostgreSQL promotion, for tests/bench/pg_switchover.sh:
 * the least time one client can observe between asking a standby to
 * promote and seeing it out of recovery.  One libpq connection, opened
 * before the clock starts; then SELECT pg_promote(false) (returns at once)
 * and SELECT pg_is_in_recovery() until false, every POLL_US microseconds
 * (default 1000; 0 is a tight loop, which on a small machine takes a core
 * from the promoting server and comes out slower).
 *
 *   floor CONNINFO [POLL_US]
 *
 * Prints one line: "total_ms=T promote_call_ms=P polls=N", T and P in
 * milliseconds with microsecond precision.  Exit 0 on success, 1 when the
 * server is not a standby, refuses, or is still in recovery after 60 s.
 *
 * Build: cc -O2 -o floor floor.c $(pkg-config --cflags --libs libpq)
 */
#define _POSIX_C_SOURCE 200809L
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIMIT_MS 60000.0

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The one value of a one-row, one-column query, into out; 0 on success. */
static int value(PGconn *c, const char *sql, char *out, size_t n)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1 &&
		 !PQgetisnull(r, 0, 0);

	if (ok)
		snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
	else
		fprintf(stderr, "floor: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	PGconn *c;
	char v[16];
	double t0, t1, t2;
	long polls = 0, poll_us = 1000;
	struct timespec pause;
	char *end;
	int rc = 1;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: floor CONNINFO [POLL_US]\n");
		return 64;
	}
	if (argc == 3) {
		poll_us = strtol(argv[2], &end, 10);
		if (*argv[2] == '\0' || *end || poll_us < 0 || poll_us > 1000000) {
			fprintf(stderr, "floor: POLL_US must be 0..1000000\n");
			return 64;
		}
	}
	pause.tv_sec = poll_us / 1000000;
	pause.tv_nsec = (poll_us % 1000000) * 1000L;
	c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "floor: cannot connect: %s", PQerrorMessage(c));
		goto done;
	}
	if (value(c, "SELECT pg_is_in_recovery()", v, sizeof(v)) < 0)
		goto done;
	if (strcmp(v, "t") != 0) {
		fprintf(stderr, "floor: the server is not in recovery: nothing to promote\n");
		goto done;
	}
	t0 = now_ms();
	if (value(c, "SELECT pg_promote(false)", v, sizeof(v)) < 0)
		goto done;
	t1 = now_ms();
	if (strcmp(v, "t") != 0) {
		fprintf(stderr, "floor: pg_promote(false) returned %s\n", v);
		goto done;
	}
	for (;;) {
		if (value(c, "SELECT pg_is_in_recovery()", v, sizeof(v)) < 0)
			goto done;
		polls++;
		t2 = now_ms();
		if (strcmp(v, "f") == 0)
			break;
		if (t2 - t0 > LIMIT_MS) {
			fprintf(stderr, "floor: still in recovery after %.0f ms\n", t2 - t0);
			goto done;
		}
		if (poll_us)
			nanosleep(&pause, NULL);
	}
	printf("total_ms=%.3f promote_call_ms=%.3f polls=%ld\n", t2 - t0, t1 - t0, polls);
	rc = 0;
done:
	PQfinish(c);
	return rc;
}
