/**
 * The coordinator process: registry, pairing, liveness, dispatch and the HTTP API, wired together.
 * It owns the truth (SQLite); NATS carries messages to and from workers.
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { decodeMessage, encodeMessage, errorReply } from "../protocol/codec.js";
import { FleetError } from "../protocol/errors.js";
import { HeartbeatSchema, MAX_HEARTBEAT_BYTES, PROTOCOL_VERSION, type Control } from "../protocol/messages.js";
import { subjects as makeSubjects, type Subjects } from "../protocol/subjects.js";
import { databaseOk, openDatabase, type SqliteDatabase } from "../storage/database.js";
import { JoinRequestRepository } from "../storage/join-requests.js";
import { NodeRepository } from "../storage/nodes.js";
import { connectNats, guardedCallback, isAuthError, redactUrl, type Msg, type NatsConnection } from "../transport/connection.js";
import { pushAccountJwt, TrustStore } from "../transport/trust.js";
import { answerNode, dropReply } from "./replies.js";
import { Enrollment } from "./enrollment.js";
import { FileStore } from "./files.js";
import { readPrivateFile, writeFileAtomic } from "../util/files.js";
import { readFileSync } from "node:fs";
import { SOFTWARE_VERSION } from "../version.js";
import { loadOrCreateAdminToken } from "./admin-token.js";
import { Dispatcher } from "./dispatch.js";
import { buildHttpServer } from "./http/server.js";
import type { DeclaredRoute } from "./http/access.js";
import type { HealthReport, RotateResult } from "../protocol/api.js";
import { Pairing } from "./pairing.js";
import { Registry } from "./registry.js";
import { Auditor } from "./audit.js";
import { TokenService } from "./tokens.js";
import { TokenRepository } from "../storage/tokens.js";
import { AuditRepository } from "../storage/audit.js";
import { TaskRepository } from "../storage/tasks.js";
import { TaskService } from "./tasks.js";
import { Metrics } from "./metrics.js";
import { Sessions } from "./sessions.js";
import { createAuditFile, limited } from "../util/logger.js";
import { HEARTBEAT_RATE, KeyedRate } from "./peer-limits.js";
import { TRUST_DIR } from "./paths.js";

/** Keys the coordinator applies without a restart (the rest are reported as needing one). */
export const COORDINATOR_LIVE_KEYS = new Set([
  "coordinator.heartbeat_timeout",
  "coordinator.heartbeat_check_interval",
  "coordinator.auto_approve",
  "coordinator.max_pending_per_address",
  "coordinator.pending_expiry",
  "log.level",
  "scheduler.strategy",
  "scheduler.max_retries",
  "scheduler.task_timeout",
  "scheduler.retention",
]);
/** Keys that concern only workers: changing them on the master needs nothing here. */
const WORKER_SIDE = /^worker\./;

export interface CoordinatorOptions {
  config: Config;
  /** Resolved absolute paths. */
  dbPath: string;
  stateDir: string;
  logger: Logger;
  /** Keys approved on arrival (the local worker of `ocf up`). */
  preApproved?: ReadonlyArray<{ nodeId: string; publicKey: string }>;
  /** Resolved paths of the TLS certificate and key (both or neither). */
  tls?: { certPath: string; keyPath: string } | undefined;
  /** Folder for logs/audit.log; undefined writes the audit trail to SQLite only. */
  auditLogDir?: string | undefined;
  /** Print the admin token once, when it is first created. */
  onTokenCreated?: (token: string, path: string) => void;
}

export const RUNTIME_FILE = "coordinator.json";
/** Folder under the coordinator's state dir holding the NATS operator and account keys (paths.ts, light enough for the CLI). */
export { TRUST_DIR };
const FLUSH_INTERVAL_MS = 2000;
/** How often pending join requests are checked for expiry (coordinator.pending_expiry is at least a minute). */
const EXPIRE_INTERVAL_MS = 60_000;
const CONTROL_RESEND_MS = 30_000;

export interface RuntimeInfo {
  url: string;
  pid: number;
  started_at: string;
  version: string;
}

