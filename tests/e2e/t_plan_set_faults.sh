#!/usr/bin/env bash
# A plan set on a bad day, on the sqlite engine: (1) a signal to the set
# (its process group, as Ctrl-C, or its parent alone) reaches every store
# once, through the parent: stores before promotion roll back, the stores
# not started never start, the summary says so, and the exit status ranks
# them; a second signal stops the stores at once.  (2) A store whose
# process crashes before its run counts as an error (1) in the set's
# status; one that crashes in the middle of its run is interrupted (6),
# and one killed after its run, before the history recorded it, is 6.
# (3) The programs a store runs (publish) start with SIGPIPE at its
# default, and one that stays in the background does not hold the set.
# (4) Store names from plan files are escaped in the relayed lines and the
# summary.  (5) On a terminal the stores' progress is shown, each line
# prefixed with its store.  (6) A summary that cannot be written after
# stores moved ends 6.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
pids=''
trap 'kill -9 $pids 2>/dev/null || true; pkill -f "cmsctl-test-daemon-$$" 2>/dev/null || true; rm -rf "$T"' EXIT

n=3
# config PRIMARY [PUBLISH]: n stores of pool-a and pool-b under store-I/,
# each publishing through the command PUBLISH when given.
config() {
	printf 'version: 1\nstores:\n'
	for i in $(seq 1 $n); do
		sqlite_store "$i" "$1"
		[ -z "${2:-}" ] || printf '    publish:\n      - command: [%s]\n        timeout: 40s\n' "$2"
	done
}
# fresh [PUBLISH]: new stores, adopted, and a set "move" to pool-b.
fresh() {
	rm -rf "$T/w" && mkdir "$T/w" && cd "$T/w"
	for i in $(seq 1 $n); do
		bash "$SRC/examples/quickstart/setup.sh" "store-$i" >/dev/null
	done
	config pool-a "${1:-}" >cms.yaml
	"$CMSCTL" plan --all -o adopt >/dev/null 2>&1 && "$CMSCTL" apply adopt >/dev/null 2>&1 ||
		fail "fresh: adopt"
	config pool-b "${1:-}" >cms.yaml
	"$CMSCTL" plan --all -o move >/dev/null 2>&1 || fail "fresh: plan move"
}
# wait_steps N STEP STATUS: up to 60 s until N running runs have STEP
# journaled STATUS.
wait_steps() {
	local i c
	for i in $(seq 1 600); do
		c=$(sql .cmsctl/state.db "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id
			WHERE r.outcome = 'running' AND s.n = $2 AND s.status = '$3'" 2>/dev/null || true)
		[ "${c:-0}" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "$1 runs never reached step $2 $3"
	return 1
}
# pool_b_primary I: store-I's pool-b is a writable primary.
pool_b_primary() {
	[ "$(sql "store-$1/servers/pool-b/xds.db" 'SELECT role || read_only FROM cms_control')" = primary0 ]
}

# kill_store1_at N: applies the set "move", every store held once step N
# is journaled done (sets pid), then kills store-1's process (SIGKILL),
# whose running run is rid, and waits until it is gone.
kill_store1_at() {
	CMSCTL_TEST_HOLD_AT=$1:done "$CMSCTL" apply move --parallel 3 >set.out 2>set.err &
	pid=$!
	pids="$pids $pid"
	wait_steps 3 "$1" done
	victim=$(sql .cmsctl/state.db "SELECT holder_pid FROM locks WHERE store = 'store-1'")
	rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE store = 'store-1' AND outcome = 'running'")
	[ -n "$victim" ] && [ -n "$rid" ] || fail "no lock or run of store-1's process"
	kill -9 "$victim"
	for i in $(seq 1 100); do
		kill -0 "$victim" 2>/dev/null || break
		sleep 0.05
	done
}

# (1a) SIGINT to the set's process group, as Ctrl-C: two stores at a time,
# both held after their fence; the third never starts.
fresh
rc=0
setsid env CMSCTL_TEST_HOLD_AT=2:done "$CMSCTL" apply move --parallel 2 >set.out 2>set.err &
pid=$!
pids="$pids $pid"
wait_steps 2 2 done
kill -INT -- -"$pid"
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "SIGINT to the set's group: exit $rc, expected 1"
contains set.err "signal 2 received: passed on to the 2 stores being applied"
contains set.err "the 1 not started yet will not start"
lacks set.err "cmsctl: second signal"
contains set.out "plan set: 3 stores, 0 ok, 3 not"
contains set.out "store-3: not started (exit 1): the set was stopped by signal 2 before this store started"
for i in 1 2; do
	contains set.out "store-$i: rolled_back"
	contains set.err "store-$i: cmsctl: interrupted by signal 2 (Interrupt) before any promotion"
done
for i in 1 2 3; do
	[ "$(serial store-$i)" = 1 ] || fail "SIGINT: store-$i serial $(serial store-$i)"
	[ "$(sql store-$i/servers/pool-a/xds.db 'SELECT role || read_only FROM cms_control')" = primary0 ] ||
		fail "SIGINT: store-$i's pool-a is not a writable primary (the fence was not undone)"
done
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "SIGINT: a lock is left"
run 0 "$CMSCTL" status -s store-1

# (1b) SIGTERM to the parent alone, with the stores held after promotion:
# they stop after that step, interrupted (6); restore finishes each.
fresh
rc=0
CMSCTL_TEST_HOLD_AT=4:done "$CMSCTL" apply move --parallel 3 >set.out 2>set.err &
pid=$!
pids="$pids $pid"
wait_steps 3 4 done
kill -TERM "$pid"
wait "$pid" || rc=$?
[ "$rc" = 6 ] || fail "SIGTERM to the parent: exit $rc, expected 6"
contains set.out "plan set: 3 stores, 0 ok, 3 not"
for i in 1 2 3; do
	contains set.out "store-$i: interrupted"
	run 0 "$CMSCTL" restore -s "store-$i" --yes
	pool_b_primary "$i" || fail "SIGTERM then restore: store-$i's pool-b is not the primary"
	[ "$(serial store-$i)" = 2 ] || fail "SIGTERM then restore: store-$i serial $(serial store-$i)"
done

# (1c) A second signal: the stores stop at once, in the middle of their
# step (a publish command that takes 20 s), and the set ends 6 at once.
# (Slow only while $T/slow exists: the adoption publishes too.)
printf '#!/bin/sh\n[ ! -e "%s/slow" ] || sleep 20\n' "$T" >"$T/slow.sh"
chmod +x "$T/slow.sh"
fresh "$T/slow.sh"
touch "$T/slow"
rc=0
t0=$(date +%s)
"$CMSCTL" apply move --parallel 3 >set.out 2>set.err &
pid=$!
pids="$pids $pid"
for i in $(seq 1 600); do
	[ "$(pgrep -fc "$T/slow.sh")" -ge 3 ] && break
	sleep 0.1
done
kill -TERM "$pid"
sleep 0.3
kill -TERM "$pid"
wait "$pid" || rc=$?
[ "$rc" = 6 ] || fail "second signal to the set: exit $rc, expected 6"
[ $(($(date +%s) - t0)) -lt 15 ] || fail "second signal did not stop the set at once"
contains set.err "second signal: passed on to the 3 stores still running"
contains set.err "store-1: cmsctl: second signal: stopping at once"
rm -f "$T/slow"
pkill -f "$T/slow.sh" || true
for i in 1 2 3; do
	run 0 "$CMSCTL" restore -s "store-$i" --yes
done

# (1d) Two signals that come together (the parent stopped meanwhile) are
# both passed on: the stores stop at once, in their 20 s step.
fresh "$T/slow.sh"
touch "$T/slow"
rc=0
t0=$(date +%s)
"$CMSCTL" apply move --parallel 3 >set.out 2>set.err &
pid=$!
pids="$pids $pid"
for i in $(seq 1 600); do
	[ "$(pgrep -fc "$T/slow.sh")" -ge 3 ] && break
	sleep 0.1
done
kill -STOP "$pid"
kill -INT "$pid"
kill -TERM "$pid"
kill -CONT "$pid"
wait "$pid" || rc=$?
[ "$rc" = 6 ] || fail "two signals at once: exit $rc, expected 6"
[ $(($(date +%s) - t0)) -lt 15 ] || fail "two signals at once did not stop the stores at once"
contains set.err "second signal: passed on to the 3 stores still running"
rm -f "$T/slow"
pkill -f "$T/slow.sh" || true
for i in 1 2 3; do
	run 0 "$CMSCTL" restore -s "store-$i" --yes
done

# (1e) The parent killed (SIGKILL) while its stores, showing progress,
# are held after their fence: each store's output pipe is broken (no
# other store holds it), and no store dies of it in the middle of its run
# (fenced, not promoted); each finishes its move, recorded in the state
# and the history, its lock released.
fresh
CMSCTL_TEST_HOLD_AT=2:done "$CMSCTL" apply move --parallel 3 --progress >set.out 2>set.err &
pid=$!
pids="$pids $pid"
wait_steps 3 2 done
kids=$(pgrep -P "$pid" | tr '\n' ' ')
[ "$(echo $kids | wc -w)" = 3 ] || fail "parent killed: the stores' processes are '$kids'"
pids="$pids $kids"
# No store's process holds another's output pipe (held, a store whose
# parent is gone gets no EPIPE and blocks once its pipe is full).
for k in $kids; do
	own=$(readlink "/proc/$k/fd/1")
	for o in $kids; do
		[ "$o" = "$k" ] && continue
		for f in /proc/"$o"/fd/*; do
			[ "$(readlink "$f")" != "$own" ] ||
				fail "store process $o holds $own, store process $k's output pipe"
		done
	done
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
kill -CONT $kids
for i in $(seq 1 300); do
	kill -0 $kids 2>/dev/null || break
	sleep 0.1
done
for k in $kids; do
	! kill -0 "$k" 2>/dev/null || fail "parent killed: store process $k still runs"
done
for i in 1 2 3; do
	pool_b_primary "$i" || fail "parent killed: store-$i's pool-b is not a writable primary"
	[ "$(sql "store-$i/servers/pool-a/xds.db" 'SELECT role FROM cms_control')" = mirror ] ||
		fail "parent killed: store-$i's pool-a is not the mirror"
	[ "$(serial store-$i)" = 2 ] || fail "parent killed: store-$i serial $(serial store-$i)"
done
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs WHERE outcome = 'running'")" = 0 ] ||
	fail "parent killed: a run is left running"
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "parent killed: a lock is left"
run 0 "$CMSCTL" status --detailed-exitcode
run 0 "$CMSCTL" audit verify

# (2) One store's process crashes (SIGKILL) after taking its lock, before
# its run began (nothing changed), another is locked (4): the set's status
# is 1, the crash's, and --json says 1 too.
fresh
CMSCTL_TEST_HOLD_AT=locked "$CMSCTL" apply move/store-2.json >lock.out 2>lock.err &
holder=$!
pids="$pids $holder"
for i in $(seq 1 600); do
	grep -q "holding after taking the store's lock" lock.err && break
	sleep 0.1
done
rc=0
CMSCTL_TEST_HOLD_AT=locked "$CMSCTL" apply move --parallel 3 --json >set.out 2>set.err &
pid=$!
pids="$pids $pid"
for i in $(seq 1 600); do
	[ "$(grep -c "holding after taking the store's lock" set.err)" -ge 2 ] && break
	sleep 0.1
done
victim=$(sql .cmsctl/state.db "SELECT holder_pid FROM locks WHERE store = 'store-1'")
[ -n "$victim" ] || fail "no lock of store-1's process"
kill -9 "$victim"
pkill -CONT -P "$pid" || true
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "a crash and a lock: exit $rc, expected 1"
validate_json apply-set.schema.json set.out
"$PY" - set.out <<'PYEOF' || fail "apply set --json with a crash"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["store"]: x for x in d["stores"]}
assert s["store-1"]["outcome"] == "crashed" and s["store-1"]["exit_status"] == 1, s["store-1"]
assert "killed by signal 9" in s["store-1"]["message"], s["store-1"]
assert s["store-1"]["run_id"] is None, s["store-1"]
assert s["store-2"]["exit_status"] == 4, s["store-2"]
assert s["store-3"]["exit_status"] == 0, s["store-3"]
assert d["exit_status"] == 1 and all(x["exit_status"] in (0, 1, 3, 4, 5, 6, 7, 64) for x in d["stores"]), d
PYEOF
kill -CONT "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[ "$(serial store-1)" = 1 ] || fail "crash before its run: store-1 serial $(serial store-1)"
run 0 "$CMSCTL" status -s store-1 --detailed-exitcode

# (2b) A store's process crashes (SIGKILL) after its promotion, its run
# left unfinished (both servers primary, one fenced): the store is
# interrupted (6), not merely crashed (1), with its run id and what to
# run next; the others move; restore finishes it.
fresh
rc=0
kill_store1_at 4
pkill -CONT -P "$pid" || true
wait "$pid" || rc=$?
[ "$rc" = 6 ] || fail "a crash after promotion: exit $rc, expected 6"
contains set.out "plan set: 3 stores, 2 ok, 1 not"
contains set.out "store-1: interrupted, run $rid, serial 1 (exit 6): the process applying it was killed by signal 9 in the middle of run $rid, which is left unfinished: 'cmsctl status -s store-1' shows what it left, 'cmsctl restore -s store-1' finishes or undoes it"
run 2 "$CMSCTL" status -s store-1 --detailed-exitcode
contains out "interrupted apply run $rid"
run 0 "$CMSCTL" restore -s store-1 --yes
for i in 1 2 3; do
	pool_b_primary "$i" || fail "crash after promotion, restore: store-$i's pool-b is not the primary"
done

# (2c) A store's process killed after its run ended in the state, before
# the history recorded it: the store moved, so it is not "crashed" (1);
# it is ok but unrecorded (6), as a single apply whose run cannot be
# recorded, and the next plan -o records it.
fresh
rc=0
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply move --parallel 3 >set.out 2>set.err &
pid=$!
pids="$pids $pid"
for i in $(seq 1 600); do
	[ "$(grep -c 'holding before recording run' set.err)" -ge 3 ] && break
	sleep 0.1
done
victim=$(sql .cmsctl/state.db "SELECT holder_pid FROM locks WHERE store = 'store-1'")
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE store = 'store-1' AND outcome = 'ok' ORDER BY started_at DESC LIMIT 1")
[ -n "$victim" ] && [ -n "$rid" ] || fail "no lock or finished run of store-1's process"
kill -9 "$victim"
pkill -CONT -P "$pid" || true
wait "$pid" || rc=$?
[ "$rc" = 6 ] || fail "a crash before the history's record: exit $rc, expected 6"
contains set.out "store-1: ok, run $rid, serial 2 (exit 6): the process applying it was killed by signal 9; its run $rid is ok in the state, and the history lacks it"
contains set.out "store-2: ok, run "
pool_b_primary 1 || fail "crash before the history's record: store-1 did not move"
run 0 "$CMSCTL" plan --all -o level
contains err "recorded run $rid of store store-1 in the history from the state's journal"
run 0 "$CMSCTL" audit verify

# (2d) A store's process killed after its fence, and the operator's
# restore settles that run (it undoes it) while the set still runs the
# others: the restore's run carries the same plan id, but it is not what
# the store's process did.  The store did not move and nothing is left to
# restore: its own run, rolled back (1), not ok (0) as the restore's run.
fresh
rc=0
kill_store1_at 2
run 0 "$CMSCTL" restore -s store-1 --yes
[ "$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$rid'")" = rolled_back ] ||
	fail "the restore did not undo store-1's run"
pkill -CONT -P "$pid" || true
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "a store killed, then restored by hand: set exit $rc, expected 1"
contains set.out "plan set: 3 stores, 2 ok, 1 not"
contains set.out "store-1: rolled_back, run $rid, serial 1 (exit 1): the process applying it was killed by signal 9; its run $rid is rolled_back in the state"
lacks set.out "store-1: ok"
pool_b_primary 1 && fail "store-1 moved, though its run was undone"
pool_b_primary 2 || fail "store-2 did not move"

# (2e) The same, killed after its promotion: the operator's restore
# finishes the run (restored), the store moved: ok (0), as if its own
# process had finished it.
fresh
rc=0
kill_store1_at 4
run 0 "$CMSCTL" restore -s store-1 --yes
[ "$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$rid'")" = restored ] ||
	fail "the restore did not finish store-1's run"
pkill -CONT -P "$pid" || true
wait "$pid" || rc=$?
[ "$rc" = 0 ] || fail "a store killed after its promotion, finished by hand: set exit $rc, expected 0"
contains set.out "plan set: 3 stores, 3 ok, 0 not"
contains set.out "store-1: restored, run $rid, serial 2"
for i in 1 2 3; do
	pool_b_primary "$i" || fail "store-$i's pool-b is not the primary"
done
run 0 "$CMSCTL" audit verify

# (3) A publish program: SIGPIPE at its default (not ignored), and one
# that leaves a process in the background does not hold the set.
cp /bin/sleep "$T/cmsctl-test-daemon-$$"
cat >"$T/pub.sh" <<SH
#!/bin/sh
grep '^SigIgn:' /proc/self/status >"\$PWD/sigign.\$\$"
"$T/cmsctl-test-daemon-$$" 37 &
SH
chmod +x "$T/pub.sh"
fresh "$T/pub.sh"
# (The adoption's programs are ended: only the set's own may be found.)
pkill -f "cmsctl-test-daemon-$$" || true
rm -f sigign.*
t0=$(date +%s)
run 0 "$CMSCTL" apply move --parallel 1
[ $(($(date +%s) - t0)) -lt 30 ] || fail "a publish program left in the background held the set"
pgrep -f "cmsctl-test-daemon-$$" >/dev/null || fail "the background program is gone: the test proves nothing"
contains out "plan set: 3 stores, 3 ok, 0 not"
ls sigign.* >/dev/null 2>&1 || fail "the publish program never ran"
for f in sigign.*; do
	mask=$(awk '{print $2}' "$f")
	[ $((0x$mask & 0x1000)) = 0 ] || fail "a publish program started with SIGPIPE ignored ($mask)"
done
pkill -f "cmsctl-test-daemon-$$" || true

# (4) A tampered plan file whose store name holds an escape sequence and a
# line break: refused, and neither reaches the output raw.
fresh
mkdir evil
jq '.store = "x\u001b[31mRED\nstore-1: cmsctl: applied plan OK"' move/store-1.json >evil/a.json
cp move/store-2.json evil/
run 3 "$CMSCTL" apply evil --json
"$CMSCTL" apply evil >set.out 2>set.err || true
if grep -q $'\x1b' set.out set.err; then fail "a raw escape reached the output"; fi
if grep -q '^store-1: cmsctl: applied plan OK' set.out set.err; then fail "a plan's store name forged a line"; fi
contains set.out 'x\x1b[31mRED\x0astore-1'
printf '{}' >$'evil/\xff\x1b.json'
run 3 "$CMSCTL" apply evil --json
"$PY" - out <<'PYEOF' || fail "apply set --json with a file name that is not UTF-8"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["stores"]) == 3, d
for x in d["stores"]:
    assert x["store"] and x["plan_file"] and x["message"], x
assert any(x["store"] == "\\xFF\x1b.json" for x in d["stores"]), d["stores"]
PYEOF

# (5) On a terminal (script(1)), each store's steps are shown, prefixed,
# each as it starts: a store held inside a step (the test build's hold
# where the engine asks before its first change) already shows that step
# running and not done.
fresh
CMSCTL_TEST_HOLD_AT=may_change script -qec "$CMSCTL apply move --parallel 3" /dev/null >tty.out 2>&1 &
spid=$!
for i in 1 2 3; do
	wait_for tty.out "store-$i: cmsctl: holding before the engine's first change"
done
for i in 1 2 3; do
	last=$(grep -a "^store-$i: cmsctl: \[" tty.out | tail -n 1 | tr -d '\r')
	case $last in
	*": running") pass "store-$i held in a step shows it running: $last" ;;
	*) fail "store-$i held in a step shows '$last', not the step running" ;;
	esac
done
# Every process under script(1), and only those, is let go.
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
kill -CONT $(descendants $spid) 2>/dev/null || true
wait $spid || true
for i in 1 2 3; do
	grep -aq "^store-$i: cmsctl: \[1/[0-9]*\] check_target pool-b: done" tty.out ||
		fail "no progress of store-$i on a terminal"
	grep -aq "^store-$i: .*: ok" tty.out || fail "store-$i did not finish once let go"
done

# (7) A lost site: --assume-down goes to every store of the set that has
# a server of that name; a store where it answers is refused (it is not
# down), and a name no store has is a usage error.
fresh
sed -i 's/^    location: \(.*\)$/    location: \1\n    policy: {allow_data_loss: true}/' cms.yaml
mv store-1/servers/pool-a store-1/servers/pool-a.gone
mv store-2/servers/pool-a store-2/servers/pool-a.gone
run 1 "$CMSCTL" plan --all -o lost --assume-down pool-a --reason "site lost"
contains err "store 'store-3': --assume-down 'pool-a': it answers (reports primary), so it is not down"
contains out "3 stores: 2 with changes, 0 without, 1 not planned"
[ "$(ls lost | tr '\n' ' ')" = "store-1.json store-2.json " ] || fail "lost holds $(ls lost)"
for i in 1 2; do
	[ "$(jq -r .assume_down.server "lost/store-$i.json")" = pool-a ] ||
		fail "store-$i's plan does not carry the attestation: $(jq -c .assume_down "lost/store-$i.json")"
done
run 1 "$CMSCTL" plan --all --json --assume-down pool-a --reason "site lost"
validate_json plan-set.schema.json out
"$PY" -c 'import json; d=json.load(open("out"))["stores"]; assert [list(x) for x in d][2] == ["store", "error"], d' ||
	fail "plan --all --json: the store not planned"
run 64 "$CMSCTL" plan --all --assume-down pool-x --reason "site lost"
contains err "--assume-down 'pool-x': no store of the set has a server of that name"
# A store whose lost server was its mirror has nothing to move: it is
# planned without the attestation, not refused.
fresh
run 0 "$CMSCTL" apply move/store-3.json
sed -i 's/^    location: \(.*\)$/    location: \1\n    policy: {allow_data_loss: true}/' cms.yaml
for i in 1 2 3; do mv "store-$i/servers/pool-a" "store-$i/servers/pool-a.gone"; done
run 0 "$CMSCTL" plan --all -o lost2 --assume-down pool-a --reason "site lost"
contains out "3 stores: 2 with changes, 1 without, 0 not planned"
[ "$(ls lost2 | tr '\n' ' ')" = "store-1.json store-2.json " ] || fail "lost2 holds $(ls lost2)"

# (8) plan --all -o brings the history level first, as plan -o does: a
# run whose process was killed before its record is recorded.
fresh
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply move/store-1.json >one.out 2>one.err &
pid=$!
pids="$pids $pid"
for i in $(seq 1 600); do
	grep -q "holding before recording run" one.err && break
	sleep 0.1
done
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE store = 'store-1' AND outcome = 'ok' ORDER BY started_at DESC LIMIT 1")
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
if git --git-dir=.cmsctl/history cat-file -e "cms-history:store-1/runs/$rid/report.json" 2>/dev/null; then
	fail "the run was recorded although its process was killed before"
fi
run 0 "$CMSCTL" plan --all -o again
contains err "recorded run $rid of store store-1 in the history from the state's journal"
git --git-dir=.cmsctl/history cat-file -e "cms-history:store-1/runs/$rid/report.json" ||
	fail "plan --all -o did not record run $rid"
run 0 "$CMSCTL" audit verify

# (6) A summary that cannot be written, after the stores moved: exit 6.
fresh
rc=0
"$CMSCTL" apply move >/dev/full 2>set.err || rc=$?
[ "$rc" = 6 ] || fail "a set that moved stores, summary to /dev/full: exit $rc, expected 6"
for i in 1 2 3; do
	pool_b_primary "$i" || fail "/dev/full: store-$i did not move"
done
finish
