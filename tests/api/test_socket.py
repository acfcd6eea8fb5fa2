"""The Unix socket of colibrid: newline-delimited JSON over the operations
table.  Every operation round-trips; legacy names are aliases; bad lines
get documented error codes and leave the connection usable; pipelined
requests are answered in order; the peer check refuses other users; the
socket file is created with the right modes, replaces a stale one,
refuses a path a live daemon serves, and is removed on shutdown."""

import grp
import json
import os
import re
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import colibri_test
from colibri_test import (Daemon, DaemonError, DaemonTestCase, SocketClient,
                          run_colibrid, wait_until)

# Codes of envelope errors: a request that gets one of these did not reach
# its operation.
ENVELOPE_CODES = {"invalid_json", "invalid_request", "missing_op",
                  "unknown_op", "line_too_long"}
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "code")
LINE_LIMIT = 1024 * 1024
CLIENT_LIMIT = 64


def print_ops():
    p = run_colibrid(["--print-ops"])
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def sample_args(op):
    """Arguments of the right types for op's required arguments."""
    schema = op["input_schema"]
    args = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        kind = prop.get("type")
        if isinstance(kind, list):
            kind = [k for k in kind if k != "null"][0]
        if "enum" in prop:
            args[name] = prop["enum"][0]
        elif kind == "integer":
            args[name] = max(prop.get("minimum", 1), 1)
        elif kind == "string":
            args[name] = "a" * max(prop.get("minLength", 1), 1)
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        else:
            args[name] = {}
    return args


# Reads whose answer is a live measurement of the host.
LIVE_OPS = {"runtime.get"}


def shape(doc):
    """doc with every scalar replaced by its type name."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shape(v) for v in doc]
    return type(doc).__name__


def without_uptime(doc):
    if isinstance(doc, dict):
        return {k: without_uptime(v) for k, v in doc.items()
                if k != "uptime_seconds"}
    if isinstance(doc, list):
        return [without_uptime(v) for v in doc]
    return doc


def can_switch_user():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except KeyError:
        return False
    return True


# Runs as another user: connects, sends a Ping, prints what happened.
PEER_SCRIPT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": e.__class__.__name__}))
    sys.exit(0)
try:
    s.sendall(b'{"id":1,"op":"Ping"}\n')
except OSError:
    pass
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk or b"\n" in chunk and sys.argv[2] == "one":
        data += chunk
        break
    data += chunk
print(json.dumps({"connect": "ok",
                  "lines": data.decode().splitlines()}))
"""


def run_as(user, group, path, mode="all"):
    """Runs PEER_SCRIPT as user:group; returns its JSON report."""
    p = subprocess.run(["setpriv", "--reuid=" + user, "--regid=" + group,
                        "--clear-groups", sys.executable, "-c",
                        PEER_SCRIPT, path, mode],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, cwd="/", timeout=60)
    if p.returncode != 0:
        raise AssertionError("peer script failed: %s" % p.stderr)
    return json.loads(p.stdout)


