/**
 * The dashboard page: a live view pushed by the coordinator (Server-Sent Events), join requests to
 * decide, commands to run with results per node as they arrive, tasks and the audit trail. Text
 * from the fleet is always inserted as text, never as HTML. Bundled by `npm run build`.
 */
import type { AuditView, HealthReport, JoinRequestView as PendingView, NodeExecResult as NodeResult, NodeView, TaskView } from "../../src/protocol/api.js";

interface Snapshot {
  nodes: NodeView[];
  pending: PendingView[];
  /** All pending requests; `pending` lists the newest of them. */
  pending_total: number;
  tasks: TaskView[];
  audit: AuditView[];
  health: HealthReport;
  you: { actor: string; scope: "read" | "exec" | "admin" };
}
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
let csrf = "";
let scope: Snapshot["you"]["scope"] = "read";
const RANK = { read: 0, exec: 1, admin: 2 } as const;
const can = (need: keyof typeof RANK): boolean => RANK[scope] >= RANK[need];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string | null>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

function ago(iso: string | null): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function bar(value: number | null, label: string): HTMLElement {
  const pct = value === null ? 0 : Math.max(0, Math.min(100, Math.round(value)));
  const box = el("div", { class: `bar${pct >= 90 ? " high" : ""}`, role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) });
  const fill = el("span");
  fill.style.width = `${pct}%`;
  box.append(fill, el("em", {}, value === null ? "–" : `${pct}%`));
  return box;
}

