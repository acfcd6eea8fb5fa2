"""HTTP transport behaviour of colibrid: Host and token checks, routing,
methods, media types, body limits, argument errors, problem documents,
request ids, /metrics and /api/v1/version."""

import re
import socket

import colibri_test
from colibri_test import (Daemon, DaemonTestCase, SharedDaemonTestCase,
                          wait_until)

MIB = 1024 * 1024


def padded_json(size, title="big"):
    """A valid JSON object of exactly size bytes (padded with spaces), so
    that only its size can be the reason to refuse it."""
    head = ('{"title":"%s"' % title).encode()
    tail = b"}"
    pad = size - len(head) - len(tail)
    assert pad >= 0
    return head + b" " * pad + tail


class HttpTest(SharedDaemonTestCase):

    daemon_args = []

    def unchanged(self, before, what):
        self.assertEqual(self.d.snapshot(), before,
                         "the database changed after %s" % what)

    # --- Host and token -------------------------------------------------

    def test_health_needs_no_token(self):
        r = self.d.get("/api/v1/health", token=False)
        body = self.assertStatus(r, 200)
        self.assertEqual(body["status"], "ok")
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))

    def test_every_other_route_needs_the_token(self):
        task = self.d.create_task(title="auth target")
        tid = task["id"]
        routes = [
            ("GET", "/api/v1/version", None),
            ("GET", "/metrics", None),
            ("GET", "/api/v1/tasks", None),
            ("GET", "/api/v1/tasks/ready", None),
            ("POST", "/api/v1/tasks", {"title": "no token"}),
            ("POST", "/api/v1/tasks/claim", {"agent": "a"}),
            ("GET", "/api/v1/tasks/%d" % tid, None),
            ("HEAD", "/api/v1/tasks/%d" % tid, None),
            ("PATCH", "/api/v1/tasks/%d" % tid,
             {"version": 1, "title": "changed"}),
            ("DELETE", "/api/v1/tasks/%d" % tid, None),
            ("POST", "/api/v1/tasks/%d/claim" % tid, {"agent": "a"}),
            ("POST", "/api/v1/tasks/%d/heartbeat" % tid, {"agent": "a"}),
            ("POST", "/api/v1/tasks/%d/release" % tid, {"agent": "a"}),
            ("POST", "/api/v1/tasks/%d/complete" % tid, {"agent": "a"}),
            ("POST", "/api/v1/tasks/%d/deps" % tid, {"depends_on": 1}),
            ("DELETE", "/api/v1/tasks/%d/deps/1" % tid, None),
        ]
        bad_tokens = [
            ("missing", False, None),
            ("wrong", "0" * 64, None),
            ("truncated", self.d.token[:-1], None),
            ("extended", self.d.token + "0", None),
            ("empty bearer", None, {"Authorization": "Bearer "}),
            ("basic scheme", None,
             {"Authorization": "Basic " + self.d.token}),
            ("bare token", None, {"Authorization": self.d.token}),
        ]
        before = self.d.snapshot()
        for method, path, body in routes:
            for label, token, headers in bad_tokens:
                with self.subTest(method=method, path=path, token=label):
                    r = self.d.request(method, path, body=body,
                                       token=token or False,
                                       headers=headers)
                    if method == "HEAD":
                        self.assertEqual(r.status, 401, repr(r))
                        self.assertIn("Bearer", r.headers.get(
                            "WWW-Authenticate", ""))
                        continue
                    self.assertProblem(r, 401, "unauthorized")
                    self.assertIn("Bearer", r.headers.get(
                        "WWW-Authenticate", ""), repr(r))
        self.unchanged(before, "unauthorized requests")
        # And the right token works.
        r = self.d.get("/api/v1/tasks/%d" % tid)
        self.assertStatus(r, 200)
        r = self.d.get("/metrics")
        self.assertStatus(r, 200)

    def test_foreign_host_is_refused_before_auth(self):
        port = self.d.port
        before = self.d.snapshot()
        for host in ("evil.example", "evil.example:%d" % port,
                     "127.0.0.2:%d" % port, "localhost.evil.example",
                     "colibri.example:%d" % port):
            for token in (False, True):
                for method, path, body in (
                        ("GET", "/api/v1/health", None),
                        ("GET", "/api/v1/tasks", None),
                        ("GET", "/metrics", None),
                        ("POST", "/api/v1/tasks", {"title": "rebound"})):
                    with self.subTest(host=host, token=token, path=path,
                                      method=method):
                        r = self.d.request(method, path, body=body,
                                           token=token, host=host)
                        self.assertProblem(r, 403, "host_not_allowed")
        self.unchanged(before, "requests with a foreign Host")

    def test_loopback_host_names_are_accepted(self):
        port = self.d.port
        for host in ("127.0.0.1:%d" % port, "localhost:%d" % port,
                     "LOCALHOST:%d" % port, "[::1]:%d" % port, "localhost",
                     "127.0.0.1"):
            with self.subTest(host=host):
                r = self.d.request("GET", "/api/v1/health", host=host,
                                   token=False)
                self.assertStatus(r, 200)

    def test_allow_host_adds_a_name(self):
        d = self.daemon(["--allow-host", "colibri.example"])
        r = d.request("GET", "/api/v1/health", token=False,
                      host="colibri.example:%d" % d.port)
        self.assertStatus(r, 200)
        r = d.request("GET", "/api/v1/tasks",
                      host="colibri.example:%d" % d.port)
        self.assertStatus(r, 200)
        # Still a token is needed, and other names are still refused.
        r = d.request("GET", "/api/v1/tasks", token=False,
                      host="colibri.example:%d" % d.port)
        self.assertProblem(r, 401, "unauthorized")
        r = d.request("GET", "/api/v1/health", token=False,
                      host="evil.example:%d" % d.port)
        self.assertProblem(r, 403, "host_not_allowed")
        d.stop()

    def test_foreign_origin_is_refused(self):
        # DESIGN.md (Security): "a present Origin must be allowed".
        before = self.d.snapshot()
        for method, path, body in (("GET", "/api/v1/tasks", None),
                                   ("POST", "/api/v1/tasks",
                                    {"title": "cross-site"})):
            with self.subTest(method=method, path=path):
                r = self.d.request(method, path, body=body, headers={
                    "Origin": "http://evil.example"})
                self.assertProblem(r, 403)
        self.unchanged(before, "requests with a foreign Origin")
        r = self.d.request("GET", "/api/v1/tasks", headers={
            "Origin": "http://127.0.0.1:%d" % self.d.port})
        self.assertStatus(r, 200)

    # --- routing and methods --------------------------------------------

    def test_unknown_path_is_404(self):
        # ("/" is the dashboard now; a file it does not have is 404.)
        for path in ("/api/v1/nope", "/api/v2/tasks", "/nope.html",
                     "/api/v1/tasks/1/bogus", "/api/v1/tasks/1/deps/2/x",
                     "/api//v1/tasks", "/metrics/x"):
            with self.subTest(path=path):
                r = self.d.get(path)
                self.assertProblem(r, 404, "not_found")

    def test_non_numeric_id_is_404(self):
        for path in ("/api/v1/tasks/abc", "/api/v1/tasks/1x",
                     "/api/v1/tasks/1.0", "/api/v1/tasks/%20",
                     "/api/v1/tasks/99999999999999999999999",
                     "/api/v1/tasks/abc/claim"):
            with self.subTest(path=path):
                self.assertProblem(self.d.get(path) if "claim" not in path
                                   else self.d.post(path, {"agent": "a"}),
                                   404)
        # Numeric but out of range: refused either way, never a 500.
        for path in ("/api/v1/tasks/0", "/api/v1/tasks/-1"):
            with self.subTest(path=path):
                r = self.d.get(path)
                self.assertIn(r.status, (400, 404), repr(r))
                self.assertProblem(r, r.status)

    def test_wrong_method_is_405_with_allow(self):
        cases = [
            ("PUT", "/api/v1/tasks/1", {"GET", "HEAD", "PATCH", "DELETE"}),
            ("POST", "/api/v1/tasks/1", {"GET", "HEAD", "PATCH", "DELETE"}),
            ("DELETE", "/api/v1/tasks", {"GET", "HEAD", "POST"}),
            ("POST", "/api/v1/health", {"GET", "HEAD"}),
            ("DELETE", "/metrics", {"GET", "HEAD"}),
            ("GET", "/api/v1/tasks/1/claim", {"POST"}),
            ("GET", "/api/v1/tasks/1/deps/2", {"DELETE"}),
        ]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                r = self.d.request(method, path)
                self.assertProblem(r, 405, "method_not_allowed")
                allow = {m.strip() for m in
                         (r.headers.get("Allow") or "").split(",")}
                self.assertEqual(allow, allowed, repr(r))

    def _raw_exchange(self, request_bytes):
        """Sends raw bytes, reads until the server closes; returns bytes."""
        s = socket.create_connection(("127.0.0.1", self.d.port),
                                     timeout=colibri_test.REQUEST_TIMEOUT)
        try:
            s.sendall(request_bytes)
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks)
        finally:
            s.close()

    def test_head_has_no_body(self):
        for path, auth in (("/api/v1/health", False),
                           ("/api/v1/tasks", True),
                           ("/api/v1/version", True)):
            with self.subTest(path=path):
                r = self.d.request("HEAD", path, token=auth)
                self.assertStatus(r, 200)
                self.assertEqual(r.raw, b"")
                self.assertTrue(r.headers.get("X-Request-Id"))
                # Read the raw stream: nothing may follow the headers.
                req = ("HEAD %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "%sConnection: close\r\n\r\n"
                       % (path, self.d.port,
                          ("Authorization: Bearer %s\r\n" % self.d.token)
                          if auth else "")).encode()
                raw = self._raw_exchange(req)
                head, sep, rest = raw.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), raw)
                self.assertEqual(sep, b"\r\n\r\n", raw)
                self.assertEqual(rest, b"", raw)

    # --- bodies ---------------------------------------------------------

    def test_non_json_body_is_415(self):
        before = self.d.snapshot()
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "application/jsonx", "text/json", None):
            with self.subTest(content_type=ctype):
                r = self.d.request("POST", "/api/v1/tasks",
                                   raw_body=b'{"title":"typed"}',
                                   content_type=ctype)
                self.assertProblem(r, 415, "unsupported_media_type")
        self.unchanged(before, "415 requests")
        r = self.d.request("POST", "/api/v1/tasks",
                           raw_body=b'{"title":"charset"}',
                           content_type="application/json; charset=utf-8")
        self.assertStatus(r, 201)

    def test_body_over_1_mib_with_content_length_is_413(self):
        before = self.d.snapshot()
        for size in (MIB + 1, 3 * MIB):
            with self.subTest(size=size):
                r = self.d.request("POST", "/api/v1/tasks",
                                   raw_body=padded_json(size))
                self.assertProblem(r, 413, "body_too_large")
        self.unchanged(before, "413 requests")

    def test_body_over_1_mib_chunked_is_413(self):
        before = self.d.snapshot()

        def chunks(size, piece=64 * 1024):
            data = padded_json(size, "chunked big")
            for i in range(0, len(data), piece):
                yield data[i:i + piece]

        for size in (MIB + 1, 3 * MIB):
            with self.subTest(size=size):
                r = self.d.request("POST", "/api/v1/tasks",
                                   raw_body=chunks(size))
                self.assertProblem(r, 413, "body_too_large")
        self.unchanged(before, "chunked 413 requests")

    def test_body_of_exactly_1_mib_is_accepted(self):
        r = self.d.request("POST", "/api/v1/tasks",
                           raw_body=padded_json(MIB, "exactly"))
        body = self.assertStatus(r, 201)
        self.assertEqual(body["title"], "exactly")

        def chunks():
            data = padded_json(MIB, "exactly chunked")
            for i in range(0, len(data), 100000):
                yield data[i:i + 100000]

        r = self.d.request("POST", "/api/v1/tasks", raw_body=chunks())
        body = self.assertStatus(r, 201)
        self.assertEqual(body["title"], "exactly chunked")

    def test_malformed_json_is_400(self):
        before = self.d.snapshot()
        for raw in (b'{"title": ', b"{title: 1}", b'{"title":"a"} x',
                    b"\xff\xfe", b'{"title":"a","title":"b"}'):
            with self.subTest(raw=raw):
                r = self.d.request("POST", "/api/v1/tasks", raw_body=raw)
                self.assertProblem(r, 400, "invalid_json")
        self.unchanged(before, "malformed JSON")

    def test_non_object_body_is_400(self):
        before = self.d.snapshot()
        for raw in (b'[{"title":"a"}]', b"[]"):
            with self.subTest(raw=raw):
                r = self.d.request("POST", "/api/v1/tasks", raw_body=raw)
                self.assertProblem(r, 400, "invalid_body")
        # Scalars: jansson's parser (no JSON_DECODE_ANY) already calls
        # them invalid JSON; either code is a clean 400.
        for raw in (b'"title"', b"5", b"null", b"true"):
            with self.subTest(raw=raw):
                r = self.d.request("POST", "/api/v1/tasks", raw_body=raw)
                p = self.assertProblem(r, 400)
                self.assertIn(p["code"], ("invalid_body", "invalid_json"))
        self.unchanged(before, "non-object bodies")

    def test_wrong_types_are_invalid_argument(self):
        before = self.d.snapshot()
        cases = [
            ({"title": 5}, "title"),
            ({"title": None}, "title"),
            ({"title": ""}, "title"),
            ({"title": "x" * 501}, "title"),
            ({"title": "t", "priority": "high"}, "priority"),
            ({"title": "t", "priority": 5}, "priority"),
            ({"title": "t", "priority": -1}, "priority"),
            ({"title": "t", "priority": 1.5}, "priority"),
            ({"title": "t", "labels": "x"}, "labels"),
            ({"title": "t", "labels": [1]}, "labels"),
            ({"title": "t", "depends_on": ["1"]}, "depends_on"),
            ({"title": "t", "status": "in_limbo"}, "status"),
            ({"title": "t", "assignee": 7}, "assignee"),
        ]
        for body, arg in cases:
            with self.subTest(body=str(body)[:60]):
                r = self.d.post("/api/v1/tasks", body)
                p = self.assertProblem(r, 400, "invalid_argument")
                self.assertEqual(p.get("argument"), arg, repr(r))
        self.unchanged(before, "invalid arguments")

    def test_missing_title_is_missing_argument(self):
        before = self.d.snapshot()
        for body in ({}, {"body": "no title"}):
            with self.subTest(body=body):
                r = self.d.post("/api/v1/tasks", body)
                p = self.assertProblem(r, 400, "missing_argument")
                self.assertEqual(p.get("argument"), "title")
        # No body at all is the same as an empty object.
        r = self.d.request("POST", "/api/v1/tasks")
        p = self.assertProblem(r, 400, "missing_argument")
        self.assertEqual(p.get("argument"), "title")
        self.unchanged(before, "missing arguments")

    def test_unknown_field_is_unknown_argument(self):
        before = self.d.snapshot()
        r = self.d.post("/api/v1/tasks", {"title": "t", "colour": "red"})
        p = self.assertProblem(r, 400, "unknown_argument")
        self.assertEqual(p.get("argument"), "colour")
        # "id" comes from the path only.
        r = self.d.post("/api/v1/tasks", {"title": "t", "id": 5})
        p = self.assertProblem(r, 400, "unknown_argument")
        self.unchanged(before, "unknown arguments")

    def test_unknown_query_parameter_is_400(self):
        before = self.d.snapshot()
        r = self.d.get("/api/v1/tasks?colour=red")
        p = self.assertProblem(r, 400, "unknown_argument")
        self.assertEqual(p.get("argument"), "colour")
        r = self.d.post("/api/v1/tasks?title=q", {"body": "b"})
        self.assertProblem(r, 400)
        r = self.d.post("/api/v1/tasks?x=1", {"title": "t"})
        self.assertProblem(r, 400, "unknown_argument")
        r = self.d.get("/api/v1/tasks?limit=ten")
        p = self.assertProblem(r, 400, "invalid_argument")
        self.assertEqual(p.get("argument"), "limit")
        self.unchanged(before, "unknown query parameters")

    def test_query_parameter_given_twice_is_400(self):
        # http.c build_args: "A name given twice is an error rather than
        # a silent choice."
        r = self.d.get("/api/v1/tasks?limit=1&limit=2")
        self.assertProblem(r, 400)

    def test_input_that_is_not_utf8_gets_a_problem(self):
        # A parameter name or path quoted into a problem's detail must not
        # break the answer (nor the daemon).
        r = self.d.get("/api/v1/tasks?%ff=1")
        self.assertProblem(r, 400, "unknown_argument")
        r = self.d.get("/api/v1/tasks/%ff")
        self.assertProblem(r, 404)
        self.assertEqual(self.d.get("/api/v1/health", token=False).status,
                         200)

    def test_argument_given_in_body_and_path_is_400(self):
        t = self.d.create_task(title="dup")
        before = self.d.snapshot()
        r = self.d.post("/api/v1/tasks/%d/claim" % t["id"],
                        {"id": t["id"], "agent": "a"})
        self.assertProblem(r, 400, "duplicate_argument")
        r = self.d.patch("/api/v1/tasks/%d" % t["id"],
                         {"version": 1, "title": "x"},
                         headers={"If-Match": '"1"'})
        self.assertProblem(r, 400, "duplicate_argument")
        self.unchanged(before, "duplicate arguments")

    def test_many_bad_requests_change_nothing(self):
        self.d.create_task(title="witness")
        before = self.d.snapshot()
        bad = [
            ("POST", "/api/v1/tasks", b"{", "application/json"),
            ("POST", "/api/v1/tasks", b"[]", "application/json"),
            ("POST", "/api/v1/tasks", b'{"title":5}', "application/json"),
            ("POST", "/api/v1/tasks", b'{"title":"x"}', "text/plain"),
            ("POST", "/api/v1/tasks", b'{"title":"t","depends_on":[999999]}',
             "application/json"),
            ("PATCH", "/api/v1/tasks/1", b'{"title":"t"}',
             "application/json"),
            ("PATCH", "/api/v1/tasks/1", b'{"title":"t","version":999}',
             "application/json"),
            ("DELETE", "/api/v1/tasks/1?version=999", None, None),
            ("POST", "/api/v1/tasks/999999/claim", b'{"agent":"a"}',
             "application/json"),
            ("PUT", "/api/v1/tasks/1", b'{"title":"t"}', "application/json"),
        ]
        for method, path, raw, ctype in bad:
            with self.subTest(method=method, path=path, raw=raw):
                r = self.d.request(method, path, raw_body=raw,
                                   content_type=ctype)
                self.assertGreaterEqual(r.status, 400, repr(r))
                self.assertLess(r.status, 500, repr(r))
                self.assertProblem(r, r.status)
                self.unchanged(before, "%s %s" % (method, path))

    # --- request ids ----------------------------------------------------

    def test_every_response_has_a_request_id(self):
        seen = set()
        for method, path, token in (("GET", "/api/v1/health", False),
                                    ("GET", "/api/v1/tasks", True),
                                    ("GET", "/api/v1/tasks", False),
                                    ("GET", "/api/v1/nope", True),
                                    ("PUT", "/api/v1/tasks", True),
                                    ("GET", "/metrics", True)):
            with self.subTest(method=method, path=path, token=token):
                r = self.d.request(method, path, token=token)
                rid = r.headers.get("X-Request-Id")
                self.assertTrue(rid, repr(r))
                self.assertNotIn(rid, seen)
                seen.add(rid)
                if r.status >= 400:
                    self.assertEqual(r.body.get("request_id"), rid)

    def test_valid_incoming_request_id_is_echoed(self):
        rid = "test-rid_1.2-abcDEF"
        r = self.d.get("/api/v1/health", token=False,
                       headers={"X-Request-Id": rid})
        self.assertEqual(r.headers.get("X-Request-Id"), rid)
        r = self.d.get("/api/v1/tasks", token=False,
                       headers={"X-Request-Id": rid})
        self.assertProblem(r, 401)
        self.assertEqual(r.headers.get("X-Request-Id"), rid)
        self.assertEqual(r.body.get("request_id"), rid)
        self.d.wait_for_log(r"access GET /api/v1/tasks 401 .* rid=%s"
                            % re.escape(rid))

    def test_invalid_incoming_request_id_is_replaced(self):
        for rid in ("has space", "x" * 65, "semi;colon", "<script>"):
            with self.subTest(rid=rid):
                r = self.d.get("/api/v1/health", token=False,
                               headers={"X-Request-Id": rid})
                got = r.headers.get("X-Request-Id")
                self.assertTrue(got)
                self.assertNotEqual(got, rid)
                self.assertRegex(got, r"^[A-Za-z0-9._-]{1,64}$")

    # --- metrics and version --------------------------------------------

    def test_metrics(self):
        self.d.create_task(title="metric")
        todo = len(self.d.list_all("status=todo"))

        def scrape():
            r = self.d.get("/metrics")
            self.assertStatus(r, 200)
            text = r.body
            m = re.search(r'^colibri_http_requests_total\{op="task\.create",'
                          r'status="201"\} (\d+)$', text, re.M)
            return (text, r) if m and int(m.group(1)) >= 1 else None

        got = wait_until(scrape, timeout=30)
        self.assertTrue(got, "no task.create 201 counter in /metrics")
        text, r = got
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"),
                        r.headers["Content-Type"])
        self.assertRegex(text, r'(?m)^colibri_http_request_duration_seconds'
                         r'_bucket\{op="[a-z_.]+",le="[^"]+"\} \d+$')
        self.assertRegex(text, r'(?m)^colibri_http_request_duration_seconds'
                         r'_bucket\{op="task\.create",le="\+Inf"\} \d+$')
        m = re.search(r'(?m)^colibri_tasks\{status="todo"\} (\d+)$', text)
        self.assertTrue(m, text)
        self.assertEqual(int(m.group(1)), todo)
        for status in ("in_progress", "blocked", "review", "done",
                       "cancelled"):
            self.assertRegex(text, r'(?m)^colibri_tasks\{status="%s"\} \d+$'
                             % status)
        # Every sample line is "name{labels} value" or "name value".
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_:][a-z0-9_:]*(\{[^}]*\})? '
                                 r'[0-9.eE+-]+$')

    def test_version(self):
        r = self.d.get("/api/v1/version")
        body = self.assertStatus(r, 200)
        self.assertEqual(body["name"], "colibri")
        self.assertRegex(body["version"], r"^\d+\.\d+\.\d+")
        self.assertIsInstance(body["libraries"], dict)
        for lib in ("libmicrohttpd", "sqlite", "jansson"):
            self.assertIn(lib, body["libraries"])
            self.assertTrue(body["libraries"][lib])
        out = colibri_test.run_colibrid(["--version"]).stdout.strip()
        self.assertEqual(out, "colibrid " + body["version"])


if __name__ == "__main__":
    colibri_test.main()
