# Shared helpers of the end-to-end tests: each test drives the real binary
# ($CMSCTL) in a private temp folder, checks exit codes explicitly and
# compares output with expected text (never piping the tool into grep).
set -euo pipefail
: "${CMSCTL:?CMSCTL must name the cmsctl binary}"
: "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}"
SRC=$CMSCTL_SOURCE_DIR
PY=/usr/bin/python3
T=$(mktemp -d /tmp/cmsctl-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
export CMSCTL_OPERATOR=alice@test
unset CMSCTL_NOW
failures=0

fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
pass() { printf 'ok: %s\n' "$*" >&2; }

# run EXPECTED-EXIT CMD...: runs CMD with stdout in out, stderr in err.
run() {
	local want=$1 got=0
	shift
	"$@" >out 2>err || got=$?
	if [ "$got" != "$want" ]; then
		fail "'$*' exited $got, expected $want"
		sed 's/^/  stdout: /' out >&2
		sed 's/^/  stderr: /' err >&2
		return 1
	fi
	pass "'$*' exited $want"
}

# contains FILE TEXT: FILE has TEXT (a fixed string).
contains() {
	if ! grep -qF -- "$2" "$1"; then
		fail "$1 lacks '$2'"
		sed 's/^/  | /' "$1" >&2
		return 1
	fi
}

lacks() {
	if grep -qF -- "$2" "$1"; then
		fail "$1 has '$2'"
		return 1
	fi
}

same() {
	if ! cmp -s "$1" "$2"; then
		fail "$1 and $2 differ"
		diff -u "$1" "$2" >&2 || true
		return 1
	fi
}

# wait_for FILE TEXT: up to 120 s for TEXT to appear in FILE (a held
# process's stderr, say); a failure when it never does.
wait_for() {
	local i
	for i in $(seq 1 1200); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "'$2' never appeared in $1"
	return 1
}

# kill_at STEP:STATUS ARGS...: "cmsctl apply ARGS" SIGKILLed right after
# that journal write (a test build's hold); its output in apply.out and
# apply.err.  $pid names it while it runs (for a test's EXIT trap).
kill_at() {
	local at=$1
	shift
	CMSCTL_TEST_HOLD_AT=$at "$CMSCTL" apply "$@" >apply.out 2>apply.err &
	pid=$!
	wait_for apply.err "holding at step $at"
	kill -9 $pid
	wait $pid 2>/dev/null || true
	pid=''
}

# sqlite_store I PRIMARY: the config entry of store-I (sqlite, xds and
# lis, pool-a and pool-b under store-I/servers/, made by the quick start's
# setup.sh), PRIMARY its primary and the other its mirror.
sqlite_store() {
	local m=pool-b
	[ "$2" = pool-b ] && m=pool-a
	printf '  - name: store-%d\n    engine: sqlite\n    databases: [xds, lis]\n' "$1"
	printf '    servers:\n      - {name: pool-a, path: store-%d/servers/pool-a}\n' "$1"
	printf '      - {name: pool-b, path: store-%d/servers/pool-b, role: mirror}\n' "$1"
	printf '    location: {primary: %s, mirror: %s}\n' "$2" "$m"
}

# The quick start's servers and config, in the current folder.
quickstart() {
	cp "$SRC/examples/quickstart/cms.yaml" "$SRC/examples/quickstart/setup.sh" \
		"$SRC/examples/quickstart/write.sh" .
	bash ./setup.sh . >/dev/null
}

# validate_json SCHEMA FILE: FILE validates against schemas/SCHEMA.
validate_json() {
	if ! "$PY" - "$SRC/schemas/$1" "$2" <<'PYEOF'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator.check_schema(schema)
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
for e in errors:
    print("%s: %s at %s" % (sys.argv[2], e.message, list(e.absolute_path)), file=sys.stderr)
sys.exit(1 if errors else 0)
PYEOF
	then
		fail "$2 does not validate against $1"
		return 1
	fi
	pass "$2 validates against $1"
}

# sql DB QUERY: runs QUERY with the sqlite3 CLI.
sql() { sqlite3 -bail "$1" "$2"; }

serial() { sql .cmsctl/state.db "SELECT serial FROM stores WHERE name = '${1:-redmond}'"; }

finish() {
	if [ "$failures" -ne 0 ]; then
		printf '%d check(s) failed\n' "$failures" >&2
		exit 1
	fi
	printf 'all checks passed\n' >&2
}

# Tampering with the history the way anyone with write access to the
# repository can, with plain git plumbing (the branch moves forward).
# history_plant PATH FILE: commits FILE at PATH on cms-history.
# history_remove PATH: commits the removal of PATH.
history_commit_index() {
	local tree commit
	tree=$(GIT_INDEX_FILE=$T/tamper.idx git --git-dir=.cmsctl/history write-tree)
	commit=$(git --git-dir=.cmsctl/history -c user.name=x -c user.email=x@x commit-tree "$tree" -p cms-history -m "$1")
	git --git-dir=.cmsctl/history update-ref refs/heads/cms-history "$commit"
	rm -f "$T/tamper.idx"
}
history_plant() {
	local blob
	blob=$(git --git-dir=.cmsctl/history hash-object -w "$2")
	GIT_INDEX_FILE=$T/tamper.idx git --git-dir=.cmsctl/history read-tree cms-history
	GIT_INDEX_FILE=$T/tamper.idx git --git-dir=.cmsctl/history update-index --add --cacheinfo "100644,$blob,$1"
	history_commit_index "planted $1"
}
history_remove() {
	GIT_INDEX_FILE=$T/tamper.idx git --git-dir=.cmsctl/history read-tree cms-history
	printf '0 0000000000000000000000000000000000000000\t%s\n' "$1" |
		GIT_INDEX_FILE=$T/tamper.idx git --git-dir=.cmsctl/history update-index --index-info
	history_commit_index "removed $1"
}
