#!/usr/bin/env bash
# The product as installed: 'cmake --install' puts the binary, the man page
# (with EXAMPLES), the bash and zsh completions (generated from the command
# table), the schemas and the examples in place.  The bash completion is
# checked with 'complete -p' and a scripted completion of 'cmsctl pl<TAB>';
# the examples carry a yaml-language-server modeline to the schema, whose
# $id is a URN.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
: "${CMSCTL_BUILD_DIR:?CMSCTL_BUILD_DIR must name the build folder}"
P=$T/prefix
run 0 cmake --install "$CMSCTL_BUILD_DIR" --prefix "$P"
for f in bin/cmsctl share/man/man1/cmsctl.1 share/bash-completion/completions/cmsctl \
	share/zsh/vendor-completions/_cmsctl share/cmsctl/schemas/cms.schema.json \
	share/cmsctl/schemas/status.schema.json share/cmsctl/schemas/error.schema.json \
	share/cmsctl/examples/quickstart/cms.yaml share/cmsctl/examples/quickstart/setup.sh; do
	[ -f "$P/$f" ] || fail "not installed: $f"
done
[ -x "$P/share/cmsctl/examples/quickstart/setup.sh" ] || fail "setup.sh installed without its x bit"
# The installed completion is what the binary generates.
run 0 "$CMSCTL" completion bash
same out "$P/share/bash-completion/completions/cmsctl"
run 0 "$CMSCTL" completion zsh
same out "$P/share/zsh/vendor-completions/_cmsctl"
run 64 "$CMSCTL" completion fish

# bash: registered, and 'cmsctl pl<TAB>' completes to plan.
complete_words() {   # complete_words WORD...: the completions of the last word
	bash --norc --noprofile -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cmsctl
		printf "%s\n" "${COMPREPLY[@]}"' bash "$P/share/bash-completion/completions/cmsctl" "$@"
}
run 0 bash --norc --noprofile -c 'source "$1"; complete -p cmsctl' bash "$P/share/bash-completion/completions/cmsctl"
printf 'complete -F _cmsctl cmsctl\n' >want
same out want
complete_words cmsctl pl >got
printf 'plan\n' >want
same got want
complete_words cmsctl plan --det >got
printf -- '--detailed-exitcode\n' >want
same got want
complete_words cmsctl restore --dr >got
printf -- '--dry-run\n' >want
same got want
complete_words cmsctl completion z >got
printf 'zsh\n' >want
same got want
# -s completes the store names of the config.
cp "$SRC/examples/quickstart/cms.yaml" .
PATH=$P/bin:$PATH complete_words cmsctl status -s re >got
printf 'redmond\n' >want
same got want
# Every command of the table is offered.
complete_words cmsctl "" >got
for c in validate plan apply status show history approve restore lock unlock version completion; do
	contains got "$c"
done
if command -v zsh >/dev/null; then
	run 0 zsh -n "$P/share/zsh/vendor-completions/_cmsctl"
	contains "$P/share/zsh/vendor-completions/_cmsctl" "#compdef cmsctl"
elif [ "${CI:-}" = true ]; then
	fail "zsh not found: apt-get install zsh"
fi

# The man page: EXAMPLES, and the schemas where they are installed.
contains "$P/share/man/man1/cmsctl.1" ".SH EXAMPLES"
contains "$P/share/man/man1/cmsctl.1" "share/cmsctl/schemas"

# Examples: a modeline to the schema, which resolves next to them once
# installed; schema ids are URNs.
for f in "$P"/share/cmsctl/examples/*/cms.yaml; do
	read -r first <"$f"
	[ "$first" = "# yaml-language-server: \$schema=../../schemas/cms.schema.json" ] ||
		fail "$f: first line is '$first'"
	[ -f "$(dirname "$f")/../../schemas/cms.schema.json" ] || fail "$f: the modeline's schema is not there"
done
for s in "$SRC"/schemas/*.schema.json; do
	"$PY" -c 'import json,sys; i=json.load(open(sys.argv[1]))["$id"]; sys.exit(not i.startswith("urn:cmsctl:schema:"))' "$s" ||
		fail "$s: \$id is not a urn:cmsctl:schema: URN"
done
finish
