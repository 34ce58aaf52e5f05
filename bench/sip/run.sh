#!/usr/bin/env bash
# The SIP routing-point benchmark: SIPp (bench/sip/uac.xml: INVITE, optional 100/182, 302,
# ACK) at fixed call rates against Kamailio as a static redirect server (the reference:
# bench/sip/kamailio.cfg), then against Baton routing every call to one of 1,000 ready
# agents (bench/sip/baton.toml, bench/sip/route.scxml). The server is pinned to core 0,
# SIPp to core 1, both with 4 MiB UDP socket buffers. Everything runs on 127.0.0.1.
#
#   bash bench/sip/run.sh [--only kamailio|baton|both]     # default both
#   RATES="5000 10000" DURATION_S=10 bash bench/sip/run.sh --only kamailio
#   KEEP_LOGS=/tmp/sip-runs bash bench/sip/run.sh    # keeps SIPp's logs of every run there
#   BATON_BIN=/tmp/baton-old bash bench/sip/run.sh --only baton   # another build, for A/B
#   TRYING_AFTER_MS=50 bash bench/sip/run.sh    # Baton's sip.trying_after_ms (default 0)
#   REPEAT=3 bash bench/sip/run.sh    # each rate three times; a summary by median p99
#   KAMAILIO_RATES="40000 45000" BATON_RATES="20000 22500" bash bench/sip/run.sh
#                                               # each server its own rates (default RATES)
#
# Each rate runs RATE x DURATION_S calls (-r RATE -m CALLS, an open loop: SIPp starts calls
# on schedule whatever the server does, up to 2 s of calls in flight). Per run it reports:
# the rate achieved (answered calls over the time from the first INVITE to the last),
# failed calls, retransmissions (SIPp resends an INVITE unanswered after 500 ms: a lost
# datagram), UDP receive-buffer drops on the host (/proc/net/snmp) and at the server's
# socket (ss), the INVITE-to-302 response time (p50/p99/p99.9/max, microseconds from
# gettimeofday() in the scenario), the server's CPU per call (all its processes, from
# /proc) and SIPp's own CPU use (a saturated generator makes every number after it
# meaningless). A run is "clean" with no failure, no
# retransmission, no drop, p99 <= 4 ms and at least 99% of the rate achieved.
#
# It prints one line per run and a markdown table at the end, and appends the table, the
# date and the host's load to bench/RESULTS-sip.md. Needs root for sysctl (the socket
# buffer ceiling; the old values are restored on exit), sipp (apt-get install sip-tester),
# kamailio (apt-get install kamailio), curl, taskset, ss. Every process started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

ONLY=both
while [ $# -gt 0 ]; do
    case "$1" in
    --only)
        ONLY=${2:-}
        shift 2
        ;;
    --only=*)
        ONLY=${1#--only=}
        shift
        ;;
    *)
        echo "usage: $0 [--only kamailio|baton|both]" >&2
        exit 2
        ;;
    esac
done
case "$ONLY" in
kamailio | baton | both) ;;
*)
    echo "--only takes kamailio, baton or both, not '$ONLY'" >&2
    exit 2
    ;;
esac

RATES=${RATES:-"5000 10000 15000 20000 25000"}
DURATION_S=${DURATION_S:-10}
SIP_PORT=${SIP_PORT:-15060}
SIPP_PORT=${SIPP_PORT:-15061}
SIPP_CONTROL_PORT=${SIPP_CONTROL_PORT:-15062}
HTTP_PORT=${HTTP_PORT:-18091}
AGENTS=${AGENTS:-1000}
# Runs of each rate on each server; the summary takes the median p99 of them.
REPEAT=${REPEAT:-1}
# Baton's sip.trying_after_ms: 0 sends 100 Trying at once (the default).
TRYING_AFTER_MS=${TRYING_AFTER_MS:-0}
BUFFER_BYTES=4194304
SERVER_CORE=0
SIPP_CORE=1
RESULTS=${RESULTS:-bench/RESULTS-sip.md}

