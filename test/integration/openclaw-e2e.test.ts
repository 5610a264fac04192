/**
 * The agent drives the fleet, end to end with the real OpenClaw (openclaw@2026.9.6): a gateway on
 * loopback, our plugin installed by `ocf openclaw install`, `ocf mcp` registered as an MCP server,
 * and a fake OpenAI-compatible model that answers the first turn with a tool call and the second
 * with text built from the tool's result. The chat "让 home-server 检查一下磁盘空间" must run
 * `df -h` on the worker named home-server and the agent's reply must carry its real output.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FakeModel, type Decision } from "../helpers/fake-model.js";
import { ensureOpenClaw, OpenClawGateway } from "../helpers/openclaw.js";
import { REPO_ROOT, runCli, TestFleet, waitFor } from "../helpers/fleet.js";

const DISK_REQUEST = "让 home-server 检查一下磁盘空间";

/** The fake model's policy: which fleet tool to call for a message (it prefers `prefix` tools). */
function decider(prefix: string): (userText: string, toolNames: string[]) => Decision {
  return (userText, toolNames) => {
    const tool = (name: string): string => toolNames.find((t) => t === `${prefix}${name}`) ?? `${prefix}${name}`;
    const target = /让\s*(.+?)\s*检查/.exec(userText)?.[1] ?? /ask (.+?) to/i.exec(userText)?.[1];
    if (/磁盘|disk/i.test(userText) && target) return { tool: tool("fleet_exec"), args: { node: target, command: "df -h" } };
    if (/uptime/i.test(userText) && target) return { tool: tool("fleet_exec"), args: { node: target, command: "uptime" } };
    return { tool: tool("fleet_nodes"), args: {} };
  };
}

