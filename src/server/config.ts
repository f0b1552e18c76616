/**
 * The one config loader of the server. Everything comes from environment variables (documented in
 * README.md and in `CONFIG_VARS` below, which `gantry up --help` prints); each bad value is
 * refused with the variable's name, what it got and what it accepts.
 */

import { createHash } from "node:crypto";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { GantryError } from "../core/errors.ts";
import { DEFAULT_LIMITS, MAX_LIMITS, type Limits } from "../core/workload.ts";

export interface ServerConfig {
  host: string;
  port: number;
  /** Holds the embedded database, sandbox work directories and the CLI credentials file. */
  dataDir: string;
  /**
   * Where sandboxes get their per-attempt work directories. Outside dataDir on purpose: the
   * sandbox runs as an unprivileged uid that must be able to reach it, and home directories
   * (root's in particular) are often closed to other users.
   */
  workDir: string;
  /** Postgres URL; when absent, PGlite in `${dataDir}/db`. */
  databaseUrl: string | undefined;
  executor: "local" | "kubernetes";
  /** Settings of the Kubernetes executor; null with the local one. */
  kubernetes: KubernetesExecutorConfig | null;
  /** Runs in dispatching/pending/running at once, all owners. */
  maxActiveRuns: number;
  maxActivePerOwner: number;
  /** How often the dispatcher reconciles the store with the executor, seconds (0: at start only). */
  reconcileIntervalSeconds: number;
  /** Delete executor resources that belong to no run, instead of only reporting them. */
  deleteOrphans: boolean;
  allowUnsandboxed: boolean;
  /** URL a workload uses to reach the API (payload, result). */
  publicUrl: string;
  /** A fixed admin token to install at start (production); otherwise one is generated on first start. */
  bootstrapAdminToken: string | undefined;
  bodyLimitBytes: number;
  defaultLimits: Limits;
  maxLimits: Limits;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  roles: { api: boolean; dispatcher: boolean };
  /** The Cloudemy API's runner settings (README "Cloudemy compatibility"). */
  cloudemy: CloudemyConfig;
}

export interface KubernetesExecutorConfig {
  /** Kubeconfig file; undefined: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfigPath: string | undefined;
  namespace: string;
  defaultImage: string;
  jobTtlSeconds: number;
  imagePullGraceSeconds: number;
  runAsUser: number;
  /** Gantry's API as pods reach it. */
  runsApiUrl: string;
  qps: number;
  burst: number;
  /** Most unfinished Gantry Jobs in the runs namespace at once; 0: none besides maxActiveRuns. */
  maxActiveJobs: number;
}

