# shellcheck shell=bash
# Helpers shared by scripts/run and scripts/test. Source this file; it defines
# functions and a few constants and runs nothing.
#
# A private PostgreSQL cluster lives in one directory, CLUSTER:
#   CLUSTER/data          the data directory (initdb)
#   CLUSTER/run           the Unix socket directory, mode 0700
#   CLUSTER/postgres.log  the server log
# Superuser access is only through that private socket (peer authentication,
# mapped to the role postgres); the application roles connect over TCP to
# 127.0.0.1 with scram-sha-256 passwords.
#
# PostgreSQL refuses to run as root. When these helpers run as root, the
# cluster runs as the Debian `postgres` account (runuser), and CLUSTER is owned
# by it. If that account cannot reach CLUSTER (say the repository is under
# /root), CLUSTER becomes a symlink to a directory under /var/tmp.

PG_BIN=/usr/lib/postgresql/15/bin
PG_OS_USER=postgres

CARTELLA_DEB_PACKAGES=(
	build-essential pkg-config meson ninja-build python3
	libmicrohttpd-dev libjansson-dev libsodium-dev libpq-dev libssl-dev libxlsxwriter-dev
	postgresql-15 postgresql-client-15
	python3-pytest python3-requests python3-psycopg2 python3-yaml python3-openpyxl
	python3-cryptography python3-jsonschema
	libxml2-utils curl git ca-certificates openssl iso-codes clang-format
	# tests/bench (and its smoke check): load generators and CPU pinning
	wrk nghttp2-client util-linux
)

# What scripts/fuzz (and so scripts/test) adds: clang with libFuzzer and the
# sanitizer runtimes, and libxml2 for the XML target's schema check.
CARTELLA_FUZZ_DEB_PACKAGES=(clang libclang-rt-14-dev libxml2-dev)

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ---------------------------------------------------------------- packages

