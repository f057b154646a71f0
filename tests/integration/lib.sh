# Sourced by the integration tests t_pg_*.sh: the checks they share, on top
# of pgcluster.sh (which this sources; it starts and stops the clusters).
#
#   set -euo pipefail
#   . "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"
#   require_tools jq
#   require_odbc
#   start_work_cluster 2          # pg_start_cluster, then W made and entered
#   cms_config pool-a pool-b "catch_up_timeout: 30s"
#   run 0 "$CMSCTL" apply -c cms.yaml --yes || finish
#   expect "pool-b in recovery" "$(pg_in_recovery "$PG_PORT_B")" t
#   finish
#
# Prerequisites (each skips with exit 77, or fails in CI, via pgc_missing):
#   require_tools TOOL...   every TOOL is on PATH
#   require_odbc            the ODBC driver 'PostgreSQL Unicode' is registered
#
# Checks; each FAIL counts in $failures, `finish` exits 1 if any did:
#   fail MSG / pass MSG
#   expect WHAT GOT WANT    GOT equals WANT
#   run EXPECTED-EXIT CMD...
#                           CMD exits EXPECTED-EXIT; its stdout in $W/out, its
#                           stderr in $W/err (both shown when it does not)
#   contains FILE TEXT      FILE holds TEXT (fixed string)
#   finish                  exit 1 if a check failed, else exit 0
#   srv SERVER JQ-FILTER    JQ-FILTER on SERVER's entry in the observed
#                           servers of `status --json` output in $W/out
#
# Set-up:
#   start_work_cluster NSTANDBYS
#       pg_start_cluster (NSTANDBYS 1 or 2) on a fresh /tmp/cmsctl-pg.XXXXXX, then makes the
#       work folder W=$PGCLUSTER_DIR/work and enters it.
#   cms_config [--no-publish] PRIMARY MIRROR [POLICY-LINE...]
#       Writes cms.yaml (current folder) for the store `redmond` (databases
#       xds and lis) on the cluster's ports (pool-a at PG_HOST_A once
#       pg_move_to_netns moved it): pool-a, pool-b (role mirror)
#       and, when the cluster has one (PG_PORT_DR set), dublin-dr (role
#       backup).  location names PRIMARY and MIRROR (no mirror line when
#       MIRROR is empty); policy holds each POLICY-LINE ("key: value"), in
#       order, then `login_timeout: 2s`; publish is location.json unless
#       --no-publish.
#
# psql checks, each from a fresh session to the server at PORT:
#   pg_in_recovery PORT     t or f (SELECT pg_is_in_recovery())
#   pg_timeline PORT        the control file's timeline (pg_control_checkpoint)
#   pg_read_only PORT       on or off (SHOW default_transaction_read_only)
#
# State:
#   sq SQL                  SQL on the state database .cmsctl/state.db

: "${CMSCTL:?CMSCTL must name the cmsctl binary}"
: "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}"
# shellcheck source=SCRIPTDIR/pgcluster.sh
. "$CMSCTL_SOURCE_DIR/tests/integration/pgcluster.sh"

# ---- prerequisites ----
require_tools() {
	local tool
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			pgc_missing "$tool not found (apt-get install $tool)"
		fi
	done
}

require_odbc() {
	if ! odbcinst -q -d 2>/dev/null | grep -qx '\[PostgreSQL Unicode\]'; then
		pgc_missing "ODBC driver 'PostgreSQL Unicode' not registered (apt-get install odbc-postgresql)"
	fi
}

# ---- checks ----
failures=0
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
pass() { printf 'ok: %s\n' "$*" >&2; }

expect() {
	if [ "$2" = "$3" ]; then
		pass "$1: $2"
	else
		fail "$1: got '$2', want '$3'"
	fi
}

run() {
	local want=$1 got=0
	shift
	"$@" >"$W/out" 2>"$W/err" || got=$?
	if [ "$got" != "$want" ]; then
		fail "'$*' exited $got, expected $want"
		sed 's/^/  stdout: /' "$W/out" >&2
		sed 's/^/  stderr: /' "$W/err" >&2
		return 1
	fi
	pass "'$*' exited $want"
}

contains() {
	if grep -qF -- "$2" "$1"; then
		pass "$(basename "$1") says '$2'"
	else
		fail "$(basename "$1") lacks '$2'"
		sed 's/^/  | /' "$1" >&2
	fi
}

lacks() {
	if grep -qF -- "$2" "$1"; then
		fail "$(basename "$1") says '$2'"
		sed 's/^/  | /' "$1" >&2
	else
		pass "$(basename "$1") does not say '$2'"
	fi
}

finish() {
	if [ "$failures" -ne 0 ]; then
		printf '%d check(s) failed\n' "$failures" >&2
		exit 1
	fi
	exit 0
}

srv() { jq -r --arg s "$1" ".stores[0].observed.servers[] | select(.server == \$s) | $2" "$W/out"; }

# ---- set-up ----
start_work_cluster() {
	pg_start_cluster "$(mktemp -d /tmp/cmsctl-pg.XXXXXX)" "$1"
	W=$PGCLUSTER_DIR/work
	mkdir -p "$W"
	cd "$W" || exit 1
}