fail() {
    echo "bench/sip/run.sh: $*" >&2
    exit 1
}

for tool in sipp taskset ss awk sort; do
    command -v "$tool" >/dev/null || fail "$tool is missing (sipp: apt-get install sip-tester)"
done
if [ "$ONLY" != baton ]; then
    command -v kamailio >/dev/null || fail "kamailio is missing: apt-get install kamailio"
fi
if [ "$ONLY" != kamailio ]; then
    command -v curl >/dev/null || fail "curl is missing: apt-get install curl"
fi
[ "$(nproc)" -ge 2 ] || fail "needs two cores: the server on core 0, SIPp on core 1"

work=$(mktemp -d)
server_pid=""
old_rmem=$(sysctl -n net.core.rmem_max)
old_wmem=$(sysctl -n net.core.wmem_max)

stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

cleanup() {
    stop_server
    sysctl -q -w net.core.rmem_max="$old_rmem" net.core.wmem_max="$old_wmem" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sockets may ask for 4 MiB only if the ceiling allows it (the kernel silently caps them).
raise_ceiling() {
    local name=$1 old=$2
    if [ "$old" -lt "$BUFFER_BYTES" ]; then
        sysctl -q -w "$name=$BUFFER_BYTES" ||
            fail "cannot raise $name to $BUFFER_BYTES (run as root): datagrams would be dropped"
    fi
}
raise_ceiling net.core.rmem_max "$old_rmem"
raise_ceiling net.core.wmem_max "$old_wmem"

# A port already taken would send calls to a stranger (Baton's sockets use SO_REUSEPORT).
for port in "$SIP_PORT" "$SIPP_PORT" "$SIPP_CONTROL_PORT"; do
    if [ -n "$(ss -Hlun "sport = :$port")" ] || [ -n "$(ss -Hltn "sport = :$port")" ]; then
        fail "port $port is in use; stop that server or set SIP_PORT/SIPP_PORT/SIPP_CONTROL_PORT"
    fi
done

# Waits until something listens on UDP port $1 (at most 10 s); $2 names the server's log.
wait_udp() {
    for _ in $(seq 100); do
        if [ -n "$(ss -Hlun "sport = :$1")" ]; then
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "nothing listens on UDP port $1; the server said:" >&2
    cat "$2" >&2
    fail "the server did not start"
}

# Waits until TCP port $1 accepts connections (at most 10 s); $2 names the server's log.
wait_tcp() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "nothing listens on TCP port $1; the server said:" >&2
    cat "$2" >&2
    fail "the server did not start"
}

# CPU time (clock ticks, user + system) of process $1 and its child processes.
cpu_ticks() {
    local total=0 pid ticks
    for pid in "$1" $(pgrep -P "$1" || true); do
        # Fields 14 and 15 of /proc/PID/stat, counted after the ")" closing the name.
        ticks=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || ticks=0
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
}

# UDP datagrams the host dropped for lack of receive-buffer room, so far.
udp_drops() {
    # Two "Udp:" lines: the field names, then the values.
    awk '/^Udp:/ && names { for (i = 2; i <= NF; i++) if (n[i] == "RcvbufErrors") print $i; exit }
         /^Udp:/ { names = 1; for (i = 2; i <= NF; i++) n[i] = $i }' /proc/net/snmp
}

# Datagrams dropped so far by the server's UDP sockets on SIP_PORT (full receive buffer).
socket_drops() {
    ss -Huamn "sport = :$SIP_PORT" | grep -o ',d[0-9]*)' | tr -dc '0-9\n' |
        awk '{ total += $1 } END { print total + 0 }'
}

