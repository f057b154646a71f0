#!/usr/bin/env bash
# The journal's syncs around the write-unavailable window, read from the
# system calls of a real apply on the sqlite engine (strace): the pair that
# ends the fence and starts the catch-up commits without a sync (inside the
# window, nothing irreversible waits on it); the pair that ends the
# catch-up and starts the promotion is synced, after the catch-up's writes
# and before the promotion changes anything (docs/decisions.md, "The
# journal inside the window").
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
if ! command -v strace >/dev/null; then
	[ "${CI:-}" = true ] && { echo "FAIL: strace is not installed (scripts/install-deps.sh)" >&2; exit 1; }
	echo "skip: strace is not installed" >&2
	exit 77
fi
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
# Writes on the primary that its mirror has not seen: the catch-up copies.
bash ./write.sh . pool-a 3 >/dev/null
run 0 "$CMSCTL" plan -o s.plan --reason "move for the journal's syncs" --ticket CHG-8
# Step 4 is the promotion: held right after its start is journaled, so the
# trace marks the point before which its journal write must be synced.
CMSCTL_TEST_HOLD_AT=4:running strace -f -y -s 256 -e trace=fdatasync,fsync,write -o trace \
	"$CMSCTL" apply s.plan >apply.out 2>apply.err & pid=$!
wait_for apply.err "holding at step 4:running"
pkill -CONT -P "$pid" || true
wait "$pid" || fail "apply under strace: exit $?"
contains apply.out "apply switchover pool-a -> pool-b: ok"
# The syncs in order, each as S (the state's journal), A (the old primary's
# files: the fence), B (the target's: the catch-up), with runs of one kind
# collapsed, up to the hold.
"$PY" - "$PWD" <<'PYEOF' || fail "the journal's syncs around the window"
import os, re, sys
top = os.path.realpath(sys.argv[1])  # strace -y prints resolved paths
seq = []
for line in open("trace"):
    if "holding at step 4:running" in line:
        break
    m = re.search(r"\b(?:fdatasync|fsync)\(\d+<([^>]*)>\)", line)
    if not m:
        continue
    path = m.group(1)
    kind = ("S" if path.startswith(top + "/.cmsctl/state.db") else
            "A" if path.startswith(top + "/servers/pool-a") else
            "B" if path.startswith(top + "/servers/pool-b") else None)
    if kind and (not seq or seq[-1] != kind):
        seq.append(kind)
else:
    sys.exit("the hold never appeared in the trace")
print("syncs up to the promotion's start:", "".join(seq), file=sys.stderr)
# ... S (the fence's start) A (the fence) B (the catch-up: no journal sync
# before it) S (the promotion's start, synced before it acts).
assert seq[-4:] == ["S", "A", "B", "S"], seq
PYEOF
finish
