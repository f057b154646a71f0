#!/usr/bin/env bash
# A plan set with a shared history remote: the children apply their stores
# at once, and each records and pushes its own run through the one local
# history before it lets its store's lock go (their remote operations take
# turns).  Every run reaches the remote once, none from the journal, with
# no warning, and the local branch and the remote's end level.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

n=8
# config PRIMARY: n stores, each with pool-a and pool-b under store-I/.
config() {
	printf 'version: 1\nbackend:\n  remote: remote.git\nstores:\n'
	for i in $(seq 1 $n); do
		sqlite_store "$i" "$1"
	done
}
for i in $(seq 1 $n); do
	bash "$SRC/examples/quickstart/setup.sh" "store-$i" >/dev/null
done
git init -q --bare remote.git
config pool-a >cms.yaml
run 0 "$CMSCTL" plan --all -o adopt
run 0 "$CMSCTL" apply adopt --parallel $n
contains out "plan set: $n stores, $n ok, 0 not"
config pool-b >cms.yaml
run 0 "$CMSCTL" plan --all -o move
run 0 "$CMSCTL" apply move --parallel $n
contains out "plan set: $n stores, $n ok, 0 not"
lacks err "warning"
lacks err "recorded run"
[ "$(git -C remote.git rev-parse cms-history)" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] ||
	fail "the local history and its remote are not level"
runs=$(sql .cmsctl/state.db "SELECT count(*) FROM runs")
[ "$runs" = $((2 * n)) ] || fail "the state holds $runs runs, want $((2 * n))"
git -C remote.git log --format=%B cms-history | grep '^Run-Id: ' | sort >run-ids
[ "$(wc -l <run-ids)" = "$runs" ] || fail "the remote holds $(wc -l <run-ids) run commits for $runs runs"
[ "$(sort -u run-ids | wc -l)" = "$runs" ] || fail "a run is on the remote twice: $(uniq -d run-ids)"
git -C remote.git log --format=%B cms-history >remote.log # (a file: grep -q under pipefail)
! grep -qxF "Recorded-From: journal" remote.log ||
	fail "a run was recorded from the journal"
run 0 "$CMSCTL" audit verify
contains out "audit verify: passed"
finish
