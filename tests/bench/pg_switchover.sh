#!/usr/bin/env bash
# Benchmark: how long a cmsctl switchover takes on a local PostgreSQL
# primary + synchronous streaming standby (tests/integration/pgcluster.sh),
# against the floor of the promotion itself.  Not a ctest test: run it by
# hand, results in docs/benchmarks.md.
#
#   bash tests/bench/pg_switchover.sh [K]        (K runs, default 7)
#
# Env: CMSCTL (default: $CMSCTL_BUILD_DIR/cmsctl, else <source>/build/cmsctl),
# BENCH_OUT (a folder to keep runs.tsv and the reports in; default: none),
# FLOOR_POLL_US (the floor client's poll interval, default 1000).
# Needs root or the clusters' owner (as the integration tests), jq, a C
# compiler and libpq-dev (for floor.c).
#
# Each of the K rounds starts from pool-a primary and pool-b a streaming
# synchronous standby, and measures:
#   (i)  apply: the wall time of `cmsctl apply PLAN` of a switchover
#        pool-a -> pool-b, process start to exit (plan made beforehand, on
#        a fresh state adopted just before, so every round does the same
#        work), and the write-unavailable window its report measured
#        (fence to promoted), with the fence, catch-up and promote steps;
#   (ii) floor: after pool-a is re-seeded as a standby of pool-b (pg_rewind),
#        floor.c promotes pool-a: one libpq client already connected sends
#        SELECT pg_promote(false), then SELECT pg_is_in_recovery() every
#        FLOOR_POLL_US microseconds (default 1000) until false.  (A tight
#        loop, FLOOR_POLL_US=0, comes out slower on 2 cores: the client and
#        its backend take the CPU the promoting startup process needs.)
#        Then pool-b is re-seeded from pool-a, and the next round starts
#        from the same topology.
# It prints the medians, the ratios apply / floor and window / floor.
set -euo pipefail
K=${1:-7}
case $K in
'' | *[!0-9]* | 0)
	echo "usage: $0 [K]  (K: number of runs, default 7)" >&2
	exit 64
	;;
esac
CMSCTL_SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
CMSCTL=${CMSCTL:-${CMSCTL_BUILD_DIR:-$CMSCTL_SOURCE_DIR/build}/cmsctl}
[ -x "$CMSCTL" ] || { echo "no cmsctl at '$CMSCTL': build it or set CMSCTL" >&2; exit 1; }
CMSCTL=$(readlink -f "$CMSCTL")
command -v jq >/dev/null || { echo "jq not found" >&2; exit 1; }
pkg-config --exists libpq || { echo "libpq not found (apt-get install libpq-dev)" >&2; exit 1; }
# No skip here: a benchmark that cannot run says so and fails.
export CI=true
export CMSCTL
. "$CMSCTL_SOURCE_DIR/tests/integration/lib.sh"

say() { printf 'bench: %s\n' "$*" >&2; }

pg_start_cluster "$(mktemp -d /tmp/cmsctl-bench.XXXXXX)" 1
W=$PGCLUSTER_DIR/work
mkdir -p "$W"
cd "$W"
# shellcheck disable=SC2046 # pkg-config prints several words
cc -std=c11 -O2 -o "$W/floor" "$CMSCTL_SOURCE_DIR/tests/bench/floor.c" $(pkg-config --cflags --libs libpq)

write_config() {
	cms_config "$1" "$2" "catch_up_timeout: 30s"
}

# make_sync PRIMARY-PORT STANDBY: the standby becomes the primary's
# synchronous standby, as the mirror is in production.
make_sync() {
	local port=$1 name=$2 i s
	psql_on "$port" postgres -c "ALTER SYSTEM SET synchronous_standby_names = '\"$name\"'" \
		-c 'SELECT pg_reload_conf()' >/dev/null
	for i in $(seq 1 200); do
		s=$(psql_on "$port" postgres -At -c \
			"SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '$name'")
		[ "$s" = streaming/sync ] && return 0
		sleep 0.05
	done
	pgc_fail "$name is not a synchronous standby (saw '$s')"
}

ms_now() { echo $(($(date +%s%N) / 1000)); } # microseconds

