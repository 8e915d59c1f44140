#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60), one after the other, and prints one
# summary line per target: executions, coverage, and whether it found anything.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz if it is missing. Works on stable Rust: RUSTC_BOOTSTRAP=1 lets
# stable accept the `-Z` sanitizer flags cargo-fuzz passes. If cargo-fuzz cannot be
# installed or cannot build, it says why and exits 2: the property tests
# (tests/properties.rs, run by `cargo test`) then carry the load.
#
# MIO_CHAT_FUZZ_STRICT=1 also checks the known bugs the targets otherwise step around.
# Findings go to fuzz/artifacts/TARGET/; the corpus grows in fuzz/corpus/TARGET/.
# Exit status: 0 nothing found, 1 a target found a crash, 2 fuzzing could not run.
set -u

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(framing chat)

cannot_run() {
    echo "fuzz/run.sh: cannot fuzz: $1" >&2
    echo "fuzz/run.sh: the property tests (cargo test --test properties) carry the load" >&2
    exit 2
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2 || cannot_run "cargo install cargo-fuzz failed"
fi
# Stable rustc refuses -Z flags unless told it is bootstrapping itself.
export RUSTC_BOOTSTRAP=1
# Sanitizer builds stay out of the main build's target directory.
export CARGO_TARGET_DIR="$fuzz_dir/target"

cd "$root" || exit 2
cargo fuzz build --fuzz-dir "$fuzz_dir" >&2 || cannot_run "cargo fuzz build failed (see above)"

status=0
for target in "${targets[@]}"; do
    log="$fuzz_dir/target/$target.log"
    mkdir -p "$fuzz_dir/corpus/$target" "$fuzz_dir/artifacts/$target"
    start=$(date +%s)
    cargo fuzz run --fuzz-dir "$fuzz_dir" "$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
    code=$?
    took=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ "$code" -eq 0 ]; then
        echo "$target: ${took}s, ${runs:-?} runs, ${cov:-cov: ?}, nothing found"
    else
        status=1
        artifact=$(grep -o 'artifact_prefix=[^;]*; Test unit written to [^ ]*' "$log" | sed 's/.*written to //')
        echo "$target: ${took}s, ${runs:-?} runs, ${cov:-cov: ?}, FOUND: ${artifact:-see $log}"
        grep -m1 -A3 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log" | sed 's/^/    /'
    fi
done
exit "$status"
