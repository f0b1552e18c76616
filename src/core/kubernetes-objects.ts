/**
 * Renders one run attempt as the Kubernetes objects that execute it: a hardened Job, the per-run
 * Secret holding the run token, and (when the input files are small enough) a per-run ConfigMap
 * holding them. Pure: plain objects in, plain objects out; the Kubernetes executor sends them after
 * `assertValidObjects` (src/validate) accepts them.
 *
 * Decisions:
 * - Names: the Job, its Secret and its ConfigMap share one name, `gantry-<run id>-<attempt>`, so a
 *   relaunch of the same attempt after a crash meets `AlreadyExists` and adopts what is there.
 * - CPU: `Limits.cpuSeconds` is a CPU-time budget, which Kubernetes cannot enforce. Its average rate
 *   over the wall time, `cpuSeconds / wallSeconds` cores, is what a run needs to spend its budget
 *   before its deadline: that rate is the request (at least 100m, so scheduling means something),
 *   and the limit is that rate rounded up to whole cores, at least 1 and at most `maxCpuMillis`
 *   (default 4 cores). The wall-time deadline (`activeDeadlineSeconds`) bounds the CPU time used.
 * - Memory: request = limit = `memoryMB` Mi (no overcommit: an OOM kill is the run's own doing).
 * - Processes: Kubernetes has no per-pod pids limit in the pod spec (it is a kubelet setting).
 * - Files: in the ConfigMap (UTF-8 in `data`, base64 in `binaryData`, keys `f0`, `f1`, …), each one
 *   mounted read-only by `subPath` at `/work/<path>` (executable ones mode 0555, else 0444), so the
 *   layout matches the local sandbox while `/work` itself stays a writable emptyDir. Parent
 *   directories the mounts need are made by the container runtime and may belong to root: the
 *   workload can rely on writing in `/work` itself, not inside those directories.
 *   Past `payloadConfigMapMaxBytes` (the API server refuses ConfigMaps over 1 MiB) there is no
 *   ConfigMap: `GANTRY_PAYLOAD=api` and the workload (the runner) fetches
 *   `GANTRY_PAYLOAD_URL` with its token instead.
 * - Token: only in the Secret, reaching the container as GANTRY_RUN_TOKEN by `secretKeyRef` — or,
 *   with `runTokenDelivery: "file"`, not reaching it at all: the Secret is mounted only into a small
 *   init container (`run-token`, same image, the execute-only Node at SANDBOX_RUNNER_NODE) that
 *   copies it into the `/work` emptyDir as a 0600 file, and the main container gets only
 *   GANTRY_RUN_TOKEN_FILE naming it; the runner reads and deletes it before any submitted code runs.
 *   So no process environment, no env reference and no volume of the main container holds it.
 * - Kind `submission`: the command is the runner in the language's image (spec.image, set from the
 *   language row at acceptance; `deploy/runner/` builds those images with the runner bundle and the
 *   execute-only Node at the local sandbox's paths, so `runnerCommand()` is the same argv). The
 *   grading spec (sources, cases, expected outputs, checker) never becomes an object: the runner
 *   fetches it from `/v1/internal/runs/{id}/payload` with its token (`GANTRY_PAYLOAD=api`), so no
 *   ConfigMap exists and nothing of it sits in the pod's filesystem or in etcd.
 * - Ownership: the Executor creates the Job first, then the Secret and ConfigMap with `ownedBy()`
 *   (the pod waits for them: an env secretKeyRef or a volume that does not exist yet holds the
 *   container in `CreateContainerConfigError` / `ContainerCreating` until it does). Delete a Job
 *   with `propagationPolicy=Background` (as a query parameter): a batch/v1 Job's default is to
 *   orphan its dependents, which would leave its pod, Secret and ConfigMap behind.
 * - Kubernetes expands `$(VAR)` in command arguments and env values; every `$` is doubled so both
 *   reach the workload literally, as they do in the local sandbox.
 */

import { GantryError } from "./errors.ts";
import { SANDBOX_RUNNER_NODE } from "./submission-spec.ts";
import type { JobSpec, Limits } from "./workload.ts";

export const GANTRY_LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  name: "app.kubernetes.io/name",
  runId: "gantry.dev/run-id",
  attempt: "gantry.dev/attempt",
  kind: "gantry.dev/kind",
  owner: "gantry.dev/owner",
  /** Kind `submission` only: the submission's language. */
  language: "gantry.dev/language",
} as const;

