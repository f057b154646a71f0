#!/usr/bin/env bash
# Two applies started at once on one store: exactly one runs, the other
# exits 4 naming the holder, and the store ends at one consistent location.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
cat >slow.sh <<'SH'
#!/bin/sh
sleep 5
SH
chmod +x slow.sh
printf '      - command: [%s/slow.sh]\n' "$T" >>cms.yaml
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 0 "$CMSCTL" plan -o s.plan
cp s.plan s2.plan

"$CMSCTL" apply s.plan >a.out 2>a.err & a=$!
"$CMSCTL" apply s2.plan >b.out 2>b.err & b=$!
ra=0; wait $a || ra=$?
rb=0; wait $b || rb=$?
codes=$(printf '%s\n%s\n' "$ra" "$rb" | sort | tr '\n' ' ')
[ "$codes" = "0 4 " ] || { fail "exit codes $ra and $rb, expected one 0 and one 4"; cat a.err b.err >&2; }
if [ "$ra" = 4 ]; then loser=a.err; else loser=b.err; fi
contains $loser "store 'redmond' is locked by alice@test (pid "
[ "$(serial)" = 2 ] || fail "serial $(serial), expected 2"
[ "$(sql .cmsctl/state.db 'SELECT count(*) FROM locks')" = 0 ] || fail "a lock was left behind"
[ "$(sql .cmsctl/state.db "SELECT count(*) FROM runs WHERE kind = 'apply'")" = 2 ] || fail "runs"
finish
