# Integration: real PostgreSQL streaming replication (a primary, a
# synchronous and an asynchronous standby, started by pgcluster.sh) and what
# `cmsctl status` observes of it through psqlODBC: roles, timelines, lag,
# upstream, replication state, and an unreachable server.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq
require_odbc

start_work_cluster 2

# ---- the replication itself, seen with psql ----
expect "standbys seen by the primary" \
	"$(psql_on "$PG_PORT_A" postgres -At -F ' ' -c \
		"SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1" | tr '\n' ';')" \
	"dublin-dr streaming async;pool-b streaming sync;"
expect "pool-b in recovery" "$(pg_in_recovery "$PG_PORT_B")" t
expect "dublin-dr in recovery" "$(pg_in_recovery "$PG_PORT_DR")" t
for db in xds lis; do
	psql_on "$PG_PORT_A" "$db" -c "INSERT INTO t VALUES (2, 'replicated')" >/dev/null
done
for port in "$PG_PORT_B" "$PG_PORT_DR"; do
	for db in xds lis; do
		got=
		for i in $(seq 1 100); do
			got=$(psql_on "$port" "$db" -At -c "SELECT v FROM t WHERE id = 2")
			[ "$got" = replicated ] && break
			sleep 0.1
		done
		expect "row written on the primary, read on :$port/$db" "$got" replicated
	done
done

# ---- what cmsctl observes ----
cms_config --no-publish pool-a pool-b

if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "probed" "$(jq -r '.stores[0].observed.probed' "$W/out")" true
	expect "pool-a role" "$(srv pool-a .role)" primary
	expect "pool-b role" "$(srv pool-b .role)" mirror
	expect "dublin-dr role" "$(srv dublin-dr .role)" backup
	expect "pool-a timeline" "$(srv pool-a .epoch)" 1
	expect "pool-b timeline" "$(srv pool-b .epoch)" 1
	expect "pool-a lag" "$(srv pool-a .lag_bytes)" 0
	expect "pool-b lag is a number >= 0" "$(srv pool-b '.lag_bytes >= 0')" true
	expect "dublin-dr lag is a number >= 0" "$(srv dublin-dr '.lag_bytes >= 0')" true
	expect "pool-b upstream" "$(srv pool-b .upstream)" pool-a
	expect "dublin-dr upstream" "$(srv dublin-dr .upstream)" pool-a
	expect "pool-b state of xds" "$(srv pool-b '.databases[] | select(.name == "xds") | .state')" streaming/sync
	expect "dublin-dr state of lis" "$(srv dublin-dr '.databases[] | select(.name == "lis") | .state')" streaming/async
	expect "pool-a read-only" "$(srv pool-a .read_only)" false
	expect "positions are WAL positions" "$(srv pool-a '.position > 0')" true
fi

# An unreachable server is an observation, not a failure.
pg_as_owner "$PG_BIN/pg_ctl" -D "$(pg_node_dir dublin-dr)" -m immediate stop >/dev/null
if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "dublin-dr reachable" "$(srv dublin-dr .reachable)" false
	expect "dublin-dr role" "$(srv dublin-dr .role)" unknown
	expect "dublin-dr error names it" "$(srv dublin-dr '.error | startswith("cannot connect to server '"'"'dublin-dr'"'"'")')" true
	expect "pool-b still mirror" "$(srv pool-b .role)" mirror
fi

finish
