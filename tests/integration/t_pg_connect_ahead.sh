# Integration: apply connects to the servers while it checks the plan, the
# history and the state (engine_preconnect), including the second session
# that verifies the fence.  On real PostgreSQL streaming replication:
#   - held after check_target, the old primary has that second session
#     open already, idle since its connect, before the fence started;
#   - when that session is gone by the time the fence needs it (ended
#     here with pg_terminate_backend), the fence opens a new one and the
#     switchover completes; the report shows the dead session's failed
#     statement and the new one's;
#   - a plain switchover back sends the fence's pg_backend_pid() once, on
#     the session opened ahead.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq git sqlite3
require_odbc

start_work_cluster 2
write_config() { cms_config "$1" "$2" "catch_up_timeout: 30s"; }

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
id=$(git hash-object sw.plan)
CMSCTL_TEST_HOLD_AT=1:done "$CMSCTL" apply -c cms.yaml sw.plan --json >held.json 2>"$W/apply.err" &
held=$!
st=
for _ in $(seq 1 1200); do
	st=$(sq "SELECT status FROM steps WHERE n = 1 AND run_id =
		(SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null || true)
	[ "$st" = done ] && break
	kill -0 "$held" 2>/dev/null || break
	sleep 0.05
done
[ "$st" = done ] || { fail "apply never reached check_target done ('$st')"; sed 's/^/  | /' "$W/apply.err" >&2; finish; }
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
run 0 "$CMSCTL" apply -c cms.yaml back.plan --json || finish
cp "$W/out" back.json
expect "switchback outcome" "$(jq -r .outcome back.json)" ok
expect "fence: one pg_backend_pid(), on the session opened ahead" "$(fence_pids back.json)" true
expect "pool-a is the primary" "$(pg_in_recovery "$PG_PORT_A")" f

finish
