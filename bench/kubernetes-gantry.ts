/**
 * The Gantry under test of bench/kubernetes.ts, in a process of its own so that its memory is its
 * own: store, dispatcher, KubernetesExecutor and HTTP API wired as src/server/gantry-server.ts
 * wires them (the executor started before the dispatcher, the API nudging the dispatcher), except
 * that the executor gets pod annotations: the test cluster's fake pods start and run for as long as
 * `gantry.dev/test-start-delay` and `gantry.dev/test-run-duration` say (default 0 s and 1 s), and
 * startGantry has no option for that. Each run picks them with the env variables
 * BENCH_START_DELAY and BENCH_RUN_DURATION of its spec.
 *
 * Started by the parent with fork() and settings as JSON in argv[2]; it answers requests over IPC
 * (see GantryRequest) and reads the store for the parent, which cannot open a PGlite data
 * directory itself.
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import pino from "pino";
import type { RunState } from "../src/core/run-state.ts";
import { KubernetesExecutor } from "../src/executors/kubernetes/kubernetes-executor.ts";
import { loadServerConfig } from "../src/server/config.ts";
import { Dispatcher } from "../src/server/dispatcher.ts";
import { buildApi } from "../src/server/http/app.ts";
import { GantryMetrics } from "../src/server/http/health-routes.ts";
import { RunWatcher } from "../src/server/run-watcher.ts";
import { generateToken, hashToken } from "../src/server/tokens.ts";
import { openStore } from "../src/store/open-store.ts";

export interface GantrySettings {
  kubeconfigPath: string;
  namespace: string;
  /** Postgres database, or else a PGlite data directory. */
  databaseUrl?: string;
  dataDir?: string;
  qps: number;
  burst: number;
  maxActiveRuns: number;
}

/** Parent → child. */
export type GantryRequest =
  | { id: number; type: "memory" }
  | { id: number; type: "counts" }
  /** When each run first reached each state, and its attempt now. */
  | { id: number; type: "reached"; runIds: string[] }
  /** How often each warning or error was logged (nothing is printed). */
  | { id: number; type: "warnings" }
  | { id: number; type: "stop" };

/** Child → parent: `ready` once, then one reply per request. */
export type GantryMessage =
  | { type: "ready"; url: string; token: string }
  | { type: "reply"; id: number; value: unknown }
  | { type: "error"; id: number; message: string };

export interface ReachedAt {
  /** Epoch ms of the first event into each state. */
  at: Partial<Record<RunState, number>>;
  attempt: number;
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? "") as GantrySettings;
  const send = (m: GantryMessage) => process.send?.(m);
  // Silent, but warnings and errors are counted by message, so that trouble shows in the report.
  const warnings: Record<string, number> = {};
  const logger = pino(
    { level: "warn" },
    {
      write(line: string) {
        const { msg, message } = JSON.parse(line) as { msg?: string; message?: string };
        const key = `${msg ?? "?"}${message === undefined ? "" : `: ${message.slice(0, 120)}`}`;
        warnings[key] = (warnings[key] ?? 0) + 1;
      },
    },
  );
  const config = loadServerConfig({ GANTRY_DATA_DIR: settings.dataDir ?? "/nonexistent" });
  const store = await openStore(
    settings.databaseUrl !== undefined
      ? { databaseUrl: settings.databaseUrl }
      : { dataDir: settings.dataDir },
  );
  const token = generateToken("api");
  await store.createApiToken({ name: "bench", role: "admin", owner: "bench", tokenHash: hashToken(token) });

  const metrics = new GantryMetrics(store);
  const dispatcher = new Dispatcher({
    store,
    logger,
    maxActiveRuns: settings.maxActiveRuns,
    maxActivePerOwner: settings.maxActiveRuns,
    publicUrl: "http://gantry.invalid",
    reconcileIntervalMs: config.reconcileIntervalSeconds * 1000,
    deleteOrphans: config.deleteOrphans,
    onReconciled: (report) => metrics.observeReconcile(report),
    onDispatched: (_claimed, seconds) => metrics.dispatchLatency.observe(seconds),
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(settings.kubeconfigPath);
  const executor = new KubernetesExecutor({
    kubeConfig,
    sink: dispatcher.recorder,
    runConfig: {
      namespace: settings.namespace,
      defaultImage: "registry.invalid/gantry-runner:bench",
      ttlSecondsAfterFinished: 600,
      runAsUser: 65532,
      apiUrl: "",
    },
    qps: settings.qps,
    burst: settings.burst,
    podAnnotations: (r) => benchPodAnnotations(r.spec.env),
    logger,
  });
  // As startGantry: access checked first, the executor started by the dispatcher once it leads.
  await executor.checkAccess();
  await dispatcher.start(executor);
  const watcher = new RunWatcher(store);
  await watcher.start();
  const app = await buildApi({
    store,
    watcher,
    metrics,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    defaultLimits: config.defaultLimits,
    maxLimits: config.maxLimits,
    onRunCreated: () => dispatcher.nudge(),
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });

  const stop = async () => {
    await app.close();
    await watcher.stop();
    await dispatcher.stop();
    await executor.shutdown();
    await store.close();
  };
  const answer = async (req: GantryRequest): Promise<unknown> => {
    switch (req.type) {
      case "memory":
        // After a full collection heapUsed is live data; RSS is what the machine pays.
        globalThis.gc?.();
        return process.memoryUsage();
      case "counts":
        return store.countRunsByState();
      case "reached": {
        const out: Record<string, ReachedAt> = {};
        for (const runId of req.runIds) {
          const events = await store.listRunEvents(runId);
          const at: ReachedAt["at"] = {};
          for (const e of events) at[e.to] ??= e.at.getTime();
          out[runId] = { at, attempt: events.at(-1)?.attempt ?? 1 };
        }
        return out;
      }
      case "warnings":
        return warnings;
      case "stop":
        await stop();
        return null;
    }
  };
  process.on("message", (req: GantryRequest) => {
    answer(req).then(
      (value) => {
        send({ type: "reply", id: req.id, value });
        if (req.type === "stop") process.disconnect();
      },
      (err: unknown) =>
        send({ type: "error", id: req.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
  send({ type: "ready", url, token });
}

/** True when this module is the program node was started with, not an import. */
export function isEntry(moduleUrl: string): boolean {
  const main = process.argv[1];
  return main !== undefined && pathToFileURL(resolve(main)).href === moduleUrl;
}

/** How a bench run's fake pod behaves: Go durations, carried in the run's env (see header). */
export interface PodTiming {
  /** Pending on its node this long before Running. */
  startDelay: string;
  /** Then Running this long before it succeeds. */
  runDuration: string;
}

/** The body of POST /v1/runs for a bench run (normalizeJobSpec turns it into the same spec). */
export function jobRequest(t: PodTiming) {
  return {
    command: ["grade"],
    env: { BENCH_START_DELAY: t.startDelay, BENCH_RUN_DURATION: t.runDuration },
    limits: { wallSeconds: 1800 },
  };
}

/** kwok's steering annotations (test/k8s/README.md) for a run's env; default: held pending 30 min. */
export function benchPodAnnotations(env: Record<string, string>): Record<string, string> {
  return {
    "gantry.dev/test-start-delay": env.BENCH_START_DELAY ?? "30m",
    "gantry.dev/test-run-duration": env.BENCH_RUN_DURATION ?? "30m",
  };
}

// Only as the forked program: bench/kubernetes.ts and kubernetes-plain.ts import from this file.
if (isEntry(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