# cartella_install_deps [EXTRA...]: installs the Debian packages (the
# project's list and EXTRA) that are not installed yet.
cartella_install_deps() {
	local pkg missing=()
	for pkg in "${CARTELLA_DEB_PACKAGES[@]}" "$@"; do
		if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
			missing+=("$pkg")
		fi
	done
	# The OpenAPI lint (Spectral) runs on Node.js; a machine may already have
	# it from elsewhere (NodeSource bundles npm): only add Debian's when absent.
	command -v npm >/dev/null || missing+=(nodejs npm)
	[[ ${#missing[@]} -eq 0 ]] && return 0

	local -a sudo=()
	if ! is_root; then
		command -v sudo >/dev/null || die "missing packages (${missing[*]}) and no sudo: install them as root"
		sudo=(sudo)
	fi
	log "installing ${missing[*]}"
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------- build

# cartella_build DIR [meson setup args...]: configures DIR once, then builds it.
# The arguments only matter the first time; delete DIR to change them.
cartella_build() {
	local dir=$1
	shift
	if [[ ! -f "$dir/build.ninja" ]]; then
		log "configuring $dir"
		meson setup "$dir" "$@" >&2
	fi
	log "building $dir"
	ninja -C "$dir" >&2
}

# ---------------------------------------------------------------- small tools

# Prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# port_is_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_is_free() {
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# urlencode STRING: percent-encodes STRING for use inside a URL.
urlencode() {
	/usr/bin/python3 -c 'import sys, urllib.parse
print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# cartella_make_kek FILE: creates a 32-byte random key-encryption key (mode
# 0600, in a directory of mode 0700) unless FILE exists already.
cartella_make_kek() {
	local file=$1 dir
	dir=$(dirname "$file")
	mkdir -p "$dir"
	chmod 0700 "$dir"
	[[ -s "$file" ]] && return 0
	(
		umask 077
		head -c 32 /dev/urandom >"$file.tmp"
		mv "$file.tmp" "$file"
	)
	log "created key-encryption key $file"
}

# ---------------------------------------------------------------- PostgreSQL

# pg_os_user: prints the OS account that runs the cluster.
pg_os_user() { if is_root; then echo "$PG_OS_USER"; else id -un; fi; }

# as_pg CMD...: runs CMD as the account that owns the cluster (from / so that
# an unreadable working directory does not bother PostgreSQL's tools).
as_pg() {
	if is_root; then
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		"$@"
	fi
}

# pg_cluster_path CLUSTER: prints the real (symlink-free) path of CLUSTER.
pg_cluster_path() { readlink -f -- "$1"; }

# pg_cluster_exists CLUSTER: true when CLUSTER holds an initialised cluster.
pg_cluster_exists() { [[ -f "$1/data/PG_VERSION" ]]; }

# pg_cluster_running CLUSTER
pg_cluster_running() {
	pg_cluster_exists "$1" || return 1
	as_pg "$PG_BIN/pg_ctl" -D "$(pg_cluster_path "$1")/data" status >/dev/null 2>&1
}

# Makes CLUSTER (an empty directory or a new path) usable by the cluster
# account. As root: if `postgres` cannot reach it, CLUSTER becomes a symlink to
# a fresh directory under /var/tmp.
pg_cluster_prepare_dir() {
	local cluster=$1 real
	mkdir -p "$cluster"
	is_root || return 0
	chown "$PG_OS_USER:" "$cluster"
	if ! runuser -u "$PG_OS_USER" -- test -w "$cluster" 2>/dev/null; then
		rmdir "$cluster"
		real=$(mktemp -d /var/tmp/cartella-pg.XXXXXX)
		chown "$PG_OS_USER:" "$real"
		ln -s "$real" "$cluster"
		log "$PG_OS_USER cannot reach $cluster: the cluster lives in $real"
	fi
}

# pg_cluster_init CLUSTER PORT [fast]: creates a new cluster listening on
# 127.0.0.1:PORT. With "fast" durability is traded for speed (tests only).
pg_cluster_init() {
	local cluster=$1 port=$2 mode=${3:-} real locale=C.UTF-8
	pg_cluster_exists "$cluster" && die "$cluster already holds a cluster"
	pg_cluster_prepare_dir "$cluster"
	real=$(pg_cluster_path "$cluster")
	as_pg mkdir -m 0700 -p "$real/run"
	locale -a 2>/dev/null | grep -qix 'C.utf-\?8' || locale=C

	log "initialising PostgreSQL cluster in $real (port $port)"
	as_pg "$PG_BIN/initdb" -D "$real/data" -U postgres --encoding=UTF8 --locale="$locale" \
		--auth-local=peer --auth-host=scram-sha-256 --data-checksums >"$real/initdb.log" 2>&1 ||
		{ cat "$real/initdb.log" >&2; die "initdb failed"; }

	# Superuser: only through the private socket, only for mapped OS accounts.
	# Everyone else: TCP on the loopback with a scram-sha-256 password.
	as_pg tee "$real/data/pg_hba.conf" >/dev/null <<-EOF
		# TYPE  DATABASE  USER      ADDRESS       METHOD
		local   all       postgres                peer map=cartella
		local   all       all                     reject
		host    all       postgres  0.0.0.0/0     reject
		host    all       postgres  ::/0          reject
		host    all       all       127.0.0.1/32  scram-sha-256
	EOF
	# The ident map: the account running the cluster and the one running us.
	printf 'cartella  %s  postgres\n' "$(pg_os_user)" "$(id -un)" | sort -u |
		as_pg tee "$real/data/pg_ident.conf" >/dev/null

	{
		printf "listen_addresses = '127.0.0.1'\n"
		printf 'port = %d\n' "$port"
		printf "unix_socket_directories = '%s'\n" "$real/run"
		printf 'unix_socket_permissions = 0700\n'
		printf "password_encryption = 'scram-sha-256'\n"
		printf 'max_connections = 200\n'
		if [[ "$mode" == fast ]]; then
			printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n'
		fi
	} | as_pg tee -a "$real/data/postgresql.conf" >/dev/null
}

# pg_cluster_start CLUSTER: starts the cluster unless it is running.
pg_cluster_start() {
	local real
	real=$(pg_cluster_path "$1")
	pg_cluster_running "$1" && return 0
	log "starting PostgreSQL ($real)"
	as_pg "$PG_BIN/pg_ctl" -D "$real/data" -l "$real/postgres.log" -w -t 60 start >/dev/null ||
		{ tail -n 20 "$real/postgres.log" >&2; die "PostgreSQL did not start"; }
}

# pg_cluster_stop CLUSTER: stops the cluster if it is running.
pg_cluster_stop() {
	pg_cluster_running "$1" || return 0
	log "stopping PostgreSQL ($(pg_cluster_path "$1"))"
	as_pg "$PG_BIN/pg_ctl" -D "$(pg_cluster_path "$1")/data" -m fast -w -t 60 stop >/dev/null
}

# pg_cluster_destroy CLUSTER: stops the cluster and deletes it (and the
# directory a symlinked CLUSTER points to).
pg_cluster_destroy() {
	local cluster=$1 real
	[[ -e "$cluster" || -L "$cluster" ]] || return 0
	pg_cluster_stop "$cluster" || true
	real=$(pg_cluster_path "$cluster")
	if [[ -L "$cluster" ]]; then
		rm -f -- "$cluster"
	fi
	rm -rf -- "$real"
}

# pg_cluster_psql CLUSTER PORT [psql args...]: psql as the superuser over the
# private socket, stopping at the first error.
pg_cluster_psql() {
	local cluster=$1 port=$2
	shift 2
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
		-h "$(pg_cluster_path "$cluster")/run" -p "$port" -U postgres "$@"
}

# pg_cluster_bootstrap CLUSTER PORT ENVFILE: creates (or re-keys) the roles
# cartella_owner and cartella_app and the database cartella, and writes the
# connection URLs to ENVFILE (mode 0600). Safe to run again.
pg_cluster_bootstrap() {
	local cluster=$1 port=$2 envfile=$3 owner_pw app_pw sock
	owner_pw=$(openssl rand -hex 24)
	app_pw=$(openssl rand -hex 24)
	sock=$(urlencode "$(pg_cluster_path "$cluster")/run")

	log "creating roles and database"
	# Passwords go through standard input, never on a command line.
	pg_cluster_psql "$cluster" "$port" -d postgres <<-EOF
		SELECT 'CREATE ROLE cartella_owner'
		 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cartella_owner') \gexec
		SELECT 'CREATE ROLE cartella_app'
		 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cartella_app') \gexec
		ALTER ROLE cartella_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
		  PASSWORD '$owner_pw';
		ALTER ROLE cartella_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
		  PASSWORD '$app_pw';
		SELECT 'CREATE DATABASE cartella OWNER cartella_owner'
		 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'cartella') \gexec
		REVOKE ALL ON DATABASE cartella FROM PUBLIC;
		GRANT CONNECT ON DATABASE cartella TO cartella_app;
	EOF
	pg_cluster_psql "$cluster" "$port" -d cartella <<-EOF
		ALTER SCHEMA public OWNER TO cartella_owner;
		REVOKE CREATE ON SCHEMA public FROM PUBLIC;
		GRANT USAGE ON SCHEMA public TO cartella_app;
	EOF

	# The superuser URL names the user before an empty host ("postgres@") so
	# that URL tools which swap the database keep the "//" (libpq needs it).
	(
		umask 077
		cat >"$envfile.tmp" <<-EOF
			export CARTELLA_PG_PORT=$port
			export DATABASE_URL='postgresql://cartella_app:$app_pw@127.0.0.1:$port/cartella'
			export CARTELLA_OWNER_DATABASE_URL='postgresql://cartella_owner:$owner_pw@127.0.0.1:$port/cartella'
			export CARTELLA_PG_SUPERUSER_URL='postgresql://postgres@/cartella?host=$sock&port=$port'
		EOF
		mv "$envfile.tmp" "$envfile"
	)
}
