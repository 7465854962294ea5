#!/usr/bin/env bash
# Builds every plugin crate to wasm32-unknown-unknown and copies each module next to its
# manifest, as <manifest folder>/wasm/<plugin id>.wasm (where the manifest points):
# manifests/wasm/conversations.wasm, and the test plugin fixtures/plugins/notes/wasm/notes.wasm.
#
# It uses the first wasm32 toolchain that works on this machine:
#   1. rustup's stable toolchain with the wasm32-unknown-unknown target installed;
#   2. Debian's rustc-web + cargo-web + rust-web-src, building std from source (-Zbuild-std);
#   3. installs (2) with apt-get when this is Debian and we are root (or have sudo);
#   4. tries `rustup target add wasm32-unknown-unknown` (needs internet);
# and otherwise says exactly what to run. Set PORTAL_WASM_TOOLCHAIN=rustup|debian to force one.
# Before building it checks that the compiler is at least the guest crates' `rust-version`
# (1.85: Debian 12's own rustc-web, the oldest wasm32 toolchain a fresh machine meets) and
# says in one line what to do if not. It prints the route it took and how long it took.
# Wasm builds use their own target directory (target-wasm/) so they never disturb host builds.
#
# Plugins made by `portal plugin new` are built too: every crate folder under plugins/ (a
# workspace member), and any crate folder given as an argument (`scripts/build-plugins.sh
# plugins/hello` builds only that one; a crate of its own, `--standalone`, builds with its
# own Cargo.toml and target-wasm/). Such a folder holds Cargo.toml and `<id>.toml`, and the
# module goes to `<folder>/wasm/<id>.wasm`, where the generated manifest points.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
started=$SECONDS
target_dir="$root/target-wasm"
# crate name : plugin id : folder of its manifest (the module goes to <folder>/wasm/<id>.wasm)
plugins=(
    "conversations-plugin:conversations:manifests"
    "moderation-plugin:moderation:manifests"
    "notes-plugin:notes:fixtures/plugins/notes"
)
profile=wasm
target=wasm32-unknown-unknown
say() { echo "build-plugins: $*" >&2; }

# Crates of their own (given as arguments): "crate:id:folder" each, built apart.
standalone=()

# A plugin crate folder: its crate (Cargo.toml's package name) and id (the folder's name).
plugin_of_folder() {
    local folder=$1 crate id
    [ -f "$folder/Cargo.toml" ] || { say "$folder has no Cargo.toml: give a plugin crate's folder"; exit 1; }
    crate=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' "$folder/Cargo.toml" | head -n 1)
    id=$(basename "$folder")
    [ -f "$folder/$id.toml" ] || { say "$folder has no manifest $id.toml"; exit 1; }
    echo "$crate:$id:$folder"
}

if [ $# -gt 0 ]; then
    plugins=()
    for folder in "$@"; do
        folder=$(cd "$folder" && pwd)
        p=$(plugin_of_folder "$folder")
        if grep -q '^\[workspace\]' "$folder/Cargo.toml"; then
            standalone+=("$p")
        else
            plugins+=("$p:member")
        fi
    done
else
    # Workspace members made by `portal plugin new` (plugins/<id>/).
    for folder in "$root"/plugins/*/; do
        [ -f "$folder/Cargo.toml" ] || continue
        plugins+=("$(plugin_of_folder "${folder%/}"):member")
    done
fi

rustup_has_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx "$target"
}

debian_ready() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ]
}

install_debian() {
    command -v apt-get >/dev/null 2>&1 || return 1
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        sudo="sudo -n"
    fi
    say "installing Debian's rustc-web, cargo-web and rust-web-src (wasm32 via build-std)"
    if ! $sudo apt-get install -y -q rustc-web cargo-web rust-web-src >/dev/null 2>&1; then
        $sudo apt-get update -q >/dev/null 2>&1 || true
        $sudo apt-get install -y -q rustc-web cargo-web rust-web-src >/dev/null 2>&1 || return 1
    fi
    debian_ready
}

build_rustup() {
    check_version rustc "rustup's"
    say "using rustup's $(rustc --version) with its $target target"
    cargo build ${locked---locked} --profile "$profile" --target "$target" --target-dir "$target_dir" "${packages[@]}"
}

# A wasm linker: rustup's rust-lld (any installed toolchain has one), Debian's sysroot or
# /usr/bin/rust-lld (a link to lld-NN, which may be missing), or LLVM's wasm-ld (newest
# versioned one first: Debian 12's rustc-web 1.85 has no rust-lld of its own).
find_lld() {
    local rustup_sysroot debian_sysroot candidate
    rustup_sysroot=$(rustc --print sysroot 2>/dev/null || true)
    debian_sysroot=$(/usr/bin/rustc --print sysroot)
    for candidate in "$rustup_sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld" \
        "$debian_sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld" /usr/bin/rust-lld \
        $(ls -d /usr/lib/llvm-*/bin/wasm-ld 2>/dev/null | sort -rV) \
        "$(command -v wasm-ld || true)"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
    return 1
}

