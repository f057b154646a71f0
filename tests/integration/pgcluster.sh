# Sourced by integration tests: starts real PostgreSQL streaming-replication
# clusters in a private folder and tears them down again.
#
#   . "$CMSCTL_SOURCE_DIR/tests/integration/pgcluster.sh"
#   pg_start_cluster "$(mktemp -d)"      # primary + 2 standbys
#   psql_on "$PG_PORT_A" xds -c 'SELECT 1'
#
# pg_start_cluster DIR [NSTANDBYS]
#   Creates, in DIR (made if missing, owned by the postgres user when run as
#   root), three nodes: the primary `pool-a`, the streaming standby `pool-b`
#   (application_name pool-b, a synchronous standby unless PGCLUSTER_SYNC=0)
#   and, unless NSTANDBYS is 1, the standby `dublin-dr` (application_name
#   dublin-dr, asynchronous).  Each listens on a free loopback port and on a
#   unix socket in DIR/sock; local loopback authentication is `trust` (tests
#   only).  The primary gets a superuser role `cmsctl` and the databases
#   `xds` and `lis`, each with a table `t(id int primary key, v text)`.
#   Exports PGCLUSTER_DIR, PG_BIN, PG_PORT_A, PG_PORT_B, PG_PORT_DR (empty
#   with one standby), PG_SOCKDIR, and registers `trap pg_stop_all EXIT`:
#   a caller that sets its own EXIT trap must call pg_stop_all from it.
#
# pg_stop_all
#   Stops every node started here (pg_ctl stop -m immediate) and removes DIR
#   unless PGCLUSTER_KEEP=1.
#
# Helpers: pg_as_owner CMD... (runs CMD as the clusters' owner),
# psql_on PORT DB ARGS... (psql as cmsctl over TCP, stopping at the first
# error, bounded to 60 s), pg_node_dir NAME, pg_wait_streaming N.
#
# pg_move_to_netns NS NSADDR NET
#   Moves the primary pool-a into the network namespace NS (made by the
#   caller, reached from here through a veth whose namespace end has the
#   address NSADDR in the subnet NET): stops it, makes it listen on NSADDR
#   and on the namespace's own loopback, lets NET in (trust, tests only),
#   starts it inside NS and points every standby at NSADDR, then waits
#   until they stream again.  Sets PG_HOST_A=NSADDR: psql_on and the
#   checks below reach pool-a there (pgc_host PORT says where a port is).
#
# Binaries: PG_BIN when set, else the directory of `initdb` on PATH, else
# the newest /usr/lib/postgresql/*/bin.  Without initdb the library skips
# (exit 77) with a loud message, except in CI (CI=true) where a missing
# PostgreSQL is a failure (exit 1): a skip must not hide a broken runner.

PGCLUSTER_NODES=()

pgc_say() { printf 'pgcluster: %s\n' "$*" >&2; }

pgc_find_bin() {
	if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; then
		return 0
	fi
	local p
	# Resolve symlinks: /usr/local/bin/initdb may point into the real
	# bin directory that also holds pg_basebackup and psql.
	p=$(command -v initdb 2>/dev/null || true)
	if [ -n "$p" ]; then
		p=$(dirname "$(readlink -f "$p")")
		if [ -x "$p/pg_basebackup" ] && [ -x "$p/psql" ]; then
			PG_BIN=$p
			return 0
		fi
	fi
	p=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$p" ] && [ -x "$p/initdb" ]; then
		PG_BIN=$p
		return 0
	fi
	return 1
}

pgc_missing() {
	if [ "${CI:-}" = true ]; then
		pgc_say "FAIL: $* (CI=true: a missing PostgreSQL is a broken runner, not a skip)"
		exit 1
	fi
	pgc_say "SKIP: $* -- install postgresql (apt-get install postgresql) to run this test"
	exit 77
}

# Runs a command as the owner of the clusters: postgres when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# A free TCP port on 127.0.0.1, found by binding to port 0.  Another process
# may grab it before the server does; pg_start_cluster retries then.
pgc_free_port() {
	# /usr/bin/python3, the system's (install-deps.sh installs it), never
	# whatever python3 comes first on PATH (a pyenv shim may need set-up).
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
		return
	fi
	local port i
	for i in $(seq 1 200); do
		port=$(( 20000 + RANDOM % 40000 ))
		if ! ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then
			echo "$port"
			return
		fi
	done
	return 1
}