start_kamailio() {
    sed "s|SIP_PORT|$SIP_PORT|" bench/sip/kamailio.cfg >"$work/kamailio.cfg"
    kamailio -c -f "$work/kamailio.cfg" >"$work/kamailio-check.log" 2>&1 ||
        { cat "$work/kamailio-check.log" >&2; fail "kamailio refuses bench/sip/kamailio.cfg"; }
    # -DD: the main process stays in the foreground and forks its workers; -E: stderr.
    taskset -c "$SERVER_CORE" kamailio -f "$work/kamailio.cfg" -DD -E -m 256 -M 16 \
        -w "$work" -Y "$work" 2>"$work/kamailio.log" &
    server_pid=$!
    wait_udp "$SIP_PORT" "$work/kamailio.log"
    local version
    version=$(kamailio -v | awk 'NR == 1 {print $3}' || true)
    echo "kamailio $version on UDP 127.0.0.1:$SIP_PORT, pid $server_pid"
}

# One request of a curl config file (curl -K): METHOD, URL, JSON body.
curl_request() {
    local body=${3//\"/\\\"}
    printf 'url = "%s"\nrequest = "%s"\nheader = "Content-Type: application/json"\n' "$2" "$1"
    printf 'data = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$body"
}

# 1,000 agents with skill Bench and one voice call each, made ready: one curl process, one
# keep-alive connection, 2,000 requests.
create_agents() {
    local requests="$work/agents.curl" n url="http://127.0.0.1:$HTTP_PORT" profile
    profile='{"skills":{"Bench":1},"capacity":{"voice":1},'
    profile+='"addresses":{"voice":"sip:ID@127.0.0.1:5071"}}'
    for n in $(seq "$AGENTS"); do
        [ "$n" -eq 1 ] || echo next
        curl_request PUT "$url/agents/bench-$n" "${profile/ID/bench-$n}"
        echo next
        curl_request POST "$url/agents/bench-$n/state" '{"state":"ready"}'
    done >"$requests"
    curl -s -K "$requests" >"$work/agents.status"
    local refused
    refused=$(grep -cv '^20[01]$' "$work/agents.status" || true)
    if [ "$refused" -ne 0 ]; then
        fail "$refused agent requests refused: $(sort "$work/agents.status" | uniq -c)"
    fi
    local stats
    stats=$(curl -s "$url/routing/statistics?targets=Bench%20%3E%3D%201&media=voice")
    echo "$stats" | grep -Eq "\"ready\": ?${AGENTS}[,}]" || fail "agents not ready: $stats"
    echo "$AGENTS agents ready: $stats"
}

start_baton() {
    local baton=${BATON_BIN:-}
    if [ -z "$baton" ]; then
        cargo build --release --quiet -p baton-runtime --bin baton
        baton=${CARGO_TARGET_DIR:-target}/release/baton
    fi
    sed "s|HTTP_PORT|$HTTP_PORT|; s|SIP_PORT|$SIP_PORT|; s|TRYING_AFTER_MS|$TRYING_AFTER_MS|;
         s|ROOT|$PWD|g" bench/sip/baton.toml >"$work/baton.toml"
    taskset -c "$SERVER_CORE" "$baton" serve --config "$work/baton.toml" 2>"$work/baton.log" &
    server_pid=$!
    wait_tcp "$HTTP_PORT" "$work/baton.log"
    wait_udp "$SIP_PORT" "$work/baton.log"
    echo "baton on UDP 127.0.0.1:$SIP_PORT, HTTP 127.0.0.1:$HTTP_PORT, pid $server_pid"
    create_agents
}

# Column $2 (by name) of the last line of SIPp's statistics file $1.
stat_column() {
    awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
                            { last = $c } END { print last }' "$1"
}

# Percentiles of the response times (µs, column 2) in $1: "p50 p99 p99.9 max" in ms.
percentiles() {
    awk '{ print $2 }' "$1" | sort -n | awk '{ v[NR] = $1 }
        function at(q) { i = int(NR * q); if (i < 1) i = 1; return v[i] / 1000 }
        END { if (NR == 0) { print "- - - -"; exit }
              printf "%.2f %.2f %.2f %.2f\n", at(0.5), at(0.99), at(0.999), v[NR] / 1000 }'
}

rows=()

# Runs SIPp at RATE calls/s against the server running now, labelled $1.
measure() {
    local server=$1 rate=$2 calls=$(($2 * DURATION_S)) run="$work/$1-$2"
    mkdir -p "$run"
    cp bench/sip/uac.xml "$run/uac.xml"
    local ticks_before drops_before server_drops_before sipp_times status=0
    ticks_before=$(cpu_ticks "$server_pid")
    drops_before=$(udp_drops)
    server_drops_before=$(socket_drops)
    sipp_times=$( { TIMEFORMAT='%U %S %R'; time taskset -c "$SIPP_CORE" sipp "127.0.0.1:$SIP_PORT" \
        -sf "$run/uac.xml" -s 5000 -i 127.0.0.1 -p "$SIPP_PORT" -cp "$SIPP_CONTROL_PORT" \
        -r "$rate" -rp 1000 -m "$calls" -l $((rate * 2)) -buff_size "$BUFFER_BYTES" \
        -nostdin -nd -recv_timeout 10000 -timeout $((DURATION_S * 3 + 30)) \
        -trace_stat -stf "$run/stat.csv" -fd 1 -trace_logs -log_file "$run/rt.log" \
        -trace_err -error_file "$run/errors.log" >"$run/screen.log" 2>"$run/stderr.log"; } 2>&1 ) ||
        status=$?
    local ticks_after drops_after server_drops
    ticks_after=$(cpu_ticks "$server_pid")
    drops_after=$(udp_drops)
    server_drops=$(($(socket_drops) - server_drops_before))
    kill -0 "$server_pid" 2>/dev/null || fail "$server died during the $rate calls/s run"
    [ -s "$run/stat.csv" ] || { cat "$run/stderr.log" >&2; fail "SIPp wrote no statistics"; }
    local ok failed retrans achieved
    ok=$(stat_column "$run/stat.csv" 'SuccessfulCall(C)')
    failed=$(stat_column "$run/stat.csv" 'FailedCall(C)')
    retrans=$(stat_column "$run/stat.csv" 'Retransmissions(C)')
    # Answered calls over the time from the first INVITE to the last (the log's column 1, ms):
    # the rate SIPp kept, which its statistics blur with its start and drain.
    achieved=$(awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 }
                    END { printf "%d", (hi > lo ? (NR - 1) * 1000 / (hi - lo) : 0) }' "$run/rt.log")
    local p50 p99 p999 max
    read -r p50 p99 p999 max < <(percentiles "$run/rt.log")
    local tick_us cpu_us sipp_cpu drops clean=no
    tick_us=$((1000000 / $(getconf CLK_TCK)))
    cpu_us=$(awk -v t=$((ticks_after - ticks_before)) -v u="$tick_us" -v ok="$ok" \
        'BEGIN { printf "%.1f", (ok > 0 ? t * u / ok : 0) }')
    sipp_cpu=$(echo "$sipp_times" | awk '{ printf "%d%%", ($3 > 0 ? ($1 + $2) * 100 / $3 : 0) }')
    drops=$((drops_after - drops_before))
    if [ "$failed" -eq 0 ] && [ "$retrans" -eq 0 ] && [ "$drops" -eq 0 ] &&
        [ "$ok" -eq "$calls" ] && awk -v p="$p99" -v a="$achieved" -v r="$rate" \
        'BEGIN { exit !(p != "-" && p <= 4 && a >= r * 0.99) }'; then
        clean=yes
    fi
    echo "$server rate=$rate achieved=$achieved calls=$calls ok=$ok failed=$failed" \
        "retrans=$retrans udp_drops=$drops server_drops=$server_drops" \
        "p50=${p50}ms p99=${p99}ms p99.9=${p999}ms max=${max}ms" \
        "server_cpu_us_per_call=$cpu_us sipp_cpu=$sipp_cpu exit=$status clean=$clean"
    if [ -n "${KEEP_LOGS:-}" ]; then
        mkdir -p "$KEEP_LOGS" && cp -r "$run" "$KEEP_LOGS/"
    fi
    rows+=("| $server | $rate | $achieved | $failed | $retrans | $drops / $server_drops |\
 $p50 | $p99 | $p999 | $max | $cpu_us | $sipp_cpu | $clean |")
    sleep 1
}

run_server() {
    local server=$1 rate rates=$RATES
    case "$server" in
    kamailio) rates=${KAMAILIO_RATES:-$RATES} ;;
    baton) rates=${BATON_RATES:-$RATES} ;;
    esac
    "start_$server"
    for rate in $rates; do
        for _ in $(seq "$REPEAT"); do
            measure "$server" "$rate"
        done
    done
    stop_server
}

