# Integration: a PostgreSQL server frozen with SIGSTOP (the postmaster and
# every backend, so the session cmsctl already holds stops answering too).
# Every command ends within its deadline plus a margin -- a correctness
# bound, not a benchmark: the margin is generous for a loaded machine --
# with the documented exit code; an apply abandoned at catch-up undoes the
# fence (the old primary takes writes again), releases the lock and
# journals it; once the server is continued, restore converges.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git
require_odbc

frozen= held=
cleanup() {
	[ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null || true
	[ -n "$held" ] && kill -9 "$held" 2>/dev/null || true
	pg_stop_all
}
start_work_cluster 1
trap cleanup EXIT

# Deadlines: login 2s (cms_config), statements 2s, catch-up 3s.
write_config() { cms_config "$1" "$2" "catch_up_timeout: 3s" "query_timeout: 2s"; }
MARGIN=5 # seconds past a deadline a command may take on a loaded machine

freeze() {
	local pid
	pid=$(head -1 "$(pg_node_dir "$1")/postmaster.pid")
	frozen="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
	kill -STOP $frozen
}
thaw() {
	kill -CONT $frozen
	frozen=
}
# within WHAT START_MS LIMIT_S: the time since START_MS is at most LIMIT_S.
within() {
	local took=$(( $(now_ms) - $2 ))
	if [ "$took" -le $(( $3 * 1000 )) ]; then
		pass "$1 ended in ${took} ms (bound $3 s)"
	else
		fail "$1 took ${took} ms, past its bound of $3 s"
	fi
}

write_config pool-a pool-b
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish

# --- reading commands with the mirror frozen ---
freeze pool-b
t0=$(now_ms)
run 0 "$CMSCTL" status -c cms.yaml --json
within "status with pool-b frozen" "$t0" $((2 + MARGIN))
expect "pool-b seen as unreachable" "$(srv pool-b .reachable)" false
write_config pool-b pool-a
t0=$(now_ms)
run 7 "$CMSCTL" plan -c cms.yaml
within "plan with its target frozen" "$t0" $((2 + MARGIN))
thaw

# --- apply: the target freezes after the fence, during catch-up ---
run 0 "$CMSCTL" plan -c cms.yaml -o s.plan || finish
n=$(jq '[.steps[].action] | index("fence") + 1' s.plan)
hold_apply "$n" s.plan 600
expect "fence journaled done" "$held_status" done
expect "pool-a fenced" "$(pg_writable "$PG_PORT_A")" f
freeze pool-b
t0=$(now_ms)
continue_held "$held"
rc=0
wait "$held" || rc=$?
held=
within "apply abandoned at catch-up" "$t0" $((3 + MARGIN))
expect "apply exit code (rolled back before promotion)" "$rc" 1
sed 's/^/  apply: /' "$W/apply.err" >&2
expect "pool-a writable again" "$(pg_writable "$PG_PORT_A")" t
expect "journal of the run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" rolled_back
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
contains "$W/apply.err" "cmsctl cut the session"

# --- restore while pool-b is frozen ends in bound; after SIGCONT it converges ---
t0=$(now_ms)
rc=0
"$CMSCTL" restore --yes -c cms.yaml >"$W/out" 2>"$W/err" || rc=$?
within "restore with pool-b frozen" "$t0" $((2 + 2 + MARGIN))
pass "restore with pool-b frozen exited $rc"
thaw
write_config pool-a pool-b
run 0 "$CMSCTL" restore --yes -c cms.yaml
expect "pool-a writable after restore" "$(pg_writable "$PG_PORT_A")" t
run 0 "$CMSCTL" status -c cms.yaml --json
expect "pool-b back as mirror" "$(srv pool-b .role)" mirror

# --- apply: the target freezes after catch-up, at promotion ---
# promote_frozen: holds after catch_up is journaled done, freezes pool-b,
# lets the apply go on.  The promotion cannot be known to have taken: exit
# 6 within the deadline, lock released; after SIGCONT, restore converges.
write_config pool-b pool-a
run 0 "$CMSCTL" plan -c cms.yaml -o p.plan || finish
n=$(jq '[.steps[].action] | index("catch_up") + 1' p.plan)
hold_apply "$n" p.plan 600
expect "catch_up journaled done" "$held_status" done
freeze pool-b
t0=$(now_ms)
continue_held "$held"
rc=0
wait "$held" || rc=$?
held=
within "apply cut at promotion" "$t0" $((2 + 3 + MARGIN))
expect "apply exit code (stopped after promotion began)" "$rc" 6
sed 's/^/  apply: /' "$W/apply.err" >&2
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
thaw
t0=$(now_ms)
run 0 "$CMSCTL" restore --yes -c cms.yaml
writers=
for s in pool-a:$PG_PORT_A pool-b:$PG_PORT_B; do
	[ "$(pg_writable "${s#*:}")" = t ] && writers="$writers${writers:+ }${s%%:*}"
done
recorded=$(sq "SELECT primary_server FROM stores")
expect "one writable server after restore, the recorded one" "$writers" "$recorded"
finish
