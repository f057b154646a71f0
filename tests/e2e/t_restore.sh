#!/usr/bin/env bash
# Drift and restore (the seed's -Restore): an outside change is shown by
# status, refused by plan with a way forward, and restore re-asserts the
# recorded location (re-fence, unfence, re-publish), journaled and reported.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
rm published/location.json

# Outside change: someone fences pool-a by hand.
for d in xds lis; do sql servers/pool-a/$d.db "UPDATE cms_control SET read_only = 1"; done
run 0 "$CMSCTL" status
contains out "drift: the state records primary 'pool-a' but it reports primary (read-only)"
run 7 "$CMSCTL" plan
contains err "drift: the state records primary 'pool-a' but it reports"
contains err "run 'cmsctl restore'"
run 0 "$CMSCTL" restore --yes --report restore.html
contains out "redmond: restore pool-a: ok"
[ "$(sql servers/pool-a/xds.db 'SELECT read_only FROM cms_control')" = 0 ] || fail "pool-a still fenced"
[ -f published/location.json ] || fail "restore did not re-publish"
run 0 "$CMSCTL" status
contains out "drift: none"
[ "$(serial)" = 1 ] || fail "restore changed the serial"

# Outside change: a second writable primary (pool-b) appears: restore re-fences it.
for d in xds lis; do sql servers/pool-b/$d.db "UPDATE cms_control SET role = 'primary', read_only = 0"; done
run 7 "$CMSCTL" plan
contains err "report being the primary"
run 0 "$CMSCTL" restore --yes
[ "$(sql servers/pool-b/xds.db 'SELECT read_only FROM cms_control')" = 1 ] || fail "pool-b not re-fenced"
git -C .cmsctl/history log -1 --format=%s cms-history >subject
printf 'redmond: restore pool-a: ok\n' >want
same subject want

# Someone promoted the mirror outside cmsctl and demoted pool-a: restore
# cannot make pool-a primary again; --accept-drift adopts the new truth.
for d in xds lis; do
	sql servers/pool-a/$d.db "UPDATE cms_control SET role = 'mirror', read_only = 0"
	sql servers/pool-b/$d.db "UPDATE cms_control SET role = 'primary', read_only = 0"
done
run 7 "$CMSCTL" restore --yes
contains err "the recorded primary 'pool-a' reports mirror"
run 0 "$CMSCTL" plan --accept-drift -o adopt2.plan
contains out "adopt"
run 0 "$CMSCTL" apply adopt2.plan
[ "$(sql .cmsctl/state.db "SELECT primary_server FROM stores")" = pool-b ] || fail "accept-drift"
finish