/** Values of the two fixed labels; select Gantry's objects with `gantrySelector()`. */
export const GANTRY_LABEL_VALUES = { managedBy: "gantry", name: "gantry-run" } as const;

export const GANTRY_ANNOTATIONS = {
  /** The owner as given (its label is sanitised). */
  owner: "gantry.dev/owner",
  /** The run id as given. */
  runId: "gantry.dev/run-id",
  /** `configmap` (files mounted), `api` (the workload fetches its payload) or `none`. */
  payload: "gantry.dev/payload",
  /** The attempt's `limits.outputBytes`: a Gantry that adopts the Job bounds its log by it. */
  outputBytes: "gantry.dev/output-bytes",
} as const;

/** Label selector for every object Gantry renders: `app.kubernetes.io/managed-by=gantry,…`. */
export function gantrySelector(extra: Record<string, string> = {}): string {
  return Object.entries({
    [GANTRY_LABELS.managedBy]: GANTRY_LABEL_VALUES.managedBy,
    [GANTRY_LABELS.name]: GANTRY_LABEL_VALUES.name,
    ...extra,
  })
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The container's name in every rendered pod. */
export const CONTAINER_NAME = "main";
/** Writable emptyDir, the working directory; input files are mounted into it. */
export const WORK_DIR = "/work";
/** Key of the run token in the per-run Secret. */
export const RUN_TOKEN_KEY = "run-token";
/** With `runTokenDelivery: "file"`: the init container that copies the token into /work. */
export const TOKEN_INIT_CONTAINER_NAME = "run-token";
/** Where that init container (only) mounts the Secret, read-only. */
export const RUN_TOKEN_MOUNT = "/var/run/gantry";
/** The token file in /work (the local sandbox's name too); GANTRY_RUN_TOKEN_FILE names it. */
export const RUN_TOKEN_FILE = `${WORK_DIR}/.gantry-run-token`;
/**
 * The init container's program (run by `node -e`, argv: source, target): writes the token with
 * mode 0600, refusing a target that exists (`wx`: no following a planted link or file).
 */
const COPY_TOKEN_SCRIPT =
  'const fs = require("node:fs"); fs.writeFileSync(process.argv[2], fs.readFileSync(process.argv[1]), { mode: 0o600, flag: "wx" });';
/** Default of `payloadConfigMapMaxBytes`: below the API server's 1 MiB ConfigMap limit. */
export const DEFAULT_PAYLOAD_CONFIGMAP_MAX_BYTES = 900 * 1024;
export const DEFAULT_MAX_CPU_MILLIS = 4000;
export const DEFAULT_WORK_DIR_SIZE_MB = 1024;
/** Env names the renderer sets; a spec cannot override them (its own are dropped). */
export const RESERVED_ENV_PREFIX = "GANTRY_";

export interface KubernetesRunConfig {
  /** Namespace the runs' objects go to. */
  namespace: string;
  /** Image when the spec names none. */
  defaultImage: string;
  ttlSecondsAfterFinished: number;
  /** Non-zero uid (and gid, fsGroup) the workload runs as. */
  runAsUser: number;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Gantry's API as the pod reaches it (GANTRY_API_URL). */
  apiUrl: string;
  /** Input files larger than this (bytes, keys included) are fetched from the API instead. */
  payloadConfigMapMaxBytes?: number;
  /** Highest CPU limit in millicores (default 4000). */
  maxCpuMillis?: number;
  /** sizeLimit of each of the /work and /tmp emptyDirs, MiB (default 1024). */
  workDirSizeMB?: number;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  [k: string]: unknown;
}

export interface RenderRunInput {
  runId: string;
  attempt: number;
  owner: string;
  /** Workload kind, e.g. `job`. */
  kind: string;
  spec: JobSpec;
  /** The plain run token; lands only in the Secret. */
  runToken: string;
  /** Extra pod-template annotations (e.g. the test cluster's kwok annotations). */
  podAnnotations?: Record<string, string>;
}

export interface RenderedRun {
  /** Name of the Job, the Secret and the ConfigMap. */
  name: string;
  job: KubeObject;
  secret: KubeObject;
  /** Null when there are no files or they are fetched from the API. */
  configMap: KubeObject | null;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** 32-bit FNV-1a of the UTF-16 code units, as 8 hex digits: short stable suffixes, not security. */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * The Job name of an attempt: `gantry-<run id>-<attempt>`, a DNS-1123 label of at most 63
 * characters, the same every time for the same (run, attempt). Run ids are UUIDs; any other id is
 * lowercased, cut to fit and given a hash of the original so distinct ids stay distinct.
 */
export function jobName(runId: string, attempt: number): string {
  if (!Number.isSafeInteger(attempt) || attempt < 0)
    throw new GantryError("GANTRY_ERR_INTERNAL", [`attempt must be a non-negative integer, not ${attempt}`]);
  const suffix = `-${attempt}`;
  const plain = `gantry-${runId}${suffix}`;
  if (DNS_LABEL.test(plain) && plain.length <= 63) return plain;
  const room = 63 - "gantry-".length - suffix.length - 9; // 9: "-" + hash
  const cleaned = runId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, Math.max(0, room))
    .replace(/-+$/, "");
  return `gantry-${cleaned === "" ? "" : `${cleaned}-`}${shortHash(runId)}${suffix}`;
}

/**
 * A valid label value for any text: kept when it already is one, otherwise invalid characters become
 * `_`, the ends are trimmed to alphanumerics and a hash of the original is appended (≤ 63 chars).
 */
export function labelValue(text: string): string {
  if (text.length <= 63 && LABEL_VALUE.test(text)) return text;
  const cleaned = text
    .replace(/[^A-Za-z0-9_.-]+/g, "_")
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "")
    .slice(0, 54)
    .replace(/[^A-Za-z0-9]+$/, "");
  return cleaned === "" ? shortHash(text) : `${cleaned}-${shortHash(text)}`;
}

