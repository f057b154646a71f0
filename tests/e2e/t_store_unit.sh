#!/usr/bin/env bash
# The databases of a store move as a unit (sqlite quick start, switchover
# pool-a -> pool-b): a client holds a write transaction on lis of the
# target during the promotion, so xds is promoted and lis cannot be.  apply
# moves xds back, undoes the fence and refuses (exit 7): every database on
# one server, the old primary taking writes again, the record unchanged.
# Once the client lets go, the same move goes through.
#
# Then an apply killed (SIGKILL) while its promotion had taken on xds and
# not yet on lis: a test build holds apply right after the engine promoted
# xds (CMSCTL_TEST_HOLD_AT=promote:xds), and the test kills it there.  plan refuses (the run is interrupted); restore finishes the
# promotion of lis and the run, from what the servers report.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

roles() {
	local s d
	for s in pool-a pool-b; do
		for d in xds lis; do
			printf '%s/%s=%s ' "$s" "$d" \
				"$(sql servers/$s/$d.db "SELECT role || '/' || read_only FROM cms_control")"
		done
	done
}

quickstart
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
sed -i 's/^      approvals: 0$/      approvals: 0\n      query_timeout: 2s/' cms.yaml
run 0 "$CMSCTL" apply --yes
sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
before=$(roles)
[ "$before" = "pool-a/xds=primary/0 pool-a/lis=primary/0 pool-b/xds=mirror/0 pool-b/lis=mirror/0 " ] ||
	fail "before: $before"
run 0 "$CMSCTL" plan -o s.plan

# A client holding a write transaction on pool-b's lis.
"$PY" - servers/pool-b/lis.db "$T/held" "$T/release" <<'PYEOF' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
deadline = time.time() + 120
while not os.path.exists(sys.argv[3]) and time.time() < deadline:
    time.sleep(0.05)
c.execute("ROLLBACK")
PYEOF
holder=$!
for i in $(seq 1 200); do [ -e "$T/held" ] && break; sleep 0.05; done
[ -e "$T/held" ] || fail "the client never took its write transaction"

run 7 "$CMSCTL" apply s.plan --json
contains err "promotion of 'pool-b' stopped part way, and 'xds' moved back as it was: nothing is changed"
[ "$(jq -r .outcome out)" = rolled_back ] || fail "outcome $(jq -r .outcome out)"
[ "$(jq -r '.steps[] | select(.action == "fence") | .status' out)" = undone ] ||
	fail "fence step $(jq -r '.steps[] | select(.action == "fence") | .status' out)"
[ "$(roles)" = "$before" ] || fail "after the refused promotion: $(roles), before: $before"
[ "$(serial)" = 1 ] || fail "serial $(serial)"
run 0 "$CMSCTL" status
lacks out "interrupted"

touch "$T/release"
wait "$holder" || fail "the client's transaction"
run 0 "$CMSCTL" plan -o s2.plan
run 0 "$CMSCTL" apply s2.plan
[ "$(roles)" = "pool-a/xds=mirror/0 pool-a/lis=mirror/0 pool-b/xds=primary/0 pool-b/lis=primary/0 " ] ||
	fail "after the move: $(roles)"
[ "$(serial)" = 2 ] || fail "serial $(serial)"

# A kill between the two databases.
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
id=$(git hash-object back.plan)
CMSCTL_TEST_HOLD_AT="promote:xds" "$CMSCTL" apply back.plan >/dev/null 2>apply.err &
pid=$!
for i in $(seq 1 400); do
	grep -q "holding after promote of xds on pool-a" apply.err 2>/dev/null && break
	sleep 0.05
done
contains apply.err "holding after promote of xds on pool-a (CMSCTL_TEST_HOLD_AT)" ||
	fail "apply never promoted xds"
kill -9 $pid
wait $pid 2>/dev/null || true
[ "$(roles)" = "pool-a/xds=primary/0 pool-a/lis=mirror/0 pool-b/xds=primary/1 pool-b/lis=primary/1 " ] ||
	fail "after the kill: $(roles)"
run 6 "$CMSCTL" plan
run 0 "$CMSCTL" status
contains out "interrupted"
run 0 "$CMSCTL" restore --yes --json
[ "$(jq -r '[.steps[] | .action + ":" + .status] | join(" ")' out)" = \
	"record:done promote:done reread_roles:done demote:done publish:done verify:done" ] ||
	fail "restore steps: $(jq -r '[.steps[] | .action + ":" + .status] | join(" ")' out)"
jq -r '.steps[0].description' out >desc
contains desc "promote the rest and finish the run"
[ "$(roles)" = "pool-a/xds=primary/0 pool-a/lis=primary/0 pool-b/xds=mirror/0 pool-b/lis=mirror/0 " ] ||
	fail "after restore: $(roles)"
[ "$(serial)" = 3 ] || fail "serial $(serial) after restore"
run 0 "$CMSCTL" plan --detailed-exitcode

finish
