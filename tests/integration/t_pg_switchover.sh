# Integration: a planned switchover on real PostgreSQL streaming
# replication, driven through the cmsctl binary: adopt, plan, apply with a
# writer running throughout, then check what a careful operator would --
# no acknowledged write lost, the new primary on a new timeline and
# writable, the old one fenced and refusing writes, the location published.
# Then the old primary is re-seeded as the follow-ups say (pg_rewind) and
# the store is switched back, promoting a server that carries the
# configuration of a former fenced primary.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq
require_odbc

start_work_cluster 2

# write_config PRIMARY MIRROR
write_config() { cms_config "$1" "$2" "catch_up_timeout: 30s"; }

# ---- adopt ----
write_config pool-a pool-b
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish

# ---- switchover with a writer running ----
# Each row the writer inserts is acknowledged only when psql exits 0; an
# acknowledged row must survive the switchover.  Writes after the fence are
# refused, which is the point.
(
	id=1000
	while [ ! -e "$W/stop-writer" ]; do
		if psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES ($id, 'writer')" >/dev/null 2>&1; then
			echo "$id" >>"$W/acked"
		fi
		id=$((id + 1))
	done
) &
writer=$!
sleep 0.5

write_config pool-b pool-a
run 0 "$CMSCTL" plan -c cms.yaml -o plan.json || finish
expect "plan mode" "$(jq -r '.mode' plan.json)" switchover
run 0 "$CMSCTL" apply -c cms.yaml plan.json --report report.html || true
cp out apply.out
touch "$W/stop-writer"
wait "$writer"

acked=$(wc -l <"$W/acked" | tr -d ' ')
if [ "$acked" -lt 1 ]; then
	fail "the writer got no write acknowledged before the fence"
fi
missing=$(psql_on "$PG_PORT_B" xds -At -c \
	"SELECT count(*) FROM unnest('{$(paste -sd, "$W/acked")}'::int[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.id = a.id)")
expect "acknowledged writes ($acked) missing on the new primary" "$missing" 0

expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
# CHECKPOINT after the promotion: the control file already has the new timeline.
expect "pool-b control file timeline" "$(pg_timeline "$PG_PORT_B")" 2
expect "pool-b writable" "$(psql_on "$PG_PORT_B" xds -At -c "INSERT INTO t VALUES (10, 'on pool-b') RETURNING v")" "on pool-b"
expect "pool-a fenced" "$(pg_read_only "$PG_PORT_A")" on
if psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES (11, 'on pool-a')" >/dev/null 2>"$W/refused"; then
	fail "pool-a accepted a write after the switchover"
else
	expect "pool-a refuses writes" "$(grep -c 'read-only transaction' "$W/refused")" 1
fi
expect "published primary" "$(jq -r .primary location.json)" pool-b
for f in "server 'pool-a' is fenced (read-only) and must be re-seeded as a standby of 'pool-b'" \
	"fence is advisory:" \
	"server 'dublin-dr' must be re-pointed at the new primary 'pool-b'"; do
	if grep -qF -- "$f" apply.out "$W/err"; then
		pass "follow-up: $f"
	else
		fail "no follow-up '$f'"
		sed 's/^/  | /' apply.out >&2
	fi
done

if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-a observed" "$(srv pool-a .role)" fenced
	expect "pool-b observed" "$(srv pool-b .role)" primary
	expect "pool-b timeline" "$(srv pool-b .epoch)" 2
	expect "dublin-dr lag (other timeline)" "$(srv dublin-dr .lag_bytes)" -1
fi

# ---- re-seed pool-a from pool-b as the follow-up says ----
A=$(pg_node_dir pool-a)
pg_as_owner "$PG_BIN/pg_ctl" -D "$A" -m fast -w stop >/dev/null
if pg_as_owner "$PG_BIN/pg_rewind" --target-pgdata="$A" \
	--source-server="host=127.0.0.1 port=$PG_PORT_B user=cmsctl dbname=postgres" >"$W/rewind.log" 2>&1; then
	pass "pg_rewind of pool-a from pool-b"
else
	fail "pg_rewind of pool-a from pool-b"
	cat "$W/rewind.log" >&2
	finish
fi
# pool-a may keep its own postgresql.auto.conf, naming pool-b its
# synchronous standby: after the switch back pool-b is no standby, and
# every commit on pool-a would wait for it.
printf '%s\n' "primary_conninfo = 'host=127.0.0.1 port=$PG_PORT_B user=cmsctl application_name=pool-a'" \
	"synchronous_standby_names = ''" |
	pg_as_owner tee -a "$A/postgresql.auto.conf" >/dev/null
pg_as_owner touch "$A/standby.signal"
pg_as_owner "$PG_BIN/pg_ctl" -D "$A" -l "$PGCLUSTER_DIR/pool-a.log" -o "-p $PG_PORT_A" -w start >/dev/null ||
	pgc_fail "cannot restart pool-a as a standby"
got=
for i in $(seq 1 100); do
	got=$(psql_on "$PG_PORT_B" postgres -At -c "SELECT state FROM pg_stat_replication WHERE application_name = 'pool-a'")
	[ "$got" = streaming ] && break
	sleep 0.1
done
expect "pool-a streams from pool-b" "$got" streaming
if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-a observed after re-seed" "$(srv pool-a .role)" mirror
	expect "pool-a upstream" "$(srv pool-a .upstream)" pool-b
fi

# ---- and back ----
write_config pool-a pool-b
run 0 "$CMSCTL" plan -c cms.yaml -o back.json || finish
expect "plan mode back" "$(jq -r '.mode' back.json)" switchover
run 0 "$CMSCTL" apply -c cms.yaml back.json || finish
expect "pool-a primary again" "$(pg_in_recovery "$PG_PORT_A")" f
expect "pool-a timeline" "$(pg_timeline "$PG_PORT_A")" 3
expect "pool-a writable" "$(psql_on "$PG_PORT_A" xds -At -c "INSERT INTO t VALUES (12, 'back') RETURNING v")" back
expect "pool-b fenced" "$(pg_read_only "$PG_PORT_B")" on
expect "published primary" "$(jq -r .primary location.json)" pool-a

finish
