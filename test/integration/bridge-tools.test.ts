/**
 * The agent's fleet tools against a real fleet (nats-server, coordinator, workers), called the way
 * both front doors call them: runTool with an exec-scope token, and `ocf mcp` over stdio with the
 * MCP SDK's own client.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { FleetClient } from "../../src/client/client.js";
import { FLEET_TOOL_NAMES, runTool } from "../../src/bridge/tools.js";
import { REPO_ROOT, TestFleet, waitFor } from "../helpers/fleet.js";

describe("fleet tools on a real fleet", () => {
  const fleet = new TestFleet();
  let tools: FleetClient;
  let execToken = "";

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("home-server", { labels: { site: "home" }, env: { ...process.env, DISPLAY: "", WAYLAND_DISPLAY: "" } });
    await fleet.addApprovedWorker("office-pc", { labels: { site: "office" } });
    execToken = (await fleet.client.createToken("bridge-test", "exec")).token;
    tools = new FleetClient({ url: fleet.coordinator?.url ?? "", token: execToken });
  });
  after(() => fleet.close());

  test("fleet_nodes lists machines with status, labels and capabilities; filters work", async () => {
    const all = await runTool(tools, "fleet_nodes", {});
    assert.equal(all.isError, false);
    assert.match(all.text, /^2 machine\(s\), 2 online:/);
    assert.match(all.text, /- home-server: online, linux\/\w+, .*labels site=home, capabilities shell\.exec/);
    assert.equal(all.details.count, 2);
    const home = await runTool(tools, "fleet_nodes", { labels: { site: "home" } });
    assert.match(home.text, /^1 machine\(s\)/);
    assert.doesNotMatch(home.text, /office-pc/);
    const offline = await runTool(tools, "fleet_nodes", { status: "offline" });
    assert.match(offline.text, /^No machines match/);
  });

  test("fleet_exec runs on the machine named forgivingly and reports the exit code and output", async () => {
    const ok = await runTool(tools, "fleet_exec", { node: "Home Server", command: "echo hi" });
    assert.equal(ok.isError, false);
    assert.match(ok.text, /^home-server: ok, exit code 0, \d+ ms — `echo hi`\nstdout:\nhi\n?$/);
    assert.equal(ok.details.ok, true);
    assert.equal(ok.details.exitCode, 0);
    const failed = await runTool(tools, "fleet_exec", { node: "home-server", command: "echo oops >&2; exit 3" });
    assert.equal(failed.isError, false, "a command that fails is a successful call with its exit code");
    assert.equal(failed.details.exitCode, 3);
    assert.equal(failed.details.ok, false);
    assert.match(failed.text, /exit code 3/);
    assert.match(failed.text, /stderr:\noops/);
  });

  test("long output reaches the model as head and tail with the byte counts", async () => {
    // 588,895 bytes: under the worker's own 1 MiB cap, far over what a model should read.
    const result = await runTool(tools, "fleet_exec", { node: "home-server", command: "seq 1 100000" });
    assert.ok(result.text.length < 12 * 1024, `text is ${result.text.length} chars`);
    assert.match(result.text, /stdout:\n1\n2\n3\n/);
    assert.match(result.text, /\[\.\.\. \d+ of 588895 bytes omitted \.\.\.\]/);
    assert.match(result.text, /99999\n100000\n?$/);
    assert.doesNotMatch(result.text, /cut its output/);
  });

  test("unknown and ambiguous names return the candidates; nothing runs", async () => {
    const unknown = await runTool(tools, "fleet_exec", { node: "mystery", command: "touch /tmp/ocf-never" });
    assert.equal(unknown.isError, true);
    assert.match(unknown.text, /no machine called "mystery".*Known machines: .*home-server.*office-pc/s);
    assert.deepEqual(unknown.details.candidates, ["home-server", "office-pc"]);
    await fleet.addApprovedWorker("web-1", { name: "Web" });
    await fleet.addApprovedWorker("web-2", { name: "web" });
    const ambiguous = await runTool(tools, "fleet_exec", { node: "WEB", command: "true" });
    assert.equal(ambiguous.isError, true);
    assert.match(ambiguous.text, /"WEB" matches more than one machine: web-1 \("Web"\), web-2 \("web"\)/);
    await fleet.stopWorker("web-1");
    await fleet.stopWorker("web-2");
    await fleet.client.removeNode("web-1");
    await fleet.client.removeNode("web-2");
  });

  test("a timeout is reported as such", async () => {
    const result = await runTool(tools, "fleet_exec", { node: "home-server", command: "sleep 5", timeout_seconds: 1 });
    assert.equal(result.details.status, "timeout");
    assert.match(result.text, /home-server: timeout/);
  });

  test("fleet_broadcast: one block per machine; a selector that matches nothing says so", async () => {
    const result = await runTool(tools, "fleet_broadcast", { command: "echo all" });
    assert.equal(result.isError, false);
    assert.match(result.text, /^2 machine\(s\): 2 ok, 0 error, 0 timeout, 0 offline/);
    assert.match(result.text, /home-server: ok, exit code 0/);
    assert.match(result.text, /office-pc: ok, exit code 0/);
    assert.equal(result.details.ok, true);
    const none = await runTool(tools, "fleet_broadcast", { command: "echo all", labels: { site: "nope" } });
    assert.match(none.text, /^No machine matches/);
  });

  test("screenshot and camera on a machine without those capabilities: a clear error", async () => {
    const shot = await runTool(tools, "fleet_screenshot", { node: "home-server" });
    assert.equal(shot.isError, true);
    // The machine itself says what it lacks.
    assert.match(shot.text, /"home-server" cannot do that: home-server cannot capture its screen: /);
    const photo = await runTool(tools, "fleet_camera", { node: "home-server" });
    assert.match(photo.text, /cannot do that: home-server cannot take a camera photo: /);
    assert.equal((photo.details.error as { code: string }).code, "capability_unavailable");
  });

  test("bad arguments and a read-only token are refused with sentences, never thrown", async () => {
    const missing = await runTool(tools, "fleet_exec", { node: "home-server" });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /invalid arguments: command/);
    const extra = await runTool(tools, "fleet_exec", { node: "home-server", command: "true", sudo: true });
    assert.match(extra.text, /invalid arguments/);
    const readToken = (await fleet.client.createToken("bridge-read", "read")).token;
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: readToken });
    const refused = await runTool(reader, "fleet_exec", { node: "home-server", command: "true" });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /lacks the "exec" scope/);
    assert.equal((await runTool(reader, "fleet_nodes", {})).isError, false, "listing needs only read");
  });

  test("an offline machine answers at once", async () => {
    await fleet.stopWorker("office-pc");
    await waitFor("office-pc offline", async () => (await fleet.client.node("office-pc")).status === "offline", 15_000);
    const started = Date.now();
    const result = await runTool(tools, "fleet_exec", { node: "office-pc", command: "true" });
    assert.ok(Date.now() - started < 5000);
    assert.equal(result.isError, true);
    assert.match(result.text, /"office-pc" is offline, so nothing ran/);
  });

  test("ocf mcp over stdio: the same tools through the MCP SDK client", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--import", "tsx", "src/cli/main.ts", "mcp"],
      cwd: REPO_ROOT,
      env: { ...(process.env as Record<string, string>), OCF_URL: fleet.coordinator?.url ?? "", OCF_TOKEN: execToken, OCF_LOG_CONSOLE: "none" },
      stderr: "pipe",
    });
    const client = new Client({ name: "ocf-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      const listed = await client.listTools();
      assert.deepEqual(listed.tools.map((tool) => tool.name), FLEET_TOOL_NAMES);
      assert.equal(listed.tools.find((tool) => tool.name === "fleet_exec")?.inputSchema.type, "object");
      const ran = await client.callTool({ name: "fleet_exec", arguments: { node: "home-server", command: "echo via-mcp" } });
      assert.equal(ran.isError, false);
      assert.match((ran.content as Array<{ text: string }>)[0]?.text ?? "", /via-mcp/);
      const unknown = await client.callTool({ name: "fleet_exec", arguments: { node: "mystery", command: "true" } });
      assert.equal(unknown.isError, true);
      assert.match((unknown.content as Array<{ text: string }>)[0]?.text ?? "", /Known machines/);
    } finally {
      await client.close();
    }
  });
});
