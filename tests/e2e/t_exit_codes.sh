#!/usr/bin/env bash
# Every documented exit status, reached for its documented reason:
# 0 ok, 1 error, 2 changes, 3 stale, 4 lock held, 5 declined,
# 6 interrupted, 7 precondition refused, 64 usage.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart

run 64 "$CMSCTL" plan --no-such-option
contains err "unknown option '--no-such-option'"
run 64 "$CMSCTL" no-such-command
run 64 "$CMSCTL"
run 1 "$CMSCTL" validate -c missing.yaml
contains err "cannot read config 'missing.yaml'"

run 2 "$CMSCTL" plan --detailed-exitcode -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
run 3 "$CMSCTL" apply adopt.plan

# 5: without a plan file apply asks; no terminal and no --yes: refuse.
run 5 "$CMSCTL" apply </dev/null
contains err "standard input is not a terminal"
# 5 and 0 at a real terminal (script(1) gives the prompt a pty).
printf 'no\n' >answer
run 5 script -qec "$CMSCTL apply" /dev/null <answer
contains out "Only 'yes' is accepted"
[ "$(serial)" = 1 ] || fail "declined apply changed the serial"
printf 'yes\n' >answer
run 0 script -qec "$CMSCTL apply" /dev/null <answer
[ "$(serial)" = 2 ] || fail "accepted apply did not change the serial"

# 4: a lock held by someone else (a live lease) names its holder.
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o back.plan
sql .cmsctl/state.db "INSERT INTO locks (store, id, holder, reason, acquired_at, lease_until)
	VALUES ('redmond', 'feedc0de', 'bob@other:4242', 'apply plan x', strftime('%s','now'), strftime('%s','now') + 3600)"
run 4 "$CMSCTL" apply back.plan
contains err "store 'redmond' is locked by bob@other:4242"
run 0 "$CMSCTL" lock list
contains out "redmond feedc0de held by bob@other:4242"
run 4 "$CMSCTL" unlock redmond feedc0de
run 0 "$CMSCTL" unlock redmond feedc0de --force
# A lock whose lease has run out can be broken without --force.
sql .cmsctl/state.db "INSERT INTO locks (store, id, holder, reason, acquired_at, lease_until)
	VALUES ('redmond', 'deadbeef', 'carol@gone (pid 1 on elsewhere, pid:[1])', 'apply plan y', strftime('%s','now') - 7200, strftime('%s','now') - 3600)"
run 0 "$CMSCTL" lock list
contains out "redmond deadbeef held by carol@gone"
contains out "[expired]"
run 0 "$CMSCTL" unlock redmond deadbeef
run 0 "$CMSCTL" lock list
lacks out "deadbeef"
git -C .cmsctl/history log -2 --format=%s cms-history >subject
printf 'redmond: unlock deadbeef held by carol@gone (pid 1 on elsewhere, pid:[1])\nredmond: unlock feedc0de held by bob@other:4242 (forced)\n' >want
same subject want

# 7: a precondition refuses: disaster recovery without allow_data_loss.
sed -i 's/primary: pool-a/primary: dublin-dr/' cms.yaml
run 7 "$CMSCTL" plan
contains err "disaster-recovery of store 'redmond' to 'dublin-dr' may lose data and policy.allow_data_loss is false"
contains err "allow_data_loss: true"

# 6: a failure after promotion stops, never rolls back, and is left for restore.
sed -i 's/primary: dublin-dr/primary: pool-a/' cms.yaml
cat >fail.sh <<'SH'
#!/bin/sh
exit 3
SH
chmod +x fail.sh
printf '      - command: [%s/fail.sh]\n' "$T" >>cms.yaml
run 0 "$CMSCTL" plan -o back2.plan
run 6 "$CMSCTL" apply back2.plan
contains err "the move itself is done: store 'redmond' is at primary 'pool-a', recorded as serial"
contains err "publish command '$T/fail.sh' failed with exit 3"
# The move stands: nothing is interrupted, plan is not blocked, status
# shows the target left behind, restore publishes again (and still fails).
run 0 "$CMSCTL" plan
run 0 "$CMSCTL" status
contains out "problem: publish the location to command $T/fail.sh failed in run"
run 6 "$CMSCTL" restore --yes
contains err "publish command '$T/fail.sh' failed with exit 3"

# 6: a failure after promotion that is not a publish stops, never rolls
# back, and is left for restore.
sed -i '$d' cms.yaml
sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
run 0 "$CMSCTL" plan -o fwd.plan
sqlite3 .cmsctl/state.db "CREATE TRIGGER no_commit BEFORE UPDATE OF serial ON stores BEGIN SELECT RAISE(ABORT, 'state is read-only now'); END"
run 6 "$CMSCTL" apply fwd.plan
contains err "stopped after promotion"
sqlite3 .cmsctl/state.db "DROP TRIGGER no_commit"
run 6 "$CMSCTL" plan
contains err "was interrupted"
run 0 "$CMSCTL" status
contains out "interrupted apply run"
run 0 "$CMSCTL" restore --yes

# 6: a run that did everything but cannot be closed in the state is not
# reported as fine: exit 6, and restore closes it.
sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
run 0 "$CMSCTL" plan -o close.plan
sqlite3 .cmsctl/state.db "CREATE TRIGGER no_close BEFORE UPDATE OF outcome ON runs WHEN NEW.outcome = 'ok' BEGIN SELECT RAISE(ABORT, 'the state takes no more writes'); END"
run 6 "$CMSCTL" apply close.plan
contains err "is done (ok) but cannot be closed in the state"
contains err "the state takes no more writes"
sqlite3 .cmsctl/state.db "DROP TRIGGER no_close"
[ "$(sqlite3 .cmsctl/state.db "SELECT primary_server FROM stores")" = pool-a ] || fail "the move was not recorded"
run 0 "$CMSCTL" restore --yes
[ "$(sqlite3 .cmsctl/state.db "SELECT count(*) FROM runs WHERE outcome = 'running'")" = 0 ] ||
	fail "restore left a run open"
finish
