"""The dashboard in a real browser: tests/e2e/dashboard.mjs drives
Debian's chromium (headless, through playwright-core from the committed
lock file; no browser is ever downloaded) against a colibrid started
here with a temporary database, one skill and a price for every model.

It logs in with the one-time URL from the daemon's log, and checks that
API changes and agent states show up without reload (also after the
stream ends and resumes from its last event id); that tasks can be
created, edited (412 on a stale version reloads the task), filtered,
claimed, released and completed; that agents can be spawned, inspected
(timeline, process, output) and killed; that skills can be searched and
opened; that the Cost view draws its SVG charts; that a write without the
CSRF header is refused.  It saves screenshots and reports load size,
rendering times and responsiveness under 20 events a second (see
docs/dashboard.md).

Exit 77 (skipped, with the reason) when chromium, node or npm are missing
or npm cannot install playwright-core."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import colibri_test
from colibri_test import DaemonTestCase

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LOGIN_RE = r"login: (http://127\.0\.0\.1:\d+/login\?t=[0-9a-f]{64})"
SKILL_MD = """---
name: pdf-tools
description: Extract the text of PDF files with pdftotext.
---
# PDF tools

Run pdftotext on the file's path and read the result.
"""


def e2e_ready():
    """(directory with node_modules, '') or (None, why).  npm ci runs
    from the lock file when node_modules is missing: in the source tree,
    or in a copy when that is read-only (make distcheck)."""
    src = os.path.join(colibri_test.srcdir(), "tests", "e2e")
    if not os.access(CHROMIUM, os.X_OK):
        return None, "%s is not installed (tools/debian-deps.sh)" % CHROMIUM
    if shutil.which("node") is None:
        return None, "node is not installed"
    if os.path.isdir(os.path.join(src, "node_modules", "playwright-core")):
        return src, ""
    if shutil.which("npm") is None:
        return None, "npm is not installed"
    where = src
    if not os.access(src, os.W_OK):
        where = os.path.join(tempfile.mkdtemp(prefix="colibri-e2e-npm-"),
                             "e2e")
        shutil.copytree(src, where)
        os.chmod(where, 0o700)
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    try:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                           cwd=where, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300,
                           universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "npm ci failed: %s" % e
    if r.returncode != 0:
        return None, "npm ci failed:\n%s" % r.stdout[-2000:]
    return where, ""


class DashboardTest(DaemonTestCase):
    e2e_dir = None

    def test_dashboard_in_chromium(self):
        tmp = tempfile.mkdtemp(prefix="colibri-dash-")
        self.addCleanup(shutil.rmtree, tmp, True)
        skill = os.path.join(tmp, "skills", "pdf-tools")
        os.makedirs(skill)
        with open(os.path.join(skill, "SKILL.md"), "w") as f:
            f.write(SKILL_MD)
        # Every model priced: the cost charts show what the cache saved.
        d = self.daemon(["--skills-path", os.path.join(tmp, "skills"),
                         "--price", "*=0.27,1.10,0.07,0.27"])
        login = d.wait_for_log(LOGIN_RE).group(1)
        out = os.environ.get("COLIBRI_E2E_OUT") or os.path.join(
            os.getcwd(), "tests", "e2e-out")
        os.makedirs(out, exist_ok=True)
        env = dict(os.environ, COLIBRI_LOGIN_URL=login,
                   COLIBRI_URL=d.base_url, COLIBRI_TOKEN=d.token,
                   COLIBRI_PI_EVENTS=os.path.join(
                       colibri_test.srcdir(), "tests", "fixtures", "pi",
                       "text.jsonl"),
                   COLIBRI_OUT=out, CHROMIUM=CHROMIUM)
        # Sanitizer builds and busy CI machines are slower than a second.
        if os.environ.get("ASAN_OPTIONS") or os.environ.get("CI"):
            env.setdefault("COLIBRI_E2E_WITHIN_MS", "3000")
        r = subprocess.run(["node", os.path.join(self.e2e_dir,
                                                 "dashboard.mjs")],
                           cwd=self.e2e_dir, env=env, timeout=300,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        sys.stdout.write(r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] +
                         "\n--- daemon log ---\n" + d.log()[-4000:])
        self.assertIn("measures ", r.stdout)


if __name__ == "__main__":
    where, why = e2e_ready()
    if where is None:
        print("SKIP: dashboard browser test: " + why)
        sys.exit(77)
    DashboardTest.e2e_dir = where
    colibri_test.main()
