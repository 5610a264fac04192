/**
 * Skills: folders in `worker.skills_dir`, each with a manifest (`skill.yaml`, `skill.yml` or
 * `skill.json`) naming what to run, its JSON-schema parameters, timeout and required
 * capabilities. The worker scans the folder at start and again when it changes, reports the
 * runnable skills (as `skill:<name>` capabilities), validates parameters before running one, and
 * runs it without a shell: the parameters arrive as JSON on stdin, in OCF_PARAMS, and as
 * OCF_PARAM_<NAME> for each scalar.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { SkillView } from "../protocol/api.js";
import { which } from "./capabilities.js";

export const SKILL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,47}$/;
export const MANIFEST_FILES = ["skill.yaml", "skill.yml", "skill.json"] as const;
/** Longest a skill may run (longer work belongs in a task). */
export const MAX_SKILL_TIMEOUT_S = 600;
const MAX_SKILLS = 100;
const MAX_MANIFEST_BYTES = 64 * 1024;

const ManifestSchema = z.strictObject({
  name: z.string().regex(SKILL_NAME_PATTERN, "must be lower-case letters, digits, dot, dash or underscore (up to 48), starting with a letter or digit").optional(),
  description: z.string().min(1).max(1000),
  /** The program (a file in the skill's folder, or a command on PATH) and its fixed arguments. */
  run: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(64)]),
  timeout: z.number().positive().max(MAX_SKILL_TIMEOUT_S).default(60),
  requires: z.array(z.string().min(1).max(64)).max(32).default([]),
  parameters: z.record(z.string(), z.unknown()).default({ type: "object", properties: {}, additionalProperties: false }),
});

/** What a node reports about one skill (the API shape). */
export type SkillInfo = SkillView;

export interface Skill extends SkillInfo {
  dir: string;
  program: string;
  args: string[];
  validate: ValidateFunction;
}

/** A folder that looks like a skill but cannot be used, and why. */
export interface SkillProblem {
  folder: string;
  error: string;
}

export class SkillError extends Error {
  constructor(
    readonly code: "not_found" | "bad_request" | "capability_unavailable",
    message: string,
  ) {
    super(message);
  }
}

function formatPath(path: Array<string | number>): string {
  return path.length ? path.join(".") : "(manifest)";
}

