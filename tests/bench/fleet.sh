#!/usr/bin/env bash
# Benchmark: cmsctl at fleet size, as whole processes.  Not a ctest test:
# run it by hand on a quiet machine, results in docs/benchmarks.md.
#
#   bash tests/bench/fleet.sh [K]        (K runs of each, default 7)
#
# Env: CMSCTL (default: <source>/build/cmsctl), SIZES (default
# "100 1000 10000"), SITE (stores in the site recovery, default 20),
# PARALLEL (the recovery's --parallel, default SITE), PARTS (default
# "startup fleet history site": which parts to run).
#
# Everything is made in a private /tmp/cmsctl-fleet.* folder, removed at the
# end.  Times are wall times from process start to exit (bash's
# EPOCHREALTIME around the command), peak memory is the process's maximum
# resident set (/usr/bin/time %M).  Each figure is the median of K runs.
# Each part also measures a floor in the same run, so that ratios stay
# meaningful on a loaded machine:
#   startup  `cmsctl validate` and `plan --offline` of the quick start's
#            one store, against `cmsctl --version` (the process floor: exec,
#            dynamic linking, no work) and `/bin/true` (exec alone);
#   fleet    `validate` and `plan --all --offline` of generated configs of
#            SIZES plain stores (tests/bench/gen_fleet.sh), against the
#            one-store validate;
#   history  `history` of a history of 10,000 runs, made with git
#            fast-import in the layout cmsctl writes (subject, trailers, a
#            report per run) and unpacked into loose objects as cmsctl's
#            own commits are;
#   site     a site recovery on the sqlite engine: SITE stores of two
#            servers (the quick start's), every one switched over.  First
#            each store alone (`apply PLAN` one after the other: the
#            slowest and the sum), then all of them as one plan set
#            (`apply FOLDER --parallel PARALLEL`), switching back and forth
#            so each round does the same work.
set -euo pipefail
K=${1:-7}
case $K in
'' | *[!0-9]* | 0)
	echo "usage: $0 [K]  (K: number of runs, default 7)" >&2
	exit 64
	;;
esac
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CMSCTL=${CMSCTL:-$SRC/build/cmsctl}
[ -x "$CMSCTL" ] || { echo "no cmsctl at '$CMSCTL': build it or set CMSCTL" >&2; exit 1; }
CMSCTL=$(readlink -f "$CMSCTL")
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 1; }
SIZES=${SIZES:-100 1000 10000}
SITE=${SITE:-20}
PARALLEL=${PARALLEL:-$SITE}
PARTS=${PARTS:-startup fleet history site}
W=$(mktemp -d /tmp/cmsctl-fleet.XXXXXX)
trap 'rm -rf -- "$W"' EXIT
export CMSCTL_OPERATOR=bench@example
say() { printf 'bench: %s\n' "$*" >&2; }

# median: the median of the numbers on stdin (one a line).
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cpu_ms_of FILE: the CPU time (user + system) of the shell's finished
# children in FILE, the output of bash's `times` (millisecond resolution),
# in ms.  `times` runs in the shell itself, before and after the command.
cpu_ms_of() {
	tail -n 1 "$1" | awk '{ n = split($1 " " $2, t, " "); s = 0
		for (i = 1; i <= n; i++) { split(t[i], p, /[ms]/); s += p[1] * 60 + p[2] }
		printf "%.1f", s * 1000 }'
}

# measure NAME WANT-EXIT CMD...: runs CMD K times in the current folder;
# appends "ms kb cpu_ms" lines to $W/NAME.runs and sets MS, KB and CPU to
# the medians.  CPU (user + system of the process) says what the work
# costs when the wall time is inflated by other load.
measure() {
	local name=$1 want=$2 i t0 t1 c0 c1 rc
	shift 2
	: >"$W/$name.runs"
	for i in $(seq 1 "$K"); do
		# The timed run is the command alone; its peak memory comes from a
		# second, untimed run under /usr/bin/time, whose own exec would
		# otherwise be counted in a few-millisecond command's time.
		times >"$W/c0"
		t0=$EPOCHREALTIME
		rc=0
		"$@" >/dev/null 2>"$W/stderr" || rc=$?
		t1=$EPOCHREALTIME
		times >"$W/c1"
		if [ "$rc" = "$want" ]; then
			/usr/bin/time -f %M -o "$W/rss" "$@" >/dev/null 2>"$W/stderr" || rc=$?
		fi
		c0=$(cpu_ms_of "$W/c0") c1=$(cpu_ms_of "$W/c1")
		if [ "$rc" != "$want" ]; then
			say "$name: '$*' exited $rc, expected $want:"
			tail -n 5 "$W/stderr" >&2
			exit 1
		fi
		printf '%s %s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 }')" \
			"$(tail -n 1 "$W/rss")" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }')" \
			>>"$W/$name.runs"
	done
	MS=$(cut -d' ' -f1 "$W/$name.runs" | median)
	KB=$(cut -d' ' -f2 "$W/$name.runs" | median)
	CPU=$(cut -d' ' -f3 "$W/$name.runs" | median)
}

