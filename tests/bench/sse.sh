#!/bin/sh
# sse.sh - event streams under load (issue 4's SSE targets).  Not a timed
# test: a missed target is reported, never a failure; the exit status is
# non-zero only for a correctness problem (a subscriber refused or cut, an
# event lost or delivered twice, a daemon that would not start or stop).
#
# For each subscriber count in BENCH_SSE_COUNTS (default "1000 10000"): a
# fresh colibrid (temporary data directory, durability normal,
# --sse-max-subscribers 15000, --sse-heartbeat 60), then tests/bench/sse_client:
# every subscriber connected, the daemon's CPU while they idle, its memory
# per subscriber, and BENCH_SSE_EVENTS tasks published BENCH_SSE_INTERVAL ms
# apart, each delivered to every subscriber.  Targets (at 10,000):
#   publish->receipt p99 <= 100 ms, <= 12 us of daemon CPU per delivery,
#   idle CPU ~ 0 (<= 0.05 s over 5 s), <= 10 KiB of daemon memory per
#   subscriber.
#
# Environment:
#   COLIBRID, SSE_CLIENT   the programs (make bench sets them)
#   BENCH_SSE_COUNTS       subscriber counts, in order (default "1000 10000")
#   BENCH_SSE_EVENTS       events per run (default 100)
#   BENCH_SSE_INTERVAL     ms between events (default 300)
#   BENCH_SSE_IDLE         seconds of idle measurement (default 5)
#   BENCH_SSE_THREADS      colibrid --threads (default: colibrid's own)
#   BENCH_SSE_MEMORY       colibrid --http-memory (default: colibrid's own)
#   BENCH_SSE_ARGS         more colibrid options
#   BENCH_SSE_CHRT         run colibrid and the client under chrt with these
#                          arguments (e.g. "-r 10"): on a machine shared with
#                          other work, their load shows up as latency (the
#                          fan-out is CPU-bound); a real-time policy shields
#                          the measurement from it.  Default: none.
#   TMPDIR                 where the temporary data directories go
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
COLIBRID=${COLIBRID:-$top/colibrid}
SSE_CLIENT=${SSE_CLIENT:-$top/tests/bench/sse_client}
COUNTS=${BENCH_SSE_COUNTS:-1000 10000}
EVENTS=${BENCH_SSE_EVENTS:-100}
INTERVAL=${BENCH_SSE_INTERVAL:-300}
IDLE=${BENCH_SSE_IDLE:-5}
THREADS=${BENCH_SSE_THREADS:-}
MEMORY=${BENCH_SSE_MEMORY:-}
EXTRA=${BENCH_SSE_ARGS:-}
CHRT=${BENCH_SSE_CHRT:-}

die() {
    echo "sse.sh: $*" >&2
    exit 2
}

[ -x "$COLIBRID" ] || die "no colibrid at $COLIBRID (make colibrid, or set COLIBRID)"
[ -x "$SSE_CLIENT" ] || die "no client at $SSE_CLIENT (make tests/bench/sse_client, or set SSE_CLIENT)"
sched=
if [ -n "$CHRT" ]; then
    command -v chrt >/dev/null 2>&1 || die "BENCH_SSE_CHRT is set but chrt is not installed"
    # shellcheck disable=SC2086
    chrt $CHRT true 2>/dev/null || die "chrt $CHRT does not work here (root needed?)"
    sched="chrt $CHRT"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/colibri-sse.XXXXXX") ||
    die "cannot create a temporary directory"
pids=
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null
    done
    for p in $pids; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' HUP TERM

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# value KEY LINE: the value of KEY=... in a client's SSE line.
value() {
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# verdict LABEL VALUE LIMIT: "ok" or "MISSED" for VALUE <= LIMIT.
verdict() {
    if awk -v v="$2" -v l="$3" 'BEGIN { exit !(v <= l) }'; then
        printf '  %-34s %10s   (target <= %s)  ok\n' "$1" "$2" "$3"
    else
        printf '  %-34s %10s   (target <= %s)  MISSED\n' "$1" "$2" "$3"
    fi
}

run=0
for n in $COUNTS; do
    run=$((run + 1))
    dir="$tmp/run$run"
    mkdir -p "$dir"
    set -- --listen 127.0.0.1:0 --data-dir "$dir" --durability normal \
        --sse-max-subscribers 15000 --sse-heartbeat 60
    [ -n "$THREADS" ] && set -- "$@" --threads "$THREADS"
    [ -n "$MEMORY" ] && set -- "$@" --http-memory "$MEMORY"
    # shellcheck disable=SC2086
    $sched "$COLIBRID" "$@" $EXTRA </dev/null >"$dir/colibrid.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    port=
    tries=0
    while [ $tries -lt 100 ] && [ -z "$port" ]; do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' \
               "$dir/colibrid.log" | head -n 1)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        tries=$((tries + 1))
    done
    if [ -z "$port" ]; then
        sed 's/^/    /' "$dir/colibrid.log"
        die "colibrid did not start"
    fi
    echo "== $n subscribers, $EVENTS events ${INTERVAL} ms apart" \
         "(colibrid ${THREADS:+--threads $THREADS }${MEMORY:+--http-memory $MEMORY }$EXTRA)${sched:+ under $sched}"
    # Latency is CPU-bound (the fan-out needs both cores): say how busy
    # the machine was, since another process's load shows up as latency.
    echo "  load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) on $(getconf _NPROCESSORS_ONLN 2>/dev/null) cores"
    $sched "$SSE_CLIENT" -p "$port" -k "@$dir/token" -n "$n" -m "$EVENTS" \
        -i "$INTERVAL" -d "$pid" -I "$IDLE" >"$dir/client.out" 2>&1
    crc=$?
    sed 's/^/  /' "$dir/client.out" | grep -v '^  SSE '
    line=$(grep '^SSE ' "$dir/client.out" | tail -n 1)
    [ $crc -eq 0 ] || fail "$n subscribers: the client reported lost, duplicated or refused streams (status $crc)"
    if [ -n "$line" ] && [ "$(value established "$line")" = "$n" ]; then
        verdict "p99 publish->receipt (ms)" "$(value p99_ms "$line")" 100
        verdict "daemon CPU per delivery (us)" "$(value cpu_us "$line")" 12
        verdict "daemon CPU idle over ${IDLE} s (s)" "$(value idle_cpu_s "$line")" 0.05
        verdict "daemon memory per subscriber (KiB)" "$(value per_sub_kib "$line")" 10
        echo "  (after publishing: $(value per_sub_pub_kib "$line") KiB per subscriber;" \
             "median fan-out $(value fanout_median_ms "$line") ms)"
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    rest=
    for p in $pids; do
        [ "$p" = "$pid" ] || rest="$rest $p"
    done
    pids=$rest
    [ $rc -eq 0 ] || fail "colibrid exited with status $rc on SIGTERM"
    if grep -q ' fatal ' "$dir/colibrid.log"; then
        fail "colibrid logged a fatal error"
        grep ' fatal ' "$dir/colibrid.log" | head -n 5 | sed 's/^/    /'
    elif grep -q ' warn ' "$dir/colibrid.log"; then
        echo "  note: colibrid logged $(grep -c ' warn ' "$dir/colibrid.log") warning(s), e.g.:"
        grep ' warn ' "$dir/colibrid.log" | head -n 3 | sed 's/^/    /'
    fi
done

[ $failures -eq 0 ] || { echo "sse.sh: $failures failure(s)"; exit 1; }
exit 0
