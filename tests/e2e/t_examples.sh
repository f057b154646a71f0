#!/usr/bin/env bash
# Every example config is valid, for the loader and for the schema; and the
# loader and schemas/cms.schema.json agree on the corpus.
#
#  - examples/*/cms.yaml: `cmsctl validate`, run in the example's folder as a
#    user would, exits 0; and the file validates against the schema
#    (jsonschema.Draft202012Validator, read with PyYAML).
#  - tests/configs/good/*.yaml: accepted by the schema too.
#  - tests/configs/bad/*.yaml (all rejected by the loader, see
#    t_validate_corpus.sh): each falls in exactly one class below, and the
#    class is checked, so that a schema change that lets a bad case through,
#    or newly catches a loader-only one, shows up here.
#      yaml_level   PyYAML itself refuses the file (syntax, tags, several
#                   documents, encoding, complex keys);
#      loader_only  the schema cannot say it (cross references, uniqueness,
#                   merge keys, YAML 1.1 booleans like 'yes', limits);
#      otherwise    the schema rejects it; for some, for a named reason.
#    Not given to the schema at all: the classic billion laughs, which
#    PyYAML reads by reference but any tree walk expands (jsonschema puts
#    the whole instance into its error message): that is the attack.
#
# Needs Debian's /usr/bin/python3 with python3-jsonschema and python3-yaml
# (another python3 on PATH is not used).  Without them: skip (77) with a
# message, or fail when CI=true.
set -u

: "${CMSCTL:?set CMSCTL to the cmsctl binary}"
: "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR to the repository root}"

py=/usr/bin/python3
src=$CMSCTL_SOURCE_DIR
schema=$src/schemas/cms.schema.json

if ! [ -x "$py" ] || ! "$py" -c 'import jsonschema, yaml; jsonschema.Draft202012Validator' 2>/dev/null; then
	msg="needs /usr/bin/python3 with jsonschema and yaml: apt-get install -y python3-jsonschema python3-yaml"
	if [ "${CI:-}" = true ]; then
		printf 'FAIL: %s\n' "$msg"
		exit 1
	fi
	printf 'SKIP: %s\n' "$msg" >&2
	exit 77
fi

schema_skip="alias-bomb-classic"
yaml_level="complex-key invalid-utf8 multiple-documents yaml-syntax yaml-tab yaml-tag
	yaml-undefined-alias"
loader_only="alias-bomb bool-yes duplicate-server duplicate-store merge-key mirror-is-backup
	plan-ttl-fraction primary-equals-mirror undefined-mirror undefined-primary
	mssql-instance-connection publish-file-shared sqlite-path-shared sqlite-path-shared-stores"
# case=validator: the schema must reject it with that keyword somewhere in
# its errors (so it is refused for the right reason, not by accident).
reasons="unknown-key-policy=additionalProperties unknown-key-top=additionalProperties
	unknown-key-no-suggestion=additionalProperties literal-password-key=additionalProperties
	unknown-engine=enum engine-misspelled=enum role-unknown=enum
	policy-not-mapping=type name-is-number=type bool-quoted=type stores-not-sequence=type
	duration-no-unit=type version-quoted=const version-2=const
	database-not-identifier=pattern server-name-invalid=pattern duration-invalid=pattern
	literal-password-connection=not password-in-pqopt=not databases-duplicate=uniqueItems
	approvals-out-of-range=maximum sqlite-missing-path=required missing-engine=required
	backend-unknown-state=pattern backend-literal-password=not
	backend-postgresql-no-connection=required log-backups-relative=pattern
	log-backups-not-backup=const log-backups-postgresql=false"