export const CONFIG_VARS: readonly [name: string, meaning: string][] = [
  ["GANTRY_HOST", "address the API listens on (default 127.0.0.1)"],
  ["GANTRY_PORT", "API port (default 8080; 0 picks a free port)"],
  ["GANTRY_DATA_DIR", "embedded database, sandbox work dirs, CLI credentials (default ~/.gantry)"],
  ["GANTRY_WORK_DIR", "per-run sandbox work directories (default $TMPDIR/gantry-work-<hash of data dir>)"],
  ["DATABASE_URL", "postgres://… to use PostgreSQL instead of the embedded PGlite"],
  ["GANTRY_EXECUTOR", "local (bubblewrap sandbox, default) or kubernetes (runs as Jobs)"],
  ["GANTRY_KUBECONFIG", "kubernetes: kubeconfig file (default KUBECONFIG, ~/.kube/config, or in-cluster)"],
  ["GANTRY_RUNS_NAMESPACE", "kubernetes: namespace of the run Jobs (default gantry-runs)"],
  ["GANTRY_DEFAULT_IMAGE", "kubernetes: image of runs that name none (required)"],
  ["GANTRY_JOB_TTL_SECONDS", "kubernetes: ttlSecondsAfterFinished of run Jobs (default 3600)"],
  [
    "GANTRY_IMAGE_PULL_GRACE_SECONDS",
    "kubernetes: how long an image may fail to pull before the run fails (default 120)",
  ],
  ["GANTRY_RUN_AS_USER", "kubernetes: non-root uid of run pods (default 65532)"],
  ["GANTRY_RUNS_API_URL", "kubernetes: Gantry's API as run pods reach it (default GANTRY_PUBLIC_URL)"],
  ["GANTRY_KUBE_QPS", "kubernetes: client requests per second (default 50; burst GANTRY_KUBE_BURST, 100)"],
  [
    "GANTRY_KUBE_MAX_JOBS",
    "kubernetes: most unfinished Gantry Jobs in the runs namespace at once, whoever made them (default 0: no cap besides GANTRY_MAX_ACTIVE_RUNS)",
  ],
  ["GANTRY_MAX_ACTIVE_RUNS", "runs executing at once (default 4)"],
  ["GANTRY_MAX_ACTIVE_PER_OWNER", "runs executing at once per owner (default: GANTRY_MAX_ACTIVE_RUNS)"],
  [
    "GANTRY_RECONCILE_INTERVAL_SECONDS",
    "how often lost attempts are re-queued and orphaned Jobs reported (default 30; 0: at start only)",
  ],
  ["GANTRY_DELETE_ORPHANS", "true to delete Gantry Jobs that belong to no run instead of reporting them"],
  ["GANTRY_ALLOW_UNSANDBOXED", "true to run workloads without bubblewrap (unsafe; default false)"],
  ["GANTRY_PUBLIC_URL", "API URL as workloads see it (default http://HOST:PORT)"],
  ["GANTRY_ADMIN_TOKEN", "install this admin token at start instead of generating one"],
  ["GANTRY_BODY_LIMIT_BYTES", "largest accepted request body (default 8388608)"],
  ["GANTRY_LOG_LEVEL", "fatal|error|warn|info|debug|trace|silent (default info)"],
  ["GANTRY_LANGUAGES_FILE", "JSON file of languages for kind submission, added to the built-ins (README)"],
  [
    "REDIS_URL",
    "redis://… for the Cloudemy runner's Redis contract (needed by GANTRY_CLOUDEMY_RUNNER=cloudemy)",
  ],
  [
    "GANTRY_CLOUDEMY_RUNNER",
    "who runs /api/submissions without test cases: gantry (compile-only, default) or cloudemy (the original runner image, with REDIS_URL)",
  ],
  ["GANTRY_CLOUDEMY_RUNNER_IMAGE", "cloudemy: the runner image (default withya61/cloudemy-runner:latest)"],
  [
    "GANTRY_CLOUDEMY_RUNNER_COMMAND",
    "cloudemy: the runner's argv as a JSON array (default []: the image's entrypoint; required with the local executor)",
  ],
  ["LLM_API_KEY", "cloudemy: handed to the Cloudemy runner as LLM_API_KEY (default empty)"],
  ["LLM_MODEL", "cloudemy: handed to the Cloudemy runner as LLM_MODEL (default gpt-4o-mini)"],
  ...(Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]).flatMap((k): [string, string][] => [
    [`GANTRY_DEFAULT_${limitEnvName(k)}`, `default limits.${k} (${DEFAULT_LIMITS[k]})`],
    [`GANTRY_MAX_${limitEnvName(k)}`, `largest limits.${k} a run may ask for (${MAX_LIMITS[k]})`],
  ]),
];

function limitEnvName(key: keyof Limits): string {
  return key.replace(/([A-Z])/g, "_$1").toUpperCase();
}