class SocketTestBase(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--reap-interval", "3600"])
        cls.ops = print_ops()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()

    def setUp(self):
        super().setUp()
        self.assertTrue(self.d.running(), "the shared daemon died; log:\n"
                        + self.d.log())

    def ok(self, answer, msg=None):
        self.assertIs(answer.get("ok"), True, msg or answer)
        self.assertIn("result", answer)
        self.assertNotIn("error", answer)
        return answer["result"]

    def error(self, answer, code=None, status=None):
        self.assertIs(answer.get("ok"), False, answer)
        self.assertNotIn("result", answer)
        err = answer["error"]
        for m in PROBLEM_MEMBERS:
            self.assertIn(m, err, answer)
        self.assertEqual(err["type"], "urn:colibri:problem:" + err["code"])
        if code is not None:
            self.assertEqual(err["code"], code, answer)
        if status is not None:
            self.assertEqual(err["status"], status, answer)
        return err


class RoundTripTest(SocketTestBase):

    def test_every_operation_reaches_its_handler(self):
        """Each operation of the table, with arguments of the right types,
        is answered by the operation itself (a result or its own problem),
        never by the envelope checks; reads agree with HTTP."""
        with self.d.socket_client() as c:
            for i, op in enumerate(self.ops):
                with self.subTest(op=op["name"]):
                    args = sample_args(op)
                    a = c.call(op["name"], args, id=i)
                    self.assertEqual(a["id"], i)
                    self.assertIsInstance(a["ok"], bool)
                    if "stream" in op["flags"] and "local" in op["flags"]:
                        # events.subscribe: this connection is a stream
                        # now; go on with a fresh one.
                        self.assertEqual(self.ok(a)["subscribed"], True)
                        c.close()
                        c = self.d.socket_client()
                        self.addCleanup(c.close)
                        continue
                    if "stream" in op["flags"]:
                        err = self.error(a, "stream_only", 400)
                        self.assertIn("events.subscribe", err["detail"])
                        continue
                    if not a["ok"]:
                        err = self.error(a)
                        self.assertNotIn(err["code"], ENVELOPE_CODES)
                    if "write" in op["flags"] or op.get("path") is None:
                        continue
                    self.compare_with_http(op, args, a)

    def compare_with_http(self, op, args, answer):
        path, query = op["path"], []
        for k, v in args.items():
            if "{%s}" % k in path:
                path = path.replace("{%s}" % k, str(v))
            else:
                query.append("%s=%s" % (k, v))
        if query:
            path += "?" + "&".join(query)
        r = self.d.request(op["method"], path)
        if answer["ok"]:
            self.assertLess(r.status, 300, (op["name"], r))
            if "text" in op["flags"]:
                self.assertIsInstance(answer["result"]["text"], str)
                self.assertIn("colibri_", answer["result"]["text"])
            elif op["name"] in LIVE_OPS:
                # live host facts (load, free memory, clock) move between
                # the two calls: the same document shape, not the same
                # numbers
                self.assertEqual(shape(answer["result"]), shape(r.body),
                                 op["name"])
            else:
                self.assertEqual(without_uptime(answer["result"]),
                                 without_uptime(r.body), op["name"])
        else:
            self.assertEqual(answer["error"]["status"], r.status)
            self.assertEqual(answer["error"]["code"], r.body["code"])

    def test_task_operations(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        t = self.ok(c.call("task.create", {"title": "over the socket",
                                           "priority": 1,
                                           "labels": ["sock"]}))
        self.assertEqual(self.d.get_task(t["id"]), t)
        dep = self.ok(c.call("task.create", {"title": "dep"}))
        t2 = self.ok(c.call("task.dep_add", {"id": t["id"],
                                             "depends_on": dep["id"]}))
        self.assertEqual(t2["depends_on"], [dep["id"]])
        t2 = self.ok(c.call("task.dep_remove", {"id": t["id"],
                                                "depends_on": dep["id"]}))
        self.assertEqual(t2["depends_on"], [])
        got = self.ok(c.call("task.get", {"id": t["id"]}))
        self.assertEqual(got, self.d.get_task(t["id"]))
        page = self.ok(c.call("task.list", {"label": "sock"}))
        self.assertEqual([x["id"] for x in page["items"]], [t["id"]])
        self.assertIsNone(page["next"])
        ready = self.ok(c.call("task.ready", {"limit": 1000}))
        self.assertIn(t["id"], [x["id"] for x in ready["items"]])
        claim = self.ok(c.call("task.claim", {"id": t["id"], "agent": "s1",
                                              "lease_seconds": 60}))
        self.assertEqual(claim["outcome"], "claimed")
        denied = self.error(c.call("task.claim", {"id": t["id"],
                                                  "agent": "s2"}),
                            "claim_denied", 409)
        self.assertEqual(denied["outcome"], "denied")
        self.assertEqual(denied["task"]["id"], t["id"])
        hb = self.ok(c.call("task.heartbeat",
                            {"id": t["id"], "agent": "s1",
                             "attempt": claim["task"]["attempt"]}))
        self.assertEqual(hb["status"], "in_progress")
        rel = self.ok(c.call("task.release", {"id": t["id"],
                                              "agent": "s1"}))
        self.assertEqual(rel["status"], "todo")
        up = self.ok(c.call("task.update", {"id": t["id"],
                                            "version": rel["version"],
                                            "title": "renamed"}))
        self.assertEqual(up["title"], "renamed")
        self.error(c.call("task.update", {"id": t["id"], "version": 1,
                                          "title": "stale"}),
                   "version_conflict", 409)
        nxt = self.ok(c.call("task.claim_next", {"agent": "s3"}))
        self.assertIn(nxt["outcome"], ("claimed", "stolen"))
        done = self.ok(c.call("task.complete",
                              {"id": nxt["task"]["id"], "agent": "s3",
                               "result": {"ok": [1, None]}}))
        self.assertEqual(done["status"], "done")
        self.assertEqual(done["result"], {"ok": [1, None]})
        gone = c.call("task.delete", {"id": dep["id"]})
        self.assertIsNone(self.ok(gone))
        self.error(c.call("task.get", {"id": dep["id"]}), "task_not_found",
                   404)

    def test_system_operations(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        h = self.ok(c.call("system.health"))
        self.assertEqual(h["status"], "ok")
        v = self.ok(c.call("system.version"))
        self.assertEqual(v["name"], "colibri")
        m = self.ok(c.call("system.metrics"))
        self.assertEqual(list(m), ["text"])
        self.assertIn("colibri_tasks{status=\"todo\"}", m["text"])
        s = self.ok(c.call("system.status"))
        self.assertEqual(s["daemon"]["status"], "ok")
        self.assertEqual(s["daemon"]["socket"], self.d.socket_path)
        self.assertEqual(s["daemon"]["listen"], "127.0.0.1:%d" % self.d.port)
        self.assertEqual(s["daemon"]["pid"], self.d.proc.pid)
        self.assertIs(s["daemon"]["tls"], False)
        self.assertEqual(set(s["tasks"]["by_status"]),
                         {"todo", "in_progress", "blocked", "review", "done",
                          "cancelled"})
        self.assertEqual(sum(s["tasks"]["by_status"].values()),
                         s["tasks"]["total"])
        # The same over HTTP.
        r = self.d.get("/api/v1/status")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["daemon"]["socket"], self.d.socket_path)

    def test_legacy_names_are_aliases(self):
        names = {o["name"] for o in self.ops}
        aliases = {
            "Ping": "system.health", "Status": "system.status",
            "ListTasks": "task.list", "GetTask": "task.get",
            "CreateTask": "task.create", "UpdateTask": "task.update",
            "DeleteTask": "task.delete", "ClaimTask": "task.claim",
            "HeartbeatTask": "task.heartbeat",
            "ReleaseTask": "task.release", "CompleteTask": "task.complete",
            "ReadyTasks": "task.ready", "ListAgents": "agent.list",
            "GetAgent": "agent.get", "RegisterAgent": "agent.register",
            "SpawnAgent": "agent.spawn", "KillAgent": "agent.kill",
            "ListSkills": "skill.list", "SearchSkills": "skill.search",
            "GetSkill": "skill.get"}
        c = self.d.socket_client()
        self.addCleanup(c.close)
        self.assertEqual(self.ok(c.call("Ping"))["status"], "ok")
        t = self.ok(c.call("CreateTask", {"title": "legacy"}))
        self.assertEqual(self.ok(c.call("GetTask", {"id": t["id"]})), t)
        self.assertEqual(self.ok(c.call("ClaimTask", {
            "id": t["id"], "agent": "old"}))["outcome"], "claimed")
        self.assertEqual(self.ok(c.call("CompleteTask", {
            "id": t["id"], "agent": "old"}))["status"], "done")
        for legacy, name in sorted(aliases.items()):
            with self.subTest(legacy=legacy):
                a = c.call(legacy, {})
                if name not in names:
                    # Listed now, served once the operation exists.
                    self.error(a, "unknown_op", 404)
                elif not a["ok"]:
                    self.assertNotIn(a["error"]["code"], ENVELOPE_CODES)

    def test_ids_are_echoed(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        for rid in (1, 0, -5, 2.5, "abc", "", True, False, None):
            c.send(json.dumps({"id": rid, "op": "Ping"}) + "\n")
            a = c.read_answer()
            self.assertEqual(a["id"], rid)
            self.assertIs(type(a["id"]), type(rid))
        c.send('{"op":"Ping"}\n')
        a = c.read_answer()
        self.assertIn("id", a)
        self.assertIsNone(a["id"])
        c.send('{"id":"e1","op":"no.such"}\n')
        self.assertEqual(c.read_answer()["id"], "e1")

    def test_bad_lines_keep_the_connection_usable(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        cases = [
            (b"this is not json\n", "invalid_json", 400),
            (b"{\"op\":\"Ping\"\n", "invalid_json", 400),
            (b"[1,2,3]\n", "invalid_request", 400),
            (b"\"Ping\"\n", "invalid_request", 400),
            (b"{\"id\":1}\n", "missing_op", 400),
            (b"{\"id\":1,\"op\":42}\n", "missing_op", 400),
            (b"{\"id\":1,\"op\":\"task.frobnicate\"}\n", "unknown_op", 404),
            (b"{\"id\":1,\"op\":\"Frobnicate\"}\n", "unknown_op", 404),
            (b"{\"id\":1,\"op\":\"task.list\",\"argz\":{}}\n",
             "invalid_request", 400),
            (b"{\"id\":[1],\"op\":\"task.list\"}\n", "invalid_request", 400),
            (b"{\"id\":1,\"op\":\"task.list\",\"args\":[1]}\n",
             "invalid_arguments", 400),
            (b"{\"id\":1,\"op\":\"task.list\",\"args\":\"x\"}\n",
             "invalid_arguments", 400),
            (b"{\"id\":1,\"op\":\"task.get\",\"args\":{\"id\":\"1\"}}\n",
             "invalid_argument", 400),
            (b"{\"id\":1,\"op\":\"task.list\",\"args\":{\"limit\":true}}\n",
             "invalid_argument", 400),
            (b"{\"id\":1,\"op\":\"task.create\",\"args\":{\"title\":5}}\n",
             "invalid_argument", 400),
            (b"{\"id\":1,\"op\":\"task.create\",\"args\":{}}\n",
             "missing_argument", 400),
            (b"{\"id\":1,\"op\":\"task.get\",\"args\":{\"id\":1,\"x\":1}}\n",
             "unknown_argument", 400),
            (b"\xff\xfe\n", "invalid_json", 400),
        ]
        for line, code, status in cases:
            with self.subTest(line=line):
                c.send(line)
                err = self.error(c.read_answer(), code, status)
                if code.endswith("_argument"):
                    self.assertIn("argument", err)
                # Still usable.
                self.assertEqual(self.ok(c.call("Ping", id=7))["status"],
                                 "ok")

    def test_oversize_line(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        big = b'{"op":"task.create","args":{"title":"' + \
            b"x" * (LINE_LIMIT + 1000) + b'"}}\n'
        c.send(big + b'{"id":"after","op":"Ping"}\n')
        self.error(c.read_answer(), "line_too_long", 413)
        a = c.read_answer()
        self.assertEqual(a["id"], "after")
        self.ok(a)
        # A line of exactly the limit is read (and judged by its content).
        line = b'{"id":"big","op":"Ping","args":{}}'
        line += b" " * (LINE_LIMIT - len(line))
        c.send(line + b"\n")
        a = c.read_answer()
        self.assertEqual(a["id"], "big")
        self.ok(a)
        # Two oversize lines in a row, then a good one.
        c.send(b"y" * (LINE_LIMIT + 1) + b"\n" + b"z" * (LINE_LIMIT * 2) +
               b"\n" + b'{"id":3,"op":"Ping"}\n')
        self.error(c.read_answer(), "line_too_long")
        self.error(c.read_answer(), "line_too_long")
        self.assertEqual(c.read_answer()["id"], 3)

    def test_blank_lines_and_crlf(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        c.send(b"\n   \n\r\n{\"id\":1,\"op\":\"Ping\"}\r\n\n")
        a = c.read_answer()
        self.assertEqual(a["id"], 1)
        self.ok(a)

    def test_pipelined_requests_are_answered_in_order(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        t = self.ok(c.call("task.create", {"title": "pipelined"}))
        lines = []
        for i in range(50):
            if i % 3 == 0:
                req = {"id": i, "op": "task.create",
                       "args": {"title": "p%d" % i}}
            elif i % 3 == 1:
                req = {"id": i, "op": "task.get", "args": {"id": t["id"]}}
            else:
                req = {"id": i, "op": "Ping"}
            lines.append(json.dumps(req))
        c.send(("\n".join(lines) + "\n").encode())
        created = []
        for i in range(50):
            a = c.read_answer()
            self.assertEqual(a["id"], i)
            r = self.ok(a)
            if i % 3 == 0:
                self.assertEqual(r["title"], "p%d" % i)
                created.append(r["id"])
            elif i % 3 == 1:
                self.assertEqual(r["id"], t["id"])
        self.assertEqual(created, sorted(created))

    def test_last_line_without_newline_at_end_of_input(self):
        c = self.d.socket_client()
        self.addCleanup(c.close)
        c.send(b'{"id":"last","op":"Ping"}')
        c.sock.shutdown(socket.SHUT_WR)
        a = c.read_answer()
        self.assertEqual(a["id"], "last")
        self.assertEqual(c.read_line(), b"")

    def test_concurrent_clients(self):
        errors = []

        def worker(n):
            try:
                with self.d.socket_client() as c:
                    for i in range(20):
                        a = c.call("task.create", {"title": "c%d-%d"
                                                   % (n, i)}, id=i)
                        if a["id"] != i or not a["ok"]:
                            errors.append(a)
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(n,))
                   for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])

    def test_connection_limit(self):
        held = []
        try:
            for _ in range(CLIENT_LIMIT):
                c = self.d.socket_client()
                held.append(c)
                self.ok(c.call("Ping"))
            extra = self.d.socket_client()
            held.append(extra)
            self.error(extra.read_answer(), "too_many_clients", 503)
            self.assertEqual(extra.read_line(), b"")
            self.d.wait_for_log(
                r"socket: %d connections open; refused" % CLIENT_LIMIT)
        finally:
            for c in held:
                c.close()

        def served():
            try:
                with self.d.socket_client(timeout=5) as c:
                    return c.call("Ping").get("ok")
            except (OSError, ValueError, AssertionError):
                return False
        self.assertTrue(wait_until(served, timeout=30))


class SocketFileTest(DaemonTestCase):

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="colibri-test-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_modes_and_removal(self):
        d = self.daemon(make_socket_dir=False)
        path = d.socket_path
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        dst = os.stat(os.path.dirname(path))
        self.assertEqual(stat.S_IMODE(dst.st_mode), 0o700)
        self.assertTrue(d.socket_call("Ping")["ok"])
        # Logged just after "listening on": wait for it, do not race it.
        d.wait_for_log("socket %s" % re.escape(path), timeout=10)
        d.stop()
        self.assertFalse(os.path.exists(path))

    def test_existing_directory_is_left_alone(self):
        d = self.daemon(start=False)
        os.makedirs(os.path.dirname(d.socket_path), mode=0o755)
        os.chmod(os.path.dirname(d.socket_path), 0o755)
        d.start()
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(
            d.socket_path)).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.lstat(d.socket_path).st_mode),
                         0o600)

    def test_stale_socket_is_replaced(self):
        d = self.daemon(start=False)
        os.makedirs(os.path.dirname(d.socket_path), mode=0o700)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(d.socket_path)
        stale.close()           # the file stays; nobody listens
        with self.assertRaises(ConnectionRefusedError):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(d.socket_path)
            finally:
                s.close()
        d.start()
        self.assertIn("replaced the stale socket %s" % d.socket_path,
                      d.log())
        self.assertTrue(d.socket_call("Ping")["ok"])

    def test_second_daemon_on_the_same_socket_is_refused(self):
        first = self.daemon()
        second = self.daemon(start=False, socket_path=first.socket_path)
        with self.assertRaises(DaemonError):
            second.start()
        self.assertNotEqual(second.returncode, 0)
        log = second.run_log()
        self.assertIn("another colibrid is already serving the socket %s"
                      % first.socket_path, log)
        # The first one still owns and serves the socket.
        self.assertTrue(first.socket_call("Ping")["ok"])
        first.stop()
        self.assertFalse(os.path.exists(first.socket_path))

    def test_a_file_that_is_not_a_socket_is_never_removed(self):
        d = self.daemon(start=False)
        os.makedirs(os.path.dirname(d.socket_path), mode=0o700)
        with open(d.socket_path, "w") as f:
            f.write("keep me\n")
        with self.assertRaises(DaemonError):
            d.start()
        self.assertIn("exists and is not a socket", d.run_log())
        with open(d.socket_path) as f:
            self.assertEqual(f.read(), "keep me\n")

    def test_path_too_long(self):
        d = self.daemon(start=False, socket_path="/tmp/" + "x" * 120 +
                        "/colibri.sock", make_socket_dir=False)
        with self.assertRaises(DaemonError):
            d.start()
        self.assertIn("Unix socket address", d.run_log())

    def test_unknown_group_is_refused(self):
        p = run_colibrid(["--check-config", "--socket-group",
                          "no-such-group-here", "--data-dir",
                          os.path.join(self.tmpdir(), "data")])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--socket-group no-such-group-here: no such group",
                      p.stderr)

    def test_idle_connection_does_not_hold_shutdown(self):
        d = self.daemon()
        c = d.socket_client()
        self.addCleanup(c.close)
        self.assertTrue(c.call("Ping")["ok"])
        start = time.monotonic()
        d.stop()
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(c.read_line(), b"")


