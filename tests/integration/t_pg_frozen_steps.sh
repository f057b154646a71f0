# Integration: a PostgreSQL server frozen (SIGSTOP of its postmaster and
# every backend) after apply connected to it, at the steps that
# t_pg_deadlines.sh does not reach: the fence, the demote and the
# verification.  Apply is held at the step boundary before
# (CMSCTL_TEST_HOLD_AT), the server frozen, apply continued.  Each time:
# apply ends within the deadlines it meets plus 1 s with the documented
# exit code, the lock released, the journal true; after SIGCONT, restore
# converges to exactly one writable server, the recorded one.
#   fence   (old primary pool-a frozen): exit 1, rolled back; the fence's
#           undo cannot reach pool-a either, a follow-up says so; restore
#           makes pool-a take writes again.
#   demote  (old primary pool-a frozen, after promotion; it was fenced and
#           the fence verified): its look at pool-a and one fresh connect
#           are cut, pool-a is taken as unreachable with a follow-up (it
#           must not come back as a primary), the move ends: exit 0.
#   verify  (new primary pool-a frozen, after promotion): exit 6, the run
#           left unfinished for restore (status says interrupted, itself
#           bounded while pool-a is frozen); restore finishes the move.
# Deadlines: login 2 s, statements 2 s, catch-up 3 s; each cut is 0.5 s
# past its timeout.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git pgrep
require_odbc

