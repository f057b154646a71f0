#!/usr/bin/env bash
# Unreachable is not down (sqlite quick start, the primary's folder moved
# away so it cannot be reached): without a fence target and without
# --assume-down the move is refused before any change; a fence target is
# run with the server in its environment and the move goes ahead when it
# exits 0; a failing or hanging fence target stops the move before any
# change (exit 7) unless the plan carries the operator's attestation, which
# the plan, the report and the history then show.
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1

writable() {
	for s in pool-a pool-b dublin-dr; do
		[ -d servers/$s ] || continue
		[ "$(sql servers/$s/xds.db "SELECT role || '/' || read_only FROM cms_control")" = primary/0 ] && printf '%s ' "$s"
	done
	return 0
}

# fresh FENCE-YAML: a quick start adopted at pool-a, pool-a then cut off,
# the config wanting pool-b with allow_data_loss and the given fence lines
# under pool-a.
fresh() {
	rm -rf "$T/w" "$T/pool-a.away" && mkdir "$T/w" && cd "$T/w"
	quickstart
	sed -i 's/primary: pool-b/primary: pool-a/; s/mirror: pool-a/mirror: pool-b/' cms.yaml
	"$CMSCTL" apply --yes >/dev/null 2>&1 || fail "adopt"
	sed -i 's/primary: pool-a/primary: pool-b/; s/mirror: pool-b/mirror: pool-a/' cms.yaml
	sed -i 's/allow_data_loss: false/allow_data_loss: true/' cms.yaml
	if [ -n "$1" ]; then
		awk -v fence="$1" '{ print } /path: servers\/pool-a/ { print fence }' cms.yaml >cms.new
		mv cms.new cms.yaml
	fi
	mv servers/pool-a "$T/pool-a.away"
}
state_sum() { sql .cmsctl/state.db "SELECT name, serial, primary_server FROM stores"; }

# fence.sh writes what it was given and exits with $1 (or sleeps with "hang").
FENCE_LOG=$T/fence.log
cat >"$T/fence.sh" <<SH
#!/bin/sh
printf '%s %s %s %s\\n' "\$CMS_STORE" "\$CMS_SERVER" "\$CMS_ENGINE" "\$1" >>'$FENCE_LOG'
[ "\$1" = hang ] && exec sleep 60
exit "\$1"
SH
chmod +x "$T/fence.sh"

# 1. No fence target, no attestation: refused at plan time, nothing changes.
fresh ""
before=$(state_sum)
run 7 "$CMSCTL" plan
contains err "the primary 'pool-a' is unreachable and cannot be fenced"
contains err "--assume-down pool-a --reason TEXT"
run 7 "$CMSCTL" apply --yes
[ "$(state_sum)" = "$before" ] || fail "the state changed: $(state_sum)"
[ "$(writable)" = "" ] || fail "writable after a refusal: $(writable)"
run 64 "$CMSCTL" plan --assume-down pool-a
contains err "'--assume-down' needs '--reason TEXT'"
# --reason alone is no attestation: still refused.
run 7 "$CMSCTL" plan --reason "no server"
contains err "cannot be fenced"

