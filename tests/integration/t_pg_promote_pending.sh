# Integration: a promotion asked for and not yet taken.  pg_promote(false)
# only signals the target's startup process, which promotes once it gets
# to it; here it is stopped (SIGSTOP of pool-b's startup process alone,
# after catch-up), as a startup process busy or starved would be.  Apply
# asks, polls until its deadline (catch-up 3 s) and stops: exit 6, the
# run left for restore.  At no time may two servers take writes (out of
# recovery and default_transaction_read_only off, from a fresh session).
#   1. restore while the promotion is still pending: it keeps pool-b
#      read-only, then undoes the fence (pool-a takes writes); the startup
#      process continued, pool-b promotes and comes up read-only: status
#      reports it fenced, pool-a stays the one writable server.  (Before,
#      restore undid the fence only, and the late promotion made a second
#      writable primary.)
#   3. (run before 2) the old primary frozen when restore undoes the run:
#      nothing is kept then; the later restore that unfences pool-a keeps
#      pool-b read-only first, and its late promotion leaves pool-a the
#      one writable server.
#   2. the promotion taken between restore's decision and its first step
#      (restore held there): the step finds pool-b out of recovery, fences
#      it and stops (exit 6) without closing the run or unfencing pool-a;
#      the next restore finishes the run (pool-b the primary).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git pgrep
require_odbc

