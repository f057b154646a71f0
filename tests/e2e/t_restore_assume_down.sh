#!/usr/bin/env bash
# An apply killed once its promotion began, and its target then lost:
# restore cannot tell whether the promotion took and refuses (exit 7),
# and nothing takes writes (the old primary is fenced).  The operator's
# attestation, restore --assume-down TARGET --reason TEXT, undoes the
# run: the old primary takes writes again, the attestation is in the
# report and the history, and a follow-up warns about the target.  The
# attestation is refused where it is not the one thing that decides.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
pid=''
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$T"' EXIT

role() { sql "servers/$1/$2.db" 'SELECT role || read_only FROM cms_control'; }

quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
sed -i 's/^      primary: pool-a/      primary: pool-b/; s/^      mirror: pool-b/      mirror: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o s.plan
contains out "4. promote"

# Usage errors, before anything is read: no reason, a reason alone, a
# server the store does not have.
run 64 "$CMSCTL" restore --assume-down pool-b --yes
contains err "'--assume-down' needs '--reason TEXT'"
run 64 "$CMSCTL" restore --reason "lost" --yes
contains err "'--reason' goes with '--assume-down SERVER'"
run 64 "$CMSCTL" restore --assume-down pool-x --reason "lost" --yes
contains err "store 'redmond' has no server of that name"
# No interrupted run: nothing to attest.
run 7 "$CMSCTL" restore --assume-down pool-b --reason "lost" --yes
contains err "store 'redmond' has no interrupted run to settle"

# (1) Killed with the promotion journaled as running.  While the target
# answers, the attestation is refused: it is not down.
kill_at 4:running s.plan
run 7 "$CMSCTL" restore --assume-down pool-b --reason "lost" --yes
contains err "--assume-down 'pool-b': it answers (reports mirror), so it is not down"
[ "$(role pool-a xds)" = primary1 ] || fail "pool-a is not left fenced: $(role pool-a xds)"

# The target lost: restore alone cannot tell, and says how to go on.
mv servers/pool-b servers/pool-b.gone
run 7 "$CMSCTL" restore --yes
contains err "cannot tell whether the promotion of 'pool-b'"
contains err "'cmsctl restore --assume-down pool-b --reason TEXT' undoes the run"
[ "$(role pool-a xds)" = primary1 ] || fail "a refused restore changed pool-a: $(role pool-a xds)"
# Only the run's target can be attested down.
run 7 "$CMSCTL" restore --assume-down pool-a --reason "lost" --yes
contains err "only the target of the interrupted run can be attested down"
# A dry run shows the undo and changes nothing.
run 0 "$CMSCTL" restore --assume-down pool-b --reason "disk of pool-b lost, CHG-7" --dry-run
contains out "the target does not answer and is attested down: undo the run"
contains out "undo the fence of the old primary"
[ "$(role pool-a xds)" = primary1 ] || fail "a dry run changed pool-a: $(role pool-a xds)"
run 0 "$CMSCTL" restore --assume-down pool-b --reason "disk of pool-b lost, CHG-7" --yes --json
cp out restore.json
for d in xds lis; do
	[ "$(role pool-a $d)" = primary0 ] || fail "after the attested restore, pool-a's $d: $(role pool-a $d)"
done
[ "$(jq -r .outcome restore.json)" = ok ] || fail "restore outcome $(jq -r .outcome restore.json)"
contains restore.json "pool-b was attested down by"
contains restore.json "it must not come back as a primary; re-seed it from pool-a"
contains restore.json "was closed by restore on the attestation that pool-b is down"
lacks restore.json "before any promotion took effect"
git -C .cmsctl/history log --format=%B >log.txt
contains log.txt "Assumed-Down: pool-b"
contains log.txt "Assumed-Down-Reason: disk of pool-b lost, CHG-7"
git -C .cmsctl/history show "cms-history:redmond/runs/$(jq -r .run_id restore.json)/report.json" >report.json
[ "$(jq -r .assume_down.server report.json)" = pool-b ] ||
	fail "the restore's report does not carry the attestation: $(jq -c .assume_down report.json)"
