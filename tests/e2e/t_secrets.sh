#!/usr/bin/env bash
# No secret reaches a plan, the state, the history, a report or a message:
# a password given by environment variable and by file is used for real
# connections (and a failing one), then searched for everywhere cmsctl
# writes.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
secret='S3cr3t-Zq9-never-print-me'
quickstart
sql registry.db "CREATE TABLE cms_location (store TEXT PRIMARY KEY, primary_server TEXT NOT NULL, mirror_server TEXT, serial INTEGER NOT NULL, lineage TEXT, updated_at TEXT NOT NULL)"
printf '%s\n' "$secret" >pw && chmod 600 pw
export CMS_PUB_PASSWORD=$secret
cat >>cms.yaml <<YAML
      - odbc: "Driver=SQLite3;Database=$T/registry.db"
        password_env: CMS_PUB_PASSWORD
      - odbc: "Driver=SQLite3;Database=$T/registry.db"
        password_file: $T/pw
YAML
run 0 "$CMSCTL" plan -o adopt.plan
cat out err >>all-output
run 0 "$CMSCTL" apply adopt.plan --report r.html --json
cat out err >>all-output
run 0 "$CMSCTL" status --json
cat out err >>all-output

# A connection that fails, with the password in play: the message names the
# server and the ODBC diagnostic, never the password.
cat >pg.yaml <<YAML
version: 1
stores:
  - name: other
    engine: postgresql
    databases: [xds]
    servers:
      - name: pg-a
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=postgres;Uid=cmsctl"
        password_env: CMS_PUB_PASSWORD
      - name: pg-b
        role: mirror
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=2;Database=postgres;Uid=cmsctl"
        password_file: $T/pw
    location:
      primary: pg-a
    policy:
      login_timeout: 2s
YAML
run 0 "$CMSCTL" status -c pg.yaml
cat out err >>all-output
contains out "pg-a            unreachable"
run 7 "$CMSCTL" plan -c pg.yaml
cat out err >>all-output

if grep -rF -- "$secret" all-output adopt.plan r.html; then fail "a secret reached an output"; fi
sql .cmsctl/state.db .dump >state.sql
if grep -F -- "$secret" state.sql; then fail "a secret reached the state"; fi
git -C .cmsctl/history log -p cms-history >history.txt
[ -s history.txt ] || fail "empty history"
if grep -F -- "$secret" history.txt; then fail "a secret reached the history"; fi
finish
