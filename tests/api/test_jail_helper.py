"""colibri-jail-helper as a real program: it refuses everything but the
jexec/jail forms jail_wrap produces (status 126, a message on stderr),
and for those execs the tool with exactly the validated argv, passing the
environment through minus loader variables.  The tools are test shims
(COLIBRI_JEXEC / COLIBRI_JAIL, honoured only when the helper runs without
privilege) that record their argv and environment."""

import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

import colibri_test

SHIM = """#!/usr/bin/env python3
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ)}))
sys.exit(int(os.environ.get("SHIM_EXIT", "0")))
"""


def helper_path():
    return os.path.join(os.path.dirname(colibri_test.colibrid_path()),
                        "colibri-jail-helper")


class JailHelperTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="colibri-helper-")
        self.jexec = os.path.join(self.dir, "jexec")
        self.jail = os.path.join(self.dir, "jail")
        for p in (self.jexec, self.jail):
            with open(p, "w") as f:
                f.write(SHIM)
            os.chmod(p, stat.S_IRWXU)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_helper(self, args, extra_env=None):
        env = colibri_test.clean_env({"COLIBRI_JEXEC": self.jexec,
                                      "COLIBRI_JAIL": self.jail})
        env.update(extra_env or {})
        return subprocess.run([helper_path()] + list(args),
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=30,
                              universal_newlines=True)

    def assertRefused(self, args, reason):
        r = self.run_helper(args)
        self.assertEqual(r.returncode, 126, (args, r.stderr))
        self.assertEqual(r.stdout, "")
        self.assertIn("colibri-jail-helper: refused:", r.stderr)
        self.assertIn(reason, r.stderr)

    def test_refuses_anything_else(self):
        self.assertRefused([], "usage")
        self.assertRefused(["sh", "-c", "id"], "only the jexec and jail")
        self.assertRefused([self.jexec, "j", "/bin/sh"],
                           "only the jexec and jail")
        self.assertRefused(["jexec", "-l", "j", "/bin/sh"], "jail name")
        self.assertRefused(["jexec", "j"], "missing command")
        self.assertRefused(["jexec", "j", "-sh"], "command")
        self.assertRefused(["jexec", "-U", "-root", "j", "/bin/sh"],
                           "jail user")
        # jail -r only for a jail the spawner named, and nothing more
        self.assertRefused(["jail", "-r", "j"], "tag must start")
        self.assertRefused(["jail", "-r", "colibri-ab", "-f", "x"],
                           "exactly one")
        self.assertRefused(["jail", "-m", "colibri-ab"],
                           "only 'jail -c' and 'jail -r'")
        self.assertRefused(["jail", "-c", "name=web", "path=/a",
                            "command=/bin/sh"], "tag must start")
        self.assertRefused(["jail", "-c", "path=/a/../b", "command=/bin/sh"],
                           "..")
        self.assertRefused(["jail", "-c", "path=/a", "ip4.addr=1.2.3",
                            "command=/bin/sh"], "IPv4")
        self.assertRefused(["jail", "-c", "path=/a", "persist",
                            "command=/bin/sh"], "expected command")

    def test_relative_tool_refused(self):
        r = self.run_helper(["jexec", "j", "/bin/sh"],
                            {"COLIBRI_JEXEC": "jexec"})
        self.assertEqual(r.returncode, 126, r.stderr)
        self.assertIn("absolute", r.stderr)

    def test_jexec_form_runs_with_env(self):
        r = self.run_helper(["jexec", "-U", "agent", "agents", "/bin/pi",
                             "--mode", "json", "-p", "hi there"],
                            {"COLIBRI_AGENT_ID": "a1",
                             "PROVIDER_KEY": "k",
                             "LD_COLIBRI_TEST": "1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["argv"], ["-U", "agent", "agents", "/bin/pi",
                                       "--mode", "json", "-p", "hi there"])
        self.assertEqual(out["env"]["COLIBRI_AGENT_ID"], "a1")
        self.assertEqual(out["env"]["PROVIDER_KEY"], "k")
        self.assertNotIn("LD_COLIBRI_TEST", out["env"])

    def test_jail_form_runs(self):
        r = self.run_helper(["jail", "-c", "-U", "agent", "path=/jails/a",
                             "ip4.addr=192.0.2.7", "command=/bin/pi",
                             "--mode", "json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["argv"],
                         ["-c", "-U", "agent", "path=/jails/a",
                          "ip4.addr=192.0.2.7", "command=/bin/pi",
                          "--mode", "json"])

    def test_named_jail_and_removal_forms_run(self):
        r = self.run_helper(["jail", "-c", "name=colibri-0a1b2c3d4e5f",
                             "path=/jails/a", "command=/bin/pi"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["argv"],
                         ["-c", "name=colibri-0a1b2c3d4e5f", "path=/jails/a",
                          "command=/bin/pi"])
        r = self.run_helper(["jail", "-r", "colibri-0a1b2c3d4e5f"],
                            {"SHIM_EXIT": "3"})
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(json.loads(r.stdout)["argv"],
                         ["-r", "colibri-0a1b2c3d4e5f"])

    def test_exit_status_propagates(self):
        r = self.run_helper(["jexec", "agents", "/bin/pi"],
                            {"SHIM_EXIT": "7"})
        self.assertEqual(r.returncode, 7, r.stderr)


if __name__ == "__main__":
    colibri_test.main()
