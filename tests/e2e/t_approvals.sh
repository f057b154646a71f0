#!/usr/bin/env bash
# Signed approvals: a reviewer signs the plan id with an SSH key (real keys
# made here with ssh-keygen); at apply an approval counts only when its
# signature verifies for a principal of policy.allowed_signers who is not
# the plan's author.  approve refuses what could not count and what apply
# could not carry out (stale, consumed, expired), and a second approval by
# the same principal records nothing.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
for k in alice bob carol eve; do ssh-keygen -q -t ed25519 -N '' -C "$k" -f "key-$k"; done
printf 'alice@test %s\nbob@review %s\ncarol@review %s\n' "$(cat key-alice.pub)" \
	"$(cat key-bob.pub)" "$(cat key-carol.pub)" >signers
sed -i 's/approvals: 0/approvals: 1\n      allowed_signers: signers/' cms.yaml
H=.cmsctl/history
tip() { git --git-dir=$H rev-parse cms-history; }
plant() { history_plant "$@"; }
# approval_doc PRINCIPAL SIGFILE: the record approve writes.
approval_doc() {
	"$PY" -c 'import json,sys; print(json.dumps({"plan_id": sys.argv[1], "principal": sys.argv[2], "approved_at": "2026-01-01T00:00:00Z", "signature": open(sys.argv[3]).read()}, indent=2))' "$id" "$1" "$2"
}

run 0 "$CMSCTL" plan -o adopt.plan
id=$(git hash-object adopt.plan)
run 7 "$CMSCTL" apply adopt.plan
contains err "plan ${id:0:12} has 0 approvals that count (from people other than its author alice@test); policy.approvals needs 1"

# approve refuses, recording nothing: the author, no key, a key that
# allowed_signers does not list for the name, an unknown plan.
before=$(tip)
run 7 "$CMSCTL" approve "$id" --key key-alice
contains err "alice@test is the author of plan ${id:0:12} and cannot approve it"
run 64 "$CMSCTL" approve "$id" --as bob@review
contains err "store 'redmond' counts only signed approvals"
run 7 "$CMSCTL" approve "$id" --as eve@review --key key-eve
contains err "would not count: signed by a key that"
run 7 "$CMSCTL" approve "$id" --as bob@review --key key-carol
contains err "signed by the key of carol@review in"
run 1 "$CMSCTL" approve 0123456789abcdef --as bob@review --key key-bob
[ "$(tip)" = "$before" ] || fail "a refused approval moved the history"

# Approvals written into the history behind cmsctl's back do not count:
# the author's own, a key outside allowed_signers, a tampered signature.
printf '%s\n' "$id" | ssh-keygen -q -Y sign -n cmsctl-approval -f key-alice >sig-alice
printf '%s\n' "$id" | ssh-keygen -q -Y sign -n cmsctl-approval -f key-eve >sig-eve
printf '%s\n' "$id" | ssh-keygen -q -Y sign -n cmsctl-approval -f key-carol >sig-carol
# Tamper: sign another text (a valid signature, of something else).
printf 'x%s\n' "$id" | ssh-keygen -q -Y sign -n cmsctl-approval -f key-carol >sig-carol-other
approval_doc alice@test sig-alice >a.json
approval_doc eve@review sig-eve >e.json
approval_doc carol@review sig-carol-other >c.json
plant "redmond/approvals/$id/alice@test.json" a.json
plant "redmond/approvals/$id/eve@review.json" e.json
plant "redmond/approvals/$id/carol@review.json" c.json
run 7 "$CMSCTL" apply adopt.plan
contains err "has 0 approvals that count"
contains err "alice@test (the plan's author)"
contains err "carol@review (signature does not verify: the signature does not match plan ${id:0:12}"
contains err "eve@review (signature does not verify: signed by a key that 'signers' does not list)"
# Unsigned approvals do not count while signed_approvals is true (default).
"$PY" -c 'import json,sys; print(json.dumps({"plan_id": sys.argv[1], "principal": "dave@review", "approved_at": "2026-01-01T00:00:00Z", "signature": None}))' "$id" >d.json
plant "redmond/approvals/$id/dave@review.json" d.json
run 7 "$CMSCTL" apply adopt.plan
contains err "dave@review (not signed, and policy.signed_approvals is true)"
# The same signature by carol's key, untampered, counts.
approval_doc carol@review sig-carol >c.json
plant "redmond/approvals/$id/carol@review.json" c.json
run 0 "$CMSCTL" apply adopt.plan --json
"$PY" -c 'import json; r=json.load(open("out")); assert r["approvals"]==["carol@review"] and r["author"]=="alice@test", r' || fail "report approvals"
run 3 "$CMSCTL" approve "$id" --as bob@review --key key-bob
contains err "was already applied"

# A real approval: signed, recorded once; the same principal again is a
# no-op; the approval's time is the real clock, whatever CMSCTL_NOW says.
run 0 "$CMSCTL" plan -o s.plan
sid=$(git hash-object s.plan)
start=$(date +%s)
CMSCTL_NOW=2026-01-01T00:00:00Z run 0 "$CMSCTL" approve "${sid:0:12}" --as bob@review --key key-bob
contains out "approved plan $sid of store redmond as bob@review (signed)"
[ "$(git --git-dir=$H log -1 --format=%ct cms-history)" -ge "$start" ] || fail "approval backdated"
git --git-dir=$H log -1 --format='%(trailers:key=Approved-By,valueonly)' cms-history >who
printf 'bob@review\n\n' >want
same who want
git --git-dir=$H show "cms-history:redmond/approvals/$sid/bob@review.json" >doc
"$PY" - "$sid" <<'PYEOF' >sig || fail "approval record"
import json, sys
d = json.load(open("doc"))
assert d["plan_id"] == sys.argv[1] and d["principal"] == "bob@review", d
print(d["signature"], end="")
PYEOF
# Anyone can check it with ssh-keygen alone.
printf '%s\n' "$sid" | ssh-keygen -Y verify -f signers -I bob@review -n cmsctl-approval -s sig >/dev/null ||
	fail "the recorded signature does not verify with ssh-keygen"
