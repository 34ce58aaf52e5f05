#!/usr/bin/env bash
# Baton's routing benchmark: `baton serve` pinned to core 0 (bench/routing/baton.toml),
# `routegen` pinned to core 1.
#
#   bash bench/routing/run.sh         # from anywhere; prints one JSON line per measurement
#
# routegen creates AGENTS agents (skill Bench, one offer stream each, ready) and measures
# interactions through the `bench` entry point (bench/routing/route.scxml: queue, offer to
# the reserved agent, end), from each POST /interactions to its offer on the agent's stream.
#
# 1. routing-max: closed loop, CONCURRENCY connections: interactions routed per second.
# 2. routing-open: BACKLOG interactions are first parked through the `park` entry point
#    (bench/routing/park.scxml: queued for a skill no agent has) and checked waiting, then
#    open loop at RATE interactions/s: latency percentiles with the backlog waiting.
# 3. routing-max-backlog: the closed loop again, the backlog still waiting.
#
# Each line also reports send_late_us, how late the generator itself sent against its
# schedule, which tells generator stalls from the server's.
#
# Every process started here is stopped on exit. Bounded: three runs of WARMUP_S +
# DURATION_S seconds (defaults 2 + 10) plus the backlog (a few seconds) after the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION_S=${DURATION_S:-10}
WARMUP_S=${WARMUP_S:-2}
RATE=${RATE:-5000}
AGENTS=${AGENTS:-100}
BACKLOG=${BACKLOG:-100000}
CONCURRENCY=${CONCURRENCY:-16}
# The open loop's connection pool: enough for the scheduled rate, few enough that busy-polling
# idle connections does not add its own delay.
OPEN_CONCURRENCY=${OPEN_CONCURRENCY:-8}
BATON_PORT=${BATON_PORT:-18090}
SERVER_CORE=0
ROUTEGEN_CORE=1

cargo build --release --quiet -p baton-runtime --bin baton -p baton-bench --bin routegen
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BATON=$TARGET_DIR/release/baton
ROUTEGEN=$TARGET_DIR/release/routegen

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Waits until PORT accepts connections (at most 10 s).
wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listens on port $1; the server said:" >&2
    cat "$work/baton.log" >&2
    return 1
}

# Baton listens with SO_REUSEPORT: a stale server on the port would take half the connections.
if (exec 3<>"/dev/tcp/127.0.0.1/$BATON_PORT") 2>/dev/null; then
    echo "port $BATON_PORT is already in use; stop that server or set BATON_PORT" >&2
    exit 1
fi

# Runs routegen with LABEL and the remaining arguments; prints {"run":LABEL,...result}.
measure() {
    local label=$1
    shift
    local line
    line=$(taskset -c "$ROUTEGEN_CORE" "$ROUTEGEN" --url "http://127.0.0.1:$BATON_PORT" \
        --core "$ROUTEGEN_CORE" --agents "$AGENTS" --duration-s "$DURATION_S" \
        --warmup-s "$WARMUP_S" "$@")
    echo "{\"run\":\"$label\",${line#\{}"
}

# The server's resident memory, KiB.
rss_kib() {
    ps -o rss= -p "${pids[0]}" | tr -d ' '
}

# Other work on the two cores shows up as latency: say how busy the host was.
read -r load_1m _ </proc/loadavg
echo "{\"run\":\"host\",\"load_1m_at_start\":$load_1m,\"cores\":$(nproc)}"

sed "s|PORT|$BATON_PORT|; s|ROOT|$PWD|g" bench/routing/baton.toml >"$work/baton.toml"
taskset -c "$SERVER_CORE" "$BATON" serve --config "$work/baton.toml" 2>"$work/baton.log" &
pids+=($!)
wait_port "$BATON_PORT"

measure routing-max --backlog 0 --concurrency "$CONCURRENCY"
rss_before=$(rss_kib)
measure routing-open --backlog "$BACKLOG" --rate "$RATE" --concurrency "$OPEN_CONCURRENCY"
rss_after=$(rss_kib)
measure routing-max-backlog --backlog 0 --concurrency "$CONCURRENCY"
echo "{\"run\":\"server-memory\",\"rss_kib_before_backlog\":$rss_before,\
\"rss_kib_with_backlog\":$rss_after,\"backlog\":$BACKLOG}"
