#!/usr/bin/env bash
# Four runners, each with its own local history, push to one path remote
# at the same time (plan -o, 15 times each): a push that loses the race
# is rejected by the remote, and must fetch, rebuild and try again, never
# stay local with a warning.  Every plan of each reaches the remote,
# exactly once.
# (libgit2 1.5 words a path remote's rejection "... contains commits that
# are not present locally", which was once taken for a hard failure.  Its
# local transport also writes the remote branch with force after its
# fast-forward check: two pushers that checked the same tip both passed,
# and the later write dropped the other's commits, about one run in three
# of this test.  cmsctl now moves a path remote's branch itself, only
# from the tip it built on.)
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
git init -q --bare remote.git
for r in a b c d; do
	mkdir "$r"
	(
		cd "$r"
		bash "$SRC/examples/quickstart/setup.sh" "store-$r" >/dev/null
		cat >cms.yaml <<YAML
version: 1
backend:
  remote: ../remote.git
stores:
  - name: store-$r
    engine: sqlite
    databases: [xds, lis]
    servers:
      - {name: pool-a, path: store-$r/servers/pool-a}
      - {name: pool-b, path: store-$r/servers/pool-b, role: mirror}
    location: {primary: pool-a, mirror: pool-b}
YAML
	)
done
rounds=15
for r in a b c d; do
	(
		cd "$r"
		for i in $(seq 1 $rounds); do
			"$CMSCTL" plan -o "p$i.plan" >/dev/null 2>>plans.err || echo "plan $i: exit $?" >>plans.err
		done
	) &
done
wait
for r in a b c d; do
	if [ -s "$r/plans.err" ] && grep -v "^cmsctl: saved plan " "$r/plans.err" >"$r/other" && [ -s "$r/other" ]; then
		fail "runner $r: $(head -3 "$r/other")"
	fi
done
git -C remote.git log --format=%s cms-history >remote.log
for r in a b c d; do
	n=$(grep -c "^store-$r: plan " remote.log || true)
	[ "$n" = "$rounds" ] || fail "the remote holds $n plans of store-$r, not $rounds"
done
finish
