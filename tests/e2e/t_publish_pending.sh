#!/usr/bin/env bash
# Publish never wedges the store and never goes backwards:
# - a publish target that fails after promotion leaves the move done and
#   recorded (exit 6), becomes a problem that status shows, does not block
#   the next plan and apply, and is published again by restore;
# - a target marked required: false never fails a run;
# - a target that holds a newer serial of the lineage, or another lineage
#   (a second state started elsewhere), refuses the move before any change
#   (exit 7), naming both.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
sql registry.db "CREATE TABLE cms_location (store TEXT PRIMARY KEY, primary_server TEXT NOT NULL, mirror_server TEXT, serial INTEGER NOT NULL, lineage TEXT, updated_at TEXT NOT NULL)"
# A target that is down while the file "down" exists.
cat >hook.sh <<'SH'
#!/bin/sh
d=$(dirname "$0")
if [ -e "$d/down" ]; then echo "registry unreachable" >&2; exit 3; fi
echo "$CMS_PRIMARY $CMS_SERIAL $CMS_LINEAGE" >"$d/hook.out"
SH
chmod +x hook.sh
cat >>cms.yaml <<YAML
      - odbc: "Driver=SQLite3;Database=$T/registry.db"
        table: cms_location
      - command: [$T/hook.sh]
        timeout: 5s
YAML
primary_is() { # SERVER: the quick start's servers say which one takes writes
	[ "$(sql .cmsctl/state.db "SELECT primary_server FROM stores")" = "$1" ] ||
		fail "recorded primary is not $1"
}
status_problems() { # the problem codes status reports (status itself must work)
	local rc=0
	"$CMSCTL" status --json --offline >st.json 2>st.err || rc=$?
	[ "$rc" = 0 ] || { fail "status exited $rc: $(cat st.err)"; echo "status-failed"; return; }
	jq -r '.stores[0].problems[].code' st.json
}

run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
lineage=$(sql .cmsctl/state.db "SELECT lineage FROM stores")
[ "$(jq -r '.lineage + " " + (.serial|tostring)' published/location.json)" = "$lineage 1" ] ||
	fail "the location file does not carry lineage and serial: $(cat published/location.json)"
[ "$(sql registry.db 'SELECT serial, lineage FROM cms_location')" = "1|$lineage" ] ||
	fail "odbc row after adopt"
[ "$(cat hook.out)" = "pool-a 1 $lineage" ] || fail "hook got $(cat hook.out)"

# 1. The command target is down during a switchover.
touch down
run 0 "$CMSCTL" plan -o s.plan
run 6 "$CMSCTL" apply s.plan
contains err "1 required publish target failed (publish command '$T/hook.sh' failed with exit 3); the move itself is done: store 'redmond' is at primary 'pool-b', recorded as serial 2"
contains err "registry unreachable"
primary_is pool-b
[ "$(serial)" = 2 ] || fail "serial after the switchover: $(serial)"
[ "$(jq -r .serial published/location.json)" = 2 ] || fail "the file target was not published"
[ "$(sql registry.db 'SELECT primary_server, serial FROM cms_location')" = "pool-b|2" ] ||
	fail "the odbc target was not published"
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs WHERE outcome = 'running'")" = 0 ] ||
	fail "the run was left open"
[ "$(git -C .cmsctl/history show cms-history:redmond/location.json | jq -r .serial)" = 2 ] ||
	fail "the history lacks the new location"
subject=$(git -C .cmsctl/history log -1 --format=%s cms-history)
case "$subject" in
*"1 publish target left to retry") pass "history subject: $subject" ;;
*) fail "history subject: $subject" ;;
esac
[ "$(status_problems)" = publish_pending ] || fail "status problems: $(cat st.json st.err)"
validate_json status.schema.json st.json
run 2 "$CMSCTL" status --offline --detailed-exitcode
contains out "command $T/hook.sh failed in run"

# The next plan and apply are not blocked by it (the target is still down).
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
run 6 "$CMSCTL" apply back.plan
primary_is pool-a
[ "$(serial)" = 3 ] || fail "serial after moving back: $(serial)"

# Restore publishes again once the target is back.
rm down
run 0 "$CMSCTL" restore --yes
[ "$(cat hook.out)" = "pool-a 3 $lineage" ] || fail "restore did not publish again: $(cat hook.out)"
[ -z "$(status_problems)" ] || fail "status problems after restore: $(cat st.json)"
run 0 "$CMSCTL" status --offline --detailed-exitcode

