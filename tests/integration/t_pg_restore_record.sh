# Integration: a restore that finishes an interrupted run records the new
# location in the state before it publishes it, as apply does, so that no
# publish target holds a location the state does not.  An apply is killed
# with its promotion journaled running, the promotion is sent from outside
# (it took), and restore finishes the run:
#   1. held right after its publish step: the state already records pool-b
#      at the serial location.json holds.  (Before, the state was written
#      after the verification.)
#   2. the new primary pool-b frozen, the restore continued: its
#      verification fails (exit 6), and the state and location.json still
#      agree; status names the recorded primary truly.  (Before, the state
#      kept pool-a at the old serial while location.json said pool-b: a
#      restore --assume-down of a lost pool-b was then refused by the
#      publish check, and nothing could settle the store.)
#   3. pool-b continued: restore finishes, one writable server, pool-b.
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
recorded() { sq 'SELECT primary_server || " " || serial FROM stores'; }
published() { jq -r '.primary + " " + (.serial | tostring)' location.json; }

cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
cms_config pool-b pool-a "${policy[@]}"
run 0 "$CMSCTL" plan -c cms.yaml -o r.plan || finish
n=$(jq '[.steps[].action] | index("promote") + 1' r.plan)
CMSCTL_TEST_HOLD_AT="$n:running" "$CMSCTL" apply -c cms.yaml r.plan >"$W/apply.out" 2>"$W/apply.err" &
held=$!
wait_hold "$W/apply.err"
kill -9 "$held"
wait "$held" 2>/dev/null || true
held=
psql_on "$PG_PORT_B" postgres -At -c 'SELECT pg_promote(true)' >/dev/null
expect "writable after the outside promotion" "$(writers)" pool-b

# ---- 1. held after its publish ----
# Steps: record, promote (the databases still closed), reread_roles,
# demote, publish, verify.
CMSCTL_TEST_HOLD_AT=5:done "$CMSCTL" restore -c cms.yaml --yes >"$W/r.out" 2>"$W/r.err" &
held=$!
wait_hold "$W/r.err"
expect "published after the publish step" "$(published)" "pool-b 2"
expect "recorded when published" "$(recorded)" "pool-b 2"

# ---- 2. the new primary frozen before the verification ----
freeze pool-b
kill -CONT "$held"
rc=0
wait "$held" || rc=$?
held=
sed 's/^/  restore: /' "$W/r.err" "$W/r.out" >&2
expect "restore's exit code (stopped after it changed servers)" "$rc" 6
contains "$W/r.err" "verification failed: pool-b reports primary (observed unreachable"
expect "recorded after the failed verification" "$(recorded)" "pool-b 2"
expect "published after the failed verification" "$(published)" "pool-b 2"
if run 0 "$CMSCTL" status -c cms.yaml --offline; then
	contains "$W/out" "recorded: primary pool-b, mirror pool-a (serial 2"
fi

# ---- 3. pool-b back: the run is finished ----
# shellcheck disable=SC2086
kill -CONT $frozen
frozen=
if run 0 "$CMSCTL" restore -c cms.yaml --yes; then
	contains "$W/out" "the new location was already recorded: finish what followed"
fi
expect "journal: the apply" "$(sq "SELECT outcome FROM runs WHERE kind = 'apply' ORDER BY started_at DESC LIMIT 1")" restored
expect "writable after restore" "$(writers)" pool-b
expect "recorded at the end" "$(recorded)" "pool-b 2"
expect "published at the end" "$(published)" "pool-b 2"
run 0 "$CMSCTL" audit verify -c cms.yaml
finish
