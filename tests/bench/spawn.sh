#!/bin/sh
# spawn.sh - the spawner's benchmark (issue 5).  Not a timed test: a missed
# target is reported, never a failure; the exit status is non-zero only
# for a correctness problem (a spawn refused, an agent that did not end
# done, a lost or reordered line, a daemon that would not start or stop).
#
# In one run, each against a fresh colibrid (temporary data directory,
# --durability BENCH_SPAWN_DURABILITY), with tests/bench/spawn_client:
#
#   first   spawn to first event, median of BENCH_SPAWN_RUNS (default 100):
#           the baseline, exec-ing colibri-smoke-agent directly to its
#           first stdout line, measured in the same invocation; then POST
#           /api/v1/agents/spawn (runner smoke) to the first agent.state
#           event for that agent on an open SSE stream.  Target: overhead
#           (spawn - baseline) under 5 ms.
#   chatty  BENCH_CHATTY_AGENTS (default 200) agents at once, scenario
#           chatty, BENCH_CHATTY_LINES lines each (default 500)
#           BENCH_CHATTY_INTERVAL ms apart (default 5): every line must be
#           in its agent's session log, once and in order, every agent
#           done; the daemon's CPU per 10,000 lines is reported.
#
# Environment:
#   COLIBRID, SMOKE_AGENT, SPAWN_CLIENT   the programs (make bench sets them)
#   BENCH_SPAWN_RUNS        measured runs of "first" (default 100)
#   BENCH_SPAWN_WARMUP      unmeasured runs before them (default 5)
#   BENCH_SPAWN_DURABILITY  colibrid --durability (default full)
#   BENCH_CHATTY_AGENTS, BENCH_CHATTY_LINES, BENCH_CHATTY_INTERVAL
#   BENCH_SPAWN_FIGURES     which parts (default "first chatty")
#   TMPDIR                  where the temporary data directories go: a real
#                           disk for durability=full to cost what it costs
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
COLIBRID=${COLIBRID:-$top/colibrid}
SMOKE_AGENT=${SMOKE_AGENT:-$(dirname "$COLIBRID")/colibri-smoke-agent}
SPAWN_CLIENT=${SPAWN_CLIENT:-$top/tests/bench/spawn_client}
RUNS=${BENCH_SPAWN_RUNS:-100}
WARMUP=${BENCH_SPAWN_WARMUP:-5}
DURABILITY=${BENCH_SPAWN_DURABILITY:-full}
AGENTS=${BENCH_CHATTY_AGENTS:-200}
LINES=${BENCH_CHATTY_LINES:-500}
INTERVAL=${BENCH_CHATTY_INTERVAL:-5}
FIGURES=${BENCH_SPAWN_FIGURES:-first chatty}

die() {
    echo "spawn.sh: $*" >&2
    exit 2
}

[ -x "$COLIBRID" ] || die "no colibrid at $COLIBRID (make colibrid, or set COLIBRID)"
[ -x "$SMOKE_AGENT" ] || die "no smoke agent at $SMOKE_AGENT (make colibri-smoke-agent, or set SMOKE_AGENT)"
[ -x "$SPAWN_CLIENT" ] || die "no client at $SPAWN_CLIENT (make tests/bench/spawn_client, or set SPAWN_CLIENT)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/colibri-spawn.XXXXXX") ||
    die "cannot create a temporary directory"
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
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

# value KEY LINE: the value of KEY=... in a client's machine line.
value() {
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# start DIR: a fresh colibrid on DIR; sets pid and port.  Its smoke runner
# is SMOKE_AGENT (the build tree's, next to colibrid, unless set).
start() {
    mkdir -p "$1"
    : >"$1/colibrid.log"
    "$COLIBRID" --listen 127.0.0.1:0 --data-dir "$1" \
        --durability "$DURABILITY" --runner "smoke=$SMOKE_AGENT" \
        </dev/null >"$1/colibrid.log" 2>&1 &
    pid=$!
    port=
    tries=0
    while [ $tries -lt 100 ]; do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' \
               "$1/colibrid.log" | head -n 1)
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        tries=$((tries + 1))
    done
    sed 's/^/    /' "$1/colibrid.log"
    die "colibrid did not start"
}

# stop DIR: SIGTERM, wait; a crash or a fatal line is a failure.
stop() {
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    pid=
    [ $rc -eq 0 ] || fail "colibrid exited with status $rc on SIGTERM"
    if grep -q ' fatal ' "$1/colibrid.log"; then
        fail "colibrid logged a fatal error"
        grep ' fatal ' "$1/colibrid.log" | head -n 5 | sed 's/^/    /'
    elif grep -q ' warn ' "$1/colibrid.log"; then
        echo "  note: colibrid logged $(grep -c ' warn ' "$1/colibrid.log") warning(s), e.g.:"
        grep ' warn ' "$1/colibrid.log" | head -n 3 | sed 's/^/    /'
    fi
}

wants() {
    case " $FIGURES " in
    *" $1 "*) return 0 ;;
    esac
    return 1
}

fs=$(stat -f -c %T "$tmp" 2>/dev/null || echo unknown)
echo "== spawner: durability $DURABILITY, data in $tmp ($fs)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" \
     "on $(getconf _NPROCESSORS_ONLN 2>/dev/null) cores"

if wants first; then
    start "$tmp/first"
    "$SPAWN_CLIENT" first -p "$port" -k "@$tmp/first/token" \
        -a "$SMOKE_AGENT" -n "$RUNS" -w "$WARMUP" >"$tmp/first.out" 2>&1 ||
        fail "spawn to first event: a run failed (see below)"
    grep -v '^SPAWN ' "$tmp/first.out" | sed 's/^/  /'
    line=$(grep '^SPAWN ' "$tmp/first.out")
    if [ -n "$line" ]; then
        over=$(value overhead_ms "$line")
        if awk -v v="$over" 'BEGIN { exit !(v < 5) }'; then
            verdict=ok
        else
            verdict=MISSED
        fi
        printf '  %-34s %6.2f ms  %.1f x baseline  (target < 5 ms)  %s\n' \
            "overhead over exec, median of $RUNS" "$over" \
            "$(value ratio "$line")" "$verdict"
    fi
    stop "$tmp/first"
fi

if wants chatty; then
    # The daemon holds two pipes per agent.
    ulimit -n 4096 2>/dev/null || true
    start "$tmp/chatty"
    "$SPAWN_CLIENT" chatty -p "$port" -k "@$tmp/chatty/token" \
        -D "$tmp/chatty" -d "$pid" -n "$AGENTS" -l "$LINES" \
        -i "$INTERVAL" -t 300 >"$tmp/chatty.out" 2>&1 ||
        fail "$AGENTS chatty agents: lost lines or failed agents (see below)"
    grep -v '^CHATTY ' "$tmp/chatty.out" | sed 's/^/  /'
    stop "$tmp/chatty"
fi

[ $failures -eq 0 ] || { echo "spawn.sh: $failures failure(s)"; exit 1; }
exit 0
