"""The event bus, the SSE stream and agent event ingestion of colibrid,
with real clients: `curl -N` and a small SSE client of this file's own
(raw sockets, chunked transfer decoding, the text/event-stream framing:
id, event, data, comments, retry).

Covered: live delivery of every task and agent event, once and in id
order; the types/agent filters and their refusals; heartbeats; replay by
?last_event_id= and Last-Event-ID, including reconnects after forced
disconnects while a writer keeps committing (nothing lost, nothing twice);
reset for ids the store no longer has (pruned by --events-keep) or never
gave; the subscriber cap (503 + Retry-After); 1,000 concurrent
subscribers; no CPU while subscribers idle; SIGTERM with subscribers
connected; and ingestion: every pi transcript of tests/fixtures/pi, bad
lines reported by number, JSON array bodies, refusals, the state resource
and its history, the provisional agent_end settling after its grace
period, and an agent.state event per transition."""

import json
import os
import random
import resource
import selectors
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time
from urllib.parse import quote

import colibri_test
from colibri_test import (Daemon, DaemonTestCase, SharedDaemonTestCase,
                          wait_until)

TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
FIXTURES = os.path.join(colibri_test.srcdir(), "tests", "fixtures", "pi")

# How long to wait for something that should come at once.  Generous:
# only a failing test waits this long, and sanitizer builds are slow.
WAIT = 30.0


# --- the SSE client ------------------------------------------------------

class Event:
    """One dispatched SSE event: id (the stream's last event id, text),
    event (type; "message" when absent), data (text)."""

    def __init__(self, id, event, data, had_id):
        self.id = id
        self.event = event
        self.data = data
        self.had_id = had_id        # the frame carried its own id: line

    @property
    def json(self):
        return json.loads(self.data)

    @property
    def num(self):
        return int(self.id)

    def __repr__(self):
        return "Event(id=%r, event=%r, data=%.120r)" % (self.id, self.event,
                                                        self.data)


class SSEParser:
    """Incremental text/event-stream parser following the HTML standard's
    algorithm: lines end in LF, CRLF or CR; a blank line dispatches; ':'
    starts a comment; 'field: value' with one optional space; fields id,
    event, data (joined with LF), retry (digits only).  feed(bytes)
    returns the new items: ("comment", text), ("retry", ms),
    ("event", Event)."""

    def __init__(self):
        self.buf = b""
        self.last_id = ""
        self.retry = None
        self._type = ""
        self._data = []
        self._had_id = False

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            lf = self.buf.find(b"\n")
            cr = self.buf.find(b"\r")
            if lf < 0 and cr < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr == len(self.buf) - 1:
                    break           # maybe CRLF: wait for the next byte
                line = self.buf[:cr]
                skip = 2 if self.buf[cr + 1:cr + 2] == b"\n" else 1
                self.buf = self.buf[cr + skip:]
            else:
                line = self.buf[:lf]
                self.buf = self.buf[lf + 1:]
            self._line(line.decode("utf-8"), out)
        return out

    def _line(self, line, out):
        if line == "":
            if self._data:
                out.append(("event", Event(self.last_id,
                                           self._type or "message",
                                           "\n".join(self._data),
                                           self._had_id)))
            self._type, self._data, self._had_id = "", [], False
            return
        if line.startswith(":"):
            text = line[1:]
            out.append(("comment", text[1:] if text.startswith(" ")
                        else text))
            return
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self.last_id = value
                self._had_id = True
        elif field == "retry":
            if value.isdigit():
                self.retry = int(value)
                out.append(("retry", self.retry))


class ChunkedDecoder:
    """HTTP/1.1 chunked transfer coding, incrementally."""

    def __init__(self):
        self.buf = b""
        self.state = "size"
        self.left = 0
        self.done = False

    def feed(self, data):
        self.buf += data
        out = []
        while not self.done:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                size = self.buf[:i].split(b";")[0].strip()
                self.buf = self.buf[i + 2:]
                self.left = int(size, 16)
                self.state = "data" if self.left else "trailer"
            elif self.state == "data":
                if not self.buf:
                    break
                take = self.buf[:self.left]
                out.append(take)
                self.buf = self.buf[len(take):]
                self.left -= len(take)
                if self.left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise AssertionError("bad chunk framing: %r"
                                         % self.buf[:20])
                self.buf = self.buf[2:]
                self.state = "size"
            else:                   # trailer section, up to a blank line
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                if not line:
                    self.done = True
        return b"".join(out)


class SSEStream:
    """The client side of one GET /api/v1/events, transport-free: feed()
    the raw bytes read from the socket.  Parses the response head, then
    decodes the body (chunked, or up to the close) into items."""

    def __init__(self):
        self.head = b""
        self.status = None
        self.headers = {}
        self.body = b""             # a non-stream answer (problem+json)
        self.dec = None
        self.parser = SSEParser()
        self.items = []
        self.ended = False          # end of stream or connection closed
        self.clean_end = False      # the last chunk came

    def request(self, d, query="", headers=None, token=True):
        lines = ["GET /api/v1/events%s HTTP/1.1" % query,
                 "Host: 127.0.0.1:%d" % d.port,
                 "Accept: text/event-stream"]
        if token:
            lines.append("Authorization: Bearer " + d.token)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")

    def feed(self, data):
        if self.status is None:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                return
            head, data = self.head[:i], self.head[i + 4:]
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            if "chunked" in self.headers.get("transfer-encoding", ""):
                self.dec = ChunkedDecoder()
        if self.dec is not None:
            data = self.dec.feed(data)
            if self.dec.done:
                self.ended = self.clean_end = True
        if self.status == 200 and self.headers.get(
                "content-type", "").startswith("text/event-stream"):
            self.items.extend(self.parser.feed(data))
        else:
            self.body += data
            n = self.headers.get("content-length")
            if n is not None and len(self.body) >= int(n):
                self.ended = True

    def eof(self):
        self.ended = True

    def events(self):
        return [it[1] for it in self.items if it[0] == "event"]

    def comments(self):
        return [it[1] for it in self.items if it[0] == "comment"]

    def body_json(self):
        return json.loads(self.body.decode("utf-8"))


