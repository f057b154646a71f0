#!/usr/bin/env bash
# The record under faults: a stale history ref lock left by a dead process
# is removed and noted; another cmsctl writing the history is exit 4; a
# full disk (a small tmpfs) or a read-only state or history gives exit 1
# when nothing was changed and exit 6 once the servers moved.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
H=.cmsctl/history
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan

# --- a stale ref lock (what a SIGKILL during a history commit leaves) ---
reflock=$(git --git-dir="$H" rev-parse --git-path refs/heads/cms-history.lock)
git --git-dir="$H" rev-parse cms-history >"$reflock"
touch -d '1 minute ago' "$reflock"
run 0 "$CMSCTL" plan -o s.plan
[ ! -e "$reflock" ] || fail "the stale ref lock is still there"
git --git-dir="$H" log -1 --format=%B cms-history >msg
contains msg "Stale-Lock-Removed: refs/heads/cms-history.lock"
# A fresh one (a process that died a moment ago) is waited out, then removed.
git --git-dir="$H" rev-parse cms-history >"$reflock"
run 0 "$CMSCTL" plan -o s.plan
[ ! -e "$reflock" ] || fail "the fresh stale ref lock is still there"

# --- another cmsctl writing the history: exit 4, nothing recorded ---
before=$(git --git-dir="$H" rev-parse cms-history)
"$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
time.sleep(60)' "$H/cmsctl-writer.lock" &
holder=$!
for i in $(seq 1 100); do
	flock -n "$H/cmsctl-writer.lock" true 2>/dev/null || break
	sleep 0.05
done
run 4 "$CMSCTL" plan -o other.plan
contains err "is being written by another cmsctl process of this host"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[ "$(git --git-dir="$H" rev-parse cms-history)" = "$before" ] || fail "a refused plan reached the history"

# --- faults on a small tmpfs (needs root to mount) ---
if ! mkdir mnt || ! mount -t tmpfs -o size=8m tmpfs "$T/mnt" 2>/dev/null; then
	[ "${CI:-}" = true ] && fail "cannot mount a tmpfs (CI runs as root)"
	printf 'note: cannot mount a tmpfs here; disk faults skipped\n' >&2
	finish
	exit 0
fi
trap 'umount "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT
roles() { cat servers/pool-a/role servers/pool-b/role 2>/dev/null | tr '\n' ' '; }
published() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["primary"])' published/location.json; }
fill() { dd if=/dev/zero of="$T/mnt/filler" bs=64k status=none 2>/dev/null || true; sync; }
unfill() { rm -f "$T/mnt/filler"; }

# The state on the tmpfs, full before apply: refused before any change (1).
cp -a .cmsctl/state.db* "$T/mnt/" 2>/dev/null
S="--state=$T/mnt/state.db"
run 0 "$CMSCTL" plan "$S" -o s1.plan
fill
primary_before=$(published)
run 1 "$CMSCTL" apply "$S" s1.plan
[ "$(published)" = "$primary_before" ] || fail "a move refused for a full disk changed the published location"
unfill
run 0 "$CMSCTL" status "$S" --offline

# The history on the tmpfs, full after the plan was committed: checked
# before any server is changed, so the run is refused (7) and can be
# applied once the history takes commits again.
rm -rf "$T/mnt"/state.db*
cp -a "$H" "$T/mnt/history"
HI="--history=$T/mnt/history"
run 0 "$CMSCTL" plan $HI -o s2.plan
fill
# A history that cannot take a commit refuses the run before any change.
run 7 "$CMSCTL" apply $HI s2.plan
contains err "cannot be written"
[ "$(published)" = pool-a ] || fail "a move refused for a full history changed the location"
unfill
run 0 "$CMSCTL" apply $HI s2.plan
[ "$(published)" = pool-b ] || fail "the move did not happen"

# Read-only history after the plan: the same, refused before any change.
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan $HI -o s3.plan
mount -o remount,ro "$T/mnt"
run 7 "$CMSCTL" apply $HI s3.plan
[ "$(published)" = pool-b ] || fail "a move refused for a read-only history changed the location"
mount -o remount,rw "$T/mnt"
run 0 "$CMSCTL" apply $HI s3.plan
[ "$(published)" = pool-a ] || fail "the move did not happen"

# Read-only state: refused before any change, exit 1.
rm -rf "$T/mnt/history"
cp -a .cmsctl/state.db* "$T/mnt/"
sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
run 0 "$CMSCTL" plan "$S" -o s4.plan
mount -o remount,ro "$T/mnt"
run 1 "$CMSCTL" apply "$S" s4.plan
[ "$(published)" = pool-a ] || fail "a move refused for a read-only state changed the published location"
mount -o remount,rw "$T/mnt"
run 0 "$CMSCTL" apply "$S" s4.plan
[ "$(published)" = pool-b ] || fail "the move after the state became writable did not happen"

# A restore whose state fills up after it changed a server (it undid a
# fence, then published): exit 6, not 1, and a restore once the disk has
# room again converges.
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan "$S" -o s5.plan
kill_at 4:running "$S" s5.plan
role_b() { sql servers/pool-b/xds.db 'SELECT role || read_only FROM cms_control'; }
[ "$(role_b)" = primary1 ] || fail "pool-b is not left fenced by the killed apply: $(role_b)"
CMSCTL_TEST_HOLD_AT=2:done "$CMSCTL" restore "$S" --yes >restore.out 2>restore.err &
pid=$!
wait_for restore.err "holding at step 2:done"
fill
kill -CONT $pid
rc=0
wait $pid || rc=$?
[ "$rc" = 6 ] || { sed 's/^/  restore: /' restore.err >&2; fail "a restore that failed after unfencing pool-b: exit $rc, expected 6"; }
contains restore.err "restore stopped after it may have changed servers"
contains restore.err "'cmsctl restore' again finishes the job"
[ "$(role_b)" = primary0 ] || fail "the failed restore did not unfence pool-b first: $(role_b)"
unfill
run 0 "$CMSCTL" restore "$S" --yes
run 0 "$CMSCTL" status "$S" --offline

# An approval the history on a full disk cannot take is refused (7) and
# recorded nowhere: before, the state kept it (apply counted it) and the
# history never had it.
# (The state off the tmpfs: only the history is full.)
cp -a "$H" "$T/mnt/history"
for f in "$T/mnt"/state.db*; do cp -a "$f" "$T/state6${f#"$T/mnt/state"}"; done
S="--state=$T/state6.db"
sed -i 's/approvals: 0/approvals: 0\n      signed_approvals: false/' cms.yaml
sed -i 's/primary: pool-a/primary: pool-X/; s/mirror: pool-b/mirror: pool-a/; s/primary: pool-X/primary: pool-b/' cms.yaml
run 0 "$CMSCTL" plan "$S" $HI -o s6.plan
s6=$(git hash-object s6.plan)
fill
run 7 "$CMSCTL" approve "$S" $HI s6.plan --as bob@test
contains err "history repository '$T/mnt/history' cannot be written"
contains err "nothing was recorded; approve again once the history can be written"
[ "$(sql "$T/state6.db" "SELECT count(*) FROM approvals WHERE plan_id = '$s6'")" = 0 ] ||
	fail "an approval the history could not take is in the state"
unfill
run 0 "$CMSCTL" approve "$S" $HI s6.plan --as bob@test
git --git-dir="$T/mnt/history" cat-file -e "cms-history:redmond/approvals/$s6/bob@test.json" ||
	fail "the approval is not in the history"
finish
