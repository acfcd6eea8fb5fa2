"""colibri-smoke-agent: every scenario prints well-formed pi-style JSONL,
echoes COLIBRI_AGENT_ID/COLIBRI_TASK_ID, and - fed through the real
ingestion endpoint (POST /api/v1/agents/{id}/events) - drives the
glasspane to the state the scenario promises.  SIGTERM ends a run with
status 143 unless --ignore-term."""

import json
import os
import signal
import subprocess
import time
from urllib.parse import quote

import colibri_test
from colibri_test import DaemonTestCase


def smoke_path():
    return os.path.join(os.path.dirname(colibri_test.colibrid_path()),
                        "colibri-smoke-agent")


def run_smoke(*args, env=None):
    e = colibri_test.clean_env(env)
    return subprocess.run([smoke_path()] + list(args),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=e, timeout=30,
                          universal_newlines=True)


class SmokeAgentTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.d = self.daemon()

    def ingest(self, agent, lines):
        path = "/api/v1/agents/%s/events" % quote(agent, safe="")
        body = "".join(l + "\n" for l in lines)
        r = self.d.post(path, raw_body=body,
                        content_type="application/x-ndjson")
        return self.assertStatus(r, 200, "ingest")

    def scenario_state(self, scenario, want_rc=0):
        return self.scenario_state_args(scenario, want_rc=want_rc)

    def scenario_state_args(self, scenario, *args, want_rc=0):
        agent = "smoke-" + scenario
        self.assertStatus(self.d.post("/api/v1/agents", {"id": agent}), 201)
        r = run_smoke("--scenario", scenario, *args, "a prompt",
                      env={"COLIBRI_AGENT_ID": agent,
                           "COLIBRI_TASK_ID": "42"})
        self.assertEqual(r.returncode, want_rc, r.stderr)
        lines = r.stdout.splitlines()
        events = [json.loads(l) for l in lines]
        self.assertEqual(events[0]["type"], "session")
        self.assertEqual(events[0]["colibri"],
                         {"agent_id": agent, "task_id": "42"})
        self.assertEqual(events[1]["type"], "agent_start")
        self.assertEqual(events[1]["colibri"]["agent_id"], agent)
        rep = self.ingest(agent, lines)
        self.assertEqual(rep["accepted"], len(lines))
        return rep["state"], events

    def test_ok_is_done_with_usage(self):
        state, events = self.scenario_state("ok")
        self.assertEqual(state, "done")
        types = [e["type"] for e in events]
        for t in ("turn_start", "message_start", "message_update",
                  "message_end", "turn_end", "agent_end"):
            self.assertIn(t, types)
        ends = [e for e in events if e["type"] == "message_end"
                and e["message"]["role"] == "assistant"]
        self.assertGreater(ends[0]["message"]["usage"]["cacheRead"], 0)
        self.assertEqual(events[-1]["messages"][0]["stopReason"], "stop")

    def test_tool_is_done(self):
        self.assertEqual(self.scenario_state("tool")[0], "done")

    def test_error_and_retry_fail_are_error(self):
        self.assertEqual(self.scenario_state("error")[0], "error")
        state, events = self.scenario_state("retry-fail")
        self.assertEqual(state, "error")
        self.assertEqual([e["type"] for e in events].count(
            "auto_retry_start"), 2)

    def test_crash_exits_mid_run(self):
        state, _ = self.scenario_state("crash", want_rc=1)
        self.assertEqual(state, "working")

    def test_no_ids_without_env(self):
        r = run_smoke("--scenario", "ok")
        first = json.loads(r.stdout.splitlines()[0])
        self.assertEqual(first["colibri"],
                         {"agent_id": None, "task_id": None})

    def test_unknown_scenario_and_bad_flags(self):
        self.assertEqual(run_smoke("--scenario", "nope").returncode, 2)
        self.assertEqual(run_smoke("--delay-ms", "x").returncode, 2)
        self.assertEqual(run_smoke("--bogus").returncode, 2)

    def start(self, *args):
        return subprocess.Popen([smoke_path()] + list(args),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL,
                                env=colibri_test.clean_env(),
                                universal_newlines=True)

    def test_sigterm_mid_run_is_143(self):
        for scenario in ("hang", "block", "slow"):
            p = self.start("--scenario", scenario, "--delay-ms", "300")
            self.assertEqual(json.loads(p.stdout.readline())["type"],
                             "session")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 143, scenario)
            p.stdout.close()

    def test_ignore_term(self):
        p = self.start("--scenario", "hang", "--ignore-term")
        p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assertIsNone(p.poll())
        p.kill()
        self.assertEqual(p.wait(timeout=10), -signal.SIGKILL)
        p.stdout.close()

    def test_block_is_blocked(self):
        agent = "smoke-block"
        self.assertStatus(self.d.post("/api/v1/agents", {"id": agent}), 201)
        p = self.start("--scenario", "block")
        lines = []
        while True:
            line = p.stdout.readline()
            lines.append(line.rstrip("\n"))
            if json.loads(line)["type"] == "extension_ui_request":
                break
        p.terminate()
        p.wait(timeout=10)
        p.stdout.close()
        self.assertEqual(self.ingest(agent, lines)["state"], "blocked")

    def test_chatty_counts_its_lines(self):
        """--lines N lines exactly, each tagged "seq": 0..N-1 in order,
        and the run ends done."""
        state, events = self.scenario_state_args(
            "chatty", "--lines", "57")
        self.assertEqual(state, "done")
        self.assertEqual(len(events), 57)
        self.assertEqual([e["seq"] for e in events], list(range(57)))
        self.assertEqual(sum(e["type"] == "message_update" for e in events),
                         57 - 6)
        r = run_smoke("--scenario", "chatty")
        self.assertEqual(len(r.stdout.splitlines()), 1000)
        for bad in ("5", "x", "-1"):
            self.assertEqual(run_smoke("--scenario", "chatty", "--lines",
                                       bad).returncode, 2, bad)

    def test_chatty_agents_lose_no_line(self):
        """Several chatty agents spawned at once, unpaced: every line of
        each is in its session log, once and in order (the benchmark's
        check, small)."""
        agents = ["chatty-%d" % i for i in range(6)]
        lines = 400
        for a in agents:
            self.assertStatus(self.d.post("/api/v1/agents/spawn", {
                "runner": "smoke", "id": a, "max_restarts": 0,
                "args": ["--scenario", "chatty", "--lines", str(lines)]}),
                202)
        for a in agents:
            # The exit as stored: recorded after the run's last lines
            # were ingested and logged.
            doc = colibri_test.wait_until(
                lambda: (lambda d: d if d["process"]["exit_status"]
                         is not None else None)(
                    self.assertStatus(self.d.get(
                        "/api/v1/agents/%s" % a), 200)), 30)
            self.assertTrue(doc, "%s still running" % a)
            self.assertEqual(doc["process"]["exit_status"], 0, doc)
            p = self.assertStatus(self.d.get(
                "/api/v1/agents/%s/process" % a), 200)
            with open(p["session"]) as f:
                seqs = [json.loads(l)["seq"] for l in f
                        if not l.startswith('{"colibri":')]
            self.assertEqual(seqs, list(range(lines)), a)
            self.assertEqual(self.assertStatus(self.d.get(
                "/api/v1/agents/%s" % a), 200)["state"], "done", a)

    def test_not_running_means_fully_recorded(self):
        """agent.process says running false only once the ended run is
        written down: every line in the session log and ingested, the
        exit status stored, the state settled, the session ended."""
        lines = 20000
        for i in range(3):
            a = "recorded-%d" % i
            self.assertStatus(self.d.post("/api/v1/agents/spawn", {
                "runner": "smoke", "id": a, "max_restarts": 0,
                "args": ["--scenario", "chatty", "--lines", str(lines)]}),
                202)
            # Asked back to back, so that the first "not running" is seen
            # as soon as it is said.
            deadline = time.monotonic() + 60
            while True:
                p = self.assertStatus(self.d.get(
                    "/api/v1/agents/%s/process" % a), 200)
                if not p["running"] or time.monotonic() > deadline:
                    break
            self.assertFalse(p["running"], "%s still running" % a)
            # No waiting from here on: all of it must already be there
            # (the session's end first: it is written last).
            sessions = self.assertStatus(self.d.get(
                "/api/v1/sessions?agent=%s" % a), 200)["items"]
            self.assertEqual(p["exit_status"], 0, p)
            doc = self.assertStatus(self.d.get("/api/v1/agents/%s" % a),
                                    200)
            self.assertEqual(doc["process"]["exit_status"], 0, doc)
            self.assertEqual(doc["state"], "done", doc)
            with open(p["session"]) as f:
                seqs = [json.loads(l)["seq"] for l in f
                        if not l.startswith('{"colibri":')]
            self.assertEqual(seqs, list(range(lines)), a)
            self.assertEqual(len(sessions), 1, sessions)
            self.assertIsNotNone(sessions[0]["ended_at"], sessions)
            self.assertEqual(sessions[0]["state"], "done", sessions)
            self.assertEqual(sessions[0]["exit_status"], 0, sessions)

    def test_slow_delays(self):
        t0 = time.monotonic()
        r = run_smoke("--scenario", "slow", "--delay-ms", "20")
        self.assertEqual(r.returncode, 0)
        n = len(r.stdout.splitlines())
        self.assertGreaterEqual(time.monotonic() - t0, n * 0.02 * 0.9)


if __name__ == "__main__":
    colibri_test.main()
