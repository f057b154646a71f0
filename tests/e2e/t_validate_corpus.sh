#!/usr/bin/env bash
# The config corpus through the real binary.
#
# Every tests/configs/bad/NAME.yaml must make `cmsctl validate -c NAME.yaml`,
# run in the folder that holds it, exit exactly 1 with nothing on stdout
# and stderr byte for byte equal to NAME.err.  Every tests/configs/good/*.yaml
# must exit 0 with one "ok" line per store and nothing on stderr.  Also: a
# missing file, a file over 64 MiB, a file of more than 2,000,000 nodes,
# a generated fleet of 10,000 stores (accepted), --json for both, and that
# no message of the corpus repeats a password it was shown ("hunter2").
#
# The corpus is copied into a private temporary folder first.
set -u

: "${CMSCTL:?set CMSCTL to the cmsctl binary}"
: "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR to the repository root}"

fails=0
checks=0
fail() {
	printf 'FAIL: %s\n' "$*"
	fails=$((fails + 1))
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_validate_corpus.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
cp -R -- "$CMSCTL_SOURCE_DIR/tests/configs/bad" "$CMSCTL_SOURCE_DIR/tests/configs/good" "$tmp/" ||
	exit 1

# The corpus is only worth something while it is large.
nbad=$(find "$tmp/bad" -name '*.yaml' | wc -l)
if [ "$nbad" -lt 35 ]; then
	fail "only $nbad bad cases; the corpus needs at least 35"
fi

# run DIR ARGS...: runs cmsctl in DIR; sets rc, out, err (files).
run() {
	local dir=$1
	shift
	out=$tmp/stdout err=$tmp/stderr
	(cd "$dir" && exec "$CMSCTL" "$@") >"$out" 2>"$err"
	rc=$?
}

for yaml in "$tmp"/bad/*.yaml; do
	name=$(basename "$yaml" .yaml)
	want=$tmp/bad/$name.err
	checks=$((checks + 1))
	if [ ! -f "$want" ]; then
		fail "$name: no $name.err"
		continue
	fi
	run "$tmp/bad" validate -c "$name.yaml"
	if [ "$rc" -ne 1 ]; then
		fail "$name: exit $rc, want 1"
	fi
	if [ -s "$out" ]; then
		fail "$name: stdout not empty:"
		cat -- "$out"
	fi
	if ! cmp -s -- "$want" "$err"; then
		fail "$name: stderr differs from $name.err:"
		diff -u -- "$want" "$err" | sed 's/^/    /'
	fi
	if grep -q hunter2 -- "$err"; then
		fail "$name: a message repeats the password 'hunter2'"
	fi
	if [ "$(tail -n 1 -- "$err")" = "" ]; then
		fail "$name: stderr is empty or ends with an empty line"
	fi
done

for yaml in "$tmp"/good/*.yaml; do
	name=$(basename "$yaml" .yaml)
	checks=$((checks + 1))
	run "$tmp/good" validate -c "$name.yaml"
	if [ "$rc" -ne 0 ]; then
		fail "good/$name: exit $rc, want 0"
		sed 's/^/    /' -- "$err"
	fi
	if [ -s "$err" ]; then
		fail "good/$name: stderr not empty"
	fi
	if ! grep -q '^[A-Za-z0-9][A-Za-z0-9_.-]*: ok (engine ' -- "$out" ||
		grep -vq ': ok (engine ' -- "$out"; then
		fail "good/$name: stdout is not one 'NAME: ok (...)' line per store:"
		cat -- "$out"
	fi
done

# The summary line of a valid file, exactly.
checks=$((checks + 1))
run "$CMSCTL_SOURCE_DIR/examples/quickstart" validate
printf 'redmond: ok (engine sqlite, 3 servers, databases xds, lis, primary pool-b, mirror pool-a)\n' \
	>"$tmp/want"
if [ "$rc" -ne 0 ] || ! cmp -s -- "$tmp/want" "$out"; then
	fail "quickstart summary (exit $rc):"
	diff -u -- "$tmp/want" "$out" | sed 's/^/    /'
fi

# A missing file: one line, exit 1.
checks=$((checks + 1))
mkdir -p "$tmp/empty"
run "$tmp/empty" validate
printf "cmsctl: cannot read config 'cms.yaml': No such file or directory\n" >"$tmp/want"
if [ "$rc" -ne 1 ] || [ -s "$out" ] || ! cmp -s -- "$tmp/want" "$err"; then
	fail "missing config (exit $rc):"
	diff -u -- "$tmp/want" "$err" | sed 's/^/    /'
fi

# A file over 64 MiB is refused before it is parsed.
checks=$((checks + 1))
{
	printf 'version: 1\n'
	head -c 67200000 /dev/zero | tr '\0' '#'
	printf '\n'
} >"$tmp/empty/big.yaml"
run "$tmp/empty" validate -c big.yaml
printf "cmsctl: cannot read config 'big.yaml': too large (more than 64 MiB)\n  hint: a config is read up to 64 MiB (about 250,000 stores of two servers): split the stores over several configs\n" >"$tmp/want"
if [ "$rc" -ne 1 ] || [ -s "$out" ] || ! cmp -s -- "$tmp/want" "$err"; then
	fail "file over 64 MiB (exit $rc):"
	diff -u -- "$tmp/want" "$err" | sed 's/^/    /'
fi
rm -f -- "$tmp/empty/big.yaml"

# More than 2,000,000 nodes (4 MB of one-letter scalars) is refused at the
# node that passes the limit, before the document is built.
checks=$((checks + 1))
{
	printf 'version: 1\nstores:\n'
	for i in 1 2 3 4 5 6 7 8 9 10 11; do
		printf '  - ['
		head -c 200000 /dev/zero | tr '\0' 'a' | sed 's/a/a,/g'
		printf 'a]\n'
	done
} >"$tmp/empty/nodes.yaml"
run "$tmp/empty" validate -c nodes.yaml
cat >"$tmp/want" <<'EOF'
nodes.yaml:12:399958: error: config has more than 2000000 YAML nodes
  hint: a config is read up to 2000000 nodes (about 70,000 stores of two servers): split the stores over several configs
cmsctl: 'nodes.yaml' has 1 error
EOF
if [ "$rc" -ne 1 ] || [ -s "$out" ] || ! cmp -s -- "$tmp/want" "$err"; then
	fail "file of more than 2000000 nodes (exit $rc):"
	diff -u -- "$tmp/want" "$err" | sed 's/^/    /'
fi
rm -f -- "$tmp/empty/nodes.yaml"

# A fleet: 10,000 plain stores (no anchors, no aliases; 2.5 MB) and one
# store of 10,000 servers are both accepted, whatever their number of nodes.
for shape in "10000 2" "1 10000"; do
	checks=$((checks + 1))
	bash "$CMSCTL_SOURCE_DIR/tests/bench/gen_fleet.sh" $shape >"$tmp/empty/fleet.yaml"
	run "$tmp/empty" validate -c fleet.yaml
	nok=$(grep -c ': ok (engine sqlite, ' -- "$out")
	want_ok=${shape% *}
	if [ "$rc" -ne 0 ] || [ -s "$err" ] || [ "$nok" -ne "$want_ok" ]; then
		fail "fleet of $shape (stores, servers): exit $rc, $nok ok lines, stderr:"
		head -n 5 -- "$err" | sed 's/^/    /'
	fi
done
rm -f -- "$tmp/empty/fleet.yaml"

# --json: same exit status, stderr quiet, one object whose diagnostics are
# the errors (schemas/validate.schema.json).
# Checked with Debian's python3 (also needed by t_examples.sh).
py=/usr/bin/python3
if [ -x "$py" ]; then
	for c in bad/several-errors:1 bad/alias-bomb:1 good/every-key-postgresql:0 empty/cms:1; do
		file=${c%:*} want_rc=${c##*:}
		checks=$((checks + 1))
		run "$tmp/$(dirname "$file")" validate --json -c "$(basename "$file").yaml"
		if [ "$rc" -ne "$want_rc" ] || [ -s "$err" ]; then
			fail "$file --json: exit $rc (want $want_rc), stderr:"
			cat -- "$err"
		fi
		nerr=0
		[ -f "$tmp/$file.err" ] && nerr=$(grep -c ': error: ' "$tmp/$file.err")
		[ "$file" = empty/cms ] && nerr=1
		if ! "$py" - "$out" "$want_rc" "$nerr" <<'EOF'; then
import json, sys
top = json.load(open(sys.argv[1]))
assert isinstance(top, dict), type(top)
assert top["valid"] == (sys.argv[2] == "0"), top["valid"]
assert (len(top["stores"]) > 0) == top["valid"], top["stores"]
doc = top["diagnostics"]
assert len(doc) == int(sys.argv[3]), len(doc)
assert (len(doc) == 0) == (sys.argv[2] == "0")
for d in doc:
    assert sorted(d) == ["column", "file", "hint", "line", "message"], d
    assert isinstance(d["line"], int) and isinstance(d["message"], str)
EOF
			fail "$file --json: unexpected document:"
			cat -- "$out"
		fi
	done
elif [ "${CI:-}" = true ]; then
	fail "/usr/bin/python3 not found: apt-get install python3 (needed for the --json checks)"
else
	printf 'NOTE: /usr/bin/python3 not found: --json output not checked\n' >&2
fi

printf '%d checks, %d failed\n' "$checks" "$fails"
[ "$fails" -eq 0 ]