pg_node_dir() { printf '%s/%s\n' "$PGCLUSTER_DIR" "$1"; }

# The address a node's PORT is reached at: pool-a's own once it was moved
# into a network namespace, 127.0.0.1 otherwise.
pgc_host() {
	if [ -n "${PG_HOST_A:-}" ] && [ "$1" = "${PG_PORT_A:-}" ]; then
		printf '%s\n' "$PG_HOST_A"
	else
		printf '127.0.0.1\n'
	fi
}

# A test must never hang: every psql is bounded (a commit waiting for a
# synchronous standby that is gone would wait forever).
psql_on() {
	local port=$1 db=$2
	shift 2
	PGCONNECT_TIMEOUT=10 timeout -k 5 60 \
		"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pgc_host "$port")" -p "$port" -U cmsctl -d "$db" "$@"
}

pgc_dump_logs() {
	local n
	for n in "${PGCLUSTER_NODES[@]}"; do
		if [ -f "$PGCLUSTER_DIR/$n.log" ]; then
			pgc_say "---- last lines of $n.log"
			tail -n 30 "$PGCLUSTER_DIR/$n.log" >&2
		fi
	done
}

pgc_fail() {
	pgc_say "FAIL: $*"
	pgc_dump_logs
	exit 1
}

# Starts node NAME on PORT; retries on a fresh port when the port was taken
# between choosing and binding.  Sets PGC_PORT to the port in use.
pgc_start_node() {
	local name=$1 port=$2 dir try
	dir=$(pg_node_dir "$name")
	for try in 1 2 3 4 5; do
		if pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$PGCLUSTER_DIR/$name.log" \
			-o "-p $port" -w -t 60 start >/dev/null; then
			PGC_PORT=$port
			PGCLUSTER_NODES+=("$name")
			return 0
		fi
		if grep -q 'could not bind\|Address already in use' "$PGCLUSTER_DIR/$name.log" 2>/dev/null; then
			pgc_say "port $port taken, retrying $name on another"
			port=$(pgc_free_port) || return 1
			continue
		fi
		return 1
	done
	return 1
}

pgc_conf() {
	# Appends settings to a node's postgresql.conf.
	local name=$1
	shift
	printf '%s\n' "$@" | pg_as_owner tee -a "$(pg_node_dir "$name")/postgresql.conf" >/dev/null
}

pgc_make_standby() {
	local name=$1 port dir
	dir=$(pg_node_dir "$name")
	pg_as_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT_A" -U cmsctl \
		-D "$dir" -R -X stream -c fast >/dev/null 2>"$PGCLUSTER_DIR/$name.basebackup.log" ||
		{ cat "$PGCLUSTER_DIR/$name.basebackup.log" >&2; pgc_fail "pg_basebackup for $name failed"; }
	# -R wrote a primary_conninfo into postgresql.auto.conf (read after
	# postgresql.conf); a later line there wins, naming the standby so that
	# the primary's pg_stat_replication shows it as application_name.
	printf '%s\n' \
		"primary_conninfo = 'host=127.0.0.1 port=$PG_PORT_A user=cmsctl application_name=$name'" \
		"recovery_target_timeline = 'latest'" |
		pg_as_owner tee -a "$dir/postgresql.auto.conf" >/dev/null
	port=$(pgc_free_port) || pgc_fail "no free port for $name"
	pgc_start_node "$name" "$port" || pgc_fail "cannot start $name"
}

