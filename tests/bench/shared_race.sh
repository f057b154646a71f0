#!/usr/bin/env bash
# The acceptance scenario of the shared backends at full length: two
# runners racing ROUNDS rounds (default 100) of plan on one, apply on both,
# on a PostgreSQL state and a history remote (tests/integration/
# t_shared_history.sh, which CI runs with 100 rounds too).  Prints the wall time.
#
#   bash tests/bench/shared_race.sh [ROUNDS]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
export ROUNDS=${1:-100}
export CMSCTL_SOURCE_DIR=$src CMSCTL=${CMSCTL:-${CMSCTL_BUILD_DIR:-$src/build}/cmsctl}
start=$(date +%s)
bash "$src/tests/integration/t_shared_history.sh"
echo "$ROUNDS rounds in $(( $(date +%s) - start )) s" >&2
