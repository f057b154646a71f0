#!/usr/bin/env bash
# A failure before promotion whose rollback cannot undo the fence (the old
# primary went away during the catch-up) leaves a change behind: apply
# exits 6, not 1, and says restore undoes it; once the server is back,
# restore does, and the old primary takes writes again.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
pid=''
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$T"' EXIT
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
bash ./write.sh . pool-a 3 >/dev/null
run 0 "$CMSCTL" plan -o s.plan --reason "the rollback test" --ticket CHG-9
CMSCTL_TEST_HOLD_AT=3:running "$CMSCTL" apply s.plan >apply.out 2>apply.err &
pid=$!
for i in $(seq 1 600); do
	grep -q "holding at step 3:running" apply.err && break
	sleep 0.1
done
mv servers/pool-a servers/pool-a.off
kill -CONT $pid
rc=0
wait $pid || rc=$?
pid=''
[ "$rc" = 6 ] || fail "a rollback that left the fence: exit $rc, expected 6"
contains apply.err "the fence of 'pool-a' could not be undone"
contains apply.err "'cmsctl restore' undoes it once 'pool-a' answers"
mv servers/pool-a.off servers/pool-a
[ "$(sql servers/pool-a/xds.db 'SELECT role || read_only FROM cms_control')" = primary1 ] ||
	fail "pool-a is not left fenced: the test proves nothing"
run 0 "$CMSCTL" restore --yes
for d in xds lis; do
	[ "$(sql servers/pool-a/$d.db 'SELECT role || read_only FROM cms_control')" = primary0 ] ||
		fail "after restore, pool-a's $d is not a writable primary"
done
run 0 "$CMSCTL" status --detailed-exitcode
finish