export function loadServerConfig(
  env: NodeJS.ProcessEnv,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const host = env.GANTRY_HOST ?? "127.0.0.1";
  const port = intVar(env, "GANTRY_PORT", 8080, 0, 65535);
  const maxActiveRuns = intVar(env, "GANTRY_MAX_ACTIVE_RUNS", 4, 1, 100_000);
  const defaultLimits = limitsVar(env, "GANTRY_DEFAULT_", DEFAULT_LIMITS);
  const maxLimits = limitsVar(env, "GANTRY_MAX_", MAX_LIMITS);
  for (const key of Object.keys(defaultLimits) as (keyof Limits)[]) {
    if (defaultLimits[key] > maxLimits[key]) {
      throw configError(
        `GANTRY_DEFAULT_${limitEnvName(key)}`,
        String(defaultLimits[key]),
        `at most GANTRY_MAX_${limitEnvName(key)} (${maxLimits[key]})`,
      );
    }
  }
  const logLevel = env.GANTRY_LOG_LEVEL ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw configError("GANTRY_LOG_LEVEL", logLevel, "one of fatal, error, warn, info, debug, trace, silent");
  }
  const databaseUrl =
    env.DATABASE_URL === undefined || env.DATABASE_URL === "" ? undefined : env.DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw configError("DATABASE_URL", "(hidden)", "a postgres:// or postgresql:// URL");
  }
  const dataDir = resolve(env.GANTRY_DATA_DIR ?? join(homedir(), ".gantry"));
  const executor = env.GANTRY_EXECUTOR ?? "local";
  if (executor !== "local" && executor !== "kubernetes") {
    throw configError("GANTRY_EXECUTOR", executor, "local or kubernetes");
  }
  const publicUrl = env.GANTRY_PUBLIC_URL ?? `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const config: ServerConfig = {
    host,
    port,
    dataDir,
    workDir: resolve(
      env.GANTRY_WORK_DIR ??
        join(tmpdir(), `gantry-work-${createHash("sha256").update(dataDir).digest("hex").slice(0, 10)}`),
    ),
    databaseUrl,
    executor,
    kubernetes: executor === "kubernetes" ? kubernetesConfig(env, publicUrl) : null,
    maxActiveRuns,
    maxActivePerOwner: intVar(env, "GANTRY_MAX_ACTIVE_PER_OWNER", maxActiveRuns, 1, 100_000),
    reconcileIntervalSeconds: intVar(env, "GANTRY_RECONCILE_INTERVAL_SECONDS", 30, 0, 24 * 3600),
    deleteOrphans: boolVar(env, "GANTRY_DELETE_ORPHANS", false),
    allowUnsandboxed: boolVar(env, "GANTRY_ALLOW_UNSANDBOXED", false),
    publicUrl,
    bootstrapAdminToken: env.GANTRY_ADMIN_TOKEN === "" ? undefined : env.GANTRY_ADMIN_TOKEN,
    bodyLimitBytes: intVar(env, "GANTRY_BODY_LIMIT_BYTES", 8 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    defaultLimits,
    maxLimits,
    logLevel: logLevel as ServerConfig["logLevel"],
    roles: { api: true, dispatcher: true },
    cloudemy: cloudemyConfig(env, executor, env.GANTRY_RUNS_API_URL ?? publicUrl),
  };
  return { ...config, ...overrides };
}

function kubernetesConfig(env: NodeJS.ProcessEnv, publicUrl: string): KubernetesExecutorConfig {
  const defaultImage = env.GANTRY_DEFAULT_IMAGE ?? "";
  if (defaultImage === "") {
    throw configError(
      "GANTRY_DEFAULT_IMAGE",
      "(unset)",
      "set with GANTRY_EXECUTOR=kubernetes: the image of runs that name none, e.g. debian:bookworm-slim",
    );
  }
  const namespace = env.GANTRY_RUNS_NAMESPACE ?? "gantry-runs";
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    throw configError(
      "GANTRY_RUNS_NAMESPACE",
      namespace,
      "a DNS-1123 label (lower-case letters, digits, '-')",
    );
  }
  return {
    kubeconfigPath: env.GANTRY_KUBECONFIG === "" ? undefined : env.GANTRY_KUBECONFIG,
    namespace,
    defaultImage,
    jobTtlSeconds: intVar(env, "GANTRY_JOB_TTL_SECONDS", 3600, 0, 30 * 24 * 3600),
    imagePullGraceSeconds: intVar(env, "GANTRY_IMAGE_PULL_GRACE_SECONDS", 120, 0, 24 * 3600),
    runAsUser: intVar(env, "GANTRY_RUN_AS_USER", 65532, 1, 2 ** 31 - 1),
    runsApiUrl: env.GANTRY_RUNS_API_URL ?? publicUrl,
    qps: intVar(env, "GANTRY_KUBE_QPS", 50, 1, 10_000),
    burst: intVar(env, "GANTRY_KUBE_BURST", 100, 1, 100_000),
    maxActiveJobs: intVar(env, "GANTRY_KUBE_MAX_JOBS", 0, 0, 1_000_000),
  };
}

function configError(name: string, got: string, accepts: string): GantryError {
  return new GantryError("GANTRY_ERR_CONFIG", [`${name}=${got}: must be ${accepts}`]);
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw configError(name, raw, `an integer from ${min} to ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw configError(name, raw, `an integer from ${min} to ${max}`);
  return value;
}