# Debian's own wasm linker when none is found (lld-19 matches rustc-web 1.85's LLVM).
install_lld() {
    command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 1
    say "no wasm linker found: installing Debian's lld"
    apt-get install -y -q lld-19 >/dev/null 2>&1 || apt-get install -y -q lld >/dev/null 2>&1 || return 1
    find_lld
}

# The oldest compiler the guest crates promise to build with: their `rust-version`.
guest_rust_version() {
    sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/plugin-api/Cargo.toml" | head -n 1
}

# Refuses, in one line with what to do, a compiler older than the guest crates' rust-version
# (cargo would say so only after a minute of downloads and build-std).
check_version() {
    local rustc=$1 route=$2 have need
    have=$("$rustc" --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\(\.[0-9]*\)\?\).*/\1/p')
    need=$(guest_rust_version)
    [ -n "$need" ] && [ -n "$have" ] || return 0
    if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" != "$need" ]; then
        say "$route rustc $have is older than $need, which the plugin crates need (rust-version): on Debian 12 run 'apt-get update && apt-get install rustc-web cargo-web rust-web-src', or use rustup ('rustup target add $target')"
        exit 1
    fi
}

build_debian() {
    local lld
    check_version /usr/bin/rustc "Debian's"
    lld=$(find_lld) || lld=$(install_lld) || { say "no wasm linker found: install rustup (it ships rust-lld) or sudo apt-get install lld-19"; exit 1; }
    say "using Debian's $(/usr/bin/rustc --version) with -Zbuild-std, linker $lld"
    env -u RUSTUP_TOOLCHAIN \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$lld" \
        RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
        /usr/bin/cargo build ${locked---locked} --profile "$profile" --target "$target" --target-dir "$target_dir" \
        -Zbuild-std=std,panic_abort "${packages[@]}"
}

packages=()
for p in "${plugins[@]}"; do
    IFS=: read -r crate _ _ <<<"$p"
    packages+=(-p "$crate")
done
# The workspace's build, then each crate of its own with its Cargo.toml and target-wasm/.
build_all() {
    local build=$1 p crate id folder
    if [ ${#packages[@]} -gt 0 ]; then
        "$build"
    fi
    for p in "${standalone[@]+"${standalone[@]}"}"; do
        IFS=: read -r crate id folder <<<"$p"
        say "building $crate, a crate of its own, in $folder"
        (
            packages=(--manifest-path "$folder/Cargo.toml")
            target_dir="$folder/target-wasm"
            locked=""
            "$build"
        )
    done
}

choice=${PORTAL_WASM_TOOLCHAIN:-}
if [ -z "$choice" ]; then
    if rustup_has_target; then
        choice=rustup
    elif debian_ready || install_debian; then
        choice=debian
    elif command -v rustup >/dev/null 2>&1 && timeout 120 rustup target add "$target" >/dev/null 2>&1; then
        choice=rustup
    else
        cat >&2 <<MSG
build-plugins: no Rust toolchain for $target was found or could be installed.
Do one of these, then run the command again:
  - with internet:        rustup target add $target
  - on Debian or Ubuntu:  sudo apt-get install rustc-web cargo-web rust-web-src
MSG
        exit 1
    fi
fi

case "$choice" in
    rustup) build_all build_rustup ;;
    debian) build_all build_debian ;;
    *) say "PORTAL_WASM_TOOLCHAIN must be rustup or debian, not '$choice'"; exit 1 ;;
esac

for p in "${plugins[@]}" "${standalone[@]+"${standalone[@]}"}"; do
    IFS=: read -r crate id folder kind <<<"$p"
    from="$target_dir"
    case "$folder" in
        /*) # an absolute folder: a crate of its own (own target-wasm/) or a member under plugins/
            [ "${kind:-}" = member ] || from="$folder/target-wasm"
            out="$folder/wasm" ;;
        *) out="$root/$folder/wasm" ;;
    esac
    mkdir -p "$out"
    src="$from/$target/$profile/${crate//-/_}.wasm"
    cp "$src" "$out/$id.wasm.tmp"
    mv "$out/$id.wasm.tmp" "$out/$id.wasm"
    say "${out#"$root"/}/$id.wasm ($(wc -c <"$out/$id.wasm") bytes)"
done
say "built with the $choice route in $((SECONDS - started)) s"