# Waits until the primary sees n standbys streaming.
pg_wait_streaming() {
	local n=$1 i got
	for i in $(seq 1 300); do
		got=$(psql_on "$PG_PORT_A" postgres -At -c \
			"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || true)
		if [ "$got" = "$n" ]; then
			return 0
		fi
		sleep 0.1
	done
	pgc_fail "expected $n streaming standbys on the primary, saw '${got:-?}'"
}

pg_start_cluster() {
	local dir=$1 nstandby=${2:-2} port
	if [ -z "$dir" ]; then
		pgc_say "usage: pg_start_cluster DIR [NSTANDBYS]"
		exit 1
	fi
	pgc_find_bin || pgc_missing "PostgreSQL server binaries (initdb) not found"
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		pgc_missing "running as root and there is no 'postgres' user to run the servers as"
	fi
	mkdir -p "$dir" || pgc_fail "cannot create '$dir'"
	PGCLUSTER_DIR=$(cd "$dir" && pwd)
	PG_SOCKDIR=$PGCLUSTER_DIR/sock
	export PGCLUSTER_DIR PG_BIN PG_SOCKDIR
	mkdir -p "$PG_SOCKDIR"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R postgres: "$PGCLUSTER_DIR"
		# The servers must reach their folder through every parent.
		chmod 0711 "$PGCLUSTER_DIR"
	fi
	trap pg_stop_all EXIT

	pg_as_owner "$PG_BIN/initdb" -D "$(pg_node_dir pool-a)" --auth=trust -U postgres \
		--no-instructions -E UTF8 --locale=C >"$PGCLUSTER_DIR/initdb.log" 2>&1 ||
		{ cat "$PGCLUSTER_DIR/initdb.log" >&2; pgc_fail "initdb failed"; }
	# fsync off: these clusters live for one test; nothing survives an OS crash anyway.
	pgc_conf pool-a \
		"listen_addresses = '127.0.0.1'" \
		"unix_socket_directories = '$PG_SOCKDIR'" \
		"wal_level = replica" \
		"max_wal_senders = 10" \
		"wal_keep_size = 256MB" \
		"wal_log_hints = on" \
		"hot_standby = on" \
		"fsync = off" \
		"log_line_prefix = '%m [%p] %a '" \
		"max_connections = 50"
	port=$(pgc_free_port) || pgc_fail "no free port"
	pgc_start_node pool-a "$port" || pgc_fail "cannot start pool-a"
	PG_PORT_A=$PGC_PORT
	export PG_PORT_A

	pg_as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT_A" -U postgres -d postgres \
		-c "CREATE ROLE cmsctl LOGIN SUPERUSER REPLICATION" \
		-c "CREATE DATABASE xds OWNER cmsctl" \
		-c "CREATE DATABASE lis OWNER cmsctl" >/dev/null || pgc_fail "cannot create role and databases"
	local db
	for db in xds lis; do
		psql_on "$PG_PORT_A" "$db" \
			-c "CREATE TABLE t (id int PRIMARY KEY, v text)" \
			-c "INSERT INTO t VALUES (1, 'seed')" >/dev/null || pgc_fail "cannot create table in $db"
	done

	pgc_make_standby pool-b
	PG_PORT_B=$PGC_PORT
	PG_PORT_DR=
	if [ "$nstandby" -ge 2 ]; then
		pgc_make_standby dublin-dr
		PG_PORT_DR=$PGC_PORT
	fi
	export PG_PORT_B PG_PORT_DR
	pg_wait_streaming "$nstandby"

	if [ "${PGCLUSTER_SYNC:-1}" = 1 ]; then
		# pool-b is the synchronous partner (cms.yaml role: mirror); set
		# once it streams so that setup never waits on it.
		psql_on "$PG_PORT_A" postgres -c "ALTER SYSTEM SET synchronous_standby_names = '\"pool-b\"'" \
			-c "SELECT pg_reload_conf()" >/dev/null || pgc_fail "cannot make pool-b synchronous"
		local i s
		for i in $(seq 1 100); do
			s=$(psql_on "$PG_PORT_A" postgres -At -c \
				"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pool-b'")
			[ "$s" = sync ] && break
			sleep 0.05
		done
		[ "$s" = sync ] || pgc_fail "pool-b did not become synchronous (sync_state '$s')"
	fi
	pgc_say "primary pool-a on 127.0.0.1:$PG_PORT_A, standby pool-b on :$PG_PORT_B${PG_PORT_DR:+, standby dublin-dr on :$PG_PORT_DR} (in $PGCLUSTER_DIR)"
}

pg_move_to_netns() {
	local ns=$1 addr=$2 net=$3 dir n node
	dir=$(pg_node_dir pool-a)
	pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || pgc_fail "cannot stop pool-a"
	pgc_conf pool-a "listen_addresses = '127.0.0.1, $addr'"
	printf '%s\n' "host all all $net trust" "host replication all $net trust" |
		pg_as_owner tee -a "$dir/pg_hba.conf" >/dev/null
	ip netns exec "$ns" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir" -l "$PGCLUSTER_DIR/pool-a.log" \
		-o "-p $PG_PORT_A" -w -t 60 start >/dev/null || pgc_fail "cannot start pool-a in network namespace $ns"
	PG_HOST_A=$addr
	export PG_HOST_A
	n=0
	for node in "${PGCLUSTER_NODES[@]}"; do
		[ "$node" = pool-a ] && continue
		n=$((n + 1))
		psql_on "$(pgc_port_of "$node")" postgres \
			-c "ALTER SYSTEM SET primary_conninfo = 'host=$addr port=$PG_PORT_A user=cmsctl application_name=$node'" \
			-c "SELECT pg_reload_conf()" >/dev/null || pgc_fail "cannot point $node at $addr"
	done
	pg_wait_streaming "$n"
	pgc_say "primary pool-a moved into network namespace $ns, at $addr:$PG_PORT_A"
}

# The port of a node started by pg_start_cluster.
pgc_port_of() {
	case $1 in
	pool-a) printf '%s\n' "$PG_PORT_A" ;;
	pool-b) printf '%s\n' "$PG_PORT_B" ;;
	dublin-dr) printf '%s\n' "$PG_PORT_DR" ;;
	esac
}

