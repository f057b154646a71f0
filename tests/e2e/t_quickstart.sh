#!/usr/bin/env bash
# The README's quick start, exactly as documented (examples/quickstart/run.sh),
# then what it left behind: the published location, the state, the report
# (schema-valid JSON, an HTML page that parses) and the history.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

run 0 env CMSCTL="$CMSCTL" bash "$SRC/examples/quickstart/run.sh" "$T/qs"
contains err "Quick start done in $T/qs"
cd "$T/qs"
"$PY" -c 'import json; d=json.load(open("published/location.json")); assert d["primary"]=="pool-b" and d["mirror"]=="pool-a" and d["serial"]==2, d' ||
	fail "published location"
[ "$(serial)" = 2 ] || fail "serial is $(serial), expected 2"
[ "$(sql servers/pool-b/xds.db 'SELECT role, read_only FROM cms_control')" = "primary|0" ] || fail "pool-b is not a writable primary"
[ "$(sql servers/pool-a/xds.db 'SELECT role FROM cms_control')" = "mirror" ] || fail "pool-a is not a mirror"
# The switchover lost nothing: pool-b has every row pool-a had.
[ "$(sql servers/pool-b/xds.db 'SELECT count(*) FROM cms_data')" = 8 ] || fail "pool-b lacks rows"

h=.cmsctl/history
git -C "$h" log --format=%s cms-history -- redmond/location.json >subjects
printf 'redmond: apply switchover pool-a -> pool-b: ok\nredmond: apply adopt pool-a: ok\n' >want
same subjects want
run_dir=$(git -C "$h" log -1 '--format=%(trailers:key=Run-Id,valueonly)' cms-history | head -1)
git -C "$h" show "cms-history:redmond/runs/$run_dir/report.json" >report.json
validate_json report.schema.json report.json
"$PY" - report.json <<'PYEOF' || fail "report content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["outcome"] == "ok" and r["mode"] == "switchover", r["outcome"]
assert r["reason"] == "move to pool-b for the quick start" and r["ticket"] == "CHG-1", (r["reason"], r["ticket"])
# The window is measured from the start of the fence to the promoted target:
# it spans the fence, catch-up and promote steps and the journal writes
# between them, and ends before the next step (reread_roles) starts (times
# in milliseconds, durations rounded down).
from datetime import datetime
def ms(t):
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
w = r["write_unavailable_ms"]
dur = {s["action"]: s["duration_ms"] for s in r["steps"]}
at = {s["action"]: ms(s["started_at"]) for s in r["steps"]}
assert isinstance(w, int) and w > 0, w
assert w >= dur["fence"] + dur["catch_up"] + dur["promote"] - 2, (w, dur)
assert w <= at["reread_roles"] - at["fence"] + 2, (w, at, dur)
actions = [s["action"] for s in r["steps"]]
assert actions == ["check_target", "fence", "catch_up", "promote", "reread_roles", "demote",
                   "publish", "verify"], actions
assert all(s["status"] == "done" for s in r["steps"])
assert any(st["sql"].startswith("UPDATE cms_control SET read_only = 1") for s in r["steps"] for st in s["statements"])
PYEOF
git -C "$h" show "cms-history:redmond/runs/$run_dir/report.html" >committed.html
same committed.html switchover-report.html
"$PY" - switchover-report.html <<'PYEOF' || fail "the HTML report does not parse"
import sys, html5lib
p = html5lib.HTMLParser(strict=True)
p.parse(open(sys.argv[1], "rb").read())
PYEOF
finish
