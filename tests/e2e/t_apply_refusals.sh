#!/usr/bin/env bash
# Apply refuses, with exit 3 and nothing changed, a tampered plan file, an
# expired plan, a plan applied twice and a plan made before another apply;
# an offline plan too.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
export CMSCTL_NOW=2026-05-01T09:00:00Z
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
[ "$(serial)" = 1 ] || fail "adopted serial"

snapshot() { for s in pool-a pool-b dublin-dr; do for d in xds lis; do
	sql servers/$s/$d.db 'SELECT role, epoch, change_counter, read_only FROM cms_control'; done; done
	serial; }
snapshot >before

run 0 "$CMSCTL" plan -o b.plan
export CMSCTL_NOW=2026-05-01T09:00:05Z
run 0 "$CMSCTL" plan -o c.plan

# Tampered: one byte changed after review.
sed 's/"catch_up_timeout_ms": 30000/"catch_up_timeout_ms": 30001/' b.plan >tampered.plan
run 3 "$CMSCTL" apply tampered.plan
contains err "is not in the history at '.cmsctl/history': it was changed after it was saved"
# Hand-edited to something that is no plan at all.
printf '{"format_version": 1, "surprise": true}' >bogus.plan
run 3 "$CMSCTL" apply bogus.plan
contains err "is not a valid plan"
# Offline plans are for review only.
run 0 "$CMSCTL" plan --offline -o offline.plan
run 3 "$CMSCTL" apply offline.plan
contains err "was made --offline"
# Expired: plan_ttl is 24h.
CMSCTL_NOW=2026-05-02T09:00:06Z run 3 "$CMSCTL" apply b.plan
contains err "expired at 2026-05-02T09:00:00Z"
snapshot >after
same before after

# An observation the plan relied on changed (pool-b's epoch, as after an
# outside promotion and demotion): refused before any change, naming it.
for d in xds lis; do sql servers/pool-b/$d.db "UPDATE cms_control SET epoch = epoch + 1"; done
snapshot >before
run 3 "$CMSCTL" apply b.plan
contains err "observation changed since plan"
contains err "pool-b was mirror at epoch 1, now mirror at epoch 2"
snapshot >after
same before after
for d in xds lis; do sql servers/pool-b/$d.db "UPDATE cms_control SET epoch = epoch - 1"; done
snapshot >before

# b applies; c was made against the same serial: stale; b again: single-use.
run 0 "$CMSCTL" apply b.plan
[ "$(serial)" = 2 ] || fail "serial after b"
snapshot >before
run 3 "$CMSCTL" apply c.plan
contains err "is at serial 2"
run 3 "$CMSCTL" apply b.plan
contains err "was already applied"
snapshot >after
same before after
finish
