#!/usr/bin/env bash
# plan --reason TEXT --ticket ID: kept in the plan (so its id covers them),
# shown in its text, carried into the report and as Reason:/Ticket:
# trailers of the plan's and the run's history commits.  Bad values are
# refused with exit 64 before anything is read or written.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
H=.cmsctl/history
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
sed -i 's/primary: pool-a/primary: pool-X/; s/mirror: pool-b/mirror: pool-a/; s/primary: pool-X/primary: pool-b/' cms.yaml

# Bad input: exit 64, a message naming the option, nothing written.
tip=$(git --git-dir=$H rev-parse cms-history)
sum=$(sqlite3 .cmsctl/state.db 'SELECT group_concat(serial) FROM stores; SELECT count(*) FROM runs')
long=$(printf 'x%.0s' $(seq 1 501))
run 64 "$CMSCTL" plan -o bad.plan --reason "$(printf 'two\nlines')"
contains err "'--reason' contains a control character (it must be one line)"
run 64 "$CMSCTL" plan -o bad.plan --reason "$(printf 'bell\a')"
contains err "'--reason' contains a control character"
run 64 "$CMSCTL" plan -o bad.plan --reason "$(printf 'next line\xc2\x85')"
contains err "'--reason' contains a control character"
run 64 "$CMSCTL" plan -o bad.plan --reason ""
contains err "'--reason' is empty"
run 64 "$CMSCTL" plan -o bad.plan --reason "$long"
contains err "'--reason' is too long: give one line of text, at most 500 bytes"
run 64 "$CMSCTL" plan -o bad.plan --reason "$(printf 'latin1 \xe9')"
contains err "'--reason' is not valid UTF-8"
run 64 "$CMSCTL" plan -o bad.plan --ticket "CHG 1234"
contains err "'--ticket' contains white space"
run 64 "$CMSCTL" plan -o bad.plan --ticket "$(printf 'CHG\t1')"
contains err "'--ticket' contains a control character"
run 64 "$CMSCTL" plan -o bad.plan --ticket "$(printf 'T%.0s' $(seq 1 129))"
contains err "'--ticket' is too long"
run 64 "$CMSCTL" plan -o bad.plan --json --ticket ""
contains err '"exit_status":64'
[ ! -e bad.plan ] || fail "a refused plan was saved"
[ "$(git --git-dir=$H rev-parse cms-history)" = "$tip" ] || fail "a refused plan reached the history"
[ "$(sqlite3 .cmsctl/state.db 'SELECT group_concat(serial) FROM stores; SELECT count(*) FROM runs')" = "$sum" ] ||
	fail "a refused plan changed the state"

# A reason and a ticket: in the plan, its text, its id, its commit.
reason='Patch Tuesday: move off pool-a <b>for</b> "kernel" update — 10 min'
run 0 "$CMSCTL" plan -o s.plan --reason "$reason" --ticket CHG-1234
contains out "Reason: $reason"
contains out "Ticket: CHG-1234"
validate_json plan.schema.json s.plan
[ "$(jq -r .reason s.plan)" = "$reason" ] || fail "plan reason: $(jq .reason s.plan)"
[ "$(jq -r .ticket s.plan)" = CHG-1234 ] || fail "plan ticket: $(jq .ticket s.plan)"
id=$(git hash-object s.plan)
git --git-dir=$H log -1 --format='%(trailers:key=Reason,valueonly)%(trailers:key=Ticket,valueonly)' cms-history >tr
printf '%s\nCHG-1234\n\n' "$reason" >want
same tr want
run 0 "$CMSCTL" show "$id"
contains out "Reason: $reason"
# The id covers them: the same plan with another ticket is another plan.
run 0 "$CMSCTL" plan -o other.plan --reason "$reason" --ticket CHG-1235
[ "$(git hash-object other.plan)" != "$id" ] || fail "the ticket is not part of the plan id"
# A plan without them has neither key (and the bytes of plans made before).
run 0 "$CMSCTL" plan -o plain.plan
[ "$(jq 'has("reason") or has("ticket")' plain.plan)" = false ] || fail "a plain plan has reason/ticket keys"
lacks out "Reason:"

# The report carries them with the plan's author; so do the run's trailers.
run 0 "$CMSCTL" apply s.plan --json --report r.html
validate_json report.schema.json out
"$PY" - "$reason" <<'PYEOF' || fail "report reason/ticket/author"
import json, sys
r = json.load(open("out"))
assert r["reason"] == sys.argv[1], r["reason"]
assert r["ticket"] == "CHG-1234", r["ticket"]
assert r["author"] == "alice@test", r["author"]
PYEOF
contains r.html "<tr><th>ticket</th><td>CHG-1234</td></tr>"
contains r.html "&lt;b&gt;for&lt;/b&gt;"
git --git-dir=$H log -1 --format='%s%n%(trailers:key=Reason,valueonly)%(trailers:key=Ticket,valueonly)' cms-history >tr
printf 'redmond: apply switchover pool-a -> pool-b: ok\n%s\nCHG-1234\n\n' "$reason" >want
same tr want

# --reason with --assume-down: one text, the change's reason and the
# attestation; --reason alone attests nothing.
mv servers/pool-b "$T/pool-b.away"
sed -i "s/allow_data_loss: false/allow_data_loss: true/" cms.yaml
sed -i 's/primary: pool-b/primary: pool-X/; s/mirror: pool-a/mirror: pool-b/; s/primary: pool-X/primary: pool-a/' cms.yaml
run 7 "$CMSCTL" plan --reason "site lost"
contains err "cannot be fenced"
run 0 "$CMSCTL" plan -o ad.plan --assume-down pool-b --reason "site lost: power off (DC-1)" --ticket INC-9
[ "$(jq -r '.assume_down.reason + "|" + .reason + "|" + .ticket' ad.plan)" = "site lost: power off (DC-1)|site lost: power off (DC-1)|INC-9" ] ||
	fail "assume-down plan: $(jq -c '{assume_down, reason, ticket}' ad.plan)"
validate_json plan.schema.json ad.plan
finish
