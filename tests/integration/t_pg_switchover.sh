# Integration: a planned switchover on real PostgreSQL streaming
# replication, driven through the cmsctl binary: adopt, plan, apply while a
# writer inserts rows through one persistent session, then check what a
# careful operator would -- no acknowledged write lost, the writer's
# session ended by the fence, the new primary on a new timeline and
# writable, the old one fenced and refusing writes, the location
# published, the report's write-unavailable window measured and
# consistent with its steps, and status and plan naming what is left to
# do (re-seed pool-a; mirror pool-a pending).  Then the old primary is
# re-seeded as the follow-ups say (pg_rewind), after which nothing is
# pending, and the store is switched back, promoting a server that
# carries the configuration of a former fenced primary.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq
require_odbc

start_work_cluster 2

# write_config PRIMARY MIRROR
write_config() { cms_config "$1" "$2" "catch_up_timeout: 30s"; }

# has LIST TEXT: the lines of LIST (a file) include one holding TEXT.
has() {
	if grep -qF -- "$2" "$1"; then
		pass "$(basename "$1"): $2"
	else
		fail "$(basename "$1") lacks '$2'"
		sed 's/^/  | /' "$1" >&2
	fi
}
lacks() {
	if grep -qF -- "$2" "$1"; then
		fail "$(basename "$1") still has '$2'"
		sed 's/^/  | /' "$1" >&2
	else
		pass "$(basename "$1") no longer has '$2'"
	fi
}

# ---- adopt ----
write_config pool-a pool-b
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
# An ordinary application role: neither superuser nor owner of xds.
psql_on "$PG_PORT_A" xds -c "CREATE ROLE app LOGIN" -c "GRANT INSERT, SELECT ON t TO app" >/dev/null ||
	fail "cannot create the application role"

# ---- switchover with a writer running ----
# One psql session, fed an INSERT every 10 ms, prints "acked N" only once
# INSERT N has committed (synchronous commit: pool-b has flushed it).
# Without ON_ERROR_STOP a refused INSERT prints "refused N" and the session
# goes on, so the only thing that ends it early is the loss of its
# connection.  The fence reloads default_transaction_read_only = on, then
# terminates every other client backend.  An INSERT that lands between the
# reload and the termination is refused as a read-only transaction (seen
# now and then; with ON_ERROR_STOP that refusal would end the session
# instead, and which message shows would be a race).  The session itself
# always ends with the termination -- FATAL "terminating connection due to
# administrator command", or, when the INSERT was waiting for the synchronous
# standby at that moment, WARNING "canceling the wait for synchronous
# replication and terminating connection due to administrator command" (the
# row committed locally but was never acknowledged, so it is not counted);
# psql exits 2 (connection lost) -- and that is
# what is asserted: neither an exit 0 at the end of its input (the fence
# left the session open) nor any other error.
(
	set +e
	for id in $(seq 1000 4000); do
		[ -e "$W/stop-writer" ] && break
		# shellcheck disable=SC2016 # $$writer$$ is SQL dollar quoting
		printf 'INSERT INTO t VALUES (%d, $$writer$$);\n\\if :ERROR\n\\echo refused %d\n\\else\n\\echo acked %d\n\\endif\n' \
			"$id" "$id" "$id"
		sleep 0.01
	done | PGCONNECT_TIMEOUT=10 timeout -k 5 120 "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT_A" \
		-U cmsctl -d xds >"$W/writer.out" 2>"$W/writer.err"
	echo "${PIPESTATUS[1]}" >"$W/writer.rc"
) &
writer=$!
sleep 0.5

write_config pool-b pool-a
run 0 "$CMSCTL" plan -c cms.yaml -o plan.json || finish
expect "plan mode" "$(jq -r '.mode' plan.json)" switchover
t0=$(now_ms)
run 0 "$CMSCTL" apply -c cms.yaml plan.json --json || true
wall=$(($(now_ms) - t0))
cp "$W/out" "$W/report.json"
touch "$W/stop-writer"
wait "$writer" || true

# The writer: acknowledged rows before the fence, then ended by it.
sed -n 's/^acked //p' "$W/writer.out" >"$W/acked"
acked=$(grep -c . "$W/acked" || true)
if [ "$acked" -lt 1 ]; then
	fail "the writer got no write acknowledged before the fence"
