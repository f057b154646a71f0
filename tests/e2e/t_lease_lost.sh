#!/usr/bin/env bash
# An apply stopped past its lease: before it promotes, it confirms that it
# still holds the store's lock.  If another operator's restore took the
# store over meanwhile (and undid the run), the resumed apply promotes
# nothing, writes nothing more to the run's journal and records nothing:
# it ends 6 and says why.  If nobody took the store over, the confirmed
# lock lets it go on.  (A test build's CMSCTL_TEST_LEASE_S makes the
# lease 2 s; a product lease is 15 minutes or more.  The holds are the
# test build's CMSCTL_TEST_HOLD_AT, at a journal write, at the engine's
# question right before a promotion's first statement, or between two
# databases' fences.)
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
pid=''
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$T"' EXIT

role() { sql "servers/$1/$2.db" 'SELECT role || read_only || char(64) || epoch FROM cms_control'; }
# failover_site: the quick start adopted, pool-a lost and attested down,
# so a failover's promotion is forced: the engine itself would not refuse
# it, only the lock can.
# adopted: the quick start, its location adopted.
adopted() {
	quickstart
	run 0 "$CMSCTL" plan -o adopt.plan
	run 0 "$CMSCTL" apply adopt.plan
}
failover_site() {
	adopted
	sed -i 's/allow_data_loss: false/allow_data_loss: true/' cms.yaml
	mv servers/pool-a servers/pool-a.gone
}
# stopped_apply PLAN HOLD WHAT: an apply of PLAN with a 2 s lease, held at
# HOLD (its message contains WHAT), then stopped (SIGSTOP) past its lease.
stopped_apply() {
	rm -f report.html
	CMSCTL_TEST_LEASE_S=2 CMSCTL_TEST_HOLD_AT=$2 "$CMSCTL" apply "$1" --report report.html \
		>apply.out 2>apply.err &
	pid=$!
	wait_for apply.err "$3"
	kill -STOP $pid
	sleep 3
}
# resumed_rc: lets the stopped apply go on; its exit status in rc.
resumed_rc() {
	kill -CONT $pid
	rc=0
	wait $pid || rc=$?
	pid=''
}
last_apply() { sql .cmsctl/state.db "SELECT id FROM runs WHERE kind = 'apply' ORDER BY started_at DESC LIMIT 1"; }
steps() { sql .cmsctl/state.db "SELECT n, status, coalesce(finished_at, '') FROM steps WHERE run_id = '$1' ORDER BY n"; }

failover_site
run 0 "$CMSCTL" plan -o f.plan --assume-down pool-a --reason "site lost"
contains out "2. promote"

# (1) Taken over while stopped: the apply holds (as SIGSTOP would) with
# the promotion's start journaled, past its lease; a restore takes the
# expired lock and undoes the run; the apply then resumes.
stopped_apply f.plan 2:running "holding at step 2:running"
run_id=$(last_apply)
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
contains out "the promotion did not take: undo the run"
steps "$run_id" >steps.before
git -C .cmsctl/history log --format=%s >log.before
resumed_rc
[ "$rc" = 6 ] || fail "apply resumed after losing its lock: exit $rc, expected 6"
contains apply.err "this run no longer holds the store's lock"
contains apply.err "it changes nothing more"
contains apply.err "'cmsctl lock list' who holds it"
# The --report file asked for is written all the same: this process's
# view, the run interrupted and why.
[ -s report.html ] || fail "no --report file from the run that lost its lock"
contains report.html "interrupted"
contains report.html "no longer holds the store"
for d in xds lis; do
	[ "$(role pool-b $d)" = 'mirror0@1' ] ||
		fail "pool-b's $d was promoted after the apply lost its lock: $(role pool-b $d)"
done
steps "$run_id" >steps.after
cmp -s steps.before steps.after ||
	fail "the journal of run $run_id changed after restore closed it: $(diff steps.before steps.after)"
git -C .cmsctl/history log --format=%s >log.after
cmp -s log.before log.after || fail "the apply recorded after losing its lock: $(diff log.before log.after)"
run 0 "$CMSCTL" audit verify
[ -z "$(sql .cmsctl/state.db 'SELECT id FROM locks')" ] || fail "a lock is left behind"

