/**
 * A small fake OpenAI-compatible model server for end-to-end tests of the agent bridge: it
 * streams chat completions (SSE). On a user turn it asks `decide` what to do (call a tool or
 * answer); once the conversation carries the tool's result it answers with text built from it.
 * Every request is recorded so tests can check which tools the agent offered and what came back.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools?: Array<{ type: string; function: { name: string } }>;
  stream?: boolean;
}

export type Decision = { tool: string; args: Record<string, unknown> } | { text: string };

export interface FakeModelOptions {
  /** What to do for a user message, given the tool names the agent offers. */
  decide: (userText: string, toolNames: string[]) => Decision;
  /** The final answer, given the user message and the tool result text. */
  answer: (userText: string, toolResult: string) => string;
}

export interface RecordedTurn {
  userText: string;
  toolNames: string[];
  /** Set on the second turn: the tool result the agent sent back. */
  toolResult?: string;
  reply: Decision;
}

const INTERNAL_MARKER = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>";

/** The text of a message's content, whether a string or a list of parts. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        const p = part as { type?: string; text?: string };
        return typeof p.text === "string" ? p.text : "";
      })
      .join("");
  }
  return "";
}

export class FakeModel {
  readonly turns: RecordedTurn[] = [];
  private server?: Server;
  url = "";

  constructor(private readonly options: FakeModelOptions) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "fleet-test", object: "model", owned_by: "test" }] }));
      return;
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${path}` } }));
      return;
    }
    let body = "";
    for await (const chunk of req) body += String(chunk);
    let request: ChatRequest;
    try {
      request = JSON.parse(body) as ChatRequest;
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "body is not JSON" } }));
      return;
    }
    const reply = this.reply(request);
    this.stream(res, request, reply);
  }

  private reply(request: ChatRequest): Decision {
    const messages = request.messages;
    const toolNames = (request.tools ?? []).map((tool) => tool.function.name);
    // The last real user message (OpenClaw appends an internal context message after it).
    let userIndex = -1;
    for (let i = messages.length - 1; i >= 0; i -= 1) {
      const message = messages[i] as ChatMessage;
      if (message.role === "user" && !contentText(message.content).includes(INTERNAL_MARKER)) {
        userIndex = i;
        break;
      }
    }
    const userText = userIndex >= 0 ? contentText((messages[userIndex] as ChatMessage).content) : "";
    const toolMessage = messages.slice(userIndex + 1).find((message) => message.role === "tool");
    if (toolMessage) {
      const toolResult = contentText(toolMessage.content);
      const reply = { text: this.options.answer(userText, toolResult) };
      this.turns.push({ userText, toolNames, toolResult, reply });
      return reply;
    }
    const reply = this.options.decide(userText, toolNames);
    this.turns.push({ userText, toolNames, reply });
    return reply;
  }

  private stream(res: ServerResponse, request: ChatRequest, reply: Decision): void {
    const id = `chatcmpl-${Date.now()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finish: string | null): string =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: request.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    if ("tool" in reply) {
      res.write(chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: `call_${this.turns.length}`, type: "function", function: { name: reply.tool, arguments: "" } }] }, null));
      res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: JSON.stringify(reply.args) } }] }, null));
      res.write(chunk({}, "tool_calls"));
    } else {
      res.write(chunk({ role: "assistant", content: "" }, null));
      // Several pieces, as a real model streams.
      for (const piece of reply.text.match(/[\s\S]{1,400}/g) ?? [""]) res.write(chunk({ content: piece }, null));
      res.write(chunk({}, "stop"));
    }
    res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: request.model, choices: [], usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 } })}\n\n`);
    res.write("data: [DONE]\n\n");
    res.end();
  }
}