row() { printf '| %s | %s ms | %s ms | %s MB | %s |\n' "$1" "$2" "$CPU" "$(awk -v k="$3" 'BEGIN { printf "%.1f", k / 1024 }')" "$4"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

printf 'machine: %s, %s cores, load %s\n' "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'runs: %s of each; medians\n\n' "$K"

one=$W/one
mkdir -p "$one"
cp "$SRC/examples/quickstart/cms.yaml" "$one/"
cd "$one"
measure floor 0 "$CMSCTL" --version
FLOOR=$MS
measure validate1 0 "$CMSCTL" validate
VALIDATE1=$MS

if [[ " $PARTS " == *" startup "* ]]; then
	printf '| one store | median | CPU | peak RSS | / process floor |\n|---|---|---|---|---|\n'
	measure true 0 /bin/true
	row "exec alone (\`/bin/true\`)" "$MS" "$KB" "$(ratio "$MS" "$FLOOR")"
	measure floor 0 "$CMSCTL" --version
	FLOOR=$MS
	row "process floor (\`cmsctl --version\`)" "$FLOOR" "$KB" 1.0
	measure validate1 0 "$CMSCTL" validate
	row "\`validate\`" "$MS" "$KB" "$(ratio "$MS" "$FLOOR")"
	measure plan1 0 "$CMSCTL" plan --offline
	row "\`plan --offline\`" "$MS" "$KB" "$(ratio "$MS" "$FLOOR")"
	printf '\n'
fi

if [[ " $PARTS " == *" fleet "* ]]; then
	printf '| fleet | median | CPU | peak RSS | / one-store validate (%s ms) |\n|---|---|---|---|---|\n' "$VALIDATE1"
	for n in $SIZES; do
		mkdir -p "$W/fleet$n"
		cd "$W/fleet$n"
		bash "$SRC/tests/bench/gen_fleet.sh" "$n" >cms.yaml
		measure "validate$n" 0 "$CMSCTL" validate
		row "\`validate\`, $n stores ($(du -k cms.yaml | cut -f1) kB)" "$MS" "$KB" "$(ratio "$MS" "$VALIDATE1")"
		measure "plan$n" 0 "$CMSCTL" plan --all --offline
		row "\`plan --all --offline\`, $n stores" "$MS" "$KB" "$(ratio "$MS" "$VALIDATE1")"
	done
	printf '\n'
fi

if [[ " $PARTS " == *" history "* ]]; then
	say "making a history of 10,000 runs"
	h=$W/history
	git init -q --bare "$h.pack"
	awk -v n=10000 'BEGIN {
		t = 1700000000
		for (i = 1; i <= n; i++) {
			s = "store-" (i % 100)
			msg = sprintf("%s: apply switchover pool-a -> pool-b: ok\n\nRun r%06d (apply) of store %s.\n\nPlan-Id: %040d\nStore-Serial: %d\nOperator: bench@example\nOutcome: ok\nKind: apply\nRun-Id: r%06d\n", s, i, s, i, i, i)
			data = sprintf("{\"run\": %d}\n", i)
			printf "commit refs/heads/cms-history\ncommitter bench <bench@example> %d +0000\ndata %d\n%s", t + i, length(msg), msg
			printf "M 100644 inline %s/runs/r%06d/report.json\ndata %d\n%s\n", s, i, length(data), data
		}
	}' | git -C "$h.pack" fast-import --quiet
	git init -q --bare "$h"
	git -C "$h" unpack-objects -q <"$(ls "$h".pack/objects/pack/*.pack)"
	git -C "$h" update-ref refs/heads/cms-history "$(git -C "$h.pack" rev-parse cms-history)"
	cd "$one"
	printf '| history of 10,000 runs | median | CPU | peak RSS | / one-store validate |\n|---|---|---|---|---|\n'
	measure history 0 "$CMSCTL" history --history "$h"
	row "\`history\` (loose objects, as cmsctl writes them)" "$MS" "$KB" "$(ratio "$MS" "$VALIDATE1")"
	measure historys 0 "$CMSCTL" history --history "$h" -s store-7
	row "\`history -s STORE\` (100 of the 10,000)" "$MS" "$KB" "$(ratio "$MS" "$VALIDATE1")"
	measure historyp 0 "$CMSCTL" history --history "$h.pack"
	row "\`history\` (packed, after \`git gc\`)" "$MS" "$KB" "$(ratio "$MS" "$VALIDATE1")"
	printf '\n'