before=$(tip)
run 0 "$CMSCTL" approve "$sid" --as bob@review --key key-bob
contains out "already approved by bob@review: nothing recorded"
[ "$(tip)" = "$before" ] || fail "a second approval by the same principal made a commit"
# A copy of bob's record filed under another principal's name is not a
# second approval: with approvals: 2, bob alone does not reach it, and
# audit verify names the copy.
sed -i 's/approvals: 1/approvals: 2/' cms.yaml
run 0 "$CMSCTL" plan -o two.plan
tid=$(git hash-object two.plan)
run 0 "$CMSCTL" approve "$tid" --as bob@review --key key-bob
git --git-dir=$H show "cms-history:redmond/approvals/$tid/bob@review.json" >doc2
plant "redmond/approvals/$tid/carol@review.json" doc2
run 7 "$CMSCTL" apply two.plan
contains err "plan ${tid:0:12} has 1 approval that counts"
contains err "not counted: bob@review (malformed approval record: filed as 'carol@review.json', the file of bob@review is 'bob@review.json')"
run 1 "$CMSCTL" audit verify
contains out "finding: redmond: approval-signature: the approval of plan ${tid:0:12} by bob@review: malformed approval record: filed as 'carol@review.json'"
sed -i 's/approvals: 2/approvals: 1/' cms.yaml
history_remove "redmond/approvals/$tid/carol@review.json"
run 1 "$CMSCTL" audit verify # eve's approval planted above is still there
lacks out "malformed approval record"
# Expired (plan_ttl 24h, on the test clock).
CMSCTL_NOW=2099-01-01T00:00:00Z run 3 "$CMSCTL" approve "$sid" --as carol@review --key key-carol
contains err "has expired"

# Stale: another plan applied since (serial 1 -> 2).  Plans carry their
# creation second: made in the same second as s.plan, s2.plan would be the
# very same plan (then "already applied", not "stale").
t=$(date +%s); while [ "$(date +%s)" = "$t" ]; do sleep 0.05; done
run 0 "$CMSCTL" plan -o s2.plan
s2=$(git hash-object s2.plan)
run 0 "$CMSCTL" apply s.plan
run 3 "$CMSCTL" approve "$s2" --as carol@review --key key-carol
contains err "is stale: it was made against serial 1, store 'redmond' is at serial 2"

# signed_approvals: false counts an unsigned approval of someone else.
sed -i 's/allowed_signers: signers/signed_approvals: false/' cms.yaml
sed -i 's/primary: pool-b/primary: pool-X/; s/mirror: pool-a/mirror: pool-b/; s/primary: pool-X/primary: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
run 0 "$CMSCTL" approve "$(git hash-object back.plan)" --as dave@review
contains out "(unsigned)"
run 0 "$CMSCTL" apply back.plan

# An approval the state holds but the history lacks (an approve whose
# history commit failed after the state recorded it): approving again
# waits for another runner's record, then commits the missing one.
sed -i 's/primary: pool-a/primary: pool-TMP/; s/primary: pool-b/primary: pool-a/; s/primary: pool-TMP/primary: pool-b/' cms.yaml
sed -i 's/mirror: pool-a/mirror: pool-TMP/; s/mirror: pool-b/mirror: pool-a/; s/mirror: pool-TMP/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o again.plan
aid=$(git hash-object again.plan)
sql .cmsctl/state.db "INSERT INTO approvals (plan_id, store, approver, approved_at) VALUES ('$aid', 'redmond', 'erin@review', '2026-01-01T00:00:00Z')"
before=$(git -C .cmsctl/history rev-list --count cms-history)
run 0 "$CMSCTL" approve "$aid" --as erin@review
contains err "is in the state but not in the history: recording it now"
[ "$(git -C .cmsctl/history rev-list --count cms-history)" = $((before + 1)) ] ||
	fail "the missing approval was not committed"
[ "$(git -C .cmsctl/history log -1 --format='%(trailers:key=Approved-By,valueonly)' cms-history)" = erin@review ] ||
	fail "the last commit is not erin's approval"
run 0 "$CMSCTL" approve "$aid" --as erin@review
contains out "already approved by erin@review: nothing recorded"
[ "$(git -C .cmsctl/history rev-list --count cms-history)" = $((before + 1)) ] ||
	fail "a second approval was committed"

# An approval only the state has, counted by an apply: the apply's commit
# names it (Approved-By), and audit verify finds no record of it.
sql .cmsctl/state.db "INSERT INTO approvals (plan_id, store, approver, approved_at) VALUES ('$aid', 'redmond', 'frank@review', '2026-01-01T00:00:00Z')"
run 0 "$CMSCTL" apply "$aid"
run 1 "$CMSCTL" audit verify
contains out "finding: redmond: approval-without-record: apply commit"
contains out "counted the approval of plan ${aid:0:12} by frank@review, but 'redmond/approvals/$aid/frank@review.json' is not in the history"
lacks out "by erin@review, but"
finish
