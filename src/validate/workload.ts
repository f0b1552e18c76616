/** Where the pod spec lives in each workload kind, and the plan's view of a workload. */
import type { WorkloadDetails } from "./findings.ts";

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const asStr = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

const TEMPLATE_KINDS = new Set([
  "Job",
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "ReplicaSet",
  "ReplicationController",
]);

export interface PodSpecAt {
  spec: Obj;
  /** Path segments from the object root to the pod spec. */
  path: string[];
}

function specAt(obj: Obj, path: string[]): PodSpecAt | undefined {
  let cur: unknown = obj;
  for (const seg of path) {
    if (!isObj(cur)) return undefined;
    cur = cur[seg];
  }
  return isObj(cur) ? { spec: cur, path } : undefined;
}

const POD_PATHS: Record<string, string[]> = {
  Pod: ["spec"],
  PodTemplate: ["template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};
const TEMPLATE_PATH = ["spec", "template", "spec"];

/** The pod spec of a workload object, or undefined for kinds without one (or when it is missing). */
export function podSpecOf(obj: Obj): PodSpecAt | undefined {
  const kind = obj["kind"];
  if (typeof kind !== "string") return undefined;
  const path = POD_PATHS[kind] ?? (TEMPLATE_KINDS.has(kind) ? TEMPLATE_PATH : undefined);
  return path === undefined ? undefined : specAt(obj, path);
}

/** Whether a kind carries a pod template (so container rules apply even if the spec is missing). */
export function isWorkloadKind(kind: unknown): boolean {
  return (
    kind === "Pod" ||
    kind === "PodTemplate" ||
    kind === "CronJob" ||
    (typeof kind === "string" && TEMPLATE_KINDS.has(kind))
  );
}

export interface ContainerAt {
  container: Obj;
  /** `containers`, `initContainers` or `ephemeralContainers`. */
  list: string;
  index: number;
}

export function containersOf(spec: Obj, includeInit = true): ContainerAt[] {
  const out: ContainerAt[] = [];
  const lists = includeInit ? ["initContainers", "containers", "ephemeralContainers"] : ["containers"];
  for (const list of lists)
    asArray(spec[list]).forEach((c, index) => {
      if (isObj(c)) out.push({ container: c, list, index });
    });
  return out;
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function envValue(e: Obj): string {
  if (e["value"] !== undefined && e["value"] !== null) return scalarText(e["value"]);
  const from = e["valueFrom"];
  if (isObj(from)) {
    const [source, ref] = Object.entries(from)[0] ?? [];
    if (source !== undefined && isObj(ref)) {
      const name = asStr(ref["name"]);
      const key = asStr(ref["key"]) ?? asStr(ref["fieldPath"]) ?? asStr(ref["resource"]);
      return `<from ${source}${name !== undefined ? ` ${name}` : ""}${key !== undefined ? `/${key}` : ""}>`;
    }
  }
  return "";
}

/** What the execution plan shows about a workload: labels, the first container, resources. */
export function workloadDetails(obj: Obj): WorkloadDetails | undefined {
  const pod = podSpecOf(obj);
  if (pod === undefined) return undefined;
  const meta = isObj(obj["metadata"]) ? obj["metadata"] : {};
  const labels = isObj(meta["labels"])
    ? Object.entries(meta["labels"]).map(([k, v]) => [k, scalarText(v)] as [string, string])
    : [];
  const containers = containersOf(pod.spec, false);
  const c = containers[0]?.container ?? {};
  const resources = isObj(c["resources"]) ? c["resources"] : {};
  const pick = (v: unknown) => {
    const r: { cpu?: string; memory?: string } = {};
    if (isObj(v)) {
      if (v["cpu"] !== undefined && v["cpu"] !== null) r.cpu = scalarText(v["cpu"]);
      if (v["memory"] !== undefined && v["memory"] !== null) r.memory = scalarText(v["memory"]);
    }
    return r;
  };
  return {
    labels,
    image: scalarText(c["image"]),
    command: asArray(c["command"]).map(scalarText),
    args: asArray(c["args"]).map(scalarText),
    env: asArray(c["env"])
      .filter(isObj)
      .map((e) => [scalarText(e["name"]), envValue(e)] as [string, string]),
    requests: pick(resources["requests"]),
    limits: pick(resources["limits"]),
    containerCount: containers.length,
  };
}
