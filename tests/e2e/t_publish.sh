#!/usr/bin/env bash
# Publish targets: file (atomic JSON), odbc (one row, through the real
# SQLite3 ODBC driver) and command (no shell, the location in the
# environment, a timeout, a non-zero exit fails the step).
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
sql registry.db "CREATE TABLE cms_location (store TEXT PRIMARY KEY, primary_server TEXT NOT NULL, mirror_server TEXT, serial INTEGER NOT NULL, lineage TEXT, updated_at TEXT NOT NULL)"
cat >hook.sh <<'SH'
#!/bin/sh
env | grep '^CMS_' | sort >"$(dirname "$0")/hook.env"
SH
chmod +x hook.sh
cat >>cms.yaml <<YAML
      - odbc: "Driver=SQLite3;Database=$T/registry.db"
        table: cms_location
      - command: [$T/hook.sh]
        timeout: 5s
YAML
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
[ "$(sql registry.db 'SELECT store, primary_server, mirror_server, serial FROM cms_location')" = "redmond|pool-a|pool-b|1" ] ||
	fail "odbc row after adopt"
run 0 "$CMSCTL" plan -o s.plan
id=$(git hash-object s.plan)
run 0 "$CMSCTL" apply s.plan
[ "$(sql registry.db 'SELECT store, primary_server, mirror_server, serial FROM cms_location')" = "redmond|pool-b|pool-a|2" ] ||
	fail "odbc row after switchover"
contains hook.env "CMS_STORE=redmond"
contains hook.env "CMS_PRIMARY=pool-b"
contains hook.env "CMS_MIRROR=pool-a"
contains hook.env "CMS_SERIAL=2"
contains hook.env "CMS_PLAN_ID=$id"
contains hook.env "CMS_ENGINE=sqlite"

# A command that hangs is killed at its timeout and fails the step (after
# promotion: exit 6, never rolled back).
cat >hook.sh <<'SH'
#!/bin/sh
sleep 30
SH
sed -i 's/timeout: 5s/timeout: 1s/; s/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
run 6 "$CMSCTL" apply back.plan
contains err "did not finish within 1000 ms and was killed"
finish
