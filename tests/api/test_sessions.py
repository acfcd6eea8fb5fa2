"""Session logs over real HTTP with colibri-smoke-agent runs: one session
per run, indexed (session.list with its filters and cursor, session.get),
its entries read a page at a time by byte-offset cursor (Colibri's
spawn/state/exit annotations around the agent's raw lines), a partial
last line and unparsable lines skipped, following a session live over
SSE (entries as they are written, resumable with Last-Event-ID, an end
frame), session.start/session.end on the event bus, retention by total
size, kill -9 of the daemon mid-write (whole lines only, and the
restarted daemon closes the session), and refusals as problem+json."""

import http.client
import json
import os
import re
import time

from colibri_test import DaemonTestCase, wait_until

TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
DOC_KEYS = {"id", "agent", "task_id", "runner", "started_at", "ended_at",
            "size", "lines", "state", "exit_status", "prefix_sha256"}
WAIT = 30


def annotation(entry):
    """The kind of a Colibri annotation ("spawn", "state", "exit"), or
    None for the agent's own lines (which may carry a "colibri" object)."""
    if isinstance(entry, dict) and isinstance(entry.get("colibri"), str):
        return entry["colibri"]
    return None


class SSEStream:
    """A minimal text/event-stream reader over http.client: yields
    (id, event, data) per dispatched frame and ("comment", text)."""

    def __init__(self, d, path, headers=None, timeout=WAIT):
        self.conn = d.connection(timeout)
        hdrs = {"Authorization": "Bearer " + d.token,
                "Accept": "text/event-stream"}
        hdrs.update(headers or {})
        self.conn.request("GET", path, headers=hdrs)
        self.resp = self.conn.getresponse()
        self.last_id = None

    def frames(self):
        event, data, fid = None, [], None
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or event:
                    yield (fid, event or "message", "\n".join(data))
                event, data, fid = None, [], None
                continue
            if line.startswith(":"):
                yield (None, "comment", line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                fid = value
                self.last_id = value
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)

    def close(self):
        self.conn.close()


