#!/usr/bin/env bash
# A lock left by a dead apply of this host whose pid now names another
# process: after a reboot (the host's boot id changed) or once the pid was
# reused (that process started later), the holder is dead and the next
# restore breaks the lock at once, not after the lease.  A live holder, or
# a lock recorded before boot and start were (a pid alone), still stands.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
pid='' sleeper=''
trap 'kill -9 $pid $sleeper 2>/dev/null || true; rm -rf "$T"' EXIT
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o s.plan

# A real holder, killed while it held the lock.
CMSCTL_TEST_HOLD_AT=3:running "$CMSCTL" apply s.plan >apply.out 2>apply.err &
pid=$!
wait_for apply.err "holding at step 3:running"
ns=$(sql .cmsctl/state.db 'SELECT holder_pid_ns FROM locks')
case $ns in
"pid:["*"] boot="*" start="*) pass "the lock records the holder's boot and start: $ns" ;;
*) fail "the lock's holder identity: '$ns'" ;;
esac
kill -9 $pid
wait $pid 2>/dev/null || true
pid=''

# A live process of this host that is not the holder: its pid is what a
# reused pid looks like.
sleep 300 &
sleeper=$!
boot=$(cat /proc/sys/kernel/random/boot_id)
start=$(sed 's/.*) //' /proc/$sleeper/stat | cut -d' ' -f20)
nsonly=${ns%% *}
set_holder() { sql .cmsctl/state.db "UPDATE locks SET holder_pid = $sleeper, holder_pid_ns = '$1'"; }

# (1) The holder is the live process itself (same boot, same start): alive.
set_holder "$nsonly boot=$boot start=$start"
run 4 "$CMSCTL" restore --yes
contains err "is locked by"
# (2) A lock recorded with a pid alone: alive, as before.
set_holder "$nsonly"
run 4 "$CMSCTL" restore --yes
# (3) The pid was reused: the holder started at another time.
set_holder "$nsonly boot=$boot start=$((start + 1))"
run 0 "$CMSCTL" lock list
contains out "dead"
run 0 "$CMSCTL" restore --yes
contains out "broke lock"
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "a lock is left after the restore"

# (4) An earlier boot of this host: dead, whatever the pid names now.
run 0 "$CMSCTL" plan -o s2.plan
kill_at 3:running s2.plan
set_holder "$nsonly boot=00000000-0000-4000-8000-000000000000 start=$start"
run 0 "$CMSCTL" restore --yes
contains out "broke lock"
run 0 "$CMSCTL" status --detailed-exitcode

# (5) A holder in a PID namespace of its own whose /proc is still this
# one's (unshare -pf without a /proc of its own): /proc/PID there is
# another process, so no start time is recorded (its pid alone counts).
if unshare -pf true 2>/dev/null; then
	run 0 "$CMSCTL" plan -o s3.plan
	unshare -pf --kill-child env CMSCTL_TEST_HOLD_AT=3:running "$CMSCTL" apply s3.plan >apply.out 2>apply.err &
	pid=$!
	wait_for apply.err "holding at step 3:running"
	ns=$(sql .cmsctl/state.db 'SELECT holder_pid_ns FROM locks')
	case $ns in
	*start=*) fail "a holder whose /proc is another namespace's recorded a start time: $ns" ;;
	"pid:["*) pass "no start time where /proc is another namespace's: $ns" ;;
	*) fail "the lock's holder identity: '$ns'" ;;
	esac
	kill -9 $pid
	wait $pid 2>/dev/null || true
	pid=''
elif [ "${CI:-}" = true ]; then
	fail "unshare -pf is not permitted (needs root); CI must run it"
fi
finish
