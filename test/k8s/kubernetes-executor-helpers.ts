// Shared pieces of the KubernetesExecutor tests: a recording sink, launch requests, an executor
// bound to a fresh namespace whose fake pods are steered per run by test annotations, and Gantry's
// dispatcher with a KubernetesExecutor on a store, assembled as gantry-server.ts does.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { TestContext } from "node:test";
import pino, { type Logger } from "pino";
import type {
  AttemptUpdate,
  ExecutorLogLine,
  ExecutorSink,
  LaunchRequest,
} from "../../src/executors/executor.ts";
import {
  KubernetesExecutor,
  type KubernetesExecutorOptions,
} from "../../src/executors/kubernetes/kubernetes-executor.ts";
import { DEFAULT_LIMITS, type JobSpec, type Run } from "../../src/core/workload.ts";
import { jobName, type KubernetesRunConfig } from "../../src/core/kubernetes-objects.ts";
import { DEFAULT_RETRY_POLICY } from "../../src/core/run-state.ts";
import { Dispatcher, type DispatcherOptions } from "../../src/server/dispatcher.ts";
import type { ClaimedRun, NewRun, Store } from "../../src/store/store.ts";
import { createTestNamespace, kubeRequest, useTestCluster, waitFor } from "./harness.ts";

export type Recorded = { kind: "update"; update: AttemptUpdate } | { kind: "log"; line: ExecutorLogLine };

export interface RecordingSink extends ExecutorSink {
  readonly events: Recorded[];
  updates(runId?: string): AttemptUpdate[];
  lines(runId?: string): ExecutorLogLine[];
  /** Waits for an update of the run in this state. */
  waitForState(runId: string, state: AttemptUpdate["state"], timeoutMs?: number): Promise<AttemptUpdate>;
}

export function recordingSink(): RecordingSink {
  const events: Recorded[] = [];
  const updates = (runId?: string) =>
    events.flatMap((e) =>
      e.kind === "update" && (runId === undefined || e.update.runId === runId) ? [e.update] : [],
    );
  return {
    events,
    async update(update) {
      events.push({ kind: "update", update });
    },
    log(line) {
      events.push({ kind: "log", line });
    },
    updates,
    lines: (runId) =>
      events.flatMap((e) =>
        e.kind === "log" && (runId === undefined || e.line.runId === runId) ? [e.line] : [],
      ),
    waitForState(runId, state, timeoutMs = 20_000) {
      return waitFor(
        `run ${runId} to be reported ${state} (so far: ${JSON.stringify(updates(runId))})`,
        async () => updates(runId).find((u) => u.state === state),
        { timeoutMs, intervalMs: 50 },
      );
    },
  };
}

export function spec(overrides: Partial<JobSpec> = {}, limits: Partial<JobSpec["limits"]> = {}): JobSpec {
  return {
    command: ["grade"],
    env: {},
    files: [],
    ...overrides,
    limits: { ...DEFAULT_LIMITS, wallSeconds: 60, ...limits },
  };
}

export function request(jobSpec: JobSpec = spec(), runId: string = randomUUID(), attempt = 1): LaunchRequest {
  return {
    runId,
    attempt,
    owner: "alice",
    spec: jobSpec,
    runToken: `run_${randomUUID()}`,
    apiUrl: "http://gantry.invalid",
  };
}

export interface ExecutorFixture {
  kc: KubeConfig;
  namespace: string;
  sink: RecordingSink;
  executor: KubernetesExecutor;
  /** Pod annotations per run id (kwok's test annotations). */
  annotations: Map<string, Record<string, string>>;
  /** Another executor on the same namespace (a restarted Gantry); shut down after the test. */
  another(options?: Partial<KubernetesExecutorOptions>): KubernetesExecutor;
  podOf(runId: string, attempt?: number): Promise<V1Pod>;
  jobExists(runId: string, attempt?: number): Promise<boolean>;
}

export async function executorFixture(
  t: TestContext,
  prefix: string,
  options: Partial<KubernetesExecutorOptions> = {},
): Promise<ExecutorFixture> {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, prefix);
  t.after(() => ns.cleanup());
  const annotations = new Map<string, Record<string, string>>();
  const executors: KubernetesExecutor[] = [];
  t.after(async () => {
    for (const e of executors) await e.shutdown();
  });
  const make = (sink: ExecutorSink, extra: Partial<KubernetesExecutorOptions> = {}) => {
    const e = new KubernetesExecutor({
      kubeConfig: kc,
      sink,
      runConfig: {
        namespace: ns.name,
        defaultImage: "registry.invalid/gantry-runner:test",
        ttlSecondsAfterFinished: 600,
        runAsUser: 65532,
        apiUrl: "http://gantry.invalid",
      },
      imagePullGraceMs: 60_000,
      podAnnotations: (r) => annotations.get(r.runId),
      watchRetryBaseMs: 100,
      ...options,
      ...extra,
    });
    executors.push(e);
    return e;
  };
  const sink = recordingSink();
  const executor = make(sink);
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  return {
    kc,
    namespace: ns.name,
    sink,
    executor,
    annotations,
    another: (extra) => make(extra?.sink ?? recordingSink(), extra),
    podOf: (runId, attempt = 1) =>
      waitFor(`the pod of ${runId}`, async () => {
        const pods = await core.listNamespacedPod({
          namespace: ns.name,
          labelSelector: `job-name=${jobName(runId, attempt)}`,
        });
        return pods.items.find((p) => p.spec?.nodeName);
      }),
    async jobExists(runId, attempt = 1) {
      const jobs = await batch.listNamespacedJob({ namespace: ns.name });
      return jobs.items.some((j) => j.metadata?.name === jobName(runId, attempt));
    },
  };
}