function badge(text: string): HTMLElement {
  return el("span", { class: `badge ${text}` }, text);
}

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["x-ocf-csrf"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, { method, headers, credentials: "same-origin", ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

async function errorText(response: Response): Promise<string> {
  try {
    const json = (await response.json()) as { error?: { message?: string } };
    return json.error?.message ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function renderNodes(nodes: NodeView[]): void {
  const body = $("nodes").querySelector("tbody") as HTMLTableSectionElement;
  body.replaceChildren(
    ...nodes.map((node) =>
      el(
        "tr",
        { "data-node": node.id, "data-status": node.status },
        el("th", { scope: "row" }, node.name === node.id ? node.id : `${node.name} (${node.id})`),
        el("td", {}, badge(node.status)),
        el("td", {}, bar(node.load.cpu, `CPU of ${node.id}`)),
        el("td", {}, bar(node.load.memory, `memory of ${node.id}`)),
        el("td", {}, bar(node.load.disk, `disk of ${node.id}`)),
        el("td", {}, `${node.load.running_tasks}/${node.load.max_concurrent_tasks}`),
        el("td", {}, node.capabilities.map((c) => c.replace(/^skill:/, "⚙ ")).join(", ") || "–"),
        el("td", {}, ago(node.last_seen)),
        el("td", {}, `${node.os}/${node.arch}`),
        el("td", {}, Object.entries(node.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "–"),
      ),
    ),
  );
  const select = $<HTMLSelectElement>("run-target");
  const current = select.value;
  select.replaceChildren(el("option", { value: "*" }, "every online node"), el("option", { value: "labels" }, "nodes matching labels"), ...nodes.map((n) => el("option", { value: `node:${n.id}` }, `${n.name === n.id ? n.id : `${n.name} (${n.id})`}${n.status === "online" ? "" : " — offline"}`)));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

function renderPending(pending: PendingView[], total: number): void {
  $("pending-section").hidden = pending.length === 0;
  const more = total > pending.length ? el("li", { class: "more" }, `and ${total - pending.length} older requests: see ocf nodes pending, or reject many at once with ocf nodes reject --address IP | --older-than 1h | --all`) : null;
  $("pending").replaceChildren(
    ...pending.map((request) => {
      const approve = el("button", { type: "button", "aria-label": `Approve ${request.node_id}` }, "Approve");
      const reject = el("button", { type: "button", class: "secondary", "aria-label": `Reject ${request.node_id}` }, "Reject");
      const decide = async (verb: "approve" | "reject"): Promise<void> => {
        approve.disabled = reject.disabled = true;
        const response = await api("POST", `/api/v1/pending/${encodeURIComponent(request.request_id)}/${verb}`, {});
        if (!response.ok) alert(`${verb} ${request.node_id}: ${await errorText(response)}`);
      };
      approve.addEventListener("click", () => void decide("approve"));
      reject.addEventListener("click", () => void decide("reject"));
      if (!can("admin")) approve.disabled = reject.disabled = true;
      // The key fingerprint tells two requests for one node id apart; the worker logs its own to compare.
      return el(
        "li",
        { "data-request": request.request_id },
        el("strong", {}, request.node_id),
        ` ${request.hostname} · ${request.os}/${request.arch} · ${request.ips.slice(0, 2).join(", ")} · `,
        el("code", { class: "fingerprint", title: `key ${request.public_key}` }, `key ${request.fingerprint}`),
        ` · from ${request.address ?? "?"} · asked ${ago(request.updated_at)} `,
        approve,
        " ",
        reject,
      );
    }),
    ...(more ? [more] : []),
  );
}

function renderTasks(tasks: TaskView[]): void {
  $("tasks-section").hidden = tasks.length === 0;
  const body = $("tasks").querySelector("tbody") as HTMLTableSectionElement;
  body.replaceChildren(
    ...tasks.map((task) => {
      const logs = el("button", { type: "button", class: "secondary", "aria-label": `Show the output of task ${task.id}` }, "Output");
      logs.addEventListener("click", () => void showLog(task.id));
      return el(
        "tr",
        {},
        el("td", {}, task.id),
        el("td", {}, badge(task.state)),
        el("td", {}, task.node_id ?? "–"),
        el("td", {}, task.duration_ms === null ? "–" : `${task.duration_ms} ms`),
        el("td", { title: task.reason ?? "" }, (task.command ?? `skill ${task.skill ?? "?"}`).slice(0, 60)),
        el("td", {}, logs),
      );
    }),
  );
}

async function showLog(id: string): Promise<void> {
  const out = $("task-log");
  out.hidden = false;
  const [stdout, stderr] = await Promise.all(["stdout", "stderr"].map(async (stream) => {
    const response = await api("GET", `/api/v1/tasks/${encodeURIComponent(id)}/output?stream=${stream}`);
    return response.ok ? response.text() : `(${await errorText(response)})`;
  }));
  out.textContent = `# ${id}\n${stdout ?? ""}${stderr ? `\n# stderr\n${stderr}` : ""}`;
}

function renderAudit(entries: AuditView[]): void {
  $("audit").replaceChildren(...entries.map((e) => el("li", {}, `${new Date(e.ts).toLocaleTimeString()} · ${e.actor} · ${e.action}${e.node_id ? ` · ${e.node_id}` : ""}${e.command ? ` · ${e.command.slice(0, 60)}` : ""}${e.status ? ` · ${e.status}` : ""}`)));
}

function render(snapshot: Snapshot): void {
  scope = snapshot.you.scope;
  const h = snapshot.health;
  $("health").textContent = `${h.status} · NATS ${h.nats.connected ? (h.nats.secure ? "secure" : "OPEN") : "DISCONNECTED"} · ${h.nodes.online}/${h.nodes.total} nodes online${h.nodes.pending ? ` · ${h.nodes.pending} waiting` : ""}`;
  $("who").textContent = `${snapshot.you.actor} (${snapshot.you.scope})`;
  for (const id of ["nodes-section", "run-section", "audit-section"]) $(id).hidden = false;
  $<HTMLButtonElement>("run-button").disabled = !can("exec");
  renderNodes(snapshot.nodes);
  renderPending(snapshot.pending, snapshot.pending_total ?? snapshot.pending.length);
  renderTasks(snapshot.tasks);
  renderAudit(snapshot.audit);
}

function resultItem(result: NodeResult): HTMLElement {
  return el(
    "li",
    { "data-node": result.node_id, "data-status": result.status },
    el("strong", {}, result.node),
    " ",
    badge(result.status),
    result.exit_code === null ? "" : ` exit ${result.exit_code}`,
    el("span", { class: "muted" }, ` · ${Math.round(result.duration_ms)} ms`),
    result.stdout ? el("pre", {}, result.stdout) : null,
    result.stderr ? el("pre", { "aria-label": "stderr" }, result.stderr) : null,
    result.error && result.status !== "ok" ? el("pre", {}, result.error.message) : null,
  );
}

async function run(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const command = $<HTMLInputElement>("run-command").value.trim();
  const target = $<HTMLSelectElement>("run-target").value;
  if (!command) return;
  const results = $("results");
  const summary = $("run-summary");
  results.replaceChildren();
  summary.textContent = "running…";
  const button = $<HTMLButtonElement>("run-button");
  button.disabled = true;
  try {
    if (target.startsWith("node:")) {
      const response = await api("POST", "/api/v1/exec", { node: target.slice(5), command });
      if (!response.ok && response.status !== 504) {
        summary.textContent = await errorText(response);
        return;
      }
      const result = (await response.json()) as NodeResult;
      results.append(resultItem(result));
      summary.textContent = `1 node: ${result.status}`;
      return;
    }
    const labels: Record<string, string> = {};
    if (target === "labels") {
      for (const pair of $<HTMLInputElement>("run-labels").value.split(/[,\s]+/).filter(Boolean)) {
        const [k, v] = pair.split("=");
        if (!k || v === undefined) {
          summary.textContent = `"${pair}" is not key=value`;
          return;
        }
        labels[k] = v;
      }
    }
    const response = await api("POST", "/api/v1/broadcast/stream", { command, labels });
    if (!response.ok || !response.body) {
      summary.textContent = await errorText(response);
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (!line) continue;
        const message = JSON.parse(line) as { type: string; summary?: Record<string, number>; error?: { message: string } } & NodeResult;
        if (message.type === "result") results.append(resultItem(message));
        else if (message.type === "summary" && message.summary) {
          const s = message.summary;
          summary.textContent = `${s.total} node(s): ${s.ok} ok, ${s.error} error, ${s.timeout} timeout, ${s.offline} offline (${Math.round(s.duration_ms ?? 0)} ms)`;
        } else if (message.type === "error") summary.textContent = message.error?.message ?? "failed";
      }
    }
  } finally {
    button.disabled = !can("exec");
  }
}

async function start(): Promise<void> {
  const response = await fetch("/api/v1/session", { credentials: "same-origin" });
  if (!response.ok) {
    $("login").hidden = false;
    $("health").textContent = "not logged in";
    return;
  }
  const session = (await response.json()) as { csrf: string | null; scope: Snapshot["you"]["scope"] };
  csrf = session.csrf ?? "";
  scope = session.scope;
  const logout = $<HTMLButtonElement>("logout");
  logout.hidden = false;
  logout.addEventListener("click", () => void api("POST", "/logout").then(() => location.reload()));
  $<HTMLFormElement>("run").addEventListener("submit", (event) => void run(event));
  const events = new EventSource("/api/v1/events");
  events.addEventListener("snapshot", (event) => render(JSON.parse((event as MessageEvent<string>).data) as Snapshot));
  events.addEventListener("error", () => {
    $("health").textContent = "connection lost; reconnecting…";
  });
}

void start();