/** One readable line per schema error, naming the parameter. */
export function describeParameterErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((error) => {
      const where = error.instancePath ? error.instancePath.slice(1).replaceAll("/", ".") : "";
      if (error.keyword === "required") return `missing parameter ${String((error.params as { missingProperty?: string }).missingProperty)}`;
      if (error.keyword === "additionalProperties") return `unknown parameter ${String((error.params as { additionalProperty?: string }).additionalProperty)}`;
      if (error.keyword === "enum") return `parameter ${where}: must be one of ${((error.params as { allowedValues?: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
      return where ? `parameter ${where}: ${error.message ?? "is invalid"}` : (error.message ?? "invalid parameters");
    })
    .join("; ");
}

export class SkillCatalog {
  private skills = new Map<string, Skill>();
  private problemList: SkillProblem[] = [];
  private signature = "";
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false });

  constructor(
    readonly dir: string,
    /** Capabilities of this node and why the others are missing (for `requires`). */
    private readonly capabilities: () => { list: string[]; missing: Record<string, string> },
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Read the folder again when anything in it changed. Returns true when the skills changed. */
  scan(): boolean {
    const signature = this.folderSignature();
    if (signature === this.signature) return false;
    this.signature = signature;
    const skills = new Map<string, Skill>();
    const problems: SkillProblem[] = [];
    for (const folder of this.folders()) {
      if (skills.size >= MAX_SKILLS) {
        problems.push({ folder, error: `more than ${MAX_SKILLS} skills; this one was not loaded` });
        continue;
      }
      try {
        const skill = this.load(folder);
        if (skills.has(skill.name)) throw new Error(`another folder already defines the skill "${skill.name}"`);
        skills.set(skill.name, skill);
      } catch (error) {
        problems.push({ folder, error: (error as Error).message });
      }
    }
    const before = JSON.stringify(this.list());
    this.skills = skills;
    this.problemList = problems;
    return JSON.stringify(this.list()) !== before || problems.length > 0;
  }

  /** Every loaded skill, available or not, sorted by name. */
  list(): SkillInfo[] {
    return [...this.skills.values()]
      .map((skill) => this.info(skill))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  problems(): SkillProblem[] {
    return [...this.problemList];
  }

  /** `skill:<name>` for every skill this node can run now. */
  capabilityNames(): string[] {
    return this.list()
      .filter((skill) => skill.available)
      .map((skill) => `skill:${skill.name}`);
  }

  /** The skill and its parameters after validation (defaults filled in, scalars coerced). */
  prepare(name: string, args: Record<string, unknown>): { skill: Skill; params: Record<string, unknown> } {
    const skill = this.skills.get(name);
    if (!skill) {
      const problem = this.problemList.find((p) => p.folder === name);
      if (problem) throw new SkillError("not_found", `skill "${name}" is broken on this node: ${problem.error}`);
      const known = [...this.skills.keys()].sort();
      throw new SkillError("not_found", `no skill "${name}" on this node (it has: ${known.join(", ") || "none"}; skills_dir ${this.dir})`);
    }
    const info = this.info(skill);
    if (!info.available) throw new SkillError("capability_unavailable", `skill "${name}" needs ${info.missing ?? "a capability this node lacks"}`);
    const params: Record<string, unknown> = structuredClone(args);
    if (!skill.validate(params)) throw new SkillError("bad_request", `skill "${name}": ${describeParameterErrors(skill.validate.errors)}`);
    return { skill, params };
  }

  private info(skill: Skill): SkillInfo {
    const caps = this.capabilities();
    const lacking = skill.requires.filter((name) => !caps.list.includes(name));
    const missing = lacking.map((name) => `${name} (${caps.missing[name] ?? "not offered by this node"})`).join(", ");
    return {
      name: skill.name,
      description: skill.description,
      parameters: skill.parameters,
      timeout_s: skill.timeout_s,
      requires: skill.requires,
      available: lacking.length === 0,
      ...(lacking.length ? { missing } : {}),
    };
  }

  private folders(): string[] {
    if (!existsSync(this.dir)) return [];
    try {
      return readdirSync(this.dir, { withFileTypes: true })
        .filter((entry) => (entry.isDirectory() || entry.isSymbolicLink()) && !entry.name.startsWith("."))
        .filter((entry) => MANIFEST_FILES.some((file) => existsSync(join(this.dir, entry.name, file))))
        .map((entry) => entry.name)
        .sort();
    } catch {
      return [];
    }
  }

  /** Changes to the folder, the manifests or the programs change this string. */
  private folderSignature(): string {
    const parts: string[] = [];
    const stamp = (path: string): void => {
      try {
        const stat = statSync(path);
        parts.push(`${path}:${stat.mtimeMs}:${stat.size}:${stat.mode}`);
      } catch {
        parts.push(`${path}:-`);
      }
    };
    stamp(this.dir);
    for (const folder of this.folders()) {
      stamp(join(this.dir, folder));
      for (const file of MANIFEST_FILES) if (existsSync(join(this.dir, folder, file))) stamp(join(this.dir, folder, file));
      // The program itself: a skill whose script appears or becomes executable turns usable.
      try {
        for (const entry of readdirSync(join(this.dir, folder))) stamp(join(this.dir, folder, entry));
      } catch {
        // unreadable folder: reported by load()
      }
    }
    return parts.join("|");
  }

  private load(folder: string): Skill {
    const dir = join(this.dir, folder);
    const file = MANIFEST_FILES.map((name) => join(dir, name)).find((path) => existsSync(path)) as string;
    const fileName = file.slice(dir.length + 1);
    if (statSync(file).size > MAX_MANIFEST_BYTES) throw new Error(`${fileName} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    let raw: unknown;
    try {
      raw = file.endsWith(".json") ? JSON.parse(readFileSync(file, "utf8")) : parseYaml(readFileSync(file, "utf8"));
    } catch (error) {
      throw new Error(`${fileName} is not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message.split("\n")[0]}`, { cause: error });
    }
    const parsed = ManifestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${fileName}: ${formatPath((issue?.path ?? []) as Array<string | number>)}: ${issue?.message ?? "invalid"}`);
    }
    const manifest = parsed.data;
    const name = manifest.name ?? folder;
    if (!SKILL_NAME_PATTERN.test(name)) throw new Error(`folder name "${folder}" is not a valid skill name; set name: in ${fileName}`);
    if (manifest.parameters.type !== undefined && manifest.parameters.type !== "object") throw new Error(`${fileName}: parameters: the schema must describe an object (type: object)`);
    let validate: ValidateFunction;
    try {
      validate = this.ajv.compile({ type: "object", ...manifest.parameters });
    } catch (error) {
      throw new Error(`${fileName}: parameters is not a valid JSON schema: ${(error as Error).message}`, { cause: error });
    }
    const [command, ...args] = typeof manifest.run === "string" ? [manifest.run] : manifest.run;
    const program = this.program(dir, command as string, fileName);
    return {
      name,
      description: manifest.description,
      parameters: manifest.parameters,
      timeout_s: manifest.timeout,
      requires: manifest.requires,
      available: true,
      dir,
      program,
      args,
      validate,
    };
  }

  /** The program to run: a file in the skill's folder (or an absolute path), else a command on PATH. */
  private program(dir: string, command: string, fileName: string): string {
    const local = isAbsolute(command) ? command : resolve(dir, command);
    const inFolder = isAbsolute(command) || command.includes("/") || existsSync(local);
    if (inFolder) {
      if (!existsSync(local)) throw new Error(`${fileName}: run: ${command} does not exist in ${dir}`);
      try {
        accessSync(local, constants.X_OK);
      } catch {
        throw new Error(`${fileName}: run: ${command} is not executable (chmod +x ${local})`);
      }
      return local;
    }
    const onPath = which(command, this.env);
    if (!onPath) throw new Error(`${fileName}: run: ${command} is neither a file in ${dir} nor a command on PATH`);
    return onPath;
  }
}

/** Environment for a skill's process: the parameters as OCF_PARAMS (JSON) and OCF_PARAM_<NAME> for scalars. */
export function skillEnv(base: NodeJS.ProcessEnv, skill: Skill, params: Record<string, unknown>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, OCF_SKILL: skill.name, OCF_SKILL_DIR: skill.dir, OCF_PARAMS: JSON.stringify(params) };
  for (const [key, value] of Object.entries(params)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") env[`OCF_PARAM_${key.toUpperCase()}`] = String(value);
  }
  return env;
}
