/**
 * ssh-based baselines the fleet benchmark compares against, measured on this machine against a
 * private sshd started for the run (never the system's sshd, never ~/.ssh):
 *
 * - exec/ssh-true: `ssh 127.0.0.1 true`, a fresh connection per command (what people compare with);
 * - exec/ssh-true-mux: the same through an already open ControlMaster socket (best case ssh);
 * - broadcast/pssh-N: `parallel-ssh -p N -i true` to N loopback addresses of that sshd;
 * - broadcast/ansible-N: `ansible all -m command -a true -f N` over the same targets, and
 *   ansible-N-forks5 at ansible's default forks (the basis of its extrapolation);
 *   plus rows extrapolating both to 1,000 and 10,000 nodes (stated formulas, not measured).
 *
 * The N targets are 127.0.0.1..127.0.0.N on one port; sshd listens on at most 16 sockets, so
 * they are served by ceil(N/16) sshd processes sharing one host key and configuration.
 *
 * A missing tool (sshd, ssh, ssh-keygen, parallel-ssh, ansible) is a sentence in `skipped`, never
 * an exception. A failed run (non-zero exit, a host missing from a fan-out) stops that row and is
 * reported in `skipped` too: it is never counted. Every child has a timeout; the temp dir, the
 * sshd and every session it forked are gone when this returns.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { delimiter, join } from "node:path";
import { descendants, summarize } from "../lib/stats.js";
import type { BenchRow, SectionOptions, SectionResult, Stats } from "../lib/stats.js";

export type SshOptions = SectionOptions & { runs: number; fanoutRuns: number; targets: number };

/** Parallelism pssh uses when -p is not given (pssh 2.x DEFAULT_PARALLELISM). */
const PSSH_DEFAULT_PAR = 32;
/** Ansible's default `forks`. */
const ANSIBLE_DEFAULT_FORKS = 5;
const EXTRAPOLATE_TO = [100, 1000, 10_000] as const;
/** Ansible runs take seconds each: after this long in the ansible rows, no new run is started once each row has a sample. */
const ANSIBLE_BUDGET_MS = 30_000;
const SSH_TIMEOUT_MS = 15_000;
const FANOUT_TIMEOUT_MS = 60_000;
const OUTPUT_CAP = 1 << 20;
/** sshd's MAX_LISTEN_SOCKS: one daemon listens on at most this many addresses. */
const SSHD_MAX_LISTEN = 16;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to the process's exit, in ms. */
  ms: number;
  timedOut: boolean;
  error?: string;
}

interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
}

/**
 * Spawn `cmd args`, time it to its exit, collect its output (capped). Killed (SIGKILL, by pid) at
 * the timeout. If a grandchild keeps the pipes open after the exit (an ssh ControlPersist master),
 * the streams are let go after a short grace instead of waiting for it.
 */
function run(cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    let stdout = "";
    let stderr = "";
    let exitMs = NaN;
    let code: number | null = null;
    let signal: NodeJS.Signals | null = null;
    let timedOut = false;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const child = spawn(cmd, args, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      if (graceTimer) clearTimeout(graceTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const ms = Number.isNaN(exitMs) ? performance.now() - started : exitMs;
      resolve({ code, signal, stdout, stderr, ms, timedOut, ...(error === undefined ? {} : { error }) });
    };
    const killTimer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      // Give the exit event a moment, then stop waiting whatever happened.
      graceTimer = setTimeout(() => finish(`timed out after ${options.timeoutMs} ms`), 2000);
    }, options.timeoutMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (stdout.length < OUTPUT_CAP) stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < OUTPUT_CAP) stderr += chunk.toString("utf8");
    });
    child.on("error", (err) => finish(err.message));
    child.on("exit", (c, s) => {
      exitMs = performance.now() - started;
      code = c;
      signal = s;
      if (graceTimer) clearTimeout(graceTimer);
      graceTimer = setTimeout(() => finish(timedOut ? `timed out after ${options.timeoutMs} ms` : undefined), 1000);
    });
    child.on("close", () => finish(timedOut ? `timed out after ${options.timeoutMs} ms` : undefined));
  });
}