class SSEClient(SSEStream):
    """A blocking SSE client on its own socket.  The constructor connects,
    sends the request and waits for the response head."""

    def __init__(self, d, query="", headers=None, token=True,
                 timeout=WAIT):
        super().__init__()
        self.sock = socket.create_connection(("127.0.0.1", d.port),
                                             timeout=timeout)
        self.sock.sendall(self.request(d, query, headers, token))
        self.seen = 0               # events handed out by next_event
        self.wait_for(lambda s: s.status is not None, timeout,
                      "the response head")

    def pump(self, timeout):
        """Reads once (up to timeout s); False when nothing came."""
        if self.sock is None:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof()
            return False
        self.feed(data)
        return True

    def wait_for(self, pred, timeout=WAIT, what="a condition"):
        deadline = time.monotonic() + timeout
        while not pred(self):
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                raise AssertionError(
                    "SSE: no %s within %.1f s (status %r, ended %r); "
                    "items so far: %r" % (what, timeout, self.status,
                                          self.ended, self.items[-10:]))
            self.pump(min(left, 0.5))
        return True

    def next_events(self, n, timeout=WAIT):
        """The next n events not yet returned (comments are skipped)."""
        self.wait_for(lambda s: len(s.events()) >= s.seen + n, timeout,
                      "%d more events (have %d)" % (n, len(self.events())
                                                    - self.seen))
        evs = self.events()[self.seen:self.seen + n]
        self.seen += n
        return evs

    def until_id(self, last_id, timeout=WAIT):
        """Events up to and including the one with id last_id."""
        def done(s):
            evs = s.events()
            return evs and evs[-1].had_id and evs[-1].num >= last_id
        self.wait_for(done, timeout, "event %d" % last_id)
        evs = self.events()[self.seen:]
        self.seen = len(self.events())
        return evs

    def heartbeats(self):
        return [c for c in self.comments() if c == "heartbeat"]

    def close(self, abort=False):
        if self.sock is None:
            return
        if abort:
            # RST instead of FIN: the rudest disconnect there is.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()
        self.sock = None


class CurlStream:
    """`curl -N` reading the stream; its stdout goes through SSEParser in
    a thread of its own."""

    def __init__(self, d, query="", headers=None):
        cmd = ["curl", "-sS", "-N", "-H", "Authorization: Bearer " + d.token,
               "-H", "Accept: text/event-stream"]
        for k, v in (headers or {}).items():
            cmd += ["-H", "%s: %s" % (k, v)]
        cmd.append("%s/api/v1/events%s" % (d.base_url, query))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.parser = SSEParser()
        self.items = []
        self.ended = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 1 << 16)
            with self.cond:
                if not data:
                    self.ended = True
                    self.cond.notify_all()
                    return
                self.items.extend(self.parser.feed(data))
                self.cond.notify_all()

    def events(self):
        with self.cond:
            return [it[1] for it in self.items if it[0] == "event"]

    def comments(self):
        with self.cond:
            return [it[1] for it in self.items if it[0] == "comment"]

    def wait_for(self, pred, timeout=WAIT, what="a condition"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    raise AssertionError(
                        "curl: no %s within %.1f s (ended %r); items: %r; "
                        "stderr: %r" % (what, timeout, self.ended,
                                        self.items[-10:],
                                        self._stderr()))
                self.cond.wait(min(left, 0.5))

    def _stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.thread.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


class StreamPool:
    """Many SSE streams in one thread: non-blocking sockets under a
    selector, each with an SSEStream."""

    def __init__(self, d, n, query=""):
        self.d = d
        self.sel = selectors.DefaultSelector()
        self.streams = []
        self.socks = []
        req = SSEStream().request(d, query)
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=WAIT)
            s.sendall(req)
            s.setblocking(False)
            st = SSEStream()
            self.socks.append(s)
            self.streams.append(st)
            self.sel.register(s, selectors.EVENT_READ, st)
            if i % 50 == 49:
                self.poll(0)        # keep the buffers drained meanwhile

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            st = key.data
            try:
                data = key.fileobj.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                data = b""
            if data:
                st.feed(data)
            else:
                st.eof()
                self.sel.unregister(key.fileobj)

    def wait_for(self, pred, timeout=WAIT, what="a condition"):
        deadline = time.monotonic() + timeout
        while True:
            bad = [i for i, st in enumerate(self.streams) if not pred(st)]
            if not bad:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                st = self.streams[bad[0]]
                raise AssertionError(
                    "%d of %d streams without %s after %.1f s; first: "
                    "status %r, ended %r, %d events, items %r"
                    % (len(bad), len(self.streams), what, timeout,
                       st.status, st.ended, len(st.events()),
                       st.items[-5:]))
            self.poll(min(left, 0.2))

    def close(self):
        for s in self.socks:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.sel.close()


# --- helpers -------------------------------------------------------------

def subscribed(st):
    """The stream has its head and the retry hint: the daemon has made
    the subscription (sse_start writes the retry line)."""
    return st.status == 200 and st.parser.retry is not None


def db_event_rows(d, after=0):
    """(id, type, subject, agent) of every committed event with id >
    after, from the database file, read-only."""
    con = sqlite3.connect("file:%s?mode=ro" % d.db_path, uri=True,
                          timeout=30)
    try:
        return [tuple(r) for r in con.execute(
            "SELECT id, type, subject, agent FROM events WHERE id > ? "
            "ORDER BY id", (after,))]
    finally:
        con.close()


def db_max_event(d):
    con = sqlite3.connect("file:%s?mode=ro" % d.db_path, uri=True,
                          timeout=30)
    try:
        return con.execute("SELECT coalesce(max(id), 0) FROM events"
                           ).fetchone()[0]
    finally:
        con.close()


def read_fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def tr(frm, to, reason, substate="", truncated=False):
    return {"from": frm, "to": to, "reason": reason, "substate": substate,
            "truncated": truncated}


def agent_end(stop_reason, error=None, text=""):
    """A pi agent_end whose last assistant message stopped so (the shape
    of tests/fixtures/pi/retry.jsonl)."""
    msg = {"role": "assistant", "content": [], "api": "openai-completions",
           "provider": "mock", "model": "synthetic",
           "usage": {"input": 0, "output": 0, "cacheRead": 0,
                     "cacheWrite": 0, "totalTokens": 0,
                     "cost": {"input": 0, "output": 0, "cacheRead": 0,
                              "cacheWrite": 0, "total": 0}},
           "stopReason": stop_reason, "timestamp": 1795885279010}
    if text:
        msg["content"] = [{"type": "text", "text": text}]
    if error is not None:
        msg["errorMessage"] = error
    return {"type": "agent_end",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hi"}],
                "timestamp": 1795885278900}, msg]}


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events).encode("utf-8")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14, 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class EventTestBase(DaemonTestCase):
    """Helpers over a daemon self.d."""

    def apath(self, agent, suffix=""):
        return "/api/v1/agents/%s%s" % (quote(agent, safe=""), suffix)

    def tpath(self, task, suffix=""):
        tid = task if isinstance(task, int) else task["id"]
        return "/api/v1/tasks/%d%s" % (tid, suffix)

    def register(self, agent, d=None, **fields):
        d = d or self.d
        fields["id"] = agent
        return self.assertStatus(d.post("/api/v1/agents", fields), 201,
                                 "register %s" % agent)

    def ingest(self, agent, body, d=None, status=200,
               content_type="application/x-ndjson"):
        d = d or self.d
        if isinstance(body, (bytes, str)):
            r = d.post(self.apath(agent, "/events"), raw_body=body,
                       content_type=content_type)
        else:
            r = d.post(self.apath(agent, "/events"), body,
                       content_type=content_type)
        if status != 200:
            return r
        return self.assertStatus(r, 200, "ingest for %s" % agent)

    def assertEnvelope(self, ev):
        """The frame and its JSON document agree."""
        doc = ev.json
        self.assertTrue(ev.had_id, ev)
        self.assertEqual(doc["id"], ev.num, ev)
        self.assertEqual(doc["type"], ev.event, ev)
        self.assertRegex(doc["time"], TIME_RE)
        self.assertIn("subject", doc)
        self.assertIn("agent", doc)
        self.assertIn("data", doc)
        return doc

    def assertIncreasing(self, evs):
        nums = [e.num for e in evs]
        self.assertEqual(nums, sorted(set(nums)),
                         "ids not strictly increasing: %r" % nums)