export class Coordinator {
  private db?: SqliteDatabase;
  private nc?: NatsConnection;
  private natsConnected = false;
  /** The server requires credentials (operator mode): revocations are pushed over `sys`. */
  private natsSecure = false;
  private sys?: NatsConnection;
  private trust?: TrustStore;
  private enrollment?: Enrollment;
  private http?: FastifyInstance;
  private timers: NodeJS.Timeout[] = [];
  private registry?: Registry;
  private pairing?: Pairing;
  private tasks?: TaskService;
  private dispatcher?: Dispatcher;
  private metrics?: Metrics;
  private sweepTimer?: NodeJS.Timeout;
  /** Set by the launcher when it watches the config file. */
  configStatus?: () => NonNullable<HealthReport["config"]>;
  private readonly subjects: Subjects;
  private readonly startedAt = Date.now();
  private readonly lastControl = new Map<string, number>();
  /** Heartbeats read per node (the node in the subject, which NATS vouches for). */
  private readonly heartbeatRate = new KeyedRate(HEARTBEAT_RATE);
  private token = "";
  private stopping = false;
  private connecting?: Promise<void>;
  url = "";

  constructor(private readonly options: CoordinatorOptions) {
    this.subjects = makeSubjects(options.config.communication.subject_prefix);
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    this.db = openDatabase(this.options.dbPath);
    try {
      this.trust = await TrustStore.open(join(this.options.stateDir, TRUST_DIR));
    } catch (error) {
      this.db.close();
      throw new Error(`NATS trust keys in ${join(this.options.stateDir, TRUST_DIR)}: ${(error as Error).message}`, { cause: error });
    }
    const { token, path, created } = loadOrCreateAdminToken(this.options.stateDir);
    this.token = token;
    if (created) {
      logger.info({ path }, "admin token created");
      this.options.onTokenCreated?.(token, path);
    }

    const registry = new Registry(new NodeRepository(this.db), {
      heartbeatTimeoutMs: config.coordinator.heartbeat_timeout * 1000,
      onStatusChange: (change) => {
        logger.info({ node_id: change.node.id, from: change.from, to: change.to }, `node ${change.to}`);
        this.publishEvent("node.status", { node_id: change.node.id, status: change.to });
        if (change.to === "offline") this.tasks?.nodeOffline(change.node.id);
      },
    });
    this.registry = registry;
    const auditRepo = new AuditRepository(this.db);
    const auditor = new Auditor(auditRepo, createAuditFile(this.options.auditLogDir), logger);
    this.pairing = new Pairing(registry, new JoinRequestRepository(this.db), {
      autoApprove: config.coordinator.auto_approve,
      preApproved: this.options.preApproved ?? [],
      notify: (nodeId, type, message, publicKey) => {
        this.sendControl({ v: PROTOCOL_VERSION, type, node_id: nodeId, message });
        this.enrollment?.wake(publicKey);
      },
      revoke: (publicKey, nodeId, reason) => {
        this.revoke(publicKey);
        auditor.record({ actor: "coordinator", action: "nats.revoke", node_id: nodeId, status: this.natsSecure ? "revoked" : "not_secure", detail: { public_key: publicKey, reason } });
      },
      logger,
      audit: (entry) => auditor.record(entry),
      maxPendingPerAddress: config.coordinator.max_pending_per_address,
      pendingExpiryMs: config.coordinator.pending_expiry * 1000,
    });
    const trust = this.trust;
    this.enrollment = new Enrollment({
      pairing: this.pairing,
      issueJwt: (nodeId, publicKey) => trust.issueNodeJwt(this.subjects, nodeId, publicKey),
      perMinute: config.coordinator.enroll_rate_per_minute,
      audit: (entry) => auditor.record(entry),
      logger,
    });
    const tls = this.loadTls();
    const dispatcher = new Dispatcher({
      nc: () => (this.natsConnected ? this.nc : undefined),
      subjects: this.subjects,
      registry,
      maxOutputBytes: config.worker.max_output_bytes,
      logger,
      onForgery: ({ node_id: nodeId, ...detail }) => auditor.record({ actor: `node:${nodeId}`, action: "nats.forgery", node_id: nodeId, status: "forged", detail }),
      onDropped: (reason) => this.metrics?.natsDropped.inc({ reason }),
    });
    this.dispatcher = dispatcher;

    this.tasks = new TaskService({
      repo: new TaskRepository(this.db),
      registry,
      subjects: this.subjects,
      nc: () => (this.natsConnected ? this.nc : undefined),
      strategy: config.scheduler.strategy,
      maxOutputBytes: config.worker.max_output_bytes,
      defaultTimeoutMs: config.scheduler.task_timeout * 1000,
      defaultRetries: config.scheduler.max_retries,
      retentionMs: config.scheduler.retention * 1000,
      outputDir: join(this.options.stateDir, "task-output"),
      logger,
      onDropped: (reason) => this.metrics?.natsDropped.inc({ reason }),
    });

    const tasks = this.tasks;
    const pairing = this.pairing;
    this.metrics = new Metrics({
      nodes: () => registry.counts(),
      pending: () => pairing.pendingCount(),
      tasks: () => tasks.counts(),
    });
    this.http = buildHttpServer({
      tasks: this.tasks,
      sessions: new Sessions(),
      metrics: this.metrics,
      tokens: new TokenService(new TokenRepository(this.db), () => this.token),
      registry,
      pairing: this.pairing,
      dispatcher,
      health: () => this.health(),
      defaultTimeoutMs: config.coordinator.exec_timeout * 1000,
      logger,
      auditor,
      audit: auditRepo,
      tls,
      enrollment: this.enrollment,
      files: new FileStore(join(this.options.stateDir, "files")),
      rotate: async (nodeId, actor) => {
        const node = registry.get(nodeId);
        if (!node) throw new FleetError("node_not_found", `no node "${nodeId}"`);
        const at = this.revoke(node.public_key);
        auditor.record({ actor, action: "node.rotate", node_id: nodeId, status: this.natsSecure ? "revoked" : "not_secure", detail: { public_key: node.public_key } });
        logger.info({ node_id: nodeId, secure: this.natsSecure }, "node credentials revoked for rotation; the node fetches new ones");
        const result: RotateResult = { node_id: nodeId, revoked_at: new Date(at * 1000).toISOString(), secure: this.natsSecure };
        return result;
      },
    });
    try {
      await this.http.listen({ host: config.coordinator.host, port: config.coordinator.port });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.db.close();
      if (code === "EADDRINUSE") {
        throw new Error(`port ${config.coordinator.port} on ${config.coordinator.host} is already in use: stop what runs there or set coordinator.port (OCF_COORDINATOR_PORT)`, { cause: error });
      }
      throw error;
    }
    const address = this.http.server.address();
    const port = typeof address === "object" && address ? address.port : config.coordinator.port;
    const host = ["0.0.0.0", "::", ""].includes(config.coordinator.host) ? "127.0.0.1" : config.coordinator.host;
    this.url = `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
    const runtime: RuntimeInfo = { url: this.url, pid: process.pid, started_at: new Date(this.startedAt).toISOString(), version: SOFTWARE_VERSION };
    writeFileAtomic(join(this.options.stateDir, RUNTIME_FILE), `${JSON.stringify(runtime, null, 2)}\n`, 0o600);
    logger.info({ url: this.url, db: this.options.dbPath }, "coordinator HTTP API listening");

    this.tasks.start();
    this.sweepTimer = setInterval(() => this.sweep(), config.coordinator.heartbeat_check_interval * 1000);
    this.timers.push(setInterval(() => this.flush(), FLUSH_INTERVAL_MS));
    this.timers.push(setInterval(() => this.expirePending(), EXPIRE_INTERVAL_MS));
    this.connecting = this.connect();
    await Promise.race([this.connecting, new Promise((r) => setTimeout(r, 3000))]);
  }

  /** Read the TLS certificate and key; the key must be private (0600). */
  private loadTls(): { cert: string; key: string } | undefined {
    const paths = this.options.tls;
    if (!paths) return undefined;
    try {
      const cert = readFileSync(paths.certPath, "utf8");
      const key = readPrivateFile(paths.keyPath);
      if (key === undefined) throw new Error(`${paths.keyPath} does not exist`);
      if (!cert.includes("BEGIN CERTIFICATE")) throw new Error(`${paths.certPath} is not a PEM certificate`);
      return { cert, key };
    } catch (error) {
      this.db?.close();
      throw new Error(`TLS for the HTTP API: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Every HTTP route with the scope it declares (empty before start). */
  routes(): DeclaredRoute[] {
    return [...(this.http?.routeTable ?? [])];
  }

  /** Resolves once NATS is connected (tests and `ocf up` wait on it). */
  async ready(): Promise<void> {
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const { config, logger } = this.options;
    const trust = this.trust as TrustStore;
    const url = config.communication.nats_url;
    logger.info({ nats: redactUrl(url) }, "connecting to NATS");
    let nc: NatsConnection | undefined;
    while (!this.stopping && !nc) {
      try {
        nc = await connectNats({
          url,
          name: "ocf-coordinator",
          logger,
          waitOnFirstConnect: true,
          // One connection, and everything depends on it: notice a dead link within ~10 s.
          pingIntervalMs: 3000,
          credentials: await trust.serviceCredentials("ocf-coordinator"),
          onReconnect: () => {
            this.natsConnected = true;
            this.metrics?.natsReconnects.inc();
          },
          onDisconnect: () => {
            this.natsConnected = false;
          },
        });
      } catch (error) {
        const hint = isAuthError(error)
          ? `the NATS server does not trust this coordinator's keys (${join(this.options.stateDir, TRUST_DIR)}); regenerate its config with \`ocf nats-config\` and restart it`
          : (error as Error).message;
        logger.error({ nats: redactUrl(url), err: hint }, "cannot connect to NATS; retrying in 10 s");
        await new Promise((r) => setTimeout(r, 10_000));
      }
    }
    if (!nc) return;
    if (this.stopping) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.natsConnected = true;
    nc.subscribe(this.subjects.enroll(), { queue: "ocf-coordinator", callback: guardedCallback(logger, "enroll", (msg) => this.onEnroll(msg)) });
    nc.subscribe(this.subjects.heartbeatAll(), { callback: guardedCallback(logger, "heartbeat", (msg) => this.onHeartbeat(msg)) });
    nc.subscribe(this.subjects.taskEventsAll(), { queue: "ocf-coordinator", callback: guardedCallback(logger, "task events", (msg) => this.tasks?.onEvent(msg)) });
    // No queue group: a broadcast waits in the memory of the coordinator that sent it, so each
    // coordinator must see every result (and drops those for broadcasts it does not hold).
    nc.subscribe(this.subjects.broadcastResultAll(), { callback: guardedCallback(logger, "broadcast results", (msg) => this.dispatcher?.onBroadcastResult(msg)) });
    this.natsSecure = nc.info?.auth_required === true;
    if (this.natsSecure) await this.connectSystem(url);
    else {
      logger.warn({ nats: redactUrl(url) }, "connected to NATS, but the server lets anyone connect: nodes are not isolated and removal cannot cut them off; run nats-server with the config from `ocf nats-config` (ocf up does this)");
    }
  }

  /** The system-account connection that pushes account updates (revocations) to the server. */
  private async connectSystem(url: string): Promise<void> {
    const { logger } = this.options;
    const trust = this.trust as TrustStore;
    try {
      this.sys = await connectNats({
        url,
        name: "ocf-coordinator-system",
        logger,
        waitOnFirstConnect: true,
        credentials: await trust.serviceCredentials("ocf-system", true),
        // A restarted server may hold an older account JWT: push the current revocations again.
        onReconnect: () => void this.pushRevocations(),
      });
      await this.pushRevocations();
      logger.info({ nats: redactUrl(url), revoked_keys: Object.keys(trust.revocations()).length }, "connected to NATS (operator mode: per-node credentials)");
    } catch (error) {
      logger.error({ err: (error as Error).message }, "cannot connect to NATS as the system account: revocations cannot be pushed until the server trusts this coordinator's keys");
    }
  }

  /** Revoke the NATS credentials of `publicKey` and tell the server; returns the revocation time (s). */
  private revoke(publicKey: string): number {
    const at = (this.trust as TrustStore).revoke(publicKey);
    void this.pushRevocations();
    return at;
  }

  private async pushRevocations(): Promise<void> {
    const sys = this.sys;
    if (!sys || sys.isClosed() || !this.trust) return;
    try {
      await pushAccountJwt(sys, await this.trust.accountJwt());
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, "could not push the fleet account (revocations) to nats-server; retrying in 5 s");
      if (!this.stopping) setTimeout(() => void this.pushRevocations(), 5000).unref();
    }
  }

