/**
 * Typed HTTP client of the coordinator API: the only way the CLI, the agent bridge and tests
 * reach a running fleet. Errors arrive as ClientError with the API's code and a clear message.
 */
import type { ErrorCode } from "../protocol/errors.js";
import { RequestError, requestText, type TextResponse } from "./http-request.js";
import type { ApiErrorBody, AuditView, BulkRejectResult, TokenView, BroadcastOutcome, HealthReport, JoinRequestView, NodeExecResult, NodeInfoResult, NodeSkills, NodeView, RotateResult, ScreenshotResult, CaptureResult, SkillRunResult, TaskView } from "../protocol/api.js";
import type { Labels } from "../protocol/messages.js";

export class ClientError extends Error {
  constructor(
    readonly code: ErrorCode | "unreachable",
    message: string,
    readonly status: number | undefined,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

/** A task to submit (`POST /api/v1/tasks`): exactly one of command or skill. */
export interface TaskSubmission {
  command?: string;
  skill?: string;
  params?: Record<string, unknown>;
  node?: string;
  labels?: Labels;
  requires?: { capabilities?: string[]; labels?: Labels; os?: string };
  priority?: number;
  timeout_s?: number;
  max_retries?: number;
}

export interface TaskStreamOutput {
  attempt: number;
  stream: "stdout" | "stderr";
  data: string;
}
export type TaskStreamEvent = { event: "output"; data: TaskStreamOutput } | { event: "state" | "end"; data: TaskView };

export interface ClientOptions {
  url: string;
  token?: string | undefined;
  /** Default per-request timeout (exec and broadcast add their command timeout). */
  timeoutMs?: number;
}

/** Extra time on top of a command timeout for the HTTP round trip. */
const HTTP_GRACE_MS = 10_000;

export class FleetClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs, accept: number[] = []): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: TextResponse;
    try {
      response = await requestText(`${this.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs });
    } catch (error) {
      const code = error instanceof RequestError ? error.code : undefined;
      const reason = code === "TIMEOUT" ? `no answer within ${timeoutMs} ms` : (code ?? (error as Error).message);
      throw new ClientError("unreachable", `cannot reach the coordinator at ${this.url} (${reason}); is it running? (ocf up, or check coordinator.port)`, undefined);
    }
    const text = response.text;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new ClientError("internal", `coordinator at ${this.url} answered ${response.status} with a non-JSON body`, response.status);
    }
    const ok = response.status >= 200 && response.status < 300;
    if (ok || accept.includes(response.status)) return parsed as T;
    const apiError = (parsed as Partial<ApiErrorBody>).error;
    if (apiError && typeof apiError.code === "string") {
      const { code, message, ...details } = apiError;
      throw new ClientError(code, message, response.status, details);
    }
    throw new ClientError("internal", `coordinator answered HTTP ${response.status}`, response.status);
  }

  health(): Promise<HealthReport> {
    return this.call("GET", "/health", undefined, this.timeoutMs, [503]);
  }

  async nodes(): Promise<NodeView[]> {
    return (await this.call<{ nodes: NodeView[] }>("GET", "/api/v1/nodes")).nodes;
  }

  node(ref: string): Promise<NodeView> {
    return this.call("GET", `/api/v1/nodes/${encodeURIComponent(ref)}`);
  }

  async removeNode(ref: string): Promise<NodeView> {
    return (await this.call<{ removed: NodeView }>("DELETE", `/api/v1/nodes/${encodeURIComponent(ref)}`)).removed;
  }

  /** Take a screenshot on a node; the PNG stays on the coordinator until fetched with `download`. */
  screenshot(ref: string, options: { display?: string; maxWidth?: number; timeoutMs?: number } = {}): Promise<ScreenshotResult> {
    const body = { ...(options.display ? { display: options.display } : {}), ...(options.maxWidth ? { max_width: options.maxWidth } : {}), ...(options.timeoutMs ? { timeout_ms: options.timeoutMs } : {}) };
    return this.call("POST", `/api/v1/nodes/${encodeURIComponent(ref)}/screenshot`, body, (options.timeoutMs ?? 30_000) + HTTP_GRACE_MS);
  }

  /** Take a camera photo on a node (JPEG by default); fetch it with `download`. */
  camera(ref: string, options: { device?: string; resolution?: string; format?: "jpeg" | "png"; timeoutMs?: number } = {}): Promise<CaptureResult> {
    const body = {
      ...(options.device ? { device: options.device } : {}),
      ...(options.resolution ? { resolution: options.resolution } : {}),
      ...(options.format ? { format: options.format } : {}),
      ...(options.timeoutMs ? { timeout_ms: options.timeoutMs } : {}),
    };
    return this.call("POST", `/api/v1/nodes/${encodeURIComponent(ref)}/camera`, body, (options.timeoutMs ?? 30_000) + HTTP_GRACE_MS);
  }

  /** The skills of one node (asked live), or of every node when `ref` is omitted. */
  async skills(ref?: string): Promise<NodeSkills[]> {
    if (ref) return [await this.call<NodeSkills>("GET", `/api/v1/nodes/${encodeURIComponent(ref)}/skills`, undefined, 30_000)];
    return (await this.call<{ nodes: NodeSkills[] }>("GET", "/api/v1/skills", undefined, 30_000)).nodes;
  }

  /** Run a skill on a node with parameters (validated by the node against the skill's schema). */
  runSkill(ref: string, skill: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<SkillRunResult> {
    const body = { params, ...(timeoutMs ? { timeout_ms: timeoutMs } : {}) };
    return this.call("POST", `/api/v1/nodes/${encodeURIComponent(ref)}/skills/${encodeURIComponent(skill)}/run`, body, (timeoutMs ?? 600_000) + HTTP_GRACE_MS, [504]);
  }

  /** A one-time dashboard login link (path on this coordinator), with this token's scope. */
  dashboardLink(): Promise<{ path: string; expires_at: string; scope: string }> {
    return this.call("POST", "/api/v1/dashboard/link", {});
  }

  /** Prometheus text of /metrics. */
  async metrics(): Promise<string> {
    return (await this.raw("GET", "/metrics")).data.toString("utf8");
  }

  /** Submit one durable task (stored before the answer): see docs/API.md for the fields. */
  submitTask(spec: TaskSubmission): Promise<TaskView> {
    return this.call("POST", "/api/v1/tasks", spec);
  }

  /** Submit up to 1,000 tasks in one request (one transaction). */
  async submitTasks(specs: readonly TaskSubmission[]): Promise<TaskView[]> {
    return (await this.call<{ tasks: TaskView[] }>("POST", "/api/v1/tasks", { tasks: specs }, 60_000)).tasks;
  }

  async tasks(query: { state?: string; node?: string; limit?: number; before?: number } = {}): Promise<{ tasks: TaskView[]; next_before: number | null }> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.call("GET", `/api/v1/tasks${qs ? `?${qs}` : ""}`);
  }

  task(id: string): Promise<TaskView> {
    return this.call("GET", `/api/v1/tasks/${encodeURIComponent(id)}`);
  }

  cancelTask(id: string): Promise<TaskView> {
    return this.call("POST", `/api/v1/tasks/${encodeURIComponent(id)}/cancel`, {});
  }

  /** The whole output of one attempt (default: the last). */
  async taskOutput(id: string, stream: "stdout" | "stderr" = "stdout", attempt?: number): Promise<string> {
    const response = await this.raw("GET", `/api/v1/tasks/${encodeURIComponent(id)}/output?stream=${stream}${attempt ? `&attempt=${attempt}` : ""}`);
    return response.data.toString("utf8");
  }

  /**
   * Follow a task's Server-Sent Events until it ends: output chunks as they come, state changes,
   * and the final task. Resolves with the final task (or rejects when the stream breaks).
   */
  async followTask(id: string, onEvent: (event: TaskStreamEvent) => void, signal?: AbortSignal): Promise<TaskView> {
    let response: Response;
    try {
      response = await fetch(`${this.url}/api/v1/tasks/${encodeURIComponent(id)}/stream`, {
        headers: { accept: "text/event-stream", ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      throw new ClientError("unreachable", `cannot reach the coordinator at ${this.url} (${(error as Error).message})`, undefined);
    }
    if (!response.ok || !response.body) {
      const text = await response.text();
      let apiError: Partial<ApiErrorBody["error"]> | undefined;
      try {
        apiError = (JSON.parse(text) as Partial<ApiErrorBody>).error;
      } catch {
        apiError = undefined;
      }
      throw new ClientError(apiError?.code ?? "internal", apiError?.message ?? `coordinator answered HTTP ${response.status}`, response.status);
    }
    const decoder = new TextDecoder();
    let buffer = "";
    let last: TaskView | undefined;
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let boundary = buffer.indexOf("\n\n");
      while (boundary >= 0) {
        const block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        boundary = buffer.indexOf("\n\n");
        let event = "message";
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        const parsed = JSON.parse(data.join("\n")) as unknown;
        if (event === "output") onEvent({ event: "output", data: parsed as TaskStreamOutput });
        else if (event === "state" || event === "end") {
          last = parsed as TaskView;
          onEvent({ event, data: last });
          if (event === "end") return last;
        }
      }
    }
    throw new ClientError("unreachable", `the task stream ended before task ${id} did${last ? ` (last state: ${last.state})` : ""}`, undefined);
  }

  /**
   * Read a file from a node (within its worker.file_roots); the SHA-256 is the worker's. `path` is
   * where the node says it read it (the real path, links resolved): the node's word, to show, never
   * to name anything by (`ocf cp` names the copy after the path asked for).
   */
  async getFile(ref: string, path: string): Promise<{ data: Buffer; sha256: string; path: string }> {
    const response = await this.raw("GET", `/api/v1/nodes/${encodeURIComponent(ref)}/file?path=${encodeURIComponent(path)}`);
    const header = response.headers.get("x-ocf-path");
    let answered = path;
    if (header !== null) {
      try {
        answered = decodeURIComponent(header);
      } catch {
        answered = header;
      }
    }
    return { data: response.data, sha256: response.headers.get("x-ocf-sha256") ?? "", path: answered };
  }

  /** Write a file on a node (atomically, checked against its SHA-256 there). */
  async putFile(ref: string, path: string, data: Buffer, sha256: string): Promise<{ node_id: string; path: string; bytes: number; sha256: string }> {
    const response = await this.raw("PUT", `/api/v1/nodes/${encodeURIComponent(ref)}/file?path=${encodeURIComponent(path)}`, data, { "content-type": "application/octet-stream", "x-ocf-sha256": sha256 });
    return JSON.parse(response.data.toString("utf8")) as { node_id: string; path: string; bytes: number; sha256: string };
  }

  /** How a node is doing right now: OS, CPU, load, memory, disks, uptime, network, Tailscale. */
  info(ref: string): Promise<NodeInfoResult> {
    return this.call("GET", `/api/v1/nodes/${encodeURIComponent(ref)}/info`, undefined, 30_000);
  }

  /**
   * Fetch a stored file (e.g. a screenshot's `file.url`) as bytes. The path comes from an answer, so
   * it must be a path on this coordinator: the token is sent nowhere else.
   */
  async download(path: string): Promise<{ mime: string; data: Buffer }> {
    if (!/^\/(?![/\\])[^\s\\]*$/.test(path)) throw new ClientError("internal", `the coordinator answered with a file URL that is not a file on this coordinator (${JSON.stringify(path.slice(0, 200))}); not fetched`, undefined);
    const response = await this.raw("GET", path);
    return { mime: response.headers.get("content-type") ?? "application/octet-stream", data: response.data };
  }

  /** A request whose answer is bytes, not JSON (errors are still the API's JSON errors). */
  private async raw(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ data: Buffer; headers: Headers }> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...headers },
        body: body ?? null,
        signal: AbortSignal.timeout(Math.max(this.timeoutMs, 90_000)),
      });
    } catch (error) {
      throw new ClientError("unreachable", `cannot reach the coordinator at ${this.url} (${(error as Error).message})`, undefined);
    }
    const data = Buffer.from(await response.arrayBuffer());
    if (!response.ok) {
      let apiError: Partial<ApiErrorBody["error"]> | undefined;
      try {
        apiError = (JSON.parse(data.toString("utf8")) as Partial<ApiErrorBody>).error;
      } catch {
        apiError = undefined;
      }
      const { code, message, ...details } = apiError ?? {};
      throw new ClientError(code ?? "internal", message ?? `coordinator answered HTTP ${response.status}`, response.status, details);
    }
    return { data, headers: response.headers };
  }

  /** Revoke a node's NATS credentials; the node fetches new ones by asking to join again. */
  rotate(ref: string): Promise<RotateResult> {
    return this.call<RotateResult>("POST", `/api/v1/nodes/${encodeURIComponent(ref)}/rotate`);
  }

  async pending(): Promise<JoinRequestView[]> {
    return (await this.call<{ pending: JoinRequestView[] }>("GET", "/api/v1/pending")).pending;
  }

  approve(ref: string): Promise<{ request: JoinRequestView; node: NodeView | null }> {
    return this.call("POST", `/api/v1/pending/${encodeURIComponent(ref)}/approve`, {});
  }

  reject(ref: string, reason?: string): Promise<{ request: JoinRequestView }> {
    return this.call("POST", `/api/v1/pending/${encodeURIComponent(ref)}/reject`, reason ? { reason } : {});
  }

  /**
   * Reject several pending requests: every one (`all`), or those matching all of `address` (IP or
   * CIDR), `older_than` (e.g. "1h") and `node` (a pattern such as "sim-*"). `dry_run` only lists them.
   */
  rejectPending(selection: { all?: true; address?: string; older_than?: string; node?: string; reason?: string; dry_run?: boolean }): Promise<BulkRejectResult> {
    return this.call("POST", "/api/v1/pending/reject", selection);
  }

  /** Run a command on one node. A command that timed out is returned with status `timeout`. */
  exec(node: string, command: string, timeoutMs?: number): Promise<NodeExecResult> {
    const body = { node, command, ...(timeoutMs !== undefined ? { timeout_ms: timeoutMs } : {}) };
    return this.call("POST", "/api/v1/exec", body, (timeoutMs ?? 3_600_000) + HTTP_GRACE_MS, [504]).then((result) => {
      const value = result as NodeExecResult & Partial<ApiErrorBody>;
      if (value.node_id === undefined && value.error) {
        throw new ClientError(value.error.code, value.error.message, 504);
      }
      return value;
    });
  }

  async audit(filters: { node?: string; action?: string; actor?: string; since?: string; until?: string; before?: number; limit?: number } = {}): Promise<AuditView[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value !== undefined && value !== "") params.set(key, String(value));
    const query = params.size ? `?${params.toString()}` : "";
    return (await this.call<{ entries: AuditView[] }>("GET", `/api/v1/audit${query}`)).entries;
  }

  createToken(name: string, scope: TokenView["scope"]): Promise<TokenView & { token: string }> {
    return this.call("POST", "/api/v1/tokens", { name, scope });
  }

  async tokens(): Promise<TokenView[]> {
    return (await this.call<{ tokens: TokenView[] }>("GET", "/api/v1/tokens")).tokens;
  }

  async revokeToken(ref: string): Promise<TokenView> {
    return (await this.call<{ revoked: TokenView }>("DELETE", `/api/v1/tokens/${encodeURIComponent(ref)}`)).revoked;
  }

  broadcast(command: string, labels: Labels = {}, timeoutMs?: number): Promise<BroadcastOutcome> {
    const body = { command, ...(Object.keys(labels).length ? { labels } : {}), ...(timeoutMs !== undefined ? { timeout_ms: timeoutMs } : {}) };
    return this.call("POST", "/api/v1/broadcast", body, (timeoutMs ?? 3_600_000) + HTTP_GRACE_MS);
  }
}
