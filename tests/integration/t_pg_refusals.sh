# Integration: the preconditions that refuse a move (exit 7, or exit 3 when
# a saved plan's observations no longer hold), on real PostgreSQL streaming
# replication driven through the cmsctl binary.  After every refusal
# nothing has changed: each server keeps its role (pg_is_in_recovery), its
# default_transaction_read_only (from a fresh session, and in the
# configuration files, so an unreloaded ALTER SYSTEM shows too) and its
# timeline; the state keeps its serial and journals no run; the published
# location is the same file; the history gains no commit.
#
#   a. lag above policy.max_lag_bytes (WAL replay paused on the standby):
#      refused by plan, and by apply of a plan made while the lag was fine
#      (the re-check before any change);
#   a2. catch-up timeout: replay paused but the lag within max_lag_bytes,
#      so plan and the re-check pass; apply fences, waits catch_up_timeout
#      (1s) and refuses (exit 7), undoing the fence.  Unlike the other
#      cases this one changed a server and back, and journals a run: the
#      checks are that pool-a takes writes again from a fresh session with
#      no ALTER SYSTEM residue, pool-b is still a standby, the serial and
#      the published location are unchanged, and the report and the
#      journal show the fence 'undone';
#   b. the target down: stopped (connection refused) and frozen (postmaster
#      SIGSTOPped: the connection hangs until policy.login_timeout), each
#      refused by plan within seconds and by apply of an earlier plan;
#   c. the primary down with allow_data_loss false: plan names the policy
#      line that would allow it; apply of an earlier switchover plan is
#      refused.  (t_pg_failover.sh checks the exit code of the plan and
#      then carries the failover out; here only what it leaves unchanged.)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git
require_odbc

# run_refused CMD...: like run, but exit 3 (plan stale) or 7 (refused) will do.
run_refused() {
	local got=0
	"$@" >"$W/out" 2>"$W/err" || got=$?
	if [ "$got" != 3 ] && [ "$got" != 7 ]; then
		fail "'$*' exited $got, expected 3 or 7"
		sed 's/^/  stdout: /' "$W/out" >&2
		sed 's/^/  stderr: /' "$W/err" >&2
		return 1
	fi
	pass "'$*' exited $got"
}

# A frozen postmaster must be thawed before pg_stop_all can stop it.
frozen=
cleanup() {
	if [ -n "$frozen" ]; then
		kill -CONT "$frozen" 2>/dev/null || true
	fi
	pg_stop_all
}
start_work_cluster 1
trap cleanup EXIT
B=$(pg_node_dir pool-b)

# write_config PRIMARY MIRROR
write_config() {
	cms_config "$1" "$2" "allow_data_loss: false" "max_lag_bytes: 64KiB" "catch_up_timeout: 10s"
}

# What a refusal must leave alone, as one comparable text.
snapshot() {
	printf 'pool-a: %s\n' "$(pg_node_state "$PG_PORT_A")"
	printf 'pool-b: %s\n' "$(pg_node_state "$PG_PORT_B")"
	printf 'serial: %s\n' "$(sq 'SELECT serial FROM stores')"
	printf 'recorded: %s\n' "$(sq 'SELECT primary_server FROM stores')"
	printf 'runs: %s\n' "$(sq 'SELECT count(*) FROM runs')"
	printf 'history: %s\n' "$(git --git-dir=.cmsctl/history rev-list --count cms-history)"
	printf 'published: %s\n' "$(sha1sum <location.json)"
}
# unchanged WHAT: the snapshot equals the one taken into $W/before.
unchanged() {
	snapshot >"$W/after"
	if cmp -s "$W/before" "$W/after"; then
		pass "$1: nothing changed ($(grep -c . "$W/after") readings)"
	else
		fail "$1: something changed"
		diff -u "$W/before" "$W/after" | sed 's/^/  | /' >&2
	fi
}

# Pauses WAL replay on pool-b and waits until it is paused.
pause_replay() {
	local i s
	psql_on "$PG_PORT_B" postgres -c 'SELECT pg_wal_replay_pause()' >/dev/null
	for i in $(seq 1 100); do
		s=$(psql_on "$PG_PORT_B" postgres -At -c 'SELECT pg_get_wal_replay_pause_state()')
		[ "$s" = paused ] && break
		sleep 0.05
	done
	expect "pool-b replay" "$s" paused
}

