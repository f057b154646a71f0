# Integration: the primary cut off by a real network partition.  pool-a
# runs in its own network namespace, reached through a veth pair; pool-b
# streams from it through the veth; a writer in pool-a's namespace (a
# client on the primary's side of the cut) inserts all along.  The cut is
# PARTITION_CUT: `link` (default; the namespace's end of the veth goes
# down) or `loss` (every packet dropped on both ends by a qdisc:
# t_pg_partition_loss.sh).
#   1. The partition falls in the middle of an apply -- link: after it
#      connected, before the fence; loss: after the fence, before
#      catch-up.  Apply ends within its deadlines with exit 1, the lock
#      released, the journal rolled back (loss: pool-a stays fenced, a
#      follow-up says so); restore while cut off is bounded too (exit 7);
#      once healed, restore converges and pool-a takes writes again.
#   2. status and plan facing the cut are bounded; a failover without a
#      fence target and without --assume-down is refused (exit 7) and
#      nothing changes, while pool-a goes on acknowledging its writer.
#   3. link: with a fence target that stops pool-a (pg_ctl stop -m
#      immediate) the failover succeeds and the writer's later writes fail.
#      loss: with --assume-down the plan shows the attestation, the report
#      and the history carry its reason; once healed, status sees pool-a
#      taking writes and restore fences it: the writer's later writes fail.
# Deadlines: login 2 s, statements 2 s, catch-up 3 s; each cut is 0.5 s
# past its timeout.  Each command must end within the sum of the
# deadlines it meets plus 1 s (see `ended_within` in lib.sh for a loaded machine).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"
# shellcheck source=SCRIPTDIR/netns.sh
. "$CMSCTL_SOURCE_DIR/tests/integration/netns.sh"

require_tools jq sqlite3 git ip tc runuser
require_odbc
CUT=${PARTITION_CUT:-link}
case $CUT in link | loss) ;; *) echo "PARTITION_CUT must be link or loss" >&2; exit 1 ;; esac

writer= held=
cleanup() {
	local rc=$?
	set +e
	[ -n "$held" ] && kill -9 "$held" 2>/dev/null
	[ -n "$writer" ] && kill "$writer" 2>/dev/null && wait "$writer" 2>/dev/null
	pg_stop_all
	netns_destroy
	exit $rc
}
trap 'exit 130' INT TERM HUP

# Asynchronous: the primary's own side goes on committing while cut off.
PGCLUSTER_SYNC=0 start_work_cluster 1
trap cleanup EXIT
netns_make
pg_move_to_netns "$NETNS" "$NETNS_ADDR" "$NETNS_NET"
A=$(pg_node_dir pool-a)

policy=("catch_up_timeout: 3s" "query_timeout: 2s")
sq() { sqlite3 -bail .cmsctl/state.db "$1"; }
# held_at N: runs apply of plan $2 in the background, held after step N is
# journaled done (CMSCTL_TEST_HOLD_AT), and waits for that point.
held_at() {
	hold_apply "$1" "$2"
	expect "apply held after step $1" "$held_status" done
}

cms_config pool-a pool-b "${policy[@]}"
run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
expect "pool-b streams from pool-a through the veth" \
	"$(psql_on "$PG_PORT_A" postgres -At -c "SELECT client_addr FROM pg_stat_replication WHERE application_name = 'pool-b'")" \
	"$NETNS_HOST_ADDR"

# The writer, in pool-a's namespace: a new session per INSERT; each line
# says "acked|failed ID START END" (ms).
(
	set +e
	for id in $(seq 1000 9000); do
		[ -e "$W/stop-writer" ] && break
		start=$(now_ms)
		if PGCONNECT_TIMEOUT=2 timeout -k 1 4 ip netns exec "$NETNS" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
			-h 127.0.0.1 -p "$PG_PORT_A" -U cmsctl -d xds -c "INSERT INTO t VALUES ($id, 'writer')" \
			>/dev/null 2>>"$W/writer.err"; then
			echo "acked $id $start $(now_ms)"
		else
			echo "failed $id $start $(now_ms)"
		fi
		sleep 0.05
	done >"$W/writer.out"
) &
writer=$!
# pg_wait_reachable PORT: once healed, the network needs a moment (the
# neighbour entry of pool-a's address failed during the cut).
pg_wait_reachable() {
	local i
	for i in $(seq 1 300); do
		[ "$(pg_node_state "$1")" != down ] && return 0
		sleep 0.1
	done
	fail "the server at $1 does not answer 30 s after the heal"
}
# acks_after T: writes started after T (ms) that pool-a acknowledged;
# waits up to 30 s for at least WANT (default 1) of them.
acks_after() {
	local t=$1 want=${2:-1} i n=0
	for i in $(seq 1 300); do
		n=$(awk -v t="$t" '$1 == "acked" && $3 > t' "$W/writer.out" | wc -l)
		[ "$n" -ge "$want" ] && break
		sleep 0.1
	done
	echo "$n"
}
[ "$(acks_after 0)" -ge 1 ] || fail "the writer got nothing acknowledged"