/** One line saying why a run failed, for `skipped` and logs. */
function describeFailure(r: RunResult): string {
  const why = r.error ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.code}`);
  const tail = `${r.stderr.trim()} ${r.stdout.trim()}`.replace(/\r/g, "").trim().split("\n").slice(-3).join(" / ").slice(0, 300);
  return tail ? `${why}: ${tail}` : why;
}

/** Path of an executable found on PATH (plus the sbin dirs, where sshd lives), or undefined. */
function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Can `address:port` be bound right now? (port 0: any) Resolves the bound port or undefined. */
function tryBind(address: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ host: address, port, exclusive: true }, () => {
      const bound = server.address();
      const got = typeof bound === "object" && bound ? bound.port : undefined;
      server.close(() => resolve(got));
    });
  });
}

/** A port free on every one of `addresses` (found by binding the first to port 0), bounded retries. */
async function freePort(addresses: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await tryBind(addresses[0] ?? "127.0.0.1", 0);
    if (port === undefined) continue;
    let ok = true;
    for (const address of addresses.slice(1)) {
      if ((await tryBind(address, port)) === undefined) {
        ok = false;
        break;
      }
    }
    if (ok) return port;
  }
  throw new Error(`no port free on all of ${addresses.length} loopback addresses after 20 tries`);
}

/** Does a TCP connect to address:port succeed within timeoutMs? */
function tcpProbe(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM each pid seen alive, wait (bounded) for them to go, SIGKILL the ones left. */
async function killPids(pids: readonly number[], graceMs = 2000): Promise<void> {
  const alive = pids.filter(isAlive);
  for (const pid of alive) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  const deadline = performance.now() + graceMs;
  while (performance.now() < deadline && alive.some(isAlive)) await sleep(25);
  for (const pid of alive.filter(isAlive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function fmt(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${ms.toFixed(1)} ms`;
}

/** The private sshd's configuration: key-only login for `user`, loopback addresses only. */
function sshdConfig(addresses: readonly string[], port: number, dir: string, hostKey: string, user: string, k: number): string {
  return [
    ...addresses.map((a) => `ListenAddress ${a}:${port}`),
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, `sshd.${k}.pid`)}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    `AllowUsers ${user}`,
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "AuthenticationMethods publickey",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "MaxStartups 200",
    "MaxSessions 200",
    "LoginGraceTime 30",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "X11Forwarding no",
    "AllowTcpForwarding no",
    "PermitUserEnvironment no",
    // ansible copies its module over sftp (or scp, which speaks sftp in OpenSSH 9).
    "Subsystem sftp internal-sftp",
    // bash sources ~/.bashrc for commands run by sshd while SHLVL < 2 (Debian's SSH_SOURCE_BASHRC):
    // start the user's shell at SHLVL 2 so a heavy rc file (root's runs `pyenv init` here, ~100 ms)
    // is not billed to ssh. Conservative: it only makes ssh, pssh and ansible faster.
    "SetEnv SHLVL=1",
    "LogLevel ERROR",
    "",
  ].join("\n");
}

/** Everything a measurement needs about the private sshd and the client side. */
interface Rig {
  dir: string;
  port: number;
  user: string;
  addresses: string[];
  key: string;
  ssh: string;
  env: NodeJS.ProcessEnv;
  /** Client options for a fresh, non-interactive, leak-free connection (no host keys kept), no key or port. */
  commonOptions: string[];
  /** commonOptions plus the client key and the port: what `ssh` gets. */
  sshOptions: string[];
}

function clientEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(dir, "home"), LC_ALL: "C.UTF-8", LANG: "C.UTF-8" };
  delete env.SSH_AUTH_SOCK;
  delete env.SSH_AGENT_PID;
  delete env.DISPLAY;
  delete env.SSH_ASKPASS;
  return env;
}