  /**
   * A join over NATS: an approved node re-announcing itself (checked and limited by Enrollment).
   * Answered only in the inbox of the node the join's verified key belongs to; a message that does
   * not verify, or asks for its answer anywhere else, gets none.
   */
  private onEnroll(msg: Msg): void {
    const outcome = (this.enrollment as Enrollment).joinOverNats(msg.data);
    if (outcome.ok) this.publishEvent("pairing", { node_id: outcome.reply.node_id, status: outcome.reply.status, request_id: outcome.reply.request_id ?? null });
    if (!msg.reply) return;
    const body = outcome.ok ? encodeMessage(outcome.reply) : encodeMessage(errorReply(outcome.error.code, outcome.error.message));
    const replies = { logger: this.options.logger, onDropped: (reason: string) => this.metrics?.natsDropped.inc({ reason }) };
    if (outcome.sender === undefined) dropReply(replies, "enroll", msg.reply, "the join did not verify, or its key is no member's");
    else answerNode(replies, msg, outcome.sender, body, "enroll");
  }

  private onHeartbeat(msg: Msg): void {
    const subjectNode = this.subjects.nodeIdOf(msg.subject);
    // Dropped before they are parsed: larger than a heartbeat can be, or faster than a node beats.
    if (msg.data.length > MAX_HEARTBEAT_BYTES) {
      this.metrics?.natsDropped.inc({ reason: "heartbeat_too_large" });
      limited(this.options.logger).warn("heartbeat.too-large", { node_id: subjectNode, bytes: msg.data.length, max: MAX_HEARTBEAT_BYTES }, "heartbeat larger than a heartbeat can be: dropped unread");
      return;
    }
    if (subjectNode === undefined) {
      this.metrics?.natsDropped.inc({ reason: "heartbeat_invalid" });
      limited(this.options.logger).warn("heartbeat.invalid", { subject: msg.subject.slice(0, 128) }, "heartbeat on a subject naming no node ignored");
      return;
    }
    if (!this.heartbeatRate.admit(subjectNode)) {
      this.metrics?.natsDropped.inc({ reason: "heartbeat_too_frequent" });
      limited(this.options.logger).warn("heartbeat.too-frequent", { node_id: subjectNode, per_second: HEARTBEAT_RATE.perSecond }, "heartbeats faster than a node beats: the excess is dropped unread");
      return;
    }
    try {
      const heartbeat = decodeMessage(msg.data, HeartbeatSchema);
      if (heartbeat.node_id !== subjectNode) {
        throw new FleetError("bad_request", `heartbeat for ${heartbeat.node_id} arrived on ${msg.subject}`);
      }
      if ((this.registry as Registry).beat(heartbeat)) {
        const log = this.options.logger;
        if (log.isLevelEnabled("debug")) log.debug({ node_id: heartbeat.node_id, seq: heartbeat.seq }, "heartbeat");
        this.metrics?.heartbeats.inc();
        this.metrics?.heartbeatLag.observe(Math.max(0, Date.now() - heartbeat.ts) / 1000);
      } else {
        // Not a member (never approved, rejected or removed): tell it, at most every 30 s.
        const last = this.lastControl.get(heartbeat.node_id) ?? 0;
        if (Date.now() - last > CONTROL_RESEND_MS) {
          if (this.lastControl.size > 10_000) this.lastControl.clear();
          this.lastControl.set(heartbeat.node_id, Date.now());
          this.sendControl({ v: PROTOCOL_VERSION, type: "removed", node_id: heartbeat.node_id, message: "this node is not an approved member of the fleet" });
        }
      }
    } catch (error) {
      this.metrics?.natsDropped.inc({ reason: "heartbeat_invalid" });
      limited(this.options.logger).warn("heartbeat.invalid", { subject: msg.subject.slice(0, 128), err: (error as Error).message.slice(0, 500) }, "invalid heartbeat ignored");
    }
  }

