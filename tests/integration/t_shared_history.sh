#!/usr/bin/env bash
# Team scale end to end: two "runners" (working copies with their own
# config copies and local history clones) share one PostgreSQL state and
# one history remote (a bare repository over a path).  The store needs one
# approval.  Rounds of: plan on one, approve on both at once (the same
# reviewer), apply on both at once.  Exactly one approval commit and one
# apply per plan (the other apply exits 3 or 4); the remote branch holds
# every plan, approval and run commit once; the serial in the state equals
# the last location.json on the remote.  Then
# the remote unreachable during an apply: the apply completes, the commit
# stays local, status says so, `history push` delivers it.  Then a remote
# over ssh (sshd started here on a loopback port, with a key made here),
# with the key given as a file and then from an ssh-agent.
# ROUNDS sets the number of racing rounds: 100 in CI (CI=true), 4
# otherwise (a quick local run); tests/bench/shared_race.sh times 100.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
. "$SRC/tests/integration/pgcluster.sh"
if [ "${CI:-}" = true ]; then rounds=${ROUNDS:-100}; else rounds=${ROUNDS:-4}; fi
chmod 0711 "$T"
pg_start_single "$T/pg"
sshd_pid=
trap '[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null; pg_stop_all; rm -rf "$T"' EXIT
cd "$T"
psql_state() { pg_as_owner "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT_A" -U cmsctl -d cmsctl -c "$1"; }

# One site (the servers), two runners.
mkdir site && (cd site && quickstart)
git init -q --bare remote.git
make_runner() { # NAME REMOTE [SSH-KEY]
	mkdir -p "$T/$1"
	{
		echo "version: 1"
		echo "backend:"
		echo "  state: postgresql"
		echo "  connection: \"host=127.0.0.1 port=$PG_PORT_A user=cmsctl dbname=cmsctl\""
		echo "  remote: $2"
		[ -z "${3:-}" ] || echo "  ssh_key: $3"
		sed -e '1,/^version:/d' -e "s|path: servers/|path: $T/site/servers/|" \
			-e "s|file: published/|file: $T/site/published/|" \
			-e 's/^      approvals: 0$/      approvals: 1\n      signed_approvals: false/' \
			"$T/site/cms.yaml"
	} >"$T/$1/cms.yaml"
}
make_runner r1 ../remote.git
make_runner r2 "$T/remote.git"
# Desired primary: flipped in both configs before each round.
want() { sed -i "s/^      primary: .*/      primary: $1/; s/^      mirror: .*/      mirror: $2/" "$T/r1/cms.yaml" "$T/r2/cms.yaml"; }

cd "$T/r1"
want pool-a pool-b
grep -q '^      approvals: 1$' cms.yaml || fail "the runners' config does not need an approval"
run 0 "$CMSCTL" plan -o adopt.plan
run 7 "$CMSCTL" apply adopt.plan
CMSCTL_OPERATOR=bob@test run 0 "$CMSCTL" approve adopt.plan
run 0 "$CMSCTL" apply adopt.plan
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) = 1 ]; then want pool-b pool-a; else want pool-a pool-b; fi
	cd "$T/r1"
	run 0 "$CMSCTL" plan -o "p$r.plan" || break
	cp "p$r.plan" "$T/r2/"
	(cd "$T/r1" && CMSCTL_OPERATOR=bob@test exec "$CMSCTL" approve "p$r.plan") >"$T/v1.out" 2>"$T/v1.err" & p1=$!
	(cd "$T/r2" && CMSCTL_OPERATOR=bob@test exec "$CMSCTL" approve "p$r.plan") >"$T/v2.out" 2>"$T/v2.err" & p2=$!
	c1=0; wait $p1 || c1=$?
	c2=0; wait $p2 || c2=$?
	[ "$c1 $c2" = "0 0" ] || { fail "round $r: approvals exited $c1 and $c2"; cat "$T/v1.err" "$T/v2.err" >&2; }
	[ "$(cat "$T/v1.out" "$T/v2.out" | grep -c '^approved plan')" = 1 ] ||
		{ fail "round $r: not exactly one approval recorded"; cat "$T/v1.out" "$T/v2.out" >&2; }
	(cd "$T/r1" && exec "$CMSCTL" apply "p$r.plan") >"$T/a1.out" 2>"$T/a1.err" & p1=$!
	(cd "$T/r2" && exec "$CMSCTL" apply "p$r.plan") >"$T/a2.out" 2>"$T/a2.err" & p2=$!
	c1=0; wait $p1 || c1=$?
	c2=0; wait $p2 || c2=$?
	case "$c1 $c2" in
	"0 3" | "0 4" | "3 0" | "4 0") pass "round $r: one apply ($c1 $c2)" ;;
	*) fail "round $r: exit codes $c1 and $c2"; cat "$T/a1.err" "$T/a2.err" >&2 ;;
	esac
	grep -h "warning" "$T/a1.err" "$T/a2.err" >&2 || true
