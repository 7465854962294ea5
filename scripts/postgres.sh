#!/usr/bin/env bash
# Makes sure the tests on PostgreSQL have a server to start: Debian's `postgresql` package
# (its server binaries, initdb and postgres). Prints the directory of those binaries, as
# the tests find it:
#   PORTAL_POSTGRES_BIN  (default: the newest /usr/lib/postgresql/*/bin, or pg_config --bindir)
# On Debian or Ubuntu as root (or with sudo) it installs the package when missing;
# elsewhere it says what to install. The tests start their own throwaway server from these
# binaries (initdb in a temporary directory, loopback and a socket in that directory only,
# stopped when the test process ends); nothing here starts or changes a system server.
#
#   scripts/postgres.sh              install if missing, print the binaries' directory
#   scripts/postgres.sh serve DIR [-c name=value ...]
#                                    a throwaway server in DIR (created) for trying the
#                                    portal by hand (or the benchmarks): prints its URL,
#                                    runs until Ctrl-C; PORT (default 55432) is its port
set -euo pipefail

say() { echo "postgres: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

find_bin() {
    if [ -n "${PORTAL_POSTGRES_BIN:-}" ]; then echo "$PORTAL_POSTGRES_BIN"; return; fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then echo "$newest"; return; fi
    if have pg_config && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; fi
}

if [ -z "$(find_bin)" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ] && have sudo; then sudo="sudo"; fi
    if have apt-get && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
        say "installing postgresql with apt-get"
        $sudo apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    else
        say "the tests on PostgreSQL need its server binaries (initdb, postgres)."
        say "  Debian/Ubuntu: apt-get install postgresql"
        say "  macOS:         brew install postgresql"
        say "  or point PORTAL_POSTGRES_BIN at the directory that holds them."
        exit 1
    fi
fi

bin=$(find_bin)
if [ -z "$bin" ]; then
    say "postgresql is installed but initdb was not found; set PORTAL_POSTGRES_BIN"
    exit 1
fi
say "server binaries in $bin ($("$bin/postgres" --version))"

if [ "${1:-}" = serve ]; then
    dir=${2:?usage: scripts/postgres.sh serve DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    as=()
    # initdb and postgres refuse to run as root: run them as the package's `postgres` user.
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        as=(runuser -u postgres --)
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        "${as[@]}" "$bin/initdb" -D "$dir/data" -U portal -A trust --no-sync >/dev/null
    fi
    port=${PORT:-55432}
    say "serving on 127.0.0.1:$port; the portal's setting:"
    echo "database = \"postgres://portal@127.0.0.1:$port/postgres\""
    exec "${as[@]}" "$bin/postgres" -D "$dir/data" -k "$dir" -h 127.0.0.1 -p "$port" "${@:3}"
fi
echo "$bin"