# 2. required: false: a failure is a follow-up, never a failed run.
sed -i "s|      - command: \[$T/hook.sh\]|      - command: [$T/hook.sh]\n        required: false|" cms.yaml
run 0 "$CMSCTL" validate
touch down
sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o opt.plan
contains out "(not required)"
run 0 "$CMSCTL" apply opt.plan
contains out "'cmsctl restore' publishes it again"
primary_is pool-b
[ -z "$(status_problems)" ] || fail "a target not required is a problem: $(cat st.json)"
run 0 "$CMSCTL" status --offline
contains out "failed in run"
rm down

# 3. A target that holds a newer serial of the lineage: refused before any
# change, naming both; nothing moved.
jq '.serial = 99' published/location.json >f.json && mv f.json published/location.json
cp published/location.json file.before
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o newer.plan
runs_before=$(sql .cmsctl/state.db "SELECT count(*) FROM runs")
run 7 "$CMSCTL" apply newer.plan
contains err "location file 'published/location.json' holds serial 99 of lineage $lineage, newer than serial 5 this run would publish"
primary_is pool-b
[ "$(serial)" = 4 ] || fail "serial after the refusal: $(serial)"
same file.before published/location.json
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs")" = "$runs_before" ] ||
	fail "a refused move started a run"
jq '.serial = 4' published/location.json >f.json && mv f.json published/location.json

# The odbc target too.
sql registry.db "UPDATE cms_location SET serial = 42"
run 0 "$CMSCTL" plan -o newer2.plan
run 7 "$CMSCTL" apply newer2.plan
contains err "table 'cms_location' (row of store 'redmond') holds serial 42 of lineage $lineage"
primary_is pool-b
sql registry.db "UPDATE cms_location SET serial = 4"

# 4. A second state started from another folder: its adoption would
# publish serial 1 of a new lineage over serial 4 of this one.  First with
# every target (the file refuses), then with the odbc target alone.
mkdir other other2
sed "s|path: servers/|path: $T/servers/|; s|file: published/|file: $T/published/|;
	s/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/" cms.yaml >other/cms.yaml
cp published/location.json file.before
run 0 "$CMSCTL" plan -c other/cms.yaml -o other/adopt.plan
run 7 "$CMSCTL" apply -c other/cms.yaml other/adopt.plan
contains err "location file '$T/published/location.json' holds serial 4 of lineage $lineage; this run would publish serial 1 of another lineage"
same file.before published/location.json
grep -v "file: $T/published/location.json" other/cms.yaml >other2/cms.yaml
run 0 "$CMSCTL" plan -c other2/cms.yaml -o other2/adopt.plan
run 7 "$CMSCTL" apply -c other2/cms.yaml other2/adopt.plan
contains err "table 'cms_location' (row of store 'redmond') holds serial 4 of lineage $lineage; this run would publish serial 1 of another lineage"
[ "$(sql registry.db 'SELECT serial, lineage FROM cms_location')" = "4|$lineage" ] ||
	fail "the odbc row was overwritten"
for o in other other2; do
	[ "$(sql $o/.cmsctl/state.db "SELECT count(*) FROM stores")" = 0 ] ||
		fail "the state in $o recorded an adoption"
done

# 5. A state behind its targets (an older copy put back): restore would
# re-assert serial 4 over the targets' serial 5: refused before any change.
cp .cmsctl/state.db state-at-4.db
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o five.plan
run 0 "$CMSCTL" apply five.plan
[ "$(serial)" = 5 ] || fail "serial $(serial)"
cp state-at-4.db .cmsctl/state.db
# pool-b, the primary of the old copy, as a fenced former primary: without
# the check restore would unfence it and fence pool-a, the real primary.
for d in xds lis; do sql servers/pool-b/$d.db "UPDATE cms_control SET role = 'primary', read_only = 1"; done
roles_before=$(for s in pool-a pool-b; do for d in xds lis; do sql servers/$s/$d.db "SELECT role || read_only FROM cms_control"; done; done)
run 7 "$CMSCTL" restore --yes
contains err "holds serial 5 of lineage $lineage, newer than serial 4 this run would publish"
[ "$(for s in pool-a pool-b; do for d in xds lis; do sql servers/$s/$d.db "SELECT role || read_only FROM cms_control"; done; done)" = "$roles_before" ] ||
	fail "a refused restore changed a server"
[ "$(jq -r .serial published/location.json)" = 5 ] || fail "the file went back"
finish
