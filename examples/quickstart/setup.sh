#!/usr/bin/env bash
# setup.sh [--force] [DIR]
#
# Creates the quick start's three servers from nothing, next to cms.yaml
# (DIR defaults to this script's folder):
#
#   DIR/servers/pool-a/{xds,lis}.db     primary, epoch 1, 5 writes
#   DIR/servers/pool-b/{xds,lis}.db     mirror: a synchronous copy (5 writes)
#   DIR/servers/dublin-dr/{xds,lis}.db  backup: an older copy (3 writes)
#
# Each file is what the sqlite engine expects (applier/engine_sqlite.c): a
# cms_control row (role, epoch, change_counter, read_only) and the data
# table cms_data.  The writes are made by write.sh, the quick start's
# client, so change_counter is the number of writes.  Refuses to replace
# existing servers unless --force is given.
set -euo pipefail

me=setup.sh
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
force=0
dir=
while [ $# -gt 0 ]; do
	case $1 in
		--force) force=1 ;;
		-h | --help)
			sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
			exit 0 ;;
		-*) printf 'usage: %s [--force] [DIR]\n' "$me" >&2; exit 64 ;;
		*)
			[ -z "$dir" ] || { printf 'usage: %s [--force] [DIR]\n' "$me" >&2; exit 64; }
			dir=$1 ;;
	esac
	shift
done
dir=${dir:-$here}
command -v sqlite3 >/dev/null 2>&1 || die "sqlite3 not found: apt-get install sqlite3"

servers=(pool-a pool-b dublin-dr)
databases=(xds lis)

for s in "${servers[@]}"; do
	if [ -e "$dir/servers/$s" ]; then
		[ $force -eq 1 ] || die "'$dir/servers/$s' exists: pass --force to replace it"
		rm -rf -- "${dir:?}/servers/$s"
	fi
done
mkdir -p -- "$dir/servers"

# sql_string TEXT: TEXT as an SQL string literal.
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# copy_server FROM TO ROLE: a consistent copy (VACUUM INTO) of every
# database of FROM, as ROLE.
copy_server() {
	mkdir -p -- "$dir/servers/$2"
	for d in "${databases[@]}"; do
		sqlite3 -bail "$dir/servers/$1/$d.db" \
			"VACUUM INTO $(sql_string "$dir/servers/$2/$d.db")"
		sqlite3 -bail "$dir/servers/$2/$d.db" \
			"UPDATE cms_control SET role = '$3', read_only = 0 WHERE id = 1"
	done
}

mkdir -p -- "$dir/servers/pool-a"
for d in "${databases[@]}"; do
	sqlite3 -bail "$dir/servers/pool-a/$d.db" <<'SQL'
PRAGMA journal_mode = DELETE;
CREATE TABLE cms_control (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  role TEXT NOT NULL CHECK (role IN ('primary', 'mirror', 'backup', 'fenced')),
  epoch INTEGER NOT NULL,
  change_counter INTEGER NOT NULL,
  read_only INTEGER NOT NULL CHECK (read_only IN (0, 1))
);
CREATE TABLE cms_data (k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO cms_control (id, role, epoch, change_counter, read_only)
  VALUES (1, 'primary', 1, 0, 0);
SQL
done >/dev/null

bash "$here/write.sh" "$dir" pool-a 3
copy_server pool-a dublin-dr backup    # the backup was taken here
bash "$here/write.sh" "$dir" pool-a 2
copy_server pool-a pool-b mirror       # the mirror is synchronous

for s in "${servers[@]}"; do
	printf 'created %s\n' "$dir/servers/$s"
done
