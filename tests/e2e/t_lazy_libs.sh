#!/usr/bin/env bash
# libgit2, libpq, libldap, SQLite and unixODBC are loaded on first use, not
# linked: a command that needs none of them starts without them, and one
# whose library cannot be loaded says which, exits 1, and changes nothing.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart

# The binary links none of them.
needed=$(objdump -p "$CMSCTL" | awk '$1 == "NEEDED" { print $2 }')
for lib in libgit2 libpq libldap libsqlite3 libodbc; do
	if grep -q "^$lib[.-]" <<<"$needed"; then
		fail "$CMSCTL links $lib: $(tr '\n' ' ' <<<"$needed")"
	else
		pass "not linked: $lib"
	fi
done

# validate and plan --offline of the quick start load none of them.
for cmd in validate "plan --offline"; do
	# shellcheck disable=SC2086 # cmd is two words
	LD_DEBUG=libs "$CMSCTL" $cmd >/dev/null 2>"$T/ld.log" || fail "$cmd failed"
	if grep -E 'calling init: .*/lib(git2|pq|ldap|sqlite3|odbc)[.-]' "$T/ld.log" >/dev/null; then
		fail "$cmd loaded $(grep -oE '/[^ ]*lib(git2|pq|ldap|sqlite3|odbc)[.-][^ ]*' "$T/ld.log" | sort -u | tr '\n' ' ')"
	else
		pass "$cmd loads none of the five"
	fi
done

# A plan that records: the history (libgit2) and the state (SQLite) load.
LD_DEBUG=libs "$CMSCTL" plan -o adopt.plan >/dev/null 2>"$T/ld.log" || fail "plan failed"
for lib in libgit2 libsqlite3 libodbc; do
	if grep -qE "calling init: .*/$lib[.-]" "$T/ld.log"; then
		pass "plan loads $lib"
	else
		fail "plan did not load $lib"
	fi
done

# A libgit2 that lacks cmsctl's functions (an empty library under its
# soname, found first through LD_LIBRARY_PATH): a clear error, exit 1,
# no state and no history written.
# The soname cmsctl loads: the file the plan above loaded has it.
loaded=$(grep -oE 'calling init: [^ ]*/libgit2[.-][^ ]*' "$T/ld.log" | head -n 1 | sed 's/calling init: //')
soname=$(objdump -p "$loaded" | awk '$1 == "SONAME" { print $2 }')
[ -n "$soname" ] || fail "cannot find libgit2's soname"
mkdir -p "$T/fake"
printf 'int cmsctl_fake_git2;\n' >"$T/fake/empty.c"
cc -shared -fPIC -o "$T/fake/$soname" "$T/fake/empty.c" || fail "cannot build the empty library"
rm -rf .cmsctl
run 1 env LD_LIBRARY_PATH="$T/fake" "$CMSCTL" plan -o none.plan
contains err "cannot load $soname: it has no function git_"
[ ! -e none.plan ] || fail "a plan file was written"
[ ! -e .cmsctl/history ] || fail "a history was created"
# And a file under that name that is no library at all: the same, with
# the loader's reason.
printf 'not a library\n' >"$T/fake/$soname"
run 1 env LD_LIBRARY_PATH="$T/fake" "$CMSCTL" plan -o none.plan
contains err "cannot load $soname: $T/fake/$soname: "
[ ! -e .cmsctl/history ] || fail "a history was created"
[ ! -e none.plan ] || fail "a plan file was written"
finish
