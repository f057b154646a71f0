#!/usr/bin/env bash
# The state records a location before any target is given it:
# - an odbc target that is down (its database cannot be opened) when a
#   store is adopted: the adoption is recorded, exit 6, status shows the
#   target pending, and restore publishes it once it is back;
# - an apply killed (SIGKILL) right after it recorded an adoption and
#   before its first publish: no target holds a location the state lacks;
#   restore finishes the run and publishes the recorded lineage, which a
#   second state's adoption then cannot overwrite.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
cat >>cms.yaml <<YAML
      - odbc: "Driver=SQLite3;Database=$T/registry/registry.db"
        table: cms_location
YAML
status_problems() {
	local rc=0
	"$CMSCTL" status --json --offline >st.json 2>st.err || rc=$?
	[ "$rc" = 0 ] || { fail "status exited $rc: $(cat st.err)"; echo "status-failed"; return; }
	jq -r '.stores[0].problems[].code' st.json
}

# 1. The odbc target's folder does not exist: its database cannot be opened.
run 0 "$CMSCTL" plan -o adopt.plan
run 6 "$CMSCTL" apply adopt.plan --json
contains err "1 required publish target failed"
[ "$(serial)" = 1 ] || fail "the adoption was not recorded: serial $(serial)"
lineage=$(sql .cmsctl/state.db "SELECT lineage FROM stores")
[ "$(jq -r '.lineage + " " + (.serial|tostring)' published/location.json)" = "$lineage 1" ] ||
	fail "the file target: $(cat published/location.json)"
[ "$(jq -r '[.steps[] | select(.action == "publish") | .status] | join(" ")' out)" = "done failed" ] ||
	fail "publish steps: $(jq -c '[.steps[] | select(.action == "publish") | .status]' out)"
[ "$(jq -r '.prechecks[] | select(.check | contains("odbc table")) | .observed' out)" != "" ] ||
	fail "the report does not say the odbc target could not be read before the run"
[ "$(status_problems)" = publish_pending ] || fail "status: $(cat st.json)"
mkdir registry
sql registry/registry.db "CREATE TABLE cms_location (store TEXT PRIMARY KEY, primary_server TEXT NOT NULL, mirror_server TEXT, serial INTEGER NOT NULL, lineage TEXT, updated_at TEXT NOT NULL)"
run 0 "$CMSCTL" restore --yes
[ "$(sql registry/registry.db 'SELECT primary_server, serial, lineage FROM cms_location')" = "pool-a|1|$lineage" ] ||
	fail "restore did not publish the odbc target"
[ -z "$(status_problems)" ] || fail "status after restore: $(cat st.json)"

# 2. A fresh store, killed between the record and the first publish.
mkdir fresh && cd fresh
quickstart
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o adopt.plan
n=$(jq '[.steps[] | .action] | index("publish") + 1' adopt.plan)
CMSCTL_TEST_HOLD_AT="$n:running" "$CMSCTL" apply adopt.plan >/dev/null 2>apply.err &
pid=$!
for _ in $(seq 1 400); do
	grep -q "holding at step $n:running" apply.err 2>/dev/null && break
	sleep 0.05
done
contains apply.err "holding at step $n:running" || fail "apply never reached its publish step"
kill -9 $pid
wait $pid 2>/dev/null || true
[ "$(serial)" = 1 ] || fail "the adoption was not recorded before its publish: serial $(serial)"
lineage=$(sql .cmsctl/state.db "SELECT lineage FROM stores")
[ ! -e published/location.json ] || fail "a target was published before the kill"
run 6 "$CMSCTL" plan
run 0 "$CMSCTL" restore --yes --json
contains out "finish what followed"
[ "$(jq -r '.lineage + " " + (.serial|tostring)' published/location.json)" = "$lineage 1" ] ||
	fail "restore did not publish the recorded location: $(cat published/location.json 2>&1)"
# A second, empty state cannot publish over it.
mkdir other
sed "s|path: servers/|path: $T/fresh/servers/|; s|file: published/|file: $T/fresh/published/|" cms.yaml >other/cms.yaml
run 0 "$CMSCTL" plan -c other/cms.yaml -o other/adopt.plan
run 7 "$CMSCTL" apply -c other/cms.yaml other/adopt.plan
contains err "holds serial 1 of lineage $lineage; this run would publish serial 1 of another lineage"
finish
