# Integration: an apply killed with SIGKILL between the fence and the
# promotion, and right around the promotion, on real PostgreSQL streaming
# replication; then `cmsctl restore`.  The harness of tests/e2e/t_apply_kill.sh:
# CMSCTL_TEST_HOLD_AT=N:STATUS makes apply hold still right after it
# journals step N as STATUS, the harness watches the journal (state.db)
# until it shows that, and kills the process there.
#
# After each kill: the state passes PRAGMA integrity_check, status names
# the interrupted run, apply of the same plan refuses (exit 6), and no
# server took writes unless the promotion went through.  After restore:
# exactly one server takes writes (not in recovery and
# default_transaction_read_only off, asked from a fresh session), it is
# the recorded primary and the published one, and status shows neither
# drift nor an interrupted run.
#
# Cases, on one primary/standby pair:
#   fence:done, catch_up:done, promote:running
#       the promotion was never sent: restore undoes the fence (pool-a);
#       once the promotion's start is journaled (catch_up:done is written
#       with it), restore first keeps pool-b read-only, in case a
#       promotion that was asked for still completes;
#   promote:running, but the promotion reached the server anyway (we send
#       it ourselves after the kill, as if it had left just before):
#       the servers, not the journal, decide: pool-b comes up read-only
#       (kept so by the restore before), restore finishes the run (pool-b);
#   promote:done (after re-seeding pool-a from pool-b, moving back to it):
#       restore finishes the run (pool-a).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git
require_odbc

# The apply being held, killed by the EXIT trap should a check bail out.
held=
cleanup() {
	if [ -n "$held" ]; then
		kill -9 "$held" 2>/dev/null || true
	fi
	pg_stop_all
}
start_work_cluster 1
trap cleanup EXIT

# write_config PRIMARY MIRROR
write_config() { cms_config "$1" "$2" "catch_up_timeout: 30s"; }

# The servers taking writes, each asked from a fresh session.
writable() {
	local s w=
	for s in pool-a:$PG_PORT_A pool-b:$PG_PORT_B; do
		[ "$(pg_writable "${s#*:}")" = t ] && w="$w${w:+ }${s%%:*}"
	done
	echo "${w:-none}"
}

# kill_at ACTION STATUS: plans the move cms.yaml asks for, applies it with
# the hold at the plan's ACTION step, and SIGKILLs it there.
kill_at() {
	local action=$1 st=$2 n id i got=""
	run 0 "$CMSCTL" plan -c cms.yaml -o kill.plan || finish
	expect "plan mode" "$(jq -r .mode kill.plan)" switchover
	n=$(jq --arg a "$action" '[.steps[].action] | index($a) + 1' kill.plan)
	id=$(git hash-object kill.plan)
	CMSCTL_TEST_HOLD_AT="$n:$st" "$CMSCTL" apply -c cms.yaml kill.plan >"$W/apply.out" 2>"$W/apply.err" &
	held=$!
	for i in $(seq 1 600); do
		got=$(sq "SELECT status FROM steps WHERE n = $n AND run_id =
			(SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null || true)
		[ "$got" = "$st" ] && break
		kill -0 "$held" 2>/dev/null || break
		sleep 0.05
	done
	if [ "$got" != "$st" ]; then
		fail "step $n ($action) never reached $st (last '$got')"
		sed 's/^/  | /' "$W/apply.err" >&2
		finish
	fi
	kill -9 "$held"
	wait "$held" 2>/dev/null || true
	held=
	pass "killed apply at step $n ($action) $st"
	expect "integrity_check after the kill" "$(sq 'PRAGMA integrity_check')" ok
	expect "journal of the killed run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" running
	if run 0 "$CMSCTL" status -c cms.yaml; then
		contains "$W/out" "interrupted apply run"
		contains "$W/out" "$n. $action"
	fi
	run 6 "$CMSCTL" apply -c cms.yaml kill.plan || true
}

# restored WANT-PRIMARY HOW: restore, then one writable server, recorded
# and published.
restored() {
	local want=$1 how=$2
	if run 0 "$CMSCTL" restore --yes -c cms.yaml; then
		contains "$W/out" "was $how by restore"
	fi
	expect "writable after restore" "$(writable)" "$want"
	expect "recorded primary" "$(sq "SELECT primary_server FROM stores")" "$want"
	expect "published primary" "$(jq -r .primary location.json)" "$want"
	expect "published serial" "$(jq -r .serial location.json)" "$(sq "SELECT serial FROM stores")"
	if run 0 "$CMSCTL" status -c cms.yaml; then
		contains "$W/out" "drift: none"
		if grep -q interrupted "$W/out"; then
			fail "status still reports an interrupted run"
		fi
	fi
}

write_config pool-a pool-b
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
write_config pool-b pool-a

# ---- the promotion was never sent: restore undoes the fence ----
for c in fence:done catch_up:done promote:running; do
	kill_at "${c%:*}" "${c#*:}"
	expect "writable after the kill at $c" "$(writable)" none
	expect "pool-a after the kill at $c" "$(pg_node_state "$PG_PORT_A")" "primary read_only=on timeline=1 alter_system_ro=1"
	restored pool-a closed
	expect "pool-a after restore" "$(pg_node_state "$PG_PORT_A")" "primary read_only=off timeline=1 alter_system_ro=0"
	if [ "$c" = fence:done ]; then
		expect "pool-b after restore" "$(pg_node_state "$PG_PORT_B")" "standby read_only=off timeline=1 alter_system_ro=0"
	else
		expect "pool-b after restore (kept read-only)" "$(pg_node_state "$PG_PORT_B")" "standby read_only=on timeline=1 alter_system_ro=1"
	fi
	expect "serial after undoing $c" "$(sq "SELECT serial FROM stores")" 1
done

# ---- journal says running, but the promotion took: restore finishes ----
kill_at promote running
psql_on "$PG_PORT_B" postgres -At -c 'SELECT pg_promote(true)' >/dev/null
# pool-b promoted, read-only as the restore before left it: nothing takes writes.
expect "writable after the kill and an outside promotion" "$(writable)" none
restored pool-b finished
expect "pool-a after restore" "$(pg_node_state "$PG_PORT_A")" "primary read_only=on timeline=1 alter_system_ro=1"
expect "serial after finishing" "$(sq "SELECT serial FROM stores")" 2

# ---- back to pool-a, killed right after its promotion ----
pg_reseed_standby pool-a "$PG_PORT_A" pool-b "$PG_PORT_B"
write_config pool-a pool-b
kill_at promote "done"
expect "writable after the kill at promote:done" "$(writable)" pool-a
restored pool-a finished
expect "pool-b after restore" "$(pg_node_state "$PG_PORT_B")" "primary read_only=on timeline=2 alter_system_ro=1"
expect "pool-a timeline" "$(pg_node_state "$PG_PORT_A")" "primary read_only=off timeline=3 alter_system_ro=0"
expect "serial after finishing" "$(sq "SELECT serial FROM stores")" 3

finish
