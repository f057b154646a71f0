#!/usr/bin/env bash
# CMSCTL_NOW exactly as documented: YYYY-MM-DDTHH:MM:SSZ with a real date,
# or decimal epoch seconds up to 9999-12-31T23:59:59Z; anything else is a
# usage error (64) before anything is read or written.  Times near the end
# of the range never overflow and print the same on every run.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart

for bad in 99999999999999999 9223372036854775807 253402300800 2026-02-30T00:00:00Z \
	2025-02-29T00:00:00Z 2026-13-01T00:00:00Z 2026-01-01T24:00:00Z 2026-01-01T00:60:00Z \
	" 12" "12 " +12 -1 0x10 1e9 2026-01-01T00:00:00 2026-01-01T00:00:00Z. \
	"2026-01-01 00:00:00Z" 2026-01-01t00:00:00z 1969-12-31T23:59:59Z yesterday; do
	CMSCTL_NOW=$bad run 64 "$CMSCTL" plan --offline
	contains err "CMSCTL_NOW '$bad' is not an RFC 3339 UTC time"
done
[ ! -e .cmsctl/state.db ] || fail "a refused clock let a command write the state"

for good in 2024-02-29T23:59:59Z 2000-02-29T00:00:00Z 0 1767225600; do
	CMSCTL_NOW=$good run 0 "$CMSCTL" plan --offline
done

# The last second a time can say: the expiry (now + plan_ttl) stays at that
# end, the same on every run, and the plan file reads back.
CMSCTL_NOW=253402300799 run 0 "$CMSCTL" plan --offline --json
cp out p1.json
CMSCTL_NOW=253402300799 run 0 "$CMSCTL" plan --offline --json
same p1.json out
contains p1.json '"created": "9999-12-31T23:59:59Z"'
contains p1.json '"expires": "9999-12-31T23:59:59Z"'
CMSCTL_NOW=253402300799 run 0 "$CMSCTL" plan --offline -o end.plan
CMSCTL_NOW=253402300799 run 0 "$CMSCTL" show end.plan
contains out "expires 9999-12-31T23:59:59Z"
finish