done
cd "$T"
# Both runners pushed whatever they had.
(cd r1 && "$CMSCTL" history push) 2>/dev/null || fail "r1 history push"
(cd r2 && "$CMSCTL" history push) 2>/dev/null || fail "r2 history push"

# The remote: every plan once, one ok apply per plan, no commit twice.
git -C remote.git log --format='%H %s' cms-history >remote.log
plans=$(git -C remote.git log --format='%(trailers:key=Kind,valueonly,separator=)' cms-history | grep -cx plan || true)
applies=$(git -C remote.git log --format='%s' cms-history | grep -c ': apply .*: ok$' || true)
[ "$plans" = $((rounds + 1)) ] || fail "remote holds $plans plan commits, expected $((rounds + 1))"
[ "$applies" = $((rounds + 1)) ] || fail "remote holds $applies ok applies, expected $((rounds + 1))"
approvals=$(git -C remote.git log --format='%(trailers:key=Kind,valueonly,separator=)' cms-history | grep -cx approve || true)
[ "$approvals" = $((rounds + 1)) ] || fail "remote holds $approvals approval commits, expected $((rounds + 1))"
# Every run commit counted exactly the one approval.
[ "$(git -C remote.git log --format='%(trailers:key=Kind,valueonly,separator=)%x09%(trailers:key=Approved-By,valueonly,separator=)' cms-history |
	grep -c "^apply	bob@test$" || true)" = $((rounds + 1)) ] || fail "not every apply commit names its approval"
