#!/usr/bin/env bash
# SIGTERM, SIGINT and SIGHUP during apply, at every step boundary of a
# switchover and at random moments: before promotion the fence is undone,
# the run journaled rolled back, the lock released, exit 1; after promotion
# began the step in hand is finished and the run recorded as interrupted,
# exit 6, and restore converges.  A second signal ends the process at once
# (exit 6), saying what it leaves.  Reading commands just end.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

writable() {
	for s in pool-a pool-b dublin-dr; do
		r=$(sql servers/$s/xds.db "SELECT role || '/' || read_only FROM cms_control")
		[ "$r" = "primary/0" ] && printf '%s\n' "$s"
	done
	return 0
}

fresh() {
	rm -rf "$T/k" && mkdir "$T/k" && cd "$T/k"
	quickstart
	"$CMSCTL" plan -o adopt.plan >/dev/null 2>&1 && "$CMSCTL" apply adopt.plan >/dev/null 2>&1
	"$CMSCTL" plan -o s.plan >/dev/null 2>&1
}

# consistent WHEN: one writable server, the recorded and published one, no
# lock left, no interrupted run.
consistent() {
	writable >w
	[ "$(wc -l <w)" = 1 ] || { fail "$1: writable primaries: $(tr '\n' ' ' <w)"; return; }
	rec=$(sql .cmsctl/state.db "SELECT primary_server FROM stores WHERE name='redmond'")
	[ "$(cat w)" = "$rec" ] || fail "$1: writable $(cat w) but recorded $rec"
	pub=$("$PY" -c 'import json; print(json.load(open("published/location.json"))["primary"])')
	[ "$pub" = "$rec" ] || fail "$1: published $pub but recorded $rec"
	[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "$1: a lock is left"
}

# signal_at N SIGNAL: holds the apply right after step N is journaled done,
# sends SIGNAL, and checks what the run did.
signal_at() {
	local n=$1 sig=$2 pid id got="" rc=0 action promote_n next
	fresh
	id=$(git hash-object s.plan)
	action=$(jq -r ".steps[$((n - 1))].action" s.plan)
	promote_n=$(jq '[.steps[].action] | index("promote") + 1' s.plan)
	CMSCTL_TEST_HOLD_AT="$n:done" "$CMSCTL" apply s.plan >apply.out 2>apply.err &
	pid=$!
	for i in $(seq 1 400); do
		got=$(sql .cmsctl/state.db "SELECT status FROM steps WHERE n = $n AND run_id = (SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null || true)
		[ "$got" = done ] && break
		sleep 0.05
	done
	[ "$got" = done ] || { fail "step $n never reached done"; kill -9 $pid; return; }
	kill -"$sig" $pid
	wait $pid || rc=$?
	outcome=$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE plan_id = '$id'")
	if [ "$n" -lt "$promote_n" ]; then
		[ "$rc" = 1 ] || fail "SIG$sig after step $n ($action): exit $rc, expected 1"
		[ "$outcome" = rolled_back ] || fail "SIG$sig after step $n: journal says $outcome"
		contains apply.err "before any promotion; the run was rolled back"
		# The next step never started: its start (journaled with this
		# step's end) was taken back, and it has no start time.
		next=$(sql .cmsctl/state.db "SELECT status || '/' || coalesce(started_at, '-') FROM steps
			WHERE n = $((n + 1)) AND run_id = (SELECT id FROM runs WHERE plan_id = '$id')")
		case $next in
		running/* | */[0-9]*) fail "SIG$sig after step $n: step $((n + 1)) is '$next', but it never started" ;;
		esac
		consistent "SIG$sig after step $n ($action)"
		[ "$(cat w)" = pool-a ] || fail "SIG$sig after step $n: pool-a is not the writable one"
	else
		[ "$rc" = 6 ] || fail "SIG$sig after step $n ($action): exit $rc, expected 6"
		# Left unfinished in the journal, for restore to settle.
		[ "$outcome" = running ] || fail "SIG$sig after step $n: journal says $outcome"
		contains apply.err "after promotion began"
		[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "SIG$sig after step $n: lock left"
		run 0 "$CMSCTL" restore --yes
		consistent "SIG$sig after step $n ($action) and restore"
	fi
	[ "$(sql .cmsctl/state.db 'PRAGMA integrity_check')" = ok ] || fail "integrity after SIG$sig at $n"
	pass "SIG$sig after step $n ($action): exit $rc"
}

fresh
nsteps=$(jq '.steps | length' s.plan)
sigs=(TERM INT HUP)
for n in $(seq 1 $((nsteps - 1))); do
	signal_at "$n" "${sigs[$((n % 3))]}"
done

# Random moments: whatever the exit, the store ends consistent (after
# restore when the run was interrupted).
for k in 1 2 3 4 5 6 7 8; do
	fresh
	rc=0
	"$CMSCTL" apply s.plan >apply.out 2>apply.err &
	pid=$!
	sleep "$((RANDOM % 2)).$((RANDOM % 90 + 10))"
	kill -TERM $pid 2>/dev/null || true
	wait $pid || rc=$?
	case $rc in
		0 | 1) ;;
		6) run 0 "$CMSCTL" restore --yes ;;
		143)
			# Only before cmsctl got going (process start-up): then no
			# run was begun.
			[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs WHERE plan_id = '$(git hash-object s.plan)'")" = 0 ] ||
				fail "random SIGTERM $k: killed (143) after the run began"
			;;
		*) fail "random SIGTERM $k: exit $rc" ;;
	esac
	consistent "random SIGTERM $k (exit $rc)"
	pass "random SIGTERM $k: exit $rc"
