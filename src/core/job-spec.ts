/**
 * Turns a requested job (already shape-checked by the API schema) into the immutable `JobSpec` a
 * run executes: fills default limits, refuses limits above the operator's ceilings, and refuses
 * input-file paths that could escape the work directory. Pure; every refusal names the field.
 */

import { GantryError } from "./errors.ts";
import { DEFAULT_LIMITS, MAX_LIMITS, type InputFile, type JobSpec, type Limits } from "./workload.ts";

export interface JobRequest {
  command: string[];
  env?: Record<string, string>;
  files?: InputFile[];
  image?: string;
  limits?: Partial<Limits>;
}

export const MAX_FILES = 100;
export const MAX_FILES_BYTES = 4 * 1024 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function normalizeJobSpec(
  request: JobRequest,
  defaults: Limits = DEFAULT_LIMITS,
  ceilings: Limits = MAX_LIMITS,
): JobSpec {
  if (request.command.length === 0 || request.command[0] === "") {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      'command must name a program, e.g. ["sh", "-c", "echo hi"]',
    ]);
  }
  if (request.command.some((arg) => arg.includes("\0"))) {
    throw new GantryError("GANTRY_ERR_VALIDATION", ["command arguments must not contain NUL bytes"]);
  }
  const env = request.env ?? {};
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) {
      throw new GantryError("GANTRY_ERR_VALIDATION", [`env name '${name}' must match ${ENV_NAME.source}`]);
    }
    if (value.includes("\0")) {
      throw new GantryError("GANTRY_ERR_VALIDATION", [`env ${name} must not contain NUL bytes`]);
    }
  }
  const files = request.files ?? [];
  if (files.length > MAX_FILES) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      `at most ${MAX_FILES} input files are allowed, got ${files.length}`,
    ]);
  }
  let total = 0;
  const seen = new Set<string>();
  for (const file of files) {
    const problem = unsafeRelativePath(file.path);
    if (problem !== null) {
      throw new GantryError("GANTRY_ERR_VALIDATION", [`file path '${file.path}' ${problem}`]);
    }
    if (seen.has(file.path))
      throw new GantryError("GANTRY_ERR_VALIDATION", [`file path '${file.path}' appears twice`]);
    seen.add(file.path);
    if (file.encoding === "base64" && !/^[A-Za-z0-9+/]*={0,2}$/.test(file.content)) {
      throw new GantryError("GANTRY_ERR_VALIDATION", [
        `file '${file.path}' says base64 but its content is not base64`,
      ]);
    }
    total += file.content.length;
  }
  if (total > MAX_FILES_BYTES) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      `input files total ${total} bytes; the limit is ${MAX_FILES_BYTES}`,
    ]);
  }
  return {
    command: [...request.command],
    env: { ...env },
    files: files.map((f) => ({ ...f })),
    ...(request.image === undefined ? {} : { image: request.image }),
    limits: resolveLimits(request.limits ?? {}, defaults, ceilings),
  };
}

export function resolveLimits(requested: Partial<Limits>, defaults: Limits, ceilings: Limits): Limits {
  const limits = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof Limits)[]) {
    const value = requested[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value <= 0) {
      throw new GantryError("GANTRY_ERR_VALIDATION", [
        `limits.${key} must be a positive integer, got ${String(value)}`,
      ]);
    }
    if (value > ceilings[key]) {
      throw new GantryError("GANTRY_ERR_LIMIT_EXCEEDED", [`${key}=${value}`, String(ceilings[key])]);
    }
    limits[key] = value;
  }
  return limits;
}

/** Why `path` is not a safe relative path inside a work directory, or null when it is. */
export function unsafeRelativePath(path: string): string | null {
  if (path === "" || path.length > 255) return "must be 1 to 255 characters";
  if (path.includes("\0")) return "must not contain NUL bytes";
  if (path.startsWith("/")) return "must be relative to the work directory";
  if (path.includes("\\")) return "must use '/' as separator";
  const parts = path.split("/");
  if (parts.some((p) => p === "" || p === "." || p === ".."))
    return "must not contain empty, '.' or '..' segments";
  return null;
}