dups=$(git -C remote.git log --format='%B%x1e' cms-history | "$PY" -c '
import sys, collections
msgs = [m.strip() for m in sys.stdin.read().split("\x1e") if m.strip()]
print(sum(1 for m, n in collections.Counter(msgs).items() if n > 1))')
[ "$dups" = 0 ] || fail "the remote holds $dups commits twice"
ids=$(git -C remote.git log --format='%(trailers:key=Plan-Id,valueonly,separator=)%x09%(trailers:key=Kind,valueonly,separator=)' cms-history | sort | uniq -d | grep -c . || true)
[ "$ids" = 0 ] || fail "a plan id has two commits of one kind on the remote"
serial=$(psql_state "SELECT serial FROM cmsctl.stores WHERE name = 'redmond'")
remote_serial=$(git -C remote.git show cms-history:redmond/location.json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["serial"])')
[ "$serial" = "$remote_serial" ] || fail "state serial $serial, remote location.json serial $remote_serial"
[ "$serial" = $((rounds + 1)) ] || fail "serial $serial after $rounds rounds"
# The record as each runner reads it passes the audit: the tip the state
# recorded followed every commit rebuilt on the other runner's (before,
# a rebuilt commit left a recorded tip the shared branch never held).
for r in r1 r2; do
	cd "$T/$r"
	run 0 "$CMSCTL" audit verify
	contains out "audit verify: passed"
done
cd "$T"

# The remote unreachable before an apply: refused (exit 7), nothing
# changed.  Unreachable during an apply (after that check): the apply
# completes, the commits stay local, status says so, history push
# delivers them.
cd "$T/r1"
if [ $((rounds % 2)) = 1 ]; then want pool-a pool-b; else want pool-b pool-a; fi
run 0 "$CMSCTL" plan -o off.plan
CMSCTL_OPERATOR=bob@test run 0 "$CMSCTL" approve off.plan
mv "$T/remote.git" "$T/remote.away"
serial_before=$(psql_state "SELECT serial FROM cmsctl.stores WHERE name = 'redmond'")
run 7 "$CMSCTL" apply off.plan
contains err "cannot reach history remote '../remote.git'"
[ "$(psql_state "SELECT serial FROM cmsctl.stores WHERE name = 'redmond'")" = "$serial_before" ] ||
	fail "a refused apply changed the state"
mv "$T/remote.away" "$T/remote.git"
CMSCTL_TEST_HOLD_AT=1:done "$CMSCTL" apply off.plan >"$T/off.out" 2>"$T/off.err" & pid=$!
for _ in $(seq 1 1200); do
	grep -qF "holding at step 1:done" "$T/off.err" 2>/dev/null && break
	sleep 0.1
done
grep -qF "holding at step 1:done" "$T/off.err" || fail "the apply never reached step 1"
mv "$T/remote.git" "$T/remote.away"
kill -CONT $pid
c=0; wait $pid || c=$?
[ "$c" = 0 ] || { fail "apply with the remote gone during the run exited $c"; cat "$T/off.err" >&2; }
cp "$T/off.err" err
contains err "warning: the history is"
contains err "ahead of its remote"
run 0 "$CMSCTL" status --offline
contains out "ahead of its remote '../remote.git' (unreachable)"
mv "$T/remote.away" "$T/remote.git"
run 0 "$CMSCTL" history push
contains err "pushed 1 history commit"
run 0 "$CMSCTL" status --offline
contains out "history: level with its remote '../remote.git'"
remote_serial=$(git -C "$T/remote.git" show cms-history:redmond/location.json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["serial"])')
[ "$remote_serial" = $((rounds + 2)) ] || fail "the delivered location has serial $remote_serial"
# The other runner reads it on its next command (fetch first).
cd "$T/r2"
run 0 "$CMSCTL" history -s redmond
head -n 3 out >&2

# Over ssh: sshd on a loopback port, a key made for the test.
sshd=/usr/sbin/sshd
if ! [ -x "$sshd" ]; then
	if [ "${CI:-}" = true ]; then fail "sshd not installed (openssh-server)"; finish; fi
	echo "SKIP (ssh part): no $sshd: apt-get install openssh-server" >&2
	finish
fi
mkdir -p "$T/ssh" && chmod 0700 "$T/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id_test"
cp "$T/ssh/id_test.pub" "$T/ssh/authorized_keys"
chmod 0600 "$T/ssh/authorized_keys"
port=$(pgc_free_port)
cat >"$T/ssh/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile $T/ssh/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CFG
mkdir -p /run/sshd 2>/dev/null || true
"$sshd" -D -e -f "$T/ssh/sshd_config" 2>"$T/ssh/sshd.log" & sshd_pid=$!
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
git init -q --bare "$T/remote-ssh.git"
# The host key is checked (libgit2 reads ~/.ssh/known_hosts): a HOME of the
# test's own that knows this server, so nothing outside $T is touched.
mkdir -p "$T/home/.ssh" && chmod 0700 "$T/home/.ssh"
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$T/ssh/host_key.pub")" >"$T/home/.ssh/known_hosts"
export HOME=$T/home
make_runner r3 "ssh://$(id -un)@127.0.0.1:$port$T/remote-ssh.git" "$T/ssh/id_test"
cd "$T/r3"
run 0 "$CMSCTL" plan --offline -o ssh.plan
lacks err "warning"
got=$(git -C "$T/remote-ssh.git" log -1 --format=%s cms-history 2>/dev/null || true)
[ "$got" = "redmond: plan $(sed -n 's/^redmond: plan //p' <(git -C .cmsctl/history log -1 --format=%s cms-history))" ] ||
	{ fail "the plan commit did not reach the ssh remote (got '$got')"; cat "$T/ssh/sshd.log" >&2; }
# The ssh remote is now ahead of nothing; a second runner on it reads it.
make_runner r4 "ssh://$(id -un)@127.0.0.1:$port$T/remote-ssh.git" "$T/ssh/id_test"
cd "$T/r4"
run 0 "$CMSCTL" show "$(git hash-object ../r3/ssh.plan)"

# A plan set over ssh: n sqlite stores applied at once, every child
# recording and pushing its own run through the one ssh remote: each run
# reaches it once, none from the journal, and the two ends are level.
n=6
mkdir -p "$T/fleet" && cd "$T/fleet"
git init -q --bare "$T/remote-fleet.git"
fleet_config() { # PRIMARY
	printf 'version: 1\nbackend:\n  remote: "ssh://%s@127.0.0.1:%s%s/remote-fleet.git"\n  ssh_key: %s\nstores:\n' \
		"$(id -un)" "$port" "$T" "$T/ssh/id_test"
	for i in $(seq 1 $n); do
		sqlite_store "$i" "$1"
	done
}
for i in $(seq 1 $n); do
	bash "$CMSCTL_SOURCE_DIR/examples/quickstart/setup.sh" "store-$i" >/dev/null
done
fleet_config pool-a >cms.yaml
run 0 "$CMSCTL" plan --all -o adopt
run 0 "$CMSCTL" apply adopt --parallel $n
contains out "plan set: $n stores, $n ok, 0 not"
fleet_config pool-b >cms.yaml
run 0 "$CMSCTL" plan --all -o move
run 0 "$CMSCTL" apply move --parallel $n
contains out "plan set: $n stores, $n ok, 0 not"
lacks err "warning"
[ "$(git -C "$T/remote-fleet.git" rev-parse cms-history)" = "$(git --git-dir=.cmsctl/history rev-parse cms-history)" ] ||
	{ fail "the plan set's history and its ssh remote are not level"; cat "$T/ssh/sshd.log" >&2; }
git -C "$T/remote-fleet.git" log --format=%B cms-history >fleet.log
grep '^Run-Id: ' fleet.log | sort >fleet.ids
[ "$(wc -l <fleet.ids)" = $((2 * n)) ] || fail "the ssh remote holds $(wc -l <fleet.ids) run commits, want $((2 * n))"
[ "$(sort -u fleet.ids | wc -l)" = $((2 * n)) ] || fail "a run is on the ssh remote twice"
! grep -qxF "Recorded-From: journal" fleet.log || fail "a run reached the ssh remote from the journal"

# The key from an ssh-agent (no ssh_key in the config): a runner whose key
# file is out of reach, the agent the test starts holding it.
mkdir -p "$T/agent" && cp "$T/ssh/id_test" "$T/agent/key" && chmod 0600 "$T/agent/key"
eval "$(ssh-agent -s -a "$T/agent/sock")" >/dev/null
agent_pid=$SSH_AGENT_PID
trap 'kill "$agent_pid" 2>/dev/null; [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null; pg_stop_all; rm -rf "$T"' EXIT
ssh-add -q "$T/agent/key" 2>/dev/null || fail "ssh-add"
rm -f "$T/agent/key"
make_runner r5 "ssh://$(id -un)@127.0.0.1:$port$T/remote-ssh.git"
cd "$T/r5"
run 0 "$CMSCTL" plan --offline -o agent.plan
lacks err "warning"
[ "$(git -C "$T/remote-ssh.git" log -1 --format=%H cms-history)" = "$(git -C .cmsctl/history rev-parse cms-history)" ] ||
	{ fail "the plan commit did not reach the ssh remote through the agent"; cat "$T/ssh/sshd.log" >&2; }
# Without the agent, the same runner cannot push: the commit stays local.
ssh-agent -k >/dev/null
run 0 "$CMSCTL" plan --offline -o noagent.plan
contains err "ahead of its remote"
finish
