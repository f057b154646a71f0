# Integration: unreachable is not down.  The primary pool-a is frozen (every
# one of its processes stopped with SIGSTOP) while a writer is using it.
#   1. Without a fence target and without --assume-down, plan and apply
#      refuse the failover (exit 7) and nothing changes.
#   2. With --assume-down the plan carries and shows the attestation.
#   3. With a fence target that kills pool-a's processes, the failover goes
#      ahead: pool-b is the primary, the fence command ran with the
#      server in its environment, and no write of the writer is
#      acknowledged by pool-a after the fence (its later writes fail).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq pgrep
require_odbc

# A frozen cluster must be thawed (or killed) before pg_stop_all can stop it.
frozen=
writer=
cleanup() {
	local rc=$?
	[ -n "$writer" ] && kill "$writer" 2>/dev/null
	# shellcheck disable=SC2086 # a list of pids
	[ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null
	pg_stop_all
	exit $rc
}
trap 'exit 130' INT TERM HUP

# pg_start_cluster sets its own EXIT trap: ours replaces it afterwards.
start_work_cluster 1
trap cleanup EXIT
A=$(pg_node_dir pool-a)

# write_config [FENCE-COMMAND]: pool-b wanted, data loss allowed, and pool-a
# given the fence target FENCE-COMMAND (a path) when there is one.
write_config() {
	cms_config pool-b pool-a "allow_data_loss: true"
	if [ -n "${1:-}" ]; then
		awk -v cmd="$1" '{ print } /Port='"$PG_PORT_A"';/ {
			print "        fence:"
			print "          - command: [" cmd "]"
			print "            timeout: 20s"
		}' cms.yaml >cms.new && mv cms.new cms.yaml
	fi
}
sq() { sqlite3 -bail .cmsctl/state.db "$1"; }

cms_config pool-a pool-b "allow_data_loss: true"
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish

# The writer: a new session for each INSERT, so that what it sees is what a
# client connecting to pool-a would see.  "acked N T" once pool-a committed
# row N at T (ms), "failed N T" otherwise.
(
	set +e
	for id in $(seq 1000 3000); do
		[ -e "$W/stop-writer" ] && break
		if PGCONNECT_TIMEOUT=2 timeout -k 1 4 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
			-p "$PG_PORT_A" -U cmsctl -d xds -c "INSERT INTO t VALUES ($id, 'writer')" \
			>/dev/null 2>>"$W/writer.err"; then
			echo "acked $id $(now_ms)"
		else
			echo "failed $id $(now_ms)"
		fi
		sleep 0.05
	done >"$W/writer.out"
) &
writer=$!
for i in $(seq 1 200); do
	grep -q '^acked' "$W/writer.out" 2>/dev/null && break
	sleep 0.1
done
grep -q '^acked' "$W/writer.out" || fail "the writer got nothing acknowledged before the freeze"

# Freeze every process of pool-a: the postmaster and all its children.
pm=$(head -n 1 "$A/postmaster.pid")
frozen="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
# shellcheck disable=SC2086
kill -STOP $frozen
before_b=$(pg_node_state "$PG_PORT_B")
expect "pool-b before" "$before_b" "standby read_only=off timeline=1 alter_system_ro=0"
serial=$(sq 'SELECT serial FROM stores')

# 1. No fence target, no attestation: refused, nothing changes.
write_config
run 7 "$CMSCTL" plan -c cms.yaml -o refused.plan || true
contains "$W/err" "the primary 'pool-a' is unreachable and cannot be fenced"
run 7 "$CMSCTL" apply -c cms.yaml --yes || true
contains "$W/err" "the primary 'pool-a' is unreachable and cannot be fenced"
expect "pool-b after the refusals" "$(pg_node_state "$PG_PORT_B")" "$before_b"
expect "serial after the refusals" "$(sq 'SELECT serial FROM stores')" "$serial"
expect "recorded primary after the refusals" "$(sq 'SELECT primary_server FROM stores')" pool-a

# 2. The attestation is part of the plan and shown to reviewers.
run 0 "$CMSCTL" plan -c cms.yaml -o assumed.plan --assume-down pool-a \
	--reason "frozen in the test; fenced by hand" || finish
contains "$W/out" "ASSUMED DOWN by"
contains "$W/out" "frozen in the test; fenced by hand"
expect "plan attestation" "$(jq -r '.assume_down.server' assumed.plan)" pool-a
expect "plan fence" "$(jq -r '.fence.via' assumed.plan)" none

# 3. A fence target that kills every process of pool-a.
cat >"$W/fence-pool-a.sh" <<SH
#!/bin/sh
# Fence $A from outside: kill its processes, frozen or not.
echo "\$CMS_SERVER \$CMS_STORE" >"$W/fence.env"
date +%s%N >"$W/fence.at"
pids="\$(head -n 1 '$A/postmaster.pid')"
pids="\$pids \$(pgrep -P "\$pids" | tr '\n' ' ')"
kill -KILL \$pids
for i in \$(seq 1 100); do
	alive=0
	for p in \$pids; do kill -0 "\$p" 2>/dev/null && alive=1; done
	[ \$alive = 0 ] && exit 0
	sleep 0.1
done
exit 1
SH
chmod +x "$W/fence-pool-a.sh"
write_config "$W/fence-pool-a.sh"
run 0 "$CMSCTL" plan -c cms.yaml -o fenced.plan || finish
contains "$W/out" "Fence of pool-a: from outside, through its fence targets"
expect "plan fence" "$(jq -r '.fence.via' fenced.plan)" targets
run 0 "$CMSCTL" apply -c cms.yaml fenced.plan --json || finish
cp "$W/out" "$W/report.json"
frozen=
expect "fence step" "$(jq -r '.steps[] | select(.action == "fence") | .status' "$W/report.json")" done
expect "fence command's environment" "$(cat "$W/fence.env")" "pool-a redmond"
expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
expect "pool-b writable" "$(psql_on "$PG_PORT_B" xds -At -c "INSERT INTO t VALUES (10, 'after') RETURNING v")" after
expect "pool-a's postmaster is gone" "$(kill -0 "$pm" 2>/dev/null && echo alive || echo gone)" gone
expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-b

# The writer's later writes fail: give it time for a few more attempts.
fence_at=$(($(cat "$W/fence.at") / 1000000))
end=$(($(now_ms) + 3000))
while [ "$(now_ms)" -lt "$end" ]; do sleep 0.2; done
touch "$W/stop-writer"
wait "$writer" || true
writer=
late_acks=$(awk -v t="$fence_at" '$1 == "acked" && $3 > t' "$W/writer.out" | wc -l)
late_fails=$(awk -v t="$fence_at" '$1 == "failed" && $3 > t' "$W/writer.out" | wc -l)
expect "writes acknowledged by pool-a after the fence" "$late_acks" 0
if [ "$late_fails" -ge 1 ]; then
	pass "the writer's $late_fails later writes failed"
else
	fail "the writer made no attempt after the fence"
	sed 's/^/  | /' "$W/writer.out" >&2
fi

finish