/** The tests' logger: silent unless GANTRY_TEST_LOG names a level. */
export function testLogger(): Logger {
  return pino({ level: process.env.GANTRY_TEST_LOG ?? "silent" });
}

/** Queues a job run of alice's (spec() unless overridden), as the API would. */
export function submitJob(store: Store, overrides: Partial<NewRun> = {}): Promise<Run> {
  return store.createRun({
    kind: "job",
    owner: "alice",
    spec: spec(),
    priority: 0,
    retry: DEFAULT_RETRY_POLICY,
    ...overrides,
  });
}

/** Claims the next queued run for the kubernetes executor behind the dispatcher's back. */
export async function claimDirectly(store: Store): Promise<ClaimedRun | undefined> {
  const [claimed] = await store.claimQueuedRuns({
    batch: 1,
    maxActive: 10,
    maxActivePerOwner: 10,
    executor: "kubernetes",
  });
  return claimed;
}

/** Labels a namespace to enforce Pod Security "restricted" (latest), as a hardened cluster would. */
export async function enforceRestrictedPodSecurity(kc: KubeConfig, namespace: string): Promise<void> {
  const labelled = await kubeRequest(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${namespace}`,
    contentType: "application/merge-patch+json",
    body: JSON.stringify({
      metadata: {
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    }),
  });
  assert.equal(labelled.status, 200, labelled.body);
}

export interface GantryOptions {
  kc: KubeConfig;
  namespace: string;
  store: Store;
  /** For the dispatcher and the executor (default testLogger()). */
  logger?: Logger;
  /** Over the defaults: maxActiveRuns and maxActivePerOwner 10, publicUrl http://gantry.invalid,
   * pollIntervalMs 200. */
  dispatcher?: Partial<DispatcherOptions>;
  /** Over the run config's defaults: registry.invalid/gantry-runner:test, a TTL of 600 s, uid 65532,
   * no API URL. */
  runConfig?: Partial<KubernetesRunConfig>;
  /** Over the executor's options (kubeConfig kc, sink the dispatcher's recorder, the logger). */
  executor?: Partial<KubernetesExecutorOptions>;
  /** Builds the executor instead (e.g. executorFixture().another); the sink is the dispatcher's. */
  createExecutor?: (sink: ExecutorSink) => KubernetesExecutor;
  /** start() starts the executor itself before the dispatcher does (default false). */
  executorFirst?: boolean;
}

export interface DispatchingGantry {
  dispatcher: Dispatcher;
  executor: KubernetesExecutor;
  /** Starts the dispatcher, which starts the executor once it leads (after it with executorFirst). */
  start(): Promise<void>;
  /** Stops the dispatcher, then shuts the executor down; once. */
  stop(): Promise<void>;
}

/** A Dispatcher and a KubernetesExecutor on a store, as gantry-server.ts assembles them; not started. */
export function assembleGantry(options: GantryOptions): DispatchingGantry {
  const logger = options.logger ?? testLogger();
  const dispatcher = new Dispatcher({
    store: options.store,
    logger,
    maxActiveRuns: 10,
    maxActivePerOwner: 10,
    publicUrl: "http://gantry.invalid",
    pollIntervalMs: 200,
    ...options.dispatcher,
  });
  const executor =
    options.createExecutor?.(dispatcher.recorder) ??
    new KubernetesExecutor({
      kubeConfig: options.kc,
      sink: dispatcher.recorder,
      runConfig: {
        namespace: options.namespace,
        defaultImage: "registry.invalid/gantry-runner:test",
        ttlSecondsAfterFinished: 600,
        runAsUser: 65532,
        apiUrl: "",
        ...options.runConfig,
      },
      logger,
      ...options.executor,
    });
  let stopped = false;
  return {
    dispatcher,
    executor,
    async start() {
      if (options.executorFirst === true) await executor.start();
      await dispatcher.start(executor);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await dispatcher.stop();
      await executor.shutdown();
    },
  };
}

/** assembleGantry, stopped after the test, and started unless `start` is false. */
export async function startDispatchingGantry(
  t: TestContext,
  options: GantryOptions & { start?: boolean },
): Promise<DispatchingGantry> {
  const gantry = assembleGantry(options);
  t.after(() => gantry.stop());
  if (options.start !== false) await gantry.start();
  return gantry;
}
