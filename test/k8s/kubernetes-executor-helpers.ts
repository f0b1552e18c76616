// Shared pieces of the KubernetesExecutor tests: a recording sink, launch requests, an executor
// bound to a fresh namespace whose fake pods are steered per run by test annotations.
import { randomUUID } from "node:crypto";
import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { TestContext } from "node:test";
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
import { DEFAULT_LIMITS, type JobSpec } from "../../src/core/workload.ts";
import { jobName } from "../../src/core/kubernetes-objects.ts";
import { createTestNamespace, useTestCluster, waitFor } from "./harness.ts";

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
