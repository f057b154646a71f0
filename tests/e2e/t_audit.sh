#!/usr/bin/env bash
# audit verify: a clean record passes (exit 0); each tampering made with
# plain git plumbing or the sqlite3 CLI is found and named (exit 1).
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
ssh-keygen -q -t ed25519 -N '' -C bob -f key-bob
ssh-keygen -q -t ed25519 -N '' -C eve -f key-eve
printf 'bob@review %s\n' "$(cat key-bob.pub)" >signers
sed -i 's/approvals: 0/approvals: 1\n      allowed_signers: signers/' cms.yaml
H=.cmsctl/history
# Nothing recorded yet: nothing to verify, and nothing created.
run 0 "$CMSCTL" audit verify
contains err "no history at '.cmsctl/history' yet: nothing to verify"
[ ! -e .cmsctl ] || fail "audit verify created $(ls -A .cmsctl)"
run 0 "$CMSCTL" plan -o adopt.plan
id=$(git hash-object adopt.plan)
run 0 "$CMSCTL" approve "$id" --as bob@review --key key-bob
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o s.plan
sid=$(git hash-object s.plan)
run 0 "$CMSCTL" approve "$sid" --as bob@review --key key-bob
run 0 "$CMSCTL" apply s.plan
[ "$(serial)" = 2 ] || fail "serial $(serial)"
run_id=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE plan_id = '$sid'")

run 0 "$CMSCTL" audit verify
contains out "audit verify: passed (1 store, 2 plans, 2 applies, 2 approvals, 2 locations, 2 runs checked)"
run 0 "$CMSCTL" audit verify --json -s redmond
"$PY" -c 'import json; r=json.load(open("out")); assert r["ok"] is True and r["findings"] == [], r' ||
	fail "audit json"
# A mistyped --history: an error (the state records the store), and no
# empty repository made there (before, it was, and the audit passed).
run 1 "$CMSCTL" audit verify --history histroy
contains err "no history at 'histroy', but the state at '.cmsctl/state.db' records store 'redmond'"
[ ! -e histroy ] || fail "audit verify created a history at a mistyped path"
# A store no part of the record knows (a typo) is an error, not a pass.
run 1 "$CMSCTL" audit verify -s redmnd
contains err "no store 'redmnd' in 'cms.yaml', the history '.cmsctl/history' or the state: nothing to verify"
contains err "did you mean 'redmond'?"
lacks out "passed"
run 1 "$CMSCTL" audit verify -s redmnd --json
"$PY" -c 'import json; e=json.load(open("err"))["error"]; assert e["exit_status"] == 1 and "redmnd" in e["message"], e' ||
	fail "audit json error"
[ ! -s out ] || fail "audit verify of an unknown store printed a result"
cp -a .cmsctl clean

# restore_clean: back to the untampered record.
restore_clean() { rm -rf .cmsctl && cp -a clean .cmsctl; }
# found KIND TEXT: audit verify exits 1 and names the finding.
found() {
	run 1 "$CMSCTL" audit verify
	contains out "finding: redmond: $1: "
	contains out "$2"
	contains out "audit verify: FAILED"
	restore_clean
}

# A plan file edited in place (its name keeps the old id).
sed 's/"author": "alice@test"/"author": "mallory@test"/' s.plan >edited.plan
# show renders an edited plan file, and says approve and apply refuse it.
run 0 "$CMSCTL" show edited.plan
contains err "note: plan $(git hash-object edited.plan) is not in the history at '.cmsctl/history': approve and apply refuse it"
run 0 "$CMSCTL" show s.plan
lacks err "is not in the history"
plan_path=$(git --git-dir=$H ls-tree -r --name-only cms-history | grep "plans/.*-$sid.json")
history_plant "$plan_path" edited.plan
found plan-hash "plan file '$plan_path' does not hash to the id in its name: its bytes are blob $(git hash-object edited.plan)"

