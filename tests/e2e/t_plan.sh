#!/usr/bin/env bash
# cmsctl plan, show and history on the quick start (sqlite engine, real
# files through the real SQLite3 ODBC driver): adoption first, the plan
# file's determinism and schema, the history's commits, paths and trailers,
# and an operator's own repository left untouched.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

# The history lives inside the operator's own repository (work tree clean).
git init -q -b main .
git -c user.name=op -c user.email=op@x commit -q --allow-empty -m "operator's own"
quickstart
printf '/*\n!/cms.yaml\n!/setup.sh\n!/write.sh\n!/.gitignore\n' >.gitignore
git add cms.yaml setup.sh write.sh .gitignore
git -c user.name=op -c user.email=op@x commit -q -m "config"
head_before=$(git rev-parse HEAD)
cp .git/index index.before

# Never adopted: the first plan adopts what the servers report.
export CMSCTL_NOW=2026-03-01T10:00:00Z
run 2 "$CMSCTL" plan --detailed-exitcode --history .git
contains out "Plan for store redmond (engine sqlite): adopt"
contains out "record the location pool-a, mirror pool-b as serial 1 of a new lineage (no server is changed)"
contains out "the config wants primary pool-b: plan again after this adoption to move there"
run 0 "$CMSCTL" plan -o adopt.plan --history .git
id=$(git hash-object adopt.plan)
contains out "Plan id: $id"
contains err "saved plan $id to 'adopt.plan' and the history"
validate_json plan.schema.json adopt.plan

# Same inputs, same clock: the same bytes and id.
run 0 "$CMSCTL" plan --json --history .git
same out adopt.plan
# Another clock time: another id (the clock is an input).
CMSCTL_NOW=2026-03-01T10:00:01Z run 0 "$CMSCTL" plan --json --history .git
if cmp -s out adopt.plan; then fail "a plan made at another time has the same bytes"; fi

# show: by file and by id (full and abbreviated) from the history.
run 0 "$CMSCTL" show adopt.plan --history .git
cp out show-file.txt
run 0 "$CMSCTL" show "$id" --history .git
same out show-file.txt
run 0 "$CMSCTL" show "${id:0:10}" --history .git
same out show-file.txt
run 0 "$CMSCTL" show "$id" --json --history .git
same out adopt.plan
run 1 "$CMSCTL" show 0123456789abcdef --history .git
contains err "no plan '0123456789abcdef' in the history"

# The history: one commit on cms-history, layout and trailers as designed,
# and the operator's branch, index and work tree untouched.
git log --format=%s cms-history >subjects
printf 'redmond: plan adopt pool-a with mirror pool-b\n' >want
same subjects want
git ls-tree -r --name-only cms-history >paths
printf 'redmond/plans/0-%s.json\nredmond/plans/0-%s.txt\n' "$id" "$id" >want
same paths want
git show "cms-history:redmond/plans/0-$id.json" >committed
same committed adopt.plan
git log -1 --format='%(trailers:key=Plan-Id,valueonly)%(trailers:key=Store-Serial,valueonly)%(trailers:key=Operator,valueonly)' cms-history >trailers
printf '%s\n0\nalice@test\n\n' "$id" >want
same trailers want
[ "$(git rev-parse HEAD)" = "$head_before" ] || fail "HEAD moved"
[ "$(git symbolic-ref HEAD)" = refs/heads/main ] || fail "HEAD is no longer main"
cmp -s .git/index index.before || fail "the index changed"
rm index.before
git status --porcelain >status
: >empty
same status empty

run 0 "$CMSCTL" history --history .git
contains out "redmond: plan adopt pool-a with mirror pool-b"
contains out "plan $id, serial 0, by alice@test"
run 0 "$CMSCTL" history --json --history .git
"$PY" -c 'import json,sys; h=json.load(open("out")); assert len(h)==1 and h[0]["plan_id"]==sys.argv[1], h' "$id" ||
	fail "history --json"

# --offline: no probe; the plan says so.
run 0 "$CMSCTL" plan --offline --history .git
contains out "made --offline: no server was probed"

# A missing server file is an unreachable server, named in the plan.
rm servers/dublin-dr/lis.db
run 0 "$CMSCTL" plan --history .git
contains out "dublin-dr       unreachable"
contains out "no database file"
finish
