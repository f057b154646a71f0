#!/usr/bin/env bash
# The sqlite engine keeps one session per database file for a whole run
# (applier/engine_sqlite.c), used again only while its path still names
# the same file.  A switchover pool-a -> pool-b is held right after its
# fence (a test build's CMSCTL_TEST_HOLD_AT), the target's xds.db is moved
# away, and the apply goes on (SIGCONT): the catch-up must find the file
# gone -- not read on through a session kept on the moved file -- and the
# run ends rolled back, pool-a writable again, nothing recorded.  Then the
# same is done with the file replaced by a copy that is ahead of pool-a:
# the catch-up must read the new file and refuse to overwrite it (through
# a session kept on the old file it would find the copies in step and go
# on).  With the right file back, the move goes through.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

ro() { sql "servers/$1/$2.db" "SELECT role || '/' || read_only FROM cms_control"; }

# hold_after_fence PLAN: starts apply PLAN --json in the background, held
# once step 2 (the fence) is journaled done; sets $pid.
hold_after_fence() {
	CMSCTL_TEST_HOLD_AT="2:done" "$CMSCTL" apply "$1" --json >apply.out 2>apply.err &
	pid=$!
	for i in $(seq 1 400); do
		grep -q "holding at step 2:done" apply.err 2>/dev/null && break
		sleep 0.05
	done
	contains apply.err "holding at step 2:done (CMSCTL_TEST_HOLD_AT)" || return 1
	[ "$(ro pool-a xds)" = primary/1 ] || fail "pool-a not fenced while held: $(ro pool-a xds)"
}

quickstart
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" apply --yes
sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o s.plan

# 1. The target's file moved away while the run is held.
hold_after_fence s.plan
mv servers/pool-b/xds.db away.db
kill -CONT $pid
rc=0
wait $pid || rc=$?
case $rc in 1 | 7) pass "apply without the target's file: exit $rc" ;; *) fail "apply without the target's file: exit $rc" ;; esac
contains apply.err "no database file '"
contains apply.err "servers/pool-b/xds.db'"
[ "$(jq -r .outcome apply.out)" = rolled_back ] || fail "outcome $(jq -r .outcome apply.out)"
[ "$(ro pool-a xds)" = primary/0 ] || fail "pool-a after the rollback: $(ro pool-a xds)"
[ "$(ro pool-a lis)" = primary/0 ] || fail "pool-a lis after the rollback: $(ro pool-a lis)"
[ "$(serial)" = 1 ] || fail "serial $(serial)"
mv away.db servers/pool-b/xds.db

# 2. Another file in its place: one that is ahead of pool-a.
run 0 "$CMSCTL" plan -o s2.plan
hold_after_fence s2.plan
cp servers/pool-b/xds.db other.db
sql other.db "UPDATE cms_control SET change_counter = change_counter + 5" >/dev/null
mv servers/pool-b/xds.db kept.db
mv other.db servers/pool-b/xds.db
kill -CONT $pid
rc=0
wait $pid || rc=$?
case $rc in 1 | 7) pass "apply with another target file: exit $rc" ;; *) fail "apply with another target file: exit $rc" ;; esac
contains apply.err "'pool-b/xds' is ahead of 'pool-a'"
[ "$(jq -r .outcome apply.out)" = rolled_back ] || fail "outcome $(jq -r .outcome apply.out)"
[ "$(ro pool-a xds)" = primary/0 ] || fail "pool-a after the second rollback: $(ro pool-a xds)"
[ "$(serial)" = 1 ] || fail "serial $(serial)"
mv kept.db servers/pool-b/xds.db

# 3. The right file back: the move goes through.
run 0 "$CMSCTL" plan -o s3.plan
run 0 "$CMSCTL" apply s3.plan
[ "$(ro pool-b xds)" = primary/0 ] || fail "pool-b after the move: $(ro pool-b xds)"
[ "$(ro pool-a xds)" = mirror/0 ] || fail "pool-a after the move: $(ro pool-a xds)"
[ "$(serial)" = 2 ] || fail "serial $(serial)"
finish
