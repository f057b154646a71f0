#!/usr/bin/env bash
# Builds with warnings as errors and runs every test (unit, end-to-end and
# integration against real PostgreSQL clusters the tests start themselves).
# Usage: scripts/test.sh [BUILD-DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
cmake -S "$src" -B "$build" -DCMSCTL_WERROR=ON -DCMSCTL_TEST_CLOCK=ON
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j2
