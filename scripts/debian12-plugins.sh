#!/usr/bin/env bash
# Proves the fresh-machine route whatever this machine has installed: builds every plugin
# with Debian 12's own rustc-web (the oldest version the bookworm archive offers: 1.85) in a
# clean Debian 12 root, with scripts/build-plugins.sh as a new user would run it.
#
# A machine with a newer rustc-web (bookworm-security has 1.96) or a rustup wasm32 target
# never sees a let-chain or a std API newer than the guest crates' rust-version; this check
# does. `make fresh-plugins` and .ci/run run it.
#
# The root is made once with `debootstrap --variant=minbase bookworm` from Debian's packages
# and kept under $PORTAL_CI_CACHE (default /var/cache/portal-ci, outside the clone), with
# its cargo registry, so later runs only copy the sources in and build (about 3 minutes on
# 2 cores). If the root cannot be made, it says why and fails: it never skips.
# Needs root (debootstrap, chroot).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PORTAL_CI_CACHE:-/var/cache/portal-ci}
jail="$cache/bookworm-rustc-web"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
started=$SECONDS

say() { echo "debian12-plugins: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root for debootstrap and chroot (run it as root or with sudo)"
if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    apt-get install -y -q debootstrap >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q debootstrap >/dev/null 2>&1; } ||
        fail "debootstrap is missing and 'apt-get install debootstrap' failed"
fi

in_jail() { chroot "$jail" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

make_jail() {
    local log="$cache/debootstrap.log" version
    mkdir -p "$cache"
    rm -rf "$jail.tmp"
    say "making a clean Debian 12 root in $jail (once; about 3 minutes)"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$jail.tmp" "$mirror" >"$log" 2>&1 ||
        fail "debootstrap bookworm from $mirror failed; its log: $log (last line: $(tail -n 1 "$log"))"
    # Only bookworm itself: Debian 12's toolchain as released, not a later security update.
    echo "deb $mirror bookworm main" >"$jail.tmp/etc/apt/sources.list"
    cp /etc/resolv.conf "$jail.tmp/etc/resolv.conf"
    local old_jail=$jail
    jail="$jail.tmp"
    in_jail apt-get update -q >>"$log" 2>&1 || fail "apt-get update in the root failed; log: $log"
    version=$(in_jail apt-cache madison rustc-web | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -V | head -n 1)
    [ -n "$version" ] || fail "Debian 12's archive at $mirror offers no rustc-web"
    say "installing rustc-web, cargo-web, rust-web-src $version and lld-19 in the root"
    in_jail apt-get install -y -q --no-install-recommends "rustc-web=$version" "cargo-web=$version" \
        "rust-web-src=$version" lld-19 make >>"$log" 2>&1 ||
        fail "installing Debian 12's rustc-web $version in the root failed; log: $log"
    jail=$old_jail
    rm -rf "$jail"
    mv "$jail.tmp" "$jail"
    touch "$jail/.ready"
}

[ -f "$jail/.ready" ] || make_jail
# The root reaches crates.io as this machine does: its resolver and its trusted CAs (a
# machine behind a TLS-inspecting proxy trusts the proxy's CA).
cp /etc/resolv.conf "$jail/etc/resolv.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$jail/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$jail/etc/ssl/certs/ca-certificates.crt"
fi

# The oldest compiler a fresh Debian 12 meets must be the one the guest crates promise.
need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/plugin-api/Cargo.toml" | head -n 1)
have=$(in_jail rustc --version | awk '{print $2}')
case "$have" in
    "$need" | "$need".*) ;;
    *) fail "the root's rustc is $have, but the guest crates declare rust-version $need: Debian 12's oldest rustc-web changed; set rust-version to it (and delete $jail to rebuild the root)" ;;
esac

# The sources as a fresh clone has them (tracked and new files, no build output).
src="$jail/src"
rm -rf "$src"
mkdir -p "$src"
(
    cd "$root"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' file; do [ -f "$file" ] && printf '%s\0' "$file"; done |
        tar --null -T - -cf -
) | (cd "$src" && tar -xf -)

say "building the plugins with Debian 12's $(in_jail rustc --version) in the root"
if ! in_jail sh -c 'cd /src && CARGO_HOME=/root/.cargo scripts/build-plugins.sh' 2>&1 | sed 's/^/  [debian12] /' >&2; then
    fail "the plugins do not build with Debian 12's rustc $have (guest code must build with Rust $need: no let-chains, no std API newer than $need)"
fi
for wasm in manifests/wasm/conversations.wasm fixtures/plugins/notes/wasm/notes.wasm; do
    [ -s "$src/$wasm" ] || fail "the build in the root left no $wasm"
done
say "ok: every plugin builds with Debian 12's rustc $have ($((SECONDS - started)) s)"
