#!/usr/bin/env bash
# A foreign or corrupt state file, and a history folder that cannot be
# written: each a clear error, with the file untouched and nothing
# half-written.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
mkdir -m 0700 .cmsctl

# Not a cmsctl state: refused, not a byte changed.
printf 'hello, I am somebody else'\''s file\n' >.cmsctl/state.db
cp .cmsctl/state.db foreign.copy
run 1 "$CMSCTL" plan
contains err "'.cmsctl/state.db' is not a cmsctl state database (not an SQLite database)"
run 1 "$CMSCTL" status
same .cmsctl/state.db foreign.copy
# Another application's SQLite database.
rm .cmsctl/state.db
sql .cmsctl/state.db "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)"
cp .cmsctl/state.db other.copy
run 1 "$CMSCTL" plan
contains err "is not a cmsctl state database"
same .cmsctl/state.db other.copy

# A real state, then corrupted in the middle: refused, untouched.
rm .cmsctl/state.db
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
sql .cmsctl/state.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
size=$(stat -c %s .cmsctl/state.db)
dd if=/dev/urandom of=.cmsctl/state.db bs=1 seek=$((size / 2)) count=4096 conv=notrunc status=none
cp .cmsctl/state.db corrupt.copy
run 1 "$CMSCTL" plan
contains err "state database '.cmsctl/state.db'"
same .cmsctl/state.db corrupt.copy
rm -rf .cmsctl

# A history folder that cannot be written: the plan is refused whole (no
# plan file written, nothing committed).  Root ignores permission bits, so
# as root the check runs as 'nobody'.
mkdir -p ro
run 0 "$CMSCTL" plan -o first.plan --history ro/history
as=()
bin=$CMSCTL
if [ "$(id -u)" = 0 ]; then
	# 'nobody' may not reach a build under /root: run a copy from $T.
	cp "$CMSCTL" "$T/cmsctl" && bin=$T/cmsctl
	chown -R nobody "$T"
	as=(runuser -u nobody --)
fi
chmod -R a-w ro/history
before=$(git -c safe.directory='*' -C ro/history rev-parse cms-history)
run 1 "${as[@]}" "$bin" plan -o second.plan --history ro/history
contains err "cmsctl: "
contains err "ro/history"
[ ! -e second.plan ] || fail "a plan file was written although the history refused it"
[ "$(git -c safe.directory='*' -C ro/history rev-parse cms-history)" = "$before" ] || fail "the history branch moved"
chmod -R u+w ro/history
finish
