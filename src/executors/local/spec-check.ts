/**
 * What the local executor refuses to run, before touching anything: a spec it cannot express
 * safely. (Input file paths are checked by workdir.ts.) The API validates specs too; this is the
 * executor's own line of defence, reported as `invalid_spec: …`.
 */

import type { JobSpec } from "../../core/workload.ts";
import { envProblem } from "./sandbox.ts";

const LIMIT_FIELDS = ["cpuSeconds", "wallSeconds", "memoryMB", "processes", "outputBytes"] as const;

/** Why this spec cannot run here, or null. */
export function specProblem(spec: JobSpec): string | null {
  if (!Array.isArray(spec.command) || spec.command.length === 0) return "command is empty";
  for (const arg of spec.command) {
    if (typeof arg !== "string" || arg.includes("\0"))
      return "command arguments must be strings without NUL bytes";
  }
  if (spec.command[0] === "") return "command[0] is empty";
  if (spec.env !== null && typeof spec.env !== "object") return "env must be an object";
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (typeof v !== "string") return `environment variable ${k} must be a string`;
    const problem = envProblem(k, v);
    if (problem) return problem;
  }
  if (!Array.isArray(spec.files ?? [])) return "files must be a list";
  const l = spec.limits;
  for (const field of LIMIT_FIELDS) {
    const v = l?.[field];
    if (!(typeof v === "number" && Number.isFinite(v) && v > 0))
      return `limit ${field} must be a positive number`;
  }
  return null;
}
