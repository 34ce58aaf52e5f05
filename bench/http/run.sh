#!/usr/bin/env bash
# Baton's HTTP benchmark: `baton serve` pinned to core 0, `loadgen` pinned to core 1.
#
#   bash bench/http/run.sh            # from anywhere; prints one JSON line per measurement
#
# 1. Closed loop (CONCURRENCY connections) finds the maximum request rate of the
#    start→event→terminate scenario (3 requests per iteration) and of the event scenario
#    (events round-robin to SESSIONS live sessions of bench/http/loop.scxml).
# 2. Open loop at 50% and 90% of each maximum: latency from each request's scheduled time.
# 3. If nginx is installed: one worker pinned to core 0 answering a fixed 200, measured by
#    the same loadgen closed loop (and by wrk -t1 -c64, if installed) as the HTTP/1.1 ceiling.
#
# loadgen waits on busy-polled sockets (its default, `--wait busy`); one run each of Baton and
# nginx with `--wait uring` shows what glommio's io_uring polls in the generator cost the server.
#
# Every process started here is stopped on exit. Bounded: about 11 runs of WARMUP_S +
# DURATION_S seconds (defaults 2 + 10: under 2.5 minutes after the build).
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION_S=${DURATION_S:-10}
WARMUP_S=${WARMUP_S:-2}
CONCURRENCY=${CONCURRENCY:-32}
# The open loop's connection pool: enough for the scheduled rate, few enough that the
# generator's busy-polling of idle connections does not add its own delay to the latencies.
OPEN_CONCURRENCY=${OPEN_CONCURRENCY:-16}
SESSIONS=${SESSIONS:-1000}
BATON_PORT=${BATON_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
SERVER_CORE=0
LOADGEN_CORE=1

cargo build --release --quiet -p baton-runtime --bin baton -p baton-bench --bin loadgen
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BATON=$TARGET_DIR/release/baton
LOADGEN=$TARGET_DIR/release/loadgen

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
    echo "nothing listens on port $1" >&2
    return 1
}

# Refuses a PORT that already accepts connections: baton listens with SO_REUSEPORT, so a
# stale server on the same port would silently take half of the connections.
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "port $1 is already in use; stop that server or set ${2}_PORT" >&2
        exit 1
    fi
}

# The "rate_rps" field of a loadgen JSON line, as an integer.
rate_of() {
    sed -n 's/.*"rate_rps":\([0-9]*\).*/\1/p' <<<"$1"
}

# Runs loadgen with LABEL and the remaining arguments; prints {"run":LABEL,...result}.
measure() {
    local label=$1
    shift
    local line
    line=$("$LOADGEN" --core "$LOADGEN_CORE" --duration-s "$DURATION_S" \
        --warmup-s "$WARMUP_S" "$@")
    echo "{\"run\":\"$label\",${line#\{}"
}

cat >"$work/baton.toml" <<EOF
[runtime]
cores = [$SERVER_CORE]
io_memory_bytes = 1048576

[limits]
sessions_per_shard_max = 100000
connections_per_shard_max = 10000
# The event scenario measures the server's event path: a session's share of events a
# second (1,000 by default) is lifted so that SESSIONS may be small.
session_events_per_second_max = 1000000

[[listener]]
name = "bench"
protocol = "http"
address = "127.0.0.1:$BATON_PORT"
tls = "off"
EOF
port_free "$BATON_PORT" BATON
"$BATON" serve --config "$work/baton.toml" 2>"$work/baton.log" &
pids+=($!)
wait_port "$BATON_PORT"
url="http://127.0.0.1:$BATON_PORT"
set_args=(--url "$url" --scenario start-event-terminate --src runtime/samples/hello.scxml)
event_args=(--url "$url" --scenario event --src bench/http/loop.scxml --sessions "$SESSIONS")

line=$(measure baton-start-event-terminate-closed "${set_args[@]}" --concurrency "$CONCURRENCY")
echo "$line"
set_max=$(rate_of "$line")
line=$(measure baton-event-closed "${event_args[@]}" --concurrency "$CONCURRENCY")
echo "$line"
event_max=$(rate_of "$line")
# The same maximum with the generator waiting on io_uring polls (see bench/src/loadgen/wait.rs):
# shows what that way of waiting costs the server.
measure baton-start-event-terminate-closed-uring "${set_args[@]}" --concurrency "$CONCURRENCY" \
    --wait uring

for percent in 50 90; do
    rate=$((set_max * percent / 100))
    measure "baton-start-event-terminate-open-$percent" "${set_args[@]}" \
        --concurrency "$OPEN_CONCURRENCY" --rate "$rate"
    rate=$((event_max * percent / 100))
    measure "baton-event-open-$percent" "${event_args[@]}" \
        --concurrency "$OPEN_CONCURRENCY" --rate "$rate"
done

nginx_max=""
if command -v nginx >/dev/null; then
    port_free "$NGINX_PORT" NGINX
    sed "s|PORT|$NGINX_PORT|; s|PREFIX|$work|g" bench/http/nginx.conf >"$work/nginx.conf"
    nginx -c "$work/nginx.conf" -p "$work" &
    pids+=($!)
    wait_port "$NGINX_PORT"
    line=$(measure nginx-get-closed --url "http://127.0.0.1:$NGINX_PORT" --scenario get \
        --concurrency "$CONCURRENCY")
    echo "$line"
    nginx_max=$(rate_of "$line")
    measure nginx-get-closed-uring --url "http://127.0.0.1:$NGINX_PORT" --scenario get \
        --concurrency "$CONCURRENCY" --wait uring
    if command -v wrk >/dev/null; then
        wrk_out=$(taskset -c "$LOADGEN_CORE" wrk -t1 -c64 -d"${DURATION_S}s" --latency \
            "http://127.0.0.1:$NGINX_PORT/")
        wrk_rps=$(sed -n 's/^Requests\/sec: *\([0-9]*\).*/\1/p' <<<"$wrk_out")
        wrk_p99=$(sed -n 's/^ *99% *\([0-9.a-z]*\)$/\1/p' <<<"$wrk_out")
        echo "{\"run\":\"nginx-wrk-t1-c64\",\"rate_rps\":$wrk_rps,\"latency_p99\":\"$wrk_p99\"}"
    fi
else
    echo "nginx is not installed (apt-get install -y nginx wrk): no HTTP/1.1 ceiling" >&2
fi

summary="{\"run\":\"summary\",\"start_event_terminate_rps\":$set_max"
summary+=",\"sessions_per_s\":$((set_max / 3)),\"events_per_s\":$event_max"
if [ -n "$nginx_max" ] && [ "$nginx_max" -gt 0 ]; then
    summary+=",\"nginx_rps\":$nginx_max"
    summary+=",\"baton_over_nginx_percent\":$((set_max * 100 / nginx_max))"
fi
echo "$summary}"
