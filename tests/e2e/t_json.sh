#!/usr/bin/env bash
# --json on every command, each output checked against its schema in
# schemas/, integers as integers; under --json an error is one JSON object
# on stderr (schemas/error.schema.json) with the documented exit status.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
py() { "$PY" -c "$@"; }

run 0 "$CMSCTL" version --json
validate_json version.schema.json out
run 0 "$CMSCTL" validate --json
validate_json validate.schema.json out
py 'import json; d=json.load(open("out")); assert d["valid"] and d["diagnostics"] == [] and d["stores"][0]["name"] == "redmond", d' ||
	fail "validate --json on a good config"
run 0 "$CMSCTL" lock list --json
validate_json lock-list.schema.json out
[ "$(cat out)" = "[]" ] || fail "lock list --json with no lock: $(cat out)"

run 0 "$CMSCTL" plan --json -o adopt.plan
validate_json plan-saved.schema.json out
id=$(git hash-object adopt.plan)
py 'import json,sys; d=json.load(open("out")); assert d["plan_id"] == sys.argv[1] and d["file"] == "adopt.plan", d' "$id" ||
	fail "plan --json -o does not carry the plan id"
py 'import json; json.dump(json.load(open("out"))["plan"], open("inner.json", "w"))'
validate_json plan.schema.json inner.json
run 0 "$CMSCTL" show --json "$id"
validate_json plan.schema.json out
run 0 "$CMSCTL" apply --json "$id"
validate_json report.schema.json out
run 0 "$CMSCTL" plan -o s.plan
sid=$(git hash-object s.plan)
ssh-keygen -q -t ed25519 -N '' -C bob -f key-bob
run 0 "$CMSCTL" approve --json --as bob@test --key key-bob s.plan
validate_json approve.schema.json out
py 'import json,sys; d=json.load(open("out")); assert d["plan_id"] == sys.argv[1] and d["approved_by"] == "bob@test" and d["signed"] is True, d' "$sid" ||
	fail "approve --json"
run 0 "$CMSCTL" apply --json --yes s.plan
validate_json report.schema.json out
py 'import json, re; r=json.load(open("out"))
stmts=[st for s in r["steps"] for st in s["statements"]]
assert stmts, "a switchover sent no statement"
assert all(st["database"] in ("xds", "lis") for st in stmts), [(st["server"], st["database"], st["sql"]) for st in stmts]
assert {st["database"] for st in stmts} == {"xds", "lis"}, "the statements do not name both databases"
ms=re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
times=[r["started_at"], r["finished_at"]] + [s["started_at"] for s in r["steps"] if s["started_at"]]
assert all(ms.match(t) for t in times), times' || fail "a switchover report: each statement names its database, times in milliseconds"
run 0 "$CMSCTL" history --json
validate_json history.schema.json out
py 'import json; h=json.load(open("out"))
applies=[e for e in h if e["kind"] == "apply"]
assert applies and applies[0]["run_id"] and applies[0]["store"] == "redmond", applies
assert all(isinstance(e["store_serial"], int) for e in h if e["store_serial"] is not None), h
assert any(e["store_serial"] == 1 for e in h), h' || fail "history --json: run_id, store, integer serials"
run 0 "$CMSCTL" restore --dry-run --json
validate_json restore-preview.schema.json out
run 0 "$CMSCTL" status --json
validate_json status.schema.json out
run 0 "$CMSCTL" audit verify --json
validate_json audit.schema.json out
py 'import json; d=json.load(open("out")); assert d["ok"] and d["state_checked"] and d["signatures_checked"] and d["checked"]["applies"] == 2, d' ||
	fail "audit verify --json"
# state show, state migrate and history push print a document too (before,
# state show had no schema and the other two printed nothing on stdout).
run 0 "$CMSCTL" state show --json
validate_json state.schema.json out
py 'import json; d=json.load(open("out")); assert len(d["runs"]) == 2 and d["history_tip"] and d["stores"][0]["serial"] == 2, d' ||
	fail "state show --json"
run 0 "$CMSCTL" state migrate --to sqlite:copy.db --json
validate_json state-migrate.schema.json out
py 'import json; d=json.load(open("out")); assert d["to"] == "copy.db" and d["stores"] == 1 and d["runs"] == 2, d' ||
	fail "state migrate --json"
git init -q --bare remote.git
cp cms.yaml cms.yaml.orig
sed -i "s|^version: 1\$|version: 1\nbackend:\n  remote: remote.git|" cms.yaml
run 0 "$CMSCTL" history push --json
validate_json history-push.schema.json out
py 'import json,sys; d=json.load(open("out")); assert d == {"remote": "remote.git", "pushed": int(sys.argv[1])}, d' \
	"$(git --git-dir=.cmsctl/history rev-list --count cms-history)" || fail "history push --json"
mv cms.yaml.orig cms.yaml
# A state that is not there (a mistyped --state): the audit says the
# state was not checked, in JSON and in text.
run 0 "$CMSCTL" audit verify --json --state nosuch.db
validate_json audit.schema.json out
py 'import json; d=json.load(open("out")); assert d["state_checked"] is False, d' ||
	fail "audit verify --json without a state"
run 0 "$CMSCTL" audit verify --state nosuch.db
contains out "; no state at 'nosuch.db': its runs, serials and recorded tip not checked)"
[ ! -e nosuch.db ] || fail "audit verify created a state"

# Errors: one JSON object on stderr, the exit status it names.
json_error() {   # json_error EXIT ARGS...: runs, checks stderr is the error object
	local want=$1
	shift
	run "$want" "$CMSCTL" "$@" || return
	[ ! -s out ] || fail "'$*': stdout is not empty under an error"
	validate_json error.schema.json err
	py 'import json,sys; e=json.load(open("err"))["error"]; assert e["exit_status"] == int(sys.argv[1]), e' "$want" ||
		fail "'$*': exit_status in the error object"
}
json_error 1 plan --json -s redmnd
contains err "did you mean 'redmond'?"
json_error 64 plan --json --detailed-exitcod
contains err "did you mean '--detailed-exitcode'?"
json_error 3 apply --json s.plan --history elsewhere
json_error 1 show --json 0123456789abcdef
printf 'version: 1\nstores: []\nbogus: 1\n' >bad.yaml
json_error 1 plan --json -c bad.yaml
py 'import json; e=json.load(open("err"))["error"]; assert e["diagnostics"] and e["diagnostics"][0]["line"] >= 1, e' ||
	fail "config errors under --json carry the diagnostics"
finish
