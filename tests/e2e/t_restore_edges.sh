#!/usr/bin/env bash
# The hard cases of apply and restore: a target that cannot be seen after
# promotion began, a restore killed half way, an apply killed between its
# commit and the end of its run, a fence that fails half way, a config
# changed after planning, an unwritable --report, a malformed clock.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

writable() {
	for s in pool-a pool-b dublin-dr; do
		[ -d servers/$s ] || continue
		[ "$(sql servers/$s/xds.db "SELECT role || '/' || read_only FROM cms_control")" = primary/0 ] && printf '%s ' "$s"
	done
	return 0
}
fresh() {
	rm -rf "$T/w" && mkdir "$T/w" && cd "$T/w"
	quickstart
	"$CMSCTL" plan -o adopt.plan >/dev/null 2>&1 && "$CMSCTL" apply adopt.plan >/dev/null 2>&1
	"$CMSCTL" plan -o s.plan >/dev/null 2>&1
	id=$(git hash-object s.plan)
}
kill_at() {   # kill_at N STATUS [ARGS...]: apply s.plan, SIGKILL it at that journal boundary
	local n=$1 st=$2 pid i got=
	CMSCTL_TEST_HOLD_AT="$n:$st" "$CMSCTL" apply s.plan >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 200); do
		got=$(sql .cmsctl/state.db "SELECT status FROM steps WHERE n = $n AND run_id = (SELECT id FROM runs WHERE plan_id = '$id' AND kind = 'apply')" 2>/dev/null || true)
		[ "$got" = "$st" ] && break
		sleep 0.05
	done
	kill -9 $pid; wait $pid 2>/dev/null || true
	[ "$got" = "$st" ] || fail "never reached step $n $st"
}

# 1. Killed after promotion; the target then cannot be seen: restore
#    refuses to guess (no split brain), and finishes once it is back.
fresh
kill_at 4 done
mv servers/pool-b pool-b.away
run 7 "$CMSCTL" restore --yes
contains err "cannot tell whether the promotion of 'pool-b'"
[ "$(writable)" = "" ] || fail "restore changed something: writable $(writable)"
mv pool-b.away servers/pool-b
run 0 "$CMSCTL" restore --yes
[ "$(writable)" = "pool-b " ] || fail "after restore: writable $(writable)"
[ "$(serial)" = 2 ] || fail "serial $(serial)"

# 2. A restore killed half way (its publish hangs): the next restore closes
#    it and settles the interrupted apply.
fresh
cat >hang.sh <<'SH'
#!/bin/sh
sleep 30
SH
chmod +x hang.sh
kill_at 4 done
printf '      - command: [%s/hang.sh]\n' "$PWD" >>cms.yaml
"$CMSCTL" restore --yes >/dev/null 2>&1 & rpid=$!
for i in $(seq 1 100); do
	[ "$(sql .cmsctl/state.db "SELECT count(*) FROM steps WHERE action = 'publish' AND status = 'running'" 2>/dev/null)" = 1 ] && break
	sleep 0.05
done
kill -9 $rpid; wait $rpid 2>/dev/null || true
sed -i '$d' cms.yaml
run 0 "$CMSCTL" restore --yes
contains out "closed restore run"
[ "$(writable)" = "pool-b " ] || fail "after the second restore: writable $(writable)"
run 0 "$CMSCTL" status
lacks out "interrupted"

# 3. An apply that died after committing the new location but before
#    closing its run: restore finishes it without committing twice.
fresh
run 0 "$CMSCTL" apply s.plan
sql .cmsctl/state.db "UPDATE runs SET outcome = 'running', finished_at = NULL WHERE plan_id = '$id'"
run 6 "$CMSCTL" plan
run 0 "$CMSCTL" restore --yes
contains out "was finished by restore"
[ "$(serial)" = 2 ] || fail "serial $(serial) after restore of a committed run"
run 0 "$CMSCTL" status
contains out "drift: none"

# 4. A fence that fails half way (xds fenced, lis refuses) is undone whole.
#    The same plan made again at the same clock time, after that rolled-back
#    run, is a new plan (it names the run it was made after) and applies.
export CMSCTL_NOW=2026-06-01T00:00:00Z
fresh
sql servers/pool-a/lis.db "CREATE TRIGGER no_fence BEFORE UPDATE OF read_only ON cms_control WHEN NEW.read_only = 1 BEGIN SELECT RAISE(ABORT, 'fence refused by test'); END"
run 1 "$CMSCTL" apply s.plan
[ "$(sql servers/pool-a/xds.db 'SELECT read_only FROM cms_control')" = 0 ] || fail "xds left fenced"
[ "$(writable)" = "pool-a " ] || fail "writable $(writable)"
[ "$(serial)" = 1 ] || fail "serial $(serial)"
sql servers/pool-a/lis.db "DROP TRIGGER no_fence"
run 0 "$CMSCTL" plan -o again.plan
[ "$(git hash-object again.plan)" != "$id" ] || fail "the plan made again has the consumed plan's id"
run 0 "$CMSCTL" apply again.plan
[ "$(writable)" = "pool-b " ] || fail "writable $(writable)"
unset CMSCTL_NOW

# 5. A config changed after planning: the saved plan no longer applies.
fresh
sed -i 's/catch_up_timeout: 30s/catch_up_timeout: 45s/' cms.yaml
run 3 "$CMSCTL" apply s.plan
contains err "is not what the config now makes of the inputs"
contains err "policy.catch_up_timeout_ms is 30000 in the plan, 45000 now"
[ "$(serial)" = 1 ] || fail "serial $(serial)"

# 6. An unwritable --report: the run still reaches the history.
fresh
run 1 "$CMSCTL" apply s.plan --report /nonexistent/dir/r.html
git -C .cmsctl/history log -1 --format=%s cms-history >subject
printf 'redmond: apply switchover pool-a -> pool-b: ok\n' >want
same subject want

# 8. A clock set far ahead (CMSCTL_NOW) does not make a live apply's lock
#    look expired: leases run on the real clock.
fresh
CMSCTL_TEST_HOLD_AT="3:running" "$CMSCTL" apply s.plan >/dev/null 2>&1 & hpid=$!
for i in $(seq 1 200); do
	[ "$(sql .cmsctl/state.db "SELECT status FROM steps WHERE n = 3 AND run_id = (SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null)" = running ] && break
	sleep 0.05
done
CMSCTL_NOW=2030-01-01T00:00:00Z run 4 "$CMSCTL" restore --yes
contains err "is locked by alice@test (pid $hpid"
kill -9 $hpid; wait $hpid 2>/dev/null || true
run 0 "$CMSCTL" restore --yes
[ "$(writable)" = "pool-a " ] || fail "writable $(writable)"

# 7. A malformed clock is a usage error, not a silent 1970.
CMSCTL_NOW=yesterday run 64 "$CMSCTL" plan
contains err "CMSCTL_NOW 'yesterday' is not an RFC 3339 UTC time"
finish
