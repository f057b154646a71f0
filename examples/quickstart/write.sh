#!/usr/bin/env bash
# write.sh DIR SERVER N [DATABASE...]
#
# A tiny "CMS client" for the quick start: inserts N rows into cms_data of
# each database of server SERVER (DIR/servers/SERVER/*.db, or only the
# DATABASEs named) and bumps change_counter by N, the way every client of a
# sqlite-engine store must write:
#
#   inside one IMMEDIATE transaction, first check that cms_control says
#   role = 'primary' and read_only = 0, then write, then bump the counter.
#
# SQLite serialises writers, so once cmsctl's fence (UPDATE cms_control SET
# read_only = 1) has committed, no write of a client that follows this rule
# can land: that is how the fence takes.  Refuses (exit 1) to write to a
# server that is fenced or not primary.
set -euo pipefail

me=write.sh
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }

if [ $# -lt 3 ]; then
	printf 'usage: %s DIR SERVER N [DATABASE...]\n' "$me" >&2
	exit 64
fi
dir=$1 server=$2 n=$3
shift 3
case $n in
	'' | *[!0-9]* | 0) die "N must be a positive integer, not '$n'" ;;
esac
command -v sqlite3 >/dev/null 2>&1 || die "sqlite3 not found: apt-get install sqlite3"

sdir=$dir/servers/$server
[ -d "$sdir" ] || die "no server directory '$sdir'"

dbs=()
if [ $# -gt 0 ]; then
	for d in "$@"; do
		[ -f "$sdir/$d.db" ] || die "no database file '$sdir/$d.db'"
		dbs+=("$sdir/$d.db")
	done
else
	for f in "$sdir"/*.db; do
		[ -f "$f" ] && dbs+=("$f")
	done
fi
[ ${#dbs[@]} -gt 0 ] || die "no database files in '$sdir'"

# A friendly refusal before writing anything; the check inside each
# transaction below is the one that counts.
for f in "${dbs[@]}"; do
	state=$(sqlite3 -bail "$f" ".timeout 10000" \
		"SELECT role || ' ' || read_only FROM cms_control WHERE id = 1") ||
		die "cannot read the control table of '$f'"
	case $state in
		'primary 0') ;;
		'primary 1') die "'$server' is fenced (read_only = 1 in '$f'): refusing to write" ;;
		*) die "'$server' is not primary ('${state% *}' in '$f'): refusing to write" ;;
	esac
done

for f in "${dbs[@]}"; do
	if ! sqlite3 -bail "$f" >/dev/null 2>&1 <<SQL
.timeout 10000
BEGIN IMMEDIATE;
CREATE TEMP TABLE cms_write_guard (ok INTEGER CHECK (ok = 1));
INSERT INTO temp.cms_write_guard
  SELECT coalesce((SELECT role = 'primary' AND read_only = 0 FROM cms_control WHERE id = 1), 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO cms_data (k, v)
  SELECT printf('k%08d', c.change_counter + n.i), printf('value %d', c.change_counter + n.i)
  FROM n, cms_control AS c WHERE c.id = 1;
UPDATE cms_control SET change_counter = change_counter + $n WHERE id = 1;
COMMIT;
SQL
	then
		die "'$f' refused the write (fenced, not primary, or busy)"
	fi
done
