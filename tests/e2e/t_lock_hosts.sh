#!/usr/bin/env bash
# Locks across machines.  A lock held by a process of another host (a real
# cmsctl apply run in its own UTS namespace with another host name, held at
# a journal step) is never broken: not while it lives, not after it was
# killed (its pid means nothing here).  --lock-timeout waits and retries:
# it gives up with exit 4 when the lock stays held, and proceeds when the
# holder's lease ends meanwhile.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
if ! unshare --uts true 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: unshare --uts is not permitted (needs root); CI must run it" >&2
		exit 1
	fi
	echo "SKIP: unshare --uts is not permitted here (needs root)" >&2
	exit 77
fi
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o s.plan
cp s.plan s2.plan

# The holder: another host name, held while step 3 runs.
unshare --uts sh -c 'hostname "runner-elsewhere-$1"; shift; exec "$@"' sh "$$" \
	env CMSCTL_TEST_HOLD_AT=3:running "$CMSCTL" apply s.plan >holder.out 2>holder.err &
holder=$!
for _ in $(seq 1 600); do
	grep -q "holding at step" holder.err 2>/dev/null && break
	kill -0 "$holder" 2>/dev/null || break
	sleep 0.1
done
contains holder.err "holding at step 3:running" || { kill -9 "$holder"; finish; }

run 4 "$CMSCTL" apply s2.plan
contains err "store 'redmond' is locked by alice@test (pid $holder on runner-elsewhere-$$, pid:["

# Killed: its pid is dead here too, but it was another host's: not broken.
kill -9 "$holder"
wait "$holder" 2>/dev/null || true
run 4 "$CMSCTL" apply s2.plan
contains err "locked by alice@test (pid $holder on runner-elsewhere-$$"
lacks err "broke lock"
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 1 ] || fail "the lock was broken"

# --lock-timeout: still held at the deadline, exit 4 and says so.
run 64 "$CMSCTL" apply s2.plan --lock-timeout soon
contains err "--lock-timeout 'soon' is not a duration"
run 4 "$CMSCTL" apply s2.plan --lock-timeout 2s
contains err "still held after waiting 2 s (--lock-timeout)"

# A lease that ends while a run waits: the waiting run proceeds.  (The
# killed holder's run is interrupted, so the store needs a restore first;
# the restore waits for the lease.)
now=$(date +%s)
sql .cmsctl/state.db "UPDATE locks SET lease_until = $((now + 3))"
run 0 "$CMSCTL" restore --yes --lock-timeout 60s
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs WHERE outcome = 'running'")" = 0 ] ||
	fail "the interrupted run was not settled"
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "the restore left a lock"
finish