validate_json report.schema.json report.json
run 0 "$CMSCTL" audit verify

# (1b) Part of the target answers (one database file of two is gone):
# not down, refused; the whole target back, a plain restore settles it.
mv servers/pool-b.gone servers/pool-b
run 0 "$CMSCTL" plan -o s1b.plan
kill_at 4:running s1b.plan
mv servers/pool-b/lis.db lis.db.away
run 7 "$CMSCTL" restore --assume-down pool-b --reason "lost" --yes
contains err "--assume-down 'pool-b': part of it answers"
mv lis.db.away servers/pool-b/lis.db
run 0 "$CMSCTL" restore --yes

# (1c) The journal says the promotion took (killed after it, before the
# new location was recorded): an attestation does not undo a promotion
# that took; with the target back, restore finishes the run.
run 0 "$CMSCTL" plan -o s1c.plan
kill_at 4:done s1c.plan
mv servers/pool-b servers/pool-b.gone
run 7 "$CMSCTL" restore --assume-down pool-b --reason "lost" --yes
contains err "says its promotion took (promote done)"
mv servers/pool-b.gone servers/pool-b
run 0 "$CMSCTL" restore --yes
contains out "the target took the promotion"
[ "$(role pool-b xds)" = primary0 ] || fail "after finishing the run, pool-b's xds: $(role pool-b xds)"
# Back to pool-a primary for what follows.
sed -i 's/^      primary: pool-b/      primary: pool-a/; s/^      mirror: pool-a/      mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
run 0 "$CMSCTL" apply back.plan
sed -i 's/^      primary: pool-a/      primary: pool-b/; s/^      mirror: pool-b/      mirror: pool-a/' cms.yaml

# (2) Not needed: killed before the promotion began (catch-up running),
# the journal alone settles it, target lost or not.
run 0 "$CMSCTL" plan -o s2.plan
kill_at 3:running s2.plan
mv servers/pool-b servers/pool-b.gone
run 7 "$CMSCTL" restore --assume-down pool-b --reason "lost" --yes
contains err "--assume-down 'pool-b' is not needed"
run 0 "$CMSCTL" restore --yes
[ "$(role pool-a xds)" = primary0 ] || fail "after the plain restore, pool-a's xds: $(role pool-a xds)"

# (3) The attested restore killed before its record: the next command
# records it from the journal, attestation included (report.json's
# assume_down and the commit's trailers), as its own record would have.
mv servers/pool-b.gone servers/pool-b
run 0 "$CMSCTL" plan -o s3.plan
kill_at 4:running s3.plan
mv servers/pool-b servers/pool-b.gone
CMSCTL_TEST_HOLD_AT=record "$CMSCTL" restore --assume-down pool-b --reason "pool-b burned, CHG-9" \
	--yes >restore.out 2>restore.err & pid=$!
wait_for restore.err "holding before recording run"
kill -9 $pid; wait $pid 2>/dev/null || true; pid=''
rid=$(sql .cmsctl/state.db "SELECT id FROM runs WHERE kind = 'restore' ORDER BY started_at DESC LIMIT 1")
mv servers/pool-b.gone servers/pool-b
run 0 "$CMSCTL" plan -o after.plan
contains err "recorded run $rid"
git -C .cmsctl/history show "cms-history:redmond/runs/$rid/report.json" >levelled.json
[ "$(jq -r '.assume_down.server + " / " + .assume_down.reason' levelled.json)" = "pool-b / pool-b burned, CHG-9" ] ||
	fail "the levelled restore report lacks the attestation: $(jq -c .assume_down levelled.json)"
validate_json report.schema.json levelled.json
git -C .cmsctl/history log -1 --format=%B "$(git -C .cmsctl/history log --format=%H --grep "Run-Id: $rid" cms-history | head -1)" >levelled.txt
contains levelled.txt "Recorded-From: journal"
contains levelled.txt "Assumed-Down: pool-b"
contains levelled.txt "Assumed-Down-Reason: pool-b burned, CHG-9"
run 0 "$CMSCTL" audit verify
finish
