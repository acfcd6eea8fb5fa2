"""colibri-probe against a local mock of DeepSeek (mock_deepseek.py): the
hit/miss arithmetic checked exactly, every error path's exit status and
message, TLS verification, and --record into the daemon's metering."""

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

import colibri_test
from colibri_test import DaemonTestCase
from mock_deepseek import (MockDeepSeek, prompt_text, token_count,
                           CACHE_UNIT, TOKEN_BYTES)

KEY = "sk-test-0123456789"
PRICES = ["--price-input", "0.27", "--price-cache-hit", "0.07",
          "--price-output", "1.10"]
LINE_RE = re.compile(r"^request (\d+)/(\d+): hit (\d+) miss (\d+) output "
                     r"(\d+) hit_ratio (\d+\.\d{4})(?: cost (\d+\.\d{8}) "
                     r"USD)?$")

# Exit statuses, colibri-probe(1).
EXIT_USAGE, EXIT_NETWORK, EXIT_TLS, EXIT_AUTH = 2, 3, 4, 5
EXIT_RATE_LIMITED, EXIT_BAD_ANSWER, EXIT_HTTP, EXIT_DAEMON = 6, 7, 8, 9


def probe_path():
    p = os.environ.get("COLIBRI_PROBE")
    if p:
        return p
    return os.path.join(os.path.dirname(colibri_test.colibrid_path()),
                        "colibri-probe")


def cost(hit, miss, out, p_in=0.27, p_hit=0.07, p_out=1.10):
    return (miss * p_in + hit * p_hit + out * p_out) / 1e6


class ProbeTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="colibri-probe-test-")
        cls.key_file = os.path.join(cls.tmp, "key")
        with open(cls.key_file, "w") as f:
            f.write(KEY + "\n")
        cls.mock = MockDeepSeek(key=KEY).start()

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_probe(self, *args, env=None, key=True, timeout=60):
        cmd = [probe_path()]
        if key:
            cmd += ["--api-key-file", self.key_file]
        cmd += list(args)
        e = colibri_test.clean_env(env)
        e.pop("DEEPSEEK_API_KEY", None)
        if env and "DEEPSEEK_API_KEY" in env:
            e["DEEPSEEK_API_KEY"] = env["DEEPSEEK_API_KEY"]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, timeout=timeout)
        p.elapsed = time.monotonic() - t0
        p.out = p.stdout.decode()
        p.err = p.stderr.decode()
        for marker in colibri_test.SANITIZER_MARKERS:
            self.assertNotIn(marker, p.err)
        return p

    def fresh_mock(self):
        m = MockDeepSeek(key=KEY).start()
        self.addCleanup(m.stop)
        return m

    def assertExit(self, p, status, *words):
        self.assertEqual(p.returncode, status, "stdout %r stderr %r" %
                         (p.out, p.err))
        for w in words:
            self.assertIn(w, p.err)
        # One clear line naming the failure (retry notes come before it).
        last = p.err.strip().splitlines()[-1]
        self.assertTrue(last.startswith("colibri-probe: "), p.err)

    # --- the arithmetic ------------------------------------------------

    def expected_usages(self, mock):
        """Hit/miss per request, computed here from the bodies the probe
        sent (not from the mock's answers): tokens are 4 bytes, a hit is
        the longest prefix shared with an earlier request, rounded down
        to 64 tokens."""
        texts, out = [], []
        for entry in mock.log:
            body = json.loads(entry["body"])
            text = prompt_text(body["messages"])
            prompt = token_count(len(text))
            best = 0
            for old in texts:
                n = 0
                while n < min(len(old), len(text)) and old[n] == text[n]:
                    n += 1
                best = max(best, n // TOKEN_BYTES)
            hit = best - best % CACHE_UNIT
            texts.append(text)
            out.append((hit, prompt - hit, min(body["max_tokens"], 2)))
        return out

    def test_hit_miss_arithmetic_json(self):
        mock = self.fresh_mock()
        prefix = os.path.join(self.tmp, "prefix.txt")
        with open(prefix, "w") as f:
            f.write("".join("Line %04d of a long and stable system "
                            "prompt.\n" % i for i in range(100)))
        p = self.run_probe("--base-url", mock.url(), "-n", "5",
                           "--prefix-file", prefix, "--json", *PRICES)
        self.assertEqual(p.returncode, 0, p.err)
        doc = json.loads(p.out)
        self.assertEqual(len(mock.log), 5)
        # The shared prefix is the file, byte for byte, as the system
        # message of every request; the user message varies.
        with open(prefix) as f:
            text = f.read()
        users = set()
        for entry in mock.log:
            body = json.loads(entry["body"])
            self.assertEqual(body["model"], "deepseek-chat")
            self.assertEqual(body["messages"][0],
                             {"role": "system", "content": text})
            users.add(body["messages"][1]["content"])
            self.assertEqual(entry["auth"], "Bearer " + KEY)
        self.assertEqual(len(users), 5)
        expected = self.expected_usages(mock)
        # The first is all miss; the others share the prefix.
        self.assertEqual(expected[0][0], 0)
        system_tokens = len(("system:\n" + text + "\n").encode()) // 4
        for hit, miss, out in expected[1:]:
            self.assertGreater(hit, 0)
            self.assertEqual(hit % 64, 0)
            self.assertEqual(hit, system_tokens - system_tokens % 64)
        total_hit = total_miss = total_out = 0
        total_cost = total_uncached = 0.0
        for i, (item, (hit, miss, out)) in enumerate(
                zip(doc["requests"], expected), 1):
            self.assertEqual(item["request"], i)
            self.assertEqual(item["hit_tokens"], hit)
            self.assertEqual(item["miss_tokens"], miss)
            self.assertEqual(item["prompt_tokens"], hit + miss)
            self.assertEqual(item["output_tokens"], out)
            self.assertEqual(item["attempts"], 1)
            self.assertAlmostEqual(item["hit_ratio"], hit / (hit + miss),
                                   places=12)
            self.assertAlmostEqual(item["cost"], cost(hit, miss, out),
                                   places=15)
            total_hit += hit
            total_miss += miss
            total_out += out
            total_cost += cost(hit, miss, out)
            total_uncached += cost(0, hit + miss, out)
        # And the mock agrees with the computation above.
        self.assertEqual([(u["prompt_cache_hit_tokens"],
                           u["prompt_cache_miss_tokens"],
                           u["completion_tokens"]) for u in mock.usages],
                         expected)
        t = doc["total"]
        self.assertEqual((t["requests"], t["hit_tokens"], t["miss_tokens"],
                          t["output_tokens"]),
                         (5, total_hit, total_miss, total_out))
        self.assertAlmostEqual(t["hit_ratio"],
                               total_hit / (total_hit + total_miss),
                               places=12)
        self.assertAlmostEqual(t["cost"], total_cost, places=15)
        self.assertAlmostEqual(t["uncached_cost"], total_uncached,
                               places=15)
        self.assertAlmostEqual(t["saving"], total_uncached - total_cost,
                               places=15)
        self.assertGreater(t["saving"], 0)

    def test_text_lines_and_built_in_prefix(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url() + "/", "-n", "3",
                           "--prefix-bytes", "4000", *PRICES)
        self.assertEqual(p.returncode, 0, p.err)
        lines = p.out.strip().splitlines()
        self.assertEqual(len(lines), 4, p.out)
        expected = self.expected_usages(mock)
        for i, (line, (hit, miss, out)) in enumerate(
                zip(lines, expected), 1):
            m = LINE_RE.match(line)
            self.assertIsNotNone(m, line)
            self.assertEqual(tuple(int(x) for x in m.group(1, 2, 3, 4, 5)),
                             (i, 3, hit, miss, out))
            self.assertEqual(m.group(6), "%.4f" % (hit / (hit + miss)))
            self.assertEqual(m.group(7), "%.8f" % cost(hit, miss, out))
        th = sum(e[0] for e in expected)
        tm = sum(e[1] for e in expected)
        to = sum(e[2] for e in expected)
        self.assertTrue(lines[3].startswith(
            "total: 3 requests, hit %d miss %d output %d hit_ratio %.4f "
            "cost %.8f USD" % (th, tm, to, th / (th + tm),
                               sum(cost(*e) for e in expected))), lines[3])
        # The built-in prefix is deterministic: a second run sends the
        # same system message, so even its first request is a hit.
        sys1 = json.loads(mock.log[0]["body"])["messages"][0]["content"]
        self.assertGreaterEqual(len(sys1), 4000)
        p = self.run_probe("--base-url", mock.url(), "-n", "1",
                           "--prefix-bytes", "4000", "--json")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertEqual(json.loads(mock.log[3]["body"])["messages"][0]
                         ["content"], sys1)
        item = json.loads(p.out)["requests"][0]
        self.assertGreater(item["hit_tokens"], 0)

    def test_no_prices_no_cost(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url(), "-n", "1", "--json")
        self.assertEqual(p.returncode, 0, p.err)
        doc = json.loads(p.out)
        self.assertIsNone(doc["requests"][0]["cost"])
        self.assertIsNone(doc["total"]["cost"])
        p = self.run_probe("--base-url", mock.url(), "-n", "1")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertNotIn("cost", p.out)
        self.assertNotIn("USD", p.out)

    def test_model_flag_and_env_key(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url(), "-n", "1", "--model",
                           "deepseek-reasoner", key=False,
                           env={"DEEPSEEK_API_KEY": KEY})
        self.assertEqual(p.returncode, 0, p.err)
        self.assertEqual(json.loads(mock.log[0]["body"])["model"],
                         "deepseek-reasoner")

    # --- errors --------------------------------------------------------

    def test_missing_key(self):
        p = self.run_probe("--base-url", self.mock.url(), key=False)
        self.assertExit(p, EXIT_USAGE, "DEEPSEEK_API_KEY", "--api-key-file",
                        "missing_key")
        empty = os.path.join(self.tmp, "empty-key")
        open(empty, "w").close()
        p = self.run_probe("--base-url", self.mock.url(), "--api-key-file",
                           empty, key=False)
        self.assertExit(p, EXIT_USAGE, "empty", "missing_key")
        p = self.run_probe("--base-url", self.mock.url(), "--api-key-file",
                           os.path.join(self.tmp, "nope"), key=False)
        self.assertExit(p, EXIT_USAGE, "No such file", "missing_key")

    def test_bad_key_401(self):
        bad = os.path.join(self.tmp, "bad-key")
        with open(bad, "w") as f:
            f.write("sk-wrong\n")
        n = len(self.mock.log)
        p = self.run_probe("--base-url", self.mock.url(), "--api-key-file",
                           bad, key=False)
        self.assertExit(p, EXIT_AUTH, "HTTP 401", "unauthorized")
        self.assertNotIn("sk-wrong", p.err)
        self.assertEqual(len(self.mock.log), n + 1, "401 is not retried")
        p = self.run_probe("--base-url", self.mock.url("401"))
        self.assertExit(p, EXIT_AUTH, "unauthorized")

    def test_429_retried_then_ok(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url("429/2"), "-n", "1",
                           "--retry-delay-ms", "10", "--json")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertEqual(json.loads(p.out)["requests"][0]["attempts"], 3)
        self.assertEqual(len(mock.log), 3)

    def test_429_after_retries(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url("429/100"), "-n", "2",
                           "--retries", "2", "--retry-delay-ms", "10")
        self.assertExit(p, EXIT_RATE_LIMITED, "429", "3 attempts",
                        "rate_limited")
        self.assertEqual(len(mock.log), 3)

    def test_retry_after_is_honoured_and_capped(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url("429/1/1"), "-n", "1",
                           "--retry-delay-ms", "10")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertIn("in 1000 ms", p.err)
        self.assertGreaterEqual(p.elapsed, 1.0)
        t = mock.log[1]["time"] - mock.log[0]["time"]
        self.assertGreaterEqual(t, 0.95)
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url("429/1/3600"), "-n", "1",
                           "--retry-delay-ms", "10", "--retry-max-ms",
                           "200")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertIn("in 200 ms", p.err)
        self.assertLess(p.elapsed, 30)

    def test_500_retried_then_error(self):
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url("500/1"), "-n", "1",
                           "--retry-delay-ms", "10")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertEqual(len(mock.log), 2)
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url("500/100"), "-n", "1",
                           "--retries", "1", "--retry-delay-ms", "10")
        self.assertExit(p, EXIT_HTTP, "HTTP 500", "http_error")
        self.assertEqual(len(mock.log), 2)

    def test_malformed_json(self):
        p = self.run_probe("--base-url", self.mock.url("malformed"))
        self.assertExit(p, EXIT_BAD_ANSWER, "malformed", "bad_answer")

    def test_missing_usage(self):
        p = self.run_probe("--base-url", self.mock.url("nousage"))
        self.assertExit(p, EXIT_BAD_ANSWER, "usage", "missing_usage")

    def test_timeout(self):
        p = self.run_probe("--base-url", self.mock.url("slow/10"), "-n",
                           "1", "--timeout", "1", "--retries", "0")
        self.assertExit(p, EXIT_NETWORK, "network_error")
        self.assertRegex(p.err, r"(?i)timed? ?out")
        self.assertLess(p.elapsed, 8)

    def test_connect_refused_retried(self):
        # A port nobody listens on: bind one and close it.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = self.run_probe("--base-url", "http://127.0.0.1:%d" % port,
                           "--retries", "2", "--retry-delay-ms", "10")
        self.assertExit(p, EXIT_NETWORK, "network_error", "after retries")
        self.assertEqual(p.err.count("retry "), 2)

    def test_dns_failure(self):
        p = self.run_probe("--base-url", "https://no-such-host.invalid",
                           "--retries", "0", "--connect-timeout", "5",
                           timeout=60)
        self.assertExit(p, EXIT_NETWORK, "network_error",
                        "no-such-host.invalid")
        self.assertRegex(p.err, r"(?i)resolve")

    def make_cert(self):
        if shutil.which("openssl") is None:
            self.skipTest("openssl is not installed")
        cert = os.path.join(self.tmp, "cert.pem")
        keyf = os.path.join(self.tmp, "cert.key")
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey",
                            "rsa:2048", "-nodes", "-keyout", keyf, "-out",
                            cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return cert, keyf

    def test_tls_self_signed_refused(self):
        cert, keyf = self.make_cert()
        mock = MockDeepSeek(key=KEY, cert=cert, keyfile=keyf).start()
        self.addCleanup(mock.stop)
        p = self.run_probe("--base-url", mock.url(), "--retries", "0")
        self.assertExit(p, EXIT_TLS, "tls_error")
        self.assertEqual(mock.usages, [])
        # Verification stays on, and a private CA is honoured.
        p = self.run_probe("--base-url", mock.url(), "-n", "2", "--cacert",
                           cert, "--json")
        self.assertEqual(p.returncode, 0, p.err)
        self.assertEqual(len(mock.usages), 2)

    def test_tls_to_plain_port(self):
        url = self.mock.url().replace("http://", "https://")
        p = self.run_probe("--base-url", url, "--retries", "0")
        self.assertExit(p, EXIT_TLS, "tls_error")

    def test_usage_errors(self):
        for args in (["-n", "0"], ["-n", "x"], ["--price-input", "1"],
                     ["--price-input", "-1", "--price-cache-hit", "1",
                      "--price-output", "1"],
                     ["--base-url", "ftp://x"], ["--bogus"], ["extra"],
                     ["--agent", "bad id"]):
            p = self.run_probe(*args)
            self.assertEqual(p.returncode, EXIT_USAGE, (args, p.err))
            self.assertTrue(p.err.startswith("colibri-probe: "), p.err)
        p = self.run_probe("--help", key=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--api-key-file", p.out)

    # --- --record --------------------------------------------------------

    def test_prefix_from_prompt_assemble(self):
        d = self.daemon()
        r = d.post("/api/v1/prompt/assemble", {"kind": "smoke"})
        assembled = self.assertStatus(r, 200)
        system = assembled["messages"][0]["content"]
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url(), "-n", "2",
                           "--prompt-kind", "smoke", "--socket",
                           d.socket_path, "--json")
        self.assertEqual(p.returncode, 0, p.err)
        doc = json.loads(p.out)
        self.assertEqual(doc["prefix_sha256"], assembled["prefix_sha256"])
        for entry in mock.log:
            self.assertEqual(json.loads(entry["body"])["messages"][0],
                             {"role": "system", "content": system})
        expected = self.expected_usages(mock)
        self.assertEqual([(i["hit_tokens"], i["miss_tokens"])
                          for i in doc["requests"]],
                         [(h, m) for h, m, _ in expected])
        # A task that does not exist: the daemon says so, exit 9.
        p = self.run_probe("--base-url", mock.url(), "--prompt-kind",
                           "smoke", "--prompt-task", "999999", "--socket",
                           d.socket_path)
        self.assertExit(p, EXIT_DAEMON, "daemon_error")
        self.assertEqual(len(mock.log), 2)
        p = self.run_probe("--prompt-task", "1")
        self.assertEqual(p.returncode, EXIT_USAGE, p.err)

    def test_record_without_daemon(self):
        p = self.run_probe("--base-url", self.mock.url(), "-n", "1",
                           "--record", "--socket",
                           os.path.join(self.tmp, "no.sock"))
        self.assertEqual(p.returncode, EXIT_DAEMON, p.err)
        self.assertIn("record_failed", p.err)

    def test_record_lands_in_metering(self):
        d = self.daemon()
        mock = self.fresh_mock()
        p = self.run_probe("--base-url", mock.url(), "-n", "3", "--record",
                           "--url", d.base_url, "--token-file",
                           d.token_path, "--agent", "probe-1", "--json",
                           *PRICES)
        self.assertEqual(p.returncode, 0, p.err)
        # And over the socket, the default way.
        p2 = self.run_probe("--base-url", mock.url(), "-n", "1", "--record",
                            "--socket", d.socket_path, "--json", *PRICES)
        self.assertEqual(p2.returncode, 0, p2.err)
        items = (json.loads(p.out)["requests"] +
                 json.loads(p2.out)["requests"])
        for item in items:
            self.assertIn("recorded", item)
        expected = self.expected_usages(mock)
        db = sqlite3.connect(d.db_path)
        db.row_factory = sqlite3.Row
        got = [dict(r) for r in db.execute(
            "SELECT * FROM metering ORDER BY id")]
        db.close()
        self.assertEqual(len(got), 4, got)
        for row, (hit, miss, out) in zip(got, expected):
            self.assertEqual(row["source"], "probe")
            self.assertEqual(row["provider"], "deepseek")
            self.assertEqual(row["model"], "deepseek-chat")
            self.assertEqual(row["input_tokens"], miss)
            self.assertEqual(row["cache_read_tokens"], hit)
            self.assertEqual(row["cache_write_tokens"], 0)
            self.assertEqual(row["output_tokens"], out)
            self.assertAlmostEqual(row["cost"], cost(hit, miss, out),
                                   places=12)
        self.assertEqual([r["agent"] for r in got],
                         ["probe-1", "probe-1", "probe-1", None])


if __name__ == "__main__":
    colibri_test.main()
