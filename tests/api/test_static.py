"""The dashboard's HTTP side: its files served at / (MIME types, ETag and
304, Cache-Control, Content-Security-Policy and frame blocking, no token
needed but Host/Origin checked, traversal refused), and the login flow:
a one-time code from the log exchanged for an HttpOnly SameSite=Strict
session cookie, which then authorizes the API, with a CSRF header on
every write."""

import os
import re
import shutil
import tempfile
import unittest

import colibri_test
from colibri_test import Daemon, DaemonTestCase

LOGIN_RE = r"login: (http://127\.0\.0\.1:\d+/login\?t=([0-9a-f]{64}))"

FILES = {
    "index.html": ("<!doctype html><title>x</title>",
                   "text/html; charset=utf-8"),
    "app.css": ("body{}", "text/css; charset=utf-8"),
    "app.js": ("export {};", "text/javascript; charset=utf-8"),
    "sub/mod.js": ("export {};", "text/javascript; charset=utf-8"),
    "logo.svg": ("<svg xmlns='http://www.w3.org/2000/svg'/>",
                 "image/svg+xml"),
    "data.json": ("{}", "application/json"),
    "i.png": ("\x89PNG", "image/png"),
    "favicon.ico": ("ico", "image/x-icon"),
    "f.woff2": ("wOF2", "font/woff2"),
}


def cookies_of(resp):
    """{name: (value, attribute string)} from Set-Cookie headers."""
    out = {}
    for line in resp.headers.get_all("Set-Cookie") or []:
        first, _, attrs = line.partition(";")
        name, _, value = first.strip().partition("=")
        out[name] = (value, attrs)
    return out


class StaticTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix="colibri-static-")
        cls.root = os.path.join(cls.top, "static")
        for name, (text, _) in FILES.items():
            path = os.path.join(cls.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="latin-1") as f:
                f.write(text)
        with open(os.path.join(cls.top, "secret.html"), "w") as f:
            f.write("secret")
        with open(os.path.join(cls.root, ".hidden.html"), "w") as f:
            f.write("hidden")
        with open(os.path.join(cls.root, "notes.bin"), "w") as f:
            f.write("binary")
        os.symlink(os.path.join(cls.top, "secret.html"),
                   os.path.join(cls.root, "out.html"))
        os.symlink(cls.top, os.path.join(cls.root, "up"))
        cls.d = Daemon(["--static-dir", cls.root])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()
            shutil.rmtree(cls.top, ignore_errors=True)

    def page(self, path, **kw):
        return self.d.request(kw.pop("method", "GET"), path, token=False,
                              **kw)

    def test_files_and_mime_types(self):
        for name, (text, mime) in FILES.items():
            r = self.page("/" + name)
            self.assertStatus(r, 200, name)
            self.assertEqual(r.headers["Content-Type"], mime, name)
            self.assertEqual(r.raw, text.encode("latin-1"), name)
        r = self.page("/")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, FILES["index.html"][0].encode())

    def test_security_headers(self):
        for path in ("/", "/app.js", "/login?t=nope"):
            r = self.page(path)
            csp = r.headers["Content-Security-Policy"] or ""
            for part in ("default-src 'self'", "connect-src 'self'",
                         "img-src 'self' data:", "style-src 'self'",
                         "script-src 'self'", "frame-ancestors 'none'",
                         "base-uri 'none'", "form-action 'self'"):
                if path.startswith("/login"):
                    break
                self.assertIn(part, csp, path)
            if not path.startswith("/login"):
                self.assertEqual(r.headers["X-Frame-Options"], "DENY")
                self.assertEqual(r.headers["Referrer-Policy"],
                                 "no-referrer")
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")

    def test_etag_and_cache_control(self):
        r = self.page("/index.html")
        etag = r.headers["ETag"]
        self.assertRegex(etag, r'^"[0-9a-f]+-[0-9a-f]+"$')
        self.assertEqual(r.headers["Cache-Control"], "no-cache")
        r = self.page("/index.html", headers={"If-None-Match": etag})
        self.assertStatus(r, 304)
        self.assertEqual(r.raw, b"")
        self.assertEqual(r.headers["ETag"], etag)
        r = self.page("/index.html",
                      headers={"If-None-Match": '"x", W/' + etag})
        self.assertStatus(r, 304)
        r = self.page("/index.html", headers={"If-None-Match": '"other"'})
        self.assertStatus(r, 200)
        r = self.page("/app.css")
        self.assertRegex(r.headers["Cache-Control"], r"^max-age=\d+$")

    def test_head(self):
        r = self.page("/app.js", method="HEAD")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")
        self.assertEqual(r.headers["Content-Length"],
                         str(len(FILES["app.js"][0])))

    def test_traversal_refused(self):
        for path in ("/../secret.html", "/%2e%2e/secret.html",
                     "/sub/%2e%2e/%2e%2e/secret.html", "/sub/../app.js",
                     "/%2E%2E%2Fsecret.html", "/..%2fsecret.html",
                     "/sub%2f..%2f..%2fsecret.html", "/./index.html",
                     "//index.html", "/out.html", "/up/secret.html",
                     "/.hidden.html", "/notes.bin", "/sub", "/sub/",
                     "/missing.html", "/..\\secret.html"):
            # (%00 is no way out either: the decoded path ends there.)
            r = self.page(path)
            self.assertProblem(r, 404, "not_found", path)
            self.assertNotIn(b"secret", r.raw)

    def test_methods(self):
        self.assertProblem(self.d.request("POST", "/", token=False,
                                          body={}), 405,
                           "method_not_allowed")
        r = self.d.request("DELETE", "/app.js", token=False)
        self.assertProblem(r, 405)
        self.assertEqual(r.headers["Allow"], "GET, HEAD")
        # /api/ paths never fall through to files.
        self.assertProblem(self.page("/api/v1/nothing"), 404, "not_found")

    def test_host_and_origin_apply(self):
        self.assertProblem(self.page("/", host="evil.example"), 403,
                           "host_not_allowed")
        self.assertProblem(self.page("/", headers={
            "Origin": "http://evil.example"}), 403, "origin_not_allowed")
        self.assertStatus(self.page("/", headers={
            "Origin": "http://127.0.0.1:%d" % self.d.port}), 200)


class LoginTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.daemon()
        m = self.d.wait_for_log(LOGIN_RE)
        self.url, self.code = m.group(1), m.group(2)

    def login(self):
        r = self.d.get("/login?t=" + self.code, token=False)
        self.assertStatus(r, 303)
        c = cookies_of(r)
        return c["colibri_session"][0], c["colibri_csrf"][0]

    def test_login_line_is_not_the_token(self):
        self.assertNotEqual(self.code, self.d.token)
        self.assertNotIn(self.d.token, self.d.log())

    def test_login_sets_cookies_and_redirects(self):
        r = self.d.get("/login?t=" + self.code, token=False)
        self.assertStatus(r, 303)
        self.assertEqual(r.headers["Location"], "/")
        c = cookies_of(r)
        sid, attrs = c["colibri_session"]
        self.assertRegex(sid, "^[0-9a-f]{64}$")
        self.assertNotEqual(sid, self.d.token)
        flags = [a.strip() for a in attrs.split(";")]
        self.assertIn("HttpOnly", flags)
        self.assertIn("SameSite=Strict", flags)
        self.assertIn("Path=/", flags)
        csrf, attrs = c["colibri_csrf"]
        self.assertRegex(csrf, "^[0-9a-f]{64}$")
        self.assertNotIn("HttpOnly", attrs)
        self.assertIn("SameSite=Strict", attrs)
        self.assertEqual(r.headers["Cache-Control"], "no-store")

    def test_code_is_single_use(self):
        r = self.d.request("HEAD", "/login?t=" + self.code, token=False)
        self.assertEqual(r.status, 405)     # a HEAD does not spend it
        self.login()
        r = self.d.get("/login?t=" + self.code, token=False)
        self.assertProblem(r, 403, "login_invalid")
        self.assertIsNone(r.headers["Set-Cookie"])
        for bad in ("", "?t=", "?t=" + "0" * 64, "?t=" + self.d.token):
            self.assertProblem(self.d.get("/login" + bad, token=False), 403,
                               "login_invalid", bad)

    def test_cookie_authorizes_the_api(self):
        sid, csrf = self.login()
        cookie = {"Cookie": "colibri_session=%s; colibri_csrf=%s"
                  % (sid, csrf)}
        r = self.d.get("/api/v1/tasks", token=False, headers=cookie)
        self.assertStatus(r, 200)
        # A write without the CSRF header: refused, nothing created.
        r = self.d.post("/api/v1/tasks", {"title": "no csrf"}, token=False,
                        headers=cookie)
        self.assertProblem(r, 403, "csrf_required")
        r = self.d.post("/api/v1/tasks", {"title": "bad csrf"}, token=False,
                        headers=dict(cookie, **{"X-CSRF-Token": "0" * 64}))
        self.assertProblem(r, 403, "csrf_required")
        self.assertEqual(self.d.list_all(), [])
        r = self.d.post("/api/v1/tasks", {"title": "with csrf"},
                        token=False,
                        headers=dict(cookie, **{"X-CSRF-Token": csrf}))
        self.assertStatus(r, 201)
        # The browser's Origin for its own page is fine.
        r = self.d.post("/api/v1/tasks", {"title": "same origin"},
                        token=False, headers=dict(cookie, **{
                            "X-CSRF-Token": csrf,
                            "Origin": "http://127.0.0.1:%d" % self.d.port}))
        self.assertStatus(r, 201)
        r = self.d.post("/api/v1/tasks", {"title": "other origin"},
                        token=False, headers=dict(cookie, **{
                            "X-CSRF-Token": csrf,
                            "Origin": "http://evil.example"}))
        self.assertProblem(r, 403, "origin_not_allowed")

    def test_wrong_or_absent_cookie(self):
        sid, csrf = self.login()
        for headers in ({}, {"Cookie": "colibri_session=" + "0" * 64},
                        {"Cookie": "colibri_session=" + csrf},
                        {"Cookie": "colibri_csrf=" + csrf,
                         "X-CSRF-Token": csrf},
                        {"Cookie": "colibri_session=" + sid,
                         "Authorization": "Bearer wrong"}):
            r = self.d.get("/api/v1/tasks", token=False, headers=headers)
            self.assertProblem(r, 401, "unauthorized", repr(headers))
        # The token alone needs no CSRF header (automation).
        self.assertStatus(self.d.post("/api/v1/tasks", {"title": "t"}), 201)

    def test_events_with_cookie(self):
        sid, _ = self.login()
        conn = self.d.connection()
        try:
            conn.putrequest("GET", "/api/v1/events", skip_host=True)
            conn.putheader("Host", "127.0.0.1:%d" % self.d.port)
            conn.putheader("Cookie", "colibri_session=" + sid)
            conn.endheaders()
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertTrue(resp.getheader("Content-Type")
                            .startswith("text/event-stream"))
        finally:
            conn.close()

    def test_sigusr1_prints_another(self):
        import signal
        n = len(self.d.log_lines())
        self.d.send_signal(signal.SIGUSR1)
        m = self.d.wait_for_log(LOGIN_RE, start=n)
        self.assertNotEqual(m.group(2), self.code)
        # Both are good, once each.
        for code in (m.group(2), self.code):
            self.assertStatus(self.d.get("/login?t=" + code, token=False),
                              303)
            self.assertProblem(self.d.get("/login?t=" + code, token=False),
                               403, "login_invalid")

    def test_new_code_each_start(self):
        self.d.stop()
        n = len(self.d.log_lines())
        self.d.start()
        self.d.wait_for_log(LOGIN_RE, start=n)
        lines = [ln for ln in self.d.log_lines() if "login: " in ln]
        self.assertEqual(len(lines), 2)
        codes = {re.search(LOGIN_RE, ln).group(2) for ln in lines}
        self.assertEqual(len(codes), 2)
        # The first run's code died with it.
        self.assertProblem(self.d.get("/login?t=" + self.code, token=False),
                           403, "login_invalid")


class DefaultDirTest(DaemonTestCase):
    def test_source_tree_dashboard(self):
        d = self.daemon()
        r = d.get("/", token=False)
        self.assertStatus(r, 200)
        self.assertIn(b'<script type="module" src="app.js">', r.raw)
        for name in ("app.js", "app.css", "api.js", "board.js",
                     "agents.js", "skills.js", "cost.js", "hosts.js", "favicon.svg"):
            self.assertStatus(d.get("/" + name, token=False), 200, name)

    def test_print_config(self):
        p = colibri_test.run_colibrid(["--print-config", "--static-dir",
                                       "/x/y"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("static-dir = /x/y\n", p.stdout)
        p = colibri_test.run_colibrid(["--print-config"])
        self.assertIn("static-dir = %s/static\n" % colibri_test.srcdir(),
                      p.stdout)


if __name__ == "__main__":
    colibri_test.main()