# (1b) The same, stopped inside the promotion step, after the step's own
# check: the engine asks right before its first statement, and the
# answer stops it.
run 0 "$CMSCTL" plan -o f1b.plan --assume-down pool-a --reason "site lost"
stopped_apply f1b.plan may_change "before the engine's first change of a step"
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
contains out "the promotion did not take: undo the run"
resumed_rc
[ "$rc" = 6 ] || fail "apply resumed inside its promotion after losing its lock: exit $rc, expected 6"
contains apply.err "this run no longer holds the store's lock"
for d in xds lis; do
	[ "$(role pool-b $d)" = 'mirror0@1' ] ||
		fail "pool-b's $d was promoted by an engine whose run lost its lock: $(role pool-b $d)"
done
run 0 "$CMSCTL" audit verify

# (2) Stopped past its lease, but nobody came: the lock is still its own,
# confirmed in the state before the promotion, and the apply goes on.
run 0 "$CMSCTL" plan -o f2.plan --assume-down pool-a --reason "site lost, again"
stopped_apply f2.plan 2:running "holding at step 2:running"
resumed_rc
[ "$rc" = 0 ] || { sed 's/^/  apply: /' apply.err >&2; fail "apply past its lease with nobody else: exit $rc, expected 0"; }
for d in xds lis; do
	[ "$(role pool-b $d)" = 'primary0@2' ] || fail "pool-b's $d: $(role pool-b $d), expected promoted"
done
run 0 "$CMSCTL" audit verify

# (3) Stopped after its last step, past its lease: a restore takes the
# store over and finishes the run.  The resumed apply neither closes the
# run in the journal (restore did) nor records it: exit 6.
mkdir p3 && cd p3
failover_site
run 0 "$CMSCTL" plan -o f3.plan --assume-down pool-a --reason "site lost"
contains out "5. verify"
stopped_apply f3.plan 5:done "holding at step 5:done"
run_id=$(last_apply)
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
contains out "the new location was already recorded: finish what followed"
outcome=$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$run_id'")
git -C .cmsctl/history log --format=%s >log.before
resumed_rc
[ "$rc" = 6 ] || fail "apply resumed after its last step, its lock lost: exit $rc, expected 6"
contains apply.err "this run no longer holds the store's lock"
[ "$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$run_id'")" = "$outcome" ] ||
	fail "the resumed apply closed run $run_id again over restore's '$outcome'"
git -C .cmsctl/history log --format=%s >log.after
cmp -s log.before log.after || fail "the apply recorded after losing its lock: $(diff log.before log.after)"
run 0 "$CMSCTL" audit verify

# (4) Stopped in the middle of a step, between two statements: a
# switchover held after the fence of the old primary's first database,
# past its lease.  A restore takes the store over and undoes the fence.
# The resumed apply sends no statement more (each is checked against the
# lease), so the live primary's second database is not fenced behind
# restore's back (before, it was: pool-a's lis read-only, for good).
cd "$T" && mkdir p4 && cd p4
adopted
sed -i 's/primary: pool-a/primary: pool-X/; s/mirror: pool-b/mirror: pool-a/; s/primary: pool-X/primary: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o sw.plan
contains out "switchover"
stopped_apply sw.plan fence:xds "after fence of xds"
[ "$(role pool-a xds) $(role pool-a lis)" = "primary1@1 primary0@1" ] ||
	fail "held after the first database's fence: $(role pool-a xds) $(role pool-a lis)"
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
contains out "the promotion did not take: undo the run"
resumed_rc
[ "$rc" = 6 ] || fail "apply resumed inside its fence after losing its lock: exit $rc, expected 6"
contains apply.err "this run no longer holds the store's lock"
for d in xds lis; do
	[ "$(role pool-a $d)" = 'primary0@1' ] ||
		fail "pool-a's $d after a restore undid the fence and the apply resumed: $(role pool-a $d)"
done
run 0 "$CMSCTL" status
run 0 "$CMSCTL" audit verify

