#!/usr/bin/env bash
# Makes sure the end-to-end tests have a browser: Chromium and its WebDriver, chromedriver,
# of the same version. Prints the two paths it found or installed, as the tests find them:
#   PORTAL_CHROMIUM      (default: chromium, chromium-browser or google-chrome on PATH)
#   PORTAL_CHROMEDRIVER  (default: chromedriver on PATH)
# On Debian or Ubuntu as root (or with sudo) it installs the `chromium` and
# `chromium-driver` packages; elsewhere it says what to install.
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