done

# A second signal ends at once: the first arrives while a publish hook
# (after promotion) is running, the second during it.
fresh
cat >hook.sh <<'SH'
#!/bin/sh
sleep 20
SH
chmod +x hook.sh
printf '      - command: [%s/hook.sh]\n        timeout: 60s\n' "$T/k" >>cms.yaml
"$CMSCTL" plan -o s2.plan >/dev/null 2>&1
rc=0
start=$(date +%s)
"$CMSCTL" apply s2.plan >apply.out 2>apply.err &
pid=$!
for i in $(seq 1 400); do
	pgrep -f "$T/k/hook.sh" >/dev/null && break
	sleep 0.05
done
kill -TERM $pid
sleep 0.3
kill -TERM $pid
wait $pid || rc=$?
[ "$rc" = 6 ] || fail "second signal: exit $rc, expected 6"
[ $(( $(date +%s) - start )) -lt 15 ] || fail "second signal did not end the process at once"
contains apply.err "second signal: stopping at once"
run 0 "$CMSCTL" restore --yes
consistent "second signal and restore"

# Signals once the run has ended, while it is recorded: the messages say
# that only the record is left.  The record's push waits for the remote's
# turn, an flock in the history's git folder that flock(1) holds here; the
# next command that writes the history pushes what the push left.
fresh
git init -q --bare remote.git
sed -i "s|^version: 1\$|version: 1\nbackend:\n  remote: remote.git|" cms.yaml
"$CMSCTL" plan -o s3.plan >/dev/null 2>&1
id=$(git hash-object s3.plan)
rc=0
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply s3.plan >apply.out 2>apply.err &
pid=$!
wait_for apply.err "holding before recording run"
# The remote's turn, taken by this shell (fd 9) after apply started.
exec 9>.cmsctl/history/cmsctl-remote.lock
flock -x 9
kill -TERM $pid
wait_for apply.err "the run has ended; recording it in the history, then stopping"
# The second signal once the run is in the local history: the process then
# waits for the remote's turn to push it.
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$id'")
for i in $(seq 1 600); do
	git --git-dir=.cmsctl/history cat-file -e "cms-history:redmond/runs/$rid/report.json" 2>/dev/null && break
	sleep 0.1
done
sleep 0.2
kill -TERM $pid
wait $pid || rc=$?
exec 9>&-
[ "$rc" = 6 ] || fail "second signal while recording: exit $rc, expected 6"
contains apply.err "second signal: stopping at once, while the run that ended is recorded"
lacks apply.err "in the middle of a step"
rid=$(sql .cmsctl/state.db "SELECT id || '/' || outcome FROM runs WHERE plan_id = '$id'")
case $rid in */ok) ;; *) fail "second signal while recording: the journal says $rid" ;; esac
rid=${rid%/ok}
# (Through a file: grep -q ends early, and under pipefail git's SIGPIPE
# would decide.)
git -C remote.git log --format=%B cms-history >remote.log 2>/dev/null || true
if grep -qxF "Run-Id: $rid" remote.log; then
	fail "the remote has run $rid although its push was stopped"
fi
run 0 "$CMSCTL" plan -o s4.plan
git -C remote.git log --format=%B cms-history >remote.log
grep -qxF "Run-Id: $rid" remote.log || {
	fail "the next command that writes the history did not bring run $rid to the remote"
	sed 's/^/  apply: /' apply.err >&2
	sed 's/^/  plan: /' err >&2
	git --git-dir=.cmsctl/history log --format='  local: %s %(trailers:key=Run-Id,valueonly)' cms-history >&2
	git -C remote.git log --format='  remote: %s %(trailers:key=Run-Id,valueonly)' cms-history >&2
}
# The run took: pool-b alone is writable, recorded and published.  (The
# dead process's lock stays until the next apply takes it over.)
writable >w
[ "$(cat w)" = pool-b ] || fail "second signal while recording: writable: $(tr '\n' ' ' <w)"
[ "$(sql .cmsctl/state.db "SELECT primary_server FROM stores WHERE name='redmond'")" = pool-b ] ||
	fail "second signal while recording: pool-b is not recorded"