# --- streams on a shared daemon ------------------------------------------

class StreamTests(EventTestBase, SharedDaemonTestCase):
    """A shared daemon with one-second heartbeats; nothing else writes to
    it while a test runs, so every event a stream shows is the test's."""

    daemon_args = ["--sse-heartbeat", "1"]

    def setUp(self):
        super().setUp()
        self.closers = []

    def tearDown(self):
        for c in self.closers:
            try:
                c()
            except Exception:
                pass
        super().tearDown()

    def client(self, query="", **kw):
        c = SSEClient(self.d, query, **kw)
        self.closers.append(c.close)
        return c

    def curl(self, query="", **kw):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        c = CurlStream(self.d, query, **kw)
        self.closers.append(c.close)
        return c

    def quiet_after(self, stream, n=1):
        """Waits for n heartbeats that began after now: heartbeats come
        only when a stream has nothing else to send, so whatever was
        published before is then in the stream."""
        have = len(stream.heartbeats()) if isinstance(stream, SSEClient) \
            else stream.comments().count("heartbeat")
        # One heartbeat may have been on its way already: wait for one more.
        want = have + n + 1
        if isinstance(stream, SSEClient):
            stream.wait_for(lambda s: len(s.heartbeats()) >= want, WAIT,
                            "%d heartbeats" % want)
        else:
            stream.wait_for(lambda s: s.comments().count("heartbeat")
                            >= want, WAIT, "%d heartbeats" % want)

    # --- live delivery -----------------------------------------------

    def test_live_delivery_own_client_and_curl(self):
        own = self.client()
        cu = self.curl()
        own.wait_for(subscribed, what="the retry hint")
        cu.wait_for(lambda s: s.parser.retry is not None,
                    what="the retry hint")
        self.assertEqual(own.parser.retry, 2000)
        self.assertEqual(own.items[0], ("retry", 2000),
                         "retry comes first")
        self.assertEqual(own.headers["content-type"], "text/event-stream")
        self.assertEqual(cu.parser.retry, 2000)

        d = self.d
        t1 = d.create_task(title="live one")
        t2 = d.create_task(title="live two", priority=1)
        a = "live-a"
        self.register(a, kind="pi")
        c1 = self.assertStatus(d.post(self.tpath(t1, "/claim"), {
            "agent": a, "lease_seconds": 60}), 200)
        self.assertStatus(d.post(self.tpath(t1, "/complete"), {
            "agent": a, "result": {"ok": True}}), 200)
        self.assertStatus(d.patch(self.apath(a), {"labels": ["gpu"]}), 200)
        self.assertStatus(d.patch(self.tpath(t2), {"version": 1,
                                                   "title": "renamed"}), 200)
        self.assertStatus(d.post(self.tpath(t2, "/claim"), {"agent": a}),
                          200)
        self.assertStatus(d.post(self.tpath(t2, "/release"), {"agent": a}),
                          200)
        self.assertStatus(d.delete(self.tpath(t2)), 204)
        self.ingest(a, [{"type": "agent_start"}],
                    content_type="application/json")
        self.assertStatus(d.delete(self.apath(a)), 204)
        s1, s2, sa = "task:%d" % t1["id"], "task:%d" % t2["id"], "agent:" + a
        want = [("task.created", s1, None), ("task.created", s2, None),
                ("agent.registered", sa, a), ("task.claimed", s1, a),
                ("task.completed", s1, a), ("agent.updated", sa, a),
                ("task.updated", s2, None), ("task.claimed", s2, a),
                ("task.released", s2, a), ("task.deleted", s2, None),
                ("agent.state", sa, a), ("agent.removed", sa, a)]

        evs = own.next_events(len(want))
        cu.wait_for(lambda s: len(s.events()) >= len(want),
                    what="%d events" % len(want))
        # Nothing more comes: a heartbeat after the last write means the
        # stream had nothing left to send.
        self.quiet_after(own)
        self.quiet_after(cu)
        self.assertEqual(len(own.events()), len(want), own.events())
        self.assertEqual(len(cu.events()), len(want), cu.events())

        self.assertIncreasing(evs)
        got = []
        for ev in evs:
            doc = self.assertEnvelope(ev)
            got.append((ev.event, doc["subject"], doc["agent"]))
        self.assertEqual(got, want)
        # The same frames for curl, byte for byte.
        self.assertEqual([(e.id, e.event, e.data) for e in cu.events()],
                         [(e.id, e.event, e.data) for e in evs])
        # And the same as the events table.
        rows = db_event_rows(d, evs[0].num - 1)[:len(want)]
        self.assertEqual([r[0] for r in rows], [e.num for e in evs])
        self.assertEqual([(r[1], r[2], r[3]) for r in rows], want)

        docs = [e.json["data"] for e in evs]
        self.assertEqual(docs[0]["id"], t1["id"])
        self.assertEqual(docs[0]["title"], "live one")
        self.assertEqual(docs[0]["status"], "todo")
        self.assertEqual(docs[1]["priority"], 1)
        self.assertEqual(docs[2]["id"], a)
        self.assertEqual(docs[2]["kind"], "pi")
        # task.claimed carries the claim's answer: outcome and task.
        self.assertEqual(docs[3]["outcome"], "claimed")
        self.assertEqual(docs[3]["task"]["status"], "in_progress")
        self.assertEqual(docs[3]["task"]["id"], t1["id"])
        self.assertEqual(docs[3]["task"]["lease"]["holder"], a)
        self.assertEqual(docs[7]["outcome"], "claimed")
        self.assertEqual(docs[4]["status"], "done")
        self.assertEqual(docs[5]["labels"], ["gpu"])
        self.assertEqual(docs[6]["title"], "renamed")
        self.assertEqual(docs[8]["status"], "todo")
        self.assertEqual(docs[9]["id"], t2["id"])
        self.assertEqual((docs[10]["from"], docs[10]["to"],
                          docs[10]["reason"]),
                         ("idle", "working", "agent_start"))
        self.assertEqual(docs[11]["id"], a)
        # The event says what the claim's answer said.
        self.assertEqual(docs[3], c1)

    # --- filters ------------------------------------------------------

    def test_filters(self):
        d = self.d
        everything = self.client()
        tasks = self.client("?types=task.*")
        mixed = self.client("?types=agent.state,task.created")
        byagent = self.client("?agent=filt-x")
        both = self.client("?types=task.*&agent=filt-x")
        exact = self.client("?types=task.claimed")
        streams = [everything, tasks, mixed, byagent, both, exact]
        for s in streams:
            s.wait_for(subscribed, what="the retry hint")

        self.register("filt-x")
        self.register("filt-y")
        t = d.create_task(title="filtered")
        self.assertStatus(d.post(self.tpath(t, "/claim"),
                                 {"agent": "filt-y"}), 200)
        self.assertStatus(d.post(self.tpath(t, "/release"),
                                 {"agent": "filt-y"}), 200)
        self.assertStatus(d.post(self.tpath(t, "/claim"),
                                 {"agent": "filt-x"}), 200)
        self.ingest("filt-y", ndjson([{"type": "agent_start"}]))
        self.assertStatus(d.patch(self.apath("filt-x"), {"host": "h2"}),
                          200)
        self.assertStatus(d.post(self.tpath(t, "/complete"),
                                 {"agent": "filt-x"}), 200)
        self.ingest("filt-x", ndjson([{"type": "agent_start"}]))

        allev = everything.next_events(10)
        self.assertEqual([e.event for e in allev], [
            "agent.registered", "agent.registered", "task.created",
            "task.claimed", "task.released", "task.claimed", "agent.state",
            "agent.updated", "task.completed", "agent.state"])
        self.assertIncreasing(allev)

        def matches(ev, types, agent):
            doc = ev.json
            if agent is not None and doc["agent"] != agent:
                return False
            if types is None:
                return True
            for p in types.split(","):
                if p.endswith("*") and ev.event.startswith(p[:-1]):
                    return True
                if ev.event == p:
                    return True
            return False

        cases = [
            (tasks, "task.*", None, ["task.created", "task.claimed",
                                     "task.released", "task.claimed",
                                     "task.completed"]),
            (mixed, "agent.state,task.created", None,
             ["task.created", "agent.state", "agent.state"]),
            (byagent, None, "filt-x", ["agent.registered", "task.claimed",
                                       "agent.updated", "task.completed",
                                       "agent.state"]),
            (both, "task.*", "filt-x", ["task.claimed", "task.completed"]),
            (exact, "task.claimed", None, ["task.claimed", "task.claimed"]),
        ]
        for stream, types, agent, names in cases:
            want = [e for e in allev if matches(e, types, agent)]
            self.assertEqual([e.event for e in want], names)
            got = stream.until_id(want[-1].num)
            self.assertEqual([(e.id, e.event, e.data) for e in got],
                             [(e.id, e.event, e.data) for e in want],
                             "types=%s agent=%s" % (types, agent))
        for e in byagent.events():
            self.assertEqual(e.json["agent"], "filt-x")
        # Nothing after the last expected event either.
        self.quiet_after(everything)
        for stream in streams[1:]:
            self.quiet_after(stream, 0)
        for stream, _, _, names in cases:
            self.assertEqual(len(stream.events()), len(names))
        self.assertEqual(len(everything.events()), 10)

    def test_bad_filters_are_refused(self):
        bad_types = ["Task.created", "task.*x", "*task", "task,,agent.state",
                     "task.created,", ",task.created", "task created",
                     "task-created", "t" * 65, "task.\u00e9"]
        for value in bad_types:
            r = self.d.get("/api/v1/events?types=" + quote(value, safe=""),
                           timeout=10)
            self.assertProblem(r, 400, "invalid_argument",
                               "types=%r" % value)
        r = self.d.get("/api/v1/events?types=", timeout=10)
        self.assertProblem(r, 400, msg="empty types")
        r = self.d.get("/api/v1/events?agent=" + quote("a b"), timeout=10)
        self.assertProblem(r, 400, msg="agent not a slug")
        r = self.d.get("/api/v1/events?last_event_id=abc", timeout=10)
        self.assertProblem(r, 400, msg="last_event_id not a number")
        r = self.d.get("/api/v1/events?last_event_id=-1", timeout=10)
        self.assertProblem(r, 400, msg="negative last_event_id")
        r = self.d.get("/api/v1/events", headers={"Last-Event-ID": "x1"},
                       timeout=10)
        self.assertProblem(r, 400, "invalid_header")
        r = self.d.get("/api/v1/events", token=False, timeout=10)
        self.assertProblem(r, 401)
        # "*" alone and a bare prefix are fine.
        for ok in ("*", "task.*,agent.*", "skill.changed"):
            c = self.client("?types=" + quote(ok, safe=""))
            c.wait_for(subscribed, what="the retry hint (types=%s)" % ok)
            self.assertEqual(c.status, 200)
            c.close()

    # --- heartbeat ----------------------------------------------------

    def test_heartbeat_while_idle(self):
        start = time.monotonic()
        c = self.client()
        c.wait_for(lambda s: len(s.heartbeats()) >= 1, 3.5,
                   "a heartbeat within 3 s")
        first = time.monotonic() - start
        c.wait_for(lambda s: len(s.heartbeats()) >= 2, 3.5,
                   "a second heartbeat")
        self.assertLess(first, 3.5)
        self.assertEqual(c.events(), [])
        # The heartbeat is a comment line of its own, then a blank line.
        self.assertIn(("comment", "heartbeat"), c.items)

    # --- replay -------------------------------------------------------

    def test_replay_by_query_and_header(self):
        d = self.d
        base = db_max_event(d)
        made = [d.create_task(title="replay %d" % i) for i in range(6)]
        rows = db_event_rows(d, base)
        self.assertEqual([r[2] for r in rows],
                         ["task:%d" % t["id"] for t in made])
        ids = [r[0] for r in rows]
        n = ids[2]
        by_query = self.client("?last_event_id=%d" % n)
        by_header = self.client(headers={"Last-Event-ID": str(n)})
        for c in (by_query, by_header):
            got = c.next_events(3)
            self.assertEqual([e.num for e in got], ids[3:])
            self.assertEqual([e.json["data"]["id"] for e in got],
                             [t["id"] for t in made[3:]])
            for e in got:
                self.assertEnvelope(e)
        # Then live, with no gap and no duplicate at the switch.
        t = d.create_task(title="after replay")
        for c in (by_query, by_header):
            e = c.next_events(1)[0]
            self.assertEqual(e.json["data"]["id"], t["id"])
            self.assertEqual(e.num, db_max_event(d))
            self.quiet_after(c, 0)
            self.assertEqual(len(c.events()), 4)
        # The query wins over the header when both are given.
        c = self.client("?last_event_id=%d" % ids[4],
                        headers={"Last-Event-ID": str(ids[0])})
        e = c.next_events(1)[0]
        self.assertEqual(e.num, ids[5])
        # From the newest id: nothing to replay; from 0: everything.
        c = self.client("?last_event_id=%d" % db_max_event(d))
        self.quiet_after(c, 0)
        self.assertEqual(c.events(), [])
        top = db_max_event(d)
        c = self.client("?last_event_id=0")
        got = c.until_id(top)
        self.assertEqual([e.num for e in got],
                         [r[0] for r in db_event_rows(d, 0)])

    def test_reset_for_an_id_never_given(self):
        d = self.d
        head = db_max_event(d)
        c = self.client("?last_event_id=%d" % (head + 1000))
        e = c.next_events(1)[0]
        self.assertEqual(e.event, "reset")
        self.assertEqual(e.json["reason"], "retention")
        self.assertEqual(e.num, head, "the reset carries the newest id")
        self.assertEqual(c.items[0], ("retry", 2000))
        # ... and the live stream follows.
        t = d.create_task(title="after reset")
        e = c.next_events(1)[0]
        self.assertEqual(e.event, "task.created")
        self.assertEqual(e.json["data"]["id"], t["id"])
        self.assertEqual(e.num, head + 1)

    def test_replay_after_forced_disconnects_while_writing(self):
        d = self.d
        base = db_max_event(d)
        stop = threading.Event()
        made = []
        errors = []

        def writer():
            try:
                while not stop.is_set():
                    made.append(d.create_task(title="w%d" % len(made))["id"])
            except Exception as e:       # reported by the test below
                errors.append(e)

        th = threading.Thread(target=writer, daemon=True)
        th.start()
        rng = random.Random(4)
        received = []
        per_conn = []
        last = base
        rounds = 0
        t_end = time.monotonic() + 3.0
        try:
            while rounds < 8 or time.monotonic() < t_end:
                if rounds % 2:
                    c = SSEClient(d, headers={"Last-Event-ID": str(last)})
                else:
                    c = SSEClient(d, "?last_event_id=%d" % last)
                try:
                    got = c.next_events(rng.randint(3, 40))
                finally:
                    c.close(abort=rng.random() < 0.7)
                per_conn.append([e.num for e in got])
                received.extend(e.num for e in got)
                for e in got:
                    self.assertEqual(e.event, "task.created", e)
                last = got[-1].num
                rounds += 1
                # Stay away a little so that the next one replays.
                time.sleep(rng.uniform(0, 0.15))
        finally:
            stop.set()
            th.join(WAIT)
        self.assertEqual(errors, [])
        top = db_max_event(d)
        c = self.client(headers={"Last-Event-ID": str(last)})
        if top > last:
            got = c.until_id(top)
            per_conn.append([e.num for e in got])
            received.extend(e.num for e in got)
        committed = [r[0] for r in db_event_rows(d, base)]
        self.assertGreater(len(committed), 50, "the writer wrote too little")
        for ids in per_conn:
            self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(len(received), len(set(received)),
                         "an event came twice")
        self.assertEqual(received, committed,
                         "lost: %r, extra: %r" % (
                             sorted(set(committed) - set(received))[:10],
                             sorted(set(received) - set(committed))[:10]))
        self.assertEqual(len(made), len(committed))

    # --- many subscribers -------------------------------------------------

    def test_a_thousand_subscribers_get_every_event(self):
        n = 1000
        limit = raise_nofile(n + 200)
        if limit < n + 100:
            self.skipTest("open files limited to %d" % limit)
        t0 = time.monotonic()
        pool = StreamPool(self.d, n)
        self.closers.append(pool.close)
        pool.wait_for(subscribed, WAIT, "the retry hint")
        t_sub = time.monotonic() - t0
        made = [self.d.create_task(title="fan %d" % i)["id"]
                for i in range(20)]
        pool.wait_for(lambda st: len(st.events()) >= 20, WAIT, "20 events")
        t_all = time.monotonic() - t0
        first = pool.streams[0].events()
        ids = [e.num for e in first]
        self.assertIncreasing(first)
        self.assertEqual([e.json["data"]["id"] for e in first], made)
        for i, st in enumerate(pool.streams):
            evs = st.events()
            self.assertEqual([e.num for e in evs], ids, "stream %d" % i)
            self.assertEqual([e.event for e in evs], ["task.created"] * 20)
            self.assertFalse(st.ended, "stream %d ended" % i)
        self.assertLess(t_all, 20, "subscribed in %.1f s, all delivered "
                        "in %.1f s" % (t_sub, t_all))


