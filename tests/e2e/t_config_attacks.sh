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
# A long list is fine, and read in linear time (this took 19 s before).
run 0 "$CMSCTL" validate -c databases.yaml
contains out "s: ok (engine sqlite, 1 server, databases d0, d1,"
finish