cms_config() {
	local publish=1 primary mirror line
	if [ "${1:-}" = --no-publish ]; then
		publish=0
		shift
	fi
	primary=$1 mirror=$2
	shift 2
	{
		cat <<EOF
version: 1
stores:
  - name: redmond
    engine: postgresql
    databases: [xds, lis]
    servers:
      - name: pool-a
        connection: "Driver={PostgreSQL Unicode};Server=$(pgc_host "$PG_PORT_A");Port=$PG_PORT_A;Database=postgres;Uid=cmsctl"
      - name: pool-b
        role: mirror
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_B;Database=postgres;Uid=cmsctl"
EOF
		if [ -n "${PG_PORT_DR:-}" ]; then
			cat <<EOF
      - name: dublin-dr
        role: backup
        connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PG_PORT_DR;Database=postgres;Uid=cmsctl"
EOF
		fi
		printf '    location:\n      primary: %s\n' "$primary"
		if [ -n "$mirror" ]; then
			printf '      mirror: %s\n' "$mirror"
		fi
		printf '    policy:\n'
		for line in "$@" "login_timeout: 2s"; do
			printf '      %s\n' "$line"
		done
		if [ "$publish" = 1 ]; then
			printf '    publish:\n      - file: location.json\n'
		fi
	} >cms.yaml
}

# ---- psql checks ----
pg_in_recovery() { psql_on "$1" postgres -At -c 'SELECT pg_is_in_recovery()'; }
pg_timeline() { psql_on "$1" postgres -At -c 'SELECT timeline_id FROM pg_control_checkpoint()'; }
pg_read_only() { psql_on "$1" postgres -At -c 'SHOW default_transaction_read_only'; }

# ---- state ----
sq() { sqlite3 .cmsctl/state.db "$1"; }

now_ms() { date +%s%3N; }

# ended_within WHAT START_MS DEADLINE_MS: the time since START_MS is at most
# the command's deadline plus 1 s, plus SLACK_MS (2 s unless
# CMSCTL_TEST_SLACK_MS says otherwise) for a machine so loaded that starting
# a process takes a while; a time past deadline + 1 s but within the slack
# is shown, not failed.
SLACK_MS=${CMSCTL_TEST_SLACK_MS:-2000}
ended_within() {
	local took=$(($(now_ms) - $2)) bound=$(($3 + 1000))
	if [ "$took" -le "$bound" ]; then
		pass "$1 ended in ${took} ms (deadline $3 ms + 1 s)"
	elif [ "$took" -le $((bound + SLACK_MS)) ]; then
		pass "$1 ended in ${took} ms: past its deadline $3 ms + 1 s, within the slack of a loaded machine"
	else
		fail "$1 took ${took} ms, past its deadline $3 ms + 1 s + slack ${SLACK_MS} ms"
	fi
}

# writers: the servers of the pair (pool-a, pool-b) that take writes now
# (out of recovery, default_transaction_read_only off, from a new
# session), or "none".  One that does not answer takes none.
writers() {
	local w= s
	for s in pool-a:$PG_PORT_A pool-b:$PG_PORT_B; do
		[ "$(pg_writable "${s#*:}" 2>/dev/null)" = t ] && w="$w${w:+ }${s%%:*}"
	done
	echo "${w:-none}"
}

# wait_hold FILE: waits (20 s at most) until a command held by
# CMSCTL_TEST_HOLD_AT says so in FILE, its stderr.
wait_hold() {
	local _
	for _ in $(seq 1 400); do
		grep -q "holding at step" "$1" 2>/dev/null && break
		sleep 0.05
	done
	contains "$1" "holding at step"
}

# hold_apply N PLAN [LOOKS]: starts `cmsctl apply -c cms.yaml PLAN` in the
# background, held once step N is journaled done (CMSCTL_TEST_HOLD_AT), and
# waits (LOOKS looks 50 ms apart, 1200 unless given) until the journal says
# so or the apply has exited.  Sets held (its pid), id (the plan's id) and
# held_status (the step's status in the journal at the last look).
hold_apply() {
	local n=$1 plan=$2 looks=${3:-1200} i
	id=$(git hash-object "$plan")
	CMSCTL_TEST_HOLD_AT="$n:done" "$CMSCTL" apply -c cms.yaml "$plan" >"$W/apply.out" 2>"$W/apply.err" &
	held=$!
	held_status=
	for i in $(seq 1 "$looks"); do
		held_status=$(sq "SELECT status FROM steps WHERE n = $n AND run_id =
			(SELECT id FROM runs WHERE plan_id = '$id')" 2>/dev/null || true)
		[ "$held_status" = done ] && break
		kill -0 "$held" 2>/dev/null || break
		sleep 0.05
	done
}

# continue_held PID: lets an apply held by CMSCTL_TEST_HOLD_AT go on.  The
# hold installs its SIGCONT handler after the journal write the test saw:
# wait for its message in $W/apply.err first, else the signal could come
# before the handler and be lost (a full minute's hold).
continue_held() {
	local _
	for _ in $(seq 1 400); do
		grep -q "holding at step" "$W/apply.err" 2>/dev/null && break
		sleep 0.05
	done
	kill -CONT "$1"
}