pg_stop_all() {
	local n
	for n in "${PGCLUSTER_NODES[@]}"; do
		pg_as_owner "$PG_BIN/pg_ctl" -D "$(pg_node_dir "$n")" -m immediate stop >/dev/null 2>&1 || true
	done
	PGCLUSTER_NODES=()
	PG_HOST_A=
	if [ -n "${PGCLUSTER_DIR:-}" ] && [ "${PGCLUSTER_KEEP:-0}" != 1 ]; then
		rm -rf "$PGCLUSTER_DIR"
	fi
}

# ---- helpers for refusal, kill and bench scripts ----
#
# pg_node_state PORT
#   One line describing what a move would change on the server at PORT,
#   read from a fresh session: "standby|primary read_only=on|off
#   timeline=N alter_system_ro=K" (K: lines setting
#   default_transaction_read_only in the configuration files, so a fence
#   written by ALTER SYSTEM but not reloaded shows too), or "down" when
#   nothing answers.  Compare two readings to prove nothing changed.
# pg_closed_dbs PORT
#   How many of the store's databases (xds, lis) refuse connections
#   (datallowconn false: the fence's ALTER DATABASE ... ALLOW_CONNECTIONS),
#   or "down".
# pg_writable PORT
#   Prints t when the server at PORT takes writes -- out of recovery and
#   default_transaction_read_only off, from a fresh session -- f when it
#   does not, and "down" when it does not answer.
# pg_reseed_standby NAME PORT PRIMARY PRIMARY_PORT
#   Makes node NAME (listening on PORT) a streaming standby of node PRIMARY
#   as its follow-ups say: stops it, rewinds it with pg_rewind from
#   PRIMARY (a fresh pg_basebackup when the rewind fails), drops a fence or
#   synchronous_standby_names it carried, starts it and waits until PRIMARY
#   sees it streaming.
pg_node_state() {
	PGCONNECT_TIMEOUT=2 timeout -k 5 30 "$PG_BIN/psql" -X -q -At -F ' ' -h "$(pgc_host "$1")" -p "$1" -U cmsctl \
		-d postgres -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,
	'read_only=' || current_setting('default_transaction_read_only'),
	'timeline=' || CASE WHEN pg_is_in_recovery()
		THEN (SELECT timeline_id FROM pg_control_checkpoint())::text
		ELSE (('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int)::text END,
	'alter_system_ro=' || (SELECT count(*) FROM pg_file_settings WHERE name = 'default_transaction_read_only')" \
		2>/dev/null || echo down
}

pg_closed_dbs() {
	PGCONNECT_TIMEOUT=2 timeout -k 5 30 "$PG_BIN/psql" -X -q -At -h "$(pgc_host "$1")" -p "$1" -U cmsctl -d postgres \
		-c "SELECT count(*) FROM pg_database WHERE datname IN ('xds', 'lis') AND NOT datallowconn" \
		2>/dev/null || echo down
}

pg_writable() {
	PGCONNECT_TIMEOUT=2 timeout -k 5 30 "$PG_BIN/psql" -X -q -At -h "$(pgc_host "$1")" -p "$1" -U cmsctl -d postgres \
		-c "SELECT NOT pg_is_in_recovery() AND current_setting('default_transaction_read_only') = 'off'" \
		2>/dev/null || echo down
}

pg_reseed_standby() {
	local name=$1 port=$2 primary=$3 pport=$4 dir i got
	dir=$(pg_node_dir "$name")
	pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
	if ! pg_as_owner "$PG_BIN/pg_rewind" --target-pgdata="$dir" \
		--source-server="host=127.0.0.1 port=$pport user=cmsctl dbname=postgres" \
		>"$PGCLUSTER_DIR/$name.rewind.log" 2>&1; then
		pgc_say "pg_rewind of $name from $primary failed; taking a fresh base backup"
		pg_as_owner rm -rf "$dir"
		pg_as_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$pport" -U cmsctl -D "$dir" -X stream -c fast \
			>/dev/null 2>"$PGCLUSTER_DIR/$name.basebackup.log" ||
			{ cat "$PGCLUSTER_DIR/$name.basebackup.log" >&2; pgc_fail "pg_basebackup of $name from $primary failed"; }
	fi
	# The rewind copied the source's configuration: drop what made sense
	# only on a primary (a fence, a synchronous standby name) and point it
	# at its new primary.
	pg_as_owner sed -i -e '/^default_transaction_read_only/d' -e '/^synchronous_standby_names/d' \
		-e '/^primary_conninfo/d' -e '/^recovery_target_timeline/d' "$dir/postgresql.auto.conf"
	printf '%s\n' "primary_conninfo = 'host=127.0.0.1 port=$pport user=cmsctl application_name=$name'" \
		"recovery_target_timeline = 'latest'" | pg_as_owner tee -a "$dir/postgresql.auto.conf" >/dev/null
	pg_as_owner touch "$dir/standby.signal"
	pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$PGCLUSTER_DIR/$name.log" -o "-p $port" -w -t 60 start >/dev/null ||
		pgc_fail "cannot restart $name as a standby of $primary"
	for i in $(seq 1 300); do
		got=$(psql_on "$pport" postgres -At -c \
			"SELECT state FROM pg_stat_replication WHERE application_name = '$name'" 2>/dev/null || true)
		[ "$got" = streaming ] && return 0
		sleep 0.1
	done
	pgc_fail "$name does not stream from $primary after its re-seed (state '${got:-none}')"
}

# pg_start_single DIR
#   One plain server (no standbys), for tests that need a PostgreSQL to
#   keep data in (the state backend): in DIR, on a free loopback port and a
#   unix socket in DIR/sock, trust authentication, a superuser role
#   `cmsctl` and a database `cmsctl` it owns.  Exports PGCLUSTER_DIR,
#   PG_BIN, PG_PORT_A, PG_SOCKDIR and registers `trap pg_stop_all EXIT`.
pg_start_single() {
	local dir=$1 port
	pgc_find_bin || pgc_missing "PostgreSQL server binaries (initdb) not found"
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		pgc_missing "running as root and there is no 'postgres' user to run the servers as"
	fi
	mkdir -p "$dir" || pgc_fail "cannot create '$dir'"
	PGCLUSTER_DIR=$(cd "$dir" && pwd)
	PG_SOCKDIR=$PGCLUSTER_DIR/sock
	export PGCLUSTER_DIR PG_BIN PG_SOCKDIR
	mkdir -p "$PG_SOCKDIR"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R postgres: "$PGCLUSTER_DIR"
		chmod 0711 "$PGCLUSTER_DIR"
	fi
	trap pg_stop_all EXIT
	pg_as_owner "$PG_BIN/initdb" -D "$(pg_node_dir state)" --auth=trust -U postgres \
		--no-instructions -E UTF8 --locale=C >"$PGCLUSTER_DIR/initdb.log" 2>&1 ||
		{ cat "$PGCLUSTER_DIR/initdb.log" >&2; pgc_fail "initdb failed"; }
	pgc_conf state \
		"listen_addresses = '127.0.0.1'" \
		"unix_socket_directories = '$PG_SOCKDIR'" \
		"fsync = off" \
		"log_line_prefix = '%m [%p] %a '" \
		"max_connections = 100"
	port=$(pgc_free_port) || pgc_fail "no free port"
	pgc_start_node state "$port" || pgc_fail "cannot start the state server"
	PG_PORT_A=$PGC_PORT
	export PG_PORT_A
	pg_as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT_A" -U postgres -d postgres \
		-c "CREATE ROLE cmsctl LOGIN SUPERUSER" \
		-c "CREATE DATABASE cmsctl OWNER cmsctl" >/dev/null || pgc_fail "cannot create role and database"
	pgc_say "state server on 127.0.0.1:$PG_PORT_A (in $PGCLUSTER_DIR)"
}
