# Integration: a connect that hangs outside any socket of the session.
# pool-a is named by a host name (Server=pool-a.<pid>.cmsctl-test.invalid)
# that cmsctl resolves through a private /etc/hosts and /etc/resolv.conf
# (bind-mounted in a mount namespace of its own, `unshare -m`).  While the
# name is in the hosts file everything works; once it is taken out, the
# lookup goes to a DNS server that receives every query and never answers
# (resolver timeout 30 s, 2 attempts: a minute per lookup).  status, plan
# and restore end within their deadlines plus 1 s (a connect: login 2 s +
# 0.5 s cut + 0.5 s grace, then abandoned), say why, and release the
# lock; with the name back, status sees pool-a again.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/lib.sh"

require_tools jq sqlite3 git unshare mount
require_odbc
if [ "$(id -u)" -ne 0 ]; then
	pgc_missing "a private /etc/resolv.conf (unshare -m) needs root"
fi
[ -x /usr/bin/python3 ] || pgc_missing "/usr/bin/python3 not found (apt-get install python3)"

sink=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sink" ] && kill "$sink" 2>/dev/null && wait "$sink" 2>/dev/null
	pg_stop_all
	exit $rc
}
trap 'exit 130' INT TERM HUP
start_work_cluster 1
trap cleanup EXIT

p=$$
NAME=pool-a.$p.cmsctl-test.invalid
DNS=127.$((64 + ((p >> 16) & 63))).$(((p >> 8) & 255)).$(((p & 127) + 1))

# The DNS server that never answers: it reads each query and logs it.
/usr/bin/python3 -u - "$DNS" >"$W/dns.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("listening", flush=True)
while True:
    data, addr = s.recvfrom(4096)
    print("query", len(data), flush=True)
PY
sink=$!
for i in $(seq 1 100); do
	grep -q listening "$W/dns.log" 2>/dev/null && break
	sleep 0.1
done
contains "$W/dns.log" listening
printf 'nameserver %s\noptions timeout:30 attempts:2\n' "$DNS" >"$W/resolv.conf"
with_name() { printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$NAME" >"$W/hosts"; }
without_name() { printf '127.0.0.1 localhost\n' >"$W/hosts"; }
# cms CMD...: cmsctl with the private hosts file and resolver.
cms() {
	unshare -m --propagation private sh -c 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf &&
		shift 2 && exec "$@"' sh "$W/hosts" "$W/resolv.conf" "$CMSCTL" "$@"
}

config() {
	cms_config "$@"
	sed -i "s/Server=127.0.0.1;Port=$PG_PORT_A;/Server=$NAME;Port=$PG_PORT_A;/" cms.yaml
	grep -q "Server=$NAME;" cms.yaml || fail "pool-a is not named by $NAME in cms.yaml"
}
sq() { sqlite3 -bail .cmsctl/state.db "$1"; }

with_name
config pool-a pool-b "query_timeout: 2s"
run 0 cms apply -c cms.yaml --yes || finish
run 0 cms status -c cms.yaml --json
expect "pool-a reached by its name" "$(srv pool-a .role)" primary

without_name
t0=$(now_ms)
run 0 cms status -c cms.yaml --json
ended_within "status with pool-a's name unresolvable" "$t0" 3000
expect "pool-a seen as unreachable" "$(srv pool-a .reachable)" false
expect "why" "$(srv pool-a .error | grep -o 'cmsctl abandoned the attempt')" "cmsctl abandoned the attempt"
n=$(grep -c '^query' "$W/dns.log" || true)
if [ "$n" -ge 1 ]; then
	pass "the lookup went to the silent DNS server ($n queries)"
else
	fail "the silent DNS server received no query"
fi

config pool-b pool-a "query_timeout: 2s" "allow_data_loss: true"
t0=$(now_ms)
run 7 cms plan -c cms.yaml || true
ended_within "plan with pool-a's name unresolvable" "$t0" 3000
contains "$W/err" "the primary 'pool-a' is unreachable and cannot be fenced"

config pool-a pool-b "query_timeout: 2s"
t0=$(now_ms)
run 7 cms restore --yes -c cms.yaml || true
ended_within "restore with pool-a's name unresolvable" "$t0" 3000
contains "$W/err" "cmsctl abandoned the attempt"
expect "locks held" "$(sq 'SELECT count(*) FROM locks')" 0

with_name
run 0 cms status -c cms.yaml --json
expect "pool-a reached by its name again" "$(srv pool-a .role)" primary
finish