# Pauses WAL replay on pool-b and writes about 600 KiB of WAL on pool-a,
# which pool-b receives (it is the synchronous standby: commits wait for
# its flush, not its replay) but does not replay.
make_lag() {
	local from=$1
	pause_replay
	psql_on "$PG_PORT_A" xds -c \
		"INSERT INTO t SELECT g, repeat('x', 500) FROM generate_series($from, $from + 999) AS g" >/dev/null
	expect "pool-b lags more than 64 KiB" "$(psql_on "$PG_PORT_B" postgres -At -c \
		"SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) > 65536")" t
}

# Resumes replay and waits until pool-b has replayed everything pool-a wrote.
end_lag() {
	local want i got
	psql_on "$PG_PORT_B" postgres -c 'SELECT pg_wal_replay_resume()' >/dev/null
	want=$(psql_on "$PG_PORT_A" postgres -At -c 'SELECT pg_current_wal_lsn()')
	for i in $(seq 1 200); do
		got=$(psql_on "$PG_PORT_B" postgres -At -c "SELECT pg_last_wal_replay_lsn() >= '$want'")
		[ "$got" = t ] && return 0
		sleep 0.05
	done
	pgc_fail "pool-b did not replay up to $want after the pause"
}

# Waits until pool-a sees pool-b streaming synchronously again.
wait_sync() {
	local i s
	for i in $(seq 1 300); do
		s=$(psql_on "$PG_PORT_A" postgres -At -c \
			"SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = 'pool-b'")
		[ "$s" = streaming/sync ] && return 0
		sleep 0.1
	done
	pgc_fail "pool-b does not stream synchronously from pool-a (saw '$s')"
}

# ---- adopt: serial 1 ----
write_config pool-a pool-b
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
expect "serial after adopt" "$(sq 'SELECT serial FROM stores')" 1
# From here on cms.yaml asks for a switchover to pool-b.
write_config pool-b pool-a

# ---- a. lag beyond policy.max_lag_bytes ----
make_lag 1000
snapshot >"$W/before"
run 7 "$CMSCTL" plan -c cms.yaml -o lag.plan || true
contains "$W/err" "policy.max_lag_bytes (65536)"
contains "$W/err" "'pool-b' is "
if [ -e lag.plan ]; then
	fail "a refused plan was saved"
fi
unchanged "plan refused for lag"
end_lag

# A plan made while the lag is fine; then the lag grows before apply.
run 0 "$CMSCTL" plan -c cms.yaml -o fine.plan || finish
expect "plan mode" "$(jq -r .mode fine.plan)" switchover
make_lag 2000
snapshot >"$W/before"
run 7 "$CMSCTL" apply -c cms.yaml fine.plan || true
contains "$W/err" "more than policy.max_lag_bytes (65536)"
unchanged "apply refused for lag at the re-check"
end_lag

# ---- a2. catch-up timeout: the fence is undone ----
# The lag must pass the plan and the re-check, yet the catch-up must have
# something to wait for.  The fence itself writes no WAL (ALTER SYSTEM
# edits a file, the write probe is refused), so with replay merely paused
# the target would already be at the fenced primary's position and the
# promotion would go through.  One small row, written after the pause,
# is WAL pool-b receives (synchronous: flushed) but cannot replay.
pause_replay
psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES (3000, 'not replayed')" >/dev/null
expect "pool-b lags, but by less than 64 KiB" "$(psql_on "$PG_PORT_B" postgres -At -c \
	"SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) BETWEEN 1 AND 65535")" t
cms_config pool-b pool-a "allow_data_loss: false" "max_lag_bytes: 64KiB" "catch_up_timeout: 1s"
run 0 "$CMSCTL" plan -c cms.yaml -o catchup.plan || finish
expect "plan mode" "$(jq -r .mode catchup.plan)" switchover
published=$(sha1sum <location.json)
run 7 "$CMSCTL" apply -c cms.yaml catchup.plan --json || true
cp "$W/out" "$W/report.json"
contains "$W/err" "standby 'pool-b' did not catch up within 1s"
contains "$W/err" "WAL replay is paused there"
expect "report outcome" "$(jq -r .outcome "$W/report.json")" rolled_back
expect "report steps" "$(jq -r '[.steps[] | .action + ":" + .status] | join(" ")' "$W/report.json")" \
	"check_target:done fence:undone catch_up:failed promote:skipped reread_roles:skipped demote:skipped publish:skipped verify:skipped"
run_id=$(jq -r .run_id "$W/report.json")
expect "journal: the fence" "$(sq "SELECT status FROM steps WHERE run_id = '$run_id' AND action = 'fence'")" undone
expect "journal: the run" "$(sq "SELECT outcome FROM runs WHERE id = '$run_id'")" rolled_back
expect "pool-a takes writes again (fresh session)" "$(pg_writable "$PG_PORT_A")" t
expect "pool-a after the undo" "$(pg_node_state "$PG_PORT_A")" "primary read_only=off timeline=1 alter_system_ro=0"
expect "default_transaction_read_only lines in pool-a's postgresql.auto.conf" \
	"$(pg_as_owner grep -c default_transaction_read_only "$(pg_node_dir pool-a)/postgresql.auto.conf" || true)" 0