fails=0
checks=0
fail() {
	printf 'FAIL: %s\n' "$*"
	fails=$((fails + 1))
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_examples.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT

# The loader: each example, from its own folder, and by path from elsewhere.
nexamples=0
for cfg in "$src"/examples/*/cms.yaml; do
	[ -f "$cfg" ] || continue
	nexamples=$((nexamples + 1))
	dir=$(dirname "$cfg")
	checks=$((checks + 2))
	(cd "$dir" && exec "$CMSCTL" validate) >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$tmp/err" ] || ! [ -s "$tmp/out" ]; then
		fail "$cfg: cmsctl validate exited $rc:"
		cat -- "$tmp/err"
	fi
	(cd "$tmp" && exec "$CMSCTL" validate -c "$cfg") >"$tmp/out2" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne 0 ] || ! cmp -s -- "$tmp/out" "$tmp/out2"; then
		fail "$cfg: cmsctl validate -c PATH exited $rc or printed something else:"
		cat -- "$tmp/err" "$tmp/out2"
	fi
done
if [ "$nexamples" -lt 3 ]; then
	fail "expected the quickstart, postgresql and mssql examples, found $nexamples"
fi

# The schema: one python run over everything; it prints one verdict per
# file, "FILE<TAB>accept", "FILE<TAB>reject<TAB>VALIDATORS" or
# "FILE<TAB>yaml-error<TAB>MESSAGE".
bad_files=()
for cfg in "$src"/tests/configs/bad/*.yaml; do
	case " $schema_skip " in *" $(basename "$cfg" .yaml) "*) continue ;; esac
	bad_files+=("$cfg")
done
"$py" - "$schema" "$src"/examples/*/cms.yaml "$src"/tests/configs/good/*.yaml \
	"${bad_files[@]}" >"$tmp/verdicts" 2>"$tmp/pyerr" <<'EOF'
import json, sys
import jsonschema, yaml

schema = json.load(open(sys.argv[1], encoding="utf-8"))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

def keywords(errors):
    for e in errors:
        yield e.validator if e.validator is not None else "false"  # a false subschema
        yield from keywords(e.context or [])

for path in sys.argv[2:]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        print("%s\tyaml-error\t%s" % (path, str(e).splitlines()[0]))
        continue
    errors = list(validator.iter_errors(doc))
    if errors:
        print("%s\treject\t%s" % (path, " ".join(sorted(set(keywords(errors))))))
    else:
        print("%s\taccept" % path)
EOF
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "the schema check itself failed (exit $rc):"
	cat -- "$tmp/pyerr"
	printf '%d checks, %d failed\n' "$checks" "$fails"
	exit 1
fi

# verdict FILE: the verdict line's fields 2 and 3.
verdict() {
	awk -F '\t' -v f="$1" '$1 == f { print $2 "\t" $3 }' "$tmp/verdicts"
}
in_list() {
	case " $(echo $2) " in *" $1 "*) return 0 ;; esac
	return 1
}

for cfg in "$src"/examples/*/cms.yaml "$src"/tests/configs/good/*.yaml; do
	checks=$((checks + 1))
	v=$(verdict "$cfg")
	[ "${v%%	*}" = accept ] || fail "$cfg: the schema does not accept it: $v"
done

for cfg in "$src"/tests/configs/bad/*.yaml; do
	name=$(basename "$cfg" .yaml)
	checks=$((checks + 1))
	v=$(verdict "$cfg")
	kind=${v%%	*}
	why=${v#*	}
	if in_list "$name" "$schema_skip"; then
		[ -z "$v" ] || fail "$name: listed as not for the schema, but was checked"
	elif in_list "$name" "$yaml_level"; then
		[ "$kind" = yaml-error ] || fail "$name: listed as unreadable YAML, but PyYAML reads it ($kind)"
	elif in_list "$name" "$loader_only"; then
		[ "$kind" = accept ] ||
			fail "$name: listed as loader-only, but the schema now says $kind ($why): move it"
	elif [ "$kind" != reject ]; then
		fail "$name: the loader rejects it but the schema says $kind $why"
	else
		for r in $reasons; do
			[ "${r%%=*}" = "$name" ] || continue
			checks=$((checks + 1))
			in_list "${r#*=}" "$why" ||
				fail "$name: the schema rejects it, but not by '${r#*=}' (by: $why)"
		done
	fi
done

printf '%d checks, %d failed\n' "$checks" "$fails"
[ "$fails" -eq 0 ]
