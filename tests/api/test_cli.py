"""The colibri CLI against real daemons: golden output of the main
commands (timestamps and other run-dependent values normalized), --json
parsed back, exit statuses (not found, conflict, refused, unreachable,
usage), the help generated from the operations table, and the same
commands over HTTP with --url and --token-file."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import colibri_test
from colibri_test import (Daemon, DaemonTestCase, clean_env, run_colibrid,
                          wait_until)

TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def cli_path():
    path = os.environ.get("COLIBRI_CLI") or os.path.join(
        colibri_test.srcdir(), "colibri")
    if not os.access(path, os.X_OK):
        raise RuntimeError("colibri binary not found: %s (set COLIBRI_CLI)"
                           % path)
    return path


def run_cli(args, env=None, input=None, cwd=None):
    """Runs colibri; returns CompletedProcess (text)."""
    return subprocess.run([cli_path()] + list(args), input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=clean_env(env), universal_newlines=True,
                          timeout=120, cwd=cwd)


def normalize(text, d=None):
    text = TIME_RE.sub("<TIME>", text)
    if d is not None:
        text = text.replace(d.socket_path, "<SOCKET>")
        text = text.replace("127.0.0.1:%d" % d.port, "<LISTEN>")
        if d.proc is not None:
            text = text.replace("pid %d," % d.proc.pid, "pid <PID>,")
    return re.sub(r"up \d+[smhd]( \d+[smh])?", "up <UPTIME>", text)


# The golden scenario: (command, expected stdout after normalize()).
SCENARIO = [
    (["task", "add", "Write the parser", "--priority", "1", "--labels",
      "core,api"], """\
id:              1
title:           Write the parser
status:          todo
priority:        1
labels:          core, api
assignee:        -
depends_on:      -
requires_skills: -
ready:           yes
lease:           -
attempt:         0
version:         1
result:          -
created_at:      <TIME>
updated_at:      <TIME>
closed_at:       -
"""),
    (["task", "add", "Test the parser", "--body", "line one\nline two",
      "--assignee", "qa"], None),
    (["task", "dep", "add", "2", "1"], None),
    (["task", "ls"], """\
ID  STATUS  PRI  TITLE             ASSIGNEE  LEASE
1   todo    1    Write the parser  -         -
2   todo    2    Test the parser   qa        -
2 tasks
"""),
    (["task", "show", "2"], """\
id:              2
title:           Test the parser
status:          todo
priority:        2
labels:          -
assignee:        qa
depends_on:      1
requires_skills: -
ready:           no
lease:           -
attempt:         0
version:         2
result:          -
created_at:      <TIME>
updated_at:      <TIME>
closed_at:       -
body:
  line one
  line two
"""),
    (["task", "claim", "1", "--agent", "pi-1", "--lease-seconds", "60"], """\
outcome: claimed
id:              1
title:           Write the parser
status:          in_progress
priority:        1
labels:          core, api
assignee:        pi-1
depends_on:      -
requires_skills: -
ready:           no
lease:           pi-1 until <TIME>
attempt:         1
version:         2
result:          -
created_at:      <TIME>
updated_at:      <TIME>
closed_at:       -
"""),
    (["task", "ls", "--status", "in_progress,todo", "--limit", "1"], """\
ID  STATUS       PRI  TITLE             ASSIGNEE  LEASE
1   in_progress  1    Write the parser  pi-1      <TIME>
1 task (more: --after 1)
"""),
    (["status"], """\
daemon    ok, colibrid 0.1.0, pid <PID>, up <UPTIME>
http      http://<LISTEN>
socket    <SOCKET>
schema    <SCHEMA>

tasks     2
  todo          1
  in_progress   1
  blocked       0
  review        0
  done          0
  cancelled     0

agents    0
  idle          0
  working       0
  blocked       0
  done          0
  error         0
"""),
    (["task", "done", "1", "--agent", "pi-1", "--result",
      '{"commit":"abc"}'], """\
