"""The runtime inventory: runtime.get (host facts, runtimes on PATH with
versions, cached, jails), `colibri inventory` (same manifest, computed by
the CLI; --report), and the fleet view host.report / host.list /
host.get."""

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tempfile
import time

import colibri_test
from colibri_test import DaemonTestCase, SharedDaemonTestCase

TOOLS = "faketool,errtool,quiettool,hangtool,nothere"


def write_tool(d, name, script):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script)
    os.chmod(path, 0o755)
    return path


def make_tools(d):
    write_tool(d, "faketool", 'echo "faketool 9.8.7 (built for tests)"\n'
               'echo second line\n')
    write_tool(d, "errtool", 'echo "errtool v1.0" >&2\n')
    write_tool(d, "quiettool", 'exit 0\n')
    write_tool(d, "hangtool", 'exec sleep 30\n')
    # Not executable: not found.
    with open(os.path.join(d, "nothere"), "w") as f:
        f.write("#!/bin/sh\necho no\n")


def cli_path():
    return os.environ.get("COLIBRI_CLI") or os.path.join(
        os.path.dirname(colibri_test.colibrid_path()), "colibri")


def manifest(name, **extra):
    m = {"manifest_version": 1, "generated_at": "2026-01-01T00:00:00Z",
         "host": {"name": name, "os": "FreeBSD", "release": "14.1-RELEASE",
                  "arch": "amd64", "cpus": 8},
         "runtimes": [{"name": "node", "found": True,
                       "path": "/usr/local/bin/node", "version": "v20"}],
         "jails": [{"jid": 1, "hostname": "build", "path": "/j/build"}]}
    m.update(extra)
    return m


class RuntimeGetTest(SharedDaemonTestCase):
    tools_dir = tempfile.mkdtemp(prefix="colibri-runtime-tools-")
    make_tools(tools_dir)
    daemon_args = ["--runtime-tools", TOOLS]

    @classmethod
    def setUpClass(cls):
        cls.d = colibri_test.Daemon(
            list(cls.daemon_args),
            env={"PATH": cls.tools_dir + ":" + os.environ.get("PATH", "")})

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.tools_dir, ignore_errors=True)

    def runtimes(self, doc):
        return {r["name"]: r for r in doc["runtimes"]}

    def test_host_facts(self):
        t0 = time.time()
        doc = self.assertStatus(self.d.get("/api/v1/runtime"), 200)
        self.assertEqual(doc["manifest_version"], 1)
        host = doc["host"]
        u = os.uname()
        self.assertEqual(host["name"], u.nodename)
        self.assertEqual(host["os"], u.sysname)
        self.assertEqual(host["release"], u.release)
        self.assertEqual(host["arch"], u.machine)
        self.assertEqual(host["cpus"], os.cpu_count())
        self.assertEqual(len(host["load"]), 3)
        for v in host["load"]:
            self.assertGreaterEqual(v, 0)
        if os.path.exists("/proc/meminfo"):
            with open("/proc/meminfo") as f:
                total = int(f.readline().split()[1]) * 1024
            self.assertEqual(host["memory"]["total_bytes"], total)
            self.assertLessEqual(host["memory"]["available_bytes"], total)
        disk = host["disk"]
        self.assertEqual(disk["path"], self.d.data_dir)
        st = os.statvfs(self.d.data_dir)
        self.assertEqual(disk["total_bytes"], st.f_blocks * st.f_frsize)
        self.assertLessEqual(disk["available_bytes"], disk["free_bytes"])
        self.assertLessEqual(disk["free_bytes"], disk["total_bytes"])
        if platform.system() != "FreeBSD":
            self.assertIsNone(doc["jails"])
        version = self.assertStatus(self.d.get("/api/v1/version"), 200)
        c = doc["colibri"]
        self.assertEqual(c["role"], "colibrid")
        self.assertEqual(c["version"], version["version"])
        self.assertGreaterEqual(c["uptime_seconds"], 0)
        self.assertRegex(c["started_at"], r"^\d{4}-\d\d-\d\dT.*Z$")
        self.assertRegex(doc["generated_at"], r"^\d{4}-\d\d-\d\dT.*Z$")
        self.assertLess(time.time() - t0, 30)

    def test_runtimes_with_versions(self):
        doc = self.assertStatus(self.d.get("/api/v1/runtime?fresh=true"),
                                200)
        self.assertEqual([r["name"] for r in doc["runtimes"]],
                         TOOLS.split(","))
        r = self.runtimes(doc)
        self.assertEqual(r["faketool"], {
            "name": "faketool", "found": True,
            "path": os.path.join(self.tools_dir, "faketool"),
            "version": "faketool 9.8.7 (built for tests)"})
        self.assertEqual(r["errtool"]["version"], "errtool v1.0")
        self.assertTrue(r["quiettool"]["found"])
        self.assertIsNone(r["quiettool"]["version"])
        # A tool that hangs is cut off after 3 s, with no version.
        self.assertTrue(r["hangtool"]["found"])
        self.assertIsNone(r["hangtool"]["version"])
        self.assertEqual(r["nothere"], {"name": "nothere", "found": False,
                                        "path": None, "version": None})

    def test_runtimes_are_cached(self):
        first = self.assertStatus(self.d.get("/api/v1/runtime?fresh=1"),
                                  200)
        write_tool(self.tools_dir, "faketool", 'echo "faketool 10.0"\n')
        self.addCleanup(write_tool, self.tools_dir, "faketool",
                        'echo "faketool 9.8.7 (built for tests)"\n')
        t0 = time.monotonic()
        again = self.assertStatus(self.d.get("/api/v1/runtime"), 200)
        # The cached answer does not run the hanging tool again.
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertEqual(again["runtimes"], first["runtimes"])
        self.assertEqual(again["runtimes_checked_at"],
                         first["runtimes_checked_at"])
        fresh = self.assertStatus(self.d.get("/api/v1/runtime?fresh=true"),
                                  200)
        self.assertEqual(self.runtimes(fresh)["faketool"]["version"],
                         "faketool 10.0")
        self.assertGreater(fresh["runtimes_checked_at"],
                           first["runtimes_checked_at"])

    def test_bad_arguments(self):
        self.assertProblem(self.d.get("/api/v1/runtime?fresh=maybe"), 400)
        self.assertProblem(self.d.get("/api/v1/runtime?x=1"), 400)

    def test_over_the_socket(self):
        with self.d.socket_client() as s:
            ans = s.call("runtime.get")
        self.assertTrue(ans["ok"], ans)
        self.assertEqual(ans["result"]["host"]["os"], os.uname().sysname)


