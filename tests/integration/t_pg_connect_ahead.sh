# Integration: apply connects to the servers while it checks the plan, the
# history and the state (engine_preconnect), including the second session
# that verifies the fence.  On real PostgreSQL streaming replication:
#   - held after check_target, the old primary has that second session
#     open already, idle since its connect, before the fence started;
#   - when that session is gone by the time the fence needs it (ended
#     here with pg_terminate_backend), the fence opens a new one and the
#     switchover completes; the report shows the dead session's failed
#     statement and the new one's;
#   - a plain switchover back has its second session open ahead too, and
#     sends the fence's pg_backend_pid() once, on it;
#   - an apply refused before its probe (its plan already applied) with a
#     server frozen (SIGSTOP) ends at once: the connects it started ahead
#     are cut, not waited for until their login timeout;
#   - sessions opened ahead that were ended while the apply waited (held
#     right after taking the store's lock, longer than the 250 ms after
#     which such a session is asked whether it still answers) are replaced
#     by new ones: the switchover completes instead of being refused with
#     its servers "unreachable".
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq git sqlite3
require_odbc

# A frozen cluster must be thawed before pg_stop_all can stop it.
frozen=
held=
cleanup() {
	local rc=$?
	[ -n "$held" ] && kill -9 "$held" 2>/dev/null
	# shellcheck disable=SC2086 # a list of pids
	[ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null
	pg_stop_all
	exit $rc
}
trap 'exit 130' INT TERM HUP
# pg_start_cluster sets its own EXIT trap: ours replaces it afterwards.
start_work_cluster 2
trap cleanup EXIT
write_config() { cms_config "$1" "$2" "catch_up_timeout: 30s"; }

# hold_at_check_target PLAN OUT: apply PLAN --json >OUT in the background,
# held once check_target (step 1) is journaled done; sets held.
hold_at_check_target() {
	local plan_id st=
	plan_id=$(git hash-object "$1")
	CMSCTL_TEST_HOLD_AT=1:done "$CMSCTL" apply -c cms.yaml "$1" --json >"$2" 2>"$W/apply.err" &
	held=$!
	for _ in $(seq 1 1200); do
		st=$(sq "SELECT status FROM steps WHERE n = 1 AND run_id =
			(SELECT id FROM runs WHERE plan_id = '$plan_id')" 2>/dev/null || true)
		[ "$st" = done ] && return 0
		kill -0 "$held" 2>/dev/null || break
		sleep 0.05
	done
	fail "apply of $1 never reached check_target done ('$st')"
	sed 's/^/  | /' "$W/apply.err" >&2
	finish
}

# idle_cmsctl PORT: the client backends of user cmsctl on PORT whose last
# statement is psqlODBC's own start-up query: sessions connected and never
# used.
idle_cmsctl() {
	psql_on "$1" postgres -At -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'cmsctl'
		AND backend_type = 'client backend' AND pid <> pg_backend_pid()
		AND query LIKE '%typbasetype%'"
}
# fence_pids REPORT: ok flags of the fence step's SELECT pg_backend_pid().
fence_pids() {
	jq -r '[.steps[] | select(.action == "fence") | .statements[]
		| select(.sql == "SELECT pg_backend_pid()") | .ok | tostring] | join(",")' "$1"
}

# ---- adopt, plan a switchover ----
write_config pool-a pool-b
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
write_config pool-b pool-a
run 0 "$CMSCTL" plan -c cms.yaml -o sw.plan || finish

# ---- held after check_target: the fence's session is open already ----
hold_at_check_target sw.plan held.json
expect "sessions on pool-a opened ahead and idle (the fence's verifier)" "$(idle_cmsctl "$PG_PORT_A")" 1
# It dies before the fence uses it.
psql_on "$PG_PORT_A" postgres -At -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE usename = 'cmsctl' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
	AND query LIKE '%typbasetype%'" >/dev/null
continue_held "$held"
rc=0
wait "$held" || rc=$?
held=
expect "held switchover exit" "$rc" 0
expect "held switchover outcome" "$(jq -r .outcome held.json)" ok
expect "fence: the dead session's pg_backend_pid() failed, a new session's answered" \
	"$(fence_pids held.json)" false,true
expect "pool-b is the primary" "$(pg_in_recovery "$PG_PORT_B")" f
expect "pool-a is fenced" "$(pg_read_only "$PG_PORT_A")" on

# ---- a plain switchover back: the session opened ahead serves the fence ----
pg_reseed_standby pool-a "$PG_PORT_A" pool-b "$PG_PORT_B"
write_config pool-a pool-b
run 0 "$CMSCTL" plan -c cms.yaml -o back.plan || finish
hold_at_check_target back.plan back.json
expect "sessions on pool-b opened ahead and idle (the fence's verifier)" "$(idle_cmsctl "$PG_PORT_B")" 1
continue_held "$held"
rc=0
wait "$held" || rc=$?
held=
expect "switchback exit" "$rc" 0
expect "switchback outcome" "$(jq -r .outcome back.json)" ok
expect "fence: one pg_backend_pid(), on the session opened ahead" "$(fence_pids back.json)" true
expect "pool-a is the primary" "$(pg_in_recovery "$PG_PORT_A")" f
expect "no session of cmsctl left idle on pool-b" "$(idle_cmsctl "$PG_PORT_B")" 0

# ---- a refused apply does not wait for a server that does not answer ----
# pool-b frozen (SIGSTOP: its connects hang), a login timeout of 20 s, and
# a plan already applied: the apply is refused before its probe, and the
# connects it started ahead are cut, not waited for.  At least five
# times: a connect cut before it reached the driver (or while it waited
# for its turn at the driver's setup) must be cut too; and until pool-b's
# accept queue shows that a connect to it was on the network when the
# apply was refused (on a loaded machine the refusal can come before
# pool-b's turn: up to 15 rounds).
sed -i 's/login_timeout: 2s/login_timeout: 20s/' cms.yaml
B=$(pg_node_dir pool-b)
pm=$(head -n 1 "$B/postmaster.pid")
frozen="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
# Connections waiting in pool-b's accept queue (its postmaster is stopped:
# every connect made to it stays there).
queued() { ss -ltnH "( sport = :$PG_PORT_B )" | awk '{ n += $2 } END { print n + 0 }'; }
# shellcheck disable=SC2086
kill -STOP $frozen
before=$(queued)
for round in $(seq 1 15); do
	[ "$round" -gt 5 ] && [ "$(queued)" -gt "$before" ] && break
	t0=$(now_ms)
	rc=0
	"$CMSCTL" apply -c cms.yaml back.plan >"$W/out" 2>"$W/err" || rc=$?
	took=$(($(now_ms) - t0))
	# Refused as stale (exit 3): the plan does not match the changed
	# config; a crash in the cut would be another status.
	if [ "$rc" -eq 3 ] && grep -q "is not what the config now makes" "$W/err" && [ "$took" -lt 10000 ]; then
		pass "refused apply $round with pool-b frozen ended in ${took} ms (exit 3; login timeout 20 s)"
	else
		fail "refused apply $round with pool-b frozen: exit $rc after ${took} ms (login timeout 20 s)"
		sed 's/^/  stderr: /' "$W/err" >&2
	fi
done
# The connects were made (they wait in the queue), and were cut.
after=$(queued)
if [ "$after" -gt "$before" ]; then
	pass "the refused applies had connected to pool-b ahead (accept queue $before -> $after)"
else
	fail "the refused applies made no connect to pool-b (accept queue $before -> $after)"
fi
# shellcheck disable=SC2086
kill -CONT $frozen
frozen=

# ---- sessions opened ahead, ended while the apply waited ----
pg_reseed_standby pool-b "$PG_PORT_B" pool-a "$PG_PORT_A"
write_config pool-b pool-a
run 0 "$CMSCTL" plan -c cms.yaml -o late.plan || finish
# The engine takes sessions opened ahead within 2 s; this test build is
# told 60 s, so that a slow machine does not turn the adoption into a
# fresh connect (which would pass without the check under test).
CMSCTL_TEST_PRECONNECT_FRESH_MS=60000 CMSCTL_TEST_HOLD_AT=locked \
	"$CMSCTL" apply -c cms.yaml late.plan --json >late.json 2>"$W/apply.err" &
held=$!
na= nb=
for _ in $(seq 1 400); do
	if grep -q "holding after taking the store's lock" "$W/apply.err"; then
		na=$(idle_cmsctl "$PG_PORT_A") nb=$(idle_cmsctl "$PG_PORT_B")
		[ "$na" = 2 ] && [ "$nb" = 1 ] && break
	fi
	kill -0 "$held" 2>/dev/null || break
	sleep 0.05
done
expect "held after its lock: sessions opened ahead on pool-a (session and verifier)" "$na" 2
expect "held after its lock: sessions opened ahead on pool-b" "$nb" 1
# All of them end, as another runner's fence would end them.
for port in "$PG_PORT_A" "$PG_PORT_B"; do
	psql_on "$port" postgres -At -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE usename = 'cmsctl' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
		AND query LIKE '%typbasetype%'" >/dev/null
done
sleep 0.3 # idle longer than the 250 ms after which they are asked (from their connect)
kill -CONT "$held"
rc=0
wait "$held" || rc=$?
held=
expect "switchover after the sessions ended: exit" "$rc" 0
[ "$rc" -eq 0 ] || sed 's/^/  stderr: /' "$W/apply.err" >&2
expect "switchover after the sessions ended: outcome" "$(jq -r .outcome late.json)" ok
# The verifier was taken from the connects made ahead, found dead by the
# fence and replaced: the sessions were adopted, not dropped.
expect "fence: the ended verifier's pg_backend_pid() failed, a new session's answered" \
	"$(fence_pids late.json)" false,true
expect "pool-b is the primary" "$(pg_in_recovery "$PG_PORT_B")" f

finish
