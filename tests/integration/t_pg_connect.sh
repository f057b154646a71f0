# Integration: how cmsctl logs in to a real PostgreSQL through psqlODBC.
# `user:` with password authentication (scram) works, the password reaches
# no file (test folder, /tmp), driver logging is refused in the config and
# turned off when a DSN asks for it, and a server's answer holding an
# escape sequence reaches the terminal escaped.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq
require_odbc

start_work_cluster 1

# A login role that must give its password (scram-sha-256 over TCP), on
# both servers (pg_hba.conf is not replicated).
pw="cms-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
psql_on "$PG_PORT_A" postgres -c "CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD '$pw'" >/dev/null
for n in pool-a pool-b; do
	hba="$(pg_node_dir "$n")/pg_hba.conf"
	pg_as_owner sh -c "{ echo 'host all pwuser 127.0.0.1/32 scram-sha-256'; cat '$hba'; } >'$hba.new' && mv '$hba.new' '$hba'"
done
psql_on "$PG_PORT_A" postgres -c "SELECT pg_reload_conf()" >/dev/null
psql_on "$PG_PORT_B" postgres -c "SELECT pg_reload_conf()" >/dev/null

# config [EXTRA-ATTRIBUTES]: pool-a and pool-b logging in as `user: pwuser`.
config() {
	cat >cms.yaml <<YAML
version: 1
stores:
  - name: redmond
    engine: postgresql
    databases: [xds, lis]
    servers:
      - name: pool-a
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_A;Database=postgres$1"
        user: pwuser
        password_env: CMS_TEST_PW
      - name: pool-b
        role: mirror
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_B;Database=postgres"
        user: pwuser
        password_env: CMS_TEST_PW
    location:
      primary: pool-a
      mirror: pool-b
    policy:
      login_timeout: 5s
YAML
}

config ""
export CMS_TEST_PW=$pw
if run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-a reachable as pwuser" "$(srv pool-a .reachable)" true
	expect "pool-a role" "$(srv pool-a .role)" primary
	expect "pool-b role" "$(srv pool-b .role)" mirror
fi
# The password really is checked, and the login name is sent as written.
CMS_TEST_PW=wrong-password run 0 "$CMSCTL" status -c cms.yaml --json
expect "a wrong password is refused" "$(srv pool-a .reachable)" false
contains "$W/out" 'password authentication failed for user \"pwuser\"'
run 0 "$CMSCTL" apply -c cms.yaml --yes

# Driver logging in a connection string is refused before any connection.
for attr in ";Debug=1" ";CommLog=1" "; b2 = 1" ";Logdir={$W/logs}"; do
	config "$attr"
	run 1 "$CMSCTL" validate -c cms.yaml
	contains "$W/err" "driver logging in 'connection'"
done

# A DSN that turns psqlODBC's logs on: cmsctl's own connections keep them off.
mkdir -p "$W/logs"
cat >"$W/odbc.ini" <<INI
[cms-a]
Driver = PostgreSQL Unicode
Servername = 127.0.0.1
Port = $PG_PORT_A
Database = postgres
Debug = 1
CommLog = 1
Logdir = $W/logs
INI
sed -e '0,/connection: .*/s||dsn: cms-a|' cms.yaml >cms-dsn.yaml
config ""
sed -i -e '0,/connection: .*/s||dsn: cms-a|' cms.yaml
if ODBCINI=$W/odbc.ini run 0 "$CMSCTL" status -c cms.yaml --json; then
	expect "pool-a reachable through the DSN" "$(srv pool-a .reachable)" true
fi
expect "psqlODBC log files written" "$(find "$W/logs" -type f | wc -l)" 0

# The driver registered with CommLog=1 (Debian's odbc-postgresql does so):
# psqlODBC falls back to that once a process's last connection closes, and
# would log that disconnect to /tmp/psqlodbc_<program><user><pid>.log.
# cmsctl parks its last session instead: no file, whichever command.
mkdir -p "$W/sysini"
cat >"$W/sysini/odbcinst.ini" <<INI
[PostgreSQL Unicode]
Driver = psqlodbcw.so
Debug = 0
CommLog = 1
INI
config ""
for cmd in "status -c cms.yaml --json" "plan -c cms.yaml" "apply -c cms.yaml --yes"; do
	# shellcheck disable=SC2086 # the words of the command
	ODBCSYSINI=$W/sysini "$CMSCTL" $cmd >"$W/out" 2>"$W/err" &
	pid=$!
	crc=0
	wait "$pid" || crc=$?
	expect "cmsctl $cmd through the CommLog=1 registration exits" "$crc" 0
	expect "psqlODBC's log of cmsctl $cmd's last disconnect" \
		"$(find /tmp -maxdepth 1 -name "psqlodbc_*[!0-9]$pid.log" | wc -l)" 0
done
srv_json=$(jq -c '[.stores[0].observed.servers[] | .reachable]' <(ODBCSYSINI=$W/sysini "$CMSCTL" status -c cms.yaml --json))
expect "both servers reachable through that registration" "$srv_json" "[true,true]"

# The password is in no file cmsctl or the driver could have written.
leaks=$(grep -rlsF --devices=skip -e "$pw" "$W" "$PGCLUSTER_DIR" /tmp 2>/dev/null || true)
expect "files holding the password" "$leaks" ""

# An escape sequence in a server's answer (a role name) reaches the terminal
# escaped: the fence refuses an override of default_transaction_read_only
# and names the role.
config ""
esc=$(printf '\033')
psql_on "$PG_PORT_A" postgres -c "CREATE ROLE \"evil${esc}[31mred\"; ALTER ROLE \"evil${esc}[31mred\" SET default_transaction_read_only = off" >/dev/null
sed -i -e 's/primary: pool-a/primary: pool-b/' -e 's/mirror: pool-b/mirror: pool-a/' cms.yaml
run 7 "$CMSCTL" apply -c cms.yaml --yes
contains "$W/err" 'evil\x1b[31mred'
if grep -q "$esc" "$W/err" "$W/out"; then
	fail "a raw escape character reached the terminal"
fi
psql_on "$PG_PORT_A" postgres -c "DROP ROLE \"evil${esc}[31mred\"" >/dev/null
finish
