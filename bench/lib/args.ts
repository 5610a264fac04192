/**
 * Flags of the bench scripts (`npm run bench`, `npm run soak`): node:util parseArgs, `-h/--help`
 * printing the usage (exit 0), and any bad flag or value named on stderr with the usage (exit 2).
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

type Values<T extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: T; allowPositionals: false }>>["values"];

export interface ScriptArgs<T extends ParseArgsOptionsConfig> {
  values: Values<T>;
  fail(message: string): never;
  /** A number flag above 0 (whole if asked, at most `max` when given); the fallback when absent. */
  number(name: keyof T & string, fallback: number, rule: { whole: boolean; max?: number }): number;
}

export function scriptArgs<T extends ParseArgsOptionsConfig>(script: string, usage: string, options: T): ScriptArgs<T> {
  const fail = (message: string): never => {
    process.stderr.write(`${script}: ${message}\n${usage}\n`);
    process.exit(2);
  };
  let values: Values<T>;
  try {
    values = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: false }).values as Values<T>;
  } catch (error) {
    return fail((error as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const number = (name: keyof T & string, fallback: number, rule: { whole: boolean; max?: number }): number => {
    const text = (values as Record<string, unknown>)[name];
    if (text === undefined) return fallback;
    const value = Number(text);
    const ok = Number.isFinite(value) && value > 0 && (!rule.whole || Number.isInteger(value)) && value <= (rule.max ?? Infinity);
    const wanted = rule.whole && rule.max !== undefined ? `a whole number from 1 to ${rule.max}` : `a ${rule.whole ? "whole " : ""}number above 0`;
    return ok ? value : fail(`--${name} must be ${wanted}, not "${String(text)}"`);
  };
  return { values, fail, number };
}
