"""The spawner over real HTTP with colibri-smoke-agent: agent.spawn
(202 {id, pid}) -> working -> done; the injected environment and nothing
else; no daemon descriptor in the child; a crash loop restarted with
jittered exponential backoff, then error with the reason; agent.kill
with grace (SIGTERM honoured, or SIGKILL after the grace); a setsid()
grandchild killed too, also when its run ended by itself; no zombies;
daemon shutdown stops every child;
agent.restart; refusals; and the jail chain through fake mdo/jexec/jail
programs (test shims that record argv and environment, then exec the
rest)."""

import json
import os
import re
import stat
import time

import colibri_test
from colibri_test import DaemonTestCase, wait_until


def smoke_path():
    return os.path.join(os.path.dirname(colibri_test.colibrid_path()),
                        "colibri-smoke-agent")


def proc_stat(pid):
    """(state, ppid) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st[1] == pid:
                out.append((int(name), st[0]))
    return out


def pids_with_env(entry):
    """Processes whose environment holds entry ("NAME=value")."""
    want = entry.encode() + b"\0"
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if env.startswith(want) or (b"\0" + want) in env:
            out.append(int(name))
    return out


class SpawnTest(DaemonTestCase):

    def start_daemon(self, args=(), env=None):
        self.d = self.daemon(args=list(args), env=env)
        return self.d

    def spawn(self, status=202, **body):
        r = self.d.post("/api/v1/agents/spawn", body)
        if status != 202:
            return r
        doc = self.assertStatus(r, 202, "spawn %r" % (body,))
        self.assertEqual(set(doc), {"id", "pid"})
        return doc

    def process(self, agent):
        return self.assertStatus(
            self.d.get("/api/v1/agents/%s/process" % agent), 200)

    def state(self, agent):
        return self.assertStatus(
            self.d.get("/api/v1/agents/%s/state" % agent), 200)["state"]

    def wait_state(self, agent, want, timeout=20):
        got = wait_until(lambda: self.state(agent) == want, timeout)
        self.assertTrue(got, "%s never became %s (is %s)"
                        % (agent, want, self.state(agent)))

    def wait_ended(self, agent, timeout=20):
        p = wait_until(lambda: (lambda p: p if not p["running"] else None)(
            self.process(agent)), timeout)
        self.assertTrue(p, "%s still running" % agent)
        return p

    def smoke_lines(self, scenario):
        import subprocess
        out = subprocess.run([smoke_path(), "--scenario", scenario,
                              "--delay-ms", "0"], stdout=subprocess.PIPE,
                             env=colibri_test.clean_env(), timeout=30,
                             universal_newlines=True).stdout
        return out.splitlines()

    def assertNoZombies(self):
        z = wait_until(lambda: not [c for c in children_of(self.d.proc.pid)
                                    if c[1] == "Z"], 5)
        self.assertTrue(z, children_of(self.d.proc.pid))

    def test_spawn_working_then_done(self):
        self.start_daemon()
        doc = self.spawn(runner="smoke", id="ok-1",
                         args=["--scenario", "slow", "--delay-ms", "100"])
        self.assertEqual(doc["id"], "ok-1")
        self.assertGreater(doc["pid"], 1)
        self.wait_state("ok-1", "working", 5)
        self.wait_state("ok-1", "done")
        p = self.wait_ended("ok-1")
        self.assertEqual((p["exit_status"], p["restarts"]), (0, 0))
        # done is never restarted
        time.sleep(0.8)
        p = self.process("ok-1")
        self.assertEqual((p["running"], p["restarts"]), (False, 0))
        agent = self.assertStatus(self.d.get("/api/v1/agents/ok-1"), 200)
        self.assertEqual(agent["kind"], "smoke")
        # the process is on the agent, in the store
        self.assertEqual(agent["process"], {"pid": doc["pid"],
                                            "exit_status": 0,
                                            "restarts": 0})
        self.assertIsNone(agent["jail"])
        # the session log: the run's raw stdout lines, between Colibri's
        # annotations, in data_dir/sessions/<agent>/
        p = self.process("ok-1")
        self.assertEqual(os.path.dirname(p["session"]),
                         os.path.join(self.d.data_dir, "sessions", "ok-1"))
        with open(p["session"]) as f:
            lines = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(lines[0]["colibri"], "spawn")
        self.assertEqual(lines[0]["pid"], doc["pid"])
        self.assertEqual((lines[-1]["colibri"], lines[-1]["exit_status"],
                          lines[-1]["state"]), ("exit", 0, "done"))
        # state annotations come between, one per transition
        self.assertIn({"from": "working", "to": "done"},
                      [{"from": l["from"], "to": l["to"]} for l in lines
                       if l.get("colibri") == "state"])
        raw = [l for l in lines[1:-1]
               if not isinstance(l.get("colibri"), str)]
        self.assertEqual(raw[0]["type"], "session")
        self.assertEqual(raw[-1]["type"], "agent_end")
        self.assertEqual(len(raw), len(self.smoke_lines("slow")))
        self.assertNoZombies()

    def test_generated_id(self):
        self.start_daemon()
        doc = self.spawn(runner="smoke", args=["--scenario", "ok"])
        self.wait_state(doc["id"], "done")

    def test_env_and_descriptors(self):
        self.start_daemon(["--spawn-env-allow", "ALLOWED_X,REQ_Z"],
                          env={"ALLOWED_X": "1", "SECRET_Y": "2"})
        doc = self.spawn(runner="smoke", id="env-1", task_id=7,
                         args=["--scenario", "hang"], env={"REQ_Z": "z"})
        self.wait_state("env-1", "working", 5)
        with open("/proc/%d/environ" % doc["pid"], "rb") as f:
            env = dict(e.split("=", 1) for e in
                       f.read().decode().split("\0") if e)
        self.assertEqual(env["COLIBRI_AGENT_ID"], "env-1")
        self.assertEqual(env["COLIBRI_TASK_ID"], "7")
        self.assertEqual(env["COLIBRI_URL"], self.d.base_url + "/")
        self.assertEqual(env["COLIBRI_SOCKET"], self.d.socket_path)
        self.assertEqual(env["ALLOWED_X"], "1")
        self.assertEqual(env["REQ_Z"], "z")
        self.assertNotIn("SECRET_Y", env)
        # Only stdin (/dev/null), stdout and stderr (pipes): no database,
        # socket, listener or client connection of the daemon.
        fds = sorted(int(x) for x in os.listdir("/proc/%d/fd" % doc["pid"]))
        self.assertEqual(fds, [0, 1, 2])
        self.assertEqual(os.readlink("/proc/%d/fd/0" % doc["pid"]),
                         "/dev/null")
        for fd in (1, 2):
            self.assertTrue(os.readlink("/proc/%d/fd/%d" % (doc["pid"], fd))
                            .startswith("pipe:"))
        # Own process group.
        self.assertEqual(os.getpgid(doc["pid"]), doc["pid"])
        r = self.spawn(status=400, runner="smoke", id="env-2",
                       env={"SECRET_Y": "x"})
        self.assertProblem(r, 400, "env_not_allowed")

    def test_crash_loop_backs_off_and_gives_up(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="crash-1", args=["--scenario", "crash"],
                   max_restarts=3, backoff_floor_ms=50, backoff_cap_ms=300)
        p = wait_until(lambda: (lambda p: p if p["last_error"] else None)(
            self.process("crash-1")), 20)
        self.assertTrue(p)
        self.assertEqual(p["restarts"], 3)
        self.assertFalse(p["running"])
        self.assertEqual(p["exit_status"], 1)
        self.assertIn("gave up after 3 restarts", p["last_error"])
        self.assertIn("crashing mid-run", p["stderr"])
        self.wait_state("crash-1", "error")
        agent = self.assertStatus(self.d.get("/api/v1/agents/crash-1"), 200)
        self.assertEqual(agent["process"]["restarts"], 3)
        self.assertEqual(agent["process"]["exit_status"], 1)
        self.assertEqual(agent["process"]["pid"], p["pid"])
        delays = [int(m.group(1)) for m in
                  (re.search(r"crash-1 restarts in (\d+) ms", l)
                   for l in self.d.log_lines()) if m]
        self.assertEqual(len(delays), 3, delays)
        for k, d in enumerate(delays):
            self.assertGreaterEqual(d, 50)
            self.assertLessEqual(d, min(300, 50 * 2 ** k))
        self.assertNoZombies()

    def test_kill_with_grace(self):
        self.start_daemon()
        doc = self.spawn(runner="smoke", id="kill-1",
                         args=["--scenario", "hang"])
        self.wait_state("kill-1", "working", 5)
        t0 = time.monotonic()
        r = self.assertStatus(self.d.post("/api/v1/agents/kill-1/kill",
                                          {"grace_seconds": 10}), 200)
        self.assertTrue(r["stopped"])
        p = self.wait_ended("kill-1")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(p["exit_status"], 143)
        self.assertFalse(alive(doc["pid"]))
        self.wait_state("kill-1", "error")
        time.sleep(0.5)
        self.assertEqual(self.process("kill-1")["restarts"], 0)
        self.assertNoZombies()

    def test_sigterm_ignored_gets_sigkill(self):
        self.start_daemon(["--runner", "stubborn=%s --scenario hang "
                           "--ignore-term" % smoke_path()])
        doc = self.spawn(runner="stubborn", id="stub-1")
        self.wait_state("stub-1", "working", 5)
        t0 = time.monotonic()
        self.assertStatus(self.d.post("/api/v1/agents/stub-1/kill",
                                      {"grace_seconds": 1}), 200)
        time.sleep(0.5)
        self.assertTrue(alive(doc["pid"]))
        p = self.wait_ended("stub-1")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(p["exit_status"], 137)
        self.assertNoZombies()

    def test_setsid_grandchild_is_killed(self):
        self.start_daemon()
        self.spawn(runner="smoke", id="fork-1", args=["--scenario", "fork"])
        self.wait_state("fork-1", "working", 5)
        tree = wait_until(lambda: (lambda t: t if len(t) >= 2 else None)(
            [p for p in pids_with_env("COLIBRI_AGENT_ID=fork-1")
             if alive(p)]), 5)
        self.assertTrue(tree, "no grandchild")
        sids = {os.getsid(p) for p in tree}
        self.assertGreaterEqual(len(sids), 2, "the grandchild left the "
                                "session")
        self.assertStatus(self.d.post("/api/v1/agents/fork-1/kill",
                                      {"grace_seconds": 2}), 200)
        self.wait_ended("fork-1")
        gone = wait_until(lambda: not [p for p in tree if alive(p)], 5)
        self.assertTrue(gone, [p for p in tree if alive(p)])
        self.assertNoZombies()
        self.assertFalse([p for p in pids_with_env("COLIBRI_AGENT_ID=fork-1")
                          if proc_stat(p)])

    def test_escaped_descendants_of_ended_runs_are_hunted(self):
        """Runs that end by themselves (done) leaving a setsid()
        grandchild: the supervisor's sweep kills each grandchild, several
        runs ending together in one pass."""
        self.start_daemon()
        agents = ["orphan-%d" % i for i in range(3)]
        for a in agents:
            self.spawn(runner="smoke", id=a, max_restarts=0,
                       args=["--scenario", "orphan"])
        for a in agents:
            self.assertEqual(self.wait_ended(a)["exit_status"], 0)
            self.wait_state(a, "done", 5)
        for a in agents:
            left = wait_until(lambda: not [
                p for p in pids_with_env("COLIBRI_AGENT_ID=" + a)
                if alive(p)], 5)
            self.assertTrue(left, "%s: %r" % (a, [
                p for p in pids_with_env("COLIBRI_AGENT_ID=" + a)
                if alive(p)]))
        self.assertNoZombies()

    def test_shutdown_stops_every_child(self):
        self.start_daemon()
        a = self.spawn(runner="smoke", id="down-1", args=["--scenario",
                                                          "hang"])
        self.spawn(runner="smoke", id="down-2", args=["--scenario", "fork"])
        self.wait_state("down-1", "working", 5)
        self.wait_state("down-2", "working", 5)
        tree = wait_until(lambda: (lambda t: t if len(t) >= 2 else None)(
            [p for p in pids_with_env("COLIBRI_AGENT_ID=down-2")
             if alive(p)]), 5)
        self.assertTrue(tree)
        self.d.stop()
        for p in [a["pid"]] + tree:
            self.assertTrue(wait_until(lambda: not alive(p), 5), p)

    def test_restart(self):
        self.start_daemon()
        a = self.spawn(runner="smoke", id="re-1", args=["--scenario", "hang"])
        self.wait_state("re-1", "working", 5)
        b = self.assertStatus(self.d.post("/api/v1/agents/re-1/restart", {}),
                              200)
        self.assertEqual(b["id"], "re-1")
        self.assertNotEqual(b["pid"], a["pid"])
        self.assertFalse(wait_until(lambda: alive(a["pid"]) and None, 1))
        self.assertFalse(alive(a["pid"]))
        self.assertTrue(alive(b["pid"]))
        self.wait_state("re-1", "working", 5)
        # a running agent is not spawned twice
        r = self.spawn(status=409, runner="smoke", id="re-1")
        self.assertProblem(r, 409, "agent_running")
        self.assertStatus(self.d.post("/api/v1/agents/re-1/kill",
                                      {"grace_seconds": 0}), 200)
        self.wait_ended("re-1")

    def test_socket_and_legacy_names(self):
        self.start_daemon()
        a = self.d.socket_call("SpawnAgent", {"runner": "smoke",
                                              "id": "sock-1",
                                              "args": ["--scenario", "hang"]})
        self.assertTrue(a["ok"], a)
        self.assertEqual(a["result"]["id"], "sock-1")
        self.wait_state("sock-1", "working", 5)
        b = self.d.socket_call("agent.process", {"id": "sock-1"})
        self.assertTrue(b["ok"], b)
        self.assertEqual(b["result"]["pid"], a["result"]["pid"])
        k = self.d.socket_call("KillAgent", {"id": "sock-1",
                                             "grace_seconds": 1})
        self.assertTrue(k["ok"], k)
        self.assertEqual(self.wait_ended("sock-1")["exit_status"], 143)
        # the jail object over the socket too
        j = self.d.socket_call("SpawnAgent", {"runner": "smoke",
                                              "jail": {"path": "/a/../b"}})
        self.assertFalse(j["ok"])
        self.assertEqual(j["error"]["code"], "invalid_jail")

    def test_runner_configuration(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix="colibri-runner-")
        for bad in ("bad name=x", "x=", "=prog", "noequals"):
            r = colibri_test.run_colibrid(["--runner", bad, "--data-dir",
                                           tmp, "--check-config"])
            self.assertEqual(r.returncode, 1, bad)
            self.assertIn("--runner", r.stderr)
        r = colibri_test.run_colibrid(
            ["--runner", "a=/bin/a --x 1", "--runner", "b=/bin/b",
             "--spawn-env-allow", "K1,K2", "--data-dir", tmp,
             "--print-config"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("runner = a=/bin/a --x 1\n", r.stdout)
        self.assertIn("runner = b=/bin/b\n", r.stdout)
        self.assertIn("spawn-env-allow = K1,K2\n", r.stdout)
        # the environment: ';' between runners
        r = colibri_test.run_colibrid(
            ["--data-dir", tmp, "--print-config"],
            env={"COLIBRI_RUNNER": "a=/bin/a;b=/bin/b x"})
        self.assertIn("runner = b=/bin/b x\n", r.stdout)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)

    def test_refusals(self):
        self.start_daemon(env={"COLIBRI_JAIL_PRIV_MODE": "sudo"})
        r = self.spawn(status=400, runner="nope")
        self.assertProblem(r, 400, "unknown_runner")
        r = self.spawn(status=400, runner="/bin/sh")
        self.assertProblem(r, 400)
        r = self.spawn(status=400, runner="smoke", jail={"path": "rel/x"})
        self.assertProblem(r, 400, "invalid_jail")
        r = self.spawn(status=400, runner="smoke", jail={"name": "-l"})
        self.assertProblem(r, 400, "invalid_jail")
        r = self.spawn(status=400, runner="smoke", jail={"shell": "x"})
        self.assertProblem(r, 400, "invalid_jail")
        r = self.spawn(status=400, runner="smoke", jail={"name": "j"})
        self.assertProblem(r, 400, "invalid_jail")
        self.assertIn("COLIBRI_JAIL_PRIV_MODE", r.body["detail"])
        r = self.spawn(status=400, runner="smoke", cwd="relative")
        self.assertProblem(r, 400)
        for path in ("/api/v1/agents/nobody/kill",
                     "/api/v1/agents/nobody/restart"):
            self.assertProblem(self.d.post(path, {}), 404,
                               "agent_not_spawned")
        self.assertProblem(self.d.get("/api/v1/agents/nobody/process"), 404,
                           "agent_not_spawned")

    def write_shim(self, name, body):
        path = os.path.join(self.d_tmp, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, stat.S_IRWXU)
        return path

    def test_jail_chain_through_shims(self):
        import tempfile
        self.d_tmp = tempfile.mkdtemp(prefix="colibri-shims-")
        rec = os.path.join(self.d_tmp, "rec")
        # mdo: records, then runs the rest.  jexec [-U user] NAME cmd...:
        # records argv and environment, drops its own arguments, execs.
        mdo = self.write_shim("mdo", 'echo "mdo $*" >> %s\nexec "$@"\n'
                              % rec)
        jexec = self.write_shim(
            "jexec", 'echo "jexec $*" >> %s\nenv > %s.env\n'
            'if [ "$1" = -U ]; then shift 2; fi\nshift\nexec "$@"\n'
            % (rec, rec))
        jail = self.write_shim(
            "jail", 'echo "jail $*" >> %s\nshift\n'
            'if [ "$1" = -U ]; then shift 2; fi\n'
            'while [ "${1#command=}" = "$1" ]; do shift; done\n'
            'c="${1#command=}"; shift\nexec "$c" "$@"\n' % rec)
        self.start_daemon(["--mdo-path", mdo, "--jexec-path", jexec,
                           "--jail-path", jail],
                          env={"COLIBRI_JAIL_PRIV_MODE": "mdo"})
        smoke = smoke_path()
        self.spawn(runner="smoke", id="jail-1", args=["--scenario", "ok"],
                   jail={"name": "agents", "user": "agent"})
        self.wait_state("jail-1", "done")
        self.assertEqual(self.wait_ended("jail-1")["exit_status"], 0)
        agent = self.assertStatus(self.d.get("/api/v1/agents/jail-1"), 200)
        self.assertEqual(agent["jail"], {"name": "agents", "user": "agent"})
        self.spawn(runner="smoke", id="jail-2", args=["--scenario", "crash"],
                   max_restarts=0,
                   jail={"path": "/", "ip4": "127.0.0.2", "user": "agent"})
        self.assertEqual(self.wait_ended("jail-2")["exit_status"], 1)
        self.wait_state("jail-2", "error")
        with open(rec) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "mdo %s -U agent agents %s --scenario ok"
                         % (jexec, smoke))
        self.assertEqual(lines[1], "jexec -U agent agents %s --scenario ok"
                         % smoke)
        # an ephemeral jail is named, so that it can be found afterwards
        self.assertRegex(lines[2], "^mdo %s -c -U agent "
                         "name=colibri-[0-9a-f]{12} path=/ "
                         "ip4.addr=127.0.0.2 command=%s --scenario crash$"
                         % (re.escape(jail), re.escape(smoke)))
        with open(rec + ".env") as f:
            self.assertIn("COLIBRI_AGENT_ID=jail-1", f.read().splitlines())
        # kill reaches the agent through the chain
        self.spawn(runner="smoke", id="jail-3", args=["--scenario", "hang"],
                   jail={"name": "agents"})
        self.wait_state("jail-3", "working", 5)
        self.assertStatus(self.d.post("/api/v1/agents/jail-3/kill",
                                      {"grace_seconds": 2}), 200)
        self.assertEqual(self.wait_ended("jail-3")["exit_status"], 143)
        import shutil
        shutil.rmtree(self.d_tmp, ignore_errors=True)

    def ephemeral_shims(self):
        """mdo, jail and jls shims that keep a jail table in a folder:
        jail -c name=N ... creates jails/N, runs the command and removes
        jails/N afterwards unless the file 'keep' exists (a process left
        inside); jail -r N removes it unless 'stuck' exists; jls -j N
        succeeds while jails/N exists."""
        import tempfile
        self.d_tmp = tempfile.mkdtemp(prefix="colibri-shims-")
        self.addCleanup(__import__("shutil").rmtree, self.d_tmp, True)
        t = self.d_tmp
        os.mkdir(os.path.join(t, "jails"))
        rec = os.path.join(t, "rec")
        mdo = self.write_shim("mdo", 'echo "mdo $*" >> %s\nexec "$@"\n'
                              % rec)
        jls = self.write_shim(
            "jls", 'echo "jls $*" >> %s\n[ "$1" = -j ] || exit 2\n'
            '[ -e "%s/jails/$2" ] || { echo "jls: jail \\"$2\\" not '
            'found" >&2; exit 1; }\necho 7\n' % (rec, t))
        jail = self.write_shim(
            "jail", 'echo "jail $*" >> %s\n'
            'if [ "$1" = -r ]; then\n'
            '  [ -e "%s/stuck" ] || rm -f "%s/jails/$2"\n  exit 0\nfi\n'
            'shift\nif [ "$1" = -U ]; then shift 2; fi\n'
            'name=\nwhile [ "${1#command=}" = "$1" ]; do\n'
            '  case "$1" in name=*) name="${1#name=}";; esac\n  shift\n'
            'done\n[ -n "$name" ] && touch "%s/jails/$name"\n'
            'c="${1#command=}"; shift\n"$c" "$@"\nst=$?\n'
            '[ -e "%s/keep" ] || rm -f "%s/jails/$name"\nexit $st\n'
            % (rec, t, t, t, t, t))
        return mdo, jail, jls, rec

    def records(self, rec):
        with open(rec) as f:
            return f.read().splitlines()

    def test_ephemeral_jail_checked_and_removed(self):
        mdo, jail, jls, rec = self.ephemeral_shims()
        jails = os.path.join(self.d_tmp, "jails")
        self.start_daemon(["--mdo-path", mdo, "--jail-path", jail,
                           "--jls-path", jls],
                          env={"COLIBRI_JAIL_PRIV_MODE": "mdo"})

        def cleanup(agent):
            got = wait_until(lambda: self.process(agent).get(
                "jail_cleanup") not in (None, "checking"), 10)
            self.assertTrue(got, "no jail check for %s" % agent)
            return self.process(agent)

        # The jail went away with its command: checked, nothing removed.
        self.spawn(runner="smoke", id="eph-1", args=["--scenario", "ok"],
                   jail={"path": "/"})
        self.wait_state("eph-1", "done")
        p = cleanup("eph-1")
        self.assertEqual(p["jail_cleanup"], "gone")
        tag = p["jail_name"]
        self.assertRegex(tag, "^colibri-[0-9a-f]{12}$")
        self.assertIn("jls -j %s jid" % tag, self.records(rec))
        self.assertNotIn("jail -r %s" % tag,
                         [l.replace("mdo %s " % jail, "jail ")
                          for l in self.records(rec)])
        # A process stayed inside: the jail outlives its command and is
        # removed through the privilege wrapper, then verified gone.
        open(os.path.join(self.d_tmp, "keep"), "w").close()
        self.spawn(runner="smoke", id="eph-2", args=["--scenario", "ok"],
                   jail={"path": "/", "user": "agent"})
        self.wait_state("eph-2", "done")
        p = cleanup("eph-2")
        self.assertEqual(p["jail_cleanup"], "removed")
        tag2 = p["jail_name"]
        self.assertNotEqual(tag2, tag)
        lines = self.records(rec)
        self.assertIn("mdo %s -r %s" % (jail, tag2), lines)
        self.assertEqual(lines.count("jls -j %s jid" % tag2), 2)
        self.assertFalse(os.path.exists(os.path.join(jails, tag2)))
        # Removal that does not take is reported, not hidden.
        open(os.path.join(self.d_tmp, "stuck"), "w").close()
        self.spawn(runner="smoke", id="eph-3", args=["--scenario", "crash"],
                   max_restarts=0, jail={"path": "/"})
        p = cleanup("eph-3")
        self.assertTrue(p["jail_cleanup"].startswith("failed:"),
                        p["jail_cleanup"])
        self.assertIn(p["jail_name"], p["jail_cleanup"])
        # A named (persistent) jail is never checked or removed.
        self.spawn(runner="smoke", id="eph-4", args=["--scenario", "ok"],
                   jail={"name": "agents"}, )
        self.wait_ended("eph-4")
        p = self.process("eph-4")
        self.assertNotIn("jail_name", p)
        self.assertNotIn("jail_cleanup", p)

    def test_restart_waits_for_the_jail_check(self):
        """A run restarts in a jail of the same name only once the last
        one's jail is checked (and here removed): the removal can never
        hit the new run's jail."""
        mdo, jail, jls, rec = self.ephemeral_shims()
        open(os.path.join(self.d_tmp, "keep"), "w").close()
        self.start_daemon(["--mdo-path", mdo, "--jail-path", jail,
                           "--jls-path", jls],
                          env={"COLIBRI_JAIL_PRIV_MODE": "mdo"})
        self.spawn(runner="smoke", id="eph-r", args=["--scenario", "crash"],
                   max_restarts=1, backoff_floor_ms=10, backoff_cap_ms=10,
                   jail={"path": "/"})
        got = wait_until(lambda: (lambda p: p if p.get("last_error") and
                                  p.get("jail_cleanup") == "removed"
                                  else None)(self.process("eph-r")), 20)
        self.assertTrue(got, self.process("eph-r"))
        tag = got["jail_name"]
        # what the daemon ran (mdo ..., jls ...), not the jail shim's own
        # record of being run
        steps = [l for l in self.records(rec)
                 if tag in l and not l.startswith("jail ")]
        create = "mdo %s -c name=%s" % (jail, tag)
        remove = "mdo %s -r %s" % (jail, tag)
        kinds = ["create" if l.startswith(create) else
                 "remove" if l == remove else
                 "probe" if l == "jls -j %s jid" % tag else l
                 for l in steps]
        self.assertEqual(kinds, ["create", "probe", "remove", "probe",
                                 "create", "probe", "remove", "probe"],
                         steps)

    def test_ephemeral_jail_removed_through_helper(self):
        """helper mode end to end: the real colibri-jail-helper accepts
        the named jail -c form and jail -r of a colibri- jail."""
        mdo, jail, jls, rec = self.ephemeral_shims()
        helper = os.path.join(os.path.dirname(colibri_test.colibrid_path()),
                              "colibri-jail-helper")
        open(os.path.join(self.d_tmp, "keep"), "w").close()
        # The unprivileged helper honours COLIBRI_JAIL, which the daemon
        # sets to its configured --jail-path (here the shim).
        self.start_daemon(["--jail-helper-path", helper, "--jls-path", jls,
                           "--jail-path", jail],
                          env={"COLIBRI_JAIL_PRIV_MODE": "helper"})
        self.spawn(runner="smoke", id="eph-h", args=["--scenario", "ok"],
                   jail={"path": "/", "ip4": "127.0.0.2"})
        self.wait_ended("eph-h")
        self.assertEqual(self.state("eph-h"), "done",
                         self.process("eph-h"))
        got = wait_until(lambda: self.process("eph-h").get(
            "jail_cleanup") == "removed", 10)
        p = self.process("eph-h")
        self.assertTrue(got, p.get("jail_cleanup"))
        lines = self.records(rec)
        self.assertIn("jail -r %s" % p["jail_name"], lines)
        self.assertIn("jail -c name=%s path=/ ip4.addr=127.0.0.2 command=%s "
                      "--scenario ok" % (p["jail_name"], smoke_path()), lines)


if __name__ == "__main__":
    colibri_test.main()
