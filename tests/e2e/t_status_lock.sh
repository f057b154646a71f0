#!/usr/bin/env bash
# status shows the store's locks: an apply SIGKILLed after the state took
# its run and before the history did leaves the store's lock behind with
# no unfinished run.  status names the lock, its holder and that the
# holder is gone, with a follow-up (unlock, or the next apply breaks it):
# another host's runs are refused (exit 4) until its lease runs out, and
# before, status said nothing of it.  It is not a problem of the store
# (--detailed-exitcode stays 0): this host's next run breaks it.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
pid=''
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$T"' EXIT
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" status --json
validate_json status.schema.json out
"$PY" -c 'import json; s=json.load(open("out"))["stores"][0]; assert s["locks"] == [], s["locks"]' ||
	fail "status --json lists a lock while none is held"
run 0 "$CMSCTL" plan -o s.plan
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" apply s.plan >apply.out 2>apply.err &
pid=$!
wait_for apply.err "holding before recording run"
kill -9 $pid
wait $pid 2>/dev/null || true
pid=''
lock=$(sql .cmsctl/state.db 'SELECT id FROM locks')
[ -n "$lock" ] || fail "the killed apply left no lock"
run 0 "$CMSCTL" status --detailed-exitcode
contains out "  lock: $lock held by alice@test (pid "
contains out "[dead] since "
contains out "follow-up: lock $lock was left by alice@test"
contains out "which is gone: the next apply or restore on its host breaks it, or 'cmsctl unlock redmond $lock'"
lacks out "interrupted"
run 0 "$CMSCTL" status --detailed-exitcode --json
validate_json status.schema.json out
"$PY" -c 'import json,sys; s=json.load(open("out"))["stores"][0]; l=s["locks"]
assert len(l) == 1 and l[0]["id"] == sys.argv[1] and l[0]["holder_state"] == "dead" and l[0]["expired"] is False, l
assert s["healthy"] is True, s["problems"]' "$lock" || fail "status --json: the dead holder's lock"
run 0 "$CMSCTL" unlock redmond "$lock"
run 0 "$CMSCTL" status
lacks out "lock:"
finish
