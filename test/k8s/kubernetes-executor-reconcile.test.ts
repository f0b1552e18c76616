// The Kubernetes executor's own Job cap and the dispatcher's reconciler on the real API server:
// unfinished Gantry Jobs in the namespace — whoever made them — count against maxActiveJobs;
// Gantry Jobs that belong to no attempt are listed as strays; the reconciler stops attempts of
// runs that ended, reports Jobs of runs this store never had, and deletes them only when told to.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { BatchV1Api, CoreV1Api, type V1Job, type V1Secret } from "@kubernetes/client-node";
import { isGantryError } from "../../src/core/errors.ts";
import { jobName, ownedBy, renderRunObjects } from "../../src/core/kubernetes-objects.ts";
import type { Dispatcher } from "../../src/server/dispatcher.ts";
import { openStore } from "../../src/store/open-store.ts";
import { TEST_ANNOTATIONS as A, waitFor } from "./harness.ts";
import {
  claimDirectly,
  executorFixture,
  request,
  spec,
  startDispatchingGantry,
  submitJob,
  testLogger,
  type ExecutorFixture,
} from "./kubernetes-executor-helpers.ts";

/**
 * Creates a Gantry Job behind the executor's back, as another Gantry sharing the namespace would;
 * with `withSecret`, its Secret too (a complete launch), else the Job alone (a launch cut short).
 */
async function createForeignJob(
  f: ExecutorFixture,
  runDuration: string,
  runId: string = randomUUID(),
  startDelay = "0s",
  withSecret = false,
): Promise<string> {
  const rendered = renderRunObjects(
    {
      runId,
      attempt: 1,
      owner: "someone-else",
      kind: "job",
      spec: spec(),
      runToken: "gtr_foreign",
      podAnnotations: { [A.runDuration]: runDuration, [A.startDelay]: startDelay },
    },
    {
      namespace: f.namespace,
      defaultImage: "registry.invalid/other:1",
      ttlSecondsAfterFinished: 600,
      runAsUser: 65532,
      apiUrl: "http://other.invalid",
    },
  );
  const batch = f.kc.makeApiClient(BatchV1Api);
  const job = await batch.createNamespacedJob({
    namespace: f.namespace,
    body: rendered.job as unknown as V1Job,
  });
  if (withSecret) {
    const owner = { metadata: { name: rendered.name, uid: job.metadata?.uid ?? "" } };
    await f.kc.makeApiClient(CoreV1Api).createNamespacedSecret({
      namespace: f.namespace,
      body: ownedBy(rendered.secret, owner) as unknown as V1Secret,
    });
  }
  return rendered.name;
}

function isBusy(err: unknown): boolean {
  return isGantryError(err) && err.code === "GANTRY_ERR_EXECUTOR_BUSY" && /maxActiveJobs/.test(err.message);
}

test("maxActiveJobs counts every unfinished Gantry Job in the namespace and frees up as they end", async (t) => {
  const f = await executorFixture(t, "kx-cap", { maxActiveJobs: 3 });
  await f.executor.start();
  assert.equal(f.executor.capacity(), 3);

  const long = request();
  f.annotations.set(long.runId, { [A.runDuration]: "1h" });
  const short = request();
  f.annotations.set(short.runId, { [A.runDuration]: "2s" });
  await f.executor.launch(long);
  await f.executor.launch(short);
  assert.equal(f.executor.capacity(), 1);

  // A Job another Gantry made takes the last place once the informer has seen it.
  const foreign = await createForeignJob(f, "1h");
  await waitFor("the foreign Job to count", async () => f.executor.capacity() === 0 || undefined);
  const third = request();
  await assert.rejects(f.executor.launch(third), isBusy);
  assert.equal(await f.executor.activeAttempts().then((s) => s.size), 2, "the refused launch left nothing");
  assert.equal(await f.jobExists(third.runId), false);

  // The short run ends: its finished Job no longer counts, and the next launch goes through.
  await f.sink.waitForState(short.runId, "succeeded", 30_000);
  // Its place frees once the Job controller has marked it Complete (not at SuccessCriteriaMet).
  await waitFor("the ended Job's place", async () => (f.executor.capacity() === 1 ? true : undefined));
  await f.executor.launch(third);
  assert.equal(f.executor.capacity(), 0);
  assert.ok(await f.jobExists(third.runId));
  assert.ok(f.executor.strayResources().some((s) => s.name === foreign));
});

