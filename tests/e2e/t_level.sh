#!/usr/bin/env bash
# The record is never behind.  (1) SIGKILL between the state's commit of a
# run and the history's: status says the history is behind, audit verify
# finds it, and the next command that writes the history records the run
# from the journal, after which audit verify passes.  (2) A run killed
# right after promotion and closed by restore: its statements and its
# write-unavailable window reach the history.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
H=.cmsctl/history
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o s.plan --reason "move for the levelling test" --ticket CHG-7
id=$(git hash-object s.plan)

# (1) Killed between the two commits.
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply s.plan >apply.out 2>apply.err & pid=$!
wait_for apply.err "holding before recording run"
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$id'")
# While the run is on its way into the history its process holds the
# store's lock, and a command that levels the history leaves the run to it.
run 0 "$CMSCTL" lock list
contains out "redmond"
run 0 "$CMSCTL" plan -o held.plan
lacks err "recorded run"
if git --git-dir=$H cat-file -e "cms-history:redmond/runs/$rid/report.json" 2>/dev/null; then
	fail "plan -o recorded the run from the journal while its process held the lock to record it"
fi
kill -9 $pid; wait $pid 2>/dev/null || true
[ "$(serial)" = 2 ] || fail "state serial $(serial)"
if git --git-dir=$H cat-file -e "cms-history:redmond/runs/$rid/report.json" 2>/dev/null; then
	fail "the report reached the history although the process was killed before"
fi
run 0 "$CMSCTL" status
contains out "history: behind the state: run $rid is finished but not recorded"
run 0 "$CMSCTL" status --json
"$PY" -c 'import json,sys; r=json.load(open("out")); assert r["stores"][0]["history_pending"]==[sys.argv[1]], r' "$rid" ||
	fail "status --json history_pending"
run 1 "$CMSCTL" audit verify
contains out "run-without-report: apply run $rid (outcome ok)"
contains out "state-differs"
# The next command that writes the history brings it level.
run 0 "$CMSCTL" plan -o next.plan
contains err "recorded run $rid of store redmond in the history from the state's journal"
git --git-dir=$H show "cms-history:redmond/runs/$rid/report.json" >report.json
validate_json report.schema.json report.json
"$PY" - <<'PYEOF' || fail "levelled report"
import json
r = json.load(open("report.json"))
assert r["outcome"] == "ok" and r["serial_after"] == 2, r
assert r["author"] == "alice@test", r["author"]
assert r["reason"] == "move for the levelling test" and r["ticket"] == "CHG-7", (r["reason"], r["ticket"])
assert r["location"]["primary"] == "pool-b", r["location"]
promote = [s for s in r["steps"] if s["action"] == "promote"]
assert promote and promote[0]["status"] == "done", r["steps"]
assert any(s["statements"] for s in r["steps"]), "no statements"
assert isinstance(r["write_unavailable_ms"], int), r["write_unavailable_ms"]
stmts = [st for s in r["steps"] for st in s["statements"]]
assert all(st["database"] in ("xds", "lis") for st in stmts), stmts
assert r["started_at"].endswith("Z") and r["started_at"][19] == ".", r["started_at"]
PYEOF
git --git-dir=$H show cms-history:redmond/location.json >loc.json
"$PY" -c 'import json; l=json.load(open("loc.json")); assert l["serial"]==2 and l["primary"]=="pool-b", l' ||
	fail "location.json not levelled"
git --git-dir=$H log -1 --format='%(trailers:key=Recorded-From,valueonly)' cms-history~1 >from
printf 'journal\n\n' >want
same from want
git --git-dir=$H log -1 --format='%(trailers:key=Reason,valueonly)%(trailers:key=Ticket,valueonly)' cms-history~1 >from
printf 'move for the levelling test\nCHG-7\n\n' >want
same from want
run 0 "$CMSCTL" status
lacks out "history: behind"
run 0 "$CMSCTL" audit verify
contains out "audit verify: passed"

# (2) Killed right after promotion (step 4 done), closed by restore.
sed -i 's/primary: pool-b/primary: pool-X/; s/mirror: pool-a/mirror: pool-b/; s/primary: pool-X/primary: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
bid=$(git hash-object back.plan)
CMSCTL_TEST_HOLD_AT=4:done "$CMSCTL" apply back.plan >apply.out 2>apply.err & pid=$!
wait_for apply.err "holding at step 4:done"
kill -9 $pid; wait $pid 2>/dev/null || true
kid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$bid' AND kind = 'apply'")
run 0 "$CMSCTL" restore --yes
git --git-dir=$H show "cms-history:redmond/runs/$kid/report.json" >killed.json ||
	fail "the killed run's journal did not reach the history with the restore"
validate_json report.schema.json killed.json
"$PY" - <<'PYEOF' || fail "killed run's report"
import json
r = json.load(open("killed.json"))
promote = [s for s in r["steps"] if s["action"] == "promote"][0]
assert promote["status"] == "done" and promote["statements"], promote
assert r["write_unavailable_ms"] is not None and r["write_unavailable_ms"] >= 0, r["write_unavailable_ms"]
PYEOF
git --git-dir=$H log --format=%s cms-history >subjects
contains subjects "redmond: restore: finished switchover pool-b -> pool-a: ok"
run 0 "$CMSCTL" audit verify
contains out "audit verify: passed"

# (3) Killed before promotion (catch-up done), undone by restore: the
# subject says so, and the undone run's journal reaches the history too.
sed -i 's/primary: pool-a/primary: pool-X/; s/mirror: pool-b/mirror: pool-a/; s/primary: pool-X/primary: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o fwd.plan
fid=$(git hash-object fwd.plan)
CMSCTL_TEST_HOLD_AT=3:done "$CMSCTL" apply fwd.plan >apply.out 2>apply.err & pid=$!
wait_for apply.err "holding at step 3:done"
kill -9 $pid; wait $pid 2>/dev/null || true
uid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$fid' AND kind = 'apply'")
run 0 "$CMSCTL" restore --yes
git --git-dir=$H log --format=%s cms-history >subjects
contains subjects "redmond: restore: undid switchover pool-a -> pool-b, pool-a stays primary: ok"
git --git-dir=$H cat-file -e "cms-history:redmond/runs/$uid/report.json" ||
	fail "the undone run's journal did not reach the history"
run 0 "$CMSCTL" audit verify
contains out "audit verify: passed"
finish
