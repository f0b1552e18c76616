/**
 * Validator options and the config file (`--config FILE`, YAML or JSON):
 *
 *   rules:                       # switch rules off or change their severity
 *     policy-image-tag: off
 *     policy-run-as-root: error
 *   recommendedLabels: [app, session_id, worker_id, component]
 *   jobNamePattern: "arb-tuning-{session}-{worker}-{index}"
 *   jobProfile: true             # D30 recommendations outside --jobs-dir too
 */
import { yamlLib } from "./yaml-lib.ts";
import type { Severity } from "./findings.ts";
import { RULES } from "./rules.ts";

export type RuleLevel = Severity | "off";

export interface ValidateOptions {
  /** Warnings become errors (D30's --strict); unknown fields become errors. */
  strict?: boolean;
  /** D30 job mode: every object must be a batch/v1 Job; turns on the job-profile rules. */
  jobMode?: boolean;
  /** Enable the D30 recommendations (labels, args, env, resources, name pattern) outside job mode. */
  jobProfile?: boolean;
  /** Only validate objects of these kinds (case-insensitive; `Kind` or `group/version/Kind`). */
  kinds?: readonly string[];
  /** Skip objects whose kind has no schema instead of reporting them. */
  skipUnknownKinds?: boolean;
  /** Per-rule overrides. */
  rules?: Readonly<Record<string, RuleLevel>>;
  recommendedLabels?: readonly string[];
  jobNamePattern?: string;
  /** Extra schema directories (CRDs). */
  schemaDirs?: readonly string[];
  /** Limits on the input. */
  maxBytes?: number;
  maxDocuments?: number;
  maxAliasCount?: number;
  /** False reads YAML with js-yaml's event parser only, never the faster line parser (for tests). */
  lineParser?: boolean;
}

export const DEFAULT_RECOMMENDED_LABELS = ["app", "session_id", "worker_id", "component"] as const;
export const DEFAULT_JOB_NAME_PATTERN = "arb-tuning-{session}-{worker}-{index}";
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_DOCUMENTS = 100_000;
export const DEFAULT_MAX_ALIAS_COUNT = 100;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const CONFIG_KEYS = new Set([
  "rules",
  "recommendedLabels",
  "jobNamePattern",
  "jobProfile",
  "strict",
  "kinds",
]);

/** Parses a config file's text. Throws ConfigError naming the bad key and what is allowed. */
export function parseConfig(text: string, source: string): ValidateOptions {
  let raw: unknown;
  try {
    raw = yamlLib().parse(text, { maxAliasCount: 10 });
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`${source}: must be a mapping`);
  const cfg = raw as Record<string, unknown>;
  for (const key of Object.keys(cfg))
    if (!CONFIG_KEYS.has(key))
      throw new ConfigError(`${source}: unknown key '${key}' (allowed: ${[...CONFIG_KEYS].join(", ")})`);
  const out: ValidateOptions = {};
  if (cfg["rules"] !== undefined) {
    const rules = cfg["rules"];
    if (typeof rules !== "object" || rules === null || Array.isArray(rules))
      throw new ConfigError(`${source}: 'rules' must map rule ids to off, warning or error`);
    const levels: Record<string, RuleLevel> = {};
    for (const [id, level] of Object.entries(rules)) {
      if (!RULES.has(id))
        throw new ConfigError(
          `${source}: unknown rule '${id}' (run 'gantry validate --list-rules' for the ids)`,
        );
      const l = level === false ? "off" : level;
      if (l !== "off" && l !== "warning" && l !== "error")
        throw new ConfigError(
          `${source}: rule '${id}' must be off, warning or error, not ${JSON.stringify(level)}`,
        );
      levels[id] = l;
    }
    out.rules = levels;
  }
  if (cfg["recommendedLabels"] !== undefined) {
    const v = cfg["recommendedLabels"];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
      throw new ConfigError(`${source}: 'recommendedLabels' must be a list of label names`);
    out.recommendedLabels = v;
  }
  if (cfg["jobNamePattern"] !== undefined) {
    const v = cfg["jobNamePattern"];
    if (typeof v !== "string") throw new ConfigError(`${source}: 'jobNamePattern' must be a string`);
    out.jobNamePattern = v;
  }
  for (const key of ["jobProfile", "strict"] as const) {
    const v = cfg[key];
    if (v === undefined) continue;
    if (typeof v !== "boolean") throw new ConfigError(`${source}: '${key}' must be true or false`);
    out[key] = v;
  }
  if (cfg["kinds"] !== undefined) {
    const v = cfg["kinds"];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
      throw new ConfigError(`${source}: 'kinds' must be a list of kinds`);
    out.kinds = v;
  }
  return out;
}

/**
 * Turns a name pattern with `{placeholders}` into a regular expression: each placeholder matches
 * one or more of `[a-z0-9-]`, the rest matches literally.
 */
export function jobNamePatternRegExp(pattern: string): RegExp {
  const parts = pattern.split(/(\{[^{}]*\})/);
  const body = parts
    .map((p) =>
      /^\{[^{}]*\}$/.test(p) ? "[a-z0-9]([a-z0-9-]*[a-z0-9])?" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return new RegExp(`^${body}$`);
}

/** The effective level of a rule under the options (config overrides, then --strict). */
export function ruleLevel(id: string, options: ValidateOptions): RuleLevel {
  const def = RULES.get(id);
  let level: RuleLevel = options.rules?.[id] ?? def?.severity ?? "error";
  if (level === "off") return level;
  if (
    def?.jobProfile === true &&
    options.jobMode !== true &&
    options.jobProfile !== true &&
    options.rules?.[id] === undefined
  )
    return "off";
  if (options.strict === true && level === "warning") level = "error";
  return level;
}
