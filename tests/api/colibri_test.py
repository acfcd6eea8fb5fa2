"""Shared harness for the Colibri API tests.

Every test file under tests/api/ is a standalone script run by `make check`
(PY_LOG_COMPILER=python3) with:

    COLIBRID        absolute path of the built colibrid binary
    COLIBRI_SRCDIR  absolute source directory
    PYTHONPATH      <srcdir>/tests/api (so `import colibri_test` works)

Standard library only.  A `Daemon` is a real colibrid process on an
ephemeral loopback port with its own temporary data directory; it is
always cleaned up (tearDown, context manager, and an atexit safety net).

Timeouts are generous on purpose: the suite must also pass against an
ASan/UBSan build on a slow two-core machine.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# Startup and shutdown of a sanitizer build can be slow; stay generous.
START_TIMEOUT = float(os.environ.get("COLIBRI_TEST_START_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("COLIBRI_TEST_STOP_TIMEOUT", "60"))
REQUEST_TIMEOUT = float(os.environ.get("COLIBRI_TEST_REQUEST_TIMEOUT", "60"))

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

PROBLEM_MEMBERS = ("type", "title", "status", "detail", "code")

# Lines a sanitizer build writes when it finds something; any of them in
# the daemon's stderr fails the test that stops the daemon.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")


def srcdir():
    """The source tree (COLIBRI_SRCDIR, else two levels above this file)."""
    d = os.environ.get("COLIBRI_SRCDIR")
    if d:
        return d
    return os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))


def colibrid_path():
    """The colibrid binary under test (COLIBRID, else <srcdir>/colibrid)."""
    path = os.environ.get("COLIBRID") or os.path.join(srcdir(), "colibrid")
    if not os.access(path, os.X_OK):
        raise RuntimeError("colibrid binary not found or not executable: %s "
                           "(set COLIBRID)" % path)
    return path


def clean_env(extra=None):
    """The environment for a colibrid child: no inherited COLIBRI_*
    settings (they would change the configuration under test), plus
    whatever the test asks for."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COLIBRI_")}
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


def run_colibrid(args, env=None, timeout=START_TIMEOUT, cwd=None):
    """Runs colibrid to completion (for --help, --check-config, ...);
    returns subprocess.CompletedProcess with text stdout/stderr."""
    return subprocess.run([colibrid_path()] + list(args),
                          stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=clean_env(env), timeout=timeout, cwd=cwd,
                          universal_newlines=True)


# Every live Daemon, so nothing outlives the test process.
_live = set()
_live_lock = threading.Lock()


def _cleanup_all():
    with _live_lock:
        daemons = list(_live)
    for d in daemons:
        try:
            d.cleanup()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(_cleanup_all)


def _on_sigterm(signum, frame):
    # make (or a CI timeout) stopping the test: take the daemons along.
    # No lock here: the handler may interrupt a thread that holds it.
    for d in list(_live):
        try:
            d._kill_quietly()
            shutil.rmtree(d.tmp, ignore_errors=True)
        except Exception:  # pragma: no cover - best effort
            pass
    os._exit(128 + signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_sigterm)


class Response(tuple):
    """(status, headers, body): body is parsed JSON for JSON responses,
    text otherwise ('' when there is none).  Also .raw (bytes)."""

    def __new__(cls, status, headers, body, raw):
        self = tuple.__new__(cls, (status, headers, body))
        self.raw = raw
        return self

    @property
    def status(self):
        return self[0]

    @property
    def headers(self):
        return self[1]

    @property
    def body(self):
        return self[2]

    def __repr__(self):
        return "Response(%r, %r, %r)" % (self[0], dict(self[1].items()),
                                         self[2])