fi

if [[ " $PARTS " == *" site "* ]]; then
	say "making a site of $SITE sqlite stores"
	site=$W/site
	mkdir -p "$site"
	cd "$site"
	site_config() {
		printf 'version: 1\nstores:\n'
		for i in $(seq 1 "$SITE"); do
			m=pool-b
			[ "$1" = pool-b ] && m=pool-a
			printf '  - name: store-%d\n    engine: sqlite\n    databases: [xds, lis]\n' "$i"
			printf '    servers:\n      - {name: pool-a, path: store-%d/servers/pool-a}\n' "$i"
			printf '      - {name: pool-b, path: store-%d/servers/pool-b, role: mirror}\n' "$i"
			printf '    location: {primary: %s, mirror: %s}\n' "$1" "$m"
		done
	}
	for i in $(seq 1 "$SITE"); do
		bash "$SRC/examples/quickstart/setup.sh" "store-$i" >/dev/null
	done
	site_config pool-a >cms.yaml
	"$CMSCTL" plan --all -o adopt >/dev/null 2>&1
	"$CMSCTL" apply adopt >/dev/null 2>&1
	to=pool-b
	: >"$W/single.runs"
	: >"$W/set.runs"
	for r in $(seq 1 "$K"); do
		# Each store alone, one after the other.
		site_config "$to" >cms.yaml
		rm -rf set
		"$CMSCTL" plan --all -o set >/dev/null 2>&1
		slowest=0 sum=0
		for i in $(seq 1 "$SITE"); do
			t0=$EPOCHREALTIME
			"$CMSCTL" apply "set/store-$i.json" >/dev/null 2>&1 || { say "single apply of store-$i failed"; exit 1; }
			t1=$EPOCHREALTIME
			ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 }')
			slowest=$(awk -v a="$slowest" -v b="$ms" 'BEGIN { print (b > a ? b : a) }')
			sum=$(awk -v a="$sum" -v b="$ms" 'BEGIN { print a + b }')
		done
		printf '%s %s\n' "$slowest" "$sum" >>"$W/single.runs"
		[ "$to" = pool-b ] && to=pool-a || to=pool-b
		# All of them as one plan set.
		site_config "$to" >cms.yaml
		rm -rf set
		"$CMSCTL" plan --all -o set >/dev/null 2>&1
		t0=$EPOCHREALTIME
		/usr/bin/time -f %M -o "$W/rss" "$CMSCTL" apply set --parallel "$PARALLEL" >/dev/null 2>"$W/stderr" ||
			{ say "set apply failed"; tail -n 5 "$W/stderr" >&2; exit 1; }
		t1=$EPOCHREALTIME
		printf '%s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 }')" >>"$W/set.runs"
		[ "$to" = pool-b ] && to=pool-a || to=pool-b
		say "round $r: slowest single $slowest ms, sum $sum ms, set $(tail -n 1 "$W/set.runs") ms"
	done
	SLOW=$(cut -d' ' -f1 "$W/single.runs" | median)
	SUM=$(cut -d' ' -f2 "$W/single.runs" | median)
	SET=$(median <"$W/set.runs")
	printf '| site recovery, %s sqlite stores | median | / slowest single store |\n|---|---|---|\n' "$SITE"
	printf '| slowest single-store `apply PLAN` | %s ms | 1.0 |\n' "$SLOW"
	printf '| the %s single-store applies one after the other | %s ms | %s |\n' "$SITE" "$SUM" "$(ratio "$SUM" "$SLOW")"
	printf '| `apply FOLDER --parallel %s` | %s ms | %s |\n' "$PARALLEL" "$SET" "$(ratio "$SET" "$SLOW")"
fi