stopped= held= frozen=
cleanup() {
	local rc=$?
	set +e
	# shellcheck disable=SC2086 # a list of pids
	[ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	[ -n "$held" ] && kill -9 "$held" 2>/dev/null
	pg_stop_all
	exit $rc
}
trap 'exit 130' INT TERM HUP
start_work_cluster 1
trap cleanup EXIT

policy=("catch_up_timeout: 3s" "query_timeout: 2s")
sq() { sqlite3 -bail .cmsctl/state.db "$1"; }
# pool-b's startup process (the one that replays WAL and promotes).
stop_startup() {
	local pm
	pm=$(head -1 "$(pg_node_dir pool-b)/postmaster.pid")
	stopped=$(pgrep -P "$pm" -f 'startup')
	kill -STOP "$stopped"
}
# Every process of pool-a stopped (SIGSTOP): it does not answer.
freeze_a() {
	local pm
	pm=$(head -1 "$(pg_node_dir pool-a)/postmaster.pid")
	frozen="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
	# shellcheck disable=SC2086 # a list of pids
	kill -STOP $frozen
}
thaw_a() {
	# shellcheck disable=SC2086
	kill -CONT $frozen
	frozen=
}
cont_startup() {
	local i
	kill -CONT "$stopped"
	stopped=
	for i in $(seq 1 300); do
		[ "$(pg_in_recovery "$PG_PORT_B")" = f ] && return 0
		sleep 0.1
	done
	fail "pool-b still in recovery 30 s after its startup process was continued"
}
# pending_apply PLAN: applies PLAN with pool-b's startup process stopped
# after catch-up: the promotion is asked for and never taken.
pending_apply() {
	local n rc=0
	n=$(jq '[.steps[].action] | index("catch_up") + 1' "$1")
	hold_apply "$n" "$1"
	expect "apply held after catch-up" "$held_status" done
	stop_startup
	continue_held "$held"
	wait "$held" || rc=$?
	held=
	sed 's/^/  apply: /' "$W/apply.err" "$W/apply.out" >&2
	expect "apply's exit code (stopped after promotion began)" "$rc" 6
	contains "$W/apply.err" "server 'pool-b' was asked to promote but is still in recovery after 3s"
	expect "writable after the apply" "$(writers)" none
	expect "pool-b still in recovery" "$(pg_in_recovery "$PG_PORT_B")" t
}
run_of() { sq "SELECT outcome FROM runs WHERE plan_id = '$id' AND kind = '$1'"; }

cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
cms_config pool-b pool-a "${policy[@]}"

# ---- 1. restore while the promotion is pending ----
run 0 "$CMSCTL" plan -c cms.yaml -o p1.plan || finish
pending_apply p1.plan
if run 0 "$CMSCTL" status -c cms.yaml; then
	contains "$W/out" "interrupted apply run"
fi
if run 0 "$CMSCTL" restore -c cms.yaml --yes; then
	contains "$W/out" "keep pool-b read-only: the promotion run"
	contains "$W/out" "pool-b was made read-only (default_transaction_read_only) in case the promotion"
fi
expect "journal: the apply" "$(run_of apply)" rolled_back
expect "writable after restore" "$(writers)" pool-a
cont_startup
expect "writable after pool-b's late promotion" "$(writers)" pool-a
expect "pool-b after its late promotion" "$(pg_node_state "$PG_PORT_B")" "primary read_only=on timeline=2 alter_system_ro=1"
if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "status: pool-b" "$(srv pool-b .role)" fenced
	expect "status: pool-a" "$(srv pool-a .role)" primary
fi
expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-a

# pool-b back as pool-a's standby (its follow-up).
pg_reseed_standby pool-b "$PG_PORT_B" pool-a "$PG_PORT_A"

# ---- 3. the old primary away when restore undoes the run ----
# The undo cannot unfence pool-a, so it keeps nothing (pool-b might have
# had to serve); the later restore that unfences pool-a keeps pool-b
# read-only first, its promotion still pending.  (Before, that restore
# unfenced pool-a only, and the late promotion made two writable
# primaries.)
run 0 "$CMSCTL" plan -c cms.yaml -o p3.plan || finish
pending_apply p3.plan
freeze_a
run 6 "$CMSCTL" restore -c cms.yaml --yes
contains "$W/out" "pool-a was unreachable: its fence could not be undone"
expect "journal: the apply" "$(run_of apply)" rolled_back
thaw_a
expect "writable with pool-a still fenced" "$(writers)" none
if run 0 "$CMSCTL" restore -c cms.yaml --yes; then
	contains "$W/out" "keep pool-b read-only: the promotion run"
	contains "$W/out" "pool-b was made read-only (default_transaction_read_only) in case a promotion asked for earlier still completes"
fi
expect "writable after the second restore" "$(writers)" pool-a
cont_startup
expect "writable after pool-b's late promotion" "$(writers)" pool-a
pg_reseed_standby pool-b "$PG_PORT_B" pool-a "$PG_PORT_A"

# ---- 2. the promotion taken after restore decided, before its first step ----
run 0 "$CMSCTL" plan -c cms.yaml -o p2.plan || finish
pending_apply p2.plan
CMSCTL_TEST_HOLD_AT=1:done "$CMSCTL" restore -c cms.yaml --yes >"$W/apply.out" 2>"$W/apply.err" &
held=$!
for _ in $(seq 1 400); do
	grep -q "holding at step" "$W/apply.err" 2>/dev/null && break
	sleep 0.05
done
contains "$W/apply.err" "holding at step 1:done"
cont_startup
# Promoted, its databases still closed by the replicated fence: pool-a is
# fenced, so pool-b is the one server out of recovery and read-write.
expect "writable once pool-b took the promotion" "$(writers)" pool-b
kill -CONT "$held"
rc=0
wait "$held" || rc=$?
held=
sed 's/^/  restore: /' "$W/apply.err" "$W/apply.out" >&2
expect "restore's exit code (it changed pool-b, then stopped)" "$rc" 6
contains "$W/apply.err" "server 'pool-b' left recovery: the promotion it was asked for took after all"
# Not kept read-only: no follow-up says it was (nor to re-seed pool-b,
# which the next restore makes the primary).
lacks "$W/apply.out" "was made read-only"
expect "writable after the stopped restore" "$(writers)" none
expect "pool-a still fenced" "$(pg_closed_dbs "$PG_PORT_A")" 2
expect "journal: the apply still open" "$(run_of apply)" running
if run 0 "$CMSCTL" restore -c cms.yaml --yes; then
	contains "$W/out" "the target took the promotion"
fi
expect "journal: the apply after restore" "$(run_of apply)" restored
expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-b
expect "writable after the second restore" "$(writers)" pool-b
run 0 "$CMSCTL" audit verify -c cms.yaml
finish
