#!/usr/bin/env bash
# Runs a unit test binary against a real PostgreSQL server started here:
#   bash tests/unit/with_pg.sh TEST-BINARY
# starts one server (tests/integration/pgcluster.sh, pg_start_single), runs
# the binary with CMSCTL_TEST_BACKEND=postgresql and CMSCTL_TEST_PG set to
# a superuser's connection string, and stops the server.  Without
# PostgreSQL it skips (77), except under CI=true where it fails.
set -euo pipefail
: "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}"
. "$CMSCTL_SOURCE_DIR/tests/integration/pgcluster.sh"
dir=$(mktemp -d /tmp/cmsctl-unit-pg.XXXXXX)
chmod 0711 "$dir" # the server, run as postgres, reaches its folder through it
pg_start_single "$dir/pg"
export CMSCTL_TEST_BACKEND=postgresql
export CMSCTL_TEST_PG="host=127.0.0.1 port=$PG_PORT_A user=cmsctl dbname=postgres connect_timeout=10"
rc=0
"$@" || rc=$?
pg_stop_all
rm -rf "$dir"
exit "$rc"