# --- daemons of their own --------------------------------------------------

class OwnDaemonTests(EventTestBase):

    def test_subscriber_cap(self):
        d = self.daemon(["--sse-max-subscribers", "2",
                         "--sse-heartbeat", "1"])
        a = SSEClient(d)
        b = SSEClient(d)
        try:
            for c in (a, b):
                c.wait_for(subscribed, what="the retry hint")
            r = d.get("/api/v1/events", timeout=10)
            self.assertProblem(r, 503, "too_many_subscribers")
            self.assertRegex(r.headers.get("Retry-After") or "", r"^\d+$")
            # The rest of the API is not locked out.
            self.assertStatus(d.get("/api/v1/health", timeout=10), 200)
            d.create_task(title="seen by both")
            for c in (a, b):
                self.assertEqual(c.next_events(1)[0].event, "task.created")
            # A subscriber that goes away frees its place (the heartbeat's
            # write finds the dead connection).
            a.close(abort=True)

            def try_subscribe():
                c = SSEClient(d)
                if c.status == 200:
                    return c
                c.close()
                return None
            c = wait_until(try_subscribe, timeout=15, interval=0.25)
            self.assertIsNotNone(c, "no place freed after a subscriber "
                                 "left")
            c.wait_for(subscribed, what="the retry hint")
            c.close()
        finally:
            a.close()
            b.close()

    def test_reset_beyond_retention(self):
        d = self.daemon(["--sse-heartbeat", "1"])
        for i in range(150):
            d.create_task(title="old %d" % i)
        self.assertEqual(db_max_event(d), 150)
        d.stop()
        # The reaper prunes a second after start, then every minute.
        d.args += ["--events-keep", "100"]
        mark = len(d.log_lines())
        d.start()
        d.wait_for_log(r"pruned 50 old events", timeout=WAIT, start=mark)
        rows = db_event_rows(d, 0)
        self.assertEqual((rows[0][0], rows[-1][0], len(rows)), (51, 150, 100))

        gone = SSEClient(d, "?last_event_id=10")
        zero = SSEClient(d, headers={"Last-Event-ID": "0"})
        edge = SSEClient(d, "?last_event_id=50")     # oldest - 1: no gap
        try:
            for c in (gone, zero):
                e = c.next_events(1)[0]
                self.assertEqual(e.event, "reset", e)
                self.assertEqual(e.json["reason"], "retention")
                self.assertEqual(e.json.get("oldest"), 51)
                self.assertEqual(e.num, 150)
            got = edge.next_events(100)
            self.assertEqual([e.num for e in got], list(range(51, 151)))
            self.assertNotIn("reset", [e.event for e in got])
            t = d.create_task(title="new")
            for c in (gone, zero, edge):
                e = c.next_events(1)[0]
                self.assertEqual((e.num, e.event), (151, "task.created"))
                self.assertEqual(e.json["data"]["id"], t["id"])
        finally:
            for c in (gone, zero, edge):
                c.close()

    def test_idle_subscribers_cost_no_cpu(self):
        d = self.daemon(["--sse-heartbeat", "60"])
        raise_nofile(400)
        pool = StreamPool(d, 200)
        try:
            pool.wait_for(subscribed, WAIT, "the retry hint")
            time.sleep(0.5)
            before = cpu_seconds(d.proc.pid)
            time.sleep(3.0)
            used = cpu_seconds(d.proc.pid) - before
            pool.poll(0)
            self.assertLess(used, 0.05, "the daemon used %.3f s of CPU in "
                            "3 s with 200 idle subscribers" % used)
            self.assertFalse(any(st.ended for st in pool.streams))
            # Still alive: an event reaches them all.
            d.create_task(title="wake up")
            pool.wait_for(lambda st: len(st.events()) == 1, WAIT,
                          "the event")
        finally:
            pool.close()

    def test_sigterm_with_subscribers_connected(self):
        d = self.daemon(["--sse-heartbeat", "60"])
        clients = [SSEClient(d) for _ in range(20)]
        cu = None
        try:
            if shutil.which("curl"):
                cu = CurlStream(d)
                cu.wait_for(lambda s: s.parser.retry is not None,
                            what="the retry hint")
            for c in clients:
                c.wait_for(subscribed, what="the retry hint")
            d.create_task(title="before the end")
            for c in clients:
                c.next_events(1)
            t0 = time.monotonic()
            d.send_signal(signal.SIGTERM)
            for c in clients:
                c.wait_for(lambda s: s.ended, 15, "the end of the stream")
            rc = d.wait_exit(20)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, d.log())
            d.assert_no_sanitizer_reports()
            self.assertLess(took, 10, "exit took %.1f s" % took)
            self.assertTrue(all(c.clean_end for c in clients),
                            "a stream was cut instead of ended")
            if cu is not None:
                self.assertEqual(cu.proc.wait(15), 0, cu._stderr())
                self.assertTrue(cu.ended)
        finally:
            for c in clients:
                c.close()
            if cu is not None:
                cu.close()


