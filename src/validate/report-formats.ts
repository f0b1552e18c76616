/** Machine-readable renderings of a validation report: JSON, JUnit XML and SARIF 2.1.0. */
import type { Finding, ObjectResult, ValidationReport } from "./findings.ts";
import { displayName } from "./findings.ts";
import { summarize } from "./plan.ts";
import { RULES } from "./rules.ts";

export function renderJson(report: ValidationReport): string {
  const s = summarize(report);
  return (
    JSON.stringify(
      {
        kubernetesVersion: report.kubernetesVersion,
        jobMode: report.jobMode,
        summary: s,
        results: report.results,
      },
      null,
      2,
    ) + "\n"
  );
}

const xml = (s: string) =>
  s
    .replace(
      /[<>&"']/g,
      (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!,
    )
    // XML 1.0 cannot carry most control characters, even escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd");

function caseName(r: ObjectResult): string {
  return `${r.kind ?? "(no kind)"}/${displayName(r)}`;
}

function findingLine(f: Finding): string {
  const loc = f.location?.line
    ? ` (line ${f.location.line}${f.location.column ? `:${f.location.column}` : ""})`
    : "";
  return `[${f.rule}] ${f.message}${loc}\nfix: ${f.fix}`;
}

export function renderJunit(report: ValidationReport): string {
  const byFile = new Map<string, ObjectResult[]>();
  for (const r of report.results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const s = summarize(report);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="gantry validate" tests="${report.results.length}" failures="${s.invalid}" skipped="${s.skipped}">`,
  ];
  for (const [file, results] of byFile) {
    const failures = results.filter((r) => r.status === "invalid").length;
    const skipped = results.filter((r) => r.status === "skipped").length;
    out.push(
      `  <testsuite name="${xml(file)}" tests="${results.length}" failures="${failures}" skipped="${skipped}" errors="0">`,
    );
    for (const r of results) {
      out.push(`    <testcase classname="${xml(file)}" name="${xml(caseName(r))}">`);
      if (r.status === "skipped") out.push(`      <skipped message="${xml(r.skipReason ?? "skipped")}"/>`);
      const errors = r.findings.filter((f) => f.severity === "error");
      if (r.status === "invalid") {
        const first = errors[0];
        out.push(
          `      <failure message="${xml(first?.message ?? "invalid")}" type="${xml(first?.rule ?? "invalid")}">${xml(errors.map(findingLine).join("\n\n"))}</failure>`,
        );
      }
      const warnings = r.findings.filter((f) => f.severity === "warning");
      if (warnings.length > 0)
        out.push(`      <system-out>${xml(warnings.map(findingLine).join("\n\n"))}</system-out>`);
      out.push("    </testcase>");
    }
    out.push("  </testsuite>");
  }
  out.push("</testsuites>");
  return out.join("\n") + "\n";
}

export function renderSarif(report: ValidationReport): string {
  const rules = [...RULES.values()].map((d) => ({
    id: d.id,
    shortDescription: { text: d.description },
    help: { text: d.fix },
    defaultConfiguration: { level: d.severity },
    properties: { category: d.category },
  }));
  const results = report.results.flatMap((r) =>
    r.findings.map((f) => ({
      ruleId: f.rule,
      level: f.severity,
      message: { text: `${caseName(r)}: ${f.message}. Fix: ${f.fix}` },
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: (f.location?.file ?? r.file).replace(/^\.\//, "") },
            region: {
              startLine: Math.max(1, f.location?.line ?? r.line),
              ...(f.location?.column !== undefined ? { startColumn: f.location.column } : {}),
            },
          },
          ...(f.path !== undefined
            ? { logicalLocations: [{ fullyQualifiedName: `${caseName(r)}${f.path}` }] }
            : {}),
        },
      ],
    })),
  );
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "gantry validate",
            rules,
          },
        },
        properties: { kubernetesVersion: report.kubernetesVersion },
        results,
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + "\n";
}
