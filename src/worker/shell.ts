/**
 * Run one shell command through /bin/sh -c in its own process group. A timeout (or an abort)
 * kills the whole group, grandchildren included; stdout and stderr are each capped, with
 * `truncated` set when anything was dropped. Leftover background processes of a finished
 * command are killed too, so nothing it started outlives it.
 */
import { spawn } from "node:child_process";

export interface ShellOptions {
  timeoutMs: number;
  maxOutputBytes: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Aborting kills the process group (worker shutdown). */
  signal?: AbortSignal;
  shell?: string;
  /** Written to the program's stdin, which is then closed (default: no stdin). */
  input?: string;
  /** Output as it arrives (durable tasks stream it); the capped result is still returned. */
  onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
  /** The process group id, once the program started (durable tasks journal it). */
  onSpawn?: (pgid: number) => void;
}

export interface ShellResult {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timed_out: boolean;
  aborted: boolean;
  duration_ms: number;
  /** Set when the command could not be started at all. */
  spawn_error?: string;
}

/**
 * Waits for one line on fd 3, closes it and becomes the program ($0 with its arguments). A missing
 * program then shows as exit 127 with the shell's message rather than as a spawn error.
 */
const GATE_SCRIPT = 'IFS= read -r _ <&3 || exit 125; exec 3<&-; exec "$0" "$@"';

/** Grace between SIGTERM and SIGKILL when a command is stopped. */
const KILL_GRACE_MS = 1000;
/** How long to wait for pipes to close after the shell exits (a detached grandchild may hold them). */
const PIPE_CLOSE_WAIT_MS = 200;

class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

export function runShell(command: string, options: ShellOptions): Promise<ShellResult> {
  return runProgram(options.shell ?? "/bin/sh", ["-c", command], options);
}

/** Run a program with arguments (no shell) under the same rules as runShell. */
export function runProgram(file: string, args: string[], options: ShellOptions): Promise<ShellResult> {
  const started = performance.now();
  return new Promise((resolveResult) => {
    const stdout = new CappedBuffer(options.maxOutputBytes);
    const stderr = new CappedBuffer(options.maxOutputBytes);
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    // With onSpawn (durable tasks) the program waits at a gate until onSpawn has returned, so
    // the caller has journaled the process group before anything of the command runs: a worker
    // killed in between leaves nothing its next start cannot find. If the worker dies before
    // opening the gate, the pipe reaches EOF and the program never starts.
    const gated = options.onSpawn !== undefined;
    const child = spawn(gated ? "/bin/sh" : file, gated ? ["-c", GATE_SCRIPT, file, ...args] : args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: gated ? ["pipe", "pipe", "pipe", "pipe"] : ["pipe", "pipe", "pipe"],
    });
    const pid = child.pid;
    const gate = child.stdio[3];
    gate?.on("error", () => undefined);
    if (pid !== undefined) {
      try {
        options.onSpawn?.(pid);
      } catch (error) {
        // Not journaled: the gate stays shut (EOF), so the program never starts; the caller hears why.
        gate?.destroy();
        throw error;
      }
    }
    if (gate && "write" in gate) gate.end("go\n");
    // stdin carries the input (if any) and is closed at once; a program that does not read it
    // closes the pipe early, which is not an error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input);

    const finish = (result: Partial<ShellResult>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener("abort", onAbort);
      resolveResult({
        exit_code: null,
        signal: null,
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncated: stdout.truncated || stderr.truncated,
        timed_out: timedOut,
        aborted,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        ...result,
      });
    };

    const stop = (): void => {
      if (pid === undefined) return;
      killGroup(pid, "SIGTERM");
      killTimer = setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      options.onOutput?.("stdout", chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr.push(chunk);
      options.onOutput?.("stderr", chunk);
    });
    child.once("error", (error) => finish({ spawn_error: error.message }));
    child.once("exit", (code, signal) => {
      // Kill whatever the command left running in its group, then collect the pipes.
      if (pid !== undefined) killGroup(pid, "SIGKILL");
      let closed = 0;
      const done = (): void => finish({ exit_code: code, signal: signal ?? null });
      const onClose = (): void => {
        closed += 1;
        if (closed === 2) done();
      };
      child.stdout.once("close", onClose);
      child.stderr.once("close", onClose);
      if (child.stdout.closed) onClose();
      if (child.stderr.closed) onClose();
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done();
      }, PIPE_CLOSE_WAIT_MS).unref();
    });
  });
}