# --- 1. the partition falls in the middle of an apply ---
cms_config pool-b pool-a "${policy[@]}"
run 0 "$CMSCTL" plan -c cms.yaml -o s.plan || finish
nfence=$(jq '[.steps[].action] | index("fence") + 1' s.plan)
id=$(git hash-object s.plan)
before_b=$(pg_node_state "$PG_PORT_B")
serial=$(sq 'SELECT serial FROM stores')
if [ "$CUT" = link ]; then
	held_at $((nfence - 1)) s.plan
else
	held_at "$nfence" s.plan
	expect "pool-a fenced" "$(pg_writable "$PG_PORT_A")" f
fi
netns_cut "$CUT"
t0=$(now_ms)
continue_held "$held"
rc=0
wait "$held" || rc=$?
held=
# link: the fence's first statement is cut (2 + 0.5 s), then its undo.
# loss: catch-up's look at pool-a is cut (2 + 0.5 s), then the fence's
# undo connects anew and is cut (2 + 0.5 s).
ended_within "apply cut off at the $([ "$CUT" = link ] && echo fence || echo catch-up)" "$t0" 5000
# Rolled back, but the fence's undo (to the server cut off) failed: a
# change is left, exit 6.
expect "apply exit code (failed before promotion, the fence left)" "$rc" 6
sed 's/^/  apply: /' "$W/apply.err" >&2
contains "$W/apply.err" "the fence of 'pool-a' could not be undone"
contains "$W/apply.err" "cmsctl cut the session"
expect "journal of the run" "$(sq "SELECT outcome FROM runs WHERE plan_id = '$id'")" rolled_back
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
expect "pool-b unchanged" "$(pg_node_state "$PG_PORT_B")" "$before_b"
expect "serial unchanged" "$(sq 'SELECT serial FROM stores')" "$serial"
if [ "$CUT" = loss ]; then
	contains "$W/apply.out" "pool-a is still fenced: the undo failed"
fi

cms_config pool-a pool-b "${policy[@]}"
t0=$(now_ms)
rc=0
"$CMSCTL" restore --yes -c cms.yaml >"$W/out" 2>"$W/err" || rc=$?
# One connect to pool-a, cut at 2 + 0.5 s.
ended_within "restore cut off from pool-a" "$t0" 2500
sed 's/^/  restore: /' "$W/err" >&2
expect "restore exit code while cut off" "$rc" 7
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
netns_heal
pg_wait_reachable "$PG_PORT_A"
healed=$(now_ms)
run 0 "$CMSCTL" restore --yes -c cms.yaml
expect "pool-a writable after restore" "$(pg_writable "$PG_PORT_A")" t
expect "pool-a's databases open" "$(pg_closed_dbs "$PG_PORT_A")" 0
[ "$(acks_after "$healed")" -ge 1 ] || fail "pool-a acknowledged no write after the heal"
run 0 "$CMSCTL" status -c cms.yaml --json
expect "pool-b mirror" "$(srv pool-b .role)" mirror

# --- 2. cut off: bounded reads, the failover refused ---
netns_cut "$CUT"
cut_at=$(now_ms)
t0=$(now_ms)
run 0 "$CMSCTL" status -c cms.yaml --json
ended_within "status cut off from pool-a" "$t0" 2500
expect "pool-a seen as unreachable" "$(srv pool-a .reachable)" false

# fence_config [FENCE-COMMAND]: pool-b wanted, data loss allowed.
fence_config() {
	cms_config pool-b pool-a "${policy[@]}" "allow_data_loss: true"
	if [ -n "${1:-}" ]; then
		awk -v cmd="$1" '{ print } /Port='"$PG_PORT_A"';/ {
			print "        fence:"
			print "          - command: [" cmd "]"
			print "            timeout: 20s"
		}' cms.yaml >cms.new && mv cms.new cms.yaml
	fi
}
fence_config
serial=$(sq 'SELECT serial FROM stores')
t0=$(now_ms)
run 7 "$CMSCTL" plan -c cms.yaml -o refused.plan || true
ended_within "plan cut off from pool-a" "$t0" 2500
contains "$W/err" "the primary 'pool-a' is unreachable and cannot be fenced"
t0=$(now_ms)
run 7 "$CMSCTL" apply -c cms.yaml --yes || true
ended_within "apply (refused) cut off from pool-a" "$t0" 2500
contains "$W/err" "the primary 'pool-a' is unreachable and cannot be fenced"
expect "pool-b after the refusals" "$(pg_node_state "$PG_PORT_B")" "$before_b"
expect "serial after the refusals" "$(sq 'SELECT serial FROM stores')" "$serial"
expect "recorded primary after the refusals" "$(sq 'SELECT primary_server FROM stores')" pool-a
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
n=$(acks_after "$cut_at")
if [ "$n" -ge 1 ]; then
	pass "pool-a acknowledged $n writes of its own side while cut off: unreachable is not down"
