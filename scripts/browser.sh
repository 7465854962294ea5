#!/usr/bin/env bash
# Makes sure the end-to-end tests have a browser: Chromium and its WebDriver, chromedriver,
# of the same version. Prints the two paths it found or installed, as the tests find them:
#   PORTAL_CHROMIUM      (default: chromium, chromium-browser or google-chrome on PATH)
#   PORTAL_CHROMEDRIVER  (default: chromedriver on PATH)
# On Debian or Ubuntu as root (or with sudo) it installs the `chromium` and
# `chromium-driver` packages; elsewhere it says what to install.
# Then it installs axe-core, which the test injects into every page it visits, at the version
# pinned in scripts/axe/package-lock.json, from the npm registry with `npm ci` into
# scripts/axe/node_modules/ (not committed). PORTAL_AXE may point at another axe.min.js.
set -euo pipefail

say() { echo "browser: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

find_chromium() {
    if [ -n "${PORTAL_CHROMIUM:-}" ]; then echo "$PORTAL_CHROMIUM"; return; fi
    for name in chromium chromium-browser google-chrome; do
        if have "$name"; then command -v "$name"; return; fi
    done
}

find_driver() {
    if [ -n "${PORTAL_CHROMEDRIVER:-}" ]; then echo "$PORTAL_CHROMEDRIVER"; return; fi
    if have chromedriver; then command -v chromedriver; fi
}

if [ -z "$(find_chromium)" ] || [ -z "$(find_driver)" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ] && have sudo; then sudo="sudo"; fi
    if have apt-get && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
        say "installing chromium and chromium-driver with apt-get"
        $sudo apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        say "the end-to-end tests need Chromium and chromedriver of the same version."
        say "  Debian/Ubuntu: apt-get install chromium chromium-driver"
        say "  macOS:         brew install --cask chromium chromedriver"
        say "  or point PORTAL_CHROMIUM and PORTAL_CHROMEDRIVER at them."
        exit 1
    fi
fi

chromium=$(find_chromium)
driver=$(find_driver)
if [ -z "$chromium" ] || [ -z "$driver" ]; then
    say "Chromium or chromedriver is still missing after the install; see the messages above."
    exit 1
fi
say "$("$chromium" --version 2>/dev/null || echo "$chromium"), $("$driver" --version 2>/dev/null | cut -d' ' -f1-2)"

# axe-core for the accessibility checks of the browser test.
axe_dir="$(cd "$(dirname "$0")" && pwd)/axe"
axe_js="$axe_dir/node_modules/axe-core/axe.min.js"
pinned=$(sed -n 's/.*"axe-core": "\([^"]*\)".*/\1/p' "$axe_dir/package.json" | head -n1)
installed=$( { sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$axe_dir/node_modules/axe-core/package.json" 2>/dev/null || true; } | head -n1)
if [ -n "${PORTAL_AXE:-}" ]; then
    say "axe-core from PORTAL_AXE=$PORTAL_AXE"
elif [ -f "$axe_js" ] && [ "$installed" = "$pinned" ]; then
    say "axe-core $installed"
elif have npm; then
    say "installing axe-core $pinned with npm ci (scripts/axe/package-lock.json)"
    npm ci --prefix "$axe_dir" --no-audit --no-fund --loglevel=error >/dev/null
    say "axe-core $pinned"
else
    say "the browser test needs axe-core $pinned from the npm registry, and npm is missing."
    say "  Debian/Ubuntu: apt-get install npm   macOS: brew install node"
    say "  or point PORTAL_AXE at an axe.min.js of axe-core $pinned."
    exit 1
fi