def _parse_body(headers, raw):
    ctype = (headers.get("Content-Type") or "").lower()
    if not raw:
        return ""
    text = raw.decode("utf-8", "replace")
    if ctype.startswith("application/json") or \
            ctype.startswith("application/problem+json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


class DaemonError(Exception):
    pass


class Daemon:
    """A colibrid process on 127.0.0.1:<ephemeral> with its own data dir.

    Daemon(args=[...], env={...}, durability="normal"|None, start=True)

    durability=None leaves the flag out (the daemon's default, full).
    data_dir defaults to <tmp>/data (created by the daemon, mode 0700);
    pass one to share a directory.  db_path follows --db if given in args.
    """

    def __init__(self, args=(), env=None, durability="normal",
                 data_dir=None, start=True, tls=None, socket_path=None,
                 listen="127.0.0.1:0", make_socket_dir=True):
        self.exe = colibrid_path()
        self.args = list(args)
        self.env = dict(env or {})
        self.durability = durability
        self.listen = listen
        self.tls = tls          # (cert_path, key_path) or None
        self.tmp = tempfile.mkdtemp(prefix="colibri-test-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.socket_path = socket_path or os.path.join(self.tmp, "run",
                                                       "colibri.sock")
        # False: the daemon creates the socket's directory itself.
        self.make_socket_dir = make_socket_dir
        self.proc = None
        self.port = None
        self.token = None
        self.returncode = None
        self._log = []              # all stderr lines, every run
        self._run_start = 0         # index in _log where this run began
        self._log_cond = threading.Condition()
        self._reader = None
        self._stdout_reader = None
        self.stdout = []
        with _live_lock:
            _live.add(self)
        if start:
            self.start()

    # --- paths ----------------------------------------------------------

    @property
    def db_path(self):
        for i, a in enumerate(self.args):
            if a == "--db" and i + 1 < len(self.args):
                return self.args[i + 1]
            if a.startswith("--db="):
                return a[len("--db="):]
        return os.path.join(self.data_dir, "colibri.sqlite")

    @property
    def token_path(self):
        return os.path.join(self.data_dir, "token")

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                      self.port)

    def command(self):
        cmd = [self.exe, "--listen", self.listen, "--data-dir",
               self.data_dir, "--socket", self.socket_path]
        if self.durability is not None:
            cmd += ["--durability", self.durability]
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        return cmd + self.args

    # --- lifecycle ------------------------------------------------------

    def _read_stderr(self, stream):
        for line in iter(stream.readline, b""):
            text = line.decode("utf-8", "replace").rstrip("\n")
            with self._log_cond:
                self._log.append(text)
                self._log_cond.notify_all()
        stream.close()
        with self._log_cond:
            self._log_cond.notify_all()

    def _read_stdout(self, stream):
        for line in iter(stream.readline, b""):
            self.stdout.append(line.decode("utf-8", "replace"))
        stream.close()

    def start(self, timeout=START_TIMEOUT):
        """Starts colibrid and waits until it says where it listens."""
        if self.running():
            raise DaemonError("already running")
        if self.make_socket_dir:
            os.makedirs(os.path.dirname(self.socket_path), mode=0o700,
                        exist_ok=True)
        with self._log_cond:
            self._run_start = len(self._log)
        self.returncode = None
        self.port = None
        self.proc = subprocess.Popen(self.command(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     env=clean_env(self.env),
                                     cwd=self.tmp)
        self._reader = threading.Thread(target=self._read_stderr,
                                        args=(self.proc.stderr,),
                                        daemon=True)
        self._reader.start()
        self._stdout_reader = threading.Thread(target=self._read_stdout,
                                               args=(self.proc.stdout,),
                                               daemon=True)
        self._stdout_reader.start()
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                for line in self._log[self._run_start:]:
                    m = LISTEN_RE.search(line)
                    if m:
                        self.port = int(m.group(1))
                        break
                if self.port is not None:
                    break
                if self.proc.poll() is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._log_cond.wait(min(left, 0.2))
        if self.port is None:
            rc = self.proc.poll()
            if rc is None:
                self._kill_quietly()
                raise DaemonError("colibrid did not report its port within "
                                  "%.0f s; log:\n%s" % (timeout,
                                                        self.run_log()))
            self._reader.join(5)
            self.returncode = rc
            self.proc = None
            raise DaemonError("colibrid exited with %d before listening; "
                              "log:\n%s" % (rc, self.run_log()))
        with open(self.token_path) as f:
            self.token = f.read().strip()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process and its stderr; returns the exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_quietly()
            raise DaemonError("colibrid did not exit within %.0f s; log:\n%s"
                              % (timeout, self.run_log()))
        if self._reader:
            self._reader.join(10)
        if self._stdout_reader:
            self._stdout_reader.join(10)
        self.returncode = rc
        self.proc = None
        return rc

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT,
             expect_code=0):
        """Sends sig (SIGTERM), waits, and asserts the exit code (0)."""
        if self.proc is None:
            return self.returncode
        self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        self.assert_no_sanitizer_reports()
        if expect_code is not None and rc != expect_code:
            raise AssertionError("colibrid exited with %r, not %r, after "
                                 "signal %d; log:\n%s"
                                 % (rc, expect_code, sig, self.run_log()))
        return rc

    def kill9(self):
        """SIGKILL: no chance to clean up."""
        if self.proc is None:
            return
        self.proc.kill()
        self.wait_exit()
        self.assert_no_sanitizer_reports()

    def sanitizer_reports(self):
        return [l for l in self.log_lines()
                if any(m in l for m in SANITIZER_MARKERS)]

    def assert_no_sanitizer_reports(self):
        found = self.sanitizer_reports()
        if found:
            raise AssertionError("sanitizer reports in colibrid's stderr:\n"
                                 "%s\nfull log:\n%s"
                                 % ("\n".join(found), self.log()))

    def restart(self, timeout=START_TIMEOUT):
        """Stops (if running) and starts again on the same data dir."""
        if self.running():
            self.stop()
        return self.start(timeout)

    def _kill_quietly(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None

    def cleanup(self):
        """Kills the process if still running and removes the tmp dir."""
        self._kill_quietly()
        shutil.rmtree(self.tmp, ignore_errors=True)
        with _live_lock:
            _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # --- the log --------------------------------------------------------

    def log_lines(self, all_runs=True):
        with self._log_cond:
            return list(self._log if all_runs
                        else self._log[self._run_start:])

    def log(self):
        """Everything colibrid wrote on stderr, every run of this object."""
        return "\n".join(self.log_lines())

    def run_log(self):
        return "\n".join(self.log_lines(all_runs=False))

    def wait_for_log(self, pattern, timeout=30, start=0):
        """Waits until a stderr line (index >= start) matches pattern;
        returns the match.  Raises AssertionError on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._log_cond:
            while True:
                for line in self._log[start:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line matches %r within "
                                         "%.0f s; log:\n%s"
                                         % (pattern, timeout,
                                            "\n".join(self._log)))
                self._log_cond.wait(min(left, 0.2))

    # --- HTTP -----------------------------------------------------------

    def connection(self, timeout=REQUEST_TIMEOUT):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls[0])
            ctx.check_hostname = False
            return http.client.HTTPSConnection("127.0.0.1", self.port,
                                               timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, headers=None, token=True,
                raw_body=None, content_type="application/json", host=None,
                chunked=False, timeout=REQUEST_TIMEOUT):
        """One request on a fresh connection.

        body      a Python value sent as JSON (with content_type)
        raw_body  bytes/str sent as is, or an iterable of bytes (chunked)
        token     True: the daemon's token; False/None: no Authorization;
                  a string: that token
        host      a Host header value instead of 127.0.0.1:<port>
        Returns Response(status, headers, body).
        """
        hdrs = {}
        if token is True:
            hdrs["Authorization"] = "Bearer " + self.token
        elif token:
            hdrs["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        elif raw_body is not None:
            data = raw_body.encode("utf-8") if isinstance(raw_body, str) \
                else raw_body
        if data is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        conn = self.connection(timeout)
        try:
            conn.putrequest(method, path, skip_host=True,
                            skip_accept_encoding=True)
            conn.putheader("Host", host if host is not None
                           else "127.0.0.1:%d" % self.port)
            is_iter = data is not None and not isinstance(
                data, (bytes, bytearray))
            if chunked or is_iter:
                conn.putheader("Transfer-Encoding", "chunked")
            elif data is not None:
                conn.putheader("Content-Length", str(len(data)))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            try:
                if data is None:
                    conn.endheaders()
                elif chunked or is_iter:
                    conn.endheaders()
                    chunks = [data] if isinstance(data, (bytes, bytearray)) \
                        else data
                    for chunk in chunks:
                        if chunk:
                            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    conn.send(b"0\r\n\r\n")
                else:
                    conn.endheaders(data)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (413) and close before reading
                # everything we send; its answer is still there to read.
                pass
            resp = conn.getresponse()
            raw = resp.read()
            headers_out = resp.msg
            return Response(resp.status, headers_out,
                            _parse_body(headers_out, raw), raw)
        finally:
            conn.close()

    # Convenience wrappers -------------------------------------------------

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        if body is None and "raw_body" not in kw:
            body = {}
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_task(self, **fields):
        """POST /api/v1/tasks; asserts 201 and returns the task."""
        if "title" not in fields:
            fields["title"] = "task"
        r = self.post("/api/v1/tasks", fields)
        if r.status != 201:
            raise AssertionError("create failed: %r" % (r,))
        return r.body

    def get_task(self, task_id):
        r = self.get("/api/v1/tasks/%d" % task_id)
        if r.status != 200:
            raise AssertionError("get %d failed: %r" % (task_id, r))
        return r.body

    def list_all(self, query="", limit=1000):
        """Follows the cursor through every page of GET /api/v1/tasks."""
        items, after, pages = [], None, 0
        while True:
            q = "limit=%d" % limit
            if query:
                q += "&" + query
            if after is not None:
                q += "&after=" + after
            r = self.get("/api/v1/tasks?" + q)
            if r.status != 200:
                raise AssertionError("list failed: %r" % (r,))
            items.extend(r.body["items"])
            pages += 1
            after = r.body["next"]
            if after is None:
                return items
            if pages > 100000:
                raise AssertionError("pagination does not end")

    # --- the Unix socket ------------------------------------------------

    def socket_client(self, timeout=REQUEST_TIMEOUT):
        """A SocketClient connected to this daemon's socket."""
        return SocketClient(self.socket_path, timeout)

    def socket_call(self, op, args=None, id=1):
        """One request on a fresh socket connection; returns the answer
        ({"id":..,"ok":..,"result"|"error":..})."""
        with self.socket_client() as c:
            return c.call(op, args, id)

    # --- the database ---------------------------------------------------

    def snapshot(self):
        return db_snapshot(self.db_path)


class SocketClient:
    """A connection to colibrid's Unix socket (newline-delimited JSON).

    call(op, args, id) sends one request and returns its answer;
    send(bytes) and read_answer() drive the protocol by hand (pipelining,
    bad lines)."""

    def __init__(self, path, timeout=REQUEST_TIMEOUT):
        import socket as socket_module
        self.sock = socket_module.socket(socket_module.AF_UNIX,
                                         socket_module.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.pending = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def read_line(self):
        """The next line (bytes, without "\\n"); b"" once closed."""
        while b"\n" not in self.pending:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                line, self.pending = self.pending, b""
                return line
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line

    def read_answer(self):
        line = self.read_line()
        if not line:
            raise AssertionError("the daemon closed the connection")
        return json.loads(line.decode("utf-8"))

    def call(self, op, args=None, id=1):
        req = {"id": id, "op": op}
        if args is not None:
            req["args"] = args
        self.send(json.dumps(req) + "\n")
        return self.read_answer()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def db_snapshot(path):
    """Every row of tasks and task_deps (sorted), read-only, so a test can
    assert that a refused request changed nothing."""
    uri = "file:%s?mode=ro" % path
    con = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        out = {}
        for table, order in (("tasks", "id"),
                             ("task_deps", "task_id, depends_on")):
            cur = con.execute("SELECT * FROM %s ORDER BY %s" % (table,
                                                                order))
            out[table] = [tuple(row) for row in cur.fetchall()]
        # The agent registry (schema 2 and later).
        if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                       "AND name = 'agents'").fetchone():
            cur = con.execute("SELECT * FROM agents ORDER BY id")
            out["agents"] = [tuple(row) for row in cur.fetchall()]
        return out
    finally:
        con.close()


class DaemonTestCase(unittest.TestCase):
    """A TestCase with helpers; daemons made with self.daemon() are cleaned
    up after each test."""

    maxDiff = None

    def setUp(self):
        self._daemons = []

    def tearDown(self):
        # A daemon the test left running is stopped the normal way, so a
        # bad exit (or a sanitizer report) is still noticed.
        problems = []
        for d in self._daemons:
            try:
                if d.running():
                    d.stop()
            except (AssertionError, DaemonError) as e:
                problems.append(str(e))
            finally:
                d.cleanup()
        if problems:
            raise AssertionError("\n\n".join(problems))

    def daemon(self, *args, start=True, **kw):
        """A Daemon cleaned up after this test (started unless
        start=False)."""
        d = Daemon(*args, start=False, **kw)
        self._daemons.append(d)
        if start:
            d.start()
        return d

    def assertProblem(self, resp, status, code=None, msg=None):
        """Asserts an RFC 9457 problem with the given status (and code)."""
        st, headers, body = resp
        info = "%s%r" % ((msg + ": ") if msg else "", resp)
        self.assertEqual(st, status, info)
        ctype = headers.get("Content-Type") or ""
        self.assertTrue(ctype.startswith("application/problem+json"),
                        "Content-Type %r; %s" % (ctype, info))
        self.assertIsInstance(body, dict, info)
        for member in PROBLEM_MEMBERS:
            self.assertIn(member, body, info)
        self.assertEqual(body["status"], status, info)
        self.assertIsInstance(body["type"], str, info)
        self.assertIsInstance(body["title"], str, info)
        self.assertIsInstance(body["detail"], str, info)
        if code is not None:
            self.assertEqual(body["code"], code, info)
        return body

    def assertStatus(self, resp, status, msg=None):
        self.assertEqual(resp[0], status, "%s%r" % (
            (msg + ": ") if msg else "", resp))
        return resp[2]


class SharedDaemonTestCase(DaemonTestCase):
    """Tests that share one daemon per class, started with daemon_args;
    each test first checks that it is still alive."""

    daemon_args = []

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(list(cls.daemon_args))

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

def wait_until(predicate, timeout=30, interval=0.1):
    """Polls predicate until it returns a true value; returns that value,
    or the last (false) value after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def main():
    """unittest.main() that always exits non-zero on any failure."""
    unittest.main(verbosity=2)


if __name__ == "__main__":
    sys.exit("colibri_test.py is a helper module; run the test_*.py files")
