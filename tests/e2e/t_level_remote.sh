#!/usr/bin/env bash
# Levelling with a shared history remote never records a run twice.
# (1) apply records its run and pushes it to the remote before it lets the
# store's lock go.  (2) A command that levels without the lock (plan -o,
# on a second runner with its own local history) and found a run missing
# when it fetched, while the run's process was still recording it, fetches
# again once the lock is free and records nothing: the remote holds the
# run once, with the report its own process wrote.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
# Held processes end with the test, whatever stops it.
pid='' p1='' p2='' p3=''
trap 'kill -9 $pid $p1 $p2 $p3 2>/dev/null || true; rm -rf "$T"' EXIT
quickstart
git init -q --bare remote.git
sed -i "s|^version: 1\$|version: 1\nbackend:\n  remote: remote.git|" cms.yaml
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
# wait_for FILE TEXT PID: up to 120 s for TEXT to appear in FILE, while
# process PID runs.
wait_for() {
	local i
	for i in $(seq 1 1200); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	fail "'$2' never appeared in $1"
	sed 's/^/  | /' "$1" >&2
	return 1
}
# runs_of RID: how many commits of the remote's branch carry run RID.
runs_of() {
	git -C remote.git log --format=%B cms-history | grep -cxF "Run-Id: $1" || true
}
# move_to PRIMARY MIRROR: the config's desired location.
move_to() {
	sed -i "s/^      primary: .*/      primary: $1/; s/^      mirror: .*/      mirror: $2/" cms.yaml
}

# (1) Recorded and pushed under the lock.
move_to pool-b pool-a
run 0 "$CMSCTL" plan -o s.plan
CMSCTL_TEST_HOLD_AT=recorded "$CMSCTL" apply s.plan >apply1.out 2>apply1.err & pid=$!
wait_for apply1.err "holding after recording run" $pid
rid=$(sed -n 's/.*holding after recording run \([0-9a-f]*\).*/\1/p' apply1.err)
[ -n "$rid" ] || fail "no run id in apply1.err"
git -C remote.git cat-file -e "cms-history:redmond/runs/$rid/report.json" 2>/dev/null ||
	fail "run $rid is not on the remote while its process still holds the lock"
run 0 "$CMSCTL" lock list
contains out "redmond"
kill -CONT $pid
wait $pid || fail "apply exited $?"
[ "$(runs_of "$rid")" = 1 ] || fail "the remote holds run $rid $(runs_of "$rid") times"

# (2) A second runner fetched while the run was being recorded.
move_to pool-a pool-b
run 0 "$CMSCTL" plan -o back.plan
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply back.plan >apply2.out 2>apply2.err & p1=$!
wait_for apply2.err "holding before recording run" $p1
rid2=$(sed -n 's/.*holding before recording run \([0-9a-f]*\).*/\1/p' apply2.err)
[ -n "$rid2" ] || fail "no run id in apply2.err"
CMSCTL_TEST_HOLD_AT=level "$CMSCTL" plan --history second.git -o other.plan >lvl.out 2>lvl.err & p2=$!
wait_for lvl.err "holding before looking at the store's lock" $p2
kill -CONT $p1
wait $p1 || fail "apply exited $?"
kill -CONT $p2
wait $p2 || fail "plan -o exited $?"
lacks lvl.err "recorded run"
[ "$(runs_of "$rid2")" = 1 ] || fail "the remote holds run $rid2 $(runs_of "$rid2") times"
git -C remote.git log --format=%B cms-history >remote.log # (a file: grep -q under pipefail)
! grep -qxF "Recorded-From: journal" remote.log ||
	fail "a run was recorded from the journal"

# (3) A run left behind by a killed process, and a remote that cannot be
# fetched: a levelling records nothing it cannot check against the remote,
# and records the run once the remote answers.
move_to pool-b pool-a
run 0 "$CMSCTL" plan -o third.plan
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply third.plan >apply3.out 2>apply3.err & p3=$!
wait_for apply3.err "holding before recording run" $p3
rid3=$(sed -n 's/.*holding before recording run \([0-9a-f]*\).*/\1/p' apply3.err)
[ -n "$rid3" ] || fail "no run id in apply3.err"
kill -9 $p3
wait $p3 2>/dev/null || true
mv remote.git remote.away
run 0 "$CMSCTL" plan --history third.git -o away.plan
contains err "but its remote cannot be fetched (or the history brought level with it) to check that"
lacks err "recorded run"
git --git-dir=third.git cat-file -e "cms-history:redmond/runs/$rid3/report.json" 2>/dev/null &&
	fail "run $rid3 was recorded from a history that could not be checked against its remote"
mv remote.away remote.git
run 0 "$CMSCTL" plan --history third.git -o back3.plan
contains err "recorded run $rid3 of store redmond in the history from the state's journal"
[ "$(runs_of "$rid3")" = 1 ] || fail "the remote holds run $rid3 $(runs_of "$rid3") times"
run 0 "$CMSCTL" audit verify
contains out "audit verify: passed"
finish