/** The labels of every object of an attempt (Job, pod template, Secret, ConfigMap). */
export function runLabels(
  runId: string,
  attempt: number,
  kind: string,
  owner: string,
): Record<string, string> {
  return {
    [GANTRY_LABELS.managedBy]: GANTRY_LABEL_VALUES.managedBy,
    [GANTRY_LABELS.name]: GANTRY_LABEL_VALUES.name,
    [GANTRY_LABELS.runId]: labelValue(runId),
    [GANTRY_LABELS.attempt]: String(attempt),
    [GANTRY_LABELS.kind]: labelValue(kind),
    [GANTRY_LABELS.owner]: labelValue(owner),
  };
}

/** CPU request and limit (Kubernetes quantities) for the limits; see the header. */
export function cpuResources(
  limits: Pick<Limits, "cpuSeconds" | "wallSeconds">,
  maxCpuMillis = DEFAULT_MAX_CPU_MILLIS,
): { request: string; limit: string } {
  const rate = Math.ceil((1000 * limits.cpuSeconds) / Math.max(1, limits.wallSeconds));
  const limit = Math.min(Math.max(1000, Math.ceil(rate / 1000) * 1000), Math.max(1, maxCpuMillis));
  const request = Math.min(Math.max(100, rate), limit);
  return { request: millis(request), limit: millis(limit) };
}