# 2. A fence target that exits 0: shown in the plan, run with the server in
#    its environment, and the move succeeds.
fresh "        fence:
          - command: [$T/fence.sh, \"0\"]
            timeout: 10s"
: >"$FENCE_LOG"
run 0 "$CMSCTL" plan -o f.plan
contains out "Fence of pool-a: from outside, through its fence targets"
contains out "1. command $T/fence.sh 0 (timeout 10000 ms)"
validate_json plan.schema.json f.plan
[ "$(jq -r .fence.via f.plan)" = targets ] || fail "fence.via $(jq -r .fence.via f.plan)"
run 0 "$CMSCTL" apply f.plan --json
[ "$(cat "$FENCE_LOG")" = "redmond pool-a sqlite 0" ] || fail "fence log: $(cat "$FENCE_LOG")"
[ "$(writable)" = "pool-b " ] || fail "after the fence: writable $(writable)"
[ "$(jq -r '.steps[] | select(.action == "fence") | .status' out)" = done ] || fail "fence step"
validate_json report.schema.json out

# 3. Every fence target fails (exit 3, then one killed at its 1 s timeout):
#    the move stops before any change, exit 7, the target still a mirror.
fresh "        fence:
          - command: [$T/fence.sh, \"3\"]
          - command: [$T/fence.sh, hang]
            timeout: 1s"
: >"$FENCE_LOG"
run 0 "$CMSCTL" plan -o f.plan
before=$(state_sum)
run 7 "$CMSCTL" apply f.plan --json
contains err "no fence target of 'pool-a' succeeded (2 tried; last: fence command"
contains err "did not finish within 1000 ms and was killed"
[ "$(jq -r .outcome out)" = rolled_back ] || fail "outcome $(jq -r .outcome out)"
[ "$(jq -r '[.steps[] | select(.action == "promote") | .status] | join(",")' out)" = skipped ] ||
	fail "promote: $(jq -r '[.steps[] | select(.action == "promote") | .status] | join(",")' out)"
[ "$(wc -l <"$FENCE_LOG")" = 2 ] || fail "fence log: $(cat "$FENCE_LOG")"
[ "$(state_sum)" = "$before" ] || fail "the state changed: $(state_sum)"
[ "$(writable)" = "" ] || fail "writable after a refused move: $(writable)"
[ "$(sql servers/pool-b/xds.db "SELECT role FROM cms_control")" = mirror ] || fail "pool-b is no mirror"

# 4. The same with the operator's attestation: the move goes ahead, and the
#    attestation is in the plan, the report and the history.
run 0 "$CMSCTL" plan -o a.plan --assume-down pool-a --reason "site lost: power confirmed off (ticket DC-4711)"
contains out "ASSUMED DOWN by alice@test: pool-a does not answer and is attested down"
[ "$(jq -r .assume_down.reason a.plan)" = "site lost: power confirmed off (ticket DC-4711)" ] ||
	fail "plan attestation: $(jq -c .assume_down a.plan)"
validate_json plan.schema.json a.plan
run 0 "$CMSCTL" apply a.plan --json
[ "$(jq -r .assume_down.server out)" = pool-a ] || fail "report attestation: $(jq -c .assume_down out)"
jq -r '.steps[] | select(.action == "fence") | .checks[].observed' out >checks
contains checks "site lost: power confirmed off (ticket DC-4711)"
validate_json report.schema.json out
git --git-dir=.cmsctl/history log -1 --format=%B >msg
contains msg "Assumed-Down: pool-a"
contains msg "Assumed-Down-Reason: site lost: power confirmed off (ticket DC-4711)"
git --git-dir=.cmsctl/history log --format=%B >all
contains all "Kind: plan"
[ "$(writable)" = "pool-b " ] || fail "after the attested move: writable $(writable)"

# 5. Attestation without fence targets; an attestation naming another
#    server, or one that answers, is refused.
fresh ""
run 7 "$CMSCTL" plan --assume-down pool-b --reason "wrong server"
contains err "--assume-down names 'pool-b', but the primary this move replaces is 'pool-a'"
run 0 "$CMSCTL" plan -o a.plan --assume-down pool-a --reason "decommissioned"
contains out "Fence of pool-a: none; nothing is sent to it"
run 0 "$CMSCTL" apply a.plan
[ "$(writable)" = "pool-b " ] || fail "after the attested move: writable $(writable)"
mv "$T/pool-a.away" servers/pool-a
run 7 "$CMSCTL" plan --assume-down pool-a --reason "it answers"

# 6. A config whose fence targets changed since the plan: stale.
fresh "        fence:
          - command: [$T/fence.sh, \"0\"]"
run 0 "$CMSCTL" plan -o f.plan
sed -i "s|$T/fence.sh, \"0\"|$T/fence.sh, \"1\"|" cms.yaml
run 3 "$CMSCTL" apply f.plan

finish