SUBSCRIBER_LIMIT = 48


def subscribe(d, args=None, id="sub", timeout=15):
    """A socket connection turned into an event stream; returns
    (client, answer)."""
    c = d.socket_client(timeout=timeout)
    return c, c.call("events.subscribe", args if args is not None else {},
                     id=id)


def next_line(c, heartbeats=False):
    """The next line of a stream as JSON (heartbeats skipped unless
    asked for); None once the daemon closed it."""
    while True:
        line = c.read_line()
        if not line:
            return None
        doc = json.loads(line.decode("utf-8"))
        if doc.get("event") == "heartbeat" and not heartbeats:
            continue
        return doc


def events_until(c, last_id):
    """Events of a stream up to and including id last_id."""
    out = []
    while True:
        ev = next_line(c)
        if ev is None:
            raise AssertionError("the stream ended after %r" % out[-3:])
        out.append(ev)
        if ev.get("id", 0) >= last_id:
            return out


class SubscribeTest(SocketTestBase):
    """events.subscribe on a daemon shared by the tests (heartbeat 1 s)."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--reap-interval", "3600", "--sse-heartbeat", "1"])
        cls.ops = print_ops()

    def head(self):
        c, a = subscribe(self.d)
        c.close()
        return self.ok(a)["after"]

    def test_live_events_filters_and_heartbeat(self):
        everything, a = subscribe(self.d, id=7)
        self.addCleanup(everything.close)
        self.assertEqual(a["id"], 7)
        after = self.ok(a)["after"]
        self.assertEqual(self.ok(a)["subscribed"], True)
        created, a = subscribe(self.d, {"types": "task.created"})
        self.addCleanup(created.close)
        self.ok(a)
        agent, a = subscribe(self.d, {"types": "agent.*",
                                      "agent": "sub-a"})
        self.addCleanup(agent.close)
        self.ok(a)

        t1 = self.ok(self.d.socket_call("task.create", {"title": "one"}))
        self.ok(self.d.socket_call("agent.register", {"id": "sub-b"}))
        self.ok(self.d.socket_call("agent.register", {"id": "sub-a"}))
        self.ok(self.d.socket_call("task.claim", {"id": t1["id"],
                                                  "agent": "sub-a"}))
        t2 = self.ok(self.d.socket_call("task.create", {"title": "two"}))

        # Unfiltered: every event, in id order, from the one after the
        # subscription's start, each in the bus's JSON line form.
        got = events_until(everything, after + 5)
        self.assertEqual([e["id"] for e in got],
                         list(range(after + 1, after + 6)))
        self.assertEqual([e["type"] for e in got],
                         ["task.created", "agent.registered",
                          "agent.registered", "task.claimed",
                          "task.created"])
        for e in got:
            self.assertEqual(set(e), {"id", "time", "type", "subject",
                                      "agent", "data"})
        self.assertEqual(got[0]["subject"], "task:%d" % t1["id"])
        self.assertEqual(got[3]["agent"], "sub-a")
        # Filtered by type, then by agent and type.
        self.assertEqual([(e["type"], e["data"]["id"]) for e in
                          (next_line(created), next_line(created))],
                         [("task.created", t1["id"]),
                          ("task.created", t2["id"])])
        e = next_line(agent)
        self.assertEqual((e["type"], e["agent"]), ("agent.registered",
                                                   "sub-a"))
        self.ok(self.d.socket_call("agent.update", {"id": "sub-b",
                                                    "kind": "other"}))
        self.ok(self.d.socket_call("agent.update", {"id": "sub-a",
                                                    "kind": "mine"}))
        e = next_line(agent)
        self.assertEqual((e["type"], e["agent"]), ("agent.updated",
                                                   "sub-a"))
        # Idle, the stream says it is alive.
        self.assertEqual(next_line(created, heartbeats=True),
                         {"event": "heartbeat"})

    def test_replay_from_last_event_id_without_gap_or_duplicate(self):
        start = self.head()
        for i in range(5):
            self.ok(self.d.socket_call("task.create", {"title": "r%d" % i}))
        total = 60
        done = threading.Event()

        def writer():
            with self.d.socket_client() as w:
                for i in range(total - 5):
                    w.call("task.create", {"title": "w%d" % i})
            done.set()
        # Resume after the second event while more keep coming.
        t = threading.Thread(target=writer)
        t.start()
        c, a = subscribe(self.d, {"last_event_id": start + 2})
        self.addCleanup(c.close)
        self.assertEqual(self.ok(a)["after"], start + 2)
        t.join(60)
        self.assertTrue(done.is_set())
        got = events_until(c, start + total)
        self.assertEqual([e["id"] for e in got],
                         list(range(start + 3, start + total + 1)))
        # and then live
        self.ok(self.d.socket_call("task.create", {"title": "after"}))
        self.assertEqual(next_line(c)["id"], start + total + 1)

    def test_resume_point_beyond_the_store_is_reset(self):
        c, a = subscribe(self.d, {"last_event_id": 10 ** 15})
        self.addCleanup(c.close)
        head = self.ok(a)["after"]
        reset = next_line(c)
        self.assertEqual(reset["event"], "reset")
        self.assertEqual(reset["reason"], "retention")
        self.assertEqual(reset["after"], head)
        t = self.ok(self.d.socket_call("task.create", {"title": "x"}))
        self.assertEqual(next_line(c)["data"]["id"], t["id"])

    def test_bad_subscriptions_keep_the_connection(self):
        with self.d.socket_client() as c:
            self.error(c.call("events.subscribe", {"types": "Task!"}),
                       "invalid_argument", 400)
            self.error(c.call("events.subscribe", {"since": 1}),
                       "unknown_argument", 400)
            self.error(c.call("events.subscribe", {"last_event_id": -1}),
                       "invalid_argument")
            err = self.error(c.call("events.stream", {}), "stream_only",
                             400)
            self.assertIn("events.subscribe", err["detail"])
            self.ok(c.call("Ping"))
            # Over HTTP the socket's stream has no route.
            r = self.d.get("/api/v1/events/subscribe")
            self.assertEqual(r.status, 404)



class SubscribeLifecycleTest(DaemonTestCase):

    def test_half_close_keeps_the_stream_close_ends_it(self):
        d = self.daemon()
        held = []
        self.addCleanup(lambda: [h.close() for h in held])
        c, a = subscribe(d)
        self.assertTrue(a["ok"], a)
        c.sock.shutdown(socket.SHUT_WR)      # as nc -N does
        t = d.socket_call("task.create", {"title": "hc"})["result"]
        self.assertEqual(next_line(c)["data"]["id"], t["id"])
        for _ in range(SUBSCRIBER_LIMIT - 1):
            h, a = subscribe(d)
            held.append(h)
            self.assertTrue(a["ok"], a)
        # Every slot is taken; closing c ends its stream and frees one.
        h, a = subscribe(d)
        h.close()
        self.assertEqual(a["error"]["code"], "too_many_subscribers")
        c.close()

        def slot_free():
            h, a = subscribe(d)
            if a.get("ok"):
                held.append(h)
            else:
                h.close()
            return a.get("ok")
        self.assertTrue(wait_until(slot_free, timeout=10))

    def test_stop_ends_the_stream_and_a_resume_replays_the_store(self):
        d = self.daemon(["--sse-heartbeat", "1"])
        for i in range(3):
            d.socket_call("task.create", {"title": "before %d" % i})
        c, a = subscribe(d)
        self.addCleanup(c.close)
        after = a["result"]["after"]
        self.assertEqual(after, 3)
        d.socket_call("task.create", {"title": "live"})
        self.assertEqual(next_line(c)["id"], 4)
        start = time.monotonic()
        d.stop()                    # must not hang on the stream
        self.assertLess(time.monotonic() - start, 20)
        self.assertIsNone(next_line(c))
        d.start()
        d.socket_call("task.create", {"title": "restarted"})
        # From the beginning: events 1..5 come from the store (the ring
        # starts at the restart), then live ones, none twice.
        c2, a = subscribe(d, {"last_event_id": 0})
        self.addCleanup(c2.close)
        self.assertEqual(a["result"]["after"], 0)
        got = events_until(c2, 5)
        self.assertEqual([e["id"] for e in got], [1, 2, 3, 4, 5])
        self.assertEqual(got[4]["data"]["title"], "restarted")
        d.socket_call("task.create", {"title": "live again"})
        self.assertEqual(next_line(c2)["id"], 6)

    def test_a_reader_left_behind_is_reset_and_resumes_from_the_store(self):
        """A subscriber that stops reading while the ring (8192 events)
        moves past it is cut with a too_slow reset, never buffered for;
        resuming after the last id it got replays the rest from the store
        with no gap."""
        d = self.daemon(["--sse-heartbeat", "60"])
        c, a = subscribe(d, timeout=60)
        self.addCleanup(c.close)
        self.assertTrue(a["ok"], a)
        total = 9000
        with d.socket_client(timeout=120) as w:
            batch = "".join(json.dumps({"id": i, "op": "task.create",
                                        "args": {"title": "s%d %s" %
                                                 (i, "x" * 400)}})
                            + "\n" for i in range(total))
            sender = threading.Thread(target=w.send, args=(batch,))
            sender.start()
            for _ in range(total):
                w.read_line()
            sender.join(60)
        got = []
        while True:
            doc = next_line(c)
            if doc is None:
                break
            got.append(doc)
        self.assertEqual(got[-1], {"event": "reset", "reason": "too_slow"})
        ids = [e["id"] for e in got[:-1]]
        self.assertEqual(ids, list(range(1, len(ids) + 1)))
        self.assertLess(len(ids), total)
        c2, a = subscribe(d, {"last_event_id": ids[-1]}, timeout=60)
        self.addCleanup(c2.close)
        rest = events_until(c2, total)
        self.assertEqual([e["id"] for e in rest],
                         list(range(ids[-1] + 1, total + 1)))

    def test_subscriptions_leave_workers_for_requests(self):
        """At most 48 of the 64 connections may be streams; the rest of
        the connection cap holds as before."""
        d = self.daemon()
        held = []
        try:
            for _ in range(SUBSCRIBER_LIMIT):
                c, a = subscribe(d)
                held.append(c)
                self.assertTrue(a["ok"], a)
            extra = d.socket_client()
            held.append(extra)
            a = extra.call("events.subscribe", {})
            self.assertFalse(a["ok"])
            self.assertEqual((a["error"]["code"], a["error"]["status"]),
                             ("too_many_subscribers", 503))
            self.assertTrue(extra.call("Ping")["ok"])
            while len(held) < CLIENT_LIMIT:
                c = d.socket_client()
                held.append(c)
                self.assertTrue(c.call("Ping")["ok"])
            refused = d.socket_client()
            held.append(refused)
            self.assertEqual(refused.read_answer()["error"]["code"],
                             "too_many_clients")
            # The streams still stream (no socket connection is free:
            # the task comes over HTTP).
            r = d.post("/api/v1/tasks", {"title": "seen by all"})
            self.assertEqual(r.status, 201)
            for c in held[:SUBSCRIBER_LIMIT]:
                self.assertEqual(next_line(c)["data"]["id"], r.body["id"])
        finally:
            for c in held:
                c.close()

        def can_subscribe():
            try:
                c, a = subscribe(d, timeout=5)
                c.close()
                return a.get("ok")
            except (OSError, ValueError, AssertionError):
                return False
        self.assertTrue(wait_until(can_subscribe, timeout=30))


@unittest.skipUnless(can_switch_user(),
                     "needs root, setpriv and the user nobody/nogroup to "
                     "connect as another user")
class PeerCheckTest(DaemonTestCase):

    def open_up(self, d):
        """Lets nobody reach the socket through the file system, so that
        the peer check alone decides."""
        os.chmod(d.tmp, 0o711)
        os.chmod(os.path.dirname(d.socket_path), 0o711)
        os.chmod(d.socket_path, 0o666)

    def test_file_modes_keep_other_users_out(self):
        d = self.daemon()
        os.chmod(d.tmp, 0o711)
        report = run_as("nobody", "nogroup", d.socket_path)
        self.assertEqual(report["connect"], "PermissionError", report)

    def test_peer_of_another_uid_is_refused(self):
        d = self.daemon()
        self.open_up(d)
        report = run_as("nobody", "nogroup", d.socket_path)
        self.assertEqual(report["connect"], "ok", report)
        self.assertEqual(len(report["lines"]), 1, report)
        answer = json.loads(report["lines"][0])
        self.assertIs(answer["ok"], False)
        self.assertIsNone(answer["id"])
        self.assertEqual(answer["error"]["code"], "peer_refused")
        self.assertEqual(answer["error"]["status"], 403)
        uid = pwd.getpwnam("nobody").pw_uid
        m = d.wait_for_log(r"socket: refused uid %d gid \d+ pid (\d+)" % uid)
        self.assertGreater(int(m.group(1)), 0)
        # The daemon goes on serving its own user.
        self.assertTrue(d.socket_call("Ping")["ok"])

    def test_socket_group_members_are_served(self):
        d = self.daemon(["--socket-group", "nogroup"],
                        make_socket_dir=False)
        gid = grp.getgrnam("nogroup").gr_gid
        dst = os.stat(os.path.dirname(d.socket_path))
        self.assertEqual(stat.S_IMODE(dst.st_mode), 0o750)
        self.assertEqual(dst.st_gid, gid)
        st = os.lstat(d.socket_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, gid)
        os.chmod(d.tmp, 0o711)
        report = run_as("nobody", "nogroup", d.socket_path, "one")
        self.assertEqual(report["connect"], "ok", report)
        answer = json.loads(report["lines"][0])
        self.assertIs(answer["ok"], True, answer)
        self.assertEqual(answer["result"]["status"], "ok")

    def test_socket_group_does_not_admit_others(self):
        d = self.daemon(["--socket-group", "nogroup"])
        self.open_up(d)
        report = run_as("nobody", "daemon" if self.has_group("daemon")
                        else "root", d.socket_path)
        self.assertEqual(report["connect"], "ok", report)
        answer = json.loads(report["lines"][0])
        self.assertEqual(answer["error"]["code"], "peer_refused")

    @staticmethod
    def has_group(name):
        try:
            grp.getgrnam(name)
            return True
        except KeyError:
            return False


if __name__ == "__main__":
    colibri_test.main()