function millis(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** Doubles every `$` so Kubernetes' `$(VAR)` expansion leaves the text as it was. */
export function escapeKubeExpansion(text: string): string {
  return text.replaceAll("$", "$$$$");
}

/**
 * A base64 file's content in the canonical form the API server's `format: byte` accepts (padded,
 * no whitespace); normalizeJobSpec accepts unpadded text such as `AAE`, which the validator refuses.
 */
function canonicalBase64(content: string): string {
  return Buffer.from(content, "base64").toString("base64");
}

function fileBytes(file: JobSpec["files"][number]): number {
  return file.encoding === "base64"
    ? Buffer.from(file.content, "base64").length
    : Buffer.byteLength(file.content, "utf8");
}

/** Renders the objects of one attempt; see the header for every choice. */
export function renderRunObjects(input: RenderRunInput, config: KubernetesRunConfig): RenderedRun {
  const { runId, attempt, owner, kind, spec, runToken } = input;
  if (!Number.isSafeInteger(config.runAsUser) || config.runAsUser <= 0)
    throw new GantryError("GANTRY_ERR_CONFIG", [
      `runAsUser must be a positive uid, not ${config.runAsUser} (workloads never run as root)`,
    ]);
  const submission = kind === "submission" ? submissionOf(spec) : null;
  const name = jobName(runId, attempt);
  const namespace = config.namespace;
  const labels = runLabels(runId, attempt, kind, owner);
  if (submission !== null) labels[GANTRY_LABELS.language] = labelValue(submission.language);
  const maxPayload = config.payloadConfigMapMaxBytes ?? DEFAULT_PAYLOAD_CONFIGMAP_MAX_BYTES;
  const sizeLimit = `${config.workDirSizeMB ?? DEFAULT_WORK_DIR_SIZE_MB}Mi`;
  const tokenFile = spec.runTokenDelivery === "file";

  const keyed = spec.files.map((file, i) => ({ file, key: `f${i}` }));
  const payloadBytes = keyed.reduce((sum, { file, key }) => sum + key.length + fileBytes(file), 0);
  const payload: "none" | "configmap" | "api" =
    submission !== null
      ? "api"
      : spec.files.length === 0
        ? "none"
        : payloadBytes <= maxPayload
          ? "configmap"
          : "api";
  const annotations: Record<string, string> = {
    [GANTRY_ANNOTATIONS.owner]: owner,
    [GANTRY_ANNOTATIONS.runId]: runId,
    [GANTRY_ANNOTATIONS.payload]: payload,
    [GANTRY_ANNOTATIONS.outputBytes]: String(spec.limits.outputBytes),
  };
  const meta = (): KubeObject["metadata"] => ({
    name,
    namespace,
    labels: { ...labels },
    annotations: { ...annotations },
  });

  const secret: KubeObject = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(),
    type: "Opaque",
    immutable: true,
    data: { [RUN_TOKEN_KEY]: Buffer.from(runToken, "utf8").toString("base64") },
  };

  let configMap: KubeObject | null = null;
  if (payload === "configmap") {
    const data: Record<string, string> = {};
    const binaryData: Record<string, string> = {};
    for (const { file, key } of keyed) {
      if (file.encoding === "base64") binaryData[key] = canonicalBase64(file.content);
      else data[key] = file.content;
    }
    configMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta(),
      immutable: true,
      ...(Object.keys(data).length > 0 ? { data } : {}),
      ...(Object.keys(binaryData).length > 0 ? { binaryData } : {}),
    };
  }

  const gantryEnv: Record<string, string> = {
    GANTRY_RUN_ID: runId,
    GANTRY_ATTEMPT: String(attempt),
    GANTRY_API_URL: config.apiUrl,
    GANTRY_PAYLOAD: payload,
  };
  if (payload === "api")
    gantryEnv.GANTRY_PAYLOAD_URL = `${config.apiUrl.replace(/\/+$/, "")}/v1/internal/runs/${encodeURIComponent(runId)}/payload`;
  const userEnv = Object.entries(spec.env).filter(([k]) => !k.startsWith(RESERVED_ENV_PREFIX));
  const defaults = Object.entries({ HOME: WORK_DIR, TMPDIR: "/tmp" }).filter(([k]) => !(k in spec.env));
  if (tokenFile) gantryEnv.GANTRY_RUN_TOKEN_FILE = RUN_TOKEN_FILE;
  const env: unknown[] = [
    ...[...defaults, ...userEnv].map(([k, v]) => ({ name: k, value: escapeKubeExpansion(v) })),
    ...Object.entries(gantryEnv).map(([k, v]) => ({ name: k, value: escapeKubeExpansion(v) })),
    ...(tokenFile
      ? []
      : ["GANTRY_RUN_TOKEN", ...(spec.runTokenEnv === undefined ? [] : [spec.runTokenEnv])].map((env) => ({
          name: env,
          valueFrom: { secretKeyRef: { name, key: RUN_TOKEN_KEY, optional: false } },
        }))),
  ];

  const cpu = cpuResources(spec.limits, config.maxCpuMillis);
  const memory = `${spec.limits.memoryMB}Mi`;
  const image = spec.image ?? config.defaultImage;
  const pullPolicy = config.imagePullPolicy === undefined ? {} : { imagePullPolicy: config.imagePullPolicy };
  // A fresh object per container: a caller that edits one container's must not edit the other's.
  const securityContext = () => ({
    runAsNonRoot: true,
    runAsUser: config.runAsUser,
    runAsGroup: config.runAsUser,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  const volumeMounts: unknown[] = [
    { name: "work", mountPath: WORK_DIR },
    { name: "tmp", mountPath: "/tmp" },
    ...(payload === "configmap"
      ? keyed.map(({ file, key }) => ({
          name: "files",
          mountPath: `${WORK_DIR}/${file.path}`,
          subPath: key,
          readOnly: true,
        }))
      : []),
  ];
  const volumes: unknown[] = [
    { name: "work", emptyDir: { sizeLimit } },
    { name: "tmp", emptyDir: { sizeLimit } },
    ...(tokenFile
      ? [
          {
            name: "run-token",
            secret: {
              secretName: name,
              optional: false,
              defaultMode: 0o440,
              items: [{ key: RUN_TOKEN_KEY, path: RUN_TOKEN_KEY }],
            },
          },
        ]
      : []),
    ...(payload === "configmap"
      ? [
          {
            name: "files",
            configMap: {
              name,
              optional: false,
              defaultMode: 0o444,
              items: keyed.map(({ file, key }) => ({
                key,
                path: key,
                mode: file.executable === true ? 0o555 : 0o444,
              })),
            },
          },
        ]
      : []),
  ];

  const container = {
    name: CONTAINER_NAME,
    image,
    ...pullPolicy,
    command: spec.command.map(escapeKubeExpansion),
    workingDir: WORK_DIR,
    env,
    resources: {
      requests: { cpu: cpu.request, memory },
      limits: { cpu: cpu.limit, memory },
    },
    securityContext: securityContext(),
    volumeMounts,
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  // Runs before the main container and exits; the pod's effective request is the larger of the two.
  const tokenInit = {
    name: TOKEN_INIT_CONTAINER_NAME,
    image,
    ...pullPolicy,
    command: [
      SANDBOX_RUNNER_NODE,
      "-e",
      COPY_TOKEN_SCRIPT,
      `${RUN_TOKEN_MOUNT}/${RUN_TOKEN_KEY}`,
      RUN_TOKEN_FILE,
    ].map(escapeKubeExpansion),
    workingDir: WORK_DIR,
    env: [{ name: "HOME", value: WORK_DIR }],
    resources: {
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { cpu: "1", memory: "128Mi" },
    },
    securityContext: securityContext(),
    volumeMounts: [
      { name: "work", mountPath: WORK_DIR },
      { name: "run-token", mountPath: RUN_TOKEN_MOUNT, readOnly: true },
    ],
    terminationMessagePolicy: "FallbackToLogsOnError",
  };

  const job: KubeObject = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta(),
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      activeDeadlineSeconds: spec.limits.wallSeconds,
      ttlSecondsAfterFinished: config.ttlSecondsAfterFinished,
      template: {
        metadata: {
          labels: { ...labels },
          annotations: {
            ...input.podAnnotations,
            ...annotations,
            "kubectl.kubernetes.io/default-container": CONTAINER_NAME,
          },
        },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          hostNetwork: false,
          hostPID: false,
          hostIPC: false,
          terminationGracePeriodSeconds: 5,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: config.runAsUser,
            runAsGroup: config.runAsUser,
            fsGroup: config.runAsUser,
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(tokenFile ? { initContainers: [tokenInit] } : {}),
          containers: [container],
          volumes,
        },
      },
    },
  };
  return { name, job, secret, configMap };
}