# sipp -v exits 99 after printing its version.
sipp_version=$(sipp -v 2>/dev/null | awk '/SIPp v/ {sub(/\.$/, "", $2); print $2}' || true)
load_before=$(uptime)
echo "host: $(nproc) cores; $load_before"
if [ "$ONLY" != baton ]; then
    run_server kamailio
fi
if [ "$ONLY" != kamailio ]; then
    run_server baton
fi
load_after=$(uptime)

table=$(
    echo "| Server | Rate (calls/s) | Achieved | Failed | Retrans. | UDP drops: host / server |\
 p50 ms | p99 ms | p99.9 ms | max ms | Server CPU µs/call | SIPp CPU | Clean |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
# Per server and rate: the median p99 of the REPEAT runs, the failures and retransmissions
# of all of them, and whether that is clean (none of either, median p99 <= 4 ms).
summary=$(
    echo "| Server | Rate (calls/s) | Runs | Failed (all runs) | Retrans. (all runs) | p99 ms of each run | median p99 ms | Clean by median |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}" | awk -F'|' '
        { key = $2 "|" $3; gsub(/ /, "", key)
          if (!(key in runs)) order[++n] = key
          runs[key]++; failed[key] += $5; retrans[key] += $6
          p = $9; gsub(/ /, "", p); p99s[key] = p99s[key] (p99s[key] == "" ? "" : " ") p }
        END { for (i = 1; i <= n; i++) { k = order[i]; split(k, sr, "|")
                m = split(p99s[k], v, " ")
                for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
                    if (v[b] + 0 < v[a] + 0) { t = v[a]; v[a] = v[b]; v[b] = t }
                median = (m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2)
                clean = (failed[k] == 0 && retrans[k] == 0 && median + 0 <= 4) ? "yes" : "no"
                printf "| %s | %s | %d | %d | %d | %s | %.2f | %s |\n", sr[1], sr[2], runs[k],
                       failed[k], retrans[k], p99s[k], median, clean } }'
)
echo
echo "$table"
echo
echo "$summary"
title=""
if [ ! -s "$RESULTS" ]; then
    title="## SIP benchmark: \`baton serve\` as a routing point, against Kamailio"
fi
{
    echo "$title"
    echo
    echo "### Run of $(date -u '+%Y-%m-%d %H:%M UTC'): \`bash bench/sip/run.sh --only $ONLY\`"
    echo
    echo "RATES=\"$RATES\", KAMAILIO_RATES=\"${KAMAILIO_RATES:-}\", BATON_RATES=\"${BATON_RATES:-}\","
    echo "DURATION_S=$DURATION_S, TRYING_AFTER_MS=$TRYING_AFTER_MS; $(nproc) cores;"
    echo "server on core $SERVER_CORE,"
    echo "SIPp $sipp_version on core $SIPP_CORE."
    echo "Load before: \`$load_before\`; after: \`$load_after\`."
    echo
    echo "$table"
    echo
    echo "Per rate, over REPEAT=$REPEAT runs:"
    echo
    echo "$summary"
} >>"$RESULTS"
echo
echo "appended to $RESULTS"
