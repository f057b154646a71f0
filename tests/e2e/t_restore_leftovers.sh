#!/usr/bin/env bash
# A SIGKILL during a sqlite catch-up leaves a full-size copy
# (<db>.db.catchup-<hex>) beside the target's file; restore removes it and
# says so.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
quickstart
sed -i "s/max_lag_bytes: 16MiB/max_lag_bytes: 1GiB/" cms.yaml
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
# A big primary, so that the copy takes long enough to be caught.
sql servers/pool-a/xds.db "CREATE TABLE big (b BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 96)
INSERT INTO big SELECT randomblob(1048576) FROM n"
bash ./write.sh . pool-a 1 >/dev/null
run 0 "$CMSCTL" plan -o s.plan

copy=
for attempt in 1 2 3; do
	"$CMSCTL" apply s.plan >apply.out 2>apply.err &
	pid=$!
	for i in $(seq 1 2000); do
		copy=$(ls servers/pool-b/xds.db.catchup-* 2>/dev/null | head -1 || true)
		[ -n "$copy" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.005
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[ -n "$copy" ] && break
	# The apply won the race: move back and try again.
	run 0 "$CMSCTL" restore --yes
	sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
	run 0 "$CMSCTL" plan -o back.plan && run 0 "$CMSCTL" apply back.plan
	sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
	bash ./write.sh . pool-a 1 >/dev/null
	run 0 "$CMSCTL" plan -o s.plan
done
[ -n "$copy" ] || fail "never caught the catch-up copy on disk"
[ -e "$copy" ] || fail "the killed catch-up left no copy behind ($copy)"
run 0 "$CMSCTL" restore --yes
contains out "a catch-up copy an interrupted run left behind"
if ls servers/pool-b/xds.db.catchup-* >/dev/null 2>&1; then
	fail "restore left the catch-up copy"
fi
finish
