#!/usr/bin/env bash
# The reader's limits against attacks that a node count does not see
# (docs/config.md, "Limits"): an alias bomb of few repeats of a large value
# (text repeated), a flood of anchors, a small file that makes a million
# errors, explicit core tags that would retype a value, and a long list of
# databases (checked in linear time, accepted).  Each refusal names its
# limit at file:line:column, exits 1, and writes nothing; validate, plan
# --offline and plan --all --offline agree.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
"$PY" - <<'PYEOF'
big = "a" * (1 << 20)
open("bytes.yaml", "w").write(f"""version: 1
stores:
- name: s
  engine: sqlite
  databases: [xds]
  servers:
  - name: a
    path: p
    fence:
    - command: [/bin/true, &big {big}{", *big" * 200}]
  location: {{primary: a}}
""")
open("anchors.yaml", "w").write("version: 1\nx: [" + ", ".join(f"&a{i} v" for i in range(20001)) + "]\n")
open("errors.yaml", "w").write("""version: 1
stores:
- name: s
  engine: sqlite
  servers: [{name: a, path: p}]
  location: {primary: a}
  databases: [""" + ", ".join(["x"] * 100000) + "]\n")
open("tags.yaml", "w").write("""version: 1
stores: [{name: s, engine: sqlite, databases: [xds], servers: [{name: a, path: p}], location: {primary: a},
  policy: {allow_data_loss: !!str true, approvals: !!str 2}}]
""")
open("databases.yaml", "w").write("""version: 1
stores:
- name: s
  engine: sqlite
  servers: [{name: a, path: p}]
  location: {primary: a}
  databases: [""" + ", ".join(f"d{i}" for i in range(100000)) + "]\n")
PYEOF

# refused FILE LINE:COL MESSAGE: every reading command refuses FILE with
# MESSAGE at LINE:COL (exit 1), and nothing is written.
refused() {
	local f=$1 at=$2 msg=$3 c
	for c in "validate" "plan --offline" "plan --all --offline"; do
		# shellcheck disable=SC2086 # c is several words
		run 1 "$CMSCTL" $c -c "$f" || continue
		contains err "$f:$at: error: $msg"
	done
	[ ! -e .cmsctl ] || fail "$f: something was written"
}
refused bytes.yaml 10:28 "aliases repeat more than 64 MiB of text"
contains err "hint: every use of an alias counts the text it repeats"
refused anchors.yaml 2:208895 "config has more than 20000 anchors"
refused tags.yaml 3:29 "unsupported YAML tag '!!str'"
contains err "tags.yaml:3:52: error: unsupported YAML tag '!!str'"
refused errors.yaml 7:3016 "more errors not shown: at most 1000 are reported"
n=$(grep -c ': error: ' err)
[ "$n" = 1001 ] || fail "errors.yaml: $n errors shown, expected 1000 and the note"
contains err "'errors.yaml' has 1001 errors"
# Messages that name the real cause: the bytes of a Latin-1 letter (not
# the newline after it), a duplicate anchor by name, a quoted '<<' as the
# unknown key it is, a C1 control (NEL) in a string.
printf 'version: 1\nstores:\n- name: caf\xe9\n  engine: sqlite\n' >latin1.yaml
run 1 "$CMSCTL" validate -c latin1.yaml
contains err "latin1.yaml:3:12: error: invalid YAML: invalid trailing UTF-8 octet"
contains err "hint: bytes 0xe9 0x0a at offset 30; a config must be UTF-8 text"
printf 'version: 1\nx: [&a 1, &a 2]\n' >anchor2.yaml
run 1 "$CMSCTL" validate -c anchor2.yaml
contains err "anchor2.yaml:2:11: error: invalid YAML: duplicate anchor &a (first at line 2, column 5)"
printf 'version: 1\n"<<": {}\nstores: []\n' >merge.yaml
run 1 "$CMSCTL" validate -c merge.yaml
contains err "merge.yaml:2:1: error: unknown key '<<' in config"
printf 'version: 1\nstores: [{name: s, engine: sqlite, databases: [xds], servers: [{name: a, path: "p\\Nq"}], location: {primary: a}}]\n' >nel.yaml
run 1 "$CMSCTL" validate -c nel.yaml
contains err "contains a control character"
# The non-specific tag '!' is refused too (libyaml resolves it to the
# default tag, as no tag at all).
printf 'version: 1\nstores: [{name: s, engine: sqlite, databases: [xds], servers: [{name: a, path: p}], location: {primary: a}, policy: {allow_data_loss: ! true}}]\n' >bang.yaml
run 1 "$CMSCTL" validate -c bang.yaml
contains err "bang.yaml:2:135: error: unsupported YAML tag '!'"
# Positions are found by line and column: text before the mark that is
# not ASCII does not shift the anchor's name.
printf '# \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\nx: [&a 1, "&q", &a 2]\n' >anchor3.yaml
run 1 "$CMSCTL" validate -c anchor3.yaml
contains err "anchor3.yaml:2:17: error: invalid YAML: duplicate anchor &a (first at line 2, column 5)"
# Past the error limit, a limit of the pass before the load still ends
# with the note (1,001 tags, then a nesting bomb).
"$PY" - <<'PYEOF'
open("capped.yaml", "w").write("version: 1\nx: [" + ", ".join(["!!str 1"] * 1001) + "]\ny: " + "[" * 70 + "]" * 70 + "\n")
PYEOF
run 1 "$CMSCTL" validate -c capped.yaml
contains err "more errors not shown: at most 1000 are reported"
# A fleet's store names are not all listed in one message.
bash "$SRC/tests/bench/gen_fleet.sh" 300 >fleet.yaml
run 64 "$CMSCTL" plan --offline -c fleet.yaml
contains err "'fleet.yaml' has 300 stores (store-1, store-2, store-3, store-4, store-5, store-6, store-7, store-8, store-9, store-10 and 290 more): choose one with -s STORE"