class HostReportTest(DaemonTestCase):

    def test_report_list_get(self):
        d = self.daemon()
        self.assertEqual(self.assertStatus(d.get("/api/v1/hosts"), 200),
                         {"items": [], "next": None})
        a = self.assertStatus(d.post("/api/v1/hosts",
                                     manifest("build-2.example")), 200)
        self.assertEqual(a["name"], "build-2.example")
        self.assertTrue(a["online"])
        self.assertEqual(a["reports"], 1)
        self.assertEqual(a["first_seen"], a["last_seen"])
        self.assertEqual(a["manifest"], manifest("build-2.example"))
        time.sleep(0.01)
        m2 = manifest("build-2.example", jails=None)
        b = self.assertStatus(d.post("/api/v1/hosts", m2), 200)
        self.assertEqual(b["reports"], 2)
        self.assertEqual(b["first_seen"], a["first_seen"])
        self.assertGreater(b["last_seen"], a["last_seen"])
        self.assertIsNone(b["manifest"]["jails"])
        self.assertStatus(d.post("/api/v1/hosts", manifest("alpha")), 200)
        page = self.assertStatus(d.get("/api/v1/hosts"), 200)
        self.assertEqual([h["name"] for h in page["items"]],
                         ["alpha", "build-2.example"])
        self.assertIsNone(page["next"])
        p1 = self.assertStatus(d.get("/api/v1/hosts?limit=1"), 200)
        self.assertEqual([h["name"] for h in p1["items"]], ["alpha"])
        self.assertEqual(p1["next"], "alpha")
        p2 = self.assertStatus(d.get("/api/v1/hosts?limit=1&after=alpha"),
                               200)
        self.assertEqual([h["name"] for h in p2["items"]],
                         ["build-2.example"])
        self.assertIsNone(p2["next"])
        self.assertEqual(len(self.assertStatus(
            d.get("/api/v1/hosts?online=true"), 200)["items"]), 2)
        self.assertEqual(self.assertStatus(
            d.get("/api/v1/hosts?online=false"), 200)["items"], [])
        g = self.assertStatus(d.get("/api/v1/hosts/build-2.example"), 200)
        self.assertEqual(g, dict(b, online=True))
        self.assertProblem(d.get("/api/v1/hosts/nope"), 404,
                           "host_not_found")
        # Every report is an event.
        db = sqlite3.connect(d.db_path)
        rows = db.execute("SELECT type, subject FROM events WHERE type ="
                          " 'host.reported' ORDER BY id").fetchall()
        db.close()
        self.assertEqual(rows, [("host.reported", "host:build-2.example"),
                                ("host.reported", "host:build-2.example"),
                                ("host.reported", "host:alpha")])

    def test_remove(self):
        d = self.daemon()
        self.assertStatus(d.post("/api/v1/hosts", manifest("gone")), 200)
        self.assertStatus(d.post("/api/v1/hosts", manifest("gone")), 200)
        r = d.delete("/api/v1/hosts/gone")
        self.assertEqual(r.status, 204, r)
        self.assertProblem(d.get("/api/v1/hosts/gone"), 404,
                           "host_not_found")
        self.assertProblem(d.delete("/api/v1/hosts/gone"), 404,
                           "host_not_found")
        again = self.assertStatus(d.post("/api/v1/hosts",
                                         manifest("gone")), 200)
        self.assertEqual(again["reports"], 1)
        db = sqlite3.connect(d.db_path)
        rows = db.execute("SELECT type FROM events WHERE subject ="
                          " 'host:gone' ORDER BY id").fetchall()
        db.close()
        self.assertEqual([r[0] for r in rows],
                         ["host.reported", "host.reported", "host.removed",
                          "host.reported"])

    def test_host_cap(self):
        d = self.daemon()
        d.stop()
        # 1024 hosts straight into the database, then one more by API.
        db = sqlite3.connect(d.db_path)
        now = int(time.time() * 1000)
        db.executemany("INSERT INTO hosts(name, manifest, first_seen,"
                       " reported_at, last_seen) VALUES(?, ?, ?, ?, ?)",
                       [("h%04d" % i, json.dumps(manifest("h%04d" % i)),
                         now, now, now) for i in range(1024)])
        db.commit()
        db.close()
        d.start()
        self.assertProblem(d.post("/api/v1/hosts", manifest("one-more")),
                           409, "too_many_hosts")
        self.assertProblem(d.get("/api/v1/hosts/one-more"), 404)
        # A known host still reports.
        h = self.assertStatus(d.post("/api/v1/hosts", manifest("h0007")),
                              200)
        self.assertEqual(h["reports"], 2)
        self.assertEqual(d.delete("/api/v1/hosts/h0001").status, 204)
        self.assertStatus(d.post("/api/v1/hosts", manifest("one-more")),
                          200)

    def test_offline_after_five_minutes(self):
        d = self.daemon()
        self.assertStatus(d.post("/api/v1/hosts", manifest("old")), 200)
        self.assertStatus(d.post("/api/v1/hosts", manifest("new")), 200)
        d.stop()
        db = sqlite3.connect(d.db_path)
        db.execute("UPDATE hosts SET last_seen = last_seen - 301000"
                   " WHERE name = 'old'")
        db.commit()
        db.close()
        d.start()
        self.assertEqual([h["name"] for h in self.assertStatus(
            d.get("/api/v1/hosts?online=false"), 200)["items"]], ["old"])
        self.assertEqual([h["name"] for h in self.assertStatus(
            d.get("/api/v1/hosts?online=true"), 200)["items"]], ["new"])
        self.assertFalse(self.assertStatus(d.get("/api/v1/hosts/old"),
                                           200)["online"])

    def test_bad_manifests_change_nothing(self):
        d = self.daemon()
        before = colibri_test.db_snapshot(d.db_path)
        cases = [
            ({}, 400, "missing_argument"),
            ({"host": {"name": "a"}, "extra": 1}, 400, "unknown_argument"),
            ({"host": {"name": "a"}, "manifest_version": 2}, 400, None),
            ({"host": {"name": "a"}, "generated_at": 5}, 400, None),
            ({"host": []}, 422, "invalid_manifest"),
            ({"host": {}}, 422, "invalid_manifest"),
            ({"host": {"name": ""}}, 422, "invalid_manifest"),
            ({"host": {"name": "a b"}}, 422, "invalid_manifest"),
            ({"host": {"name": "../etc"}}, 422, "invalid_manifest"),
            ({"host": {"name": "-x"}}, 422, "invalid_manifest"),
            ({"host": {"name": "x" * 256}}, 422, "invalid_manifest"),
            ({"host": {"name": "a"}, "runtimes": {}}, 422,
             "invalid_manifest"),
            ({"host": {"name": "a"}, "jails": "none"}, 422,
             "invalid_manifest"),
            ({"host": {"name": "a"}, "runtimes": ["x" * 1000] * 300}, 413,
             "manifest_too_large"),
        ]
        for body, status, code in cases:
            self.assertProblem(d.post("/api/v1/hosts", body), status, code,
                               msg=json.dumps(body)[:80])
        self.assertEqual(self.assertStatus(d.get("/api/v1/hosts"), 200)
                         ["items"], [])
        self.assertEqual(colibri_test.db_snapshot(d.db_path), before)

    def test_schema_version(self):
        d = self.daemon()
        v = self.assertStatus(d.get("/api/v1/version"), 200)
        self.assertGreaterEqual(v["schema_version"], 8)
        db = sqlite3.connect(d.db_path)
        cols = [r[1] for r in db.execute("PRAGMA table_info(hosts)")]
        db.close()
        self.assertEqual(cols, ["name", "manifest", "first_seen",
                                "reported_at", "last_seen", "reports"])