/** `ssh … true` repeated `runs` times after `warmups`, each checked to exit 0. Throws on a failure. */
async function timeSshTrue(rig: Rig, extra: readonly string[], runs: number, warmups: number): Promise<number[]> {
  const args = [...rig.sshOptions, ...extra, "-l", rig.user, "127.0.0.1", "true"];
  const samples: number[] = [];
  for (let i = 0; i < warmups + runs; i += 1) {
    const r = await run(rig.ssh, args, { env: rig.env, timeoutMs: SSH_TIMEOUT_MS });
    if (r.code !== 0 || r.error) throw new Error(`ssh run ${i + 1} failed (${describeFailure(r)})`);
    if (i >= warmups) samples.push(r.ms);
  }
  return samples;
}

/** Extrapolation rows `${prefix}-extrapolated-{100,1000,10000}`: fixed + ceil(nodes / par) × wave. */
function extrapolate(prefix: string, label: string, targets: number, par: number, wave: number, fixed: number, formula: string): BenchRow[] {
  return EXTRAPOLATE_TO.map((nodes) => {
    const waves = Math.ceil(nodes / par);
    const value = fixed + waves * wave;
    return {
      section: "broadcast",
      id: `${prefix}-extrapolated-${nodes}`,
      name: `${label} \`true\` to ${nodes.toLocaleString("en-US")} nodes (extrapolated)`,
      unit: "ms",
      value,
      note: `extrapolated from ${targets} localhost targets, not measured: ${formula} = ${fixed > 0 ? `${fmt(fixed)} + ` : ""}${waves} × ${fmt(wave)} = ${fmt(value)}`,
    };
  });
}

async function measurePssh(rig: Rig, pssh: string, options: SshOptions, rows: BenchRow[], skipped: string[]): Promise<void> {
  const n = rig.addresses.length;
  const hostsFile = join(rig.dir, "pssh-hosts");
  writeFileSync(hostsFile, rig.addresses.map((a) => `${rig.user}@${a}:${rig.port}`).join("\n") + "\n");
  // -X passes each ssh argument verbatim (no shell splitting); -O options go through as -o.
  const args = ["-h", hostsFile, "-p", String(n), "-t", "30", "-i"];
  for (const opt of [...rig.commonOptions, "-i", rig.key]) args.push("-X", opt);
  args.push("true");
  const expected = new Set(rig.addresses.map((a) => `${a}:${rig.port}`));
  const check = (r: RunResult, i: number): string | undefined => {
    // pssh prints "[3] 12:00:00 [SUCCESS] user@127.0.0.3:port" per host.
    const ok = new Set([...r.stdout.matchAll(/\[SUCCESS\]\s+(?:[^@\s]+@)?(\S+)/g)].map((m) => m[1] ?? ""));
    const failed = [...r.stdout.matchAll(/\[FAILURE\]\s+(\S+)(.*)/g)].map((m) => `${m[1]}${m[2] ?? ""}`.trim());
    const missing = [...expected].filter((h) => !ok.has(h));
    if (r.code === 0 && !r.error && missing.length === 0 && failed.length === 0) return undefined;
    return `run ${i + 1}: ${ok.size}/${n} hosts SUCCESS, ${failed.length} FAILURE${failed.length ? ` (${failed.slice(0, 3).join("; ")})` : ""}${missing.length ? `, missing ${missing.slice(0, 3).join(", ")}` : ""}, ${describeFailure(r)}`;
  };
  const samples: number[] = [];
  const warmups = 1;
  for (let i = 0; i < warmups + options.fanoutRuns; i += 1) {
    const r = await run(pssh, args, { env: rig.env, timeoutMs: FANOUT_TIMEOUT_MS });
    const failure = check(r, i);
    if (failure) {
      skipped.push(`pssh fan-out: a run failed, row not reported (${failure})`);
      options.log(`ssh baselines: pssh ${failure}`);
      return;
    }
    if (i >= warmups) samples.push(r.ms);
  }
  const stats = summarize(samples);
  const perNode = stats.p50 / n;
  const waves = EXTRAPOLATE_TO.map((nodes) => `${nodes}: ${fmt(Math.ceil(nodes / PSSH_DEFAULT_PAR) * stats.p50)}`).join(", ");
  rows.push({
    section: "broadcast",
    id: `pssh-${n}`,
    name: `parallel-ssh -p ${n} \`true\` to ${n} localhost targets`,
    unit: "ms",
    stats,
    note:
      `all ${n} hosts SUCCESS in every run; ${fmt(perNode)} per node (p50/${n}); ` +
      `extrapolated with pssh's default -p ${PSSH_DEFAULT_PAR}: time ≈ ceil(nodes/${PSSH_DEFAULT_PAR}) × p50 of one wave (this ${n}-target run) → ${waves}; ` +
      `loopback only: no network latency, client and sshd share this machine's CPUs`,
  });
  rows.push(...extrapolate("pssh", "parallel-ssh", n, PSSH_DEFAULT_PAR, stats.p50, 0, `ceil(nodes/${PSSH_DEFAULT_PAR}) × p50 of one ${n}-target wave`));
  options.log(`ssh baselines: pssh to ${n} targets p50 ${fmt(stats.p50)} (${fmt(perNode)} per node)`);
}

