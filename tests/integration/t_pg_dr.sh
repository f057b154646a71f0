# Integration: disaster recovery to the asynchronous standby dublin-dr
# (role backup, allow_data_loss: true) on real PostgreSQL streaming
# replication, driven through the cmsctl binary.  Twice, each on a fresh
# primary + two standbys (the first case leaves pool-a fenced and pool-b on
# the old timeline; re-seeding both would cost as much as a new set):
#
#   up:   the primary is up: the report shows the fence, the catch-up and
#         the forced promotion; the last WAL position the report gives for
#         the fenced pool-a is one dublin-dr has replayed (nothing lost),
#         and every row pool-a acknowledged is on dublin-dr.
#   down: the primary has crashed while dublin-dr was behind: the plan and
#         the report promote only, no statement goes to pool-a, and the
#         report gives pool-a's position as unknown, and pool-b's (the
#         synchronous mirror) ahead of dublin-dr's -- the rows lost, which
#         are indeed not on dublin-dr.  dublin-dr's position is its
#         timeline switch point.
#
# Both: exactly one server takes writes afterwards (from a fresh session),
# and the recorded location, the published location.json and the history's
# location.json agree.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git
require_odbc

# write_config PRIMARY [MIRROR]: no mirror when MIRROR is empty.
write_config() { cms_config "$1" "$2" "allow_data_loss: true" "catch_up_timeout: 30s"; }