fi
expect "writer's psql exit (2: connection lost)" "$(cat "$W/writer.rc")" 2
if grep -qE '^(FATAL:  |WARNING:  canceling the wait for synchronous replication and )terminating connection due to administrator command' "$W/writer.err"; then
	pass "the writer was terminated by the fence"
else
	fail "writer.err lacks the fence's termination"
	sed 's/^/  | /' "$W/writer.err" >&2
fi
expect "writer's errors other than the termination and read-only refusals" \
	"$(grep -E '^(ERROR|FATAL):' "$W/writer.err" | grep -cvF -e 'terminating connection due to administrator command' \
		-e 'in a read-only transaction' || true)" 0
missing=$(psql_on "$PG_PORT_B" xds -At -c \
	"SELECT count(*) FROM unnest('{$(paste -sd, "$W/acked")}'::int[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.id = a.id)")
expect "acknowledged writes ($acked, $(grep -c '^refused' "$W/writer.out" || true) refused) missing on the new primary" "$missing" 0

# Each statement names the database it hit: ALTER DATABASE the store
# databases it names (those of the store sent together, one statement
# each: "lis, xds"), every other one the session's database (the
# connection string's, from psqlODBC).
expect "statements naming no database" \
	"$(jq '[.steps[].statements[] | select(.database == null)] | length' "$W/report.json")" 0
expect "ALTER DATABASE statements not naming their databases" \
	"$(jq '[.steps[].statements[] | select(.sql | startswith("ALTER DATABASE"))
		| select((.database | split(", ") | sort) != ([.sql | scan("ALTER DATABASE \"([^\"]+)\"") | .[0]] | sort))] | length' "$W/report.json")" 0
expect "ALTER DATABASE statements of the fence and the promotion that change only one database" \
	"$(jq '[.steps[] | select(.action == "fence" or .action == "promote") | .statements[]
		| select(.sql | startswith("ALTER DATABASE")) | select(.database | contains(", ") | not)] | length' "$W/report.json")" 0
expect "ALTER DATABASE statements" \
	"$(jq '[.steps[].statements[] | select(.sql | startswith("ALTER DATABASE"))] | length > 0' "$W/report.json")" true
expect "other statements not in the session's database 'postgres'" \
	"$(jq '[.steps[].statements[] | select(.sql | startswith("ALTER DATABASE") | not) | select(.database != "postgres")] | length' "$W/report.json")" 0
# The old primary is fenced once: its session reads the server's own
# read-only setting again after the fence's catalog changes, so the demote
# step finds it fenced and changes nothing (it used to read its session's
# own "off" and fence again).
expect "statements of the demote step that change the old primary" \
	"$(jq '[.steps[] | select(.action == "demote") | .statements[] | select(.sql | test("^(ALTER|CREATE|SELECT pid, pg_terminate_backend)"))] | length' "$W/report.json")" 0
expect "fence steps' ALTER SYSTEM statements" \
	"$(jq '[.steps[].statements[] | select(.sql | startswith("ALTER SYSTEM SET default_transaction_read_only"))] | length' "$W/report.json")" 1