expect "pool-a: store databases refusing connections after the undo" "$(pg_closed_dbs "$PG_PORT_A")" 0
expect "pool-b still in recovery" "$(pg_in_recovery "$PG_PORT_B")" t
expect "serial after the catch-up timeout" "$(sq 'SELECT serial FROM stores')" 1
expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-a
expect "published location" "$(sha1sum <location.json)" "$published"
end_lag
# The fence's ALTER DATABASE and its undo both replicated: nothing is left
# on the standby either.
expect "pool-b: store databases refusing connections after the undo" "$(pg_closed_dbs "$PG_PORT_B")" 0
write_config pool-b pool-a

# ---- b. the target is down ----
# Stopped: connections are refused at once.
run 0 "$CMSCTL" plan -c cms.yaml -o before-stop.plan || finish
pg_as_owner "$PG_BIN/pg_ctl" -D "$B" -m fast -w stop >/dev/null
snapshot >"$W/before"
expect "pool-b in the snapshot" "$(sed -n 's/^pool-b: //p' "$W/before")" down
t0=$(now_ms)
run 7 "$CMSCTL" plan -c cms.yaml -o stopped.plan || true
elapsed=$(($(now_ms) - t0))
contains "$W/err" "target 'pool-b' is unreachable: cannot connect to server 'pool-b'"
if [ "$elapsed" -lt 10000 ]; then
	pass "plan refused the stopped target in $elapsed ms"
else
	fail "plan took $elapsed ms to refuse the stopped target (login_timeout 2s)"
fi
run_refused "$CMSCTL" apply -c cms.yaml before-stop.plan || true
contains "$W/err" "pool-b"
unchanged "target stopped"
pg_as_owner "$PG_BIN/pg_ctl" -D "$B" -l "$PGCLUSTER_DIR/pool-b.log" -o "-p $PG_PORT_B" -w -t 60 start >/dev/null ||
	pgc_fail "cannot restart pool-b"
wait_sync

# Frozen: the postmaster accepts nothing but the kernel completes the TCP
# handshake, so only the login timeout (2s) ends the wait.
run 0 "$CMSCTL" plan -c cms.yaml -o before-freeze.plan || finish
frozen=$(head -n 1 "$B/postmaster.pid")
kill -STOP "$frozen"
snapshot >"$W/before"
t0=$(now_ms)
run 7 "$CMSCTL" plan -c cms.yaml -o frozen.plan || true
elapsed=$(($(now_ms) - t0))
contains "$W/err" "target 'pool-b' is unreachable: cannot connect to server 'pool-b'"
contains "$W/err" "timeout expired"
if [ "$elapsed" -ge 1500 ] && [ "$elapsed" -lt 10000 ]; then
	pass "plan refused the frozen target in $elapsed ms (login_timeout 2s)"
else
	fail "plan took $elapsed ms to refuse the frozen target, expected about the login timeout (2s)"
fi
t0=$(now_ms)
run_refused "$CMSCTL" apply -c cms.yaml before-freeze.plan || true
elapsed=$(($(now_ms) - t0))
contains "$W/err" "pool-b"
if [ "$elapsed" -lt 10000 ]; then
	pass "apply refused the frozen target in $elapsed ms"
else
	fail "apply took $elapsed ms to refuse the frozen target (login_timeout 2s)"
fi
unchanged "target frozen"
kill -CONT "$frozen"
frozen=
wait_sync

# ---- c. the primary is down and data loss is not allowed ----
run 0 "$CMSCTL" plan -c cms.yaml -o before-crash.plan || finish
pg_as_owner "$PG_BIN/pg_ctl" -D "$(pg_node_dir pool-a)" -m immediate stop >/dev/null
snapshot >"$W/before"
run 7 "$CMSCTL" plan -c cms.yaml -o crash.plan || true
contains "$W/err" "failover of store 'redmond' to 'pool-b' may lose data and policy.allow_data_loss is false"
contains "$W/err" "set 'allow_data_loss: true' under policy of store 'redmond'"
run_refused "$CMSCTL" apply -c cms.yaml before-crash.plan || true
contains "$W/err" "pool-a"
unchanged "primary down, allow_data_loss false"
expect "pool-b still a standby" "$(pg_writable "$PG_PORT_B")" f

finish
