#!/usr/bin/env bash
# cmsctl on a shared PostgreSQL state (backend: state: postgresql), against
# a real server this test starts: adoption and a switchover of the quick
# start's sqlite-engine store recorded in PostgreSQL, nothing written to a
# local state file; a second working copy with its own config copy sees the
# same serial and lock; a password is never shown, even when the server
# cannot be reached; `state show --json` and `state migrate` (SQLite into
# PostgreSQL, refusing a non-empty target) round-trip.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
. "$SRC/tests/integration/pgcluster.sh"
chmod 0711 "$T"
pg_start_single "$T/pg"
trap 'pg_stop_all; rm -rf "$T"' EXIT
cd "$T"
psql_state() { pg_as_owner "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT_A" -U cmsctl -d "$1" -c "$2"; }

conn="host=127.0.0.1 port=$PG_PORT_A user=cmsctl dbname=cmsctl"
backend_block() {
	printf 'backend:\n  state: postgresql\n  connection: "%s"\n  password_env: CMSCTL_STATE_PASSWORD\n' "$1"
}
export CMSCTL_STATE_PASSWORD=hunter2-state

mkdir -p runner1 && cd runner1 && quickstart
mv cms.yaml orig.yaml
with_backend() { sed -n '1,/^version:/p' orig.yaml; backend_block "$1"; sed '1,/^version:/d' orig.yaml; }
with_backend "$conn" >cms.yaml
run 0 "$CMSCTL" validate
run 0 "$CMSCTL" plan -o adopt.plan
contains out "adopt"
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o switch.plan
contains out "switchover"
run 0 "$CMSCTL" apply switch.plan
[ ! -e .cmsctl/state.db ] || fail "a local state file was written"
[ "$(psql_state cmsctl "SELECT serial || ' ' || primary_server FROM cmsctl.stores WHERE name = 'redmond'")" = "2 pool-b" ] ||
	fail "PostgreSQL does not hold serial 2 on pool-b"
run 0 "$CMSCTL" status
contains out "serial 2"

# Another working copy, its own config copy, same backend: same state.
cd "$T" && mkdir runner2 && cp -r runner1/servers runner1/cms.yaml runner2/ && cd runner2
run 0 "$CMSCTL" status
contains out "serial 2"
run 0 "$CMSCTL" plan -o again.plan
lacks out "adopt"
# The plan was applied from the other copy: the shared state knows.
cp ../runner1/switch.plan .
run 3 "$CMSCTL" apply switch.plan --history ../runner1/.cmsctl/history
contains err "already applied"

# A password never reaches a message, even when the server is unreachable.
cd "$T/runner1"
with_backend "host=127.0.0.1 port=1 user=cmsctl dbname=cmsctl connect_timeout=5" >down.yaml
run 1 "$CMSCTL" status -c down.yaml
contains err "cannot open state database 'postgresql: host=127.0.0.1 port=1"
lacks err hunter2-state
lacks out hunter2-state

# A state server that freezes (SIGSTOP) while apply holds the store's
# fence: every statement to it has a deadline cmsctl keeps itself, so the
# apply ends (the fence undone as far as the state lets it) instead of
# waiting forever; once the server is back, restore settles the store.
# (The deadline is 70 s; a test build takes CMSCTL_TEST_STATE_DEADLINE_MS.)
cd "$T/runner1"
sed -n '1,/^version:/p' orig.yaml >back.yaml
backend_block "$conn" >>back.yaml
sed '1,/^version:/d' orig.yaml | sed 's/^      primary: pool-b$/      primary: pool-a/; s/^      mirror: pool-a$/      mirror: pool-b/' >>back.yaml
run 0 "$CMSCTL" plan -c back.yaml -o back.plan
contains out "switchover"
pm=$(head -1 "$(pg_node_dir state)/postmaster.pid")
rc=0
CMSCTL_TEST_HOLD_AT=2:done CMSCTL_TEST_STATE_DEADLINE_MS=3000 "$CMSCTL" apply -c back.yaml back.plan \
	>frozen.out 2>frozen.err &
pid=$!
for i in $(seq 1 600); do
	grep -q "holding at step 2:done" frozen.err && break
	sleep 0.1
done
frozen="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
# shellcheck disable=SC2086 # several pids
kill -STOP $frozen
t0=$(date +%s)
kill -CONT $pid
wait $pid || rc=$?
# shellcheck disable=SC2086
kill -CONT $frozen
[ "$rc" != 0 ] || fail "apply went on with its state server frozen"
[ $(($(date +%s) - t0)) -lt 40 ] || fail "apply waited $(($(date +%s) - t0)) s for a frozen state server"
contains frozen.err "did not answer within the deadline cmsctl keeps"
lacks frozen.err hunter2-state
run 0 "$CMSCTL" restore -c back.yaml --yes
run 0 "$CMSCTL" status -c back.yaml
pool_b=$(sqlite3 servers/pool-b/xds.db 'SELECT role || read_only FROM cms_control')
[ "$pool_b" = primary0 ] || fail "after restore, pool-b is '$pool_b', not the writable primary"

# state migrate: an SQLite state into an empty PostgreSQL database; the
# same `state show --json` before and after; a non-empty target refused.
cd "$T" && mkdir local && cd local && quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o switch.plan
run 0 "$CMSCTL" apply switch.plan
run 0 "$CMSCTL" state show --json
cp out before.json
tip=$(git -C .cmsctl/history rev-parse cms-history)
[ "$(jq -r .history_tip before.json)" = "$tip" ] || fail "state show: history tip $(jq -r .history_tip before.json), branch at $tip"
run 0 "$CMSCTL" state show
contains out "store redmond"
contains out "serial:     2"
contains out "history tip $tip"
psql_state postgres "CREATE DATABASE cmsctl2 OWNER cmsctl" >/dev/null
mv cms.yaml orig.yaml
with_backend "host=127.0.0.1 port=$PG_PORT_A user=cmsctl dbname=cmsctl2" >pg.yaml
cp orig.yaml cms.yaml
run 0 "$CMSCTL" state migrate --to pg.yaml
contains err "migrated 1 store, 2 runs"
run 0 "$CMSCTL" state show --json -c pg.yaml
same before.json out
# The recorded history tip came along: audit verify still checks that the
# branch only grew from it (a rewritten branch is a finding).
run 0 "$CMSCTL" audit verify -c pg.yaml
# The migrated state goes on: a plan against it is not an adoption.
run 0 "$CMSCTL" plan -c pg.yaml
lacks out "adopt"
run 1 "$CMSCTL" state migrate --to pg.yaml
contains err "is not empty"
run 1 "$CMSCTL" state migrate --to "postgresql://cmsctl@127.0.0.1:$PG_PORT_A/cmsctl"
contains err "is not empty"
run 0 "$CMSCTL" state show --json -c pg.yaml
same before.json out
run 64 "$CMSCTL" state migrate
finish
