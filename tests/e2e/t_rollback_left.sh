#!/usr/bin/env bash
# A failure before promotion whose rollback cannot undo the fence (the old
# primary went away during the catch-up) leaves a change behind: apply
# exits 6, not 1, and says restore undoes it; once the server is back,
# restore does, and the old primary takes writes again.  A restore that
# cannot undo such a fence ends 6 as well, not 0.
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
wait_for apply.err "holding at step 3:running"
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

# The same left by restore: an apply killed during its catch-up, the old
# primary away when restore undoes the run: restore settles the run but
# cannot undo the fence, so it ends 6 too; once pool-a is back, restore
# again finishes the job.
run 0 "$CMSCTL" plan -o s2.plan --reason "the rollback test, again" --ticket CHG-10
kill_at 3:running s2.plan
mv servers/pool-a servers/pool-a.off
run 6 "$CMSCTL" restore --yes
contains err "restore settled the interrupted run, but the fence of 'pool-a' could not be undone"
mv servers/pool-a.off servers/pool-a
run 0 "$CMSCTL" restore --yes
for d in xds lis; do
	[ "$(sql servers/pool-a/$d.db 'SELECT role || read_only FROM cms_control')" = primary0 ] ||
		fail "after the second restore, pool-a's $d is not a writable primary"
done
run 0 "$CMSCTL" status --detailed-exitcode
# A fence that failed outright (pool-a gone before its first statement):
# it sent pool-a nothing, so there is nothing to undo and nothing left:
# rolled back, exit 1, not 6 with pool-a said to be fenced.
run 0 "$CMSCTL" plan -o s3.plan --reason "the rollback test, a third time" --ticket CHG-11
CMSCTL_TEST_HOLD_AT=2:running "$CMSCTL" apply s3.plan --json >apply.json 2>apply.err &
pid=$!
wait_for apply.err "holding at step 2:running"
mv servers/pool-a servers/pool-a.off
kill -CONT $pid
rc=0
wait $pid || rc=$?
pid=''
[ "$rc" = 1 ] || fail "a fence that reached nothing: exit $rc, expected 1"
lacks apply.err "could not be undone"
[ "$(jq -r '.outcome' apply.json)" = rolled_back ] || fail "outcome: $(jq -r '.outcome' apply.json)"
[ "$(jq -r '.steps[] | select(.action == "fence") | .status' apply.json)" = failed ] ||
	fail "the fence step is not journaled failed"
jq -r '.steps[] | select(.action == "fence") | .notes // empty' apply.json >notes
contains notes "nothing to undo: the fence sent the server nothing"
jq -e '.followups // [] | map(select(test("fenced"))) | length == 0' apply.json >/dev/null ||
	fail "a follow-up says pool-a is fenced"
mv servers/pool-a.off servers/pool-a
[ "$(sql servers/pool-a/xds.db 'SELECT role || read_only FROM cms_control')" = primary0 ] ||
	fail "pool-a was fenced after all: the case is not the one meant"
run 0 "$CMSCTL" status --detailed-exitcode
finish