/** Close every ControlPersist master ansible left in `dir` (bounded, by socket). */
async function closeMasters(rig: Rig, dir: string): Promise<void> {
  let sockets: string[];
  try {
    sockets = readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return;
  }
  await Promise.all(
    sockets.map((socket) => run(rig.ssh, ["-F", "/dev/null", "-o", `ControlPath=${socket}`, "-O", "exit", "placeholder"], { env: rig.env, timeoutMs: 5000 })),
  );
}

async function measureAnsible(rig: Rig, ansible: string, options: SshOptions, rows: BenchRow[], skipped: string[]): Promise<void> {
  const n = rig.addresses.length;
  const names = rig.addresses.map((_, i) => `t${i + 1}`);
  const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "auto_silent";
  const sshCommon = rig.commonOptions.join(" ");
  const inventory = join(rig.dir, "inventory.ini");
  writeFileSync(
    inventory,
    [
      "[bench]",
      ...rig.addresses.map((a, i) => `${names[i]} ansible_host=${a}`),
      "",
      "[bench:vars]",
      `ansible_port=${rig.port}`,
      `ansible_user=${rig.user}`,
      `ansible_ssh_private_key_file=${rig.key}`,
      `ansible_ssh_common_args='${sshCommon}'`,
      "",
    ].join("\n"),
  );
  const config = join(rig.dir, "ansible.cfg");
  writeFileSync(config, "[defaults]\n");
  for (const sub of ["ansible-local", "ansible-remote"]) mkdirSync(join(rig.dir, sub), { recursive: true });
  const envFor = (controlDir: string): NodeJS.ProcessEnv => ({
    ...rig.env,
    ANSIBLE_CONFIG: config,
    ANSIBLE_HOST_KEY_CHECKING: "False",
    ANSIBLE_PYTHON_INTERPRETER: python,
    ANSIBLE_LOCAL_TEMP: join(rig.dir, "ansible-local"),
    ANSIBLE_REMOTE_TEMP: join(rig.dir, "ansible-remote"),
    ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_DEPRECATION_WARNINGS: "False",
    ANSIBLE_RETRY_FILES_ENABLED: "False",
  });
  const runs = Math.min(options.fanoutRuns, 5);

  // Fixed cost of one ansible invocation: start, load config and inventory, no connection.
  const fixedSamples: number[] = [];
  for (let i = 0; i < 2; i += 1) {
    const r = await run(ansible, ["all", "-i", inventory, "--list-hosts"], { env: envFor(join(rig.dir, "cp-list")), cwd: rig.dir, timeoutMs: FANOUT_TIMEOUT_MS });
    if (r.code !== 0 || r.error) {
      skipped.push(`ansible fan-out: \`ansible --list-hosts\` failed (${describeFailure(r)})`);
      return;
    }
    fixedSamples.push(r.ms);
  }
  const fixed = summarize(fixedSamples).p50;

  /** `count` timed ad hoc runs at `forks`, every host checked ok; the samples, or why a run failed. */
  let runIndex = 0;
  const timeAnsible = async (forks: number, count: number, deadline: number): Promise<number[] | string> => {
    const samples: number[] = [];
    // No untimed run: each run is cold anyway (fresh ControlPath dir) and costs seconds. Past the
    // deadline (a loaded machine), stop once there is one sample: the notes give the count.
    for (let i = 0; i < count && (i === 0 || performance.now() < deadline); i += 1) {
      // A fresh ControlPath dir per run: ControlPersist masters left by an earlier run must not
      // make the next one warm. They are closed right after the run.
      const controlDir = join(rig.dir, `cp-${(runIndex += 1)}`);
      mkdirSync(controlDir, { recursive: true });
      const r = await run(ansible, ["all", "-i", inventory, "-m", "command", "-a", "true", "-f", String(forks), "-o"], {
        env: envFor(controlDir),
        cwd: rig.dir,
        timeoutMs: FANOUT_TIMEOUT_MS,
      });
      await closeMasters(rig, controlDir);
      // -o prints one line per host: "t3 | CHANGED | rc=0 | (stdout) ", "t4 | UNREACHABLE!: …".
      const ok = new Set([...r.stdout.matchAll(/^(\S+) \| (?:CHANGED|SUCCESS) \| rc=0\b/gm)].map((m) => m[1] ?? ""));
      const bad = [...r.stdout.matchAll(/^(\S+) \| (FAILED!?|UNREACHABLE!)(.*)$/gm)].map((m) => `${m[1]} ${m[2]}${(m[3] ?? "").slice(0, 120)}`);
      const missing = names.filter((h) => !ok.has(h));
      if (r.code !== 0 || r.error || missing.length > 0 || bad.length > 0) {
        return `-f ${forks} run ${i + 1}: ${ok.size}/${n} hosts ok, ${bad.length} failed${bad.length ? ` (${bad.slice(0, 2).join("; ")})` : ""}${missing.length ? `, missing ${missing.slice(0, 3).join(", ")}` : ""}, ${describeFailure(r)}`;
      }
      samples.push(r.ms);
    }
    return samples;
  };

  // Time budget for the ansible rows: the -f N runs may use up to 2/3 of it, the -f 5 ones the rest.
  const sectionStart = performance.now();
  const main = await timeAnsible(n, runs, sectionStart + (ANSIBLE_BUDGET_MS * 2) / 3);
  if (typeof main === "string") {
    skipped.push(`ansible fan-out: a run failed, row not reported (${main})`);
    options.log(`ssh baselines: ansible ${main}`);
    return;
  }
  const stats = summarize(main);
  const perNode = stats.p50 / n;
  const timed = (got: number, wanted: number): string => (got < wanted ? `${got} of ${wanted} runs timed, ${ANSIBLE_BUDGET_MS / 1000} s budget for ansible reached` : `${got} runs timed`);
  const settings = `ansible defaults otherwise: ControlMaster/ControlPersist within a run, fresh connections per run, sftp transfer, no pipelining, python ${python}`;

  const mainRow: BenchRow = {
    section: "broadcast",
    id: `ansible-${n}`,
    name: `ansible ad hoc -m command -a true -f ${n} to ${n} localhost targets`,
    unit: "ms",
    stats,
    note: `all ${n} hosts ok in every run (${timed(stats.n, runs)}; ${settings}); ${fmt(perNode)} per node (p50/${n})`,
  };
  rows.push(mainRow);

  // The extrapolation is for ansible's default forks, so the wave it multiplies is measured at
  // that setting: -f 5 over the same targets, less the start-up, divided by its number of waves.
  // (Reusing the -f N wave would bill a wave of 5 for the CPU contention of N forks on this box.)
  const waves = Math.ceil(n / ANSIBLE_DEFAULT_FORKS);
  let grounded: { wave: number; from: string } | undefined;
  if (waves > 1) {
    const defaults = await timeAnsible(ANSIBLE_DEFAULT_FORKS, Math.min(runs, 3), sectionStart + ANSIBLE_BUDGET_MS);
    if (typeof defaults === "string") {
      skipped.push(`ansible extrapolation: a run at the default forks failed, extrapolated rows not reported (${defaults})`);
      options.log(`ssh baselines: ansible ${defaults}`);
    } else {
      const d = summarize(defaults);
      rows.push({
        section: "broadcast",
        id: `ansible-${n}-forks${ANSIBLE_DEFAULT_FORKS}`,
        name: `ansible ad hoc -m command -a true -f ${ANSIBLE_DEFAULT_FORKS} (default forks) to ${n} localhost targets`,
        unit: "ms",
        stats: d,
        note: `all ${n} hosts ok in every run (${timed(d.n, Math.min(runs, 3))}; ${settings}); ${waves} waves of ${ANSIBLE_DEFAULT_FORKS}; measured to ground the extrapolation`,
      });
      grounded = { wave: Math.max(d.p50 - fixed, 0) / waves, from: `(p50 at -f ${ANSIBLE_DEFAULT_FORKS} over ${n} targets − start-up) / ${waves}` };
    }
  } else {
    grounded = { wave: Math.max(stats.p50 - fixed, 0), from: `p50 − start-up (a wave of ${n} taken for a wave of ${ANSIBLE_DEFAULT_FORKS})` };
  }
  if (grounded) {
    const formula = `start-up + ceil(nodes/${ANSIBLE_DEFAULT_FORKS}) × one wave of ${ANSIBLE_DEFAULT_FORKS}`;
    const extrapolated = extrapolate("ansible", `ansible -f ${ANSIBLE_DEFAULT_FORKS}`, n, ANSIBLE_DEFAULT_FORKS, grounded.wave, fixed, formula);
    mainRow.note +=
      `; extrapolated at ansible's default forks ${ANSIBLE_DEFAULT_FORKS}: time ≈ ${formula}, start-up = p50 of \`ansible --list-hosts\` (${fmt(fixed)}), ` +
      `wave = ${grounded.from} = ${fmt(grounded.wave)} → ${extrapolated.map((row) => `${row.id.split("-").at(-1)}: ${fmt(row.value ?? NaN)}`).join(", ")}`;
    rows.push(...extrapolated);
  }
  options.log(`ssh baselines: ansible to ${n} targets p50 ${fmt(stats.p50)} (${fmt(perNode)} per node, start-up ${fmt(fixed)})`);
}

