/**
 * Every check the validator can report, with its id, default severity and how to fix it. Findings
 * carry the id; `--config` can switch a rule off or change its severity by id.
 */
import type { Severity } from "./findings.ts";

export type RuleCategory = "yaml" | "schema" | "job" | "policy" | "server";

export interface RuleDefinition {
  id: string;
  category: RuleCategory;
  severity: Severity;
  /** One line on what the rule checks. */
  description: string;
  /** The default advice on fixing a violation; findings may say something more specific. */
  fix: string;
  /** D30 recommendations that only apply in job mode (`--jobs-dir`) or when enabled in the config. */
  jobProfile?: boolean;
}

const defs: RuleDefinition[] = [
  // 1. YAML
  {
    id: "yaml-syntax",
    category: "yaml",
    severity: "error",
    description: "the document is not well-formed YAML",
    fix: "fix the YAML at or just before the reported line and column (check indentation, quotes, colons and unclosed [ or {)",
  },
  {
    id: "yaml-duplicate-key",
    category: "yaml",
    severity: "error",
    description: "a mapping has the same key twice",
    fix: "remove or rename one of the duplicated keys; only one value can take effect",
  },
  {
    id: "yaml-alias-limit",
    category: "yaml",
    severity: "error",
    description: "the document expands too many aliases (a 'billion laughs' alias bomb)",
    fix: "write the values out instead of nesting aliases, or split the document",
  },
  {
    id: "yaml-too-large",
    category: "yaml",
    severity: "error",
    description: "the input exceeds a size, document-count or nesting limit",
    fix: "split the input into smaller files, or raise the limit with --max-bytes",
  },
  {
    id: "yaml-not-object",
    category: "yaml",
    severity: "error",
    description: "the document is not a mapping (a Kubernetes object)",
    fix: "each YAML document must be a mapping with apiVersion, kind and metadata",
  },
  // 2. Schema
  {
    id: "schema-missing-type-meta",
    category: "schema",
    severity: "error",
    description: "apiVersion or kind is missing or not a string",
    fix: "set apiVersion (e.g. batch/v1) and kind (e.g. Job) at the top of the object",
  },
  {
    id: "schema-unknown-kind",
    category: "schema",
    severity: "error",
    description: "no schema is known for the object's apiVersion and kind",
    fix: "check apiVersion and kind for typos, add the CRD's schema with --schema-dir, or pass --skip-unknown-kinds",
  },
  {
    id: "schema-type",
    category: "schema",
    severity: "error",
    description: "a field has the wrong type",
    fix: 'change the value to the type the schema expects (quote strings such as "1.0" or "yes")',
  },
  {
    id: "schema-required",
    category: "schema",
    severity: "error",
    description: "a required field is missing",
    fix: "add the missing field",
  },
  {
    id: "schema-enum",
    category: "schema",
    severity: "error",
    description: "a field's value is not one of the allowed values",
    fix: "use one of the allowed values",
  },
  {
    id: "schema-format",
    category: "schema",
    severity: "error",
    description: "a field's value does not match its format (date-time, byte, int32, …)",
    fix: "write the value in the expected format",
  },
  {
    id: "schema-constraint",
    category: "schema",
    severity: "error",
    description: "a field breaks a schema constraint (pattern, minimum, maximum, length, …)",
    fix: "change the value to satisfy the constraint",
  },
  {
    id: "schema-unknown-field",
    category: "schema",
    severity: "warning",
    description:
      "a field is not part of the schema (an error with --strict; the API server drops or rejects it)",
    fix: "remove the field or fix its spelling or indentation",
  },
  // 3. D30 job rules
  {
    id: "job-api-version",
    category: "job",
    severity: "error",
    description: "in job mode every manifest must have apiVersion batch/v1",
    fix: "set apiVersion: batch/v1",
  },
  {
    id: "job-kind",
    category: "job",
    severity: "error",
    description: "in job mode every manifest must be a Job",
    fix: "set kind: Job, or move other objects out of the jobs directory",
  },
  {
    id: "metadata-name-missing",
    category: "job",
    severity: "error",
    description: "metadata.name is missing or empty",
    fix: "set metadata.name (lower-case letters, digits, '-' and '.')",
  },
  {
    id: "metadata-name-invalid",
    category: "job",
    severity: "error",
    description:
      "metadata.name is not a valid name for its kind (DNS-1123 subdomain or label, DNS-1035 for Services)",
    fix: "use at most 253 (63 for Jobs, Services and Namespaces; 52 for CronJobs) lower-case alphanumerics, '-' or '.', starting and ending with an alphanumeric",
  },
  {
    id: "namespace-missing",
    category: "job",
    severity: "warning",
    description: "metadata.namespace is not set, so the object goes to the 'default' namespace",
    fix: "set metadata.namespace explicitly",
    jobProfile: true,
  },
  {
    id: "containers-missing",
    category: "job",
    severity: "error",
    description: "the pod template has no containers",
    fix: "add at least one container under spec.template.spec.containers",
  },
  {
    id: "container-image-missing",
    category: "job",
    severity: "error",
    description: "a container has no image",
    fix: "set image on every container (e.g. registry.example.com/app:1.2.3)",
  },
  {
    id: "container-args-missing",
    category: "job",
    severity: "warning",
    description: "a container has no args (D30 recommends explicit args)",
    fix: "set args on the container so the job's parameters are explicit",
    jobProfile: true,
  },
  {
    id: "labels-recommended",
    category: "job",
    severity: "warning",
    description: "a recommended label is missing (default: app, session_id, worker_id, component)",
    fix: "add the missing labels under metadata.labels (the list is configurable with recommendedLabels)",
    jobProfile: true,
  },
  {
    id: "container-resources-missing",
    category: "job",
    severity: "warning",
    description: "a container sets no resource requests or limits",
    fix: "set resources.requests and resources.limits (cpu and memory)",
    jobProfile: true,
  },
  {
    id: "container-env-missing",
    category: "job",
    severity: "warning",
    description: "a container sets no environment variables (D30 recommends explicit env)",
    fix: "set env on the container",
    jobProfile: true,
  },
  {
    id: "env-name-invalid",
    category: "job",
    severity: "error",
    description: "an environment variable name is empty, or has '=' or characters other than printable ASCII",
    fix: "use printable ASCII characters other than '=' (conventionally [A-Z_][A-Z0-9_]*)",
  },
  {
    id: "job-name-pattern",
    category: "job",
    severity: "warning",
    description:
      "the Job name does not follow the configured pattern (default arb-tuning-{session}-{worker}-{index})",
    fix: "rename the Job to match the pattern, or change jobNamePattern in the config",
    jobProfile: true,
  },
  // 4. Policy
  {
    id: "policy-privileged",
    category: "policy",
    severity: "error",
    description: "a container runs privileged",
    fix: "remove securityContext.privileged: true; grant specific capabilities instead if really needed",
  },
  {
    id: "policy-host-namespaces",
    category: "policy",
    severity: "error",
    description: "the pod shares the host's network, PID or IPC namespace",
    fix: "remove hostNetwork, hostPID and hostIPC (or set them to false)",
  },
  {
    id: "policy-host-path",
    category: "policy",
    severity: "error",
    description: "the pod mounts a hostPath volume",
    fix: "use an emptyDir, ConfigMap, Secret or PersistentVolumeClaim instead of hostPath",
  },
  {
    id: "policy-run-as-root",
    category: "policy",
    severity: "warning",
    description: "a container may run as root (runAsNonRoot is not true, or runAsUser is 0)",
    fix: "set securityContext.runAsNonRoot: true and a non-zero runAsUser (pod or container level)",
  },
  {
    id: "policy-privilege-escalation",
    category: "policy",
    severity: "warning",
    description: "a container allows privilege escalation",
    fix: "set securityContext.allowPrivilegeEscalation: false on every container",
  },
  {
    id: "policy-capabilities-added",
    category: "policy",
    severity: "warning",
    description: "a container adds Linux capabilities",
    fix: "remove securityContext.capabilities.add and drop ALL capabilities",
  },
  {
    id: "policy-limits-missing",
    category: "policy",
    severity: "warning",
    description: "a container has no cpu or memory limit",
    fix: "set resources.limits.cpu and resources.limits.memory",
  },
  {
    id: "policy-image-tag",
    category: "policy",
    severity: "warning",
    description: "a container image has no tag or uses :latest",
    fix: "pin the image to a version tag or a digest (image@sha256:…)",
  },
  {
    id: "policy-job-deadline",
    category: "policy",
    severity: "warning",
    description: "a Job has no activeDeadlineSeconds, so a stuck pod runs forever",
    fix: "set spec.activeDeadlineSeconds",
  },
  {
    id: "policy-job-ttl",
    category: "policy",
    severity: "warning",
    description: "a Job has no ttlSecondsAfterFinished, so finished Jobs pile up",
    fix: "set spec.ttlSecondsAfterFinished",
  },
  // 5. Server
  {
    id: "server-dry-run",
    category: "server",
    severity: "error",
    description: "the API server rejected the object in a dry run",
    fix: "fix what the server's message names; the server sees admission and validation the schema does not",
  },
];

export const RULES: ReadonlyMap<string, RuleDefinition> = new Map(defs.map((d) => [d.id, d]));

export function ruleDefinition(id: string): RuleDefinition {
  const def = RULES.get(id);
  if (def === undefined) throw new Error(`unknown validation rule '${id}'`);
  return def;
}
