#!/usr/bin/env bash
# The config corpus through the real binary.
#
# Every tests/configs/bad/NAME.yaml must make `cmsctl validate -c NAME.yaml`,
# run in the folder that holds it, exit exactly 1 with nothing on stdout
# and stderr byte for byte equal to NAME.err.  Every tests/configs/good/*.yaml
# must exit 0 with one "ok" line per store and nothing on stderr.  Also: a
# missing file, a file over 1 MiB, --json for both, and that no message of
# the corpus repeats a password it was shown ("hunter2").
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

# A file over 1 MiB is refused before it is parsed.
checks=$((checks + 1))
{
	printf 'version: 1\n'
	head -c 1100000 /dev/zero | tr '\0' '#'
	printf '\n'
} >"$tmp/empty/big.yaml"
run "$tmp/empty" validate -c big.yaml
printf "cmsctl: cannot read config 'big.yaml': too large (more than 1 MiB)\n" >"$tmp/want"
if [ "$rc" -ne 1 ] || [ -s "$out" ] || ! cmp -s -- "$tmp/want" "$err"; then
	fail "file over 1 MiB (exit $rc):"
	diff -u -- "$tmp/want" "$err" | sed 's/^/    /'
fi

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
