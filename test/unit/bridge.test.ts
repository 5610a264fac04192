import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { FleetClient } from "../../src/client/client.js";
import plugin, { PLUGIN_ID, type OpenClawPluginApi } from "../../src/bridge/openclaw-plugin.js";
import { byteLength, summarizeText } from "../../src/bridge/summarize.js";
import { FLEET_TOOL_NAMES, FLEET_TOOLS, runTool } from "../../src/bridge/tools.js";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const unreachable = new FleetClient({ url: "http://127.0.0.1:1", token: "t", timeoutMs: 2000 });

describe("summarizeText", () => {
  test("text within the budget is returned as it is", () => {
    assert.equal(summarizeText("a\nb\n", 100), "a\nb\n");
  });

  test("long text keeps whole lines of head and tail and says exactly how much was left out", () => {
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`).join("\n");
    const out = summarizeText(text, 1000);
    const match = /\n\[\.\.\. (\d+) of (\d+) bytes omitted \.\.\.\]\n/.exec(out);
    assert.ok(match, out.slice(0, 200));
    assert.equal(Number(match[2]), byteLength(text));
    const [head, tail] = out.split(match[0]);
    assert.equal(Number(match[1]), byteLength(text) - byteLength(`${head}\n`) - byteLength(tail ?? ""));
    assert.ok(head?.startsWith("line 1\nline 2\n"));
    assert.ok(tail?.endsWith("line 5000"));
    assert.match(tail ?? "", /^line \d+\n/, "the tail starts on a whole line");
    assert.ok(byteLength(out) <= 1100);
  });

  test("multibyte text is never cut inside a character", () => {
    const text = "磁盘空间检查🙂".repeat(2000);
    const out = summarizeText(text, 999);
    assert.equal(out.includes("\uFFFD"), false);
    assert.match(out, /bytes omitted/);
  });
});

describe("tool definitions and the plugin manifest", () => {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "plugins", "openclaw", "openclaw.plugin.json"), "utf8")) as {
    id: string;
    contracts: { tools: string[] };
    configSchema: { type: string; properties: Record<string, unknown> };
  };
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "plugins", "openclaw", "package.json"), "utf8")) as { type: string; openclaw: { extensions: string[] } };

  test("the manifest lists exactly the tools the plugin registers (OpenClaw drops unlisted ones)", () => {
    assert.deepEqual(manifest.contracts.tools, FLEET_TOOL_NAMES);
    assert.equal(manifest.id, PLUGIN_ID);
    assert.equal(plugin.id, PLUGIN_ID);
    assert.equal(manifest.configSchema.type, "object");
    assert.deepEqual(Object.keys(manifest.configSchema.properties).sort(), ["token", "url"]);
    assert.equal(pkg.type, "module");
    assert.deepEqual(pkg.openclaw.extensions, ["./index.js"]);
  });

  test("every tool has a useful description and a plain JSON object schema", () => {
    for (const tool of FLEET_TOOLS) {
      assert.match(tool.name, /^fleet_[a-z]+$/);
      assert.ok(tool.description.length >= 80, `${tool.name} description is too short for a model`);
      assert.equal(tool.parameters.type, "object");
      assert.equal("$schema" in tool.parameters, false);
      assert.equal(tool.parameters.additionalProperties, false);
    }
    const exec = FLEET_TOOLS.find((tool) => tool.name === "fleet_exec");
    assert.deepEqual(exec?.parameters.required, ["node", "command"]);
  });
});

describe("runTool without a coordinator", () => {
  test("bad arguments name the field; nothing is thrown", async () => {
    const missing = await runTool(unreachable, "fleet_exec", { node: "pi" });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /invalid arguments: command/);
    const zero = await runTool(unreachable, "fleet_exec", { node: "pi", command: "true", timeout_seconds: 0 });
    assert.match(zero.text, /invalid arguments: timeout_seconds/);
    const unknown = await runTool(unreachable, "fleet_reboot_everything", {});
    assert.match(unknown.text, /Unknown fleet tool "fleet_reboot_everything". Available: fleet_nodes, fleet_exec/);
  });

  test("an unreachable coordinator is a sentence the model can relay", async () => {
    const result = await runTool(unreachable, "fleet_nodes", {});
    assert.equal(result.isError, true);
    assert.match(result.text, /^The fleet's coordinator cannot be reached: cannot reach the coordinator at http:\/\/127\.0\.0\.1:1/);
  });
});

describe("the OpenClaw plugin entry", () => {
  function registered(config: unknown): Map<string, Parameters<OpenClawPluginApi["registerTool"]>[0]> {
    const tools = new Map<string, Parameters<OpenClawPluginApi["registerTool"]>[0]>();
    const returned: unknown = plugin.register({ pluginConfig: config, registerTool: (tool) => tools.set(tool.name, tool) });
    assert.equal(returned, undefined, "register is synchronous");
    return tools;
  }

  test("registers every tool synchronously; unconfigured tools say how to configure them", async () => {
    const saved = process.env.OCF_URL;
    delete process.env.OCF_URL;
    try {
      const tools = registered({});
      assert.deepEqual([...tools.keys()], FLEET_TOOL_NAMES);
      const result = await tools.get("fleet_nodes")?.execute("call-1", {});
      assert.match(result?.content[0]?.type === "text" ? result.content[0].text : "", /not configured: set plugins\.entries\.ocf-fleet\.config\.url/);
    } finally {
      if (saved !== undefined) process.env.OCF_URL = saved;
    }
  });

  test("a failed call is thrown, so OpenClaw counts it as a failure, with the sentence as message", async () => {
    const tools = registered({ url: "http://127.0.0.1:1", token: "t" });
    await assert.rejects(tools.get("fleet_nodes")?.execute("call-2", {}) ?? Promise.resolve(), /coordinator cannot be reached/);
  });
});