test("launches racing for the last places never overshoot the cap", async (t) => {
  const f = await executorFixture(t, "kx-cap-race", { maxActiveJobs: 4 });
  await f.executor.start();
  const requests = Array.from({ length: 10 }, () => request());
  for (const r of requests) f.annotations.set(r.runId, { [A.runDuration]: "1h" });
  const outcomes = await Promise.allSettled(requests.map((r) => f.executor.launch(r)));
  const launched = outcomes.filter((o) => o.status === "fulfilled").length;
  assert.equal(launched, 4);
  for (const o of outcomes) if (o.status === "rejected") assert.ok(isBusy(o.reason), String(o.reason));
  const batch = f.kc.makeApiClient(BatchV1Api);
  const jobs = await batch.listNamespacedJob({ namespace: f.namespace });
  assert.equal(jobs.items.length, 4);
});

test("Gantry Jobs of no known attempt are strays; deleting one leaves tracked Jobs alone", async (t) => {
  const f = await executorFixture(t, "kx-stray");
  await f.executor.start();
  const own = request();
  f.annotations.set(own.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(own);
  const foreign = await createForeignJob(f, "1h");
  const stray = await waitFor("the foreign Job to be a stray", async () =>
    f.executor.strayResources().find((s) => s.name === foreign),
  );
  assert.equal(stray.attempt, 1);
  assert.match(stray.description, new RegExp(`^Job ${f.namespace}/${foreign}$`));
  assert.equal(
    f.executor.strayResources().some((s) => s.name === jobName(own.runId, 1)),
    false,
    "a tracked attempt's Job is no stray",
  );
  await assert.rejects(f.executor.deleteStrayResource(jobName(own.runId, 1)), /belongs to a tracked attempt/);
  await f.executor.deleteStrayResource(foreign);
  await waitFor("the stray to be gone", async () =>
    f.executor.strayResources().some((s) => s.name === foreign) ? undefined : true,
  );
  assert.ok(await f.jobExists(own.runId), "the tracked Job is still there");
});

test("the reconciler stops attempts of ended runs, reports orphans, and deletes them only when told to", async (t) => {
  const f = await executorFixture(t, "kx-reconcile");
  await f.executor.start();
  const store = await openStore();
  t.after(() => store.close());
  const logger = testLogger();

  // Jobs left from before a restart: one of a run this store has (and that has since been
  // cancelled), one of a run it never had.
  const created = await submitJob(store);
  const claimed = await claimDirectly(store);
  assert.ok(claimed !== undefined && claimed.run.id === created.id);
  const endedRun = request(spec(), created.id, claimed.run.attempt);
  f.annotations.set(endedRun.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(endedRun);
  const cancelled = await store.transitionRun({
    runId: created.id,
    attempt: claimed.run.attempt,
    to: "cancelled",
    reason: "cancelled by alice",
  });
  assert.ok(cancelled.ok);
  const unknown = request();
  f.annotations.set(unknown.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(unknown);
  await f.executor.shutdown();

  const reports: Awaited<ReturnType<Dispatcher["reconcile"]>>[] = [];
  const startGantry = (deleteOrphans: boolean) =>
    startDispatchingGantry(t, {
      kc: f.kc,
      namespace: f.namespace,
      store,
      logger,
      dispatcher: {
        pollIntervalMs: undefined, // the dispatcher's own
        reconcileIntervalMs: 0,
        deleteOrphans,
        onReconciled: (r) => reports.push(r),
      },
      createExecutor: (sink) => f.another({ sink }),
      executorFirst: true,
    });

  // Reporting only: the ended run's Job is stopped (the run wants no more of it), the unknown one stays.
  const first = await startGantry(false);
  const atStart = reports[0];
  assert.ok(atStart, "reconcile ran at start");
  assert.equal(atStart.stopped, 1);
  assert.equal(atStart.deleted, 0);
  assert.deepEqual(atStart.orphans, [`attempt ${unknown.runId}/1 (no such run in this store)`]);
  await waitFor("the cancelled run's Job to be deleted", async () =>
    (await f.jobExists(endedRun.runId, endedRun.attempt)) ? undefined : true,
  );
  assert.ok(await f.jobExists(unknown.runId), "an orphan is only reported by default");
  const again = await first.dispatcher.reconcile();
  assert.deepEqual(again.orphans, atStart.orphans, "still reported while it exists");
  await first.stop();

  // Told to delete: the orphan's Job goes.
  const second = await startGantry(true);
  const deleting = reports.at(-1);
  assert.equal(deleting?.deleted, 1);
  await waitFor("the orphan Job to be deleted", async () =>
    (await f.jobExists(unknown.runId)) ? undefined : true,
  );
  assert.equal((await second.executor.activeAttempts()).size, 0);
  const run = await store.getRun(created.id);
  assert.equal(run?.state, "cancelled", "the reconciler never revives an ended run");
});

test("a Job another process of this Gantry launched is taken up, not relaunched, and its end recorded", async (t) => {
  const f = await executorFixture(t, "kx-resync");
  const store = await openStore();
  t.after(() => store.close());
  const { dispatcher, executor } = await startDispatchingGantry(t, {
    kc: f.kc,
    namespace: f.namespace,
    store,
    dispatcher: { pollIntervalMs: undefined, reconcileIntervalMs: 0 }, // the dispatcher's own poll
    createExecutor: (sink) => f.another({ sink }),
    start: false,
  });
  await executor.start();

  // The previous leader claimed a run and created its Job after this executor had started.
  const created = await submitJob(store);
  const claimed = await claimDirectly(store);
  assert.ok(claimed !== undefined && claimed.run.id === created.id);
  // Held Pending a moment, so the take-over meets a pod not yet started, with its Secret.
  const name = await createForeignJob(f, "3s", created.id, "2s", true);
  await waitFor("the Job to reach this executor's informer", async () =>
    executor.strayResources().some((s) => s.name === name) ? true : undefined,
  );

  await dispatcher.start(executor);
  assert.deepEqual(await executor.activeAttempts(), new Set([`${created.id}/1`]));
  assert.equal(executor.strayResources().length, 0);
  const done = await waitFor(
    "the run to end",
    async () => {
      const run = await store.getRun(created.id);
      return run !== null && run.state === "succeeded" ? run : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(done.attempt, 1, "not relaunched");
  const batch = f.kc.makeApiClient(BatchV1Api);
  const jobs = await batch.listNamespacedJob({ namespace: f.namespace });
  assert.deepEqual(
    jobs.items.map((j) => j.metadata?.name),
    [name],
  );
});

test("an adopted Job whose Secret was never created is deleted, and its run relaunched as a new attempt", async (t) => {
  // Gantry died between creating the Job and its Secret: only it knew the token, and on a kubelet
  // the pod waits for the Secret forever (kwok would start it anyway, so it is held in Pending here).
  const f = await executorFixture(t, "kx-no-secret");
  const store = await openStore();
  t.after(() => store.close());
  const created = await submitJob(store);
  await claimDirectly(store);
  const orphaned = await createForeignJob(f, "1s", created.id, "1h");

  await startDispatchingGantry(t, {
    kc: f.kc,
    namespace: f.namespace,
    store,
    dispatcher: { reconcileIntervalMs: 0 },
    createExecutor: (sink) => f.another({ sink }),
  });
  const done = await waitFor(
    "the run to succeed on a new attempt",
    async () => {
      const run = await store.getRun(created.id);
      return run?.state === "succeeded" ? run : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(done.attempt, 2);
  const events = await store.listRunEvents(created.id);
  assert.match(events.find((e) => e.to === "queued" && e.attempt === 1 && e.seq > 1)?.reason ?? "", /lost/);
  await waitFor("the incomplete Job to be deleted", async () =>
    (await f.jobExists(created.id, 1)) ? undefined : true,
  );
  assert.equal(orphaned, jobName(created.id, 1));
  assert.ok(await f.jobExists(created.id, 2), "the new attempt's Job");
});
