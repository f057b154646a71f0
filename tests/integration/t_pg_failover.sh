# Integration: failover on real PostgreSQL streaming replication, driven
# through the cmsctl binary.  The primary dies (pg_ctl stop -m immediate,
# as in a crash); the store moves to its synchronous standby.  Every write
# the dead primary acknowledged must be on the new primary (synchronous
# replication), the new primary is on a new timeline and writable, and
# the follow-ups say that the dead server must not come back as a primary.
set -euo pipefail
: "${CMSCTL:?CMSCTL must name the cmsctl binary}"
: "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}"
. "$CMSCTL_SOURCE_DIR/tests/integration/pgcluster.sh"

if ! command -v jq >/dev/null 2>&1; then
	pgc_missing "jq not found (apt-get install jq)"
fi
if ! odbcinst -q -d 2>/dev/null | grep -qx '\[PostgreSQL Unicode\]'; then
	pgc_missing "ODBC driver 'PostgreSQL Unicode' not registered (apt-get install odbc-postgresql)"
fi

failures=0
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
pass() { printf 'ok: %s\n' "$*" >&2; }
expect() {
	if [ "$2" = "$3" ]; then
		pass "$1: $2"
	else
		fail "$1: got '$2', want '$3'"
	fi
}
run() {
	local want=$1 got=0
	shift
	"$@" >"$W/out" 2>"$W/err" || got=$?
	if [ "$got" != "$want" ]; then
		fail "'$*' exited $got, expected $want"
		sed 's/^/  stdout: /' "$W/out" >&2
		sed 's/^/  stderr: /' "$W/err" >&2
		return 1
	fi
	pass "'$*' exited $want"
}
finish() {
	if [ "$failures" -ne 0 ]; then
		printf '%d check(s) failed\n' "$failures" >&2
		exit 1
	fi
	exit 0
}
srv() { jq -r --arg s "$1" ".stores[0].observed.servers[] | select(.server == \$s) | $2" "$W/out"; }

pg_start_cluster "$(mktemp -d /tmp/cmsctl-pg.XXXXXX)"
W=$PGCLUSTER_DIR/work
mkdir -p "$W"
cd "$W"

write_config() {
	cat >cms.yaml <<EOF
version: 1
stores:
  - name: redmond
    engine: postgresql
    databases: [xds, lis]
    servers:
      - name: pool-a
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_A;Database=postgres;Uid=cmsctl"
      - name: pool-b
        role: mirror
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_B;Database=postgres;Uid=cmsctl"
      - name: dublin-dr
        role: backup
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_DR;Database=postgres;Uid=cmsctl"
    location:
      primary: $1
      mirror: $2
    policy:
      allow_data_loss: $3
      login_timeout: 2s
    publish:
      - file: location.json
EOF
}

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

expect "pool-b out of recovery" "$(psql_on "$PG_PORT_B" postgres -At -c 'SELECT pg_is_in_recovery()')" f
expect "pool-b control file timeline" \
	"$(psql_on "$PG_PORT_B" postgres -At -c 'SELECT timeline_id FROM pg_control_checkpoint()')" 2
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