# (5) A restore's prompt waits on the operator past the lease, and
# another operator's restore takes the store over and settles the run
# meanwhile: the answer "yes" then changes nothing, and the restore ends
# 4 (the lock is someone else's).  script(1) gives the prompt a terminal;
# the answer waits for the file "go".
run 0 "$CMSCTL" plan -o p5.plan
kill_at 4:running p5.plan
(while [ ! -e go ]; do sleep 0.1; done; echo yes) |
	CMSCTL_TEST_LEASE_S=2 script -qec "$CMSCTL restore" /dev/null >prompt.out 2>&1 & pid=$!
wait_for prompt.out "Only 'yes' is accepted"
sleep 2.5
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
settled=$(for d in xds lis; do role pool-a $d; role pool-b $d; done | tr '\n' ' ')
log_before=$(git -C .cmsctl/history rev-parse cms-history)
touch go
rc=0
wait $pid || rc=$?
pid=''
[ "$rc" = 4 ] || { sed 's/^/  prompt: /' prompt.out >&2; fail "restore answered after its lock was taken: exit $rc, expected 4"; }
contains prompt.out "no longer holds the store's lock"
[ "$(for d in xds lis; do role pool-a $d; role pool-b $d; done | tr '\n' ' ')" = "$settled" ] ||
	fail "the servers changed after the other restore settled the run"
[ "$(git -C .cmsctl/history rev-parse cms-history)" = "$log_before" ] ||
	fail "the restore whose lock was taken recorded something"
run 0 "$CMSCTL" audit verify

# (6) A restore stopped past its lease right before it probes the servers
# (its target gone then, attested down), while another operator's restore,
# the target back, finishes the interrupted run.  Resumed, the first sees
# every read refused by its lease check: it must not take that for a
# target that does not answer (the attestation accepted, the finished run
# closed again as rolled back).  It ends 6, the other's outcome kept.
run 0 "$CMSCTL" plan -o p6.plan
CMSCTL_TEST_HOLD_AT=promote:lis "$CMSCTL" apply p6.plan >apply.out 2>apply.err & pid=$!
wait_for apply.err "after promote of lis"
kill -9 $pid; wait $pid 2>/dev/null || true; pid=''
run_id=$(last_apply)
mv servers/pool-b servers/pool-b.gone
CMSCTL_TEST_LEASE_S=2 CMSCTL_TEST_HOLD_AT=probe "$CMSCTL" restore --assume-down pool-b \
	--reason "pool-b lost" --yes >restore.out 2>restore.err & pid=$!
wait_for restore.err "before restore probes the servers"
kill -STOP $pid
sleep 3
mv servers/pool-b.gone servers/pool-b
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
contains out "finish"
outcome=$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$run_id'")
resumed_rc
[ "$rc" = 6 ] || { sed 's/^/  restore: /' restore.err >&2; fail "stale restore resumed: exit $rc, expected 6"; }
[ "$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$run_id'")" = "$outcome" ] ||
	fail "the stale restore closed run $run_id again ('$outcome' became '$(sql .cmsctl/state.db "SELECT outcome FROM runs WHERE id = '$run_id'")')"
lacks restore.err "attested down"
run 0 "$CMSCTL" audit verify
# The same without an attestation, the target there all along: the
# refused reads are not "a target that reports unreachable" (exit 7),
# the lock is the cause (6).
sed -i 's/primary: pool-b/primary: pool-X/; s/mirror: pool-a/mirror: pool-b/; s/primary: pool-X/primary: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o p6b.plan
contains out "switchover"
CMSCTL_TEST_HOLD_AT=promote:lis "$CMSCTL" apply p6b.plan >apply.out 2>apply.err & pid=$!
wait_for apply.err "after promote of lis"
kill -9 $pid; wait $pid 2>/dev/null || true; pid=''
CMSCTL_TEST_LEASE_S=2 CMSCTL_TEST_HOLD_AT=probe "$CMSCTL" restore --yes >restore.out 2>restore.err & pid=$!
wait_for restore.err "before restore probes the servers"
kill -STOP $pid
sleep 3
run 0 env CMSCTL_TEST_LEASE_S=2 "$CMSCTL" restore --yes
resumed_rc
[ "$rc" = 6 ] || { sed 's/^/  restore: /' restore.err >&2; fail "stale restore resumed: exit $rc, expected 6"; }
lacks restore.err "cannot tell whether"
contains restore.err "no longer holds the store's lock"
run 0 "$CMSCTL" audit verify
finish