/** The rows of the ssh-true(-mux) exec section; failures go to `skipped`. */
async function measureExec(rig: Rig, options: SshOptions, rows: BenchRow[], skipped: string[]): Promise<void> {
  let plain: Stats;
  try {
    plain = summarize(await timeSshTrue(rig, [], options.runs, 2));
  } catch (err) {
    skipped.push(`ssh exec: ${(err as Error).message}; row not reported`);
    return;
  }
  // The key exchange the client proposes first (both ends are this OpenSSH): it dominates the CPU.
  const probe = await run(rig.ssh, ["-G", ...rig.sshOptions, "127.0.0.1"], { env: rig.env, timeoutMs: 5000 });
  const kex = /^kexalgorithms (\S+?)(?:,|$)/m.exec(probe.stdout)?.[1] ?? "OpenSSH default";
  rows.push({
    section: "exec",
    id: "ssh-true",
    name: "ssh 127.0.0.1 true (new connection per command)",
    unit: "ms",
    stats: plain,
    note:
      `whole ssh process wall time, ${options.runs} runs after 2 warm-ups, exit 0 checked on every run; ed25519 keys, key exchange ${kex}, loopback; ` +
      "the remote shell starts at SHLVL 2 so root's ~/.bashrc is not sourced (ssh not billed for this machine's rc file)",
  });
  options.log(`ssh baselines: ssh true p50 ${fmt(plain.p50)} p99 ${fmt(plain.p99)}`);

  // Best case ssh: a ControlMaster opened beforehand, each command a new session on it.
  const socket = join(rig.dir, "mux.sock");
  const master = spawn(rig.ssh, [...rig.sshOptions, "-M", "-N", "-o", `ControlPath=${socket}`, "-o", "ControlPersist=no", "-l", rig.user, "127.0.0.1"], {
    env: rig.env,
    stdio: "ignore",
  });
  const masterPid = master.pid;
  master.on("error", () => undefined);
  try {
    const check = ["-F", "/dev/null", "-o", `ControlPath=${socket}`, "-O", "check", "placeholder"];
    let ready = false;
    for (let i = 0; i < 100 && !ready && master.exitCode === null; i += 1) {
      ready = (await run(rig.ssh, check, { env: rig.env, timeoutMs: 2000 })).code === 0;
      if (!ready) await sleep(50);
    }
    if (!ready) {
      skipped.push("ssh exec (ControlMaster): the master connection did not come up within 5 s; row not reported");
      return;
    }
    const mux = summarize(await timeSshTrue(rig, ["-o", `ControlPath=${socket}`, "-o", "ControlMaster=no"], options.runs, 2));
    rows.push({
      section: "exec",
      id: "ssh-true-mux",
      name: "ssh 127.0.0.1 true over an open ControlMaster (best case ssh)",
      unit: "ms",
      stats: mux,
      baseline: "ssh-true",
      note: "connection and authentication paid once beforehand; each run opens a session on the shared socket",
    });
    options.log(`ssh baselines: ssh true via ControlMaster p50 ${fmt(mux.p50)} p99 ${fmt(mux.p99)}`);
  } catch (err) {
    skipped.push(`ssh exec (ControlMaster): ${(err as Error).message}; row not reported`);
  } finally {
    await run(rig.ssh, ["-F", "/dev/null", "-o", `ControlPath=${socket}`, "-O", "exit", "placeholder"], { env: rig.env, timeoutMs: 5000 });
    if (masterPid !== undefined && master.exitCode === null && master.signalCode === null) await killPids([masterPid]);
  }
}