frozen= held=
cleanup() {
	local rc=$?
	set +e
	# shellcheck disable=SC2086 # a list of pids
	[ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null
	[ -n "$held" ] && kill -9 "$held" 2>/dev/null
	pg_stop_all
	exit $rc
}
trap 'exit 130' INT TERM HUP
start_work_cluster 1
trap cleanup EXIT

policy=("catch_up_timeout: 3s" "query_timeout: 2s")
sq() { sqlite3 -bail .cmsctl/state.db "$1"; }
freeze() {
	local pid
	pid=$(head -1 "$(pg_node_dir "$1")/postmaster.pid")
	frozen="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
	# shellcheck disable=SC2086
	kill -STOP $frozen
}
port_of() { [ "$1" = pool-a ] && echo "$PG_PORT_A" || echo "$PG_PORT_B"; }
# thaw NODE: continues it and waits until the sessions apply left there
# are gone (their statements, sent before the freeze, run first).
thaw() {
	local i n=
	# shellcheck disable=SC2086
	kill -CONT $frozen
	frozen=
	for i in $(seq 1 300); do
		n=$(psql_on "$(port_of "$1")" postgres -At -c "SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null || true)
		[ "$n" = 0 ] && return 0
		sleep 0.1
	done
	fail "$1 still has ${n:-?} client sessions 30 s after SIGCONT"
}
# frozen_at ACTION NODE PLAN: applies PLAN held after the step before
# ACTION, freezes NODE, continues; sets rc and the run's id.
frozen_at() {
	local action=$1 node=$2 plan=$3 n
	n=$(jq --arg a "$action" '[.steps[].action] | index($a)' "$plan")
	hold_apply "$n" "$plan"
	expect "apply held before $action" "$held_status" done
	freeze "$node"
	t0=$(now_ms)
	continue_held "$held"
	rc=0
	wait "$held" || rc=$?
	held=
	sed 's/^/  apply: /' "$W/apply.err" "$W/apply.out" >&2
}
step_status() {
	sq "SELECT status FROM steps WHERE action = '$1' AND run_id = (SELECT id FROM runs WHERE plan_id = '$id')"
}
only_writer() {
	local w= s
	for s in pool-a:$PG_PORT_A pool-b:$PG_PORT_B; do
		[ "$(pg_writable "${s#*:}")" = t ] && w="$w${w:+ }${s%%:*}"
	done
	expect "$1: one writable server, the recorded one" "$w" "$(sq 'SELECT primary_server FROM stores')"
}

cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish

# --- the old primary freezes before the fence ---
cms_config pool-b pool-a "${policy[@]}"
run 0 "$CMSCTL" plan -c cms.yaml -o f.plan || finish
before_b=$(pg_node_state "$PG_PORT_B")
frozen_at fence pool-a f.plan
# The fence's first statement is cut (2 + 0.5 s); its undo connects anew
# to the frozen server and is cut (2 + 0.5 s).
ended_within "apply frozen at the fence" "$t0" 5000
# Rolled back, but the fence's undo failed: a change is left, exit 6.
expect "exit code (failed before promotion, the fence left)" "$rc" 6
contains "$W/apply.err" "cmsctl cut the session"
contains "$W/apply.err" "the fence of 'pool-a' could not be undone"
contains "$W/apply.out" "pool-a may still be fenced: its fence failed, perhaps part-way, and the undo failed"
expect "journal: run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" rolled_back
expect "journal: fence" "$(step_status fence)" failed
expect "journal: promote" "$(step_status promote)" skipped
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
expect "pool-b unchanged" "$(pg_node_state "$PG_PORT_B")" "$before_b"
thaw pool-a
cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" restore --yes -c cms.yaml
expect "pool-a writable after restore" "$(pg_writable "$PG_PORT_A")" t
expect "pool-a's databases open" "$(pg_closed_dbs "$PG_PORT_A")" 0
only_writer "after the fence"

# --- the old primary freezes before the demote, after promotion ---
cms_config pool-b pool-a "${policy[@]}"
run 0 "$CMSCTL" plan -c cms.yaml -o d.plan || finish
frozen_at demote pool-a d.plan
# The demote's look at pool-a is cut (2 + 0.5 s), so is its fresh connect
# (2 + 0.5 s), then the verification's (2 + 0.5 s).
ended_within "apply frozen at the demote" "$t0" 7500
expect "exit code (moved; pool-a left to a follow-up)" "$rc" 0
contains "$W/apply.out" "server 'pool-a' was unreachable at failover: it must not be restarted as a primary"
expect "journal: run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" ok
expect "journal: demote" "$(step_status demote)" done
expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-b
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
thaw pool-a
run 0 "$CMSCTL" restore --yes -c cms.yaml
expect "recorded primary after restore" "$(sq 'SELECT primary_server FROM stores')" pool-b
expect "pool-a still fenced" "$(pg_writable "$PG_PORT_A")" f
only_writer "after the demote"

# pool-a back as pool-b's standby, then the move back to it.
pg_reseed_standby pool-a "$PG_PORT_A" pool-b "$PG_PORT_B"
run 0 "$CMSCTL" status -c cms.yaml --json
expect "pool-a re-seeded as mirror" "$(srv pool-a .role)" mirror

# --- the new primary freezes before the verification ---
cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" plan -c cms.yaml -o v.plan || finish
frozen_at verify pool-a v.plan
# The verification's look at pool-a is cut (2 + 0.5 s).
ended_within "apply frozen at the verification" "$t0" 2500
expect "exit code (stopped after promotion began)" "$rc" 6
contains "$W/apply.err" "verification failed: pool-a reports primary (observed unreachable"
expect "journal: run (unfinished)" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" running
expect "journal: promote" "$(step_status promote)" done
expect "journal: verify" "$(step_status verify)" failed
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
t0=$(now_ms)
run 0 "$CMSCTL" status -c cms.yaml --json
ended_within "status with pool-a frozen" "$t0" 2500
expect "status: the run is interrupted" "$(jq -r '.stores[0].interrupted.plan_id' "$W/out")" "$id"
thaw pool-a
run 0 "$CMSCTL" restore --yes -c cms.yaml
expect "journal: the apply after restore" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id' AND kind = 'apply'")" restored
expect "journal: the restore" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id' AND kind = 'restore'")" ok
expect "recorded primary after restore" "$(sq 'SELECT primary_server FROM stores')" pool-a
only_writer "after the verification"
finish
