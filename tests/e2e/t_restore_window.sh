#!/usr/bin/env bash
# A restore that closes a run killed (SIGKILL) in the middle measures the
# write-unavailable window of that run in its own report: from the killed
# run's fence to the undo of the fence (the run undone) or to the promotion
# (the run finished).  A restore that undid a run does not list the undone
# plan's pending items as if they still applied; one that finished it does.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
H=.cmsctl/history
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
# dublin-dr as the mirror to be: the switchover's plan has a pending item.
sed -i 's/role: backup/role: mirror/; s/^      primary: .*/      primary: pool-b/; s/^      mirror: .*/      mirror: dublin-dr/' cms.yaml
pending="mirror dublin-dr is pending until it is observed as a mirror of pool-b"
# killed_at STEP:STATUS PLAN: applies PLAN, SIGKILLs it at STEP:STATUS;
# prints the killed run's id.
killed_at() {
	local pid
	CMSCTL_TEST_HOLD_AT=$1 "$CMSCTL" apply "$2" >apply.out 2>apply.err & pid=$!
	wait_for apply.err "holding at step $1" || return 1
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$(git hash-object "$2")' AND kind = 'apply'"
}
# check_window RESTORE-REPORT KILLED-REPORT FIRST-ACTION LAST-ACTION: the
# restore's window is an integer no shorter than the killed run's steps
# from FIRST to LAST and no longer than from the killed fence's start to
# the restore's end; the restore's record step names it.
check_window() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
from datetime import datetime
r, k = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
first, last = sys.argv[3], sys.argv[4]
def ms(t): return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000
w = r["write_unavailable_ms"]
assert isinstance(w, int) and w >= 0, w
acts = [s["action"] for s in k["steps"]]
span = k["steps"][acts.index(first):acts.index(last) + 1]
fence = [s for s in k["steps"] if s["action"] == "fence"][0]
lower = sum(s["duration_ms"] for s in span) - len(span)
upper = ms(r["finished_at"]) - ms(fence["started_at"]) + 1
assert lower <= w <= upper, (lower, w, upper)
checks = [c for c in r["steps"][0]["checks"] if c["check"] == "write-unavailable window of the run closed"]
assert checks and checks[0]["observed"].startswith("%d ms, from the fence of run %s at %s" % (w, k["run_id"], fence["started_at"])), checks
print("window %d ms, between %d and %d" % (w, lower, upper))
PYEOF
}
restore_report() { # the newest restore's report, into FILE
	local rid
	rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE kind = 'restore' ORDER BY started_at DESC LIMIT 1")
	git --git-dir=$H show "cms-history:redmond/runs/$rid/report.json" >"$1"
}

# 1. Killed after the catch-up, before promotion: restore undoes it.
run 0 "$CMSCTL" plan -o s.plan
contains out "$pending"
kid=$(killed_at 3:done s.plan)
run 0 "$CMSCTL" restore --dry-run
lacks out "$pending"
run 0 "$CMSCTL" restore --yes
contains out "redmond: restore: undid switchover pool-a -> pool-b, pool-a stays primary: ok"
lacks out "$pending"
restore_report undo.json
validate_json report.schema.json undo.json
lacks undo.json "$pending"
git --git-dir=$H show "cms-history:redmond/runs/$kid/report.json" >killed1.json
check_window undo.json killed1.json fence catch_up || fail "the window of the undone run"
# The killed run's report, rebuilt from its journal by the restore, names
# the database of each statement and has times in milliseconds.
validate_json report.schema.json killed1.json
"$PY" -c 'import json; r=json.load(open("killed1.json")); st=[x for s in r["steps"] for x in s["statements"]]
assert st and all(x["database"] in ("xds", "lis") for x in st), st' || fail "the rebuilt report's statements"
contains undo.json "to the undo of the fence by this restore"
run 0 "$CMSCTL" status
lacks out "$pending"

# 2. Killed right after promotion: restore finishes it; the plan's pending
#    item holds now and is listed.
run 0 "$CMSCTL" plan -o s2.plan
kid=$(killed_at 4:done s2.plan)
run 0 "$CMSCTL" restore --yes
contains out "redmond: restore: finished switchover pool-a -> pool-b: ok"
contains out "follow-up: $pending"
restore_report fwd.json
validate_json report.schema.json fwd.json
git --git-dir=$H show "cms-history:redmond/runs/$kid/report.json" >killed2.json
check_window fwd.json killed2.json fence promote || fail "the window of the finished run"
contains fwd.json "to the promotion run $kid finished"
"$PY" -c 'import json,sys; r=json.load(open("fwd.json")); assert sys.argv[1] in r["followups"], r["followups"]' "$pending" ||
	fail "the finished run's pending item is not in the restore's report"
restore_html=$(git --git-dir=$H log -1 --format='%(trailers:key=Run-Id,valueonly)' --grep='restore: finished' cms-history | head -1)
git --git-dir=$H show "cms-history:redmond/runs/$restore_html/report.html" >fwd.html
contains fwd.html "ms (from the fence of run $kid at "
run 0 "$CMSCTL" audit verify

# 3. The restore itself killed between its record in the state and its
#    report in the history: the report the next command rebuilds from the
#    journal still carries the window of the run it closed.
sed -i 's/^      primary: .*/      primary: pool-a/; s/^      mirror: .*/      mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o s3.plan
kid=$(killed_at 3:done s3.plan)
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" restore --yes >restore.out 2>restore.err & pid=$!
wait_for restore.err "holding before recording run"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE kind = 'restore' ORDER BY started_at DESC LIMIT 1")
if git --git-dir=$H cat-file -e "cms-history:redmond/runs/$rid/report.json" 2>/dev/null; then
	fail "the restore's report reached the history although it was killed before"
fi
run 0 "$CMSCTL" plan -o after.plan
contains err "recorded run $rid of store redmond in the history from the state's journal"
git --git-dir=$H show "cms-history:redmond/runs/$rid/report.json" >levelled.json
validate_json report.schema.json levelled.json
want=$(sql .cmsctl/state.db "SELECT detail FROM steps WHERE run_id = '$rid' AND n = 1" |
	"$PY" -c 'import json,sys; d=json.load(sys.stdin); print([c["observed"] for c in d["checks"] if c["check"] == "write-unavailable window of the run closed"][0].split(" ")[0])')
[ "$(jq -r .write_unavailable_ms levelled.json)" = "$want" ] ||
	fail "the levelled restore report's window: $(jq -r .write_unavailable_ms levelled.json), journaled $want"
finish