# "16/B374D848" -> a number, for comparing WAL positions.
lsn_num() {
	local hi=${1%/*} lo=${1#*/}
	echo $(((16#$hi << 32) + 16#$lo))
}

# The position the report's forced-promotion follow-up gives for SERVER:
# an LSN, "unknown", or nothing when the follow-up is missing.
reported_lsn() {
	jq -r '.followups[] | select(startswith("forced promotion of"))' "$W/report.json" |
		grep -oE "[:,] $1 ([0-9A-F]+/[0-9A-F]+|unknown)" | head -n 1 | awk '{print $3}'
}

# Waits until dublin-dr has replayed everything pool-a wrote so far.
wait_dr_replayed() {
	local want i got
	want=$(psql_on "$PG_PORT_A" postgres -At -c 'SELECT pg_current_wal_lsn()')
	for i in $(seq 1 200); do
		got=$(psql_on "$PG_PORT_DR" postgres -At -c "SELECT pg_last_wal_replay_lsn() >= '$want'")
		[ "$got" = t ] && return 0
		sleep 0.05
	done
	pgc_fail "dublin-dr did not replay up to $want"
}

# The checks both cases end with.
check_outcome() {
	local what=$1 w s n rec_serial
	expect "$what: outcome" "$(jq -r .outcome "$W/report.json")" ok
	expect "$what: report mode" "$(jq -r .mode "$W/report.json")" disaster-recovery
	# Exactly one server takes writes, each asked from a fresh session.
	w=
	n=0
	for s in pool-a:$PG_PORT_A pool-b:$PG_PORT_B dublin-dr:$PG_PORT_DR; do
		if [ "$(pg_writable "${s#*:}")" = t ]; then
			w="$w${w:+ }${s%%:*}"
			n=$((n + 1))
		fi
	done
	expect "$what: servers taking writes" "$n: $w" "1: dublin-dr"
	expect "$what: dublin-dr takes a write" \
		"$(psql_on "$PG_PORT_DR" xds -At -c "INSERT INTO t VALUES (9999, 'after DR') RETURNING v")" "after DR"
	# The record, the published file and the history agree.
	rec_serial=$(sq "SELECT serial FROM stores WHERE name = 'redmond'")
	expect "$what: recorded location" \
		"$(sq "SELECT primary_server || '/' || ifnull(mirror_server, '-') FROM stores")" \
		"dublin-dr/-"
	expect "$what: serial" "$rec_serial" 2
	expect "$what: published location" "$(jq -r '.primary + "/" + (.mirror // "-") + "/" + (.serial | tostring)' location.json)" \
		"dublin-dr/-/$rec_serial"
	expect "$what: published run" "$(jq -r .run_id location.json)" "$(jq -r .run_id "$W/report.json")"
	expect "$what: history's location.json" \
		"$(git --git-dir=.cmsctl/history show cms-history:redmond/location.json | jq -r '.primary + "/" + (.serial | tostring)')" \
		"dublin-dr/$rec_serial"
	if run 0 "$CMSCTL" status -c cms.yaml; then
		if grep -q "drift: none" "$W/out"; then
			pass "$what: status reports no drift"
		else
			fail "$what: status reports drift"
			sed 's/^/  | /' "$W/out" >&2
		fi
	fi
}

# statements STEP-ACTION: the "server: sql" lines the report journaled for
# that step.
statements() {
	jq -r --arg a "$1" '.steps[] | select(.action == $a) | .statements[] | .server + ": " + .sql' "$W/report.json"
}
has_statement() {
	if statements "$1" | grep -qF -- "$2"; then
		pass "report, $1: $2"
	else
		fail "report, step $1 lacks '$2'"
		statements "$1" | sed 's/^/  | /' >&2
	fi
}
has_followup() {
	if jq -r '.followups[]' "$W/report.json" | grep -qF -- "$1"; then
		pass "follow-up: $1"
	else
		fail "no follow-up '$1'"
		jq -r '.followups[]' "$W/report.json" | sed 's/^/  | /' >&2
	fi
}

setup() {
	start_work_cluster 2
	write_config pool-a pool-b
	run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
}

# ---- up: fence, catch-up, promote ----
setup
for id in $(seq 100 119); do
	psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES ($id, 'acknowledged')" >/dev/null
done
write_config dublin-dr ""
run 0 "$CMSCTL" plan -c cms.yaml -o dr.plan || finish
expect "up: plan mode" "$(jq -r .mode dr.plan)" disaster-recovery
expect "up: plan steps" "$(jq -r '[.steps[].action] | join(" ")' dr.plan)" \
	"check_target fence catch_up promote reread_roles demote publish verify"
run 0 "$CMSCTL" apply -c cms.yaml dr.plan --json || finish
cp "$W/out" "$W/report.json"
expect "up: step outcomes" "$(jq -r '[.steps[].status] | unique | join(" ")' "$W/report.json")" "done"
has_statement fence "pool-a: ALTER SYSTEM SET default_transaction_read_only = on"
has_statement fence "pool-a: SELECT pg_reload_conf()"
has_statement fence "pool-a: SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
has_statement fence "pool-a: CREATE TEMP TABLE cmsctl_fence_probe ()"
has_statement catch_up "pool-a: SELECT pg_current_wal_lsn()"
has_statement catch_up "dublin-dr: SELECT pg_last_wal_replay_lsn()"
has_statement promote "dublin-dr: SELECT pg_last_wal_replay_lsn()"
has_statement promote "dublin-dr: SELECT pg_promote(false)"
has_statement promote "dublin-dr: SELECT pg_is_in_recovery()"
has_statement promote "dublin-dr: CHECKPOINT"
w=$(jq -r .write_unavailable_ms "$W/report.json")
if [ "$w" != null ] && [ "$w" -ge 0 ]; then
	pass "up: write_unavailable_ms $w"
else
	fail "up: write_unavailable_ms is '$w', want a number"
fi
a_lsn=$(reported_lsn pool-a)
b_lsn=$(reported_lsn pool-b)
dr_lsn=$(reported_lsn dublin-dr)
if [[ "$a_lsn" == */* && "$b_lsn" == */* && "$dr_lsn" == */* ]]; then
	pass "up: the report gives every server's last WAL position: pool-a $a_lsn, pool-b $b_lsn, dublin-dr $dr_lsn"
	if [ "$(lsn_num "$dr_lsn")" -ge "$(lsn_num "$a_lsn")" ]; then
		pass "up: dublin-dr had replayed pool-a's position after the fence ($dr_lsn >= $a_lsn)"
	else
		fail "up: dublin-dr was promoted at $dr_lsn, before pool-a's fenced position $a_lsn"
	fi
else
	fail "up: last WAL positions in the report: pool-a '$a_lsn', pool-b '$b_lsn', dublin-dr '$dr_lsn'"
	jq -r '.followups[]' "$W/report.json" | sed 's/^/  | /' >&2
fi
has_followup "(written, after the fence)"
has_followup "server 'pool-a' is fenced (read-only) and must be re-seeded as a standby of 'dublin-dr'"
has_followup "server 'pool-b' must be re-pointed at the new primary 'dublin-dr'"
expect "up: acknowledged rows on dublin-dr" \
	"$(psql_on "$PG_PORT_DR" xds -At -c "SELECT count(*) FROM t WHERE v = 'acknowledged'")" 20
expect "up: pool-a fenced" "$(pg_node_state "$PG_PORT_A")" "primary read_only=on timeline=1 alter_system_ro=1"
expect "up: dublin-dr timeline" "$(pg_node_state "$PG_PORT_DR")" "primary read_only=off timeline=2 alter_system_ro=0"
check_outcome up
cd /
pg_stop_all

# ---- down: the primary crashed while dublin-dr was behind; promote only ----
setup
for id in $(seq 100 109); do
	psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES ($id, 'everywhere')" >/dev/null
done
wait_dr_replayed
DR=$(pg_node_dir dublin-dr)
pg_as_owner "$PG_BIN/pg_ctl" -D "$DR" -m fast -w stop >/dev/null
# Acknowledged by pool-a with pool-b's flush (synchronous), never sent to
# the stopped dublin-dr: these are what the move to dublin-dr loses.
for id in $(seq 200 209); do
	psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES ($id, 'not on dublin-dr')" >/dev/null
done
pg_as_owner "$PG_BIN/pg_ctl" -D "$(pg_node_dir pool-a)" -m immediate stop >/dev/null
pg_as_owner "$PG_BIN/pg_ctl" -D "$DR" -l "$PGCLUSTER_DIR/dublin-dr.log" -o "-p $PG_PORT_DR" -w -t 60 start >/dev/null ||
	pgc_fail "cannot restart dublin-dr"

write_config dublin-dr ""
run 7 "$CMSCTL" plan -c cms.yaml -o dr.plan || true
run 0 "$CMSCTL" plan -c cms.yaml -o dr.plan --assume-down pool-a --reason "site lost in the test" || finish
expect "down: plan mode" "$(jq -r .mode dr.plan)" disaster-recovery
expect "down: plan steps" "$(jq -r '[.steps[].action] | join(" ")' dr.plan)" \
	"check_target promote reread_roles publish verify"
run 0 "$CMSCTL" apply -c cms.yaml dr.plan --json || finish
cp "$W/out" "$W/report.json"
expect "down: step outcomes" "$(jq -r '[.steps[].status] | unique | join(" ")' "$W/report.json")" "done"
expect "down: statements sent to pool-a" \
	"$(jq '[.steps[].statements[] | select(.server == "pool-a")] | length' "$W/report.json")" 0
has_statement promote "dublin-dr: SELECT pg_last_wal_replay_lsn()"
has_statement promote "dublin-dr: SELECT pg_promote(false)"
has_statement promote "dublin-dr: CHECKPOINT"
expect "down: write_unavailable_ms (no fence to measure from)" "$(jq -r .write_unavailable_ms "$W/report.json")" null
a_lsn=$(reported_lsn pool-a)
b_lsn=$(reported_lsn pool-b)
dr_lsn=$(reported_lsn dublin-dr)
expect "down: pool-a's last position in the report" "$a_lsn" unknown
if [[ "$b_lsn" == */* && "$dr_lsn" == */* ]]; then
	pass "down: the report gives pool-b $b_lsn and dublin-dr $dr_lsn"
	if [ "$(lsn_num "$b_lsn")" -gt "$(lsn_num "$dr_lsn")" ]; then
		pass "down: the report shows pool-b ahead of dublin-dr ($b_lsn > $dr_lsn): what was lost"
	else
		fail "down: the report shows pool-b at $b_lsn, not ahead of dublin-dr at $dr_lsn"
	fi
	# The new timeline forks where dublin-dr's WAL ended.
	fork=$(psql_on "$PG_PORT_DR" postgres -At -c "SELECT pg_read_file('pg_wal/00000002.history')" | awk 'NF {print $2; exit}')
	expect "down: dublin-dr's reported position is its timeline switch point" "$dr_lsn" "$fork"
else
	fail "down: last WAL positions in the report: pool-b '$b_lsn', dublin-dr '$dr_lsn'"
	jq -r '.followups[]' "$W/report.json" | sed 's/^/  | /' >&2
fi
has_followup "pool-a was unreachable: it must not come back as a primary; re-seed it from dublin-dr"
has_followup "server 'pool-b' must be re-pointed at the new primary 'dublin-dr'"
expect "down: rows on dublin-dr from before it fell behind" \
	"$(psql_on "$PG_PORT_DR" xds -At -c "SELECT count(*) FROM t WHERE v = 'everywhere'")" 10
expect "down: rows lost with pool-a" \
	"$(psql_on "$PG_PORT_DR" xds -At -c "SELECT count(*) FROM t WHERE v = 'not on dublin-dr'")" 0
expect "down: pool-a" "$(pg_node_state "$PG_PORT_A")" down
expect "down: pool-b untouched" "$(pg_node_state "$PG_PORT_B")" "standby read_only=off timeline=1 alter_system_ro=0"
check_outcome down

finish
