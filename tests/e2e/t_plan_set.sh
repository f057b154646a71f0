#!/usr/bin/env bash
# Many stores in one run, on the sqlite engine: `plan --all -o FOLDER`
# makes one plan per store with changes (unchanged stores listed, no file),
# each committed to the history with its own id; `apply FOLDER --parallel N`
# applies them at once, and one store whose target is unreachable fails
# alone: the others move, are recorded and reported, and the failed store's
# servers, state and record are untouched.  Also the summary (text and
# --json), the exit status of the mix, and the usage errors of the set.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

n=5
# config PRIMARY: n stores, each with pool-a and pool-b under store-I/;
# store-5 always keeps pool-a (it never changes).
config() {
	printf 'version: 1\nstores:\n'
	for i in $(seq 1 $n); do
		p=$1
		[ "$i" = "$n" ] && p=pool-a
		sqlite_store "$i" "$p"
	done
}
for i in $(seq 1 $n); do
	bash "$SRC/examples/quickstart/setup.sh" "store-$i" >/dev/null
done
config pool-a >cms.yaml

# Several -s: those stores only, in the order given, as a set; a name the
# config lacks refuses the whole set before anything is written.
run 1 "$CMSCTL" plan -s store-2 -s store-9 -o some
contains err "no store 'store-9'"
[ ! -e some ] || fail "a refused set made its folder"
run 64 "$CMSCTL" plan -s store-2 -s store-2
run 0 "$CMSCTL" plan -s store-3 -sstore-1 -o some
contains out "2 stores: 2 with changes, 0 without, 0 not planned"
[ "$(ls some | tr '\n' ' ')" = "store-1.json store-3.json " ] || fail "some holds $(ls some)"
rm -rf some
run 64 "$CMSCTL" status -s store-1 -s store-2
contains err "'status' takes one -s (given 2); 'plan' takes several"
run 64 "$CMSCTL" plan -s store-1 --all

# Adopt every store in one set.
run 0 "$CMSCTL" plan --all -o adopt
contains out "5 stores: 5 with changes, 0 without, 0 not planned"
[ "$(ls adopt | tr '\n' ' ')" = "store-1.json store-2.json store-3.json store-4.json store-5.json " ] ||
	fail "adopt holds $(ls adopt)"
run 0 "$CMSCTL" apply adopt --parallel 5
contains out "plan set: 5 stores, 5 ok, 0 not"
for i in $(seq 1 $n); do
	[ "$(serial store-$i)" = 1 ] || fail "store-$i: serial $(serial store-$i), want 1"
done

# A set folder must be new or empty; --all and -s exclude each other.
run 64 "$CMSCTL" plan --all -o adopt
contains err "plan set folder 'adopt' is not empty"
run 64 "$CMSCTL" plan --all -s store-1
run 64 "$CMSCTL" apply adopt --parallel 0
contains err "--parallel takes a number from 1 to 64, not '0'"
mkdir empty
run 64 "$CMSCTL" apply adopt/store-1.json --parallel 2
contains err "--parallel goes with a plan set (a folder)"
run 64 "$CMSCTL" apply adopt --parallel ' 4'
run 64 "$CMSCTL" apply adopt --parallel +4
run 64 "$CMSCTL" plan --all -o -
contains err "a plan set is a folder"
# A set of stores without changes is empty: nothing to apply, exit 0 (as
# a plan without changes applies).
run 0 "$CMSCTL" plan --all -o nochange
contains out "5 stores: 0 with changes, 5 without, 0 not planned"
run 0 "$CMSCTL" apply nochange
contains err "plan set 'nochange' has no plan (no *.json file): nothing to apply"
contains out "plan set: 0 stores, 0 ok, 0 not"
run 0 "$CMSCTL" apply empty --json
validate_json apply-set.schema.json out
"$PY" -c 'import json,sys; d=json.load(open("out")); assert d["stores"]==[] and d["exit_status"]==0, d' ||
	fail "apply of an empty set --json"

# Move stores 1-4 to pool-b; store-5 is unchanged and gets no plan file.
config pool-b >cms.yaml
run 0 "$CMSCTL" plan --all -o move --json
validate_json plan-set.schema.json out
"$PY" - out <<'PYEOF' || fail "plan --all --json"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["stores"]
assert [x["store"] for x in s] == ["store-%d" % i for i in range(1, 6)], s
assert [x["changes"] for x in s] == [True] * 4 + [False], s
assert s[4]["file"] is None and s[0]["file"] == "move/store-1.json", s
assert len({x["id"] for x in s}) == 5
assert all(x["plan"]["store"] == x["store"] for x in s)
PYEOF
[ "$(ls move | tr '\n' ' ')" = "store-1.json store-2.json store-3.json store-4.json " ] ||
	fail "move holds $(ls move)"
