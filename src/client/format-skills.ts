/** Skills for people and for the agent: one line per parameter, and a listing per node. */
import type { NodeSkills, SkillView } from "../protocol/api.js";
import { printable } from "../protocol/text.js";

interface PropertySchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
}

/** "path (string, default \"/\"), lines (integer, required)" from a skill's JSON schema. */
export function describeParameters(schema: Record<string, unknown>): string {
  const properties = (schema.properties ?? {}) as Record<string, PropertySchema>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const parts = Object.entries(properties).map(([name, property]) => {
    const facts: string[] = [];
    if (property.enum) facts.push(`one of ${property.enum.map((v) => JSON.stringify(v)).join("|")}`);
    else if (property.type) facts.push(Array.isArray(property.type) ? property.type.join("|") : property.type);
    if (required.has(name)) facts.push("required");
    if (property.default !== undefined) facts.push(`default ${JSON.stringify(property.default)}`);
    return `${name} (${facts.join(", ")})${property.description ? `: ${property.description}` : ""}`;
  });
  return parts.length ? parts.join("; ") : "no parameters";
}

/** A readable listing of every node's skills, with the folders that failed to load. */
export function formatSkills(nodes: NodeSkills[], forModel = false): string {
  const lines: string[] = [];
  for (const node of nodes) {
    if (node.status !== "ok") {
      lines.push(printable(`${node.node_id}: ${node.status}${node.error ? ` (${node.error.message})` : ""}`));
      continue;
    }
    if (!node.skills.length && !node.problems.length) {
      if (!forModel) lines.push(printable(`${node.node_id}: no skills (skills_dir ${node.skills_dir ?? "?"})`));
      continue;
    }
    lines.push(printable(`${node.node_id}:`));
    for (const skill of node.skills) lines.push(`  ${skillLine(skill)}`);
    for (const problem of node.problems) lines.push(printable(`  ! ${problem.folder}: not loaded: ${problem.error}`));
  }
  return lines.length ? lines.join("\n") : "No node has any skill.";
}

function skillLine(skill: SkillView): string {
  const state = skill.available ? "" : ` [unavailable: needs ${skill.missing ?? "?"}]`;
  // What a node says about its skills is shown escaped: it cannot add lines or drive a terminal.
  return `${printable(`${skill.name} — ${skill.description}${state}`)}\n      params: ${printable(describeParameters(skill.parameters))}; timeout ${skill.timeout_s}s`;
}
