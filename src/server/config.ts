/**
 * The one config loader of the server. Everything comes from environment variables (documented in
 * README.md and in `CONFIG_VARS` below, which `gantry up --help` prints); each bad value is
 * refused with the variable's name, what it got and what it accepts.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { GantryError } from "../core/errors.ts";
import { LLM_REVIEW_MODES, type LlmReviewMode } from "../core/llm-review.ts";
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
  /** The LLM endpoint: Gantry's own reviews (server side) and what the Cloudemy runner is handed. */
  llm: LlmConfig;
}

export interface LlmConfig {
  /** GANTRY_LLM_REVIEW: which Gantry-graded submissions get a review. */
  mode: LlmReviewMode;
  /** OpenAI-compatible API root; `${baseUrl}/chat/completions` is called. */
  baseUrl: string;
  /** Secret: sent only to baseUrl (and in the Cloudemy runner's env, its contract); never stored
   * in a spec, a payload or the env of Gantry's runner. Undefined: no Authorization header. */
  apiKey: string | undefined;
  model: string;
  timeoutMs: number;
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
  [
    "GANTRY_LLM_REVIEW",
    "LLM review of graded submissions: request (those with llmReview, default), always, or off (those asking get the tag llm_disabled)",
  ],
  ["LLM_BASE_URL", "OpenAI-compatible API the server asks for reviews (default https://api.openai.com/v1)"],
  [
    "LLM_API_KEY",
    "key for LLM_BASE_URL (default none); also handed to the Cloudemy runner; never enters Gantry's sandboxes",
  ],
  [
    "LLM_API_KEY_FILE",
    "file holding LLM_API_KEY (e.g. a mounted Secret), read at start; not with LLM_API_KEY",
  ],
  ["LLM_MODEL", "model of reviews and of the Cloudemy runner (default gpt-4o-mini)"],
  ["LLM_TIMEOUT_MS", "how long one review may take, ms (default 30000)"],
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
  const llm = llmConfig(env);
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
    cloudemy: cloudemyConfig(env, executor, env.GANTRY_RUNS_API_URL ?? publicUrl, llm),
    llm,
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
  /** `llm.apiKey` (or empty), as the runner's contract wants it. */
  llmApiKey: string;
  /** `llm.model`. */
  llmModel: string;
}

function cloudemyConfig(
  env: NodeJS.ProcessEnv,
  executor: string,
  workloadApiUrl: string,
  llm: LlmConfig,
): CloudemyConfig {
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
    llmApiKey: llm.apiKey ?? "",
    llmModel: llm.model,
  };
}

function llmConfig(env: NodeJS.ProcessEnv): LlmConfig {
  const set = (name: string) => env[name] !== undefined && env[name] !== "";
  const mode = set("GANTRY_LLM_REVIEW") ? (env.GANTRY_LLM_REVIEW as string) : "request";
  if (!(LLM_REVIEW_MODES as readonly string[]).includes(mode))
    throw configError("GANTRY_LLM_REVIEW", mode.slice(0, 100), "off, request or always");
  const baseUrl = set("LLM_BASE_URL") ? (env.LLM_BASE_URL as string) : "https://api.openai.com/v1";
  if (!isHttpUrl(baseUrl))
    throw configError("LLM_BASE_URL", baseUrl.slice(0, 200), "an http:// or https:// URL with a host");
  if (set("LLM_API_KEY") && set("LLM_API_KEY_FILE"))
    throw configError(
      "LLM_API_KEY_FILE",
      env.LLM_API_KEY_FILE as string,
      "unset when LLM_API_KEY is set (one key)",
    );
  let apiKey = set("LLM_API_KEY") ? (env.LLM_API_KEY as string).trim() : undefined;
  if (set("LLM_API_KEY_FILE")) {
    const file = env.LLM_API_KEY_FILE as string;
    try {
      apiKey = readFileSync(file, "utf8").trim();
    } catch (err) {
      throw configError(
        "LLM_API_KEY_FILE",
        file,
        `a readable file (${(err as NodeJS.ErrnoException).code ?? "unreadable"})`,
      );
    }
    if (apiKey === "") throw configError("LLM_API_KEY_FILE", file, "a file holding the key (it is empty)");
  }
  // It goes into an HTTP header: one token of visible ASCII, nothing that could split the header.
  if (apiKey !== undefined && !/^[\x21-\x7e]{1,4096}$/.test(apiKey))
    throw configError(
      set("LLM_API_KEY_FILE") ? "LLM_API_KEY_FILE" : "LLM_API_KEY",
      "(hidden)",
      "one word of printable ASCII, at most 4096 characters",
    );
  const model = set("LLM_MODEL") ? (env.LLM_MODEL as string) : "gpt-4o-mini";
  if (!/^[\x21-\x7e]{1,200}$/.test(model))
    throw configError("LLM_MODEL", model.slice(0, 100), "a model name of printable ASCII without spaces");
  return {
    mode: mode as LlmReviewMode,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    apiKey,
    model,
    timeoutMs: intVar(env, "LLM_TIMEOUT_MS", 30_000, 100, 600_000),
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function isRedisUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "";
  } catch {
    return false;
  }
}
