// End-to-end test of Colibri's MCP server with the official MCP
// TypeScript SDK client: colibri-mcp over stdio, then colibrid's POST /mcp
// over Streamable HTTP, both against one real daemon that
// tests/api/test_mcp.py started.  Environment:
//   COLIBRI_MCP       the colibri-mcp binary
//   MCP_SOCKET        the daemon's Unix socket
//   MCP_URL           the daemon's base URL (http://127.0.0.1:PORT)
//   MCP_TOKEN         the API token
//   MCP_TOOLS         JSON array of the tool names expected
//   MCP_SKILL         the name of a skill the daemon serves
// Prints one line per check; exits non-zero on the first failure.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import Ajv2020 from "ajv/dist/2020.js";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const expectedTools = JSON.parse(env("MCP_TOOLS")).sort();
const skill = env("MCP_SKILL");

async function exercise(label, transport) {
  const client = new Client({ name: "colibri-e2e", version: "1.0.0" });
  await client.connect(transport);
  assert.equal(client.getServerVersion().name, "colibri");
  assert.ok(client.getServerCapabilities().tools, "tools capability");
  assert.ok(client.getServerCapabilities().resources,
            "resources capability");
  console.log(`${label}: initialized`);

  await client.ping();

  // Every operation that is not a stream is a tool, with a schema that
  // is a valid JSON Schema object.
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), expectedTools);
  const ajv = new Ajv2020({ strict: false });
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", `${t.name} schema type`);
    assert.ok(typeof t.description === "string" && t.description.length);
    ajv.compile(t.inputSchema);
  }
  console.log(`${label}: ${tools.length} tools, schemas valid`);

  // A task's life through tools/call.
  const created = await client.callTool({
    name: "task_create",
    arguments: { title: `e2e over ${label}`, priority: 1 },
  });
  assert.equal(created.isError, false);
  const id = created.structuredContent.id;
  assert.ok(Number.isInteger(id));
  assert.equal(JSON.parse(created.content[0].text).id, id);
  const claimed = await client.callTool({
    name: "task_claim",
    arguments: { id, agent: "e2e-agent" },
  });
  assert.equal(claimed.isError, false, JSON.stringify(claimed));
  const completed = await client.callTool({
    name: "task_complete",
    arguments: { id, agent: "e2e-agent", result: { ok: true } },
  });
  assert.equal(completed.isError, false, JSON.stringify(completed));
  const got = await client.callTool({ name: "task_get",
                                      arguments: { id } });
  assert.equal(got.structuredContent.status, "done");
  console.log(`${label}: task ${id} created, claimed, completed`);

  // An operation's error is a result with isError.
  const missing = await client.callTool({ name: "task_get",
                                          arguments: { id: 987654 } });
  assert.equal(missing.isError, true);
  assert.equal(missing.structuredContent.status, 404);
  // An unknown tool is a protocol error (-32602).
  await assert.rejects(
    client.callTool({ name: "no_such_tool", arguments: {} }),
    (e) => e.code === -32602 && /no_such_tool/.test(e.message));
  console.log(`${label}: errors mapped`);

  // Skills: search, then the resource.
  const found = await client.callTool({ name: "skill_search",
                                        arguments: { q: "greets" } });
  assert.ok(found.structuredContent.items.some((s) => s.name === skill),
            JSON.stringify(found));
  const { resources } = await client.listResources();
  const uri = `skill://${skill}/SKILL.md`;
  assert.ok(resources.some((r) => r.uri === uri), JSON.stringify(resources));
  const read = await client.readResource({ uri });
  assert.equal(read.contents[0].uri, uri);
  assert.match(read.contents[0].text, new RegExp(`name: ${skill}`));
  console.log(`${label}: skill searched and read`);

  await client.close();
}

const mcp = env("COLIBRI_MCP");
await exercise("stdio", new StdioClientTransport({
  command: mcp,
  args: ["--socket", env("MCP_SOCKET")],
  stderr: "inherit",
}));
await exercise("http", new StreamableHTTPClientTransport(
  new URL(`${env("MCP_URL")}/mcp`),
  { requestInit: { headers: { Authorization: `Bearer ${env("MCP_TOKEN")}` } } },
));
console.log("ok");
