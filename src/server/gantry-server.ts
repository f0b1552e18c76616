/**
 * Assembles a running Gantry from its config: store → executor → dispatcher → API. `gantry up`
 * calls `startGantry`; tests do too, with a temporary data directory.
 */

import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import pino, { type Logger } from "pino";
import { GantryError } from "../core/errors.ts";
import { SANDBOX_RUNNER_NODE, SANDBOX_RUNNER_PATH } from "../core/submission-spec.ts";
import { LocalExecutor } from "../executors/local/index.ts";
import type { Executor, ExecutorSink } from "../executors/executor.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import type { ServerConfig } from "./config.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { listenInternalSocket } from "./internal-socket.ts";
import { Dispatcher } from "./dispatcher.ts";
import { buildApi } from "./http/app.ts";
import { GantryMetrics } from "./http/health-routes.ts";
import { withCloudemyRunner } from "./cloudemy-runner.ts";
import { buildRunnerBundle, ensureExecOnlyNode } from "./runner-bundle.ts";
import { RunWatcher } from "./run-watcher.ts";
import { generateToken, hashToken } from "./tokens.ts";

export interface RunningGantry {
  url: string;
  store: Store;
  app: FastifyInstance | null;
  dispatcher: Dispatcher | null;
  executor: Executor | null;
  /** The admin token generated at this start (first start only), else null. */
  generatedAdminToken: string | null;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Called with the admin token generated at first start (before listening). */
  onAdminToken?: (token: string, credentialsPath: string) => void;
}

export const CREDENTIALS_FILE = "credentials.json";