  private sendControl(control: Control): void {
    if (!this.nc || this.nc.isClosed()) return;
    try {
      this.nc.publish(this.subjects.control(control.node_id), encodeMessage(control));
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, "could not send control message");
    }
  }

  private publishEvent(type: string, data: Record<string, unknown>): void {
    if (!this.nc || !this.natsConnected) return;
    try {
      this.nc.publish(this.subjects.event(type), encodeMessage({ v: PROTOCOL_VERSION, type, ts: Date.now(), data }));
    } catch {
      // events are best effort
    }
  }

  private sweep(): void {
    try {
      this.registry?.sweep();
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, "liveness sweep failed");
    }
  }

  private expirePending(): void {
    try {
      this.pairing?.expireStale();
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, "could not expire pending join requests");
    }
  }

  private flush(): void {
    try {
      const rows = this.registry?.flush() ?? 0;
      if (rows > 0) {
        this.metrics?.livenessFlushes.inc();
        this.metrics?.livenessRows.inc(rows);
      }
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, "could not persist heartbeats");
    }
  }

  /** Apply a reloaded config: live keys now; returns the changed keys that need a restart. */
  applyConfig(next: Config, changed: readonly string[]): string[] {
    const { logger } = this.options;
    for (const key of changed) {
      switch (key) {
        case "coordinator.heartbeat_timeout":
          this.registry?.setHeartbeatTimeout(next.coordinator.heartbeat_timeout * 1000);
          break;
        case "coordinator.heartbeat_check_interval":
          if (this.sweepTimer) clearInterval(this.sweepTimer);
          this.sweepTimer = setInterval(() => this.sweep(), next.coordinator.heartbeat_check_interval * 1000);
          break;
        case "coordinator.auto_approve":
          this.pairing?.setAutoApprove(next.coordinator.auto_approve);
          break;
        case "coordinator.max_pending_per_address":
          this.pairing?.setPendingLimits({ maxPendingPerAddress: next.coordinator.max_pending_per_address });
          break;
        case "coordinator.pending_expiry":
          this.pairing?.setPendingLimits({ pendingExpiryMs: next.coordinator.pending_expiry * 1000 });
          break;
        case "log.level":
          logger.level = next.log.level;
          break;
      }
    }
    if (changed.some((key) => key.startsWith("scheduler."))) this.tasks?.applySettings(next.scheduler);
    return changed.filter((key) => !COORDINATOR_LIVE_KEYS.has(key) && !WORKER_SIDE.test(key));
  }

  health(): HealthReport {
    const counts = this.registry?.counts() ?? { total: 0, online: 0, offline: 0 };
    const db = this.db ? databaseOk(this.db) : false;
    const nats = this.natsConnected && this.nc !== undefined && !this.nc.isClosed();
    return {
      status: db && nats ? "ok" : "degraded",
      version: SOFTWARE_VERSION,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      nats: { connected: nats, secure: nats && this.natsSecure },
      db: { ok: db },
      nodes: { ...counts, pending: this.pairing?.pendingCount() ?? 0 },
      ...(this.configStatus ? { config: this.configStatus() } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.tasks?.stop();
    this.enrollment?.close();
    await this.http?.close().catch(() => undefined);
    this.flush();
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
    if (this.sys && !this.sys.isClosed()) await this.sys.close().catch(() => undefined);
    this.db?.close();
    this.options.logger.info("coordinator stopped");
  }
}
