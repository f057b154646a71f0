#!/usr/bin/env bash
# The command table: --version, help, every command's --help (from the same
# table as its options), and usage errors (64).
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
run 0 "$CMSCTL" --version
contains out "cmsctl 0.1.0"
run 0 "$CMSCTL" help
cp out main-help
for c in validate plan apply status show history approve restore lock unlock; do
	contains main-help "  $c "
	run 0 "$CMSCTL" $c --help
	contains out "usage: cmsctl $c [options]"
	contains out "--config FILE"
	run 0 "$CMSCTL" help $c
done
run 0 "$CMSCTL" plan --help
contains out "--detailed-exitcode"
contains out "--offline"
run 64 "$CMSCTL" help nonsense
run 64 "$CMSCTL" show
contains err "missing argument"
run 64 "$CMSCTL" status extra-argument
contains err "unexpected argument 'extra-argument'"
run 64 "$CMSCTL" plan -o
contains err "option '--out' needs a value (FILE)"
run 64 "$CMSCTL" lock frobnicate
finish
