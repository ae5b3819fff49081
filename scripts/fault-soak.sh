#!/usr/bin/env bash
# Runs the broker-fault test (tests/broker_fault.rs) N times in a row while two CPU-bound
# processes compete with it for the cores, and prints one line per run and a summary.
#
#   scripts/fault-soak.sh [RUNS]        (default 20; needs the local RabbitMQ and rabbitmqctl)
#
# Exits 1 when any run failed. The hogs are stopped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"

cargo test -q --test broker_fault --no-run 2>/dev/null
binary="$(cargo test --test broker_fault --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*broker_fault[^"]*\)".*/\1/p' | tail -1)"
[ -x "$binary" ] || { echo "error: cannot find the broker_fault test binary" >&2; exit 2; }

hogs=()
stop_hogs() { [ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT
yes >/dev/null & hogs+=($!)
yes >/dev/null & hogs+=($!)

log_dir="$(mktemp -d)"
passed=0
failed=0
for i in $(seq "$runs"); do
    log="$log_dir/run-$i.log"
    start=$(date +%s%N)
    if "$binary" --nocapture >"$log" 2>&1; then
        passed=$((passed + 1)); verdict=ok
    else
        failed=$((failed + 1)); verdict=FAILED
    fi
    took_ms=$((($(date +%s%N) - start) / 1000000))
    line="$(grep -m1 '^broker faults:' "$log" || echo 'no summary line')"
    printf 'run %2d: %-6s %4d.%01d s  %s\n' "$i" "$verdict" $((took_ms / 1000)) $((took_ms % 1000 / 100)) "${line#broker faults: }"
done
echo "$passed passed, $failed failed"
echo "logs: $log_dir"
[ "$failed" -eq 0 ]