id:              1
title:           Write the parser
status:          done
priority:        1
labels:          core, api
assignee:        pi-1
depends_on:      -
requires_skills: -
ready:           no
lease:           -
attempt:         1
version:         3
result:          {"commit":"abc"}
created_at:      <TIME>
updated_at:      <TIME>
closed_at:       <TIME>
"""),
    (["task", "dep", "rm", "2", "1"], None),
    (["task", "ls", "--status", "review"], "no tasks\n"),
    (["task", "delete", "2"], ""),
]


class CliTestBase(DaemonTestCase):

    def cli(self, d, *args, env=None, input=None, http=False):
        if http:
            base = ["--url", d.base_url, "--token-file", d.token_path]
        else:
            base = ["--socket", d.socket_path]
        return run_cli(base + list(args), env=env, input=input)

    def assertExit(self, p, code, msg=None):
        self.assertEqual(p.returncode, code, "%s%s\nstdout: %s\nstderr: %s"
                         % (msg + ": " if msg else "", p.args, p.stdout,
                            p.stderr))


class GoldenTest(CliTestBase):

    def run_scenario(self, http):
        d = self.daemon()
        schema = d.get("/api/v1/version").body["schema_version"]
        outputs = []
        for args, want in SCENARIO:
            p = self.cli(d, *args, http=http)
            self.assertExit(p, 0)
            self.assertEqual(p.stderr, "", args)
            got = normalize(p.stdout, d)
            if want is not None:
                want = want.replace("<SCHEMA>", str(schema))
                # Only the schema-independent part of the task rows is
                # golden: other members may be added to tasks later.
                self.assertEqual(got, want, "colibri %s" % " ".join(args))
            outputs.append(got)
        return outputs

    def test_golden_over_the_socket(self):
        self.run_scenario(http=False)

    def test_same_output_over_http(self):
        self.assertEqual(self.run_scenario(http=True),
                         self.run_scenario(http=False))


class CliTest(CliTestBase):

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--reap-interval", "3600"])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()

    def test_json_is_the_raw_result(self):
        t = self.d.create_task(title="json me", labels=["x"])
        p = self.cli(self.d, "--json", "task", "show", str(t["id"]))
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout), self.d.get_task(t["id"]))
        p = self.cli(self.d, "task", "ls", "--label", "x", "--json")
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout),
                         self.d.get("/api/v1/tasks?label=x").body)
        p = self.cli(self.d, "status", "--json")
        self.assertExit(p, 0)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["daemon"]["socket"], self.d.socket_path)
        p = self.cli(self.d, "--json", "system", "metrics")
        self.assertIn("colibri_tasks", json.loads(p.stdout)["text"])
        p = self.cli(self.d, "--json", "task", "delete", str(t["id"]))
        self.assertExit(p, 0)
        self.assertIsNone(json.loads(p.stdout))
        p = self.cli(self.d, "--json", "task", "ls", "--label", "x",
                     http=True)
        self.assertEqual(json.loads(p.stdout), {"items": [], "next": None})

    def test_arguments_from_json(self):
        p = self.cli(self.d, "--json", "task", "create", "-",
                     input='{"title":"from stdin","priority":0}')
        self.assertExit(p, 0)
        t = json.loads(p.stdout)
        self.assertEqual((t["title"], t["priority"]), ("from stdin", 0))
        p = self.cli(self.d, "--json", "task", "update", str(t["id"]),
                     "--data", '{"version":%d}' % t["version"], "--labels",
                     "a,b", "--labels", "c", "--no-assignee")
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["labels"], ["a", "b", "c"])

    def test_metrics_print_as_text(self):
        p = self.cli(self.d, "system", "metrics")
        self.assertExit(p, 0)
        self.assertIn('colibri_tasks{status="todo"}', p.stdout)
        self.assertTrue(p.stdout.startswith("# HELP"))

    def test_not_found_exits_3(self):
        p = self.cli(self.d, "task", "show", "987654")
        self.assertExit(p, 3)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, "colibri: task 987654 does not exist "
                         "(task_not_found)\n")
        self.assertExit(self.cli(self.d, "task", "show", "987654",
                                 http=True), 3)

    def test_conflicts_exit_4(self):
        t = self.d.create_task(title="contended")
        self.assertExit(self.cli(self.d, "task", "claim", str(t["id"]),
                                 "--agent", "a"), 0)
        p = self.cli(self.d, "task", "claim", str(t["id"]), "--agent", "b")
        self.assertExit(p, 4)
        self.assertRegex(p.stderr, r"^colibri: .* \(claim_denied\)\n$")
        p = self.cli(self.d, "task", "update", str(t["id"]), "--version",
                     "1", "--title", "stale", http=True)
        self.assertExit(p, 4)
        self.assertIn("(version_conflict)", p.stderr)

    def test_unreachable_exits_6(self):
        p = run_cli(["--socket", os.path.join(self.d.tmp, "nope.sock"),
                     "task", "ls"])
        self.assertExit(p, 6)
        self.assertIn("(unreachable)", p.stderr)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()               # nothing listens there now
        p = run_cli(["--url", "http://127.0.0.1:%d" % port, "task", "ls"])
        self.assertExit(p, 6)
        self.assertIn("(unreachable)", p.stderr)

    def test_refused_over_http_exits_5(self):
        empty = tempfile.mkdtemp(prefix="colibri-test-")
        self.addCleanup(shutil.rmtree, empty, True)
        # No token anywhere (the default DATA_DIR/token does not exist).
        p = run_cli(["--url", self.d.base_url, "task", "ls"],
                    env={"COLIBRI_DATA_DIR": empty})
        self.assertExit(p, 5)
        self.assertIn("(unauthorized)", p.stderr)
        p = run_cli(["--url", self.d.base_url, "task", "ls"],
                    env={"COLIBRI_TOKEN": "0" * 64})
        self.assertExit(p, 5)
        # The open operation needs none.
        self.assertExit(run_cli(["--url", self.d.base_url, "system",
                                 "health"],
                                env={"COLIBRI_DATA_DIR": empty}), 0)

    def test_unreadable_token_file_exits_1(self):
        """A named token file that cannot be read is an error before any
        request, and says which file; a token file with a trailing
        newline works."""
        p = run_cli(["--url", self.d.base_url, "--token-file",
                     os.path.join(self.d.tmp, "no-such-token"), "task",
                     "ls"])
        self.assertExit(p, 1)
        self.assertIn("no-such-token", p.stderr)
        self.assertIn("(token_unreadable)", p.stderr)
        tok = os.path.join(self.d.tmp, "token-with-newline")
        with open(self.d.token_path) as f, open(tok, "w") as g:
            g.write(f.read().strip() + "\n\n")
        self.assertExit(run_cli(["--url", self.d.base_url, "--token-file",
                                 tok, "task", "ls"]), 0)

    def test_token_and_url_from_the_environment(self):
        p = run_cli(["task", "ls", "--json"],
                    env={"COLIBRI_URL": self.d.base_url,
                         "COLIBRI_TOKEN": self.d.token})
        self.assertExit(p, 0)
        self.assertIn("items", json.loads(p.stdout))
        p = run_cli(["task", "ls", "--json"],
                    env={"COLIBRI_URL": self.d.base_url,
                         "COLIBRI_DATA_DIR": self.d.data_dir})
        self.assertExit(p, 0)
        p = run_cli(["task", "ls", "--json"],
                    env={"COLIBRI_SOCKET": self.d.socket_path})
        self.assertExit(p, 0)
        # --socket wins over COLIBRI_URL.
        p = run_cli(["--socket", self.d.socket_path, "system", "health"],
                    env={"COLIBRI_URL": "http://127.0.0.1:1"})
        self.assertExit(p, 0)

    def test_default_socket_is_the_daemons(self):
        """Started the same way (from the tree, same XDG_RUNTIME_DIR), the
        CLI finds the daemon's default socket without being told."""
        run = tempfile.mkdtemp(prefix="colibri-test-")
        self.addCleanup(shutil.rmtree, run, True)
        d = self.daemon(start=False,
                        socket_path=os.path.join(run, "colibri",
                                                 "colibri.sock"))
        d.env["XDG_RUNTIME_DIR"] = run
        d.start()
        p = run_cli(["system", "health"], env={"XDG_RUNTIME_DIR": run})
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"status: +ok")
        # The daemon computes the same path.
        p = run_colibrid(["--print-config"], env={"XDG_RUNTIME_DIR": run})
        self.assertIn("socket = %s/colibri/colibri.sock" % run, p.stdout)

    def test_usage_errors_exit_2(self):
        for args, fragment in (
                (["task", "frobnicate"], "unknown command 'task "
                 "frobnicate'"),
                (["nosuch"], "unknown command 'nosuch'"),
                (["task", "claim", "x", "--agent", "a"],
                 "id takes an integer, not 'x'"),
                (["task", "claim", "1", "--bogus", "a"],
                 "has no option --bogus"),
                (["--bogus", "task", "ls"], "unknown option '--bogus'"),
                (["task", "claim", "1"], "(missing_argument)"),
                (["task", "create", "--title", "x", "--priority", "9"],
                 "(invalid_argument)")):
            with self.subTest(args=args):
                p = self.cli(self.d, *args)
                self.assertExit(p, 2)
                self.assertIn(fragment, p.stderr)
                self.assertTrue(p.stderr.startswith("colibri: "), p.stderr)
        p = run_cli([])
        self.assertExit(p, 2)
        self.assertIn("usage: colibri", p.stderr)
        p = run_cli(["--socket", "a", "--url", "http://x", "task", "ls"])
        self.assertExit(p, 2)

    def test_help_comes_from_the_table(self):
        ops = json.loads(run_colibrid(["--print-ops"]).stdout)
        p = run_cli(["help"])
        self.assertExit(p, 0)
        for op in ops:
            noun, verb = op["name"].split(".")
            line = "  %s %s" % (noun, verb.replace("_", "-"))
            self.assertIn(line, p.stdout)
            self.assertIn(op["summary"].split()[0], p.stdout)
        self.assertEqual(run_cli(["--help"]).stdout, p.stdout)
        p = run_cli(["task", "--help"])
        self.assertExit(p, 0)
        self.assertIn("colibri task claim ID --agent TEXT "
                      "[--lease-seconds N]", p.stdout)
        self.assertIn("task add TITLE", p.stdout)
        for op in ops:
            if op["name"].startswith("task."):
                self.assertIn(op["summary"].split()[0], p.stdout)
        p = run_cli(["task", "claim", "--help"])
        self.assertExit(p, 0)
        self.assertIn("operation task.claim; POST /api/v1/tasks/{id}/claim",
                      p.stdout)
        self.assertIn("--lease-seconds N", p.stdout)
        self.assertIn("integer 1 to 86400", " ".join(p.stdout.split()))
        self.assertEqual(run_cli(["help", "task", "claim"]).stdout,
                         p.stdout)
        p = run_cli(["task", "add", "--help"])
        self.assertIn("colibri task add TITLE", p.stdout)
        self.assertIn("shorthand for colibri task create", p.stdout)
        p = run_cli(["task"])
        self.assertExit(p, 2)
        self.assertIn("colibri task claim", p.stderr)
        p = run_cli(["--version"])
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"^colibri \d+\.\d+\.\d+")


