"""A real pi end to end: the pi coding agent (npm
@mariozechner/pi-coding-agent, pinned in tests/pi/package.json and its
lock file) spawned by colibrid through a runner, talking to a mock
OpenAI-compatible server (tests/api/mock_openai.py) on 127.0.0.1.  The
agent.state events seen over SSE must be idle -> working -> done for an
answer, and working -> retrying -> error for a provider that keeps
failing (after pi's own retries, which the mock counts; once more when
the spawner restarts it).  The answered run is also a session and is
metered from pi's stream with the usage the mock reported.

pi is installed with `npm ci --ignore-scripts` from the committed lock
file into <build dir>/tests/pi-npm (reused while its lock file matches;
`make clean` removes it), or into a temporary directory when the build
dir is not writable.  The test is skipped only when node or npm is not
installed (tools/debian-deps.sh installs them, so CI runs it); a failed
install, or a node older than pi's `engines` asks, is a failure.

pi gets a HOME of its own (the daemon's HOME, which a spawned child
inherits) holding ~/.pi/agent/models.json (a provider "mock" for the
answering server, "failing" for the failing one, api
openai-completions) and settings.json (agent-level retries: 2, 50 ms
apart; provider-level retries off; no install telemetry), and runs
with --offline (no version check or other start-up network use)."""

import filecmp
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import colibri_test
from colibri_test import Daemon, wait_until
from mock_openai import MODEL as MOCK_MODEL, USAGE, MockOpenAI

TIMEOUT = 60            # one pi run, start to settled state
INSTALL_TIMEOUT = 600   # npm ci of pi and its dependencies
PI_RETRIES = 2          # settings.json retry.maxRetries
ANSWER = "Hello from the mock model."


def prompt(agent):
    """Each agent's prompt names it, so the mock's requests tell apart
    the runs of different tests."""
    return "Say hello to colibri, %s." % agent


def pi_source():
    return os.path.join(colibri_test.srcdir(), "tests", "pi")


def pinned_version():
    with open(os.path.join(pi_source(), "package.json")) as f:
        return json.load(f)["dependencies"]["@mariozechner/pi-coding-agent"]


def installed_version(where):
    path = os.path.join(where, "node_modules", "@mariozechner",
                        "pi-coding-agent", "package.json")
    try:
        with open(path) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def check_node(where):
    """Fails clearly when node is older than pi's engines field asks
    (Debian 12's own nodejs is 18; pi 0.73 needs >= 20.6)."""
    path = os.path.join(where, "node_modules", "@mariozechner",
                        "pi-coding-agent", "package.json")
    with open(path) as f:
        want = json.load(f).get("engines", {}).get("node", "")
    m = re.match(r"^>=\s*(\d+)\.(\d+)\.(\d+)$", want)
    if not m:
        return
    out = subprocess.run(["node", "--version"], stdout=subprocess.PIPE,
                         universal_newlines=True, timeout=30).stdout.strip()
    have = tuple(int(x) for x in re.findall(r"\d+", out)[:3])
    if have < tuple(int(x) for x in m.groups()):
        raise AssertionError("pi %s needs node %s; node --version says %s"
                             % (pinned_version(), want, out))


# Install directories made because the build dir was not writable;
# removed when the tests are over.
NPM_TEMP = []