class InventoryCliTest(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.tools = tempfile.mkdtemp(prefix="colibri-inv-tools-")
        self.addCleanup(shutil.rmtree, self.tools, True)
        make_tools(self.tools)

    def run_cli(self, *args, env=None):
        e = colibri_test.clean_env(env)
        e["PATH"] = self.tools + ":" + os.environ.get("PATH", "")
        p = subprocess.run([cli_path()] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=e, timeout=60)
        for marker in colibri_test.SANITIZER_MARKERS:
            self.assertNotIn(marker, p.stderr.decode())
        return p

    def test_inventory_prints_the_manifest(self):
        data = tempfile.mkdtemp(prefix="colibri-inv-data-")
        self.addCleanup(shutil.rmtree, data, True)
        p = self.run_cli("inventory", "--tools", "faketool,nothere",
                         env={"COLIBRI_DATA_DIR": data})
        self.assertEqual(p.returncode, 0, p.stderr)
        m = json.loads(p.stdout)
        self.assertEqual(m["manifest_version"], 1)
        self.assertEqual(m["host"]["name"], os.uname().nodename)
        self.assertEqual(m["host"]["cpus"], os.cpu_count())
        self.assertEqual(m["host"]["disk"]["path"], data)
        self.assertEqual(m["colibri"]["role"], "colibri")
        self.assertNotIn("uptime_seconds", m["colibri"])
        self.assertEqual([(r["name"], r["found"], r["version"])
                          for r in m["runtimes"]],
                         [("faketool", True,
                           "faketool 9.8.7 (built for tests)"),
                          ("nothere", False, None)])
        # The default list names the usual runtimes.
        p = self.run_cli("inventory", env={"COLIBRI_DATA_DIR": data})
        self.assertEqual(p.returncode, 0, p.stderr)
        names = [r["name"] for r in json.loads(p.stdout)["runtimes"]]
        for n in ("pi", "node", "git", "python3"):
            self.assertIn(n, names)
        p = self.run_cli("inventory", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"--report", p.stdout)
        p = self.run_cli("inventory", "--bogus")
        self.assertEqual(p.returncode, 2)

    def test_inventory_report(self):
        d = self.daemon()
        p = self.run_cli("--url", d.base_url, "--token-file", d.token_path,
                         "inventory", "--report", "--tools", "faketool")
        self.assertEqual(p.returncode, 0, p.stderr)
        m = json.loads(p.stdout)
        h = self.assertStatus(d.get("/api/v1/hosts/" + m["host"]["name"]),
                              200)
        self.assertEqual(h["manifest"], m)
        self.assertTrue(h["online"])
        # Over the socket, the default transport, too.
        p = self.run_cli("--socket", d.socket_path, "inventory", "--report",
                         "--tools", "faketool")
        self.assertEqual(p.returncode, 0, p.stderr)
        h = self.assertStatus(d.get("/api/v1/hosts/" + m["host"]["name"]),
                              200)
        self.assertEqual(h["reports"], 2)
        # And `colibri host list` shows it.
        p = self.run_cli("--socket", d.socket_path, "--json", "host",
                         "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([x["name"] for x in json.loads(p.stdout)["items"]],
                         [m["host"]["name"]])
        # No daemon: the manifest is still printed; the exit status
        # says the report failed.
        p = self.run_cli("--socket", os.path.join(self.tools, "no.sock"),
                         "inventory", "--report", "--tools", "faketool")
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertEqual(json.loads(p.stdout)["host"]["name"],
                         m["host"]["name"])
        self.assertIn(b"unreachable", p.stderr)


if __name__ == "__main__":
    colibri_test.main()