printf 'run\tapply_ms\twrite_unavailable_ms\tfence_ms\tcatch_up_ms\tpromote_ms\tfloor_ms\tfloor_polls\n' >runs.tsv
for i in $(seq 1 "$K"); do
	# Topology: pool-a primary, pool-b synchronous standby, both read-write
	# as far as configuration goes.
	case $(pg_node_state "$PG_PORT_A") in
	"primary read_only=off timeline=$((2 * i - 1)) alter_system_ro=0") ;;
	*) pgc_fail "round $i: pool-a is $(pg_node_state "$PG_PORT_A")" ;;
	esac
	case $(pg_node_state "$PG_PORT_B") in
	"standby read_only=off timeline="*" alter_system_ro=0") ;;
	*) pgc_fail "round $i: pool-b is $(pg_node_state "$PG_PORT_B")" ;;
	esac

	# (i) apply, on a fresh state: adopt, plan, then the timed apply.
	rm -rf .cmsctl location.json
	write_config pool-a pool-b
	"$CMSCTL" apply -c cms.yaml --yes >/dev/null 2>adopt.err || { cat adopt.err >&2; exit 1; }
	write_config pool-b pool-a
	"$CMSCTL" plan -c cms.yaml -o switch.plan >/dev/null 2>plan.err || { cat plan.err >&2; exit 1; }
	t0=$(ms_now)
	"$CMSCTL" apply -c cms.yaml switch.plan --json >report.json 2>apply.err || { cat apply.err >&2; exit 1; }
	t1=$(ms_now)
	apply_ms=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1000 }')
	step_ms() { jq -r --arg a "$1" '[.steps[] | select(.action == $a) | .duration_ms] | add' report.json; }
	wu=$(jq -r .write_unavailable_ms report.json)
	fence=$(step_ms fence)
	catch=$(step_ms catch_up)
	promote=$(step_ms promote)
	[ "$(jq -r .outcome report.json)" = ok ] || pgc_fail "round $i: apply outcome $(jq -r .outcome report.json)"
	[ -n "${BENCH_OUT:-}" ] && mkdir -p "$BENCH_OUT" && cp report.json "$BENCH_OUT/report-$i.json"

	# Back to two copies: pool-a re-seeded from pool-b, synchronous.
	pg_reseed_standby pool-a "$PG_PORT_A" pool-b "$PG_PORT_B"
	make_sync "$PG_PORT_B" pool-a

	# (ii) the floor: promote pool-a with one bare client.
	line=$("$W/floor" "host=127.0.0.1 port=$PG_PORT_A user=cmsctl dbname=postgres" "${FLOOR_POLL_US:-1000}")
	floor=$(sed -n 's/.*total_ms=\([0-9.]*\).*/\1/p' <<<"$line")
	polls=$(sed -n 's/.*polls=\([0-9]*\).*/\1/p' <<<"$line")
	[ "$(pg_writable "$PG_PORT_A")" = t ] || pgc_fail "round $i: pool-a does not take writes after the floor promotion"

	# And back to the start: pool-b re-seeded from pool-a, synchronous.
	pg_reseed_standby pool-b "$PG_PORT_B" pool-a "$PG_PORT_A"
	make_sync "$PG_PORT_A" pool-b

	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$apply_ms" "$wu" "$fence" "$catch" "$promote" "$floor" "$polls" >>runs.tsv
	say "run $i/$K: apply ${apply_ms} ms (write-unavailable ${wu} ms: fence ${fence}, catch-up ${catch}, promote ${promote}), floor ${floor} ms (${polls} polls)"
done
[ -n "${BENCH_OUT:-}" ] && cp runs.tsv "$BENCH_OUT/runs.tsv"

# median COLUMN: the median of a column of runs.tsv.
median() {
	awk -F '\t' -v c="$1" 'NR > 1 { print $c }' runs.tsv | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
apply_med=$(median 2)
wu_med=$(median 3)
floor_med=$(median 7)
echo
column -t -s "$(printf '\t')" runs.tsv
echo
printf 'runs                          %s\n' "$K"
printf 'median apply (end to end)     %s ms\n' "$apply_med"
printf 'median write-unavailable      %s ms (fence %s, catch-up %s, promote %s)\n' "$wu_med" "$(median 4)" "$(median 5)" "$(median 6)"
printf 'median floor (bare promote)   %s ms (polled every %s us)\n' "$floor_med" "${FLOOR_POLL_US:-1000}"
awk -v a="$apply_med" -v w="$wu_med" -v f="$floor_med" 'BEGIN {
	printf "ratio apply / floor           %.1f\n", a / f
	printf "ratio write-unavailable/floor %.1f\n", w / f
}'
