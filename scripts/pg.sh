#!/usr/bin/env bash
# pg.sh — private PostgreSQL 15 clusters for development and tests.
#
#   pg.sh start NAME PORT       create (once) and start cluster NAME: Unix socket + 127.0.0.1:PORT
#   pg.sh stop NAME [MODE]      stop it (pg_ctl mode: fast (default), smart, immediate)
#   pg.sh status NAME           exit 0 when it runs
#   pg.sh createdb NAME DB      create database DB unless it exists
#   pg.sh dropdb NAME DB        drop database DB if it exists (terminating its sessions)
#   pg.sh conninfo NAME [DB]    print a libpq conninfo (DB defaults to postgres)
#   pg.sh psql NAME DB [ARGS]   psql on it
#   pg.sh dir NAME              print the cluster's folder (data/, socket, postgres.log)
#
# A cluster lives in var/NAME, owned by the `postgres` user (initdb and postgres
# refuse to run as root). When `postgres` cannot reach var/ — a checkout under
# /root or in a mktemp -d folder — it lives in a folder of its own under /tmp
# instead, and var/NAME.path remembers where. Everything is idempotent: a
# second start reuses the cluster, a running cluster is left running.
# Local and loopback connections are trusted: it listens on 127.0.0.1 only.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
var=$repo/var