# The plan of an apply removed from the history.
history_remove "$plan_path"
found apply-without-plan "carried out plan ${sid:0:12}, which is not in the history"

# An approval whose signature was made by another key.
printf '%s\n' "$sid" | ssh-keygen -q -Y sign -n cmsctl-approval -f key-eve >sig-eve
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["signature"]=open(sys.argv[2]).read(); print(json.dumps(d))' \
	<(git --git-dir=$H show "cms-history:redmond/approvals/$sid/bob@review.json") sig-eve >forged.json
history_plant "redmond/approvals/$sid/bob@review.json" forged.json
found approval-signature "the approval of plan ${sid:0:12} by bob@review: signature does not verify: signed by a key that 'signers' does not list"

# A location.json that skips serials (and so also disagrees with the state).
git --git-dir=$H show cms-history:redmond/location.json | sed 's/"serial": 2/"serial": 4/' >loc.json
history_plant redmond/location.json loc.json
found serial-sequence "'redmond/location.json' goes from serial 2 to 4 at commit"

# The state moved behind the history's back.
sql .cmsctl/state.db "UPDATE stores SET primary_server = 'pool-a', mirror_server = 'pool-b'"
found state-differs "the state records serial 2, primary pool-a, mirror pool-b; the history's last location.json says serial 2, primary pool-b, mirror pool-a"

# A run's report removed from the history.
history_remove "redmond/runs/$run_id/report.json"
found run-without-report "apply run $run_id (outcome ok) is in the state but 'redmond/runs/$run_id/report.json' is not in the history"

# A report edited after it was recorded (the run and its plan unchanged).
git --git-dir=$H show "cms-history:redmond/runs/$run_id/report.json" |
	sed 's/"operator": "alice@test"/"operator": "bob@test"/' >report.json
history_plant "redmond/runs/$run_id/report.json" report.json
found history-edited "changed 'redmond/runs/$run_id/report.json' after it was recorded: cmsctl never rewrites a recorded file"
# The text of a plan, what reviewers read, edited.
txt_path=${plan_path%.json}.txt
git --git-dir=$H show "cms-history:$txt_path" | sed 's/pool-b/pool-c/g' >plan.txt
history_plant "$txt_path" plan.txt
found history-edited "changed '$txt_path' after it was recorded"
# An approval removed.
history_remove "redmond/approvals/$sid/bob@review.json"
found history-edited "removed 'redmond/approvals/$sid/bob@review.json': cmsctl never removes a recorded file"

# Files cmsctl never writes, planted: at the top, a plan under another
# name (check_plans skipped it), a file in a run's folder.
echo x >x
history_plant note x
run 1 "$CMSCTL" audit verify
contains out "finding: unexpected-file: 'note' is not a file cmsctl writes (the history holds one folder per store)"
restore_clean
history_plant redmond/plans/evil.json x
found unexpected-file "'redmond/plans/evil.json' is not a file cmsctl writes (a plan is SERIAL-PLANID.json, its text SERIAL-PLANID.txt)"
history_plant "redmond/runs/$run_id/notes.txt" x
found unexpected-file "'redmond/runs/$run_id/notes.txt' is not a file cmsctl writes (reports are runs/RUNID/report.json and report.html)"

# A report of a run that never happened (the state does not have it),
# added beside the real ones.
git --git-dir=$H show "cms-history:redmond/runs/$run_id/report.json" >fake.json
history_plant redmond/runs/00000000deadbeef/report.json fake.json
found report-without-run "'redmond/runs/00000000deadbeef' holds the report of run 00000000deadbeef, which the state does not have"

# The branch reset to an older commit (history rewritten).
git --git-dir=$H update-ref refs/heads/cms-history cms-history~3
run 1 "$CMSCTL" audit verify
contains out "finding: history-rewritten: the history branch tip"
contains out "the branch was rewritten or reset"
restore_clean
run 0 "$CMSCTL" audit verify
finish
