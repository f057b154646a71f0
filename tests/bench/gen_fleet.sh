#!/usr/bin/env bash
# Writes a fleet config on stdout: NSTORES sqlite stores (default 1000) of
# NSERVERS servers each (default 2), plain YAML without anchors or aliases,
# the shape an inventory script would generate.  Store i is "store-i" with
# servers "store-i-pool-J" under servers/store-i/pool-J.  Used by the fleet
# benchmarks and by tests/e2e/t_fleet.sh (always into a temporary folder).
# Usage: gen_fleet.sh [NSTORES] [NSERVERS]
set -euo pipefail
exec awk -v n="${1:-1000}" -v m="${2:-2}" 'BEGIN {
	print "version: 1"
	print "stores:"
	for (i = 1; i <= n; i++) {
		printf "  - name: store-%d\n    engine: sqlite\n    databases: [xds, lis]\n    servers:\n", i
		for (j = 1; j <= m; j++)
			printf "      - {name: pool-%d, path: servers/store-%d/pool-%d%s}\n", j, i, j, (j == 2 ? ", role: mirror" : "")
		if (m >= 2)
			printf "    location: {primary: pool-1, mirror: pool-2}\n"
		else
			printf "    location: {primary: pool-1}\n"
	}
}'
