/**
 * The D30 rules: what a Job manifest must have (errors) and what D30 recommends (warnings, the
 * "job profile": on in job mode, or with `jobProfile: true` in the config).
 */
import { jobNamePatternRegExp, DEFAULT_JOB_NAME_PATTERN, DEFAULT_RECOMMENDED_LABELS } from "./config.ts";
import type { RuleContext } from "./rule-context.ts";
import { asArray, asStr, containersOf, isObj, isWorkloadKind, podSpecOf } from "./workload.ts";
import type { Obj } from "./workload.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/**
 * API groups whose kinds name objects with DNS-1123 subdomains (pkg/apis/*\/validation). Other
 * groups (RBAC allows ':', CRDs are free-form) only need names that are valid path segments.
 */
const SUBDOMAIN_NAME_GROUPS = new Set([
  "",
  "apps",
  "batch",
  "networking.k8s.io",
  "policy",
  "autoscaling",
  "storage.k8s.io",
  "scheduling.k8s.io",
  "node.k8s.io",
  "discovery.k8s.io",
  "coordination.k8s.io",
  "certificates.k8s.io",
  "admissionregistration.k8s.io",
  "apiextensions.k8s.io",
]);
/** Longest name each kind accepts when its name ends up in a label (job-name, controller-uid…). */
const MAX_NAME: Record<string, number> = { Job: 63, CronJob: 52 };

function nameProblem(kind: string, apiVersion: string, name: string): string | undefined {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0]! : "";
  if (group === "" && kind === "Service") {
    if (name.length > 63 || !DNS1035_LABEL.test(name))
      return "must be a DNS-1035 label: at most 63 lower-case alphanumerics or '-', starting with a letter and ending with an alphanumeric";
    return undefined;
  }
  if (group === "" && kind === "Namespace") {
    if (name.length > 63 || !DNS1123_LABEL.test(name))
      return "must be a DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending with an alphanumeric";
    return undefined;
  }
  if (!SUBDOMAIN_NAME_GROUPS.has(group)) {
    if (name === "." || name === ".." || /[/%]/.test(name))
      return "may not be '.' or '..' or contain '/' or '%'";
    return undefined;
  }
  const max = MAX_NAME[kind] ?? 253;
  if (name.length > max) return `is ${name.length} characters long; a ${kind} name may have at most ${max}`;
  if (!DNS1123_SUBDOMAIN.test(name))
    return "must be a DNS-1123 subdomain: lower-case alphanumerics, '-' or '.', starting and ending with an alphanumeric";
  return undefined;
}

export function checkJobRules(obj: Obj, ctx: RuleContext): void {
  const kind = asStr(obj["kind"]) ?? "";
  const apiVersion = asStr(obj["apiVersion"]) ?? "";
  if (ctx.options.jobMode === true) {
    if (apiVersion !== "batch/v1")
      ctx.report(
        "job-api-version",
        `apiVersion is ${JSON.stringify(obj["apiVersion"] ?? null)}, expected "batch/v1"`,
        ["apiVersion"],
      );
    if (kind !== "Job")
      ctx.report("job-kind", `kind is ${JSON.stringify(obj["kind"] ?? null)}, expected "Job"`, ["kind"]);
  }
  const meta = isObj(obj["metadata"]) ? obj["metadata"] : undefined;
  const name = meta?.["name"];
  const generateName = asStr(meta?.["generateName"]);
  if (typeof name !== "string" || name.trim() === "") {
    if (generateName === undefined || generateName === "")
      ctx.report(
        "metadata-name-missing",
        "metadata.name is missing or empty",
        meta === undefined ? [] : ["metadata"],
      );
  } else {
    const problem = nameProblem(kind, apiVersion, name);
    if (problem !== undefined)
      ctx.report("metadata-name-invalid", `metadata.name "${name}" ${problem}`, ["metadata", "name"]);
  }
  if (
    ctx.namespaced &&
    (meta?.["namespace"] === undefined || meta["namespace"] === null || meta["namespace"] === "")
  )
    ctx.report(
      "namespace-missing",
      "metadata.namespace is not set; the object will go to the 'default' namespace",
      meta === undefined ? [] : ["metadata"],
    );

  if (kind === "Job" && typeof name === "string" && name !== "") {
    const pattern = ctx.options.jobNamePattern ?? DEFAULT_JOB_NAME_PATTERN;
    if (!jobNamePatternRegExp(pattern).test(name))
      ctx.report("job-name-pattern", `Job name "${name}" does not follow the pattern ${pattern}`, [
        "metadata",
        "name",
      ]);
  }
  if (isWorkloadKind(kind)) {
    const labels = isObj(meta?.["labels"]) ? meta["labels"] : {};
    const wanted = ctx.options.recommendedLabels ?? DEFAULT_RECOMMENDED_LABELS;
    const missing = wanted.filter((l) => labels[l] === undefined || labels[l] === null || labels[l] === "");
    if (missing.length > 0)
      ctx.report(
        "labels-recommended",
        `recommended label${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing`,
        meta === undefined ? [] : ["metadata"],
      );
  }

  const pod = podSpecOf(obj);
  if (pod === undefined) {
    if (isWorkloadKind(kind))
      ctx.report("containers-missing", `${kind} has no pod template spec, so no containers`, ["spec"]);
    return;
  }
  if (asArray(pod.spec["containers"]).length === 0)
    ctx.report("containers-missing", "the pod template has no containers", [...pod.path]);
  for (const { container: c, list, index } of containersOf(pod.spec)) {
    const at = [...pod.path, list, index];
    const label = `${list === "containers" ? "container" : list.replace(/s$/, "")} "${asStr(c["name"]) ?? index}"`;
    if (typeof c["image"] !== "string" || c["image"].trim() === "")
      ctx.report("container-image-missing", `${label} has no image`, at);
    if (list === "containers") {
      if (c["args"] === undefined || c["args"] === null)
        ctx.report("container-args-missing", `${label} has no args`, at);
      const res = isObj(c["resources"]) ? c["resources"] : {};
      if (!isObj(res["requests"]) && !isObj(res["limits"]))
        ctx.report("container-resources-missing", `${label} sets no resource requests or limits`, at);
      if (asArray(c["env"]).length === 0 && asArray(c["envFrom"]).length === 0)
        ctx.report("container-env-missing", `${label} sets no environment variables`, at);
    }
    asArray(c["env"]).forEach((e, i) => {
      if (!isObj(e)) return;
      const n = e["name"];
      if (typeof n !== "string") return; // the schema reports a missing or non-string name
      let problem: string | undefined;
      if (n === "") problem = "is empty";
      else if (n.includes("=")) problem = "contains '='";
      else if (!/^[\x20-\x7e]+$/.test(n)) problem = "has characters other than printable ASCII";
      if (problem !== undefined)
        ctx.report(
          "env-name-invalid",
          `${label}: environment variable name ${JSON.stringify(n)} ${problem}`,
          [...at, "env", i, "name"],
        );
    });
  }
}
