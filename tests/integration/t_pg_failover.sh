# Integration: failover on real PostgreSQL streaming replication, driven
# through the cmsctl binary.  The primary dies (pg_ctl stop -m immediate,
# as in a crash); the store moves to its synchronous standby.  Every write
# the dead primary acknowledged must be on the new primary (synchronous
# replication), the new primary is on a new timeline and writable, and
# the follow-ups say that the dead server must not come back as a primary.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq
require_odbc

start_work_cluster 2

# write_config PRIMARY MIRROR ALLOW-DATA-LOSS
write_config() { cms_config "$1" "$2" "allow_data_loss: $3"; }

write_config pool-a pool-b false
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish

# Acknowledged by the primary, hence (synchronous_standby_names = pool-b)
# flushed on pool-b too; then the primary dies.
for id in $(seq 100 149); do
	psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES ($id, 'before the crash')" >/dev/null
done
pg_as_owner "$PG_BIN/pg_ctl" -D "$(pg_node_dir pool-a)" -m immediate stop >/dev/null

if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-a reachable" "$(srv pool-a .reachable)" false
	expect "pool-b observed" "$(srv pool-b .role)" mirror
fi

# With the primary gone nobody can prove what it had not sent yet: the
# planner asks for allow_data_loss even towards the synchronous mirror.
write_config pool-b pool-a false
run 7 "$CMSCTL" plan -c cms.yaml -o plan.json || true
write_config pool-b pool-a true
run 0 "$CMSCTL" plan -c cms.yaml -o plan.json || finish
expect "plan mode" "$(jq -r '.mode' plan.json)" failover
run 0 "$CMSCTL" apply -c cms.yaml plan.json || finish
cp out apply.out
cp err apply.err

expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
expect "pool-b control file timeline" "$(pg_timeline "$PG_PORT_B")" 2
expect "acknowledged writes on pool-b" \
	"$(psql_on "$PG_PORT_B" xds -At -c "SELECT count(*) FROM t WHERE v = 'before the crash'")" 50
expect "pool-b writable" "$(psql_on "$PG_PORT_B" xds -At -c "INSERT INTO t VALUES (10, 'after') RETURNING v")" after
expect "published primary" "$(jq -r .primary location.json)" pool-b
if grep -q "pool-a.*unreachable.*must not .*primary" apply.out apply.err; then
	pass "follow-up: the dead primary must not come back as a primary"
else
	fail "no follow-up about the unreachable pool-a"
	sed 's/^/  | /' apply.out apply.err >&2
fi
if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-b observed" "$(srv pool-b .role)" primary
	expect "pool-b timeline" "$(srv pool-b .epoch)" 2
fi

finish
