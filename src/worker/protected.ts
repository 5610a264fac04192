/**
 * The places a worker never lets the fleet rewrite through file calls, whatever its exec policy and
 * file roots: its config file, its state (identity seed, node.jwt, task journal), its skills, the
 * software itself, the deploy's env files (their OCF_* overrides set the policy), and what a
 * coordinator on the same machine keeps (state dir with admin.token and trust/, database, logs,
 * TLS key). Besides the places its own config names, every worker protects the default places of
 * every role for its user on this machine (~/.openclaw-federation/, the hybrid worker's
 * ~/.openclaw-worker/, the deploy's env folder, this installation's data/), so a second worker
 * beside it (a hybrid machine, the master's own worker next to another) cannot read the first's
 * identity or rewrite its config. The secrets among them are refused to reads too.
 * src/worker/file-access.ts checks every file call against this list on real paths.
 */
import { readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import type { ProtectedPlace } from "./file-access.js";

/** Where bin/deploy-federation.sh writes `<role>.env` and the supervisor's pid files. */
export function deployEnvDir(home: string = homedir()): string {
  return join(home, ".config", "openclaw-federation");
}

/**
 * Where the roles keep their state when nothing else is configured, for the user whose home is
 * `home`: the coordinator's and the worker's default state dirs (both under ~/.openclaw-federation/,
 * config/schema.ts) and the state dir bin/deploy-federation.sh hybrid gives its worker
 * (~/.openclaw-worker). Any worker or coordinator of this user on this machine may keep its keys
 * there, whatever this worker's own config says.
 */
export function defaultStateDirs(home: string = homedir()): { federation: string; hybridWorker: string } {
  return { federation: join(home, ".openclaw-federation"), hybridWorker: join(home, ".openclaw-worker") };
}

export interface OwnPlaces {
  /** The config file this worker was started with (loaded again from the same path on reload). */
  configFile?: string | undefined;
  /** The state folder in use (worker.state_dir or --state-dir), resolved. */
  stateDir: string;
  /** The skills folder in use, resolved. */
  skillsDir: string;
  /** The folder holding bin/ocf, dist/, src/, node_modules/ and .runtime/. */
  installRoot: string;
  /** The deploy's env folder (default ~/.config/openclaw-federation). */
  deployEnvDir: string;
  /** How paths in the config resolve (`~`, relative to the config's base folder). */
  resolvePath: (path: string) => string;
  /** The home folder of the user this worker runs as (default: os.homedir(), which follows HOME). */
  home?: string;
}

/** Top-level symlinks of the install root (node_modules, .runtime in a git worktree): their targets are the software too. */
function linkedParts(installRoot: string): string[] {
  try {
    return readdirSync(installRoot, { withFileTypes: true })
      .filter((entry) => entry.isSymbolicLink())
      .map((entry) => join(installRoot, entry.name));
  } catch {
    return [];
  }
}

/** The protected places of a worker running `config` with these paths. */
export function protectedPlaces(config: Config, own: OwnPlaces): ProtectedPlace[] {
  const path = own.resolvePath;
  const places: ProtectedPlace[] = [
    { path: own.stateDir, what: "this worker's own state folder", setting: "worker.state_dir", secret: true },
    { path: path(config.worker.state_dir), what: "this worker's configured state folder", setting: "worker.state_dir", secret: true },
    { path: own.deployEnvDir, what: "the deploy's settings folder, whose OCF_* overrides set this worker's policy", setting: "written by bin/deploy-federation.sh", secret: true },
    { path: path(config.coordinator.state_dir), what: "the coordinator's state folder", setting: "coordinator.state_dir", secret: true },
  ];
  const database = path(config.storage.path);
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    places.push({ path: `${database}${suffix}`, what: "the coordinator's database", setting: "storage.path", secret: true });
  }
  if (config.coordinator.tls_key) places.push({ path: path(config.coordinator.tls_key), what: "the coordinator's TLS key", setting: "coordinator.tls_key", secret: true });
  if (config.coordinator.tls_cert) places.push({ path: path(config.coordinator.tls_cert), what: "the coordinator's TLS certificate", setting: "coordinator.tls_cert", secret: false });
  // The defaults of every role for this user, whatever this worker's config says: another worker or
  // a coordinator on this machine keeps its identity, tokens and keys there.
  const home = own.home ?? homedir();
  const defaults = defaultStateDirs(home);
  places.push(
    { path: defaults.federation, what: "the default state folder of every ocf coordinator and worker of this user on this machine", setting: "default coordinator.state_dir and worker.state_dir", secret: true },
    { path: defaults.hybridWorker, what: "the state folder of a hybrid machine's worker of this user", setting: "written by bin/deploy-federation.sh hybrid", secret: true },
    { path: deployEnvDir(home), what: "the deploy's settings folder, whose OCF_* overrides set the policy of this machine's services", setting: "written by bin/deploy-federation.sh", secret: true },
    { path: join(own.installRoot, "data"), what: "this installation's default database folder", setting: "default storage.path ./data/cluster.db", secret: true },
  );
  if (own.configFile) places.push({ path: own.configFile, what: "this worker's own config file", setting: "--config / OCF_CONFIG", secret: false });
  places.push(
    { path: own.skillsDir, what: "this worker's skills folder", setting: "worker.skills_dir", secret: false },
    { path: path(config.worker.skills_dir), what: "this worker's configured skills folder", setting: "worker.skills_dir", secret: false },
    { path: own.installRoot, what: "the software this worker runs", setting: "install root", secret: false },
    ...linkedParts(own.installRoot).map((link) => ({ path: link, what: "part of the software this worker runs", setting: "install root", secret: false })),
    { path: path(config.log.dir), what: "the log folder", setting: "log.dir", secret: false },
  );
  // The same place named twice (configured and in use) is checked once.
  const seen = new Set<string>();
  return places.filter((place) => {
    const key = `${place.path}\0${place.secret}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
