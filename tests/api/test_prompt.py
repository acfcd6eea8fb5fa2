"""prompt.assemble over real HTTP, and the prompt prefix a spawned agent
gets: regions, messages and hashes (checked against hashlib); tails,
dependency status and time never move regions 1-2, a task edit moves only
region 2; validation errors (problem+json, nothing changed); a runner
that records its environment gets COLIBRI_PROMPT_PREFIX naming a
content-addressed 0600 file; a fake `pi` (a script of that name that
records its argv) gets --append-system-prompt FILE and one --skill DIR per
catalog skill, sorted, before the prompt; the session remembers the prefix
it started with and a different one later is a prompt.drift event."""

import hashlib
import http.client
import json
import os
import shutil
import stat
import tempfile
import time

from colibri_test import DaemonTestCase, run_colibrid, wait_until

SYSTEM_TEXT = "You are the test agent.\nBe brief.\n"


def sha(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return hashlib.sha256(b).hexdigest()


class PromptTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="colibri-prompt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.root = os.path.join(self.tmp, "skills")
        # Made in an order that is not the name order.
        for name, desc in (("zeta-tool", "Last skill"),
                           ("alpha-tool", "First skill"),
                           ("mid-tool", "Middle skill")):
            os.makedirs(os.path.join(self.root, name))
            with open(os.path.join(self.root, name, "SKILL.md"), "w") as f:
                f.write("---\nname: %s\ndescription: %s\n---\nbody\n"
                        % (name, desc))
        self.system = os.path.join(self.tmp, "system.md")
        with open(self.system, "w") as f:
            f.write(SYSTEM_TEXT)
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        self.out = os.path.join(self.tmp, "out")
        os.makedirs(self.out)
        # Records its argv (one per line) and two variables, then exits.
        record = ('#!/bin/sh\n'
                  'out=%s/$COLIBRI_AGENT_ID\n'
                  'for a in "$@"; do printf "%%s\\n" "$a"; done > $out.argv\n'
                  'printf "%%s" "${COLIBRI_PROMPT_PREFIX-unset}" > $out.env\n'
                  'mv $out.argv $out.args\n' % self.out)
        for name in ("pi", "rec"):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(record)
            os.chmod(path, 0o755)
        self.d = self.daemon(args=[
            "--skills-path", self.root,
            "--system-prompt", "pi=" + self.system,
            "--system-prompt", "rec=" + self.system,
            "--runner", "pi=%s/pi --mode json" % self.bin,
            "--runner", "rec=%s/rec" % self.bin,
            "--runner", "plain=%s/rec" % self.bin])

    def assemble(self, status=200, **body):
        r = self.d.post("/api/v1/prompt/assemble", body)
        if status != 200:
            return r
        return self.assertStatus(r, 200, "assemble %r" % (body,))

    def make_task(self):
        dep_b = self.assertStatus(self.d.post("/api/v1/tasks", {
            "title": "Dependency B"}), 201)
        dep_a = self.assertStatus(self.d.post("/api/v1/tasks", {
            "title": "Dependency A"}), 201)
        task = self.assertStatus(self.d.post("/api/v1/tasks", {
            "title": "Write the parser", "body": "Parse it.\nTest it.",
            "depends_on": [dep_b["id"], dep_a["id"]],
            "requires_skills": ["mid-tool", "alpha-tool"]}), 201)
        return task, dep_a, dep_b

    def test_assemble(self):
        task, dep_a, dep_b = self.make_task()
        tail = [{"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"}]
        doc = self.assemble(kind="pi", task=task["id"], tail=tail)
        self.assertEqual(set(doc), {"regions", "messages", "region1_sha256",
                                    "prefix_sha256", "inputs_sha256"})
        r1 = doc["regions"][0]["content"]
        r2 = doc["regions"][1]["content"]
        self.assertEqual([r["region"] for r in doc["regions"]], [1, 2, 3])
        self.assertEqual(doc["regions"][2]["messages"], tail)
        self.assertEqual(doc["region1_sha256"], sha(r1))
        self.assertEqual(doc["regions"][0]["sha256"], sha(r1))
        self.assertEqual(doc["regions"][1]["sha256"], sha(r2))
        self.assertEqual(doc["prefix_sha256"], sha(r1 + r2))
        self.assertEqual(doc["regions"][0]["bytes"], len(r1.encode()))
        self.assertEqual(doc["messages"],
                         [{"role": "system", "content": r1 + r2}] + tail)
        # Region 1: the configured system prompt, tool notes, skills
        # sorted by name.
        self.assertTrue(r1.startswith(SYSTEM_TEXT + "\n## Tools\n\n"), r1)
        self.assertIn("- prompt.assemble (POST /api/v1/prompt/assemble): ",
                      r1)
        self.assertTrue(r1.endswith(
            "\n## Skills\n\n- alpha-tool: First skill\n"
            "- mid-tool: Middle skill\n- zeta-tool: Last skill\n"), r1)
        # Region 2: exactly this.
        self.assertEqual(r2, (
            "\n## Task %d: Write the parser\n\nParse it.\nTest it.\n"
            "\n### Depends on\n\n- %d: Dependency B\n- %d: Dependency A\n"
            "\n### Required skills\n\n- alpha-tool\n- mid-tool\n")
            % (task["id"], dep_b["id"], dep_a["id"]))

        # Other tails, a dependency done, time passing: same bytes.
        self.assertStatus(self.d.patch("/api/v1/tasks/%d" % dep_a["id"], {
            "version": dep_a["version"], "status": "done"}), 200)
        time.sleep(1.1)
        for t in ([], [{"role": "tool", "content": "x" * 1000}], None):
            body = {"kind": "pi", "task": task["id"]}
            if t is not None:
                body["tail"] = t
            again = self.assemble(**body)
            self.assertEqual(again["regions"][0], doc["regions"][0])
            self.assertEqual(again["regions"][1], doc["regions"][1])
            self.assertEqual(again["prefix_sha256"], doc["prefix_sha256"])
            self.assertEqual(again["messages"][0], doc["messages"][0])

        # A task edit moves region 2 only.
        cur = self.d.get_task(task["id"])
        self.assertStatus(self.d.patch("/api/v1/tasks/%d" % task["id"], {
            "version": cur["version"], "title": "Write the lexer"}), 200)
        edited = self.assemble(kind="pi", task=task["id"])
        self.assertEqual(edited["region1_sha256"], doc["region1_sha256"])
        self.assertNotEqual(edited["prefix_sha256"], doc["prefix_sha256"])

        # No task: region 2 is empty.  A kind without a system prompt
        # file gets the built-in text.
        bare = self.assemble(kind="pi")
        self.assertEqual(bare["regions"][1]["content"], "")
        self.assertEqual(bare["prefix_sha256"], doc["region1_sha256"])
        other = self.assemble(kind="other-kind")
        self.assertTrue(other["regions"][0]["content"].startswith(
            "You are a coding agent of kind 'other-kind'"))

        # The same op over the socket.
        ans = self.d.socket_call("prompt.assemble",
                                 {"kind": "pi", "task": task["id"]})
        self.assertTrue(ans.get("ok"), ans)
        self.assertEqual(ans["result"]["prefix_sha256"],
                         edited["prefix_sha256"])

    def test_validation(self):
        task, _, _ = self.make_task()
        cases = [
            ({}, 400, None),
            ({"kind": "../etc"}, 400, None),
            ({"kind": ""}, 400, None),
            ({"kind": "pi", "task": "one"}, 400, None),
            ({"kind": "pi", "task": 0}, 400, None),
            ({"kind": "pi", "bogus": 1}, 400, None),
            ({"kind": "pi", "task": 999999}, 404, "task_not_found"),
            ({"kind": "pi", "tail": "hello"}, 400, "invalid_tail"),
            ({"kind": "pi", "tail": [{"role": "system", "content": "x"}]},
             400, "invalid_tail"),
            ({"kind": "pi", "tail": [{"role": "user"}]}, 400,
             "invalid_tail"),
            ({"kind": "pi", "tail": [{"role": "user", "content": "x",
                                      "extra": 1}]}, 400, "invalid_tail"),
            ({"kind": "pi", "tail": [{"role": "user", "content": "x"}]
              * 257}, 400, "invalid_tail"),
            ({"kind": "pi", "task": task["id"], "session": 999999}, 404,
             "session_not_found"),
        ]
        for body, status, code in cases:
            r = self.d.post("/api/v1/prompt/assemble", body)
            self.assertProblem(r, status, code, msg=repr(body)[:200])
        r = self.d.request("POST", "/api/v1/prompt/assemble",
                           raw_body="kind=pi",
                           content_type="application/x-www-form-urlencoded")
        self.assertProblem(r, 415)
        r = self.d.get("/api/v1/prompt/assemble")
        self.assertEqual(r[0], 405)
        # Nothing was written: no prompt files.
        self.assertFalse(os.path.exists(os.path.join(self.d.data_dir,
                                                     "prompts")))

    def spawn(self, **body):
        body.setdefault("max_restarts", 0)
        return self.assertStatus(self.d.post("/api/v1/agents/spawn", body),
                                 202, "spawn %r" % (body,))

    def recorded(self, agent):
        path = os.path.join(self.out, agent)
        self.assertTrue(wait_until(lambda: os.path.exists(path + ".args"),
                                   timeout=20), "the runner did not run")
        with open(path + ".args") as f:
            args = f.read().splitlines()
        with open(path + ".env") as f:
            env = f.read()
        return args, env

    def check_prefix_file(self, path, prefix_sha256):
        self.assertEqual(os.path.dirname(path),
                         os.path.realpath(os.path.join(self.d.data_dir,
                                                       "prompts")))
        self.assertEqual(os.path.basename(path), prefix_sha256 + ".md")
        st = os.stat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with open(path, "rb") as f:
            self.assertEqual(sha(f.read()), prefix_sha256)

    def test_spawn_env_prefix(self):
        task, _, _ = self.make_task()
        self.spawn(runner="rec", id="rec-1", task_id=task["id"])
        args, env = self.recorded("rec-1")
        self.assertEqual(args, [])
        doc = self.assemble(kind="rec", task=task["id"])
        self.check_prefix_file(env, doc["prefix_sha256"])
        with open(env) as f:
            self.assertEqual(f.read(), doc["messages"][0]["content"])

        # Content-addressed: a second agent on the same task reuses it.
        self.spawn(runner="rec", id="rec-2", task_id=task["id"])
        _, env2 = self.recorded("rec-2")
        self.assertEqual(env2, env)

        # A runner with no system prompt and no task: nothing.
        self.spawn(runner="plain", id="plain-1")
        args, env = self.recorded("plain-1")
        self.assertEqual(env, "unset")
        # A task_id that names no task: no region 2, not a refusal.
        self.spawn(runner="plain", id="plain-3", task_id=999999)
        self.assertEqual(self.recorded("plain-3")[1], "unset")
        self.spawn(runner="rec", id="rec-3", task_id=999999)
        _, env3 = self.recorded("rec-3")
        self.check_prefix_file(env3, self.assemble(kind="rec")[
            "region1_sha256"])
        # With a task it gets one, with the built-in system prompt.
        self.spawn(runner="plain", id="plain-2", task_id=task["id"])
        _, env = self.recorded("plain-2")
        with open(env) as f:
            self.assertTrue(f.read().startswith(
                "You are a coding agent of kind 'plain'"))

    def test_spawn_pi_arguments(self):
        task, _, _ = self.make_task()
        self.spawn(runner="pi", id="pi-1", task_id=task["id"],
                   args=["--model", "m"], prompt="Go.")
        args, env = self.recorded("pi-1")
        self.assertEqual(env, "unset")
        doc = self.assemble(kind="pi", task=task["id"])
        self.assertEqual(args[:5], ["--mode", "json", "--model", "m",
                                    "--append-system-prompt"])
        self.check_prefix_file(args[5], doc["prefix_sha256"])
        skills = [os.path.join(self.root, n)
                  for n in ("alpha-tool", "mid-tool", "zeta-tool")]
        self.assertEqual(args[6:], ["--skill", skills[0], "--skill",
                                    skills[1], "--skill", skills[2],
                                    "Go."])
        # Without a task, a kind with a system prompt still gets region 1.
        self.spawn(runner="pi", id="pi-2")
        args, _ = self.recorded("pi-2")
        self.assertEqual(args[2], "--append-system-prompt")
        self.check_prefix_file(args[3], doc["region1_sha256"])

    def events(self, types, want, timeout=10):
        """Prompt events replayed from the start over SSE, until want(list)
        holds or timeout."""
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port,
                                          timeout=1)
        conn.request("GET", "/api/v1/events?types=%s&last_event_id=0"
                     % types, headers={
                         "Authorization": "Bearer " + self.d.token,
                         "Host": "127.0.0.1:%d" % self.d.port})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        got, buf = [], b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not want(got):
                try:
                    chunk = resp.read1(65536)
                except TimeoutError:
                    continue
                except OSError:
                    continue
                if not chunk:
                    break
                buf += chunk
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    ev = {}
                    for line in frame.decode().splitlines():
                        if line.startswith("event:"):
                            ev["type"] = line[6:].strip()
                        elif line.startswith("data:"):
                            ev["data"] = json.loads(line[5:].strip())[
                                "data"]
                    if "type" in ev:
                        got.append(ev)
        finally:
            conn.close()
        return got

    def test_session_drift(self):
        task, _, _ = self.make_task()
        self.spawn(runner="rec", id="drifter", task_id=task["id"])
        self.recorded("drifter")
        r = self.d.get("/api/v1/sessions?agent=drifter")
        doc = self.assemble(kind="rec", task=task["id"])
        sessions = self.assertStatus(r, 200)["items"]
        self.assertEqual(len(sessions), 1, sessions)
        sid = sessions[0]["id"]
        self.assertEqual(sessions[0]["prefix_sha256"], doc["prefix_sha256"])

        # The same prefix for the session: no drift.
        self.assemble(kind="rec", task=task["id"], session=sid)
        # The task changes under the session: drift.
        cur = self.d.get_task(task["id"])
        self.assertStatus(self.d.patch("/api/v1/tasks/%d" % task["id"], {
            "version": cur["version"], "body": "Something else."}), 200)
        moved = self.assemble(kind="rec", task=task["id"], session=sid)
        evs = self.events("prompt.*", lambda got: any(
            e["type"] == "prompt.drift" for e in got))
        drifts = [e["data"] for e in evs if e["type"] == "prompt.drift"]
        self.assertEqual(drifts, [{
            "kind": "rec", "session": sid, "old": doc["prefix_sha256"],
            "new": moved["prefix_sha256"],
            "reason": "session_prefix_changed"}])
        # The session's next metering row carries the drift flag.
        usage = {"provider": "p", "model": "m", "session": sid,
                 "input_tokens": 10, "output_tokens": 1,
                 "cache_read_tokens": 0, "cache_write_tokens": 0}
        r = self.d.post("/api/v1/metering", usage)
        if r[0] != 404:
            row = self.assertStatus(r, 201)
            self.assertEqual(row["prefix_drift"], 1, row)
            row = self.assertStatus(self.d.post("/api/v1/metering", usage),
                                    201)
            self.assertEqual(row["prefix_drift"], 0, row)
        firsts = [e["data"] for e in evs if e["type"] == "prompt.prefix"]
        self.assertIn({"kind": "rec", "region1_sha256":
                       doc["region1_sha256"], "inputs_sha256":
                       doc["inputs_sha256"], "reason": "first"}, firsts)

        # A new skill is an explained change of region 1: prompt.prefix.
        os.makedirs(os.path.join(self.root, "new-tool"))
        with open(os.path.join(self.root, "new-tool", "SKILL.md"), "w") as f:
            f.write("---\nname: new-tool\ndescription: New\n---\nbody\n")
        self.assertStatus(self.d.post("/api/v1/skills/rescan"), 200)
        newer = self.assemble(kind="rec")
        self.assertNotEqual(newer["region1_sha256"], doc["region1_sha256"])
        evs = self.events("prompt.*", lambda got: any(
            e["type"] == "prompt.prefix" and
            e["data"].get("reason") == "inputs_changed" for e in got))
        changed = [e["data"] for e in evs if e["type"] == "prompt.prefix"
                   and e["data"]["reason"] == "inputs_changed"]
        self.assertEqual(len(changed), 1, evs)
        self.assertEqual(changed[0]["new"], newer["region1_sha256"])
        self.assertEqual(
            len([e for e in evs if e["type"] == "prompt.drift"]), 1)


    def test_configuration(self):
        data = os.path.join(self.tmp, "cfgdata")
        base = ["--data-dir", data, "--check-config"]
        for bad, msg in ((["--system-prompt", "noequals"], "KIND=FILE"),
                         (["--system-prompt", "=x"], "KIND=FILE"),
                         (["--system-prompt", "../k=" + self.system],
                          "KIND=FILE"),
                         (["--system-prompt", "k=/nonexistent/file"],
                          "/nonexistent/file"),
                         (["--tool-notes", "/nonexistent/notes"],
                          "/nonexistent/notes")):
            r = run_colibrid(base + bad)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn(msg, r.stderr, bad)
        # Two in the environment, ';'-separated; printed back one a line.
        other = os.path.join(self.tmp, "other.md")
        with open(other, "w") as f:
            f.write("other\n")
        r = run_colibrid(["--data-dir", data, "--print-config"], env={
            "COLIBRI_SYSTEM_PROMPT": "a=%s;b=%s" % (self.system, other),
            "COLIBRI_TOOL_NOTES": other})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("system-prompt = a=%s\n" % self.system, r.stdout)
        self.assertIn("system-prompt = b=%s\n" % other, r.stdout)
        self.assertIn("tool-notes = %s\n" % other, r.stdout)

    def test_tool_notes_file(self):
        notes = os.path.join(self.tmp, "notes.md")
        with open(notes, "w") as f:
            f.write("Use the API.\n")
        d = self.daemon(args=["--tool-notes", notes,
                              "--system-prompt", "k=" + self.system])
        doc = self.assertStatus(d.post("/api/v1/prompt/assemble",
                                       {"kind": "k"}), 200)
        self.assertEqual(doc["regions"][0]["content"],
                         SYSTEM_TEXT + "\n## Tools\n\nUse the API.\n"
                         "\n## Skills\n\n(none)\n")
        # A file that became unreadable (a folder now): 500, a problem.
        os.remove(notes)
        os.mkdir(notes)
        r = d.post("/api/v1/prompt/assemble", {"kind": "k"})
        self.assertProblem(r, 500, "prompt_file_unreadable")

if __name__ == "__main__":
    import unittest
    unittest.main()
