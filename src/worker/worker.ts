/**
 * The worker: identity, enrollment (and waiting for approval, across restarts), heartbeats and
 * shell execution. It never decides; it obeys the coordinator and its own limits. It refuses to
 * run anything until it is approved, and again as soon as it is removed.
 *
 * Enrollment: without NATS credentials the worker asks to join over the coordinator's HTTP API
 * (a join request signed with its key; it long-polls while pending). Approval brings a NATS user
 * JWT bound to its key and limited to its own subjects; it is checked, kept 0600 in the state
 * dir, and used for every connection. When the server refuses it (revoked: removed or rotated),
 * the worker drops it and asks again over HTTP, which answers with new credentials or "rejected".
 */
import { existsSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import type { KeyPair } from "@nats-io/nkeys";
import { INSTALL_ROOT } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { asErrorReply, decodeMessage, encodeMessage } from "../protocol/codec.js";
import type { ErrorCode } from "../protocol/errors.js";
import {
  BroadcastRequestSchema,
  CallRequestSchema,
  ControlSchema,
  ErrorBodySchema,
  ExecRequestSchema,
  JoinReplySchema,
  LabelsSchema,
  PROTOCOL_VERSION,
  type CallRequest,
  type CallResult,
  type ExecResult,
  type Labels,
} from "../protocol/messages.js";
import { signJoinRequest } from "../protocol/signed-join.js";
import { keyFingerprint } from "../protocol/fingerprint.js";
import { subjects as makeSubjects, type Subjects } from "../protocol/subjects.js";
import { connectNats, guardedCallback, isAuthError, redactUrl, type Msg, type NatsConnection, type Subscription } from "../transport/connection.js";
import { nodeInboxPrefix, verifyNodeJwt } from "../transport/trust.js";
import { parseNatsUrl } from "../util/net.js";
import { request, RequestFailed } from "../transport/request.js";
import { readPrivateFile, writeFileAtomic } from "../util/files.js";
import { limited } from "../util/logger.js";
import { SOFTWARE_VERSION } from "../version.js";
import { loadOrCreateIdentity } from "./identity.js";
import { runShell, type ShellResult } from "./shell.js";
import { CpuMeter, diskPercent, machineFacts, memoryPercent } from "./system-info.js";
import { labelsMatch } from "../protocol/labels.js";
import { commandEnv, decide, decideFileWrite, type ExecPolicy } from "./policy.js";
import { startStatusServer, type StatusServer } from "./status-server.js";
import { probeCapabilities, type ProbedCapabilities } from "./capabilities.js";
import { FileAccess, type ProtectedPlace } from "./file-access.js";
import { deployEnvDir, protectedPlaces, type OwnPlaces } from "./protected.js";
import { answerCall, CallFailure, type CallContext } from "./calls.js";
import { SkillCatalog } from "./skills.js";
import { TaskRunner } from "./tasks.js";

export type EnrollmentState = "new" | "pending" | "approved" | "rejected" | "removed";

export interface WorkerOptions {
  config: Config;
  nodeId: string;
  name?: string;
  labels?: Labels;
  stateDir: string;
  logger: Logger;
  /** Serve the local status endpoint on worker.port (default true). */
  statusServer?: boolean;
  /** Working directory for commands (default: the home folder). */
  workdir?: string;
  /** Environment used to probe capabilities and run capture tools (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Resolved worker.skills_dir (default: worker.skills_dir from the current folder). */
  skillsDir?: string;
  /**
   * How paths in the config resolve (the launcher's LoadedConfig.resolvePath: `~`, relative to the
   * config's folder); default: `~` expanded, relative to the current folder.
   */
  resolvePath?: (path: string) => string;
  /** The config file this worker was started with: file calls may read it, never write it. */
  configFile?: string | undefined;
  /** The software's folder, never written by file calls (default: this installation's root). */
  installRoot?: string;
  /** The deploy's env folder, never read or written by file calls (default: ~/.config/openclaw-federation). */
  deployEnvDir?: string;
}

/** How often the worker probes its capabilities again and rescans its skills. */
const CAPABILITY_REFRESH_MS = 10_000;

/** Capabilities every worker has; the rest are probed at start (src/worker/capabilities.ts). */
export const BASE_CAPABILITIES = ["shell.exec"];
const STATE_FILE = "node.json";
/** The node's NATS user JWT (not secret on its own: it only works with the key in identity.seed). */
export const NODE_JWT_FILE = "node.jwt";
/** Longest wait for a decision in one enrollment request (long poll). */
const ENROLL_WAIT_S = 25;
const JOIN_TIMEOUT_MS = 5000;
/**
 * Refusals of a join over NATS that mean "this key is not (or no longer) a member": leave NATS and
 * ask over HTTP, which says why. Any other refusal (rate_limited, clock_skew, replayed, unavailable,
 * a bad field) leaves the node as it is: approved, connected, beating; it re-announces later.
 */
const NOT_A_MEMBER: ReadonlySet<ErrorCode> = new Set(["not_approved", "identity_mismatch"]);
/** Space kept free in a reply for the JSON envelope when trimming output to the server's max payload. */
const REPLY_ENVELOPE_BYTES = 4096;
/** The coordinator waits for broadcast results for the command's timeout plus this (dispatch.ts REPLY_GRACE_MS). */
const BROADCAST_GRACE_MS = 3000;
/** Most broadcast results kept to send again while a connection has not shown it may publish them. */
const MAX_UNCONFIRMED_RESULTS = 8;
/** Broadcast results refused again within this time after a renewal do not renew again (the coordinator issues credentials without them). */
const RESULT_RENEWAL_INTERVAL_MS = 60_000;

interface RunningCommand {
  id: string;
  controller: AbortController;
  done: Promise<void>;
}

export class Worker {
  private nc?: NatsConnection;
  private key?: KeyPair;
  private readonly subjects: Subjects;
  private readonly subscriptions: Subscription[] = [];
  /** Command subscriptions exist only while approved, so an unapproved node cannot even hear work. */
  private commandSubscriptions: Subscription[] = [];
  private readonly running = new Map<string, RunningCommand>();
  private readonly cpu = new CpuMeter();
  private heartbeatTimer?: NodeJS.Timeout;
  private enrollTimer?: NodeJS.Timeout;
  private httpEnrollTimer?: NodeJS.Timeout;
  private httpEnrollAbort?: AbortController;
  private httpFailures = 0;
  /** NATS user JWT of this node, once approved. */
  private jwt: string | undefined;
  private seq = 0;
  /** The `ts` of the last join signed: each request is signed with a newer one, so none is ever sent twice. */
  private lastJoinTs = 0;
  /** Counts control messages; a join reply older than the latest control message is stale. */
  private controlEpoch = 0;
  /** Joins over NATS in a row that got no answer (the coordinator answers none while over its limit in all). */
  private unansweredJoins = 0;
  private stopping = false;
  private renewing = false;
  /** The connection on which a broadcast result went through: from then on results are not kept. */
  private resultsConfirmedOn?: NatsConnection;
  /**
   * Broadcast results sent on a connection not yet known to allow them (credentials from before
   * broadcast results had their own subject): sent again on the next connection if the server
   * refused them, while their broadcast still waits.
   */
  private unconfirmedResults: Array<{ body: Uint8Array; until: number }> = [];
  private lastResultRenewal = 0;
  /** Makes each slot's key in `running` unique. */
  private slotSeq = 0;
  private status?: StatusServer;
  private lastLoggedState?: string;
  private lastLoggedRequest?: string;
  private readonly policy: ExecPolicy;
  state: EnrollmentState = "new";
  requestId: string | undefined;
  readonly labels: Labels;
  capabilities: ProbedCapabilities;
  /** What the probe found, without skills (skills check their `requires` against it). */
  private baseCapabilities: ProbedCapabilities = { list: [], missing: {} };
  private readonly files: FileAccess;
  /** Paths the fleet may not touch through file calls: from the config at start and the current one. */
  private places: readonly ProtectedPlace[];
  private readonly startPlaces: readonly ProtectedPlace[];
  private readonly ownPlaces: OwnPlaces;
  private readonly resolveConfigPath: (path: string) => string;
  readonly skills: SkillCatalog;
  private readonly callContext: CallContext;
  private readonly tasks: TaskRunner;
  private capabilityTimer?: NodeJS.Timeout;

  constructor(private readonly options: WorkerOptions) {
    this.subjects = makeSubjects(options.config.communication.subject_prefix);
    this.labels = { ...options.config.worker.labels, ...(options.labels ?? {}) };
    // worker.labels and --label together: the coordinator would refuse every join and heartbeat.
    const labels = LabelsSchema.safeParse(this.labels);
    if (!labels.success) {
      const issue = labels.error.issues[0];
      throw new Error(`this node's labels (worker.labels with --label) are not valid: ${issue?.path.length ? `${issue.path.join(".")}: ` : ""}${issue?.message ?? "invalid"}`);
    }
    const { exec_policy: mode, exec_allowlist: allowlist, exec_env: env, allow_file_writes: fileWrites } = options.config.worker;
    this.policy = { mode, allowlist, env, fileWrites };
    const workdir = options.workdir ?? homedir();
    const resolveHome = (path: string): string => (path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : path);
    this.resolveConfigPath = options.resolvePath ?? ((path) => resolve(resolveHome(path)));
    const probeEnv = options.env ?? process.env;
    this.skills = new SkillCatalog(resolve(resolveHome(options.skillsDir ?? options.config.worker.skills_dir)), () => this.baseCapabilities, probeEnv);
    this.ownPlaces = {
      configFile: options.configFile,
      stateDir: resolve(options.stateDir),
      skillsDir: this.skills.dir,
      installRoot: options.installRoot ?? INSTALL_ROOT,
      deployEnvDir: options.deployEnvDir ?? deployEnvDir(),
      resolvePath: this.resolveConfigPath,
      home: homedir(),
    };
    this.startPlaces = protectedPlaces(options.config, this.ownPlaces);
    this.places = this.startPlaces;
    this.files = new FileAccess({ roots: this.fileRoots(options.config), workdir, maxBytes: options.config.worker.max_file_bytes, protectedPlaces: () => this.places });
    this.skills.scan();
    this.capabilities = this.probe();
    this.callContext = {
      nodeId: options.nodeId,
      policy: this.policy,
      capabilities: () => this.capabilities,
      files: this.files,
      skills: this.skills,
      rescan: () => this.refreshCapabilities(),
      env: probeEnv,
      maxAnswerBytes: () => this.maxPayload() - REPLY_ENVELOPE_BYTES,
      maxOutputBytes: options.config.worker.max_output_bytes,
      logger: options.logger,
      track: (id, work) => this.track(id, work),
    };
    this.tasks = new TaskRunner({
      nodeId: options.nodeId,
      stateDir: options.stateDir,
      subjects: this.subjects,
      nc: () => this.nc,
      policy: this.policy,
      skills: this.skills,
      workdir,
      maxOutputBytes: options.config.worker.max_output_bytes,
      reserve: (id, controller) => this.reserveSlot(id, controller),
      logger: options.logger,
    });
  }

  /** worker.file_roots resolved like every config path; default: the exec working directory. */
  private fileRoots(config: Config): string[] {
    return config.worker.file_roots?.map(this.resolveConfigPath) ?? [this.options.workdir ?? homedir()];
  }

  /**
   * Take one of max_concurrent_tasks (exec commands, skills and durable tasks share them); the
   * returned function gives it back. Undefined when the node is full. `stop()` aborts `controller`
   * and waits for the slot to be given back.
   */
  private reserveSlot(id: string, controller: AbortController): (() => void) | undefined {
    if (this.running.size >= this.options.config.worker.max_concurrent_tasks) return undefined;
    let finished!: () => void;
    const entry: RunningCommand = { id, controller, done: new Promise<void>((r) => (finished = r)) };
    const key = `${id}#${++this.slotSeq}`;
    this.running.set(key, entry);
    return () => {
      this.running.delete(key);
      finished();
    };
  }

  private busyMessage(): string {
    return `node is busy: ${this.running.size} of max_concurrent_tasks=${this.options.config.worker.max_concurrent_tasks} running`;
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  get runningCount(): number {
    return this.running.size;
  }

  get connected(): boolean {
    return this.nc !== undefined && !this.nc.isClosed();
  }

  async start(): Promise<void> {
    const { logger, config } = this.options;
    const identity = loadOrCreateIdentity(this.options.stateDir);
    this.key = identity.key;
    if (identity.created) logger.info({ path: identity.path, public_key: identity.key.getPublicKey(), fingerprint: keyFingerprint(identity.key.getPublicKey()) }, "created node identity");
    this.saveState();
    const workdir = this.options.workdir ?? homedir();
    if (!existsSync(workdir) || !statSync(workdir).isDirectory()) {
      throw new Error(`worker.exec_workdir ${workdir} is not a folder; create it or change worker.exec_workdir`);
    }
    logger.info({ capabilities: this.capabilities.list, missing: this.capabilities.missing, skills_dir: this.skills.dir }, "capabilities probed");
    // Tasks a previous run of this worker left: kill their processes, queue their results.
    this.tasks.recover();
    for (const problem of this.skills.problems()) logger.warn({ skill_folder: problem.folder, err: problem.error }, "skill not loaded");
    this.capabilityTimer = setInterval(() => this.refreshCapabilities(), CAPABILITY_REFRESH_MS);
    this.capabilityTimer.unref();
    if (this.policy.mode !== "full") logger.info({ exec_policy: this.policy.mode, patterns: this.policy.allowlist.length, file_writes: decideFileWrite(this.policy).allowed }, "exec policy in force");
    if (this.policy.mode === "allowlist" && this.policy.allowlist.length === 0) logger.warn("exec_policy is allowlist but worker.exec_allowlist is empty: every command will be refused");
    if (this.options.statusServer ?? true) {
      this.status = await startStatusServer({
        port: config.worker.port,
        logger,
        report: () => ({ node_id: this.nodeId, state: this.state, nats_connected: this.connected, running_tasks: this.running.size, version: SOFTWARE_VERSION }),
      });
    }
    this.loadJwt();
    if (this.jwt) {
      logger.info({ node_id: this.nodeId, nats: redactUrl(config.communication.nats_url) }, "worker starting with its NATS credentials; connecting");
      await this.connect();
    } else {
      logger.info({ node_id: this.nodeId, coordinator: this.coordinatorUrl }, "worker starting without NATS credentials; asking the coordinator to join");
      this.scheduleHttpEnroll(0);
    }
  }

  /** Where to ask to join: communication.coordinator_url, else the NATS host on coordinator.port. */
  get coordinatorUrl(): string {
    const { communication, coordinator } = this.options.config;
    if (communication.coordinator_url) return communication.coordinator_url.replace(/\/+$/, "");
    const { host } = parseNatsUrl(communication.nats_url);
    return `http://${host.includes(":") ? `[${host}]` : host}:${coordinator.port}`;
  }

  private loadJwt(): void {
    const path = join(this.options.stateDir, NODE_JWT_FILE);
    const text = readPrivateFile(path)?.trim();
    if (!text || !this.key) return;
    try {
      verifyNodeJwt(text, this.key.getPublicKey());
      this.jwt = text;
    } catch (error) {
      this.options.logger.warn({ path, err: (error as Error).message }, "ignoring stored NATS credentials; asking to join again");
    }
  }

  /**
   * Apply a reloaded config: the exec policy, allow_file_writes, file_roots, heartbeat interval,
   * max_concurrent_tasks and log level change live; returns the changed worker keys that need a
   * restart. The places file calls may not touch follow the new config (and keep the old ones).
   */
  applyConfig(next: Config, changed: readonly string[]): string[] {
    const live = new Set(["worker.exec_policy", "worker.exec_allowlist", "worker.exec_env", "worker.allow_file_writes", "worker.file_roots", "worker.heartbeat_interval", "worker.max_concurrent_tasks", "log.level"]);
    const logger = this.options.logger;
    // The policy object is shared with the capability calls and the task runner: change it in place.
    this.policy.mode = next.worker.exec_policy;
    this.policy.allowlist = next.worker.exec_allowlist;
    this.policy.env = next.worker.exec_env;
    this.policy.fileWrites = next.worker.allow_file_writes;
    if (changed.includes("log.level")) logger.level = next.log.level;
    const intervalChanged = next.worker.heartbeat_interval !== this.options.config.worker.heartbeat_interval;
    this.options.config.worker.heartbeat_interval = next.worker.heartbeat_interval;
    this.options.config.worker.max_concurrent_tasks = next.worker.max_concurrent_tasks;
    this.options.config.worker.exec_policy = next.worker.exec_policy;
    this.options.config.worker.exec_allowlist = next.worker.exec_allowlist;
    this.options.config.worker.exec_env = next.worker.exec_env;
    this.options.config.worker.allow_file_writes = next.worker.allow_file_writes;
    const restart: string[] = [];
    try {
      this.places = [...this.startPlaces, ...protectedPlaces(next, this.ownPlaces)];
      if (changed.includes("worker.file_roots")) {
        this.files.setRoots(this.fileRoots(next));
        this.options.config.worker.file_roots = next.worker.file_roots;
        logger.warn({ file_roots: this.files.sharedRoots }, "file roots changed by a config reload");
      }
    } catch (error) {
      logger.error({ err: (error as Error).message }, "worker.file_roots could not be applied; the previous roots stay until a restart");
      restart.push("worker.file_roots");
    }
    if (intervalChanged && this.heartbeatTimer) {
      this.stopHeartbeats();
      this.startHeartbeats();
    }
    if (changed.includes("worker.exec_policy") || changed.includes("worker.allow_file_writes")) {
      logger.warn({ exec_policy: this.policy.mode, file_writes: decideFileWrite(this.policy).allowed }, "exec policy changed by a config reload");
    }
    return [...restart, ...changed.filter((key) => !live.has(key) && !key.startsWith("coordinator.") && !key.startsWith("scheduler."))];
  }

  /** The server refused a subject these credentials should allow (issued by an older coordinator): get new ones. */
  private renewCredentials(reason: string): void {
    if (this.renewing || this.stopping) return;
    this.renewing = true;
    this.options.logger.warn({ node_id: this.nodeId, reason }, "this node's NATS credentials are out of date; asking the coordinator for new ones");
    this.dropJwt();
    const nc = this.nc;
    this.nc = undefined;
    this.subscriptions.length = 0;
    this.commandSubscriptions = [];
    this.stopHeartbeats();
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    if (nc && !nc.isClosed()) void nc.close().catch(() => undefined);
    this.scheduleHttpEnroll(0);
  }

  /**
   * The server refused a broadcast result on this node's own result subject: credentials issued
   * before results had one. Get current ones; the refused results are sent again once connected.
   */
  private onResultsRefused(message: string): void {
    if (Date.now() - this.lastResultRenewal < RESULT_RENEWAL_INTERVAL_MS) {
      this.options.logger.error(
        { node_id: this.nodeId, err: message },
        "NATS still refuses this node's broadcast results with the credentials just renewed (is the coordinator older than this worker?); broadcasts will report this node as timed out",
      );
      return;
    }
    this.lastResultRenewal = Date.now();
    this.renewCredentials(`cannot publish its broadcast results: ${message}`);
  }

  /** Forget the NATS credentials (revoked or refused); the next join over HTTP gets new ones. */
  private dropJwt(): void {
    this.jwt = undefined;
    rmSync(join(this.options.stateDir, NODE_JWT_FILE), { force: true });
  }

  /** Connect to NATS with this node's credentials, listen to its control subject and announce itself. */
  private async connect(): Promise<void> {
    const { logger, config } = this.options;
    const key = this.key as KeyPair;
    let nc: NatsConnection;
    try {
      nc = await connectNats({
        url: config.communication.nats_url,
        name: `ocf-worker:${this.nodeId}`,
        logger,
        waitOnFirstConnect: true,
        credentials: () => ({ jwt: this.jwt ?? "", seed: key.getSeed() }),
        inboxPrefix: nodeInboxPrefix(this.nodeId),
        onReconnect: () => this.scheduleEnroll(0),
        onClosed: (error) => this.onConnectionClosed(nc, error),
        onPermissionViolation: (violation) => {
          if (violation.operation === "publish" && violation.subject === this.subjects.broadcastResult(this.nodeId) && nc === this.nc) this.onResultsRefused(violation.message);
        },
      });
    } catch (error) {
      this.onConnectionClosed(undefined, error as Error);
      return;
    }
    if (this.stopping) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.renewing = false;
    this.subscriptions.push(nc.subscribe(this.subjects.control(this.nodeId), { callback: (_err, msg) => this.onControl(msg) }));
    await nc.flush();
    logger.info({ node_id: this.nodeId, secure: nc.info?.auth_required === true }, "connected to NATS");
    this.scheduleEnroll(0);
  }

  /** The connection ended without us closing it: credentials refused (revoked) or a fatal error. */
  private onConnectionClosed(nc: NatsConnection | undefined, error: Error | undefined): void {
    if (this.stopping || (nc !== undefined && nc !== this.nc)) return;
    const log = this.options.logger;
    this.nc = undefined;
    this.subscriptions.length = 0;
    this.commandSubscriptions = [];
    this.stopHeartbeats();
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    if (error === undefined) return; // closed on purpose (removed): the HTTP enrollment is already scheduled
    if (isAuthError(error)) {
      log.warn({ node_id: this.nodeId, err: error.message }, "NATS refused this node's credentials (revoked or rotated); asking the coordinator again");
      this.dropJwt();
      this.scheduleHttpEnroll(0);
    } else {
      log.error({ node_id: this.nodeId, err: error.message }, "NATS connection closed; reconnecting in 5 s");
      setTimeout(() => {
        if (!this.stopping && !this.nc) void (this.jwt ? this.connect() : this.scheduleHttpEnroll(0));
      }, 5000).unref();
    }
  }

  private scheduleHttpEnroll(delayMs: number): void {
    if (this.stopping) return;
    if (this.httpEnrollTimer) clearTimeout(this.httpEnrollTimer);
    this.httpEnrollTimer = setTimeout(() => void this.httpEnroll(), delayMs);
  }

  private joinRequest() {
    const facts = machineFacts();
    return signJoinRequest(this.key as KeyPair, {
      node_id: this.nodeId,
      name: this.options.name ?? this.nodeId,
      ...facts,
      labels: this.labels,
      capabilities: this.capabilities.list,
      version: SOFTWARE_VERSION,
      max_concurrent_tasks: this.options.config.worker.max_concurrent_tasks,
      // Fresh for every request (the coordinator accepts ±5 min and each signed request once).
      ts: (this.lastJoinTs = Math.max(Date.now(), this.lastJoinTs + 1)),
    });
  }

  /** Ask to join over HTTP (long poll while pending); on approval store the JWT and connect. */
  private async httpEnroll(): Promise<void> {
    if (this.stopping || this.nc) return;
    const log = this.options.logger;
    const wait = this.state === "pending" ? ENROLL_WAIT_S : 0;
    const url = `${this.coordinatorUrl}/api/v1/enroll?wait=${wait}`;
    const started = Date.now();
    const jitter = (ms: number): number => ms + Math.floor(Math.random() * ms * 0.3);
    this.httpEnrollAbort = new AbortController();
    let status: number;
    let body: unknown;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(this.joinRequest()),
        signal: AbortSignal.any([this.httpEnrollAbort.signal, AbortSignal.timeout((ENROLL_WAIT_S + 10) * 1000)]),
      });
      status = response.status;
      body = await response.json().catch(() => undefined);
    } catch (error) {
      if (this.stopping) return;
      this.httpFailures += 1;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.httpFailures, 5));
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      log.warn({ coordinator: this.coordinatorUrl, err: cause?.code ?? cause?.message ?? (error as Error).message, retry_s: Math.round(delay / 1000) }, "coordinator not reachable to ask to join (check communication.coordinator_url, the port and the firewall); retrying");
      this.scheduleHttpEnroll(jitter(delay));
      return;
    }
    this.httpFailures = 0;
    if (this.stopping) return;
    const failure = ErrorBodySchema.safeParse((body as { error?: unknown } | undefined)?.error);
    if (status !== 200 || failure.success) {
      const code = failure.success ? failure.data.code : "internal";
      const message = failure.success ? failure.data.message : `HTTP ${status} from ${this.coordinatorUrl}`;
      if (code === "clock_skew") log.error({ code, err: message }, "the coordinator refused the join request: this node's clock is wrong; fix it (NTP) and it asks again by itself");
      else log.error({ code, err: message }, "the coordinator refused the join request");
      this.scheduleHttpEnroll(jitter(code === "rate_limited" ? 30_000 : 60_000));
      return;
    }
    let reply;
    try {
      reply = JoinReplySchema.parse({ v: PROTOCOL_VERSION, ...(body as object) });
      if (reply.node_id !== this.nodeId) throw new Error(`the answer is about node ${reply.node_id}`);
    } catch (error) {
      log.error({ err: (error as Error).message }, "the coordinator's answer to the join request is not valid; retrying");
      this.scheduleHttpEnroll(jitter(30_000));
      return;
    }
    this.requestId = reply.request_id ?? this.requestId;
    if (reply.status === "approved") {
      if (!reply.jwt) {
        log.error("approved, but the coordinator sent no NATS credentials; retrying");
        this.scheduleHttpEnroll(jitter(30_000));
        return;
      }
      let account: string;
      try {
        // Signed by an account and issued to our own key. (A JWT from another account could only
        // work on a server trusting that account, and we only ever connect to communication.nats_url.)
        account = verifyNodeJwt(reply.jwt, (this.key as KeyPair).getPublicKey()).account;
      } catch (error) {
        log.error({ err: (error as Error).message }, "refusing the NATS credentials the coordinator sent; retrying");
        this.scheduleHttpEnroll(jitter(60_000));
        return;
      }
      this.jwt = reply.jwt;
      writeFileAtomic(join(this.options.stateDir, NODE_JWT_FILE), `${reply.jwt}\n`, 0o600);
      log.info({ node_id: this.nodeId, account }, "approved: received this node's NATS credentials");
      await this.connect();
      return;
    }
    if (reply.status === "pending") {
      this.setState("pending", { request_id: reply.request_id });
      // Next time the server holds the request until a decision; if it did not wait, do not spin.
      this.scheduleHttpEnroll(wait > 0 && Date.now() - started < 2000 ? jitter(3000) : 0);
      return;
    }
    this.setState(this.state === "approved" || this.state === "removed" ? "removed" : "rejected", { reason: reply.message, request_id: reply.request_id });
    this.scheduleHttpEnroll(jitter(300_000));
  }

  private saveState(): void {
    writeFileAtomic(
      join(this.options.stateDir, STATE_FILE),
      `${JSON.stringify({ node_id: this.nodeId, state: this.state, request_id: this.requestId ?? null, public_key: this.key?.getPublicKey() }, null, 2)}\n`,
      0o600,
    );
  }

  private setState(state: EnrollmentState, detail: Record<string, unknown> = {}): void {
    const changed = state !== this.state;
    this.state = state;
    if (changed) this.saveState();
    if (state === "approved") {
      this.listenForCommands();
      this.startHeartbeats();
    } else {
      this.stopListeningForCommands();
      this.stopHeartbeats();
    }
    // A new request id while pending (the old one expired or was dropped) is logged again.
    const requestId = typeof detail.request_id === "string" ? detail.request_id : undefined;
    if (state === this.lastLoggedState && !(state === "pending" && requestId !== undefined && requestId !== this.lastLoggedRequest)) return;
    this.lastLoggedState = state;
    if (requestId !== undefined) this.lastLoggedRequest = requestId;
    const log = this.options.logger;
    const fields = { node_id: this.nodeId, ...detail };
    if (state === "approved") log.info(fields, "approved: this node is a member of the fleet");
    else if (state === "pending") {
      const fingerprint = keyFingerprint((this.key as KeyPair).getPublicKey());
      log.info(
        { ...fields, fingerprint },
        `waiting for approval: on the master run  ocf nodes approve ${requestId ?? this.nodeId}; this node's key fingerprint is ${fingerprint} (check it against the KEY column of ocf nodes pending)`,
      );
    }
    else if (state === "rejected") log.error(fields, "join request rejected by the coordinator; this node will not run anything");
    else if (state === "removed") log.error(fields, "this node was removed from the fleet; it will not run anything");
  }

  private listenForCommands(): void {
    const nc = this.nc;
    if (!nc || this.commandSubscriptions.length > 0) return;
    // A handler that throws (a full disk under the task journal) must not stop the connection's message loop.
    const log = this.options.logger;
    this.commandSubscriptions = [
      nc.subscribe(this.subjects.exec(this.nodeId), { callback: guardedCallback(log, "exec", (msg) => void this.onExec(msg, false)) }),
      nc.subscribe(this.subjects.broadcast("exec"), { callback: guardedCallback(log, "broadcast", (msg) => void this.onExec(msg, true)) }),
      nc.subscribe(this.subjects.call(this.nodeId), { callback: guardedCallback(log, "call", (msg) => void this.onCall(msg)) }),
      nc.subscribe(this.subjects.task(this.nodeId), {
        callback: guardedCallback(
          log,
          "task",
          (msg) => this.tasks.onMessage(msg, this.state === "approved"),
          // Credentials issued before this node could take tasks: ask for current ones.
          (err) => this.renewCredentials(`cannot subscribe to its task subject: ${err.message}`),
        ),
      }),
    ];
    this.tasks.resume();
    this.resendUnconfirmedResults();
  }

  private stopListeningForCommands(): void {
    for (const sub of this.commandSubscriptions) sub.unsubscribe();
    this.commandSubscriptions = [];
  }

  private scheduleEnroll(delayMs: number): void {
    if (this.stopping) return;
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    this.enrollTimer = setTimeout(() => void this.enroll(), delayMs);
  }

  /** Send (or re-send) the signed join request and act on the answer. */
  private async enroll(): Promise<void> {
    const nc = this.nc;
    if (!nc || this.stopping || !this.key) return;
    const { logger } = this.options;
    const join = this.joinRequest();
    const jitter = (ms: number): number => ms + Math.floor(Math.random() * ms * 0.3);
    const epoch = this.controlEpoch;
    try {
      const data = await request(nc, this.subjects.enroll(), encodeMessage(join), JOIN_TIMEOUT_MS);
      this.unansweredJoins = 0;
      if (epoch !== this.controlEpoch) {
        // A control message (e.g. "approved") arrived while we waited: it is newer than this reply.
        this.scheduleEnroll(jitter(this.state === "approved" ? 300_000 : 10_000));
        return;
      }
      const failure = asErrorReply(data);
      if (failure && NOT_A_MEMBER.has(failure.error.code)) {
        // Not (or no longer) approved with this key: leave NATS and ask over HTTP, which says why.
        logger.error({ code: failure.error.code, err: failure.error.message }, "join request refused");
        this.leaveNats(this.state === "approved" ? "removed" : this.state);
        return;
      }
      if (failure) {
        // Busy, a wrong clock, or a passing fault: stay connected and approved, announce again later.
        const { code, message } = failure.error;
        if (code === "clock_skew") logger.error({ code, err: message }, "the coordinator refused this node's join: its clock is wrong; fix it (NTP) and the next join (in a minute) goes through");
        else logger.warn({ code, err: message }, "join request refused for now; asking again later");
        this.scheduleEnroll(code === "rate_limited" ? 30_000 + Math.floor(Math.random() * 30_000) : jitter(code === "replayed" ? 5000 : 60_000));
        return;
      }
      const reply = decodeMessage(data, JoinReplySchema);
      this.requestId = reply.request_id ?? this.requestId;
      this.setState(reply.status, { request_id: reply.request_id });
      // Pending: ask again now and then (approval also arrives at once on the control subject).
      // Approved: re-announce occasionally so metadata stays fresh. Rejected: ask rarely.
      this.scheduleEnroll(jitter(reply.status === "pending" ? 10_000 : reply.status === "approved" ? 300_000 : 60_000));
    } catch (error) {
      const reason = error instanceof RequestFailed ? error.reason : "invalid";
      const message = reason === "no_responders" ? "no coordinator is listening (is it running?)" : (error as Error).message;
      logger.warn({ err: message }, "join request got no answer; retrying");
      if (reason === "no_responders") {
        this.scheduleEnroll(jitter(2000));
        return;
      }
      // No answer: a coordinator over its limit of joins in all drops them unanswered (it cannot
      // tell who sent one before checking its signature), so wait longer each time: 5 s, 10 s, ... 60 s.
      this.unansweredJoins += 1;
      this.scheduleEnroll(jitter(Math.min(60_000, 5000 * 2 ** (this.unansweredJoins - 1))));
    }
  }

  private onControl(msg: Msg): void {
    try {
      const control = decodeMessage(msg.data, ControlSchema);
      if (control.node_id !== this.nodeId) return;
      this.controlEpoch += 1;
      if (control.type === "approved") {
        this.setState("approved");
        this.scheduleEnroll(300_000);
      } else if (this.state !== "new" || control.type === "rejected") {
        this.leaveNats(control.type === "rejected" ? "rejected" : "removed", { reason: control.message });
      }
    } catch (error) {
      limited(this.options.logger).warn("control.invalid", { err: (error as Error).message.slice(0, 500) }, "invalid control message ignored");
    }
  }

  /** Removed or refused: stop obeying, forget the credentials, close NATS, ask (rarely) over HTTP. */
  private leaveNats(state: EnrollmentState, detail: Record<string, unknown> = {}): void {
    this.setState(state, detail);
    this.dropJwt();
    const nc = this.nc;
    this.nc = undefined;
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    this.subscriptions.length = 0;
    if (nc && !nc.isClosed()) void nc.close().catch(() => undefined);
    this.scheduleHttpEnroll(60_000);
  }

  private startHeartbeats(): void {
    if (this.heartbeatTimer) return;
    this.sendHeartbeat();
    this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), this.options.config.worker.heartbeat_interval * 1000);
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private sendHeartbeat(): void {
    const nc = this.nc;
    if (!nc || nc.isClosed() || this.state !== "approved") return;
    const heartbeat = {
      v: PROTOCOL_VERSION,
      node_id: this.nodeId,
      ts: Date.now(),
      seq: this.seq++,
      load: {
        cpu: this.cpu.read(),
        memory: memoryPercent(),
        disk: diskPercent(this.options.stateDir),
        running_tasks: this.running.size,
        max_concurrent_tasks: this.options.config.worker.max_concurrent_tasks,
      },
      labels: this.labels,
      capabilities: this.capabilities.list,
    };
    try {
      nc.publish(this.subjects.heartbeat(this.nodeId), encodeMessage(heartbeat));
    } catch (error) {
      this.options.logger.debug({ err: (error as Error).message }, "heartbeat not sent");
    }
  }

  private refusal(id: string, code: ErrorCode, message: string): ExecResult {
    return { v: PROTOCOL_VERSION, id, node_id: this.nodeId, status: "error", exit_code: null, signal: null, stdout: "", stderr: "", duration_ms: 0, truncated: false, error: { code, message } };
  }

  /** The result as it goes on the wire, its output trimmed so it fits the server's max payload. */
  private fitResult(result: ExecResult): Uint8Array {
    const limit = Math.max(1024, (this.nc?.info?.max_payload ?? 1024 * 1024) - REPLY_ENVELOPE_BYTES);
    let body = encodeMessage(result);
    if (body.length > limit) {
      // Trim output so the reply fits the server's max payload, and say so with `truncated`.
      // JSON escaping can make a byte of output up to 6 bytes on the wire, so halve until it fits.
      const budget = Math.floor(limit / 2.2);
      let stdout = Buffer.from(result.stdout, "utf8").subarray(0, budget).toString("utf8");
      let stderr = Buffer.from(result.stderr, "utf8").subarray(0, budget).toString("utf8");
      body = encodeMessage({ ...result, stdout, stderr, truncated: true });
      while (body.length > limit && (stdout.length > 0 || stderr.length > 0)) {
        stdout = stdout.slice(0, Math.floor(stdout.length / 2));
        stderr = stderr.slice(0, Math.floor(stderr.length / 2));
        body = encodeMessage({ ...result, stdout, stderr, truncated: true });
      }
    }
    return body;
  }

  private respond(msg: Msg, result: ExecResult): void {
    if (!msg.reply) return;
    try {
      msg.respond(this.fitResult(result));
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, "could not send reply");
    }
  }

  /**
   * A broadcast result goes out on this node's own subject, which only this node may publish on:
   * the coordinator takes the sender from the subject (a broadcast has no reply subject).
   */
  private publishBroadcastResult(result: ExecResult, until: number): void {
    this.sendBroadcastResult(this.fitResult(result), until);
  }

  /**
   * Publish a broadcast result. Until a result has gone through on this connection it is also kept
   * (at most MAX_UNCONFIRMED_RESULTS, until its broadcast's deadline `until`): when the server
   * refuses it (an -ERR after the fact) the worker renews its credentials and sends it again.
   */
  private sendBroadcastResult(body: Uint8Array, until: number): void {
    const nc = this.nc;
    if (nc === undefined || this.resultsConfirmedOn !== nc) {
      const now = Date.now();
      this.unconfirmedResults = [...this.unconfirmedResults.filter((kept) => kept.until > now), { body, until }].slice(-MAX_UNCONFIRMED_RESULTS);
    }
    if (!nc || nc.isClosed()) {
      this.options.logger.warn("broadcast result not sent yet: not connected to NATS");
      return;
    }
    try {
      nc.publish(this.subjects.broadcastResult(this.nodeId), body);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, "could not send the broadcast result");
      return;
    }
    if (this.resultsConfirmedOn === nc) return;
    // The server answers a refused publish with -ERR before the PONG of this flush, and the status
    // watcher acts on it within microtasks: by the next timer turn a renewal would have begun.
    nc.flush().then(
      () =>
        setTimeout(() => {
          if (this.nc !== nc || this.renewing) return;
          this.resultsConfirmedOn = nc;
          this.unconfirmedResults = [];
        }, 0),
      () => undefined,
    );
  }

  /** On a new connection: send again the broadcast results the last one may not have delivered. */
  private resendUnconfirmedResults(): void {
    const now = Date.now();
    const kept = this.unconfirmedResults.filter((result) => result.until > now);
    this.unconfirmedResults = [];
    if (kept.length > 0) this.options.logger.info({ node_id: this.nodeId, results: kept.length }, "sending broadcast results again on the new connection");
    for (const result of kept) this.sendBroadcastResult(result.body, result.until);
  }

  private async onExec(msg: Msg, broadcast: boolean): Promise<void> {
    const log = this.options.logger;
    let id = "unknown";
    let command: string;
    let timeoutMs: number;
    let maxOutput: number;
    try {
      if (broadcast) {
        const req = decodeMessage(msg.data, BroadcastRequestSchema);
        if (!labelsMatch(this.labels, req.labels)) return;
        ({ id, command, timeout_ms: timeoutMs, max_output_bytes: maxOutput } = req);
      } else {
        const req = decodeMessage(msg.data, ExecRequestSchema);
        ({ id, command, timeout_ms: timeoutMs, max_output_bytes: maxOutput } = req);
      }
    } catch (error) {
      limited(log).warn("exec.invalid", { subject: msg.subject, err: (error as Error).message.slice(0, 500) }, "invalid exec request refused");
      if (!broadcast) this.respond(msg, this.refusal(id, "bad_request", (error as Error).message));
      return;
    }
    if (this.state !== "approved") {
      if (!broadcast) this.respond(msg, this.refusal(id, "not_approved", `node is ${this.state}, not approved; it runs nothing`));
      return;
    }
    const until = Date.now() + timeoutMs + BROADCAST_GRACE_MS;
    const answer = (result: ExecResult): void => (broadcast ? this.publishBroadcastResult(result, until) : this.respond(msg, result));
    if (this.stopping) {
      answer(this.refusal(id, "shutting_down", "worker is shutting down"));
      return;
    }
    const verdict = decide(this.policy, command);
    if (!verdict.allowed) {
      log.warn({ exec_id: id, command: command.slice(0, 200), reason: verdict.reason }, "command refused by exec policy");
      answer(this.refusal(id, "policy_denied", verdict.reason));
      return;
    }
    const controller = new AbortController();
    const release = this.reserveSlot(id, controller);
    if (!release) {
      answer(this.refusal(id, "node_busy", this.busyMessage()));
      return;
    }
    log.info({ exec_id: id, command: command.slice(0, 200), broadcast }, "exec start");
    let result: ShellResult;
    try {
      result = await runShell(command, {
        timeoutMs,
        maxOutputBytes: Math.min(maxOutput, this.options.config.worker.max_output_bytes),
        cwd: this.options.workdir ?? homedir(),
        env: commandEnv(this.policy),
        signal: controller.signal,
      });
    } catch (error) {
      release();
      throw error;
    }
    const status = result.timed_out ? "timeout" : result.exit_code === 0 ? "ok" : "error";
    const reply: ExecResult = {
      v: PROTOCOL_VERSION,
      id,
      node_id: this.nodeId,
      status: result.aborted ? "error" : status,
      exit_code: result.exit_code,
      signal: result.signal,
      stdout: result.stdout,
      stderr: result.stderr,
      duration_ms: result.duration_ms,
      truncated: result.truncated,
      ...(result.spawn_error
        ? { error: { code: "exec_failed" as const, message: `could not start the command: ${result.spawn_error}` } }
        : result.aborted
          ? { error: { code: "shutting_down" as const, message: "worker shut down; the command was killed" } }
          : result.timed_out
            ? { error: { code: "timeout" as const, message: `command timed out after ${timeoutMs} ms; its process group was killed` } }
            : {}),
    };
    answer(reply);
    log.info({ exec_id: id, exit_code: result.exit_code, status: reply.status, ms: result.duration_ms }, "exec done");
    // Given back once the reply is out: stop() waits for it before closing the connection.
    release();
  }

  /** A capability call: answer with a file, JSON, or why it cannot be done here (src/worker/calls.ts). */
  private async onCall(msg: Msg): Promise<void> {
    const log = this.options.logger;
    const started = Date.now();
    const answer = (fields: Partial<CallResult>): void => {
      if (!msg.reply) return;
      try {
        let body = encodeMessage({ v: PROTOCOL_VERSION, id: "unknown", node_id: this.nodeId, duration_ms: Date.now() - started, ...fields });
        if (body.length > this.maxPayload()) {
          body = encodeMessage({ v: PROTOCOL_VERSION, id: fields.id ?? "unknown", node_id: this.nodeId, duration_ms: Date.now() - started, error: { code: "payload_too_large", message: `the answer is ${body.length} bytes, more than the NATS server's max_payload (${this.maxPayload()})` } });
        }
        msg.respond(body);
      } catch (error) {
        log.warn({ err: (error as Error).message }, "could not send the call reply");
      }
    };
    let call: CallRequest;
    try {
      call = decodeMessage(msg.data, CallRequestSchema);
    } catch (error) {
      answer({ error: { code: "bad_request", message: (error as Error).message } });
      return;
    }
    if (this.state !== "approved") return answer({ id: call.id, error: { code: "not_approved", message: `node is ${this.state}, not approved` } });
    if (this.stopping) return answer({ id: call.id, error: { code: "shutting_down", message: "worker is shutting down" } });
    try {
      answer({ id: call.id, ...(await answerCall(call, this.callContext)) });
    } catch (error) {
      if (error instanceof CallFailure) {
        log.warn({ call_id: call.id, capability: call.capability, code: error.code, err: error.message }, "call refused or failed");
        answer({ id: call.id, error: { code: error.code, message: error.message } });
      } else {
        log.error({ call_id: call.id, capability: call.capability, err: (error as Error).message }, "call failed");
        answer({ id: call.id, error: { code: "internal", message: `${call.capability} failed on ${this.nodeId}: ${(error as Error).message}` } });
      }
    }
  }

  private maxPayload(): number {
    return this.nc?.info?.max_payload ?? 1024 * 1024;
  }

  /** Run work counted like a command: refused when the node is full, killed when the worker stops. */
  private async track(id: string, work: (signal: AbortSignal) => Promise<ShellResult>): Promise<ShellResult> {
    const controller = new AbortController();
    const release = this.reserveSlot(id, controller);
    if (!release) throw new CallFailure("node_busy", this.busyMessage());
    try {
      return await work(controller.signal);
    } finally {
      release();
    }
  }

  /** Probe again (a display or camera may come or go) and rescan skills; heartbeats carry any change. */
  private refreshCapabilities(): void {
    const skillsChanged = this.skills.scan();
    const probed = this.probe();
    if (skillsChanged) {
      for (const problem of this.skills.problems()) this.options.logger.warn({ skill_folder: problem.folder, err: problem.error }, "skill not loaded");
    }
    if (JSON.stringify(probed.list) !== JSON.stringify(this.capabilities.list)) {
      this.options.logger.info({ capabilities: probed.list, missing: probed.missing }, "capabilities changed");
    }
    this.capabilities = probed;
  }

  private probe(): ProbedCapabilities {
    const { camera_input: input, camera_device: device, camera_resolution: resolution, camera_format: format } = this.options.config.worker;
    const base = probeCapabilities(this.options.env ?? process.env, process.platform, { input, device, resolution, format });
    this.baseCapabilities = base;
    return { ...base, list: [...base.list, ...this.skills.capabilityNames()] };
  }

  /** Stop: refuse new work, kill running commands (they are reported), then leave NATS. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.enrollTimer) clearTimeout(this.enrollTimer);
    if (this.httpEnrollTimer) clearTimeout(this.httpEnrollTimer);
    if (this.capabilityTimer) clearInterval(this.capabilityTimer);
    await this.tasks.stop();
    this.httpEnrollAbort?.abort();
    this.stopHeartbeats();
    const running = [...this.running.values()];
    for (const entry of running) entry.controller.abort();
    await Promise.race([Promise.all(running.map((entry) => entry.done)), new Promise((r) => setTimeout(r, 3000))]);
    if (this.nc && !this.nc.isClosed()) {
      for (const sub of this.subscriptions) sub.unsubscribe();
      this.stopListeningForCommands();
      await this.nc.drain().catch(() => undefined);
    }
    await this.status?.close();
    this.options.logger.info({ node_id: this.nodeId, killed: running.length }, "worker stopped");
  }
}
