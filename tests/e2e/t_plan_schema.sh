#!/usr/bin/env bash
# Every plan the golden tests pin (one per mode and shape) validates against
# schemas/plan.schema.json with a real JSON Schema validator, and so do the
# plans the binary writes for the quick start.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
n=0
for f in "$SRC"/tests/planner/*/expected.json; do
	validate_json plan.schema.json "$f"
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n golden plans"
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
validate_json plan.schema.json adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o switchover.plan
validate_json plan.schema.json switchover.plan
run 0 "$CMSCTL" plan --offline -o offline.plan
validate_json plan.schema.json offline.plan
finish
