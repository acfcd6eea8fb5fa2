#!/bin/sh
# ingest.sh - ingestion through parse + glasspane + commit (issue 4's
# target: >= 100,000 pi events/s).  Not a timed test: a missed target is
# reported, never a failure; the exit status is non-zero only when a batch
# failed or a daemon would not start or stop.
#
#   1. in-process: tests/bench/ingest (a store with durability full, the
#      bus attached, panes_ingest on NDJSON batches of the fixtures);
#   2. over HTTP: a fresh colibrid (durability full) and tests/bench/ingest
#      --http POSTing the same batches to /api/v1/agents/{id}/events.
#
# Environment:
#   COLIBRID, INGEST       the programs (make bench sets them)
#   BENCH_INGEST_SECONDS   seconds per figure (default 3)
#   BENCH_INGEST_BATCH     lines per batch (default 1000)
#   COLIBRI_SRCDIR         where tests/fixtures/pi is (default: the tree)
#   TMPDIR                 where the temporary data directories go
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
COLIBRID=${COLIBRID:-$top/colibrid}
INGEST=${INGEST:-$top/tests/bench/ingest}
SECONDS_=${BENCH_INGEST_SECONDS:-3}
BATCH=${BENCH_INGEST_BATCH:-1000}
COLIBRI_SRCDIR=${COLIBRI_SRCDIR:-$top}
export COLIBRI_SRCDIR

die() {
    echo "ingest.sh: $*" >&2
    exit 2
}

[ -x "$COLIBRID" ] || die "no colibrid at $COLIBRID"
[ -x "$INGEST" ] || die "no ingest benchmark at $INGEST (make tests/bench/ingest)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/colibri-ingest.XXXXXX") ||
    die "cannot create a temporary directory"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' HUP TERM

failures=0
report() {
    rate=$(echo "$1" | tr ' ' '\n' | sed -n 's/^events_per_s=//p')
    if [ -n "$rate" ] && [ "$rate" -ge 100000 ] 2>/dev/null; then
        printf '  %-28s %9s events/s   (target >= 100000)  ok\n' "$2" "$rate"
    else
        printf '  %-28s %9s events/s   (target >= 100000)  MISSED\n' "$2" "${rate:-?}"
    fi
}

echo "== ingestion, batches of $BATCH lines, ${SECONDS_} s each"
TMPDIR=$tmp "$INGEST" -s "$SECONDS_" -b "$BATCH" >"$tmp/inproc.out" 2>"$tmp/inproc.err" ||
    { failures=$((failures + 1)); cat "$tmp/inproc.err"; }
grep -v '^INGEST' "$tmp/inproc.out" | sed 's/^/  /'
report "$(grep '^INGEST' "$tmp/inproc.out")" "in-process"

mkdir -p "$tmp/d"
"$COLIBRID" --listen 127.0.0.1:0 --data-dir "$tmp/d" --durability full \
    </dev/null >"$tmp/d/colibrid.log" 2>&1 &
pid=$!
port=
tries=0
while [ $tries -lt 100 ]; do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' \
           "$tmp/d/colibrid.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    tries=$((tries + 1))
done
[ -n "$port" ] || { sed 's/^/    /' "$tmp/d/colibrid.log"; die "colibrid did not start"; }
"$INGEST" --http "$port" "$tmp/d/token" -s "$SECONDS_" -b "$BATCH" \
    >"$tmp/http.out" 2>&1 || { failures=$((failures + 1)); cat "$tmp/http.out"; }
grep -v '^INGEST' "$tmp/http.out" | sed 's/^/  /'
report "$(grep '^INGEST' "$tmp/http.out")" "over HTTP"
kill -TERM "$pid"
wait "$pid" || { echo "FAIL: colibrid exited with status $? on SIGTERM"; failures=$((failures + 1)); }
pid=
[ $failures -eq 0 ] || exit 1
exit 0