def install_pi():
    """The absolute path of the pinned pi (installing it when needed),
    or raises SkipTest when node or npm is missing."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest("%s is not installed (tools/"
                                    "debian-deps.sh installs it)" % tool)
    src = pi_source()
    build = os.path.dirname(os.path.abspath(colibri_test.colibrid_path()))
    where = os.path.join(build, "tests", "pi-npm")
    try:
        os.makedirs(where, exist_ok=True)
        if not os.access(where, os.W_OK):
            raise OSError("not writable")
    except OSError:
        where = tempfile.mkdtemp(prefix="colibri-pi-npm-")
        NPM_TEMP.append(where)
    pi = os.path.join(where, "node_modules", ".bin", "pi")
    lock = os.path.join(where, "package-lock.json")
    if os.access(pi, os.X_OK) and installed_version(where) == \
            pinned_version() and os.path.exists(lock) and \
            filecmp.cmp(lock, os.path.join(src, "package-lock.json"),
                        shallow=False):
        check_node(where)
        return pi
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(src, name), os.path.join(where, name))
    r = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit",
                        "--no-fund"], cwd=where, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=INSTALL_TIMEOUT, universal_newlines=True)
    if r.returncode != 0:
        raise AssertionError("npm ci in %s failed:\n%s"
                             % (where, r.stdout[-3000:]))
    got = installed_version(where)
    if got != pinned_version():
        raise AssertionError("npm ci installed pi %r, not the pinned %r"
                             % (got, pinned_version()))
    if not os.access(pi, os.X_OK):
        raise AssertionError("npm ci left no %s" % pi)
    check_node(where)
    return pi


def pi_home(tmp, answering, failing):
    """A HOME whose ~/.pi/agent points pi at the two mocks."""
    agent_dir = os.path.join(tmp, "home", ".pi", "agent")
    os.makedirs(agent_dir)
    compat = {"supportsDeveloperRole": False,
              "supportsReasoningEffort": False}

    def provider(mock):
        return {"baseUrl": mock.base_url, "api": "openai-completions",
                "apiKey": mock.api_key, "compat": compat,
                "models": [{"id": MOCK_MODEL, "contextWindow": 32000,
                            "maxTokens": 1024}]}
    with open(os.path.join(agent_dir, "models.json"), "w") as f:
        json.dump({"providers": {"mock": provider(answering),
                                 "failing": provider(failing)}}, f)
    with open(os.path.join(agent_dir, "settings.json"), "w") as f:
        json.dump({"retry": {"enabled": True, "maxRetries": PI_RETRIES,
                             "baseDelayMs": 50,
                             "provider": {"maxRetries": 0}},
                   "enableInstallTelemetry": False}, f)
    return os.path.join(tmp, "home")


class StateStream:
    """GET /api/v1/events?types=agent.state&agent=ID read by a thread;
    .events is the list of agent.state payloads so far.  The daemon
    subscribes before it answers, so nothing after the response head is
    missed."""

    def __init__(self, d, agent):
        self.events = []
        self.other = []         # any other event (none expected)
        self.cond = threading.Condition()
        self.ended = False
        self.conn = d.connection(timeout=TIMEOUT * 2)
        self.conn.request("GET", "/api/v1/events?types=agent.state&agent="
                          + agent,
                          headers={"Authorization": "Bearer " + d.token,
                                   "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise AssertionError("events: %d %r" % (self.resp.status,
                                                    self.resp.read()))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        name, data = "message", []
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        doc = json.loads("\n".join(data))
                        with self.cond:
                            if name == "agent.state":
                                self.events.append(doc["data"])
                            else:
                                self.other.append((name, doc))
                            self.cond.notify_all()
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        except (OSError, ValueError, http.client.HTTPException):
            pass
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def wait_for(self, states, count=1, timeout=TIMEOUT):
        """Waits for `count` transitions to one of `states` (a run
        settled); returns every event so far."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while sum(e["to"] in states for e in self.events) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    raise AssertionError("not %d agent.state to %s within "
                                         "%d s; events: %r"
                                         % (count, states, timeout,
                                            self.events))
                self.cond.wait(min(left, 0.5))
            return list(self.events)

    def close(self):
        # Shut the socket down under the reader, let it end, then close.
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.thread.join(10)
        self.conn.close()


class PiEndToEndTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.pi = install_pi()
        cls.tmp = tempfile.mkdtemp(prefix="colibri-pi-test-")
        cls.work = os.path.join(cls.tmp, "work")
        os.makedirs(cls.work)
        cls.answering = MockOpenAI(mode="answer", answer=ANSWER).start()
        cls.failing = MockOpenAI(mode="fail", fail_status=500).start()
        home = pi_home(cls.tmp, cls.answering, cls.failing)
        # Split on blanks by the spawner: no path with a blank in it.
        if " " in cls.pi:
            raise AssertionError("pi's path has a blank: %s" % cls.pi)
        runner = ("pi=%s --offline --print --mode json --no-session "
                  "--no-context-files --no-extensions --no-skills "
                  "--no-prompt-templates --no-themes" % cls.pi)
        cls.d = Daemon(["--runner", runner], env={"HOME": home})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
            cls.d.assert_no_sanitizer_reports()
        finally:
            cls.d.cleanup()
            cls.answering.stop()
            cls.failing.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            for where in NPM_TEMP:
                shutil.rmtree(where, ignore_errors=True)

    def spawn(self, agent, model, **extra):
        body = {"runner": "pi", "id": agent, "args": ["--model", model],
                "prompt": prompt(agent), "cwd": self.work}
        body.update(extra)
        r = self.d.post("/api/v1/agents/spawn", body)
        self.assertEqual(r.status, 202, r)
        self.assertGreater(r.body["pid"], 1)
        return r.body

    def ended(self, agent, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            r = self.d.get("/api/v1/agents/%s/process" % agent)
            self.assertEqual(r.status, 200, r)
            if not r.body["running"]:
                return r.body
            if time.monotonic() > deadline:
                self.fail("%s still running after %d s: %r"
                          % (agent, timeout, r.body))
            time.sleep(0.1)

    def pi_lines(self, proc):
        """What pi printed, from the run's session log (without the
        lines colibri adds, which carry a "colibri" member)."""
        path = proc["session"]
        if not os.path.isabs(path):
            path = os.path.join(self.d.data_dir, path)
        with open(path) as f:
            lines = [json.loads(l) for l in f]
        return [l for l in lines
                if not (isinstance(l, dict) and "colibri" in l)]

    def requests_for(self, mock, agent):
        """The mock's POST requests whose user message is agent's."""
        out = []
        for r in list(mock.requests):
            if r["method"] != "POST" or not isinstance(r["body"], dict):
                continue
            text = json.dumps(r["body"].get("messages"))
            if prompt(agent) in text:
                out.append(r)
        return out

    def assertRequestFromPi(self, req, agent, model):
        self.assertEqual(req["headers"].get("authorization"),
                         "Bearer mock-key")
        body = req["body"]
        self.assertEqual(body["model"], model)
        self.assertIs(body["stream"], True)
        users = [m for m in body["messages"] if m["role"] == "user"]
        self.assertEqual(len(users), 1, body["messages"])
        content = users[0]["content"]
        if isinstance(content, list):
            content = "".join(c.get("text", "") for c in content)
        self.assertEqual(content, prompt(agent))

    def run_agent(self, agent, model, settled, **extra):
        """Spawns agent and waits until its process has ended and the
        number of settled transitions (to done or error) is `settled`;
        returns (events, process document)."""
        sse = StateStream(self.d, agent)
        try:
            self.spawn(agent, model, **extra)
            sse.wait_for(("done", "error"), count=settled)
            proc = self.ended(agent)
            time.sleep(0.3)     # nothing may follow
            with sse.cond:
                events, other = list(sse.events), list(sse.other)
        finally:
            sse.close()
        self.assertEqual(other, [], "events other than agent.state")
        st = self.d.get("/api/v1/agents/%s/state" % agent)
        self.assertEqual(st.status, 200, st)
        self.assertEqual(st.body["state"], events[-1]["to"], (st, events))
        return events, proc

    def test_answer_working_then_done(self):
        events, proc = self.run_agent("pi-answer", "mock/" + MOCK_MODEL, 1)
        self.assertEqual([(e["from"], e["to"]) for e in events],
                         [("idle", "working"), ("working", "done")], events)
        self.assertEqual(events[-1]["reason"], "stopReason stop")
        self.assertFalse(events[-1]["truncated"])
        self.assertEqual((proc["exit_status"], proc["restarts"]), (0, 0),
                         proc)

        # The mock really answered pi: one streamed completion.
        reqs = self.requests_for(self.answering, "pi-answer")
        self.assertEqual(len(reqs), 1, reqs)
        self.assertEqual(reqs[0]["path"], "/v1/chat/completions")
        self.assertRequestFromPi(reqs[0], "pi-answer", MOCK_MODEL)

        # What pi printed is in the session log, as it printed it: the
        # answer, and the usage it read from the mock's usage block.
        raw = self.pi_lines(proc)
        self.assertEqual(raw[0]["type"], "session")
        self.assertEqual(raw[-1]["type"], "agent_end")
        last = [m for m in raw[-1]["messages"]
                if m["role"] == "assistant"][-1]
        self.assertEqual(last["stopReason"], "stop")
        self.assertEqual("".join(c["text"] for c in last["content"]
                                 if c["type"] == "text"), ANSWER)
        self.assertEqual((last["provider"], last["model"]),
                         ("mock", MOCK_MODEL))
        usage = last["usage"]
        self.assertEqual(
            (usage["input"], usage["output"], usage["cacheRead"],
             usage["cacheWrite"]),
            (USAGE["prompt_tokens"] - USAGE["cached_tokens"],
             USAGE["completion_tokens"], USAGE["cached_tokens"], 0))

    def test_answer_session_and_metering(self):
        # The run is a session, and the usage pi read from the mock is
        # metered from its stream (cache hits as pi reports them).
        agent = "pi-metered"
        events, proc = self.run_agent(agent, "mock/" + MOCK_MODEL, 1)
        self.assertEqual(events[-1]["to"], "done", events)

        def ended_sessions():
            r = self.d.get("/api/v1/sessions?agent=" + agent)
            self.assertEqual(r.status, 200, r)
            items = r.body["items"]
            return items if items and all(
                i["ended_at"] is not None for i in items) else None
        sessions = wait_until(ended_sessions, 10)
        self.assertTrue(sessions, "no ended session for %s" % agent)
        self.assertEqual(len(sessions), 1, sessions)
        self.assertEqual((sessions[0]["runner"], sessions[0]["state"],
                          sessions[0]["exit_status"]), ("pi", "done", 0),
                         sessions)
        entries = self.d.get("/api/v1/sessions/%d/entries?limit=1000"
                             % sessions[0]["id"])
        self.assertEqual(entries.status, 200, entries)
        types = [e["entry"].get("type") for e in entries.body["items"]
                 if isinstance(e["entry"], dict)]
        self.assertIn("agent_end", types, entries.body)

        r = self.d.get("/api/v1/metering/summary?group_by=agent&agent="
                       + agent)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body["items"]), 1, r.body)
        item = r.body["items"][0]
        prompt_tokens = USAGE["prompt_tokens"]
        cached = USAGE["cached_tokens"]
        self.assertEqual(
            (item["key"], item["calls"], item["input_tokens"],
             item["output_tokens"], item["cache_read_tokens"],
             item["cache_write_tokens"]),
            (agent, 1, prompt_tokens - cached, USAGE["completion_tokens"],
             cached, 0), item)
        self.assertAlmostEqual(item["hit_ratio"], cached / prompt_tokens)

    def assertFailedRun(self, events):
        """One run against the failing mock: pi's retry episode, then
        error with pi's final error."""
        self.assertEqual([(e["from"], e["to"], e["substate"])
                          for e in events[1:]],
                         [("working", "working", "retrying"),
                          ("working", "error", "")], events)
        self.assertEqual(events[0]["to"], "working", events)
        self.assertEqual(events[0]["reason"], "agent_start", events)
        self.assertIn("auto_retry_end success=false", events[-1]["reason"])
        self.assertIn("500 mock server error", events[-1]["reason"])

    def test_failing_provider_error(self):
        events, proc = self.run_agent("pi-fail", "failing/" + MOCK_MODEL, 1,
                                      max_restarts=0)
        self.assertEqual(events[0]["from"], "idle", events)
        self.assertFailedRun(events)
        # pi exits 0 after giving up: the stream, not the exit code, says.
        self.assertEqual((proc["exit_status"], proc["restarts"]), (0, 0),
                         proc)

        # Every attempt reached the mock: the first and pi's retries.
        reqs = self.requests_for(self.failing, "pi-fail")
        self.assertEqual(len(reqs), 1 + PI_RETRIES, reqs)
        for r in reqs:
            self.assertEqual(r["path"], "/v1/chat/completions")
            self.assertRequestFromPi(r, "pi-fail", MOCK_MODEL)
        raw = self.pi_lines(proc)
        self.assertEqual(
            [l["attempt"] for l in raw if l["type"] == "auto_retry_start"],
            list(range(1, PI_RETRIES + 1)))
        self.assertEqual([l["success"] for l in raw
                          if l["type"] == "auto_retry_end"], [False])

    def test_failing_provider_restarted_then_given_up(self):
        # A run that ends in error is restarted by the spawner: pi runs
        # twice (each time with its own retries), then colibri gives up.
        events, proc = self.run_agent("pi-again", "failing/" + MOCK_MODEL,
                                      2, max_restarts=1,
                                      backoff_floor_ms=50,
                                      backoff_cap_ms=100)
        self.assertEqual(len(events), 6, events)
        self.assertEqual(events[0]["from"], "idle", events)
        self.assertFailedRun(events[:3])
        self.assertEqual(events[3]["from"], "error", events)
        self.assertFailedRun(events[3:])
        # The reap says running: false; giving up (last_error) is
        # decided a moment later, once the run's last lines are in.
        path = "/api/v1/agents/pi-again/process"
        proc = wait_until(lambda: (lambda p: p if p.get("last_error")
                                   else None)(self.d.get(path).body), 10)
        self.assertTrue(proc, self.d.get(path))
        self.assertEqual((proc["exit_status"], proc["restarts"],
                          proc["running"]), (0, 1, False), proc)
        self.assertIn("gave up after 1 restart", proc["last_error"])
        reqs = self.requests_for(self.failing, "pi-again")
        self.assertEqual(len(reqs), 2 * (1 + PI_RETRIES), reqs)


if __name__ == "__main__":
    colibri_test.main()