# --- ingestion -------------------------------------------------------------

# What each transcript does when posted in one batch: the transitions the
# glasspane's unit tests (tests/check_glasspane.c) list for it, except
# those only time or the process's exit cause (the ingest path has no
# process, and one batch has one clock reading).
FIXTURE_RUNS = {
    "text.jsonl": ("done", [
        tr("idle", "working", "agent_start"),
        tr("working", "done", "stopReason stop")]),
    "tool.jsonl": ("done", [
        tr("idle", "working", "agent_start"),
        tr("working", "done", "stopReason stop")]),
    "length.jsonl": ("done", [
        tr("idle", "working", "agent_start"),
        tr("working", "done", "stopReason length", truncated=True)]),
    "retry.jsonl": ("done", [
        tr("idle", "working", "agent_start"),
        tr("working", "working", "auto_retry_start attempt=1/3 "
           "delayMs=500: 429 Rate limit reached for mock-model (mock)",
           "retrying"),
        tr("working", "working", "auto_retry_end success=true attempt=2"),
        tr("working", "done", "stopReason stop")]),
    "fail.jsonl": ("error", [
        tr("idle", "working", "agent_start"),
        tr("working", "working", "auto_retry_start attempt=1/3 "
           "delayMs=500: 503 Service temporarily unavailable (mock)",
           "retrying"),
        tr("working", "error", "auto_retry_end success=false: "
           "503 Service temporarily unavailable (mock)")]),
    # Killed mid-run: only the process's death says error, and nobody
    # reports it on this path.
    "slow_sigterm.jsonl": ("working", [
        tr("idle", "working", "agent_start")]),
    # The last run ends with a provisional agent_end that only the grace
    # period settles (see test_provisional_end_settles).
    "rpc_confirm_gate.jsonl": ("working", [
        tr("idle", "working", "agent_start"),
        tr("working", "done", "stopReason stop"),
        tr("done", "working", "agent_start"),
        tr("working", "done", "stopReason stop"),
        tr("done", "working", "agent_start"),
        tr("working", "error", "stopReason aborted: Request was aborted"),
        tr("error", "working", "agent_start"),
        tr("working", "blocked", "waiting for confirm: Allow bash command?"),
        tr("blocked", "working",
           "confirm answered (tool_execution_update followed)"),
        tr("working", "done", "stopReason stop"),
        tr("done", "working", "agent_start"),
        tr("working", "blocked", "waiting for confirm: Allow bash command?"),
        tr("blocked", "working",
           "confirm answered (tool_execution_end followed)"),
        tr("working", "done", "stopReason stop"),
        tr("done", "working", "agent_start"),
        tr("working", "working", "auto_retry_start attempt=1/3 "
           "delayMs=500: 429 Rate limit reached for mock-model (mock)",
           "retrying"),
        tr("working", "working", "auto_retry_end success=true attempt=2"),
        tr("working", "done", "stopReason stop"),
        tr("done", "working", "agent_start")]),
}