/** A tool result as text, with the JSON string escaping OpenClaw adds to error results undone. */
const unescape = (text: string): string => text.replace(/\\"/g, '"');

const answer = (_userText: string, toolResult: string): string => `Here is what the fleet reported:\n${toolResult}`;

describe("OpenClaw end to end: chat → tool call → worker → reply", () => {
  const fleet = new TestFleet();
  let gateway: OpenClawGateway | undefined;
  let skip: string | undefined;
  /** Which front door the fake model prefers: the plugin's tools ("") or the MCP server's ("ocf__"). */
  let prefix = "";
  const model = new FakeModel({ decide: (text, tools) => decider(prefix)(text, tools), answer });

  before(async () => {
    const found = ensureOpenClaw((line) => console.log(`[openclaw-e2e] ${line}`));
    if ("skip" in found) {
      skip = found.skip;
      console.log(`\n[openclaw-e2e] SKIPPED — ${skip}\n`);
      return;
    }
    // The plugin OpenClaw loads is the bundle of the current source.
    const built = spawnSync(process.execPath, ["scripts/build-plugin.mjs"], { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(built.status, 0, `building the plugin failed: ${built.stderr}`);
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("home-server", { labels: { site: "home" } });
    await fleet.addApprovedWorker("office-pc");
    await model.start();
    gateway = new OpenClawGateway(found.bin, join(fleet.dir, "openclaw"));
    await gateway.writeConfig(model.url);
    // Install the way a user does: ocf openclaw install (plugin + MCP server), against this gateway's state.
    const install = await runCli(["openclaw", "install", "--openclaw", found.bin, "--mcp"], {
      env: { ...gateway.env(), OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token },
      timeoutMs: 180_000,
    });
    assert.equal(install.code, 0, `ocf openclaw install failed:\n${install.stdout}\n${install.stderr}`);
    // Running it again replaces the token and revokes the first one; the other settings stay.
    const again = await runCli(["openclaw", "install", "--openclaw", found.bin, "--mcp", "--json"], {
      env: { ...gateway.env(), OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token },
      timeoutMs: 180_000,
    });
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as { token: { name: string }; revoked: string[] };
    assert.equal(second.revoked.length, 1);
    const active = (await fleet.client.tokens()).filter((token) => token.name.startsWith("openclaw-") && token.revoked_at === null);
    assert.deepEqual(active.map((token) => token.name), [second.token.name]);
    const config = JSON.parse(readFileSync(gateway.configPath, "utf8")) as { models: { providers: Record<string, unknown> }; plugins: { entries: Record<string, { enabled: boolean }> }; mcp: { servers: Record<string, { args: string[] }> } };
    assert.ok(config.models.providers.fake, "the model settings were left alone");
    assert.equal(config.plugins.entries["ocf-fleet"]?.enabled, true);
    assert.deepEqual(config.mcp.servers.ocf?.args, ["mcp"]);
    console.log(`[openclaw-e2e] ${install.stdout.trim().split("\n").join("\n[openclaw-e2e] ")}`);
    await gateway.start();
    console.log(`[openclaw-e2e] gateway up on 127.0.0.1:${gateway.port}`);
  }, { timeout: 10 * 60_000 });

  after(async () => {
    await gateway?.stop();
    await model.stop();
    await fleet.close();
  });

  test("plugin: the disk-space request runs df -h on home-server and the reply carries its output", async (t) => {
    if (skip || !gateway) return t.skip(skip);
    const reply = await gateway.agent(DISK_REQUEST);
    const call = model.turns.find((turn) => turn.userText.includes(DISK_REQUEST) && "tool" in turn.reply);
    assert.ok(call, "the model was asked and called a tool");
    assert.ok(call.toolNames.includes("fleet_exec"), `fleet_exec offered to the model (got ${call.toolNames.filter((n) => n.includes("fleet")).join(", ")})`);
    assert.deepEqual(call.reply, { tool: "fleet_exec", args: { node: "home-server", command: "df -h" } });
    // It really ran on home-server: the coordinator's audit trail has it, run with OpenClaw's token.
    const audit = await fleet.client.audit({ action: "exec", node: "home-server", limit: 5 });
    const entry = audit.find((e) => e.command === "df -h");
    assert.ok(entry, "df -h is in the audit trail of home-server");
    assert.equal(entry.status, "ok");
    assert.match(entry.actor, /^token:openclaw-/);
    // The reply contains the real df output (its header and a filesystem line).
    assert.match(reply.text, /Filesystem\s+Size\s+Used\s+Avail/);
    assert.match(reply.text, /home-server: ok, exit code 0/);
    assert.equal(reply.toolCalls, 1);
    assert.equal(reply.toolFailures, 0);
    const result = model.turns.find((turn) => turn.userText.includes(DISK_REQUEST) && turn.toolResult !== undefined)?.toolResult ?? "";
    const indent = (text: string): string => text.split("\n").slice(0, 14).join("\n      ");
    console.log(`[openclaw-e2e] transcript (plugin):\n  user: ${DISK_REQUEST}\n  tool call: ${JSON.stringify(call.reply)}\n  tool result:\n      ${indent(result)}\n  final reply:\n      ${indent(reply.text)}`);
  });

  test("plugin: an unknown machine gives the model the candidates, and the reply says so", async (t) => {
    if (skip || !gateway) return t.skip(skip);
    const reply = await gateway.agent("让 mystery-box 检查一下磁盘空间");
    const turn = model.turns.find((entry) => entry.userText.includes("mystery-box") && entry.toolResult !== undefined);
    assert.ok(turn?.toolResult, "the tool result reached the model");
    // OpenClaw hands a failed call to the model as JSON: {"status":"error","tool":...,"error":"<our sentence>"}.
    const result = unescape(turn.toolResult);
    assert.match(result, /no machine called "mystery-box"/);
    assert.match(result, /Known machines: home-server, office-pc/);
    assert.match(reply.text, /Known machines: .*home-server/);
    assert.equal(reply.toolFailures, 1, "an unknown node is a failed call, not a success");
  });

  test("plugin: an offline machine gives a clear tool error quickly, not a hang", async (t) => {
    if (skip || !gateway) return t.skip(skip);
    await fleet.stopWorker("office-pc");
    await waitFor("office-pc offline", async () => (await fleet.client.node("office-pc")).status === "offline", 15_000);
    const started = Date.now();
    const reply = await gateway.agent("让 office-pc 检查一下磁盘空间");
    const turn = model.turns.find((entry) => entry.userText.includes("office-pc") && entry.toolResult !== undefined);
    assert.ok(turn?.toolResult);
    assert.match(unescape(turn.toolResult), /"office-pc" is offline, so nothing ran/);
    assert.match(reply.text, /offline/);
    assert.ok(Date.now() - started < 60_000, "answered without waiting for a command timeout");
  });

  test("MCP: the same request through `ocf mcp` registered in OpenClaw's mcp.servers", async (t) => {
    if (skip || !gateway) return t.skip(skip);
    // The model now prefers the MCP server's tools (OpenClaw names them <server>__<tool>).
    prefix = "ocf__";
    const seen = model.turns.length;
    const before = (await fleet.client.audit({ action: "exec", node: "home-server", limit: 50 })).length;
    const reply = await gateway.agent(DISK_REQUEST);
    const call = model.turns.slice(seen).find((turn) => "tool" in turn.reply);
    assert.ok(call, "the model called a tool");
    assert.ok(call.toolNames.includes("ocf__fleet_exec"), `MCP tools offered: ${call.toolNames.filter((n) => n.startsWith("ocf__")).join(", ") || "none"}`);
    assert.deepEqual(call.reply, { tool: "ocf__fleet_exec", args: { node: "home-server", command: "df -h" } });
    assert.match(reply.text, /Filesystem\s+Size\s+Used\s+Avail/);
    assert.equal(reply.toolFailures, 0);
    const after = await fleet.client.audit({ action: "exec", node: "home-server", limit: 50 });
    assert.equal(after.length, before + 1, "one more df -h ran on home-server");
  });
});