export async function startGantry(config: ServerConfig, options: StartOptions = {}): Promise<RunningGantry> {
  const logger = options.logger ?? pino({ level: config.logLevel, name: "gantry" });
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const unlock = config.databaseUrl === undefined ? await lockDataDir(config.dataDir) : async () => {};
  let store: Store;
  try {
    store = await openStore(
      config.databaseUrl === undefined
        ? { dataDir: join(config.dataDir, "db") }
        : { databaseUrl: config.databaseUrl },
    );
  } catch (err) {
    await unlock();
    throw err;
  }
  const openedStore = store;
  const cleanups: (() => Promise<void>)[] = [unlock, () => openedStore.close()];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err: unknown) => logger.error({ err }, "shutdown step failed"));
    }
  };
  try {
    const generatedAdminToken = await ensureAdminToken(store, config, logger);
    const metrics = new GantryMetrics(store);
    let dispatcher: Dispatcher | null = null;
    let executor: Executor | null = null;
    let app: FastifyInstance | null = null;
    // Local sandboxes have no network: with the API in this process, they reach it through a socket.
    let apiSocket: string | undefined;
    if (config.roles.dispatcher && config.roles.api && config.executor === "local") {
      apiSocket = join(config.workDir, ".api", "api.sock");
      const socket = await listenInternalSocket(apiSocket, () => {
        const ready = app;
        return ready === null ? null : (req, res) => ready.routing(req, res);
      });
      cleanups.push(() => socket.close());
    }
    if (config.roles.dispatcher) {
      dispatcher = new Dispatcher({
        store,
        logger,
        maxActiveRuns: config.maxActiveRuns,
        maxActivePerOwner: config.maxActivePerOwner,
        publicUrl: config.publicUrl,
        reconcileIntervalMs: config.reconcileIntervalSeconds * 1000,
        deleteOrphans: config.deleteOrphans,
        onReconciled: (report) => metrics.observeReconcile(report),
        onDispatched: (_claimed, seconds) => metrics.dispatchLatency.observe(seconds),
      });
      const startedExecutor = withCloudemyRunner(
        await startExecutor(config, dispatcher.recorder, logger, apiSocket),
        config.cloudemy,
        logger,
      );
      const startedDispatcher = dispatcher;
      cleanups.push(() => startedExecutor.shutdown());
      cleanups.push(() => startedDispatcher.stop());
      await dispatcher.start(startedExecutor);
      executor = startedExecutor;
    }
    let url = config.publicUrl;
    if (config.roles.api) {
      const watcher = new RunWatcher(store);
      await watcher.start();
      cleanups.push(() => watcher.stop());
      const startedDispatcher = dispatcher;
      app = await buildApi({
        store,
        watcher,
        metrics,
        logger,
        bodyLimitBytes: config.bodyLimitBytes,
        defaultLimits: config.defaultLimits,
        maxLimits: config.maxLimits,
        cloudemy: config.cloudemy,
        llm: config.llm,
        liveLogs: executor,
        ...(startedDispatcher === null ? {} : { onRunCreated: () => startedDispatcher.nudge() }),
      });
      const startedApp = app;
      cleanups.push(() => startedApp.close());
      url = await app.listen({ host: config.host, port: config.port });
    }
    if (generatedAdminToken !== null) {
      const path = await saveCredentials(config.dataDir, url, generatedAdminToken);
      options.onAdminToken?.(generatedAdminToken, path);
    }
    return { url, store, app, dispatcher, executor, generatedAdminToken, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The configured executor: the local one started (its start checks the sandbox); the Kubernetes one
 * checked (cluster reachable, permissions granted) and left for the dispatch leader to start.
 */
async function startExecutor(
  config: ServerConfig,
  sink: ExecutorSink,
  logger: Logger,
  apiSocket: string | undefined,
): Promise<Executor> {
  if (config.kubernetes !== null) {
    const k = config.kubernetes;
    // Loaded only when used: the local default starts without the Kubernetes client.
    const { createKubernetesExecutor } = await import("../executors/kubernetes/index.ts");
    const kubernetes = createKubernetesExecutor({
      sink,
      ...(k.kubeconfigPath === undefined ? {} : { kubeconfigPath: k.kubeconfigPath }),
      namespace: k.namespace,
      defaultImage: k.defaultImage,
      ttlSecondsAfterFinished: k.jobTtlSeconds,
      runAsUser: k.runAsUser,
      apiUrl: k.runsApiUrl,
      imagePullGraceSeconds: k.imagePullGraceSeconds,
      qps: k.qps,
      burst: k.burst,
      maxActiveJobs: k.maxActiveJobs,
      logger,
    });
    // Checked now, so a misconfigured process fails at once; started by the dispatcher when it leads.
    await kubernetes.checkAccess();
    return kubernetes;
  }
  const runnerDir = join(config.workDir, ".runner");
  const [runnerBundle, runnerNode] = [
    await buildRunnerBundle(runnerDir),
    await ensureExecOnlyNode(runnerDir),
  ];
  const local = new LocalExecutor({
    workRoot: config.workDir,
    sink,
    // The store's caps decide; headroom lets cancelled attempts drain while new ones start.
    maxConcurrent: config.maxActiveRuns + 8,
    allowUnsandboxed: config.allowUnsandboxed,
    logger,
    ...(apiSocket === undefined ? {} : { apiSocket }),
    // The runner of kind `submission`, bundled into one file, under an execute-only Node.
    readOnlyBinds: [
      { source: runnerBundle, target: SANDBOX_RUNNER_PATH },
      { source: runnerNode, target: SANDBOX_RUNNER_NODE },
    ],
  });
  await local.start();
  return local;
}

/**
 * With no API token in the store, installs GANTRY_ADMIN_TOKEN or generates an admin token and
 * returns it (to be shown once). Returns null when tokens already exist.
 */
async function ensureAdminToken(store: Store, config: ServerConfig, logger: Logger): Promise<string | null> {
  if (config.bootstrapAdminToken !== undefined) {
    if (!/^gty_[A-Za-z0-9_-]{20,}$/.test(config.bootstrapAdminToken)) {
      throw new GantryError("GANTRY_ERR_CONFIG", [
        "GANTRY_ADMIN_TOKEN must look like gty_ followed by 20+ URL-safe characters",
      ]);
    }
    const hash = hashToken(config.bootstrapAdminToken);
    if ((await store.findApiTokenByHash(hash)) === null) {
      await store.createApiToken({ name: "bootstrap-admin", role: "admin", owner: "admin", tokenHash: hash });
      logger.info("installed the admin token from GANTRY_ADMIN_TOKEN");
    }
    return null;
  }
  if ((await store.countApiTokens()) > 0) return null;
  const token = generateToken("api");
  await store.createApiToken({ name: "admin", role: "admin", owner: "admin", tokenHash: hashToken(token) });
  return token;
}

async function saveCredentials(dataDir: string, url: string, token: string): Promise<string> {
  const path = join(dataDir, CREDENTIALS_FILE);
  await writeFile(path, JSON.stringify({ url, token }, null, 2) + "\n", { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}
