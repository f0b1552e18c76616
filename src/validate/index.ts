/**
 * Gantry's manifest validator: YAML safety, schema validation against a pinned Kubernetes release,
 * the D30 Job rules, security policy, optional server-side dry run, and execution plans.
 *
 *   const results = validateObjects([job], { strict: true });
 *   if (results.some((r) => r.status === "invalid")) …
 */
export type {
  Finding,
  ObjectResult,
  ObjectStatus,
  ServerVerdict,
  Severity,
  SourceLocation,
  ValidationReport,
  WorkloadDetails,
} from "./findings.ts";
export { hasErrors, displayName } from "./findings.ts";
export type { RuleLevel, ValidateOptions } from "./config.ts";
export { ConfigError, parseConfig, DEFAULT_JOB_NAME_PATTERN, DEFAULT_RECOMMENDED_LABELS } from "./config.ts";
export type { RuleDefinition, RuleCategory } from "./rules.ts";
export { RULES, ruleDefinition } from "./rules.ts";
export { validateObject, validateObjects, validateDocuments } from "./validate.ts";
export { assertValidObjects } from "./guard.ts";
export { loadDocuments } from "./yaml-loader.ts";
export { SchemaSet, SchemaSetError, KUBERNETES_VERSION } from "./schema-set.ts";
export { renderPlanText, summarize } from "./plan.ts";
export { renderJson, renderJunit, renderSarif } from "./report-formats.ts";
export { validateTexts, readInput, defaultWorkers } from "./parallel.ts";
export { collectInputs, InputError } from "./inputs.ts";
export type { DryRunClient, DryRunOptions } from "./server-dry-run.ts";
export { createDryRunClient, applyServerDryRun } from "./server-dry-run.ts";
