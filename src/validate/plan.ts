/**
 * The execution plan: a summary of a validation report. `renderPlanText` prints the D30 layout
 * (`[SUMMARY]`, `[VALID JOBS]`, `[INVALID JOBS]`, `[JOB DETAILS]`); in job mode it reads "Jobs",
 * otherwise "Objects".
 */
import type { Finding, ObjectResult, ValidationReport, WorkloadDetails } from "./findings.ts";
import { displayName } from "./findings.ts";

export interface PlanSummary {
  total: number;
  valid: number;
  invalid: number;
  skipped: number;
  errors: number;
  warnings: number;
  namespaces: string[];
}

export function summarize(report: ValidationReport): PlanSummary {
  const counted = report.results.filter((r) => r.status !== "skipped");
  const namespaces = new Set<string>();
  for (const r of counted)
    if ((r.kind !== undefined || r.name !== undefined) && r.clusterScoped !== true)
      namespaces.add(r.namespace ?? "default");
  let errors = 0;
  let warnings = 0;
  for (const r of counted)
    for (const f of r.findings)
      if (f.severity === "error") errors++;
      else warnings++;
  return {
    total: counted.length,
    valid: counted.filter((r) => r.status === "valid").length,
    invalid: counted.filter((r) => r.status === "invalid").length,
    skipped: report.results.length - counted.length,
    errors,
    warnings,
    namespaces: [...namespaces].sort(),
  };
}

const RULE = "=".repeat(70);
const label = (s: string) => s.padEnd(25);
const detail = (s: string) => `  ${s.padEnd(23)}`;

export function where(f: Finding): string {
  const loc = f.location;
  if (loc === undefined) return "";
  if (loc.line === undefined || loc.line === 0) return loc.file;
  return `${loc.file}:${loc.line}${loc.column !== undefined ? `:${loc.column}` : ""}`;
}

function objectLabel(r: ObjectResult, jobMode: boolean): string {
  const name = displayName(r);
  return jobMode || r.kind === undefined ? name : `${r.kind}/${name}`;
}

function resources(q: { cpu?: string; memory?: string }): string {
  const parts: string[] = [];
  if (q.cpu !== undefined) parts.push(`CPU=${q.cpu}`);
  if (q.memory !== undefined) parts.push(`Memory=${q.memory}`);
  return parts.length === 0 ? "(none)" : parts.join(", ");
}

/** Args on one line: the first two, then "..." when there are more. */
function argsLine(args: string[]): string {
  if (args.length === 0) return "(none)";
  return args.length > 2 ? `${args.slice(0, 2).join(" ")} ...` : args.join(" ");
}

function details(lines: string[], r: ObjectResult, d: WorkloadDetails, heading: string): void {
  lines.push(heading);
  lines.push(`${detail("Name:")}${r.name ?? "(none)"}`);
  lines.push(`${detail("Namespace:")}${r.namespace ?? "default"}`);
  if (d.labels.length === 0) lines.push(`${detail("Labels:")}(none)`);
  else {
    lines.push("  Labels:");
    for (const [k, v] of d.labels) lines.push(`    ${k}: ${v}`);
  }
  lines.push(`${detail("Image:")}${d.image === "" ? "(none)" : d.image}`);
  if (d.containerCount > 1) lines.push(`${detail("Containers:")}${d.containerCount} (details of the first)`);
  lines.push(`${detail("Command:")}${d.command.length === 0 ? "(image default)" : d.command.join(" ")}`);
  lines.push(`${detail("Args:")}${argsLine(d.args)}`);
  if (d.env.length === 0) lines.push(`${detail("Environment Variables:")}(none)`);
  else {
    lines.push(`${detail("Environment Variables:")}(${d.env.length} total)`);
    for (const [k, v] of d.env.slice(0, 5)) lines.push(`    ${k}: ${v}`);
    if (d.env.length > 5) lines.push(`    ... and ${d.env.length - 5} more`);
  }
  lines.push(`${detail("Resources (requests):")}${resources(d.requests)}`);
  lines.push(`${detail("Resources (limits):")}${resources(d.limits)}`);
  lines.push("");
}

export function renderPlanText(report: ValidationReport): string {
  const jobMode = report.jobMode;
  const noun = jobMode ? "Jobs" : "Objects";
  const s = summarize(report);
  const counted = report.results.filter((r) => r.status !== "skipped");
  const lines: string[] = [RULE, "[D30_K8S_EXEC] KUBERNETES EXECUTION PLAN", RULE, "", "[SUMMARY]"];
  lines.push(`${label(`Total ${noun}:`)}${s.total}`);
  lines.push(`${label(`Valid ${noun}:`)}${s.valid}`);
  lines.push(`${label(`Invalid ${noun}:`)}${s.invalid}`);
  if (s.skipped > 0) lines.push(`${label("Skipped:")}${s.skipped}`);
  lines.push(`${label("Namespaces:")}${s.namespaces.length === 0 ? "(none)" : s.namespaces.join(", ")}`);
  lines.push("");
  lines.push(`[VALID ${noun.toUpperCase()}]`);
  const valid = counted.filter((r) => r.status === "valid");
  if (valid.length === 0) lines.push("  (none)");
  for (const r of valid) lines.push(`  ✓ ${objectLabel(r, jobMode)}`);
  lines.push("");
  const invalid = counted.filter((r) => r.status === "invalid");
  if (invalid.length > 0) {
    lines.push(`[INVALID ${noun.toUpperCase()}]`);
    for (const r of invalid) {
      lines.push(`  ✗ ${objectLabel(r, jobMode)} (${r.file}${r.line > 0 ? `:${r.line}` : ""})`);
      for (const f of r.findings.filter((x) => x.severity === "error"))
        lines.push(`      - [${f.rule}] ${f.message} (${where(f)})`, `        fix: ${f.fix}`);
    }
    lines.push("");
  }
  const warned = counted.filter((r) => r.findings.some((f) => f.severity === "warning"));
  if (warned.length > 0) {
    lines.push("[WARNINGS]");
    for (const r of warned) {
      lines.push(`  ! ${objectLabel(r, jobMode)}`);
      for (const f of r.findings.filter((x) => x.severity === "warning"))
        lines.push(`      - [${f.rule}] ${f.message} (${where(f)})`, `        fix: ${f.fix}`);
    }
    lines.push("");
  }
  const withServer = counted.filter((r) => r.server !== undefined);
  if (withServer.length > 0) {
    lines.push("[SERVER DRY RUN]");
    for (const r of withServer) {
      const v = r.server!;
      const local = r.status === "valid" ? "valid" : "invalid";
      lines.push(
        `  ${objectLabel(r, jobMode)}: local ${local}, server ${v.status}${v.message !== undefined ? `: ${v.message}` : ""}`,
      );
      for (const w of v.warnings ?? []) lines.push(`      server warning: ${w}`);
    }
    lines.push("");
  }
  const detailed = valid.filter((r) => r.details !== undefined);
  if (detailed.length > 0) {
    lines.push(jobMode ? "[JOB DETAILS]" : "[WORKLOAD DETAILS]", "");
    detailed.forEach((r, i) =>
      details(lines, r, r.details!, jobMode ? `[Job ${i + 1}]` : `[${r.kind ?? "Object"} ${i + 1}]`),
    );
  }
  lines.push(RULE, "[D30_K8S_EXEC] END OF EXECUTION PLAN", RULE);
  return lines.join("\n") + "\n";
}
