#!/usr/bin/env bash
# status as a health check: --detailed-exitcode is 0 when healthy and 2 for
# each problem (outage of the recorded primary, split brain, drift, a fenced
# primary, a fenced server to re-seed, an interrupted run); --json carries
# the problems as codes with fields (schemas/status.schema.json).  A run in
# progress is shown as running, not interrupted; 'lock list' says whether
# the holder is alive; 'unlock --force' of a live holder asks, or needs
# --yes.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart

# codes FILE: the problem codes of the first store, space-separated.
codes() { "$PY" -c 'import json,sys; print(" ".join(p["code"] for p in json.load(open(sys.argv[1]))["stores"][0]["problems"]))' "$1"; }
expect_codes() {   # expect_codes WANT: status --json --detailed-exitcode
	local rc=0
	[ -n "$1" ] || rc=0
	[ -n "$1" ] && rc=2
	run $rc "$CMSCTL" status --json --detailed-exitcode || return
	validate_json status.schema.json out
	[ "$(codes out)" = "$1" ] || fail "problem codes '$(codes out)', expected '$1'"
}

expect_codes ""
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
expect_codes ""
run 0 "$CMSCTL" status --detailed-exitcode
contains out "read-only"

# Outage of the recorded primary: not drift, but not healthy either.
mv servers/pool-a servers/pool-a.off
expect_codes "primary_unreachable"
"$PY" -c 'import json,sys; p=json.load(open("out"))["stores"][0]["problems"][0]; sys.exit(p["server"] != "pool-a")' ||
	fail "primary_unreachable does not name pool-a"
run 0 "$CMSCTL" status
mv servers/pool-a.off servers/pool-a

# Split brain.
for d in xds lis; do sql servers/pool-b/$d.db "UPDATE cms_control SET role = 'primary', read_only = 0"; done
expect_codes "split_brain"
run 2 "$CMSCTL" status --detailed-exitcode
contains out "problem: 2 servers report being the primary"
# Drift: only pool-b is writable.
for d in xds lis; do sql servers/pool-a/$d.db "UPDATE cms_control SET role = 'mirror'"; done
expect_codes "drift"
"$PY" -c 'import json,sys; p=json.load(open("out"))["stores"][0]["problems"][0]; sys.exit((p["recorded_primary"], p["observed_primary"]) != ("pool-a", "pool-b"))' ||
	fail "drift fields"
# The recorded primary fenced by hand, pool-b a mirror again.
for d in xds lis; do
	sql servers/pool-a/$d.db "UPDATE cms_control SET role = 'primary', read_only = 1"
	sql servers/pool-b/$d.db "UPDATE cms_control SET role = 'mirror', read_only = 0"
done
expect_codes "primary_fenced"
for d in xds lis; do sql servers/pool-a/$d.db "UPDATE cms_control SET read_only = 0"; done
expect_codes ""

# A fenced former primary left to re-seed is a follow-up; a move to it is
# refused with the way forward.
for d in xds lis; do sql servers/dublin-dr/$d.db "UPDATE cms_control SET role = 'primary', read_only = 1"; done
expect_codes "server_fenced"
run 2 "$CMSCTL" status --detailed-exitcode
contains out "dublin-dr      "
contains out "re-seed it as a copy of the primary"
for d in xds lis; do sql servers/dublin-dr/$d.db "UPDATE cms_control SET role = 'backup', read_only = 0"; done
expect_codes ""

# A run in progress: its holder is alive, so it is running, not interrupted.
run 0 "$CMSCTL" plan -o s.plan
CMSCTL_TEST_HOLD_AT="2:running" "$CMSCTL" apply s.plan >apply.out 2>apply.err &
pid=$!
for i in $(seq 1 400); do
	[ "$(sql .cmsctl/state.db "SELECT count(*) FROM steps WHERE n = 2 AND status = 'running'" 2>/dev/null || true)" = 1 ] && break
	sleep 0.05
done
run 0 "$CMSCTL" status --json
validate_json status.schema.json out
"$PY" -c 'import json,sys; s=json.load(open("out"))["stores"][0]; sys.exit(not (s["running"] and s["interrupted"] is None and "interrupted_run" not in [p["code"] for p in s["problems"]]))' ||
	fail "a run in progress is not shown as running"
run 0 "$CMSCTL" status
contains out "running: apply run"
lacks out "interrupted"
run 4 "$CMSCTL" plan
contains err "is in progress, held by alice@test (pid $pid"
run 0 "$CMSCTL" lock list
contains out "[alive]"
run 0 "$CMSCTL" lock list --json
validate_json lock-list.schema.json out
lock=$("$PY" -c 'import json; l=json.load(open("out")); print(l[0]["id"] if l[0]["holder_state"] == "alive" else "")')
[ -n "$lock" ] || fail "lock list --json: holder_state is not alive"
run 4 "$CMSCTL" unlock redmond "$lock"
contains err "that process is running"
run 5 "$CMSCTL" unlock --force redmond "$lock" </dev/null
contains err "not a terminal"
contains err "--yes"
# --yes breaks a live holder's lock without asking (the holder is then
# killed: its run is interrupted).
run 0 "$CMSCTL" unlock --force --yes redmond "$lock" --json
validate_json unlock.schema.json out
"$PY" -c 'import json,sys; d=json.load(open("out")); sys.exit((d["holder_state"], d["outcome"]) != ("alive", "forced"))' ||
	fail "unlock --force --yes of a live holder"
kill -9 $pid 2>/dev/null
{ wait $pid; } 2>/dev/null || true
expect_codes "interrupted_run"
run 0 "$CMSCTL" restore --yes
expect_codes ""

# A holder killed while it holds the lock: dead, and its lock can be broken
# without --force.
run 0 "$CMSCTL" plan -o s2.plan
id2=$(git hash-object s2.plan)
CMSCTL_TEST_HOLD_AT="2:running" "$CMSCTL" apply s2.plan >apply.out 2>apply.err &
pid=$!
# The run of this plan, not an earlier one whose journal also stopped at a
# running step 2.
for i in $(seq 1 400); do
	[ "$(sql .cmsctl/state.db "SELECT count(*) FROM steps WHERE n = 2 AND status = 'running' AND run_id = (SELECT id FROM runs WHERE plan_id = '$id2')" 2>/dev/null || true)" = 1 ] && break
	sleep 0.05
done
run 0 "$CMSCTL" lock list --json
lock=$("$PY" -c 'import json; print(json.load(open("out"))[0]["id"])')
kill -9 $pid 2>/dev/null
{ wait $pid; } 2>/dev/null || true
run 0 "$CMSCTL" lock list
contains out "[dead]"
expect_codes "interrupted_run"
run 0 "$CMSCTL" unlock redmond "$lock" --json
validate_json unlock.schema.json out
run 0 "$CMSCTL" lock list
lacks out "$lock"
finish