die() { echo "pg.sh: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Run a command as the postgres user, from / (it may not enter the checkout).
as_pg() {
	(
		cd /
		if [[ $(id -un) == postgres ]]; then
			"$@"
		elif ((EUID == 0)); then
			runuser -u postgres -- "$@"
		else
			sudo -n -u postgres -- "$@"
		fi
	)
}
# Run a command as root (chown of new folders when called through sudo).
as_root() {
	if ((EUID == 0)); then "$@"; else sudo -n -- "$@"; fi
}

pg_can_reach() { as_pg sh -c 'cd "$1" && test -w .' _ "$1" 2>/dev/null; }

# The cluster's folder, or "" when it has none yet.
cluster_dir() {
	local name=$1
	if [[ -f $var/$name.path ]]; then
		local d
		d=$(<"$var/$name.path")
		[[ -d $d ]] && { echo "$d"; return; }
		return 0
	fi
	[[ -d $var/$name ]] && echo "$var/$name"
	return 0
}

# Creates the cluster's folder: var/NAME if postgres can use it, else /tmp.
make_cluster_dir() {
	local name=$1 d
	mkdir -p "$var"
	d=$var/$name
	# a socket path must fit in sun_path (108 bytes)
	if ((${#d} < 80)) && mkdir -p "$d" && as_root chown postgres: "$d" && chmod 700 "$d" && pg_can_reach "$d"; then
		rm -f "$var/$name.path"
		echo "$d"
		return
	fi
	rmdir "$d" 2>/dev/null || true
	d=$(mktemp -d "/tmp/overstap-pg-$name.XXXXXX")
	as_root chown postgres: "$d"
	chmod 700 "$d"
	pg_can_reach "$d" || die "postgres cannot use $d either"
	echo "$d" >"$var/$name.path"
	echo "$d"
}

port_of() {
	local d=$1
	[[ -f $d/port ]] || die "cluster in $d was never started (no port file)"
	cat "$d/port"
}

is_running() {
	local d=$1
	[[ -f $d/data/PG_VERSION ]] && as_pg "$PGBIN/pg_ctl" -D "$d/data" status >/dev/null 2>&1
}

require_dir() {
	local d
	d=$(cluster_dir "$1")
	[[ -n $d ]] || die "no cluster named $1 (run: pg.sh start $1 PORT)"
	echo "$d"
}

psql_as() { # NAME DB ARGS...
	local name=$1 db=$2
	shift 2
	local d
	d=$(require_dir "$name")
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$d" -p "$(port_of "$d")" -U postgres -d "$db" "$@"
}

cmd_start() {
	local name=$1 port=$2 d
	[[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
	d=$(cluster_dir "$name")
	[[ -n $d ]] || d=$(make_cluster_dir "$name")
	if [[ ! -f $d/data/PG_VERSION ]]; then
		echo "pg.sh: creating cluster $name in $d"
		rm -rf "$d/data"
		as_pg "$PGBIN/initdb" -D "$d/data" -U postgres -E UTF8 --locale=C.UTF-8 \
			--auth-local=trust --auth-host=trust >"$d/initdb.log" 2>&1 ||
			{ cat "$d/initdb.log" >&2; die "initdb failed"; }
		as_pg sh -c 'echo "include_if_exists = '"'"'overstap.conf'"'"'" >>"$1/postgresql.conf"' _ "$d/data"
	fi
	if is_running "$d"; then
		if [[ $(cat "$d/port" 2>/dev/null) == "$port" ]]; then
			return 0
		fi
		echo "pg.sh: cluster $name runs on port $(cat "$d/port" 2>/dev/null), restarting on $port"
		as_pg "$PGBIN/pg_ctl" -D "$d/data" stop -m fast >/dev/null
	fi
	# The settings, rewritten at every start (the port may change).
	as_pg sh -c 'cat >"$1"' _ "$d/data/overstap.conf" <<-CONF
		# written by scripts/pg.sh at every start
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$d'
		max_connections = 200
		shared_buffers = 256MB
		fsync = on
		synchronous_commit = on
		full_page_writes = on
		wal_level = minimal
		max_wal_senders = 0
		max_wal_size = 2GB
		checkpoint_timeout = 15min
		log_min_messages = warning
		log_min_duration_statement = -1
		log_line_prefix = '%m [%p] %d '
	CONF
	echo "$port" | as_pg sh -c 'cat >"$1"' _ "$d/port"
	if ! as_pg "$PGBIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w -t 60 start >/dev/null; then
		tail -n 20 "$d/postgres.log" >&2 || true
		die "cluster $name did not start (log: $d/postgres.log)"
	fi
}

cmd_stop() {
	local name=$1 mode=${2:-fast} d
	d=$(cluster_dir "$name")
	[[ -n $d ]] || return 0
	if is_running "$d"; then
		as_pg "$PGBIN/pg_ctl" -D "$d/data" stop -m "$mode" -w -t 60 >/dev/null
	fi
}

cmd_conninfo() {
	local name=$1 db=${2:-postgres} d
	d=$(require_dir "$name")
	echo "host=$d port=$(port_of "$d") user=postgres dbname=$db"
}

cmd_createdb() {
	local name=$1 db=$2
	[[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad database name '$db'"
	if [[ -z $(psql_as "$name" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
		psql_as "$name" postgres -c "CREATE DATABASE \"$db\""
	fi
}

cmd_dropdb() {
	local name=$1 db=$2
	[[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad database name '$db'"
	psql_as "$name" postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" 2>&1 |
		grep -v 'does not exist, skipping' >&2 || true
}

(($# >= 2)) || usage
cmd=$1 name=$2
[[ $name =~ ^[A-Za-z0-9_-]+$ ]] || die "bad cluster name '$name'"
case $cmd in
	start) (($# == 3)) || usage; cmd_start "$name" "$3" ;;
	stop) cmd_stop "$name" "${3:-fast}" ;;
	status) d=$(cluster_dir "$name"); [[ -n $d ]] && is_running "$d" ;;
	createdb) (($# == 3)) || usage; cmd_createdb "$name" "$3" ;;
	dropdb) (($# == 3)) || usage; cmd_dropdb "$name" "$3" ;;
	conninfo) cmd_conninfo "$name" "${3:-}" ;;
	psql) (($# >= 3)) || usage; shift 2; db=$1; shift; psql_as "$name" "$db" "$@" ;;
	dir) require_dir "$name" ;;
	*) usage ;;
esac