function boolVar(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw.toLowerCase())) return true;
  if (["0", "false", "no", "off"].includes(raw.toLowerCase())) return false;
  throw configError(name, raw, "true or false");
}

function limitsVar(env: NodeJS.ProcessEnv, prefix: string, base: Readonly<Limits>): Limits {
  const limits = { ...base };
  for (const key of Object.keys(base) as (keyof Limits)[]) {
    limits[key] = intVar(env, `${prefix}${limitEnvName(key)}`, base[key], 1, Number.MAX_SAFE_INTEGER);
  }
  return limits;
}

export interface CloudemyConfig {
  /** Who runs a Cloudemy submission that has no test cases: Gantry's runner (compile-only) or the
   * original Cloudemy runner image through the Redis contract. */
  runner: "gantry" | "cloudemy";
  /** REDIS_URL; required when `runner` is `cloudemy`. Secret-bearing: never stored in a spec. */
  redisUrl: string | undefined;
  runnerImage: string;
  /** argv of the runner; empty: the image's entrypoint (Kubernetes only). */
  runnerCommand: string[];
  /** BACKEND_INTERNAL_URL handed to the runner: Gantry's API as workloads see it, plus `/api/internal`. */
  backendInternalUrl: string;
  llmApiKey: string;
  llmModel: string;
}

function cloudemyConfig(env: NodeJS.ProcessEnv, executor: string, workloadApiUrl: string): CloudemyConfig {
  const runner =
    env.GANTRY_CLOUDEMY_RUNNER === undefined || env.GANTRY_CLOUDEMY_RUNNER === ""
      ? "gantry"
      : env.GANTRY_CLOUDEMY_RUNNER;
  if (runner !== "gantry" && runner !== "cloudemy")
    throw configError("GANTRY_CLOUDEMY_RUNNER", runner, "gantry or cloudemy");
  const redisUrl = env.REDIS_URL === undefined || env.REDIS_URL === "" ? undefined : env.REDIS_URL;
  if (redisUrl !== undefined && !isRedisUrl(redisUrl))
    throw configError("REDIS_URL", "(hidden)", "a redis:// or rediss:// URL with a host");
  if (runner === "cloudemy" && redisUrl === undefined)
    throw configError(
      "REDIS_URL",
      "(unset)",
      "set with GANTRY_CLOUDEMY_RUNNER=cloudemy: the runner reads submissions from it",
    );
  const rawCommand = env.GANTRY_CLOUDEMY_RUNNER_COMMAND ?? "";
  let runnerCommand: string[] = [];
  if (rawCommand.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawCommand);
    } catch {
      parsed = null;
    }
    if (
      !Array.isArray(parsed) ||
      !parsed.every((a) => typeof a === "string" && a !== "" && !a.includes("\0"))
    )
      throw configError(
        "GANTRY_CLOUDEMY_RUNNER_COMMAND",
        rawCommand.slice(0, 100),
        'a JSON array of non-empty strings, e.g. ["python", "runner.py"]',
      );
    runnerCommand = parsed as string[];
  }
  if (runner === "cloudemy" && executor === "local" && runnerCommand.length === 0)
    throw configError(
      "GANTRY_CLOUDEMY_RUNNER_COMMAND",
      "(unset)",
      "set with the local executor, which has no images and so no entrypoints",
    );
  const runnerImage = env.GANTRY_CLOUDEMY_RUNNER_IMAGE || "withya61/cloudemy-runner:latest";
  return {
    runner,
    redisUrl,
    runnerImage,
    runnerCommand,
    backendInternalUrl: `${workloadApiUrl.replace(/\/+$/, "")}/api/internal`,
    llmApiKey: env.LLM_API_KEY ?? "",
    llmModel: env.LLM_MODEL || "gpt-4o-mini",
  };
}

function isRedisUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "";
  } catch {
    return false;
  }
}
