"""Process behaviour of colibrid: command line, configuration sources and
their precedence, the token file, the database location, the access log,
signals, and TLS."""

import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import tempfile
import threading
import http.client

import colibri_test
from colibri_test import DaemonError, DaemonTestCase, run_colibrid, wait_until


class TmpDirMixin:

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="colibri-test-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


class CommandLineTest(TmpDirMixin, DaemonTestCase):

    def test_help(self):
        p = run_colibrid(["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for flag in ("--listen", "--data-dir", "--db", "--socket",
                     "--tls-cert", "--tls-key", "--durability",
                     "--allow-host", "--threads", "--config",
                     "--check-config", "--print-config", "--version"):
            self.assertIn(flag, p.stdout)
        p2 = run_colibrid(["-h"])
        self.assertEqual(p2.returncode, 0)
        self.assertEqual(p2.stdout, p.stdout)

    def test_version(self):
        p = run_colibrid(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^colibrid \d+\.\d+\.\d+\S*\n$")
        self.assertEqual(run_colibrid(["-V"]).stdout, p.stdout)

    def test_check_config_ok(self):
        data = os.path.join(self.tmpdir(), "data")
        p = run_colibrid(["--check-config", "--data-dir", data,
                          "--listen", "127.0.0.1:0"])
        self.assertEqual(p.returncode, 0, p.stderr)
        # Checking creates nothing.
        self.assertFalse(os.path.exists(data))

    def test_check_config_bad_values(self):
        data = os.path.join(self.tmpdir(), "data")
        cases = [
            (["--durability", "maybe"], ["durability", "maybe"]),
            (["--threads", "0"], ["threads", "0"]),
            (["--threads", "many"], ["threads", "many"]),
            (["--reap-interval", "0"], ["reap-interval"]),
            (["--listen", "nowhere"], ["listen", "nowhere"]),
            (["--listen", "127.0.0.1:70000"], ["listen"]),
            (["--tls-cert", "/nonexistent/c.pem"], ["tls"]),
            (["--no-such-flag"], ["no-such-flag"]),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                p = run_colibrid(["--check-config", "--data-dir", data]
                                 + args)
                self.assertNotEqual(p.returncode, 0, p.stdout)
                self.assertNotIn("configuration ok", p.stdout)
                for w in words:
                    self.assertIn(w, p.stderr)
        # The same values refuse to run, too.
        for args in (["--durability", "maybe"], ["--threads", "0"]):
            with self.subTest(run=args):
                d = self.daemon(args, start=False)
                with self.assertRaises(DaemonError):
                    d.start()
                self.assertNotEqual(d.returncode, 0)

    def test_check_config_data_dir_is_a_file(self):
        f = os.path.join(self.tmpdir(), "plain")
        open(f, "w").close()
        p = run_colibrid(["--check-config", "--data-dir", f])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f, p.stderr)


class ConfigTest(TmpDirMixin, DaemonTestCase):

    def print_config(self, args=(), env=None):
        p = run_colibrid(["--print-config"] + list(args), env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        conf = {}
        for line in p.stdout.splitlines():
            if line.startswith("#") or "=" not in line:
                continue
            k, _, v = line.partition("=")
            conf[k.strip()] = v.strip()
        return conf

    def write(self, text):
        path = os.path.join(self.tmpdir(), "colibrid.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_file_env_flag_precedence(self):
        path = self.write("# a comment\n\n  threads = 5\n"
                          "durability=normal\nreap-interval = 9\n"
                          "allow-host = a.example, b.example\n")
        c = self.print_config(["--config", path])
        self.assertEqual(c["threads"], "5")
        self.assertEqual(c["durability"], "normal")
        self.assertEqual(c["reap-interval"], "9")
        self.assertEqual(c["allow-host"], "a.example,b.example")
        c = self.print_config(["--config", path],
                              env={"COLIBRI_THREADS": "6"})
        self.assertEqual(c["threads"], "6")
        self.assertEqual(c["reap-interval"], "9")
        c = self.print_config(["--config", path, "--threads", "7"],
                              env={"COLIBRI_THREADS": "6"})
        self.assertEqual(c["threads"], "7")
        c = self.print_config(["-c", path, "-t", "8"],
                              env={"COLIBRI_THREADS": "6"})
        self.assertEqual(c["threads"], "8")
        # COLIBRI_CONFIG names the file too.
        c = self.print_config([], env={"COLIBRI_CONFIG": path})
        self.assertEqual(c["threads"], "5")
        # A list from a higher source replaces the file's.
        c = self.print_config(["--config", path, "--allow-host", "c.example"])
        self.assertEqual(c["allow-host"], "c.example")

    def test_defaults(self):
        c = self.print_config(["--data-dir", "/tmp/x"])
        self.assertEqual(c["threads"], "16")
        self.assertEqual(c["durability"], "full")
        self.assertEqual(c["reap-interval"], "1")
        self.assertEqual(c["db"], "/tmp/x/colibri.sqlite")
        self.assertEqual(c["listen"], "127.0.0.1:7700")

    def test_config_file_really_configures_the_daemon(self):
        data = os.path.join(self.tmpdir(), "data")
        path = self.write("durability = full\nallow-host = filed.example\n")
        d = self.daemon(["--config", path], durability=None, data_dir=data)
        self.assertIn("durability full", d.run_log())
        r = d.request("GET", "/api/v1/health", token=False,
                      host="filed.example:%d" % d.port)
        self.assertEqual(r.status, 200, repr(r))
        d.stop()

    def test_unknown_key_is_an_error_with_its_line(self):
        path = self.write("threads = 4\n# fine\nthreadz = 5\n")
        for action in ("--print-config", "--check-config"):
            with self.subTest(action=action):
                p = run_colibrid([action, "--config", path])
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("%s:3" % path, p.stderr)
                self.assertIn("threadz", p.stderr)

    def test_bad_value_in_file_names_its_line(self):
        path = self.write("\n\ndurability = sometimes\n")
        p = run_colibrid(["--check-config", "--config", path])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:3" % path, p.stderr)
        self.assertIn("sometimes", p.stderr)
        path = self.write("threads\n")
        p = run_colibrid(["--check-config", "--config", path])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:1" % path, p.stderr)

    def test_bad_value_in_env_names_the_variable(self):
        p = run_colibrid(["--check-config"], env={"COLIBRI_THREADS": "0"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("COLIBRI_THREADS", p.stderr)

    def test_missing_config_file_is_an_error(self):
        p = run_colibrid(["--check-config", "--config", "/nonexistent/c"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/c", p.stderr)

    def test_db_elsewhere(self):
        tmp = self.tmpdir()
        data = os.path.join(tmp, "data")
        db = os.path.join(tmp, "elsewhere.sqlite")
        d = self.daemon(["--db", db], data_dir=data)
        self.assertIn("database %s" % db, d.run_log())
        t = d.create_task(title="where am I")
        snap = colibri_test.db_snapshot(db)
        self.assertEqual([row[0] for row in snap["tasks"]], [t["id"]])
        self.assertFalse(os.path.exists(os.path.join(data,
                                                     "colibri.sqlite")))
        self.assertTrue(os.path.exists(os.path.join(data, "token")))
        # And it is found again after a restart.
        d.restart()
        self.assertEqual(d.get_task(t["id"])["title"], "where am I")
        d.stop()


class TokenTest(TmpDirMixin, DaemonTestCase):

    def test_token_file_is_created_private(self):
        d = self.daemon()
        st = os.stat(d.token_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(d.data_dir).st_mode) & 0o077,
                         0, "the data directory is open to others")
        with open(d.token_path) as f:
            text = f.read()
        self.assertRegex(text, r"^[0-9a-f]{64}\n?$")
        # Restart keeps the same token.
        token = d.token
        d.restart()
        self.assertEqual(d.token, token)
        d.stop()
        # Two daemons do not share a token.
        other = self.daemon()
        self.assertNotEqual(other.token, token)
        other.stop()

    def test_existing_token_is_used(self):
        data = os.path.join(self.tmpdir(), "data")
        os.mkdir(data, 0o700)
        token = "0123456789abcdef" * 4
        fd = os.open(os.path.join(data, "token"),
                     os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (token + "\n").encode())
        os.close(fd)
        d = self.daemon(data_dir=data)
        self.assertEqual(d.token, token)
        self.assertEqual(d.get("/api/v1/tasks", token=token).status, 200)
        d.stop()

    def test_world_readable_token_file_refuses_to_start(self):
        data = os.path.join(self.tmpdir(), "data")
        d = self.daemon(data_dir=data)
        d.stop()
        os.chmod(d.token_path, 0o644)
        with self.assertRaises(DaemonError):
            d.start()
        self.assertNotEqual(d.returncode, 0)
        self.assertIn("chmod", d.run_log())
        self.assertNotIn("listening on", d.run_log())
        p = run_colibrid(["--check-config", "--data-dir", data])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("chmod", p.stderr)
        # Fixing the mode fixes the start.
        os.chmod(d.token_path, 0o600)
        d.start()
        d.stop()

    def test_token_is_never_logged(self):
        d = self.daemon(["--debug"])
        token = d.token
        d.get("/api/v1/tasks")
        d.get("/api/v1/tasks", token=token[:32])
        d.get("/api/v1/tasks?assignee=" + token)
        d.post("/api/v1/tasks", {"title": "t"}, token="f" * 64)
        d.post("/api/v1/tasks", {"title": "t", "bogus": token})
        d.get("/metrics")
        d.wait_for_log(r"access GET /metrics 200")
        d.stop()
        everything = d.log() + "".join(d.stdout)
        self.assertNotIn(token, everything)
        self.assertNotIn(token[:16], everything)


class AccessLogTest(DaemonTestCase):

    def test_one_line_per_request(self):
        d = self.daemon()
        sent = [("GET", "/api/v1/health", None, False, 200),
                ("GET", "/api/v1/tasks", None, True, 200),
                ("POST", "/api/v1/tasks", {"title": "logged"}, True, 201),
                ("GET", "/api/v1/tasks", None, False, 401),
                ("GET", "/api/v1/nope", None, True, 404),
                ("DELETE", "/api/v1/tasks/1", None, True, 204),
                ("HEAD", "/api/v1/health", None, False, 200)]
        answers = {}
        for n, (method, path, body, token, status) in enumerate(sent):
            rid = "access-test-%d" % n
            r = d.request(method, path, body=body, token=token,
                          headers={"X-Request-Id": rid})
            self.assertEqual(r.status, status, repr(r))
            answers[rid] = r
        rx = re.compile(r"^\S+ info access (\S+) (\S+) (\d+) (\d+) (\d+)us "
                        r"rid=(\S+)$")
        for n, (method, path, body, token, status) in enumerate(sent):
            rid = "access-test-%d" % n
            d.wait_for_log(r"rid=%s$" % re.escape(rid))
        lines = [l for l in d.log_lines() if " access " in l]
        for n, (method, path, body, token, status) in enumerate(sent):
            rid = "access-test-%d" % n
            with self.subTest(rid=rid):
                mine = [l for l in lines if l.endswith("rid=" + rid)]
                self.assertEqual(len(mine), 1, lines)
                m = rx.match(mine[0])
                self.assertTrue(m, mine[0])
                self.assertEqual(m.group(1), method)
                self.assertEqual(m.group(2), path)
                self.assertEqual(int(m.group(3)), status)
                if method != "HEAD":
                    self.assertEqual(int(m.group(4)), len(answers[rid].raw))
                self.assertGreater(int(m.group(5)), 0)
        d.stop()


class SignalTest(DaemonTestCase):

    def check_clean_stop(self, sig, name):
        d = self.daemon()
        d.create_task(title="before %s" % name)
        rc = d.stop(sig=sig)
        self.assertEqual(rc, 0)
        lines = d.log_lines()
        self.assertRegex(lines[-1], r" info stopped$")
        self.assertTrue(any("%s received" % name in l for l in lines),
                        lines[-5:])
        # The write is there after the stop.
        d.start()
        self.assertEqual(d.get_task(1)["title"], "before %s" % name)
        d.stop()

    def test_sigterm_stops_cleanly(self):
        self.check_clean_stop(signal.SIGTERM, "SIGTERM")

    def test_sigint_stops_cleanly(self):
        self.check_clean_stop(signal.SIGINT, "SIGINT")

    def test_sigterm_under_load_keeps_acknowledged_writes(self):
        d = self.daemon()
        acked, stop, lock = {}, threading.Event(), threading.Lock()

        def writer(n):
            i = 0
            while not stop.is_set():
                title = "w%d-%d" % (n, i)
                i += 1
                try:
                    r = d.post("/api/v1/tasks", {"title": title},
                               timeout=30)
                except Exception:
                    return
                if r.status == 201:
                    with lock:
                        acked[title] = r.body["id"]

        threads = [threading.Thread(target=writer, args=(n,), daemon=True)
                   for n in range(16)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= 20, timeout=30, interval=0.02)
        d.stop()                    # SIGTERM in the middle: exit 0
        stop.set()
        for t in threads:
            t.join(60)
        self.assertGreaterEqual(len(acked), 20)
        d.start()
        stored = {t["title"]: t["id"] for t in d.list_all()}
        for title, tid in acked.items():
            self.assertEqual(stored.get(title), tid, title)
        # Shutdown drains requests in flight, so every write that was
        # committed was also answered: nothing stored is unacknowledged.
        self.assertEqual(set(stored), set(acked))
        d.stop()

    def test_sighup_is_ignored(self):
        d = self.daemon()
        d.send_signal(signal.SIGHUP)
        d.wait_for_log(r"SIGHUP ignored")
        self.assertTrue(d.running())
        self.assertEqual(d.get("/api/v1/health", token=False).status, 200)
        d.stop()


class TlsTest(TmpDirMixin, DaemonTestCase):

    def make_cert(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("openssl is not installed: cannot make a test "
                          "certificate, TLS not tested")
        tmp = self.tmpdir()
        key, cert = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
        p = subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048",
                            "-nodes", "-keyout", key, "-out", cert, "-days",
                            "1", "-subj", "/CN=localhost"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if p.returncode != 0:
            self.skipTest("openssl could not make a certificate: %s"
                          % p.stderr.decode(errors="replace"))
        return cert, key

    def test_https(self):
        cert, key = self.make_cert()
        d = self.daemon(tls=(cert, key))
        d.wait_for_log(r"open https://127\.0\.0\.1:%d/" % d.port)
        # Verified against the self-signed certificate.
        r = d.get("/api/v1/health", token=False)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.body["status"], "ok")
        t = d.create_task(title="over tls")
        self.assertEqual(d.get_task(t["id"])["title"], "over tls")
        self.assertEqual(d.get("/api/v1/tasks", token=False).status, 401)
        # An unverified client context works too.
        ctx = ssl._create_unverified_context()
        c = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=30,
                                        context=ctx)
        try:
            c.request("GET", "/api/v1/health")
            resp = c.getresponse()
            self.assertEqual(resp.status, 200)
            resp.read()
        finally:
            c.close()
        # Plain HTTP on the TLS port gets no HTTP answer.
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
        try:
            with self.assertRaises((http.client.HTTPException, OSError)):
                c.request("GET", "/api/v1/health")
                c.getresponse().read()
        finally:
            c.close()
        d.stop()

    def test_cert_without_key_is_refused(self):
        cert, key = self.make_cert()
        p = run_colibrid(["--check-config", "--tls-cert", cert])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--tls-key", p.stderr)


if __name__ == "__main__":
    colibri_test.main()