/**
 * The grading spec of a `submission` workload, checked for what the template relies on: it is the
 * runner's payload, fetched from the API, so the spec carries no files of its own to mount.
 */
function submissionOf(spec: JobSpec): NonNullable<JobSpec["submission"]> {
  const submission = spec.submission;
  if (submission === undefined)
    throw new GantryError("GANTRY_ERR_VALIDATION", ["a workload of kind submission has no submission spec"]);
  if (spec.files.length > 0)
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      "a submission's sources travel in its payload; its spec must hold no files to mount",
    ]);
  return submission;
}

/**
 * The object with an ownerReference to its Job, so the garbage collector deletes it with the Job
 * (cancel's Background deletion and the TTL controller's alike). `controller: false`: the Job
 * controller manages pods, not these. `blockOwnerDeletion: false`: setting it true needs `update`
 * on `jobs/finalizers` where OwnerReferencesPermissionEnforcement is on, which Gantry's Role does
 * not grant; and nothing needs the Job's foreground deletion to wait for a Secret.
 */
export function ownedBy(obj: KubeObject, job: { metadata: { name: string; uid: string } }): KubeObject {
  const ref = {
    apiVersion: "batch/v1",
    kind: "Job",
    name: job.metadata.name,
    uid: job.metadata.uid,
    controller: false,
    blockOwnerDeletion: false,
  };
  const others = (obj.metadata.ownerReferences ?? []).filter(
    (r) => !(typeof r === "object" && r !== null && (r as { uid?: unknown }).uid === job.metadata.uid),
  );
  return { ...obj, metadata: { ...obj.metadata, ownerReferences: [...others, ref] } };
}
