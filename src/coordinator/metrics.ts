/**
 * Prometheus metrics of the coordinator (`GET /metrics`, any valid token, a `read` one is enough):
 * nodes by status, join requests pending, heartbeats and their lag, exec and broadcast latency,
 * per-node results by status, tasks by state, NATS reconnects, HTTP requests by route and status,
 * and the process (CPU, memory, event loop, file descriptors). Names start with `ocf_`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export interface MetricSources {
  nodes: () => { online: number; offline: number };
  pending: () => number;
  tasks: () => Record<string, number>;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new Registry();
  readonly heartbeats: Counter;
  readonly heartbeatLag: Histogram;
  readonly livenessFlushes: Counter;
  readonly livenessRows: Counter;
  readonly execDuration: Histogram<"status">;
  readonly broadcastDuration: Histogram;
  readonly nodeResults: Counter<"kind" | "status">;
  readonly natsReconnects: Counter;
  readonly natsDropped: Counter<"reason">;
  readonly httpRequests: Counter<"method" | "route" | "status">;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "ocf_" });
    new Gauge({
      name: "ocf_nodes",
      help: "Approved nodes by status",
      labelNames: ["status"],
      registers,
      collect() {
        const counts = sources.nodes();
        this.set({ status: "online" }, counts.online);
        this.set({ status: "offline" }, counts.offline);
      },
    });
    new Gauge({
      name: "ocf_join_requests_pending",
      help: "Join requests waiting for approval",
      registers,
      collect() {
        this.set(sources.pending());
      },
    });
    new Gauge({
      name: "ocf_tasks",
      help: "Durable tasks by state",
      labelNames: ["state"],
      registers,
      collect() {
        for (const [state, count] of Object.entries(sources.tasks())) this.set({ state }, count);
      },
    });
    this.heartbeats = new Counter({ name: "ocf_heartbeats_received_total", help: "Heartbeats received from approved nodes", registers });
    this.heartbeatLag = new Histogram({ name: "ocf_heartbeat_lag_seconds", help: "Age of a heartbeat when the coordinator received it", buckets: LATENCY_BUCKETS, registers });
    this.livenessFlushes = new Counter({ name: "ocf_liveness_flushes_total", help: "SQLite transactions writing batched heartbeat liveness (last seen, load)", registers });
    this.livenessRows = new Counter({ name: "ocf_liveness_rows_written_total", help: "Node rows written by liveness flushes", registers });
    this.execDuration = new Histogram({ name: "ocf_exec_duration_seconds", help: "Exec round trip through the API, by result status", labelNames: ["status"], buckets: LATENCY_BUCKETS, registers });
    this.broadcastDuration = new Histogram({ name: "ocf_broadcast_duration_seconds", help: "Broadcast until every node answered (or timed out)", buckets: LATENCY_BUCKETS, registers });
    this.nodeResults = new Counter({ name: "ocf_node_results_total", help: "Per-node results of exec and broadcast, by status", labelNames: ["kind", "status"], registers });
    this.natsReconnects = new Counter({ name: "ocf_nats_reconnects_total", help: "Reconnections of the coordinator to NATS", registers });
    this.natsDropped = new Counter({
      name: "ocf_nats_dropped_total",
      help: "NATS messages from nodes dropped, or replies not sent, by reason (heartbeat_too_large, heartbeat_too_frequent, heartbeat_invalid, enroll_reply, task_event_reply, broadcast_result_unexpected, ...)",
      labelNames: ["reason"],
      registers,
    });
    this.httpRequests = new Counter({ name: "ocf_http_requests_total", help: "HTTP requests by method, route and status", labelNames: ["method", "route", "status"], registers });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