RPC_SETTLE = tr("working", "error", "stopReason error: 400 Invalid request: "
                "mock refuses this prompt")


class IngestTests(EventTestBase, SharedDaemonTestCase):

    daemon_args = ["--sse-heartbeat", "1"]

    def state_events(self, c, n):
        return [e.json["data"] for e in c.next_events(n)]

    def assertTransitionDocs(self, docs, want, agent):
        got = [{k: doc[k] for k in ("from", "to", "reason", "substate",
                                    "truncated")} for doc in docs]
        self.assertEqual(got, want)
        for doc in docs:
            self.assertEqual(doc["agent"], agent)
            self.assertRegex(doc["time"], TIME_RE)

    def test_every_fixture(self):
        self.assertEqual(sorted(FIXTURE_RUNS), sorted(
            f for f in os.listdir(FIXTURES) if f.endswith(".jsonl")))
        for name, (state, want) in sorted(FIXTURE_RUNS.items()):
            with self.subTest(fixture=name):
                agent = "fx-" + name[:-len(".jsonl")].replace("_", "-")
                self.register(agent, kind="pi")
                c = SSEClient(self.d, "?types=agent.state&agent=" + agent)
                try:
                    c.wait_for(subscribed, what="the retry hint")
                    body = read_fixture(name)
                    lines = [l for l in body.split(b"\n") if l.strip()]
                    rep = self.ingest(agent, body)
                    self.assertEqual(rep["accepted"], len(lines))
                    self.assertEqual(rep["rejected_count"], 0)
                    self.assertEqual(rep["rejected"], [])
                    self.assertEqual(rep["transitions"], want)
                    self.assertEqual(rep["state"], state)
                    self.assertEqual(rep["substate"], "")
                    # One agent.state event per transition, in order.
                    evs = c.next_events(len(want))
                    self.assertIncreasing(evs)
                    for e in evs:
                        doc = self.assertEnvelope(e)
                        self.assertEqual(e.event, "agent.state")
                        self.assertEqual(doc["subject"], "agent:" + agent)
                        self.assertEqual(doc["agent"], agent)
                    self.assertTransitionDocs([e.json["data"] for e in evs],
                                              want, agent)
                finally:
                    c.close()
                ag = self.assertStatus(self.d.get(self.apath(agent)), 200)
                self.assertEqual(ag["state"], state)
                self.assertRegex(ag["state_since"], TIME_RE)
                st = self.assertStatus(self.d.get(self.apath(
                    agent, "/state?limit=256")), 200)
                self.assertEqual(st["id"], agent)
                self.assertEqual(st["state"], state)
                self.assertEqual(st["state_since"], ag["state_since"])
                self.assertEqual(
                    [{k: h[k] for k in ("from", "to", "reason", "substate",
                                        "truncated")}
                     for h in st["history"]], want[::-1])
                # The state changed last at the newest transition.
                self.assertEqual(st["state_since"], st["history"][0]["time"])

    def test_bad_lines_are_reported_and_good_ones_count(self):
        agent = "bad-lines"
        self.register(agent)
        c = SSEClient(self.d, "?types=agent.state&agent=" + agent)
        self.addCleanup(c.close)
        c.wait_for(subscribed, what="the retry hint")
        big = json.dumps({"type": "message_update",
                          "pad": "x" * (300 * 1024)})
        lines = [
            json.dumps({"type": "agent_start"}),          # 1 good
            "",                                           # 2 blank
            "   \t",                                      # 3 blank
            '{"type": "turn_start"',                      # 4 invalid
            "[1, 2]",                                     # 5 array
            '"agent_end"',                                # 6 string
            "42",                                         # 7 number
            big,                                          # 8 too long
            json.dumps({"type": "turn_start"}) + "\r",    # 9 good (CRLF)
            "{}",                                         # 10 good, no type
            "null",                                       # 11 null
            "{\"type\": \"x\"} trailing",                 # 12 invalid
            json.dumps(agent_end("stop", text="hi")),     # 13 good
        ]
        body = "\n".join(lines)                           # no final newline
        rep = self.ingest(agent, body)
        self.assertEqual(rep["accepted"], 4)
        self.assertEqual(rep["rejected_count"], 7)
        self.assertEqual([(r["line"], r["code"]) for r in rep["rejected"]],
                         [(4, "invalid_json"), (5, "not_an_object"),
                          (6, "not_an_object"), (7, "not_an_object"),
                          (8, "line_too_long"), (11, "not_an_object"),
                          (12, "invalid_json")])
        for r in rep["rejected"]:
            self.assertIsInstance(r["detail"], str)
            self.assertTrue(r["detail"])
        want = [tr("idle", "working", "agent_start"),
                tr("working", "done", "stopReason stop")]
        self.assertEqual(rep["transitions"], want)
        self.assertEqual(rep["state"], "done")
        self.assertTransitionDocs(self.state_events(c, 2), want, agent)
        # A line of exactly the limit is not too long.
        limit = 256 * 1024
        doc = '{"type":"x","pad":"' + "y" * (limit - 21) + '"}'
        self.assertEqual(len(doc), limit)
        rep = self.ingest(agent, doc + "\n" + doc + "z\n")
        self.assertEqual(rep["accepted"], 1)
        self.assertEqual([(r["line"], r["code"]) for r in rep["rejected"]],
                         [(2, "line_too_long")])
        # Only bad lines: nothing moves, still 200 with the report.
        rep = self.ingest(agent, "nope\n[]\n")
        self.assertEqual((rep["accepted"], rep["rejected_count"],
                          rep["transitions"], rep["state"]),
                         (0, 2, [], "done"))
        # Blank lines only: an empty batch.  No body at all: 400.
        rep = self.ingest(agent, b"\n\n")
        self.assertEqual((rep["accepted"], rep["rejected_count"]), (0, 0))
        self.assertProblem(self.ingest(agent, b"", status=400), 400,
                           "invalid_argument")

    def test_json_array_body(self):
        agent = "array-body"
        self.register(agent)
        events = [{"type": "agent_start"}, 5, "x",
                  {"type": "turn_start"}, agent_end("length", text="cut")]
        rep = self.ingest(agent, events, content_type="application/json")
        self.assertEqual(rep["accepted"], 3)
        self.assertEqual([(r["line"], r["code"]) for r in rep["rejected"]],
                         [(2, "not_an_object"), (3, "not_an_object")])
        self.assertEqual(rep["transitions"], [
            tr("idle", "working", "agent_start"),
            tr("working", "done", "stopReason length", truncated=True)])
        self.assertEqual(rep["state"], "done")
        # {"events": [...]} is the same thing.
        rep = self.ingest(agent, {"events": [{"type": "agent_start"}]},
                          content_type="application/json")
        self.assertEqual(rep["transitions"],
                         [tr("done", "working", "agent_start")])
        # An empty array is an empty batch.
        rep = self.ingest(agent, [], content_type="application/json")
        self.assertEqual((rep["accepted"], rep["state"]), (0, "working"))
        # Not JSON, or JSON that is no list of events: 400, nothing moves.
        for raw in ('[{"type": "agent_start"}', '"agent_start"', "42",
                    '{"events": 3}'):
            r = self.ingest(agent, raw, status=400,
                            content_type="application/json")
            self.assertProblem(r, 400, msg=raw)
        st = self.assertStatus(self.d.get(self.apath(agent, "/state")), 200)
        self.assertEqual(st["state"], "working")
        self.assertEqual(len(st["history"]), 3)

    def test_refusals(self):
        good = ndjson([{"type": "agent_start"}])
        r = self.ingest("nobody-here", good, status=404)
        self.assertProblem(r, 404, "agent_not_found")
        r = self.ingest("nobody-here", [{"type": "agent_start"}],
                        status=404, content_type="application/json")
        self.assertProblem(r, 404, "agent_not_found")
        r = self.d.get(self.apath("nobody-here", "/state"))
        self.assertProblem(r, 404, "agent_not_found")
        agent = "refused"
        self.register(agent)
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "application/ndjson-ish", None):
            r = self.ingest(agent, good, status=415, content_type=ctype)
            self.assertProblem(r, 415, "unsupported_media_type",
                               "content type %r" % ctype)
        r = self.ingest("not a slug", good, status=400)
        self.assertProblem(r, 400)
        st = self.assertStatus(self.d.get(self.apath(agent, "/state")), 200)
        self.assertEqual((st["state"], st["history"]), ("idle", []))
        for bad in ("0", "257", "x", "-1"):
            r = self.d.get(self.apath(agent, "/state?limit=" + bad))
            self.assertProblem(r, 400, msg="limit=" + bad)

    def test_state_history_newest_first_and_limit(self):
        agent = "hist"
        reg = self.register(agent)
        self.assertEqual(reg["state"], "idle")
        self.assertRegex(reg["state_since"], TIME_RE)
        text = read_fixture("text.jsonl")
        self.ingest(agent, text)
        self.ingest(agent, text)
        self.ingest(agent, read_fixture("fail.jsonl"))
        every = [tr("idle", "working", "agent_start"),
                 tr("working", "done", "stopReason stop"),
                 tr("done", "working", "agent_start"),
                 tr("working", "done", "stopReason stop")] + \
            FIXTURE_RUNS["fail.jsonl"][1][:]
        every[4] = tr("done", "working", "agent_start")
        keys = ("from", "to", "reason", "substate", "truncated")
        st = self.assertStatus(self.d.get(self.apath(agent, "/state")), 200)
        self.assertEqual([{k: h[k] for k in keys} for h in st["history"]],
                         every[::-1])
        times = [h["time"] for h in st["history"]]
        self.assertEqual(times, sorted(times, reverse=True))
        for limit in (1, 2, 5):
            st = self.assertStatus(self.d.get(self.apath(
                agent, "/state?limit=%d" % limit)), 200)
            self.assertEqual([{k: h[k] for k in keys}
                              for h in st["history"]],
                             every[::-1][:limit])
        self.assertEqual(st["state"], "error")
        ag = self.assertStatus(self.d.get(self.apath(agent)), 200)
        self.assertEqual((ag["state"], ag["state_since"]),
                         ("error", st["history"][0]["time"]))
        # The list of agents filters by state.
        r = self.assertStatus(self.d.get("/api/v1/agents?state=error"), 200)
        self.assertIn(agent, [a["id"] for a in r["items"]])

    def test_provisional_end_settles(self):
        """agent_end with stopReason error is provisional: with nothing
        after it, error once the grace period (at most 5 s) is over; with
        auto_retry_start after it, working (retrying) and it stays so."""
        d = self.d
        for a in ("prov-err", "prov-retry", "prov-rpc"):
            self.register(a, kind="pi")
        c = SSEClient(d, "?types=agent.state")
        self.addCleanup(c.close)
        c.wait_for(subscribed, what="the retry hint")
        start = {"type": "agent_start"}
        end = agent_end("error", error="500 boom")
        retry = {"type": "auto_retry_start", "attempt": 1, "maxAttempts": 3,
                 "delayMs": 500, "errorMessage": "500 boom"}
        rep_err = self.ingest("prov-err", ndjson([start, end]))
        t0 = time.monotonic()
        rep_retry = self.ingest("prov-retry", ndjson([start, end, retry]))
        rep_rpc = self.ingest("prov-rpc", read_fixture(
            "rpc_confirm_gate.jsonl"))
        self.assertEqual(rep_err["transitions"],
                         [tr("idle", "working", "agent_start")])
        self.assertEqual((rep_err["state"], rep_err["substate"]),
                         ("working", ""))
        retrying = tr("working", "working", "auto_retry_start attempt=1/3 "
                      "delayMs=500: 500 boom", "retrying")
        self.assertEqual(rep_retry["transitions"],
                         [tr("idle", "working", "agent_start"), retrying])
        self.assertEqual((rep_retry["state"], rep_retry["substate"]),
                         ("working", "retrying"))
        self.assertEqual(rep_rpc["state"], "working")

        def state(a):
            return self.assertStatus(d.get(self.apath(a)), 200)["state"]

        settled = wait_until(lambda: state("prov-err") == "error",
                             timeout=15, interval=0.1)
        took = time.monotonic() - t0
        self.assertTrue(settled, "prov-err never settled")
        self.assertLess(took, 5.5, "settled after %.1f s" % took)
        self.assertTrue(wait_until(lambda: state("prov-rpc") == "error",
                                   timeout=5, interval=0.1))
        # Live on the stream, in commit order: 1 + 2 + 19 + the two
        # settlements (other tests' agents may settle meanwhile too).
        mine = ("prov-err", "prov-retry", "prov-rpc")
        c.wait_for(lambda s: sum(e.json["agent"] in mine
                                 for e in s.events()) >= 1 + 2 + 19 + 2,
                   what="the agent.state events")
        by_agent = {}
        for e in c.events():
            doc = e.json["data"]
            by_agent.setdefault(doc["agent"], []).append(doc)
        settle = tr("working", "error", "stopReason error: 500 boom")
        self.assertTransitionDocs(by_agent["prov-err"], [
            tr("idle", "working", "agent_start"), settle], "prov-err")
        self.assertTransitionDocs(by_agent["prov-retry"], [
            tr("idle", "working", "agent_start"), retrying], "prov-retry")
        self.assertTransitionDocs(
            by_agent["prov-rpc"],
            FIXTURE_RUNS["rpc_confirm_gate.jsonl"][1] + [RPC_SETTLE],
            "prov-rpc")
        st = self.assertStatus(d.get(self.apath("prov-err", "/state")), 200)
        self.assertEqual([(h["from"], h["to"], h["reason"])
                          for h in st["history"]],
                         [("working", "error", "stopReason error: 500 boom"),
                          ("idle", "working", "agent_start")])
        # The retrying one is still working, well past the grace period.
        if time.monotonic() - t0 < 5.5:
            time.sleep(5.5 - (time.monotonic() - t0))
        st = self.assertStatus(d.get(self.apath("prov-retry", "/state")),
                               200)
        self.assertEqual(st["state"], "working")
        self.assertEqual(st["history"][0]["substate"], "retrying")
        self.assertEqual(len(st["history"]), 2)
        # Any other event after it proves the provisional end final at
        # once, without waiting.
        self.register("prov-next")
        rep = self.ingest("prov-next", ndjson([start, end, start]))
        self.assertEqual(rep["transitions"], [
            tr("idle", "working", "agent_start"), settle,
            tr("error", "working", "agent_start")])
        self.assertEqual(rep["state"], "working")

if __name__ == "__main__":
    colibri_test.main()
