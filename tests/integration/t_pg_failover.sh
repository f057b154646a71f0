# Integration: failover on real PostgreSQL streaming replication, driven
# through the cmsctl binary.  The primary dies (pg_ctl stop -m immediate,
# as in a crash); the store moves to its synchronous standby.  Every write
# the dead primary acknowledged must be on the new primary (synchronous
# replication), the new primary is on a new timeline and writable, and
# the follow-ups say that the dead server must not come back as a primary
# and give the last WAL position cmsctl knew of each server: pool-a unknown
# (down), pool-b where its replay ended (its timeline switch point) and
# dublin-dr where the probe saw it.
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

# Acknowledged by the primary, hence (synchronous_standby_names = pool-b)
# flushed on pool-b too; then the primary dies.
for id in $(seq 100 149); do
	psql_on "$PG_PORT_A" xds -c "INSERT INTO t VALUES ($id, 'before the crash')" >/dev/null
done
# What pool-b had flushed, past the last acknowledged commit: its replay
# reaches at least this far before it is promoted.
acked_lsn=$(psql_on "$PG_PORT_A" postgres -At -c \
	"SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'pool-b'")
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
# Unreachable is not down: pool-a has no fence target, so only the
# operator's attestation lets the move go ahead.
run 7 "$CMSCTL" plan -c cms.yaml -o plan.json || true
grep -qF "the primary 'pool-a' is unreachable and cannot be fenced" err ||
	fail "the refusal does not say why: $(cat err)"
run 0 "$CMSCTL" plan -c cms.yaml -o plan.json --assume-down pool-a \
	--reason "stopped by the test (pg_ctl stop -m immediate)" || finish
expect "plan mode" "$(jq -r '.mode' plan.json)" failover
expect "plan attestation" "$(jq -r '.assume_down.server + ": " + .assume_down.reason' plan.json)" \
	"pool-a: stopped by the test (pg_ctl stop -m immediate)"
run 0 "$CMSCTL" apply -c cms.yaml plan.json --json || finish
expect "report attestation" "$(jq -r '.assume_down.reason' out)" \
	"stopped by the test (pg_ctl stop -m immediate)"
expect "history trailer" "$(git --git-dir=.cmsctl/history log -1 --format='%(trailers:key=Assumed-Down-Reason,valueonly)' | head -1)" \
	"stopped by the test (pg_ctl stop -m immediate)"
cp out "$W/report.json"
cp err apply.err

expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
expect "pool-b control file timeline" "$(pg_timeline "$PG_PORT_B")" 2
expect "acknowledged writes on pool-b" \
	"$(psql_on "$PG_PORT_B" xds -At -c "SELECT count(*) FROM t WHERE v = 'before the crash'")" 50
expect "pool-b writable" "$(psql_on "$PG_PORT_B" xds -At -c "INSERT INTO t VALUES (10, 'after') RETURNING v")" after
expect "published primary" "$(jq -r .primary location.json)" pool-b
if jq -r '.followups[]' "$W/report.json" | grep -q "pool-a.*unreachable.*must not .*primary"; then
	pass "follow-up: the dead primary must not come back as a primary"
else
	fail "no follow-up about the unreachable pool-a"
	jq -r '.followups[]' "$W/report.json" | sed 's/^/  | /' >&2
fi
# The last WAL position of each server, as the forced promotion's follow-up
# states it.
a_lsn=$(reported_lsn pool-a)
b_lsn=$(reported_lsn pool-b)
dr_lsn=$(reported_lsn dublin-dr)
expect "pool-a's last position in the report (down)" "$a_lsn" unknown
if [[ "$b_lsn" == */* && "$dr_lsn" == */* ]]; then
	pass "the report gives pool-b $b_lsn and dublin-dr $dr_lsn"
	# The new timeline forks where pool-b's replay ended.
	fork=$(psql_on "$PG_PORT_B" postgres -At -c "SELECT pg_read_file('pg_wal/00000002.history')" | awk 'NF {print $2; exit}')
	expect "pool-b's reported position is its timeline switch point" "$b_lsn" "$fork"
	# dublin-dr still follows the dead pool-a: nothing has moved it since
	# the probe read its position.
	expect "dublin-dr's reported position is where its replay stands" "$dr_lsn" \
		"$(psql_on "$PG_PORT_DR" postgres -At -c 'SELECT pg_last_wal_replay_lsn()')"
	if [ "$(lsn_num "$b_lsn")" -ge "$(lsn_num "$acked_lsn")" ]; then
		pass "pool-b's reported position $b_lsn covers what it had flushed from pool-a ($acked_lsn)"
	else
		fail "pool-b's reported position $b_lsn is before what it had flushed from pool-a ($acked_lsn)"
	fi
else
	fail "last WAL positions in the report: pool-a '$a_lsn', pool-b '$b_lsn', dublin-dr '$dr_lsn'"
	jq -r '.followups[]' "$W/report.json" | sed 's/^/  | /' >&2
fi
if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-b observed" "$(srv pool-b .role)" primary
	expect "pool-b timeline" "$(srv pool-b .epoch)" 2
fi

finish
