"""MCP against a real daemon: colibri-mcp's line framing and protocol
errors spoken to directly, POST /mcp's HTTP rules, and the official MCP
TypeScript SDK client (tests/mcp/e2e.mjs) over stdio and over POST /mcp.

The SDK test needs node and npm: tests/mcp/node_modules is installed with
`npm ci` from the committed lock file when it is missing; when npm
cannot install it, that test is skipped with the reason."""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import colibri_test
from colibri_test import Daemon, clean_env

SKILL = "hello-world"
SKILL_MD = """---
name: hello-world
description: Greets the world politely, for the MCP test.
---
# Hello

Say hello to the world.
"""


def mcp_path():
    path = os.environ.get("COLIBRI_MCP") or os.path.join(
        colibri_test.srcdir(), "colibri-mcp")
    if not os.access(path, os.X_OK):
        raise RuntimeError("colibri-mcp not found: %s (set COLIBRI_MCP)"
                           % path)
    return path


def expected_tools():
    out = subprocess.run([colibri_test.colibrid_path(), "--print-ops"],
                         check=True, stdout=subprocess.PIPE).stdout
    ops = json.loads(out)
    return [o["name"].replace(".", "_") for o in ops
            if "stream" not in o["flags"] and "local" not in o["flags"]]


def npm_ready(mcpdir):
    """(directory, '') where e2e.mjs runs with its node_modules (npm ci
    from the lock file when missing: in the source tree, or in a copy
    when that is read-only, as under make distcheck), else (None, why)."""
    if os.path.isdir(os.path.join(mcpdir, "node_modules",
                                  "@modelcontextprotocol", "sdk")):
        return mcpdir, ""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None, "node and npm are not installed"
    where = mcpdir
    if not os.access(mcpdir, os.W_OK):
        where = os.path.join(tempfile.mkdtemp(prefix="colibri-mcp-npm-"),
                             "mcp")
        shutil.copytree(mcpdir, where)
        os.chmod(where, 0o700)
    try:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                           cwd=where, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300,
                           universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "npm ci failed: %s" % e
    if r.returncode != 0:
        return None, "npm ci failed:\n%s" % r.stdout[-2000:]
    return where, ""


class McpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="colibri-mcp-test-")
        skills = os.path.join(cls.tmp, "skills")
        os.makedirs(os.path.join(skills, SKILL))
        with open(os.path.join(skills, SKILL, "SKILL.md"), "w") as f:
            f.write(SKILL_MD)
        cls.d = Daemon(["--skills-path", skills])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
            cls.d.assert_no_sanitizer_reports()
        finally:
            cls.d.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def stdio(self, lines, args=None, env=None, status=0):
        """Runs colibri-mcp with lines on stdin; returns the answers."""
        r = subprocess.run([mcp_path()] + (args if args is not None else
                                           ["--socket", self.d.socket_path]),
                           input="".join(l + "\n" for l in lines),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=clean_env(env), universal_newlines=True,
                           timeout=60)
        self.assertEqual(r.returncode, status, r.stderr)
        if status != 0:
            return r.stderr
        return [json.loads(l) for l in r.stdout.splitlines()]

    def test_stdio_framing_and_errors(self):
        out = self.stdio([
            '{"jsonrpc":"2.0","id":1,"method":"initialize","params":'
            '{"protocolVersion":"2025-11-25"}}',
            '{"jsonrpc":"2.0","method":"notifications/initialized"}',
            '',
            '{oops',
            '[]',
            '{"jsonrpc":"2.0","id":2,"method":"no/such"}',
            '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":'
            '{"name":"nope"}}',
            '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":'
            '{"name":"task_get","arguments":{"id":"x"}}}',
            '{"jsonrpc":"2.0","id":5,"method":"ping"}',
        ])
        self.assertEqual(len(out), 7)   # no answer to the notification
        self.assertEqual(out[0]["result"]["protocolVersion"], "2025-11-25")
        self.assertEqual(out[1]["error"]["code"], -32700)
        self.assertEqual(out[2]["error"]["code"], -32600)
        self.assertEqual(out[3]["error"]["code"], -32601)
        self.assertEqual(out[4]["error"]["code"], -32602)
        self.assertIn("nope", out[4]["error"]["message"])
        # Bad arguments are the operation's error: a result, isError.
        self.assertTrue(out[5]["result"]["isError"])
        self.assertEqual(out[5]["result"]["structuredContent"]["status"],
                         400)
        self.assertEqual(out[6], {"jsonrpc": "2.0", "id": 5, "result": {}})

    def test_stdio_over_http(self):
        out = self.stdio(['{"jsonrpc":"2.0","id":1,"method":"tools/call",'
                          '"params":{"name":"system_version"}}'],
                         ["--url", self.d.base_url, "--token-file",
                          self.d.token_path])
        self.assertFalse(out[0]["result"]["isError"])
        self.assertEqual(out[0]["result"]["structuredContent"]["name"],
                         "colibri")

    def test_finds_the_daemon_as_the_cli_does(self):
        """COLIBRI_URL with the data directory's token file (the daemon's
        own, via COLIBRI_DATA_DIR), and a token file that cannot be
        read."""
        call = ['{"jsonrpc":"2.0","id":1,"method":"tools/call",'
                '"params":{"name":"task_list"}}']
        out = self.stdio(call, [], env={
            "COLIBRI_URL": self.d.base_url,
            "COLIBRI_DATA_DIR": os.path.dirname(self.d.token_path)})
        self.assertFalse(out[0]["result"]["isError"], out)
        err = self.stdio(call, ["--url", self.d.base_url, "--token-file",
                                os.path.join(self.tmp, "missing")],
                         status=1)
        self.assertIn("cannot read the token file", err)

    def test_unreachable_daemon_is_a_tool_error(self):
        out = self.stdio(['{"jsonrpc":"2.0","id":1,"method":"tools/call",'
                          '"params":{"name":"task_list"}}'],
                         ["--socket", os.path.join(self.tmp, "none.sock")])
        self.assertTrue(out[0]["result"]["isError"])
        self.assertEqual(out[0]["result"]["structuredContent"]["code"],
                         "unreachable")

    def post(self, body, headers=None, method="POST"):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port,
                                          timeout=60)
        h = {"Authorization": "Bearer " + self.d.token,
             "Content-Type": "application/json",
             "Accept": "application/json, text/event-stream"}
        h.update(headers or {})
        for k in [k for k, v in h.items() if v is None]:
            del h[k]
        conn.request(method, "/mcp", body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheader("Content-Type"), data

    def test_http_rules(self):
        status, ctype, data = self.post(
            '{"jsonrpc":"2.0","id":1,"method":"ping"}')
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertEqual(json.loads(data)["result"], {})
        status, _, data = self.post(
            '{"jsonrpc":"2.0","id":"d","method":"server/discover","params":'
            '{"_meta":{"io.modelcontextprotocol/protocolVersion":'
            '"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}')
        self.assertEqual(status, 200)
        self.assertIn("2026-07-28",
                      json.loads(data)["result"]["supportedVersions"])
        status, _, data = self.post(
            '{"jsonrpc":"2.0","method":"notifications/initialized"}')
        self.assertEqual((status, data), (202, b""))
        status, _, data = self.post('{nope')
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(data)["error"]["code"], -32700)
        status, _, _ = self.post('{}', {"Authorization": None})
        self.assertEqual(status, 401)
        status, _, _ = self.post('{}', {"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        status, _, _ = self.post('{}', {"Content-Type": "text/plain"})
        self.assertEqual(status, 415)
        status, _, _ = self.post('{}', {"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        status, _, _ = self.post('{}', {"Host": "evil.example"})
        self.assertEqual(status, 403)
        status, _, _ = self.post(None, method="GET")
        self.assertEqual(status, 405)

    def test_sdk_client(self):
        mcpdir = os.path.join(colibri_test.srcdir(), "tests", "mcp")
        mcpdir, why = npm_ready(mcpdir)
        if why:
            self.skipTest("MCP SDK end-to-end test skipped: " + why)
        env = clean_env({
            "COLIBRI_MCP": mcp_path(),
            "MCP_SOCKET": self.d.socket_path,
            "MCP_URL": self.d.base_url,
            "MCP_TOKEN": self.d.token,
            "MCP_TOOLS": json.dumps(expected_tools()),
            "MCP_SKILL": SKILL,
        })
        r = subprocess.run(["node", "e2e.mjs"], cwd=mcpdir, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0,
                         "e2e.mjs failed:\n%s\n%s" % (r.stdout, r.stderr))
        self.assertIn("ok", r.stdout.splitlines()[-1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