pass "signals while the run is recorded"

# A signal while apply waits for the store's lock (--lock-timeout): it
# stops waiting at once, exit 1, nothing changed; a second signal there
# says nothing was changed, exit 1, not 6.
fresh
CMSCTL_TEST_HOLD_AT=locked "$CMSCTL" apply s.plan >holder.out 2>holder.err &
holder=$!
wait_for holder.err "holding after taking the store's lock"
for twice in no yes; do
	rc=0
	t0=$(date +%s)
	"$CMSCTL" apply s.plan --lock-timeout 40s >wait.out 2>wait.err &
	pid=$!
	sleep 1.5
	if [ "$twice" = yes ]; then
		# Both pending at once (the process stopped meanwhile).
		kill -STOP $pid
		kill -TERM $pid
		kill -INT $pid
		kill -CONT $pid
	else
		kill -TERM $pid
	fi
	wait $pid || rc=$?
	[ "$rc" = 1 ] || fail "signal during the lock wait (twice: $twice): exit $rc, expected 1"
	[ $(($(date +%s) - t0)) -lt 15 ] || fail "signal during the lock wait (twice: $twice): it waited on"
	if [ "$twice" = no ]; then
		contains wait.err "while waiting for the store's lock; nothing was changed"
	else
		contains wait.err "second signal: stopping at once, before the run began; nothing was changed"
	fi
done
kill -CONT $holder
wait $holder || fail "the lock's holder: exit $?"
pass "signals during a lock wait"

# A run interrupted after its promotion is not closed: while it is
# recorded, a second signal says what restore is for, not that the run
# has ended.
fresh
git init -q --bare remote.git
sed -i "s|^version: 1\$|version: 1\nbackend:\n  remote: remote.git|" cms.yaml
"$CMSCTL" plan -o s5.plan >/dev/null 2>&1
promote_n=$(jq '[.steps[].action] | index("promote") + 1' s5.plan)
rc=0
CMSCTL_TEST_HOLD_AT="$promote_n:done" "$CMSCTL" apply s5.plan >apply.out 2>apply.err &
pid=$!
wait_for apply.err "holding at step $promote_n:done"
exec 9>.cmsctl/history/cmsctl-remote.lock
flock -x 9
kill -TERM $pid
id=$(git hash-object s5.plan)
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$id'")
for i in $(seq 1 600); do
	git --git-dir=.cmsctl/history cat-file -e "cms-history:redmond/runs/$rid/report.json" 2>/dev/null && break
	sleep 0.1
done
sleep 0.2
kill -TERM $pid
wait $pid || rc=$?
exec 9>&-
[ "$rc" = 6 ] || fail "second signal while an interrupted run is recorded: exit $rc, expected 6"
contains apply.err "'cmsctl restore' finishes or undoes the run"
lacks apply.err "the run has ended"
[ "$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$rid'")" = running ] ||
	fail "the interrupted run is not left running for restore"
run 0 "$CMSCTL" restore --yes
pass "signals while an interrupted run is recorded"

# Restore stopped by a signal between its steps: it says so, and the next
# restore converges.  The apply it settles was killed after its fence.
fresh
id=$(git hash-object s.plan)
CMSCTL_TEST_HOLD_AT="2:done" "$CMSCTL" apply s.plan >apply.out 2>apply.err &
pid=$!
for i in $(seq 1 400); do
	got=$(sql .cmsctl/state.db "SELECT status FROM steps WHERE n = 2 AND run_id = (SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null || true)
	[ "$got" = done ] && break
	sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null || true
CMSCTL_TEST_HOLD_AT="1:done" "$CMSCTL" restore --yes >restore.out 2>restore.err &
pid=$!
got=
for i in $(seq 1 400); do
	got=$(sql .cmsctl/state.db "SELECT status FROM steps WHERE n = 1 AND run_id = (SELECT id FROM runs WHERE kind = 'restore' ORDER BY started_at DESC, rowid DESC LIMIT 1)" 2>/dev/null || true)
	[ "$got" = done ] && break
	sleep 0.05
done
[ "$got" = done ] || fail "restore never journaled its step 1"
kill -TERM $pid
rc=0
wait $pid || rc=$?
case $rc in 1 | 6) pass "restore stopped by SIGTERM: exit $rc" ;; *) fail "restore on SIGTERM: exit $rc" ;; esac
contains restore.err "interrupted by signal 15"
run 0 "$CMSCTL" restore --yes
consistent "restore stopped by a signal, then restore"

# Reading commands just end.
rc=0
"$CMSCTL" status >/dev/null 2>&1 &
pid=$!
kill -TERM $pid 2>/dev/null || true
wait $pid || rc=$?
case $rc in 0 | 143) pass "status ends on SIGTERM (exit $rc)" ;; *) fail "status on SIGTERM: exit $rc" ;; esac
finish