# The write-unavailable window runs from the fence's first change (its
# ALTER SYSTEM, then the reload and the ALTER DATABASE statements; its
# checks, the list of what to close and the verifier session come before) to
# the new primary taking connections again (its last ALTER DATABASE; the
# re-read and the CHECKPOINT come after).  So it holds at least every
# statement from the one to the other (each duration truncated to whole
# ms, the window too, hence 1 ms of slack), and lies within the span from
# the fence step's start to the promote step's end (+2 ms) and the apply.
w=$(jq -r .write_unavailable_ms "$W/report.json")
inside=$(jq '[.steps[] | select(.action == "fence" or .action == "catch_up" or .action == "promote") | .statements[]]
	| (map(.sql | test("^(ALTER SYSTEM SET default_transaction_read_only|ALTER DATABASE)")) | index(true)) as $from
	| (map(.sql | test("^ALTER DATABASE .* ALLOW_CONNECTIONS true")) | rindex(true)) as $to
	| .[$from:$to + 1] | map(.duration_ms) | add' "$W/report.json")
span=$(jq 'def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);
	([.steps[] | select(.action == "fence")][0].started_at | ms) as $a
	| ([.steps[] | select(.action == "promote")][0] | (.started_at | ms) + .duration_ms) - $a' "$W/report.json")
if [[ "$w" =~ ^[0-9]+$ ]] && [ "$w" -gt 0 ] && [[ "$inside" =~ ^[0-9]+$ ]] && [[ "$span" =~ ^[0-9]+$ ]]; then
	pass "write_unavailable_ms: $w"
	if [ "$w" -ge $((inside - 1)) ] && [ "$w" -le $((span + 2)) ] && [ "$w" -le "$wall" ]; then
		pass "write_unavailable_ms $w is within [statements inside $inside - 1, fence start to promote end $span + 2]"
	else
		fail "write_unavailable_ms $w is outside [statements inside $inside - 1, fence start to promote end $span + 2] or over the apply's $wall"
	fi
else
	fail "write_unavailable_ms is '$w' (statements inside '$inside', span '$span'), want integers > 0"
fi

expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
# CHECKPOINT after the promotion: the control file already has the new timeline.
expect "pool-b control file timeline" "$(pg_timeline "$PG_PORT_B")" 2
expect "pool-b writable" "$(psql_on "$PG_PORT_B" xds -At -c "INSERT INTO t VALUES (10, 'on pool-b') RETURNING v")" "on pool-b"
expect "pool-a fenced" "$(pg_read_only "$PG_PORT_A")" on
# The fence holds against a client that undoes default_transaction_read_only
# in its own session: neither an ordinary role nor a superuser gets in.
for who in app cmsctl; do
	if PGCONNECT_TIMEOUT=10 timeout -k 5 60 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
		-p "$PG_PORT_A" -U "$who" -d xds \
		-c "SET default_transaction_read_only = off" -c "INSERT INTO t VALUES (11, 'on pool-a')" \
		>/dev/null 2>"$W/refused"; then
		fail "pool-a accepted a write from $who after SET default_transaction_read_only = off"
	else
		contains "$W/refused" 'database "xds" is not currently accepting connections'
	fi
done
expect "pool-a: store databases refusing connections" "$(pg_closed_dbs "$PG_PORT_A")" 2
expect "pool-b: store databases refusing connections" "$(pg_closed_dbs "$PG_PORT_B")" 0
expect "pool-b takes the ordinary role's writes" \
	"$(PGCONNECT_TIMEOUT=10 timeout -k 5 60 "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT_B" -U app -d xds \
		-c "INSERT INTO t VALUES (9012, 'app on pool-b') RETURNING v")" "app on pool-b"
expect "published primary" "$(jq -r .primary location.json)" pool-b
jq -r '.followups[]' "$W/report.json" >"$W/followups"
has "$W/followups" "server 'pool-a' is fenced (read-only) and must be re-seeded as a standby of 'pool-b'"
has "$W/followups" "server 'dublin-dr' must be re-pointed at the new primary 'pool-b'"

if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-a observed" "$(srv pool-a .role)" fenced
	expect "pool-b observed" "$(srv pool-b .role)" primary
	expect "pool-b timeline" "$(srv pool-b .epoch)" 2
	expect "dublin-dr lag (other timeline)" "$(srv dublin-dr .lag_bytes)" -1
	jq -r '.stores[0].followups[]' "$W/out" >"$W/status-followups"
	has "$W/status-followups" "pool-a is fenced (read-only): re-seed it as a copy of the primary"
fi
# The desired mirror is pool-a, which is fenced, not streaming from pool-b:
# a plan made now shows it pending (issue 5), whatever the record says.
if run 0 "$CMSCTL" plan -c cms.yaml --json; then
	jq -r '.pending[]' "$W/out" >"$W/plan-pending"
	has "$W/plan-pending" "mirror pool-a is pending until it is observed as a mirror of pool-b"
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
	jq -r '.stores[0].followups[]' "$W/out" >"$W/status-followups"
	lacks "$W/status-followups" "pool-a is fenced"
fi
if run 0 "$CMSCTL" plan -c cms.yaml --json; then
	jq -r '.pending[]' "$W/out" >"$W/plan-pending"
	lacks "$W/plan-pending" "mirror pool-a is pending"
	expect "plan mode after the re-seed" "$(jq -r .mode "$W/out")" none
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