else
	fail "pool-a acknowledged nothing while cut off"
fi

# --- 3. the failover that may go ahead ---
if [ "$CUT" = link ]; then
	# A fence target that stops pool-a: the move succeeds, pool-a is gone.
	cat >"$W/fence-pool-a.sh" <<SH
#!/bin/sh
# Fence pool-a from outside: stop its cluster, whatever the network says.
echo "\$CMS_SERVER \$CMS_STORE" >"$W/fence.env"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$A" -m immediate -w stop || exit 1
date +%s%3N >"$W/fence.at"
SH
	chmod +x "$W/fence-pool-a.sh"
	fence_config "$W/fence-pool-a.sh"
	run 0 "$CMSCTL" plan -c cms.yaml -o fenced.plan || finish
	contains "$W/out" "Fence of pool-a: from outside, through its fence targets"
	run 0 "$CMSCTL" apply -c cms.yaml fenced.plan --json || finish
	cp "$W/out" "$W/report.json"
	expect "fence step" "$(jq -r '.steps[] | select(.action == "fence") | .status' "$W/report.json")" done
	expect "fence command's environment" "$(cat "$W/fence.env")" "pool-a redmond"
	expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
	expect "pool-b writable" "$(psql_on "$PG_PORT_B" xds -At -c "INSERT INTO t VALUES (10, 'after') RETURNING v")" after
	expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-b
	expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
	# A write that started once the fence command had stopped pool-a must fail.
	fence_at=$(cat "$W/fence.at")
else
	# The operator's attestation: shown in the plan, carried by the report
	# and the history.  It is wrong here (pool-a lives on behind the cut).
	reason="cut off by the test ($NETNS_CUT_HOW)"
	run 0 "$CMSCTL" plan -c cms.yaml -o assumed.plan --assume-down pool-a --reason "$reason" || finish
	contains "$W/out" "ASSUMED DOWN by"
	contains "$W/out" "$reason"
	expect "plan attestation" "$(jq -r '.assume_down.server + ": " + .assume_down.reason' assumed.plan)" \
		"pool-a: $reason"
	expect "plan fence" "$(jq -r '.fence.via' assumed.plan)" none
	t0=$(now_ms)
	run 0 "$CMSCTL" apply -c cms.yaml assumed.plan --json || finish
	# Three looks at every server (before the run, after promotion, at
	# verification), each cut off from pool-a at 2 + 0.5 s.
	ended_within "apply of the attested failover" "$t0" 7500
	expect "report attestation" "$(jq -r '.assume_down.reason' "$W/out")" "$reason"
	expect "history trailer" \
		"$(git --git-dir=.cmsctl/history log -1 --format='%(trailers:key=Assumed-Down-Reason,valueonly)' | head -1)" \
		"$reason"
	expect "pool-b out of recovery" "$(pg_in_recovery "$PG_PORT_B")" f
	expect "recorded primary" "$(sq 'SELECT primary_server FROM stores')" pool-b
	expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0
	# Healed: pool-a answers again, still taking writes; status sees it
	# and restore fences it.
	netns_heal
	pg_wait_reachable "$PG_PORT_A"
	run 2 "$CMSCTL" status -c cms.yaml --json --detailed-exitcode
	expect "pool-a seen again" "$(srv pool-a .reachable)" true
	expect "pool-a takes writes" "$(srv pool-a '.role + " read_only=" + (.read_only | tostring)')" "primary read_only=false"
	run 0 "$CMSCTL" restore --yes -c cms.yaml
	# A write that started once restore had fenced pool-a must fail.
	fence_at=$(now_ms)
	expect "pool-a fenced by restore" "$(pg_writable "$PG_PORT_A")" f
	writers=
	for s in pool-a:$PG_PORT_A pool-b:$PG_PORT_B; do
		[ "$(pg_writable "${s#*:}")" = t ] && writers="$writers${writers:+ }${s%%:*}"
	done
	expect "one writable server, the recorded one" "$writers" pool-b
fi
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