class LineReader:
    """The stdout of a running colibri, a line at a time, with a
    timeout."""

    def __init__(self, proc):
        import queue
        self.proc = proc
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout=20):
        import queue
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("colibri printed nothing within %d s"
                                 % timeout)
        if line is None:
            raise AssertionError("colibri ended: %r" % (self.proc.args,))
        return line


class StreamCliTest(CliTestBase):
    """colibri events and colibri ingest."""

    def follow(self, d, *args, http=False):
        if http:
            base = ["--url", d.base_url, "--token-file", d.token_path]
        else:
            base = ["--socket", d.socket_path]
        p = subprocess.Popen([cli_path()] + base + ["events"] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=clean_env(), universal_newlines=True)
        self.addCleanup(self.reap, p)
        return p, LineReader(p)

    def reap(self, p):
        if p.poll() is None:
            p.kill()
        p.wait(30)
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                f.close()

    def interrupt(self, p):
        p.send_signal(signal.SIGINT)
        rc = p.wait(20)
        err = p.stderr.read()
        self.assertEqual(rc, 0, err)
        return err

    def head(self, d):
        with d.socket_client() as c:
            a = c.call("events.subscribe", {})
        return a["result"]["after"]

    def test_events_over_the_socket_and_http(self):
        d = self.daemon(["--sse-heartbeat", "1"])
        head = self.head(d)
        sock, sock_out = self.follow(d, "--since", str(head))
        web, web_out = self.follow(d, "--json", "--since", str(head),
                                   "--types", "task.*", http=True)
        mine, mine_out = self.follow(d, "--agent", "ev-a", "--json",
                                     "--since", str(head))
        t = d.create_task(title="Watch me")
        d.post("/api/v1/agents", {"id": "ev-a", "kind": "pi"})
        r = d.post("/api/v1/tasks/%d/claim" % t["id"], {"agent": "ev-a"})
        self.assertEqual(r.status, 200, r)
        lines = [sock_out.next() for _ in range(3)]
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\dT[\d:.]+Z  "
                         r"task\.created +task:%d +- +#%d todo "
                         r"\"Watch me\"\n$"
                         % (t["id"], t["id"]))
        self.assertRegex(lines[1], r"  agent\.registered +agent:ev-a +ev-a ")
        self.assertRegex(lines[2], r"  task\.claimed +task:%d +ev-a +claimed "
                         r"#%d in_progress \"Watch me\" @ev-a\n$"
                         % (t["id"], t["id"]))
        got = [json.loads(web_out.next()) for _ in range(2)]
        self.assertEqual([(e["id"], e["type"]) for e in got],
                         [(head + 1, "task.created"),
                          (head + 3, "task.claimed")])
        got = [json.loads(mine_out.next()) for _ in range(2)]
        self.assertEqual([e["type"] for e in got],
                         ["agent.registered", "task.claimed"])
        for p in (sock, web, mine):
            self.interrupt(p)

    def test_events_resume_after_a_restart(self):
        d = self.daemon(["--sse-heartbeat", "1"])
        p, out = self.follow(d, "--json", "--since", str(self.head(d)))
        a = d.create_task(title="before")
        self.assertEqual(json.loads(out.next())["data"]["id"], a["id"])
        d.restart()
        b = d.create_task(title="after")
        c = d.create_task(title="later")
        ids = [json.loads(out.next())["data"]["id"] for _ in range(2)]
        self.assertEqual(ids, [b["id"], c["id"]])
        err = self.interrupt(p)
        self.assertIn("resuming after event", err)

    def test_events_unreachable_and_bad_filter(self):
        d = self.daemon()
        p = run_cli(["--socket", os.path.join(d.tmp, "nope.sock"),
                     "events"])
        self.assertExit(p, 6)
        self.assertIn("(unreachable)", p.stderr)
        for http in (False, True):
            p = self.cli(d, "events", "--types", "Not!", http=http)
            self.assertExit(p, 2)
            self.assertIn("(invalid_argument)", p.stderr)

    def fixture(self):
        with open(os.path.join(colibri_test.srcdir(), "tests", "fixtures",
                               "pi", "text.jsonl"), encoding="utf-8") as f:
            return f.read()

    def test_ingest_a_transcript(self):
        d = self.daemon()
        text = self.fixture()
        n = len(text.splitlines())
        for http, agent in ((False, "ing-s"), (True, "ing-h")):
            with self.subTest(http=http):
                d.post("/api/v1/agents", {"id": agent, "kind": "pi"})
                p = self.cli(d, "ingest", "--agent", agent, "--batch", "5",
                             input=text, http=http)
                self.assertExit(p, 0)
                self.assertEqual(p.stdout, "")
                self.assertIn("%s: %d events accepted, 0 rejected"
                              % (agent, n), p.stderr)
                self.assertIn("state done", p.stderr)
                self.assertEqual(d.get("/api/v1/agents/%s" % agent)
                                 .body["state"], "done")

    def test_ingest_reports_bad_lines(self):
        d = self.daemon()
        lines = self.fixture().splitlines()
        bad = lines[:2] + ["this is not json", "[1, 2]"] + lines[2:]
        for http, agent in ((False, "bad-s"), (True, "bad-h")):
            with self.subTest(http=http):
                d.post("/api/v1/agents", {"id": agent, "kind": "pi"})
                p = self.cli(d, "ingest", "--agent", agent, "--json",
                             input="\n".join(bad) + "\n", http=http)
                self.assertExit(p, 1)
                self.assertIn("colibri: line 3: ", p.stderr)
                self.assertIn("(invalid_json)", p.stderr)
                self.assertIn("colibri: line 4: ", p.stderr)
                self.assertIn("(not_an_object)", p.stderr)
                report = json.loads(p.stdout)
                self.assertEqual([(r["line"], r["code"])
                                  for r in report["rejected"]],
                                 [(3, "invalid_json"),
                                  (4, "not_an_object")])
                self.assertEqual(report["accepted"], len(lines))
                self.assertEqual(report["state"], "done")
        p = self.cli(d, "ingest", "--agent", "nobody", input="{}\n")
        self.assertExit(p, 3)
        p = run_cli(["--socket", os.path.join(d.tmp, "nope.sock"),
                     "ingest", "--agent", "x"], input="{}\n")
        self.assertExit(p, 6)
        self.assertExit(self.cli(d, "ingest", input=""), 2)

    def test_ingest_sends_while_the_input_stays_open(self):
        d = self.daemon()
        d.post("/api/v1/agents", {"id": "slow", "kind": "pi"})
        lines = self.fixture().splitlines()
        p = subprocess.Popen([cli_path(), "--socket", d.socket_path,
                              "ingest", "--agent", "slow"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=clean_env(),
                             universal_newlines=True)
        self.addCleanup(self.reap, p)
        p.stdin.write("\n".join(lines[:2]) + "\n")     # agent_start
        p.stdin.flush()
        self.assertEqual(wait_until(
            lambda: d.get("/api/v1/agents/slow").body["state"] == "working",
            timeout=10), True)
        p.stdin.write("\n".join(lines[2:]) + "\n")
        p.stdin.close()
        self.assertEqual(p.wait(30), 0, p.stderr.read())
        self.assertEqual(d.get("/api/v1/agents/slow").body["state"], "done")


def can_switch_user():
    try:
        import grp
        import pwd
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except (ImportError, KeyError):
        return False
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@unittest.skipUnless(can_switch_user(),
                     "needs root, setpriv and the user nobody to run the CLI "
                     "as another user")
class RefusedPeerTest(CliTestBase):

    def run_as_nobody(self, d):
        return subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup",
             "--clear-groups", cli_path(), "--socket", d.socket_path,
             "task", "ls"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, cwd="/", env=clean_env(), timeout=60)

    def test_other_user_is_refused_exit_5(self):
        d = self.daemon()
        os.chmod(d.tmp, 0o711)
        # The file modes keep nobody out...
        p = self.run_as_nobody(d)
        self.assertExit(p, 5)
        self.assertIn("(permission_denied)", p.stderr)
        # ...and so does the peer check when they do not.
        os.chmod(os.path.dirname(d.socket_path), 0o711)
        os.chmod(d.socket_path, 0o666)
        p = self.run_as_nobody(d)
        self.assertExit(p, 5)
        self.assertIn("(peer_refused)", p.stderr)


if __name__ == "__main__":
    colibri_test.main()