run 0 "$CMSCTL" plan --all --offline
contains out "store-5: no changes"
contains out "5 stores: 4 with changes, 1 without, 0 not planned"
# Each plan is its own, in the history.
run 0 "$CMSCTL" show move/store-3.json
contains out "Plan for store store-3"

# store-3's target goes away between plan and apply.
mv store-3/servers/pool-b store-3/servers/pool-b.gone
run 3 "$CMSCTL" apply move --parallel 3 --json
validate_json apply-set.schema.json out
"$PY" - out <<'PYEOF' || fail "apply set --json"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["store"]: x for x in d["stores"]}
assert sorted(s) == ["store-%d" % i for i in range(1, 5)], sorted(s)
for i in (1, 2, 4):
    x = s["store-%d" % i]
    assert x["outcome"] == "ok" and x["exit_status"] == 0, x
    assert x["report"]["outcome"] == "ok" and x["report"]["mode"] == "switchover", x["report"]
    assert x["run_id"] == x["report"]["run_id"], x
x = s["store-3"]
assert x["outcome"] == "refused" and x["exit_status"] == 3, x
assert "pool-b was mirror at epoch 1, now unreachable" in x["message"], x
assert x["report"] is None and x["run_id"] is None, x
assert d["applied"] == 3 and d["failed"] == 1 and d["exit_status"] == 3, d
PYEOF
# Progress is per store, each line prefixed with its store.
# Under --json each store's error is one JSON line, prefixed by the store.
contains err 'store-3: {"error"'
contains err "observation changed since plan"
contains err "store-1: cmsctl: applied plan"
for i in 1 2 4; do
	[ "$(serial store-$i)" = 2 ] || fail "store-$i: serial $(serial store-$i), want 2"
	[ "$(sql store-$i/servers/pool-b/xds.db 'SELECT role, read_only FROM cms_control')" = "primary|0" ] ||
		fail "store-$i: pool-b is not a writable primary"
	[ "$(sql store-$i/servers/pool-a/lis.db 'SELECT role FROM cms_control')" = mirror ] ||
		fail "store-$i: pool-a is not a mirror"
done
# The failed store is untouched: same serial, pool-a still a writable
# primary, no run recorded, no lock left.
[ "$(serial store-3)" = 1 ] || fail "store-3: serial $(serial store-3), want 1"
[ "$(sql store-3/servers/pool-a/xds.db 'SELECT role, read_only FROM cms_control')" = "primary|0" ] ||
	fail "store-3: pool-a is not a writable primary"
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs WHERE store = 'store-3'")" = 1 ] ||
	fail "store-3 has a run besides its adoption"
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "a lock was left"
# Every applied store has its own history commit (and only those).
h=.cmsctl/history
for i in 1 2 4; do
	git -C "$h" log -1 --format=%s cms-history -- "store-$i/location.json" >subject
	printf 'store-%d: apply switchover pool-a -> pool-b: ok\n' "$i" >want
	same subject want
done
git -C "$h" log -1 --format=%s cms-history -- store-3/location.json >subject
printf 'store-3: apply adopt pool-a: ok\n' >want
same subject want

# The set again, in text: the three are spent (stale), store-3 still
# refused; the summary lists each.
mv store-3/servers/pool-b.gone store-3/servers/pool-b
run 3 "$CMSCTL" apply move
contains out "plan set: 4 stores, 1 ok, 3 not"
contains out "store-1: refused (exit 3)"
contains out "store-3: ok, run "
[ "$(serial store-3)" = 2 ] || fail "store-3: serial $(serial store-3), want 2"
# Two stores that publish to one location file: a location file holds one
# store's location, so the second store's publish would be refused after
# its switchover (or, at once, overwrite the first's).  The config is
# refused before anything is planned, written or moved.
config pool-a >cms.yaml
run 0 "$CMSCTL" plan --all -o back
{
	config pool-b
} | awk '/^  - name: store-[12]$/ { print; s = 1; next } /^  - name:/ { s = 0 } { print }
	s && /location:/ { print "    publish:\n      - file: published/shared.json" }' >cms.yaml
run 1 "$CMSCTL" plan --all -o shared
contains err "error: publish file 'published/shared.json' of store 'store-2' is also the location file of store 'store-1'"
[ ! -e shared ] || fail "a refused config made a plan set folder"
before=$(git -C "$h" rev-parse cms-history)
run 1 "$CMSCTL" apply back
contains err "is also the location file of store 'store-1'"
[ "$(git -C "$h" rev-parse cms-history)" = "$before" ] || fail "a refused config wrote to the history"
for i in 1 2 3 4; do
	[ "$(sql store-$i/servers/pool-b/xds.db 'SELECT role, read_only FROM cms_control')" = "primary|0" ] ||
		fail "refused config: store-$i's pool-b is not a writable primary"
done
[ ! -e published/shared.json ] || fail "a refused config published"
finish
