#!/usr/bin/env bash
# Fuzzes the host-side decoding of plugin output, the manifest parser and the message-body
# rules with cargo fuzz (libFuzzer), after replaying every saved crash in
# fuzz/regressions/. Usage: scripts/fuzz.sh [seconds per target] (default 20; `make test`
# runs this short run, `make fuzz` a longer one). Installs cargo-fuzz if it is missing.
# libFuzzer needs nightly compiler flags: on a stable toolchain RUSTC_BOOTSTRAP=1 allows
# them for this build only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
targets=(plugin_output manifest message_body)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io (once)"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# The sanitizer makes plugin-free code paths slow enough; `-O` keeps the run useful.
cargo fuzz build -O

total=0
for target in "${targets[@]}"; do
    saved=(fuzz/regressions/"$target"/*)
    if [ -e "${saved[0]}" ]; then
        echo "fuzz: $target: replaying ${#saved[@]} saved crash input(s)"
        cargo fuzz run -O "$target" "${saved[@]}" -- -runs=1 >/dev/null 2>&1 || {
            cargo fuzz run -O "$target" "${saved[@]}" -- -runs=1
            exit 1
        }
    fi
    work="fuzz/target/corpus/$target"
    mkdir -p "$work"
    log="fuzz/target/$target.log"
    if ! cargo fuzz run -O "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz: $target found a crash: the input is in fuzz/artifacts/$target/;"
        echo "      fix it and add the input to fuzz/regressions/$target/"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    echo "fuzz: $target: ${runs:-0} executions in ${seconds}s, no crash"
    total=$((total + ${runs:-0}))
done
echo "fuzz: $total executions over ${#targets[@]} targets, no crash"
