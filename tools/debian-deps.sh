#!/bin/sh
# Installs everything Colibri needs to build and test on Debian 12 (as
# root).  Used by the README's two set-up commands and by .ci/run.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential autoconf automake pkg-config \
    libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-gnutls-dev \
    libgnutls28-dev libyaml-dev check libsubunit-dev \
    python3 python3-yaml openssl curl ca-certificates sqlite3 wrk \
    locales >/dev/null
# (locales: the locale sources tests/check_prompt.c compiles de_DE.UTF-8
# from, to prove prompt bytes do not depend on the locale)
# node and npm for the MCP SDK end-to-end test (tests/mcp) and the pi
# end-to-end test (tests/pi); often there.
command -v npm >/dev/null || apt-get install -y -qq --no-install-recommends npm >/dev/null
# pi (tests/pi) needs node >= 20.6; Debian 12's own nodejs is 18.
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' ||
    echo "warning: node $(node --version) is older than 20.6: tests/api/test_pi.py will fail" >&2
# Debian's chromium for the dashboard's browser tests (tests/e2e; playwright-core
# drives it, never downloads a browser of its own).
[ -x /usr/bin/chromium ] || apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
