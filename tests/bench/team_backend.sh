#!/usr/bin/env bash
# Benchmark: the extra cost of the team backends on a switchover of the
# quick start's sqlite-engine store: the wall time of `cmsctl apply PLAN`
# (process start to exit) with
#   local   the default: an SQLite state and a local history;
#   pg      a PostgreSQL state (a local server started here), local history;
#   pg+push a PostgreSQL state and the history pushed to a bare remote over
#           a path (every command fetches first and pushes after).
# Each of the K rounds (default 7) runs the three in turn, each on a fresh
# copy (adopted, then the switchover planned beforehand, not timed).  It
# prints the medians and the ratios against local.  Not a ctest test: run
# it by hand (as root or the PostgreSQL owner), results in
# docs/benchmarks.md.
#
#   bash tests/bench/team_backend.sh [K]
set -euo pipefail
K=${1:-7}
case $K in '' | *[!0-9]* | 0) echo "usage: $0 [K]" >&2; exit 64 ;; esac
CMSCTL_SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
CMSCTL=${CMSCTL:-${CMSCTL_BUILD_DIR:-$CMSCTL_SOURCE_DIR/build}/cmsctl}
export CMSCTL_SOURCE_DIR CMSCTL CMSCTL_OPERATOR=bench@local
. "$CMSCTL_SOURCE_DIR/tests/integration/pgcluster.sh"
W=$(mktemp -d /tmp/cmsctl-bench-team.XXXXXX)
chmod 0711 "$W"
pg_start_single "$W/pg"
trap 'pg_stop_all; rm -rf "$W"' EXIT
psql_admin() { pg_as_owner "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT_A" -U cmsctl -d postgres -c "$1" >/dev/null; }
ms() { date +%s%N | cut -c1-13; }

# prepare DIR VARIANT N: a quick start copy, adopted, a switchover planned.
prepare() {
	local dir=$1 variant=$2 n=$3
	mkdir -p "$dir" && cd "$dir"
	cp "$CMSCTL_SOURCE_DIR/examples/quickstart/cms.yaml" "$CMSCTL_SOURCE_DIR/examples/quickstart/setup.sh" \
		"$CMSCTL_SOURCE_DIR/examples/quickstart/write.sh" .
	bash ./setup.sh . >/dev/null
	if [ "$variant" != local ]; then
		psql_admin "CREATE DATABASE bench_$n OWNER cmsctl"
		{
			echo "version: 1"
			echo "backend:"
			echo "  state: postgresql"
			echo "  connection: \"host=127.0.0.1 port=$PG_PORT_A user=cmsctl dbname=bench_$n\""
			if [ "$variant" = pg+push ]; then
				git init -q --bare remote.git
				echo "  remote: remote.git"
			fi
			sed '1,/^version:/d' cms.yaml
		} >c.yaml && mv c.yaml cms.yaml
	fi
	"$CMSCTL" plan -o adopt.plan >/dev/null 2>&1
	"$CMSCTL" apply adopt.plan >/dev/null 2>&1
	"$CMSCTL" plan -o s.plan >/dev/null 2>&1
}

: >"$W/times.tsv"
n=0
for round in $(seq 1 "$K"); do
	for variant in local pg pg+push; do
		n=$((n + 1))
		prepare "$W/run-$n" "$variant" "$n"
		t0=$(ms)
		"$CMSCTL" apply s.plan >/dev/null 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
		t1=$(ms)
		printf '%s\t%s\n' "$variant" "$((t1 - t0))" >>"$W/times.tsv"
		cd "$W" && rm -rf "$W/run-$n"
	done
	printf 'round %d/%d done\n' "$round" "$K" >&2
done
/usr/bin/python3 - "$W/times.tsv" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    v, ms = line.split()
    t.setdefault(v, []).append(int(ms))
base = statistics.median(t["local"])
print("variant   runs  median_ms  min_ms  max_ms  ratio_vs_local")
for v in ("local", "pg", "pg+push"):
    m = statistics.median(t[v])
    print("%-8s  %4d  %9.0f  %6d  %6d  %14.2f" % (v, len(t[v]), m, min(t[v]), max(t[v]), m / base))
PY
