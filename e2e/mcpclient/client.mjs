// An independent MCP client for micro's end-to-end tests, on the official
// TypeScript SDK. It connects to `micro mcp serve` (spawned over stdio, or
// at a streamable HTTP URL), lists the tools, calls one, and prints what it
// saw as one JSON object on stdout.
//
//   node client.mjs stdio MICRO_BIN [ARG...]   (environment passed on)
//   node client.mjs http URL [TOKEN]
//
// The tool to call and its arguments come from MCP_TOOL and MCP_ARGS.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

async function main() {
  const [mode, target, ...rest] = process.argv.slice(2);
  let transport;
  if (mode === "stdio") {
    transport = new StdioClientTransport({ command: target, args: rest, env: { ...process.env }, stderr: "inherit" });
  } else if (mode === "http") {
    const headers = rest[0] ? { Authorization: `Bearer ${rest[0]}` } : {};
    transport = new StreamableHTTPClientTransport(new URL(target), { requestInit: { headers } });
  } else {
    throw new Error(`unknown mode ${mode}: want stdio or http`);
  }
  const client = new Client({ name: "micro-e2e", version: "0.0.0" });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const tool = process.env.MCP_TOOL || "greeter_Greeter_Hello";
  const args = JSON.parse(process.env.MCP_ARGS || '{"name":"Ada"}');
  // callTool checks structuredContent against the tool's output schema.
  const result = await client.callTool({ name: tool, arguments: args });
  const server = client.getServerVersion();
  process.stdout.write(JSON.stringify({
    server,
    tools: tools.map((t) => t.name),
    result,
  }) + "\n");
  await client.close();
}

main().catch((err) => {
  process.stderr.write(`mcpclient: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
