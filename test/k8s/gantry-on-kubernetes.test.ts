// Gantry's server pieces on the test cluster: a PGlite store, the Dispatcher and the
// KubernetesExecutor. A queued run becomes a Job, its states and log land in the store; a
// restarted Gantry adopts the Job of a live run instead of relaunching it; a cancel deletes the Job.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { BatchV1Api, CoreV1Api } from "@kubernetes/client-node";
import { openStore } from "../../src/store/open-store.ts";
import type { Store } from "../../src/store/store.ts";
import type { RunState } from "../../src/core/run-state.ts";
import {
  TEST_ANNOTATIONS as A,
  createTestNamespace,
  useTestCluster,
  waitFor,
  writePodLog,
} from "./harness.ts";
import { startDispatchingGantry, submitJob, testLogger } from "./kubernetes-executor-helpers.ts";

async function setUp(t: TestContext, prefix: string, annotations: Record<string, string>) {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, prefix);
  t.after(() => ns.cleanup());
  const store = await openStore();
  t.after(() => store.close());
  const logger = testLogger();
  /** Dispatcher + executor as gantry-server assembles them (executor started first). */
  const startGantry = () =>
    startDispatchingGantry(t, {
      kc,
      namespace: ns.name,
      store,
      logger,
      executor: { podAnnotations: () => annotations },
      executorFirst: true,
    });
  const submit = () => submitJob(store);
  return { kc, namespace: ns.name, store, startGantry, submit };
}

function waitForState(store: Store, runId: string, state: RunState, timeoutMs = 20_000) {
  return waitFor(
    `run ${runId} to be ${state}`,
    async () => {
      const run = await store.getRun(runId);
      return run?.state === state ? run : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

async function transitions(store: Store, runId: string) {
  return (await store.listRunEvents(runId)).map((e) => `${e.attempt}:${e.to}`);
}

test("a queued run goes through the dispatcher to a Job and ends succeeded, with its log in the store", async (t) => {
  const env = await setUp(t, "gk-run", { [A.startDelay]: "200ms", [A.runDuration]: "6s" });
  await env.startGantry();
  const run = await env.submit();
  await waitForState(env.store, run.id, "running");
  const pods = await waitFor("the run's pod", async () => {
    const list = await env.kc
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: env.namespace, labelSelector: `gantry.dev/run-id=${run.id}` });
    return list.items.find((p) => p.spec?.nodeName);
  });
  await writePodLog(env.kc, {
    namespace: env.namespace,
    pod: pods.metadata?.name ?? "",
    lines: ["graded: 10/10"],
  });
  const done = await waitForState(env.store, run.id, "succeeded");
  assert.equal(done.reason, "exit_code 0");
  assert.equal(done.executor, "kubernetes");
  assert.deepEqual(await transitions(env.store, run.id), [
    "1:queued",
    "1:dispatching",
    "1:pending",
    "1:running",
    "1:succeeded",
  ]);
  const lines = await env.store.readLogs(run.id, {});
  assert.deepEqual(
    lines.filter((l) => l.stream === "stdout").map((l) => l.text),
    ["graded: 10/10"],
  );
  assert.match(lines.at(-1)?.text ?? "", /^\[gantry\] succeeded: exit_code 0/);
});

test("a restarted Gantry adopts the Job of a live run: the run ends once, on its first attempt", async (t) => {
  const env = await setUp(t, "gk-restart", { [A.runDuration]: "4s" });
  const first = await env.startGantry();
  const run = await env.submit();
  await waitForState(env.store, run.id, "running");
  await first.stop(); // a crash or a deploy: the Job keeps running

  const second = await env.startGantry();
  assert.ok((await second.executor.activeAttempts()).has(`${run.id}/1`));
  const done = await waitForState(env.store, run.id, "succeeded");
  assert.equal(done.attempt, 1, "not relaunched");
  assert.deepEqual(await transitions(env.store, run.id), [
    "1:queued",
    "1:dispatching",
    "1:pending",
    "1:running",
    "1:succeeded",
  ]);
});

test("cancelling a run deletes its Job", async (t) => {
  const env = await setUp(t, "gk-cancel", { [A.runDuration]: "1h" });
  const g = await env.startGantry();
  const run = await env.submit();
  await waitForState(env.store, run.id, "running");
  const outcome = await env.store.transitionRun({
    runId: run.id,
    attempt: 1,
    to: "cancelled",
    reason: "cancelled by test",
  });
  assert.ok(outcome.ok);
  await waitFor("the attempt to stop", async () =>
    (await g.executor.activeAttempts()).size === 0 ? true : undefined,
  );
  const jobs = await env.kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: env.namespace });
  assert.deepEqual(
    jobs.items.filter((j) => j.metadata?.deletionTimestamp === undefined).map((j) => j.metadata?.name),
    [],
  );
  assert.equal((await env.store.getRun(run.id))?.state, "cancelled");
});
