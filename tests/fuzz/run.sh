#!/usr/bin/env bash
# Runs every cargo-fuzz target in turn, SECONDS each (default 60), and stops at the first
# crash, printing the input libFuzzer saved. One job at a time: the fuzzers share the
# machine with builds.
#
#   tests/fuzz/run.sh [SECONDS]
#
# Environment: SANITIZER (cargo-fuzz --sanitizer: address by default, or none),
# TARGETS (space-separated subset, all targets by default).
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them, so no nightly toolchain is needed.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS per target, default 60]" >&2
    exit 2
fi
# A single input slower than this is reported as a hang (libFuzzer's default is 20 minutes).
input_timeout_s=25

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# The fuzz crate is its own workspace; start from the main lock file so it builds the
# dependency versions the project tests with.
if [[ ! -f Cargo.lock ]]; then
    cp ../../Cargo.lock Cargo.lock
fi

targets="${TARGETS:-$(cargo fuzz list)}"
mkdir -p logs
for target in $targets; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    echo "== $target: ${seconds}s (log $log)"
    status=0
    cargo fuzz run --sanitizer "${SANITIZER:-address}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout="$input_timeout_s" \
        >"$log" 2>&1 || status=$?
    if [[ $status -ne 0 ]]; then
        tail -n 40 "$log"
        artifact=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | cut -d' ' -f5 || true)
        echo "FAILED: $target (exit $status); input: ${artifact:-none saved, see $log}" >&2
        echo "replay: cd tests/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target ${artifact}" >&2
        exit 1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true
done
echo "all targets ran ${seconds}s each without a crash"
