#!/usr/bin/env bash
# A run that cannot reach the shared history is refused before it changes
# anything: with the config's history remote gone (a path that no longer
# exists, a file:// URL to nothing, an ssh:// port nobody listens on),
# apply and restore exit 7 and the servers, the published location, the
# state and the history stay as they were.  plan still works from the
# local history (a warning).  With the remote back, the same plan applies
# and its run reaches the remote.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
git init -q --bare remote.git
# set_remote URL: the config's backend names URL as the history remote.
set_remote() {
	sed -i '/^backend:/,/^  remote:/d' cms.yaml
	sed -i "s|^version: 1\$|version: 1\nbackend:\n  remote: $1|" cms.yaml
}
set_remote remote.git
run 0 "$CMSCTL" validate
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
[ "$(git -C remote.git rev-parse cms-history)" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] ||
	fail "the adoption did not reach the remote"
sed -i 's/primary: pool-a/primary: pool-X/; s/mirror: pool-b/mirror: pool-a/; s/primary: pool-X/primary: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o s.plan
snapshot_all() {
	sha256sum servers/*/*.db published/* .cmsctl/state.db 2>/dev/null
	git --git-dir=.cmsctl/history rev-parse cms-history
	sql .cmsctl/state.db "SELECT serial FROM stores; SELECT count(*) FROM runs; SELECT count(*) FROM locks"
}
snapshot_all >before

# 1. The remote's path is gone.
mv remote.git remote.away
run 7 "$CMSCTL" apply s.plan
contains err "cannot reach history remote 'remote.git'"
contains err "nothing was changed; bring the history remote back"
run 7 "$CMSCTL" apply --json s.plan
contains err '"exit_status":7'
run 7 "$CMSCTL" restore --yes
contains err "cannot reach history remote"
# 2. A file:// URL to a repository that does not exist.
set_remote "file://$T/no/such/repo.git"
run 7 "$CMSCTL" apply s.plan
contains err "cannot reach history remote 'file://$T/no/such/repo.git'"
# 3. ssh to a port nobody listens on.
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set_remote "ssh://git@127.0.0.1:$port/cms-history.git"
run 7 "$CMSCTL" apply s.plan
contains err "cannot reach history remote 'ssh://git@127.0.0.1:$port/cms-history.git'"
snapshot_all >after
same before after
# A dry run records nothing: it shows what restore would do all the same.
run 0 "$CMSCTL" restore --dry-run
lacks err "nothing was changed; bring the history remote back"
# plan reads the local history and says the remote was not reached.
run 0 "$CMSCTL" plan -o again.plan
contains err "warning: working from the local history"

# The remote back: the same plan applies, and its run is on the remote.
mv remote.away remote.git
set_remote remote.git
run 0 "$CMSCTL" apply s.plan
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE kind = 'apply' ORDER BY started_at DESC LIMIT 1")
git -C remote.git cat-file -e "cms-history:redmond/runs/$rid/report.json" ||
	fail "the run did not reach the remote"

# A path remote made anew, empty: what the history remembered of the old
# one's branch no longer holds, and the next command pushes the whole
# history (before, every push failed on the stale tip).
rm -rf remote.git && git init -q --bare remote.git
run 0 "$CMSCTL" plan -o anew.plan
[ "$(git -C remote.git rev-parse cms-history)" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] ||
	fail "the history did not reach a remote made anew"

# 'history push' to a path remote syncs what it writes there, the pack
# before the branch moves, as any command that opens the history does.
mv remote.git remote.away
run 0 "$CMSCTL" plan -o local.plan
contains err "warning: working from the local history"
mv remote.away remote.git
if command -v strace >/dev/null; then
	run 0 strace -f -y -e trace=fsync,fdatasync -o trace "$CMSCTL" history push
	# libgit2 syncs the pack under a temporary name, then renames it;
	# the branch is synced as its lock file, before that is renamed.
	pack=$(grep -n "remote.git/objects/pack/pack_git2_[0-9a-f]*>" trace | head -1 | cut -d: -f1 || true)
	ref=$(grep -n "remote.git/refs/heads/cms-history.lock>" trace | head -1 | cut -d: -f1 || true)
	[ -n "$pack" ] && [ -n "$ref" ] && [ "$pack" -lt "$ref" ] ||
		fail "history push: the remote's pack (line ${pack:-none}) is not synced before its branch (line ${ref:-none})"
elif [ "${CI:-}" = true ]; then
	fail "strace is not installed (scripts/install-deps.sh)"
fi
[ "$(git -C remote.git rev-parse cms-history)" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] ||
	fail "history push did not level the remote"
# A remote reset back (its last commit dropped, nothing put in its place)
# lost commits but holds none of someone else's: the next command says so
# and sends them again.
full=$(git -C remote.git rev-parse cms-history)
git -C remote.git update-ref refs/heads/cms-history cms-history~1
run 0 "$CMSCTL" status --offline --detailed-exitcode
contains err "warning: history remote 'remote.git' was reset back: its branch 'cms-history' is at $(git -C remote.git rev-parse --short=12 "$full~1"), 1 commit behind ${full:0:12}, the tip it held when last fetched; they are sent to it again"
[ "$(git -C remote.git rev-parse cms-history)" = "$full" ] || fail "the commits the reset remote lost were not sent again"
run 0 "$CMSCTL" status --offline
lacks err "reset back"

# A forced push that rewrote the remote (its last commit dropped, another
# put in its place) is not taken in: the local branch is not rebuilt on
# it, nothing is sent to it, status (a problem, exit 2 as a health check),
# audit verify (a finding) and apply (exit 7, nothing changed) say so.
git clone -q -b cms-history remote.git evil
git -C evil reset -q --hard HEAD~1
echo x >evil/note
git -C evil add note
git -C evil -c user.name=m -c user.email=m@m commit -qm "redmond: not by cmsctl"
git -C evil push -q -f origin cms-history
forced=$(git -C remote.git rev-parse cms-history)
local_tip=$(git --git-dir=.cmsctl/history rev-parse cms-history)
sed -i 's/primary: pool-b/primary: pool-X/; s/mirror: pool-a/mirror: pool-b/; s/primary: pool-X/primary: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
contains err "warning: working from the local history: history remote 'remote.git' was rewritten: its branch 'cms-history' is at ${forced:0:12}, which does not descend from ${local_tip:0:12}"
git --git-dir=.cmsctl/history merge-base --is-ancestor "$local_tip" cms-history ||
	fail "the local branch was rebuilt on the rewritten remote"
[ "$(git -C remote.git rev-parse cms-history)" = "$forced" ] || fail "cmsctl wrote to the rewritten remote"
run 2 "$CMSCTL" status --detailed-exitcode
contains out "history: problem: history remote 'remote.git' was rewritten"
lacks out "history: level with its remote"
run 2 "$CMSCTL" status --detailed-exitcode --json
validate_json status.schema.json out
"$PY" -c 'import json; r=json.load(open("out"))["history_remote"]; assert r["rewritten"] is True and r["reachable"] is True, r' ||
	fail "status --json: the rewritten remote"
run 1 "$CMSCTL" audit verify
contains out "finding: history-rewritten: history remote 'remote.git' was rewritten"
run 0 "$CMSCTL" history --html page
contains page/index.html "audit verify: FAILED"
contains page/index.html "history: history-rewritten: history remote &#39;remote.git&#39; was rewritten"
serial_before=$(serial)
run 7 "$CMSCTL" apply back.plan
contains err "history remote 'remote.git' was rewritten"
contains err "git update-ref -d refs/remotes/cmsctl/cms-history"
[ "$(serial)" = "$serial_before" ] || fail "apply changed the store with a rewritten remote"
run 7 "$CMSCTL" history push
[ "$(git -C remote.git rev-parse cms-history)" = "$forced" ] || fail "history push wrote to the rewritten remote"
# Accepted on purpose (the ref deleted): the local commits are rebuilt on
# the remote's branch and sent.
git --git-dir=.cmsctl/history update-ref -d refs/remotes/cmsctl/cms-history
run 0 "$CMSCTL" status --detailed-exitcode
git -C remote.git merge-base --is-ancestor "$forced" cms-history ||
	fail "the accepted remote was not built on"
[ "$(git -C remote.git rev-parse cms-history)" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] ||
	fail "the accepted remote was not levelled"
finish
