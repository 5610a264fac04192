/**
 * The worker's own exec policy. It lives in the worker's config and nothing the coordinator sends
 * can change it: `full` runs any command, `allowlist` only commands matching a pattern (and never
 * with shell control operators or substitutions, so `uname *` cannot become `uname; rm -rf /`),
 * `deny` runs nothing. Commands always get a scrubbed environment: only a few basic variables and
 * those listed in `worker.exec_env` are passed, so secrets in the worker's environment stay there.
 * File writes (`ocf cp` to the node) follow `worker.allow_file_writes`, by default the mode.
 */
export type ExecPolicyMode = "full" | "allowlist" | "deny";

export interface ExecPolicy {
  mode: ExecPolicyMode;
  allowlist: readonly string[];
  /** Extra environment variable names passed to commands. */
  env: readonly string[];
  /** worker.allow_file_writes: undefined follows the mode (writes under full, none under allowlist). */
  fileWrites?: boolean | undefined;
}

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string };

/** Variables every command gets (when the worker has them). */
export const BASE_ENV = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR", "PWD"];

/** Shell syntax that chains, redirects or substitutes: refused in allowlist mode. */
const SHELL_CONTROL = /[;&|<>`$(){}\n\r\\]/;

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.trim().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

export function decide(policy: ExecPolicy, command: string): PolicyDecision {
  if (policy.mode === "full") return { allowed: true };
  if (policy.mode === "deny") return { allowed: false, reason: "this worker's exec_policy is deny: it runs no commands" };
  const trimmed = command.trim().replace(/\s+/g, " ");
  if (SHELL_CONTROL.test(command)) {
    return { allowed: false, reason: "exec_policy is allowlist: shell operators, redirections and substitutions (; & | < > ` $ ( ) { } \\) are not allowed" };
  }
  if (policy.allowlist.some((pattern) => globToRegExp(pattern).test(trimmed))) return { allowed: true };
  return { allowed: false, reason: `exec_policy is allowlist: "${trimmed.slice(0, 120)}" matches no pattern in worker.exec_allowlist` };
}

/**
 * May the fleet write files here (file.put)? `deny` refuses every file call; otherwise
 * worker.allow_file_writes decides, and when it is unset writes follow the mode: allowed under
 * `full`, refused under `allowlist` (a written file can change what an allowed command does).
 */
export function decideFileWrite(policy: ExecPolicy): PolicyDecision {
  if (policy.mode === "deny") return { allowed: false, reason: "this worker's exec_policy is deny: it accepts no file calls" };
  if (policy.fileWrites === true) return { allowed: true };
  if (policy.fileWrites === false) return { allowed: false, reason: "this worker's worker.allow_file_writes is false: it accepts no file writes; set worker.allow_file_writes: true in its config to allow them" };
  if (policy.mode === "full") return { allowed: true };
  return { allowed: false, reason: "this worker's exec_policy is allowlist, which refuses file writes unless worker.allow_file_writes: true is set in its config" };
}

/** The environment a command runs with: base variables, LC_*, and the listed extras. */
export function commandEnv(policy: ExecPolicy, source: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const allowed = new Set([...BASE_ENV, ...policy.env]);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && (allowed.has(key) || key.startsWith("LC_"))) env[key] = value;
  }
  return env;
}