# A long list is fine, and read in linear time (this took 19 s before).
run 0 "$CMSCTL" validate -c databases.yaml
contains out "s: ok (engine sqlite, 1 server, databases d0, d1,"

# Servers times databases: the check that no two servers share a
# database file looks at the servers, and at the databases of stores that
# share a folder only: 2,000 servers of 2,000 databases are accepted (this
# took 3.3 s and 540 MB before), and 2,000 more of another store in the
# same folders are refused at the comparison's limit, not compared.
"$PY" - <<'PYEOF'
def store(name, nserv, dbs):
    out = [f"- name: {name}\n  engine: sqlite\n  databases: [{', '.join(dbs)}]\n  servers:\n"]
    out += [f"  - {{name: s{j}, path: f/s{j}}}\n" for j in range(nserv)]
    out.append("  location: {primary: s0}\n")
    return "".join(out)
dbs = [f"d{k}" for k in range(2000)]
open("product.yaml", "w").write("version: 1\nstores:\n" + store("a", 2000, dbs))
open("shared.yaml", "w").write("version: 1\nstores:\n" + store("a", 2000, dbs) + store("b", 2000, ["x"]))
PYEOF
run 0 "$CMSCTL" validate -c product.yaml
contains out "a: ok (engine sqlite, 2000 servers"
run 1 "$CMSCTL" validate -c shared.yaml
contains err "shared.yaml:2511:5: error: too many servers share their folder with another store's servers: more than 1000000 database names to compare"
contains err "has 1 error"
# One folder spelled relative and absolute (the config in the current
# folder keeps its relative paths as written) is still one folder.
cat >spelled.yaml <<EOF
version: 1
stores:
- name: a
  engine: sqlite
  databases: [xds]
  servers:
  - {name: s0, path: f/s0}
  - {name: s1, path: $(pwd -P)/./f/s0}
  location: {primary: s0}
EOF
run 1 "$CMSCTL" validate -c spelled.yaml
contains err "spelled.yaml:8:5: error: server 's1' has the path of server 's0'"
finish