export async function measureSsh(options: SshOptions): Promise<SectionResult> {
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  const { targets } = options;
  if (!Number.isInteger(targets) || targets < 1 || targets > 254) throw new RangeError(`targets must be 1..254 (127.0.0.1..127.0.0.${targets}), got ${targets}`);
  if (!Number.isInteger(options.runs) || options.runs < 1 || !Number.isInteger(options.fanoutRuns) || options.fanoutRuns < 1) {
    throw new RangeError(`runs and fanoutRuns must be positive integers, got ${options.runs} and ${options.fanoutRuns}`);
  }

  const sshd = which("sshd");
  const ssh = which("ssh");
  const keygen = which("ssh-keygen");
  const missing = [
    sshd ? undefined : "sshd not installed (apt-get install openssh-server)",
    ssh ? undefined : "ssh not installed (apt-get install openssh-client)",
    keygen ? undefined : "ssh-keygen not installed (apt-get install openssh-client)",
  ].filter((x): x is string => x !== undefined);
  if (!sshd || !ssh || !keygen) {
    skipped.push(`ssh baselines (exec, pssh, ansible): ${missing.join("; ")}`);
    return { rows, skipped };
  }
  const pssh = which("parallel-ssh") ?? which("pssh");
  const ansible = which("ansible");

  const dir = mkdtempSync(join(tmpdir(), "ocf-ssh-bench-"));
  const daemons: ChildProcess[] = [];
  try {
    mkdirSync(join(dir, "home"), { recursive: true, mode: 0o700 });
    const env = clientEnv(dir);
    const user = userInfo().username;
    const hostKey = join(dir, "host_ed25519");
    const key = join(dir, "client_ed25519");
    for (const [file, comment] of [
      [hostKey, "ocf-bench-host"],
      [key, "ocf-bench-client"],
    ] as const) {
      const r = await run(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], { env, timeoutMs: 10_000 });
      if (r.code !== 0) {
        skipped.push(`ssh baselines: ssh-keygen failed (${describeFailure(r)})`);
        return { rows, skipped };
      }
    }
    writeFileSync(join(dir, "authorized_keys"), readFileSync(`${key}.pub`, "utf8"), { mode: 0o600 });

    const addresses = Array.from({ length: targets }, (_, i) => `127.0.0.${i + 1}`);
    const port = await freePort(addresses);
    // sshd's privilege separation directory; Debian creates it from the service unit only.
    try {
      mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    } catch (err) {
      skipped.push(`ssh baselines: cannot create /run/sshd that sshd needs (${(err as Error).message})`);
      return { rows, skipped };
    }
    // One sshd listens on at most 16 sockets (MAX_LISTEN_SOCKS): the targets are split over
    // ceil(N/16) sshd processes with one configuration but for their ListenAddress lines.
    let sshdLog = "";
    for (let k = 0; k * SSHD_MAX_LISTEN < targets; k += 1) {
      const config = join(dir, `sshd_config.${k}`);
      writeFileSync(config, sshdConfig(addresses.slice(k * SSHD_MAX_LISTEN, (k + 1) * SSHD_MAX_LISTEN), port, dir, hostKey, user, k));
      const daemon = spawn(sshd, ["-D", "-e", "-f", config], { env, stdio: ["ignore", "ignore", "pipe"] });
      daemons.push(daemon);
      daemon.on("error", (err) => {
        sshdLog += `${err.message}\n`;
      });
      daemon.stderr?.on("data", (chunk: Buffer) => {
        sshdLog = (sshdLog + chunk.toString("utf8")).slice(-8192);
      });
    }
    const running = (d: ChildProcess): boolean => d.exitCode === null && d.signalCode === null;
    let listening = false;
    for (let i = 0; i < 100 && daemons.every(running); i += 1) {
      const probes = await Promise.all(addresses.map((a) => tcpProbe(a, port, 500)));
      if (probes.every(Boolean)) {
        listening = true;
        break;
      }
      await sleep(50);
    }
    if (!listening) {
      skipped.push(`ssh baselines: the private sshd did not listen on ${targets} loopback addresses within 5 s (${sshdLog.trim().split("\n").slice(-3).join(" / ") || "no output"})`);
      return { rows, skipped };
    }
    options.log(`ssh baselines: private sshd pid ${daemons.map((d) => d.pid).join(", ")} on 127.0.0.1..127.0.0.${targets} port ${port}`);

    // Options ssh, scp and sftp all read the same way (ansible hands its common args to all
    // three: a `-p PORT` there means "preserve" to sftp/scp and swallows the options after it).
    const commonOptions = [
      "-F", "/dev/null",
      "-o", "StrictHostKeyChecking=no",
      "-o", "UserKnownHostsFile=/dev/null",
      "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", "BatchMode=yes",
      "-o", "IdentitiesOnly=yes",
      "-o", "LogLevel=ERROR",
      "-o", "ConnectTimeout=10",
    ];
    const sshOptions = [...commonOptions, "-i", key, "-p", String(port)];
    const rig: Rig = { dir, port, user, addresses, key, ssh, env, commonOptions, sshOptions };

    await measureExec(rig, options, rows, skipped);

    if (pssh) await measurePssh(rig, pssh, options, rows, skipped);
    else skipped.push("pssh fan-out: parallel-ssh not installed (apt-get install pssh)");

    if (options.quick) skipped.push("ansible fan-out: skipped in quick mode (each run takes seconds)");
    else if (ansible) await measureAnsible(rig, ansible, options, rows, skipped);
    else skipped.push("ansible fan-out: ansible not installed (apt-get install ansible)");

    return { rows, skipped };
  } finally {
    // Each listener seen alive and every session it forked (a lingering ControlPersist master keeps one).
    const pids = daemons
      .filter((d) => d.pid !== undefined && d.exitCode === null && d.signalCode === null)
      .flatMap((d) => [...descendants(d.pid as number), d.pid as number]);
    await killPids(pids);
    rmSync(dir, { recursive: true, force: true });
  }
}
