# Integration: a promotion that failed before it sent the target anything
# is a failure before promotion.  An apply is held with its promotion
# journaled running, the target (pool-b) is restarted under it, and the
# apply goes on: the promotion's first read fails on the dead session,
# before pg_promote() is sent.  Apply reads the target again, finds it
# still a standby, undoes the fence and ends rolled back (exit 1): pool-a
# takes writes again at once, no restore needed.  (Before, it ended 6
# with pool-a fenced until someone ran restore.)  Then the same with the
# target stopped, not restarted: it cannot be read again, so nothing says
# the promotion did not happen, and apply still ends 6 for restore.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git
require_odbc

held=
cleanup() {
	local rc=$?
	set +e
	[ -n "$held" ] && kill -9 "$held" 2>/dev/null
	pg_stop_all
	exit $rc
}
trap 'exit 130' INT TERM HUP
start_work_cluster 1
trap cleanup EXIT

policy=("catch_up_timeout: 3s" "query_timeout: 2s")
sq() { sqlite3 -bail .cmsctl/state.db "$1"; }
pg_ctl_b() { pg_as_owner "$PG_BIN/pg_ctl" -D "$(pg_node_dir pool-b)" -l "$PGCLUSTER_DIR/pool-b.log" "$@" >/dev/null; }
# held_apply PLAN: apply PLAN held once its promotion is journaled running.
held_apply() {
	local n
	n=$(jq '[.steps[].action] | index("promote") + 1' "$1")
	CMSCTL_TEST_HOLD_AT="$n:running" "$CMSCTL" apply -c cms.yaml "$1" >"$W/apply.out" 2>"$W/apply.err" &
	held=$!
	wait_hold "$W/apply.err"
}
go_on() {
	kill -CONT "$held"
	rc=0
	wait "$held" || rc=$?
	held=
	sed 's/^/  apply: /' "$W/apply.err" "$W/apply.out" >&2
}

cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
serial=$(sq 'SELECT serial FROM stores')
cms_config pool-b pool-a "${policy[@]}"

# ---- 1. the target restarted before its promotion ----
run 0 "$CMSCTL" plan -c cms.yaml -o r.plan || finish
id=$(git hash-object r.plan)
held_apply r.plan
expect "writable while held (pool-a fenced)" "$(writers)" none
pg_ctl_b -m fast -w -t 60 restart
expect "pool-b after its restart" "$(pg_in_recovery "$PG_PORT_B")" t
go_on
expect "exit code (failed before promotion, rolled back)" "$rc" 1
cat "$W/apply.out" "$W/apply.err" >"$W/apply.all"
contains "$W/apply.all" "apply switchover pool-a -> pool-b: rolled_back"
expect "journal: run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" rolled_back
expect "journal: promote" "$(sq "SELECT status FROM steps WHERE action = 'promote' AND run_id =
	(SELECT id FROM runs WHERE plan_id = '$id')")" failed
expect "journal: fence" "$(sq "SELECT status FROM steps WHERE action = 'fence' AND run_id =
	(SELECT id FROM runs WHERE plan_id = '$id')")" undone
expect "writable after the rollback" "$(writers)" pool-a
expect "pool-a after the rollback" "$(pg_node_state "$PG_PORT_A")" "primary read_only=off timeline=1 alter_system_ro=0"
expect "pool-b still a standby" "$(pg_in_recovery "$PG_PORT_B")" t
expect "serial unchanged" "$(sq 'SELECT serial FROM stores')" "$serial"
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
run 0 "$CMSCTL" status -c cms.yaml --detailed-exitcode
run 0 "$CMSCTL" audit verify -c cms.yaml
# pool-a fenced by hand, then restore: it unfences pool-a, and does not
# keep pool-b read-only, whose promotion this run never asked for.
psql_on "$PG_PORT_A" postgres -c "ALTER SYSTEM SET default_transaction_read_only = on" \
	-c 'SELECT pg_reload_conf()' >/dev/null
if run 0 "$CMSCTL" restore -c cms.yaml --yes; then
	contains "$W/out" "unfence the recorded primary"
	lacks "$W/out" "keep pool-b read-only"
fi
expect "writable after restore" "$(writers)" pool-a
expect "pool-b not kept" "$(pg_node_state "$PG_PORT_B")" "standby read_only=off timeline=1 alter_system_ro=0"

# ---- 2. the target stopped before its promotion: nothing to read ----
run 0 "$CMSCTL" plan -c cms.yaml -o s.plan || finish
id=$(git hash-object s.plan)
held_apply s.plan
pg_ctl_b -m fast -w -t 60 stop
go_on
expect "exit code (the target could not be read again)" "$rc" 6
expect "journal: run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" running
expect "writable with pool-b down" "$(writers)" none
pg_ctl_b -o "-p $PG_PORT_B" -w -t 60 start
expect "pool-b after its start" "$(pg_in_recovery "$PG_PORT_B")" t
run 0 "$CMSCTL" restore -c cms.yaml --yes
expect "writable after restore" "$(writers)" pool-a
expect "serial after restore" "$(sq 'SELECT serial FROM stores')" "$serial"
finish
