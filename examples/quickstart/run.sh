#!/usr/bin/env bash
# The quick start: from nothing to a reviewed, applied switchover on the
# embedded sqlite engine, in a fresh folder.
#
#   examples/quickstart/run.sh [WORK-DIR]
#
# Uses build/cmsctl (or $CMSCTL).  Every command it runs is one an operator
# would type; each is echoed before it runs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cmsctl=${CMSCTL:-$top/build/cmsctl}
[ -x "$cmsctl" ] || { echo "run.sh: no cmsctl at '$cmsctl': build it first (cmake -S . -B build && cmake --build build)" >&2; exit 1; }
work=${1:-$(mktemp -d /tmp/cmsctl-quickstart.XXXXXX)}
mkdir -p "$work"
cp "$here/cms.yaml" "$here/setup.sh" "$here/write.sh" "$work/"
cd "$work"
export CMSCTL_OPERATOR=${CMSCTL_OPERATOR:-alice@quickstart}

run() { printf '\n$ %s\n' "$*" >&2; "$@"; }

# 1. Three servers, each a folder of SQLite files: pool-a primary, pool-b its
#    mirror, dublin-dr a disaster-recovery backup.
run ./setup.sh
run "$cmsctl" validate
# 2. The first plan of a store adopts what the servers report (pool-a) and
#    changes nothing; apply records it as serial 1.
run "$cmsctl" plan -o adopt.plan
run "$cmsctl" apply adopt.plan
# 3. The config wants pool-b as primary: the next plan is a switchover.
run ./write.sh . pool-a 3
run "$cmsctl" plan -o switchover.plan --reason "move to pool-b for the quick start" --ticket CHG-1
run "$cmsctl" show switchover.plan
run "$cmsctl" apply switchover.plan --report switchover-report.html
# 4. Where things are now.
run "$cmsctl" status
run "$cmsctl" history
printf '\nQuick start done in %s:\n' "$work" >&2
printf '  location published to %s\n' "$work/published/location.json" >&2
printf '  report of the switchover: %s\n' "$work/switchover-report.html" >&2
printf '  state: %s, history (git): %s (git -C %s log cms-history)\n' \
	"$work/.cmsctl/state.db" "$work/.cmsctl/history" "$work/.cmsctl/history" >&2
