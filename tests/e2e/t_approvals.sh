#!/usr/bin/env bash
# policy.approvals: apply refuses a plan without N approvals of that exact
# id from people other than its author; approvals land in the state, the
# report and the history (Approved-By:).
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
sed -i 's/approvals: 0/approvals: 1/' cms.yaml
run 0 "$CMSCTL" plan -o adopt.plan
id=$(git hash-object adopt.plan)
run 7 "$CMSCTL" apply adopt.plan
contains err "has 0 approvals from people other than its author alice@test; policy.approvals needs 1"
run 0 "$CMSCTL" approve "$id"
contains out "(the author: does not count)"
run 7 "$CMSCTL" apply adopt.plan
run 1 "$CMSCTL" approve 0123456789abcdef
run 0 "$CMSCTL" approve "${id:0:12}" --as bob@review
contains out "approved plan $id of store redmond as bob@review"
git -C .cmsctl/history log -1 --format='%(trailers:key=Approved-By,valueonly)' cms-history >who
printf 'bob@review\n\n' >want
same who want
run 0 "$CMSCTL" apply adopt.plan --json
"$PY" -c 'import json; r=json.load(open("out")); assert r["approvals"]==["bob@review"], r["approvals"]' || fail "report approvals"
git -C .cmsctl/history log -1 --format='%(trailers:key=Approved-By,valueonly)' cms-history >who
same who want
run 3 "$CMSCTL" approve "$id" --as carol@review
contains err "was already applied"
finish
