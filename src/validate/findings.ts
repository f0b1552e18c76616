/** The shapes every part of the validator speaks: findings, per-object results and the report. */

export type Severity = "error" | "warning";

/** Where in the input a finding points. Lines and columns are 1-based. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
}

export interface Finding {
  /** Rule id from the registry in `rules.ts`, e.g. `schema-type` or `policy-privileged`. */
  rule: string;
  severity: Severity;
  /** What is wrong, naming the field. */
  message: string;
  /** How to fix it. */
  fix: string;
  /** JSON-pointer-like path inside the object (`/spec/template/spec/containers/0/image`), if any. */
  path?: string;
  location?: SourceLocation;
}

/** The facts the execution plan shows about one container-bearing object. */
export interface WorkloadDetails {
  labels: [string, string][];
  image: string;
  command: string[];
  args: string[];
  env: [string, string][];
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
  containerCount: number;
}

export type ObjectStatus = "valid" | "invalid" | "skipped";

/** The verdict of the API server's dry run for one object, when `--server-dry-run` was asked for. */
export interface ServerVerdict {
  status: "accepted" | "rejected" | "error";
  message?: string;
  /** Warnings the server returned (deprecated fields, unknown fields under Warn, …). */
  warnings?: string[];
}

export interface ObjectResult {
  /** File the object came from (`-` or `<stdin>` for standard input). */
  file: string;
  /** Index of the YAML document inside the file, from 0. */
  documentIndex: number;
  /** Line where the document starts (1-based). */
  line: number;
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  /** Set for kinds that live outside namespaces (Namespace, ClusterRole, …). */
  clusterScoped?: boolean;
  status: ObjectStatus;
  /** Why a skipped object was skipped. */
  skipReason?: string;
  findings: Finding[];
  details?: WorkloadDetails;
  server?: ServerVerdict;
}

export interface ValidationReport {
  results: ObjectResult[];
  /** Set when the report covers D30 job mode (`--jobs-dir`): every object is expected to be a Job. */
  jobMode: boolean;
  kubernetesVersion: string;
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === "error");
}

/** A display name for an object: its name, or where it came from when it has none. */
export function displayName(r: ObjectResult): string {
  if (r.name !== undefined && r.name !== "") return r.name;
  return `${r.file}#${r.documentIndex + 1}`;
}
