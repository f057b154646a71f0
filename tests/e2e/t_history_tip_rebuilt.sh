#!/usr/bin/env bash
# Two runners, one state and one history remote, each with its own local
# history: a commit the second made while the remote could not be reached
# is rebuilt on the remote's newer tip when it is pushed, and gets a new
# id.  The tip the state recorded for it follows the rebuild, so audit
# verify, on either runner, does not take the rebuild for a rewritten
# branch (before, both found "history-rewritten" until the next commit).
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
git init -q --bare remote.git
sed -i "s|^version: 1\$|version: 1\nbackend:\n  remote: remote.git|" cms.yaml
recorded_tip() { sql .cmsctl/state.db "SELECT commit_id FROM history_tip"; }
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" status --history second.git
# The first runner records a plan; the second, cut off from the remote,
# records another on the tip it saw last.
run 0 "$CMSCTL" plan -o first.plan
mv remote.git remote.away
run 0 "$CMSCTL" plan --history second.git --reason "the second runner" -o second.plan
contains err "warning: working from the local history"
made=$(git --git-dir=second.git rev-parse cms-history)
[ "$(recorded_tip)" = "$made" ] || fail "the state did not record the second runner's commit"
mv remote.away remote.git
# Its push rebuilds it on the first runner's commit: a new id, recorded.
run 0 "$CMSCTL" history push --history second.git
contains err "pushed 1 history commit"
rebuilt=$(git -C remote.git rev-parse cms-history)
[ "$rebuilt" != "$made" ] || fail "the commit was not rebuilt"
git --git-dir=second.git merge-base --is-ancestor "$made" cms-history &&
	fail "the rebuilt commit still descends from the one made offline"
[ "$(recorded_tip)" = "$rebuilt" ] || fail "the recorded tip $(recorded_tip) did not follow the rebuild to $rebuilt"
run 0 "$CMSCTL" audit verify --history second.git
contains out "audit verify: passed"
run 0 "$CMSCTL" audit verify
contains out "audit verify: passed"
# A tip recorded since is not moved back by an older rebuild: the swap
# only replaces the id it was told of.
run 0 "$CMSCTL" plan -o third.plan --reason "the first runner again"
now=$(recorded_tip)
[ "$now" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] || fail "the newest commit's tip was not recorded"
run 0 "$CMSCTL" audit verify --history second.git
contains out "audit verify: passed"
[ "$(recorded_tip)" = "$now" ] || fail "the recorded tip moved without a rebuild"
finish