class SessionTest(DaemonTestCase):

    def start_daemon(self, args=(), **kw):
        self.d = self.daemon(args=list(args), **kw)
        return self.d

    def spawn(self, **body):
        r = self.d.post("/api/v1/agents/spawn", body)
        return self.assertStatus(r, 202, "spawn %r" % (body,))

    def sessions(self, query=""):
        return self.assertStatus(self.d.get("/api/v1/sessions" + query), 200)

    def session(self, sid):
        return self.assertStatus(self.d.get("/api/v1/sessions/%d" % sid),
                                 200)

    def wait_ended(self, agent, count=1, timeout=WAIT):
        def ended():
            items = self.sessions("?agent=%s" % agent)["items"]
            done = [s for s in items if s["ended_at"] is not None]
            return items if len(done) >= count else None
        items = wait_until(ended, timeout)
        self.assertTrue(items, "no ended session of %s: %r"
                        % (agent, self.sessions("?agent=%s" % agent)))
        return items

    def all_entries(self, sid, limit=1000):
        out, after = [], None
        for _ in range(10000):
            q = "?limit=%d" % limit + ("&after=%s" % after if after else "")
            page = self.assertStatus(
                self.d.get("/api/v1/sessions/%d/entries%s" % (sid, q)), 200)
            out += page["items"]
            if page["next"] is None:
                return out
            self.assertNotEqual(page["next"], after, "cursor did not move")
            after = page["next"]
        self.fail("entries never ended")

    def path_of(self, agent):
        p = self.assertStatus(
            self.d.get("/api/v1/agents/%s/process" % agent), 200)
        return p["session"]

    # --- tests ------------------------------------------------------------

    def test_index_filters_cursor(self):
        self.start_daemon()
        task = self.d.create_task(title="t")["id"]
        t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                           time.gmtime(time.time() - 5))
        self.spawn(runner="smoke", id="s-ok", task_id=task,
                   args=["--scenario", "ok"])
        ok = self.wait_ended("s-ok")[0]
        self.spawn(runner="smoke", id="s-err", args=["--scenario", "error"],
                   max_restarts=0)
        err = self.wait_ended("s-err")[0]

        self.assertEqual(set(ok), DOC_KEYS)
        self.assertEqual((ok["agent"], ok["task_id"], ok["runner"],
                          ok["state"], ok["exit_status"]),
                         ("s-ok", task, "smoke", "done", 0))
        self.assertRegex(ok["started_at"], TIME_RE)
        self.assertRegex(ok["ended_at"], TIME_RE)
        self.assertGreaterEqual(ok["ended_at"], ok["started_at"])
        # size and lines are the file's
        with open(self.path_of("s-ok"), "rb") as f:
            data = f.read()
        self.assertEqual((ok["size"], ok["lines"]),
                         (len(data), data.count(b"\n")))
        self.assertEqual(err["state"], "error")
        self.assertIsNone(err["task_id"])

        # newest first; filters
        items = self.sessions()["items"]
        self.assertEqual([s["id"] for s in items], [err["id"], ok["id"]])
        self.assertEqual(self.session(ok["id"]), ok)
        self.assertEqual([s["id"] for s in self.sessions("?agent=s-ok")[
            "items"]], [ok["id"]])
        self.assertEqual([s["id"] for s in self.sessions(
            "?task=%d" % task)["items"]], [ok["id"]])
        self.assertEqual(self.sessions("?task=%d" % (task + 1))["items"],
                         [])
        self.assertEqual([s["id"] for s in self.sessions("?state=done")[
            "items"]], [ok["id"]])
        self.assertEqual([s["id"] for s in self.sessions("?state=error")[
            "items"]], [err["id"]])
        self.assertEqual(self.sessions("?state=open")["items"], [])
        self.assertEqual(len(self.sessions("?since=" + t0)["items"]), 2)
        self.assertEqual(self.sessions("?until=" + t0)["items"], [])
        self.assertEqual(self.sessions("?since=2999-01-01T00:00:00Z")[
            "items"], [])
        self.assertEqual(len(self.sessions(
            "?since=2000-01-01T00:00:00.5%2B02:00")["items"]), 2)
        # the cursor
        p1 = self.sessions("?limit=1")
        self.assertEqual([s["id"] for s in p1["items"]], [err["id"]])
        self.assertIsNotNone(p1["next"])
        p2 = self.sessions("?limit=1&after=" + p1["next"])
        self.assertEqual([s["id"] for s in p2["items"]], [ok["id"]])
        self.assertIsNone(p2["next"])

    def test_entries_pages_and_annotations(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="e-1", args=["--scenario", "tool"])
        s = self.wait_ended("e-1")[0]
        entries = self.all_entries(s["id"])
        # every line of the file, in order, with its offset
        with open(self.path_of("e-1"), "rb") as f:
            data = f.read()
        offsets, off = [], 0
        for line in data.split(b"\n")[:-1]:
            offsets.append(off)
            off += len(line) + 1
        self.assertEqual([e["offset"] for e in entries], offsets)
        self.assertEqual(len(entries), s["lines"])
        kinds = [annotation(e["entry"]) for e in entries]
        self.assertEqual(kinds[0], "spawn")
        self.assertEqual(kinds[-1], "exit")
        first, last = entries[0]["entry"], entries[-1]["entry"]
        self.assertEqual((first["runner"], first["restarts"]), ("smoke", 0))
        self.assertRegex(first["time"], TIME_RE)
        self.assertEqual((last["exit_status"], last["state"]), (0, "done"))
        states = [(e["entry"]["from"], e["entry"]["to"]) for e in entries
                  if annotation(e["entry"]) == "state"]
        self.assertEqual(states[0], ("idle", "working"))
        self.assertEqual(states[-1], ("working", "done"))
        raw = [e["entry"] for e in entries if annotation(e["entry"]) is None]
        self.assertEqual(raw[0]["type"], "session")
        self.assertEqual(raw[-1]["type"], "agent_end")
        # small pages give the same entries
        self.assertEqual(self.all_entries(s["id"], limit=2), entries)
        # follow=false pages even for a client that accepts a stream
        page = self.assertStatus(self.d.get(
            "/api/v1/sessions/%d/entries?follow=false&limit=1000"
            % s["id"], headers={"Accept": "text/event-stream"}), 200)
        self.assertEqual(page, {"items": entries, "next": None})
        # a cursor from the middle
        mid = entries[3]["offset"]
        page = self.assertStatus(self.d.get(
            "/api/v1/sessions/%d/entries?after=%d&limit=2"
            % (s["id"], mid)), 200)
        self.assertEqual(page["items"], entries[3:5])
        self.assertEqual(page["next"], str(entries[5]["offset"]))
        # the end of the file: nothing, and no next
        page = self.assertStatus(self.d.get(
            "/api/v1/sessions/%d/entries?after=%d" % (s["id"], len(data))),
            200)
        self.assertEqual(page, {"items": [], "next": None})

    def test_partial_and_bad_lines_skipped(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="p-1", args=["--scenario", "ok"])
        s = self.wait_ended("p-1")[0]
        before = self.all_entries(s["id"])
        path = self.path_of("p-1")
        # What a torn write or a foreign hand could leave: a line that is
        # not JSON, a good line, and a last line without its newline.
        with open(path, "ab") as f:
            f.write(b"this is not json\n{\"tail\":1}\n{\"partial\":")
        after = self.all_entries(s["id"])
        self.assertEqual(after[:len(before)], before)
        self.assertEqual([e["entry"] for e in after[len(before):]],
                         [{"tail": 1}])
        # the partial line is never consumed: the cursor stops before it
        size = os.path.getsize(path)
        page = self.assertStatus(self.d.get(
            "/api/v1/sessions/%d/entries?after=%d"
            % (s["id"], after[-1]["offset"])), 200)
        self.assertEqual(len(page["items"]), 1)
        self.assertEqual(page["next"], None)
        partial_at = size - len(b"{\"partial\":")
        page = self.assertStatus(self.d.get(
            "/api/v1/sessions/%d/entries?after=%d" % (s["id"], partial_at)),
            200)
        self.assertEqual(page["items"], [])

    def test_follow_over_sse(self):
        self.start_daemon(["--sse-heartbeat", "1"])
        self.spawn(runner="smoke", id="f-1",
                   args=["--scenario", "slow", "--delay-ms", "150"])
        items = wait_until(lambda: self.sessions("?agent=f-1&state=open")[
            "items"], WAIT)
        self.assertTrue(items)
        sid = items[0]["id"]
        st = SSEStream(self.d, "/api/v1/sessions/%d/entries?follow=true"
                       % sid)
        self.assertEqual(st.resp.status, 200)
        self.assertEqual(st.resp.getheader("Content-Type"),
                         "text/event-stream")
        got, ids, end, live = [], [], None, 0
        for fid, event, data in st.frames():
            if event == "entry":
                got.append(json.loads(data))
                ids.append(int(fid))
                # entries arrive while the session is still open
                if self.session(sid)["ended_at"] is None:
                    live += 1
            elif event == "end":
                end = json.loads(data)
                break
        st.close()
        # each frame's id is where the next entry starts
        self.assertEqual(ids[:-1], [g["offset"] for g in got[1:]])
        self.assertIsNotNone(end)
        self.assertEqual((end["id"], end["state"]), (sid, "done"))
        self.assertGreater(live, 3, "entries did not stream live")
        self.assertEqual(got, self.all_entries(sid))
        self.assertEqual(annotation(got[0]["entry"]), "spawn")
        self.assertEqual(annotation(got[-1]["entry"]), "exit")
        # resume with Last-Event-ID: what follows that entry, then end
        k = len(got) // 2
        resume_id = got[k]["offset"]
        st = SSEStream(self.d, "/api/v1/sessions/%d/entries" % sid,
                       headers={"Last-Event-ID": str(resume_id)})
        again = []
        for fid, event, data in st.frames():
            if event == "entry":
                again.append(json.loads(data))
            elif event == "end":
                break
        st.close()
        self.assertEqual(again, got[k:])

    def test_follow_waits_and_heartbeats(self):
        self.start_daemon(["--sse-heartbeat", "1"])
        self.spawn(runner="smoke", id="h-1", args=["--scenario", "hang"])
        items = wait_until(lambda: self.sessions("?agent=h-1&state=open")[
            "items"], WAIT)
        self.assertTrue(items)
        sid = items[0]["id"]
        st = SSEStream(self.d, "/api/v1/sessions/%d/entries" % sid)
        seen, beats = [], 0
        t0 = time.monotonic()
        for fid, event, data in st.frames():
            if event == "entry":
                seen.append(json.loads(data))
            elif event == "comment":
                beats += 1
                if beats == 2:
                    break
            self.assertLess(time.monotonic() - t0, WAIT)
        self.assertTrue(seen)
        # the kill is annotated and ends the stream
        self.assertStatus(self.d.post("/api/v1/agents/h-1/kill",
                                      {"grace_seconds": 0}), 200)
        end = None
        for fid, event, data in st.frames():
            if event == "entry":
                seen.append(json.loads(data))
            elif event == "end":
                end = json.loads(data)
                break
        st.close()
        self.assertIsNotNone(end)
        self.assertEqual(annotation(seen[-1]["entry"]), "exit")
        # grace 0: SIGTERM then SIGKILL at once; either may be the end
        self.assertIn(seen[-1]["entry"]["exit_status"], (137, 143))
        self.assertEqual(end["exit_status"],
                         seen[-1]["entry"]["exit_status"])

    def test_follow_over_socket(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="u-1",
                   args=["--scenario", "slow", "--delay-ms", "150"])
        items = wait_until(lambda: self.sessions("?agent=u-1&state=open")[
            "items"], WAIT)
        self.assertTrue(items)
        sid = items[0]["id"]
        got, live, prev_next = [], 0, None
        with self.d.socket_client(timeout=WAIT) as c:
            ans = c.call("session.entries", {"id": sid, "follow": True},
                         id=9)
            self.assertEqual((ans["id"], ans["ok"]), (9, True), ans)
            self.assertEqual(ans["result"], {"following": True, "after": 0})
            while True:
                line = c.read_answer()
                if line["event"] == "end":
                    end = line["session"]
                    break
                if line["event"] == "entry":
                    # each line says where the next one starts
                    if got:
                        self.assertEqual(line["offset"], prev_next)
                    prev_next = line["next"]
                    got.append({"offset": line["offset"],
                                "entry": line["entry"]})
                    if self.session(sid)["ended_at"] is None:
                        live += 1
            # the stream is over: the daemon closes the connection
            self.assertEqual(c.read_line(), b"")
        self.assertEqual((end["id"], end["state"]), (sid, "done"))
        self.assertGreater(live, 3, "entries did not stream live")
        self.assertEqual(got, self.all_entries(sid))

    def test_cli_follow(self):
        """colibri session entries ID --follow prints the entries as they
        come, over the socket and over HTTP, and exits when the run
        ends."""
        import subprocess
        from colibri_test import clean_env
        cli = os.environ.get("COLIBRI_CLI") or os.path.join(
            os.path.dirname(os.environ.get("COLIBRID", "")), "colibri")
        self.start_daemon()
        for n, http in ((1, False), (2, True)):
            agent = "cli-%d" % n
            self.spawn(runner="smoke", id=agent,
                       args=["--scenario", "slow", "--delay-ms", "100"])
            items = wait_until(lambda: self.sessions(
                "?agent=%s&state=open" % agent)["items"], WAIT)
            self.assertTrue(items)
            sid = items[0]["id"]
            base = (["--url", self.d.base_url, "--token-file",
                     self.d.token_path] if http
                    else ["--socket", self.d.socket_path])
            p = subprocess.run([cli] + base + ["session", "entries",
                                               str(sid), "--follow"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=clean_env(),
                               timeout=WAIT, universal_newlines=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            got = [json.loads(l) for l in p.stdout.splitlines()]
            # the run had ended when it returned: every line, in order
            self.assertIsNotNone(self.session(sid)["ended_at"])
            self.assertEqual(got, [e["entry"] for e in
                                   self.all_entries(sid)])
            self.assertEqual(annotation(got[-1]), "exit")

    def test_bus_events(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="b-1", args=["--scenario", "ok"])
        s = self.wait_ended("b-1")[0]
        st = SSEStream(self.d, "/api/v1/events?types=session.*"
                       "&last_event_id=0")
        got = []
        for fid, event, data in st.frames():
            if event in ("session.start", "session.end"):
                doc = json.loads(data)
                self.assertEqual((doc["subject"], doc["agent"]),
                                 ("session:%d" % s["id"], "b-1"))
                got.append((event, doc["data"]))
            if len(got) == 2:
                break
        st.close()
        self.assertEqual([g[0] for g in got], ["session.start",
                                               "session.end"])
        self.assertEqual(got[0][1]["id"], s["id"])
        self.assertIsNone(got[0][1]["ended_at"])
        self.assertEqual(got[1][1], s)

    def test_retention_by_size(self):
        self.start_daemon(["--session-max-kb", "4"])
        self.spawn(runner="smoke", id="r-1", args=["--scenario", "ok"])
        first = self.wait_ended("r-1")[0]
        path1 = self.path_of("r-1")
        self.assertTrue(os.path.exists(path1))
        # each ok session is a few KiB: after enough runs the oldest go
        n = 1
        while os.path.exists(path1) and n < 8:
            n += 1
            self.spawn(runner="smoke", id="r-%d" % n,
                       args=["--scenario", "ok"])
            self.wait_ended("r-%d" % n)
            wait_until(lambda: not os.path.exists(path1), 3)
        self.assertFalse(os.path.exists(path1), "never pruned")
        self.assertProblem(self.d.get("/api/v1/sessions/%d"
                                      % first["id"]), 404,
                           "session_not_found")
        # what is left fits the budget, and the newest is always kept
        left = self.sessions()["items"]
        self.assertTrue(left)
        self.assertEqual(left[0]["agent"], "r-%d" % n)
        self.assertLessEqual(sum(s["size"] for s in left), 4096)
        for s in left:
            self.assertTrue(os.path.exists(os.path.join(
                self.d.data_dir, "sessions", s["agent"])))

    def test_kill9_mid_write(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="k-1",
                   args=["--scenario", "chatty", "--lines", "5000000"])
        items = wait_until(lambda: self.sessions("?agent=k-1&state=open")[
            "items"], WAIT)
        self.assertTrue(items)
        sid = items[0]["id"]
        path = self.path_of("k-1")
        self.assertTrue(wait_until(lambda: os.path.getsize(path) > 200000,
                                   WAIT))
        self.d.kill9()
        time.sleep(0.3)
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        tail = lines.pop()          # b"" when the file ends in a newline
        for line in lines:
            json.loads(line)        # every whole line is whole JSON
        self.assertEqual(json.loads(lines[0])["colibri"], "spawn")
        whole = len(data) - len(tail)
        # the restarted daemon closes it: the file's size, its whole
        # lines, and an error (it never ended)
        self.d.start()
        doc = self.session(sid)
        self.assertIsNotNone(doc["ended_at"])
        self.assertEqual(doc["state"], "error")
        self.assertEqual(doc["size"], os.path.getsize(path))
        self.assertEqual(doc["lines"], len(lines))
        self.assertEqual(self.sessions("?state=open")["items"], [])
        # and its entries are the whole lines
        entries = self.all_entries(sid)
        self.assertEqual(len(entries), len(lines))
        self.assertLessEqual(entries[-1]["offset"], whole)

    def test_refusals(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="x-1", args=["--scenario", "ok"])
        s = self.wait_ended("x-1")[0]
        bad = [
            ("/api/v1/sessions/999999", 404, "session_not_found"),
            ("/api/v1/sessions/999999/entries", 404, "session_not_found"),
            ("/api/v1/sessions/abc", 404, "not_found"),
            ("/api/v1/sessions/0", 404, None),
            ("/api/v1/sessions?state=bogus", 400, None),
            ("/api/v1/sessions?agent=-bad", 400, None),
            ("/api/v1/sessions?since=yesterday", 400, "invalid_argument"),
            ("/api/v1/sessions?until=2026-13-01T00:00:00Z", 400,
             "invalid_argument"),
            ("/api/v1/sessions?after=x", 400, "invalid_cursor"),
            ("/api/v1/sessions?limit=0", 400, None),
            ("/api/v1/sessions?limit=1001", 400, None),
            ("/api/v1/sessions?colour=red", 400, None),
            ("/api/v1/sessions/%d/entries?after=99999999" % s["id"], 400,
             "invalid_cursor"),
            ("/api/v1/sessions/%d/entries?after=-1" % s["id"], 400,
             "invalid_cursor"),
            ("/api/v1/sessions/%d/entries?limit=1001" % s["id"], 400, None),
            ("/api/v1/sessions/%d/entries?after=99999999&follow=true"
             % s["id"], 400, "invalid_cursor"),
            ("/api/v1/sessions/999999/entries?follow=true", 404,
             "session_not_found"),
        ]
        for path, status, code in bad:
            self.assertProblem(self.d.get(path), status, code, path)
        # the socket refuses a bad follow with a problem, and keeps the
        # connection
        with self.d.socket_client() as c:
            ans = c.call("session.entries", {"id": 999999, "follow": True})
            self.assertEqual(ans["error"]["code"], "session_not_found")
            ans = c.call("session.entries", {"id": s["id"], "follow": True,
                                             "after": "99999999"})
            self.assertEqual(ans["error"]["code"], "invalid_cursor")
            ans = c.call("session.get", {"id": s["id"]})
            self.assertTrue(ans["ok"], ans)
        # the file gone (by hand): the index stays, entries say so
        os.unlink(self.path_of("x-1"))
        self.assertProblem(self.d.get("/api/v1/sessions/%d/entries"
                                      % s["id"]), 404,
                           "session_file_missing")
        # following is a stream: refused where there is none (MCP)
        conn = self.d.connection()
        conn.request("POST", "/mcp", body=json.dumps({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "session_entries",
                       "arguments": {"id": s["id"], "follow": True}}}),
            headers={"Authorization": "Bearer " + self.d.token,
                     "Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"})
        ans = json.loads(conn.getresponse().read())
        conn.close()
        self.assertTrue(ans["result"]["isError"], ans)
        self.assertEqual(ans["result"]["structuredContent"]["code"],
                         "stream_only")


if __name__ == "__main__":
    import colibri_test
    colibri_test.main()
