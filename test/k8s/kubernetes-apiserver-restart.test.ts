// Gantry's API server restarted mid-run (issue 5, item 3). Gantry (PGlite store, dispatcher,
// KubernetesExecutor) talks to a second kube-apiserver of its own on the shared etcd
// (apiserver.ts); the controllers, the scheduler and kwok keep using the cluster's first one. The
// test SIGKILLs Gantry's API server twice while runs go pending → running → succeeded: once while
// their pods start, once while they end, and restarts it each time only after the cluster has
// moved on (seen through the first API server). Gantry's watches must resume and every run record
// pending, running and succeeded, on its first attempt; the informers must have restarted.
// A second test kills it in the middle of a launch: the launch waits for it, the run runs once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeConfig, type RequestContext, type V1Job, type V1Pod } from "@kubernetes/client-node";
import type { RunState } from "../../src/core/run-state.ts";
import { GANTRY_ANNOTATIONS, GANTRY_LABELS } from "../../src/core/kubernetes-objects.ts";
import type { KubernetesExecutorLogger } from "../../src/executors/kubernetes/logger.ts";
import { openStore } from "../../src/store/open-store.ts";
import type { Store } from "../../src/store/store.ts";
import { startExtraApiServer } from "./apiserver.ts";
import {
  TEST_ANNOTATIONS as A,
  createTestNamespace,
  recordWatch,
  useTestCluster,
  waitFor,
} from "./harness.ts";
import { startDispatchingGantry, submitJob, testLogger } from "./kubernetes-executor-helpers.ts";
import { describeJob, jobFinished, tallyJobs } from "./job-tally.ts";

const RUNS = 4;

/** Notes when it signs a request that writes (client-node signs every request it sends). */
class WriteNotingKubeConfig extends KubeConfig {
  readonly writes: { at: number; what: string }[] = [];

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const method = String(context.getHttpMethod());
    if (method !== "GET")
      this.writes.push({ at: Date.now(), what: `${method} ${new URL(context.getUrl()).pathname}` });
    await super.applySecurityAuthentication(context);
  }
}

async function states(store: Store, ids: string[]): Promise<string> {
  const out: string[] = [];
  for (const id of ids) {
    const events = await store.listRunEvents(id);
    out.push(events.map((e) => `${e.to}@${e.at.toISOString().slice(17, 23)}(${e.reason})`).join(","));
  }
  return out.join(" | ");
}

async function allIn(store: Store, ids: string[], state: RunState): Promise<true | undefined> {
  for (const id of ids) if ((await store.getRun(id))?.state !== state) return undefined;
  return true;
}

test(
  "Gantry's API server killed and restarted mid-run: the watches resume and no transition is missed",
  { timeout: 180_000 },
  async (t) => {
    const { kc } = await useTestCluster();
    const api = await startExtraApiServer(t);
    const ns = await createTestNamespace(kc, "k8s-apiserver-restart");
    t.after(() => ns.cleanup());
    const store = await openStore();
    t.after(() => store.close());

    // What the cluster does, through the first API server (unaffected by the kills).
    const pods = await recordWatch<V1Pod>(kc, `/api/v1/namespaces/${ns.name}/pods`);
    t.after(() => pods.stop());
    const jobs = await recordWatch<V1Job>(kc, `/apis/batch/v1/namespaces/${ns.name}/jobs`);
    t.after(() => jobs.stop());

    const restarts: string[] = [];
    const base = testLogger();
    const logger: KubernetesExecutorLogger = {
      info: (obj, msg) => base.info(obj, msg),
      warn(obj, msg) {
        if (msg?.includes("watch stopped; restarting it") === true)
          restarts.push((obj as { what?: string }).what ?? "?");
        base.warn(obj, msg);
      },
      error: (obj, msg) => base.error(obj, msg),
    };
    let launched = 0;
    const { dispatcher } = await startDispatchingGantry(t, {
      kc: api.kc,
      namespace: ns.name,
      store,
      logger: base,
      dispatcher: { onDispatched: () => launched++ },
      executor: {
        // Each phase outlasts an outage (a restart takes a few seconds): the test restarts the API
        // server once the cluster has moved on, and Gantry must still see the state it moved to.
        podAnnotations: () => ({ [A.startDelay]: "6s", [A.runDuration]: "20s" }),
        watchRetryBaseMs: 200,
        watchRetryMaxMs: 1000,
        logger,
      },
      executorFirst: true,
    });

    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await submitJob(store);
      ids.push(run.id);
    }
    dispatcher.nudge();
    const podOf = (id: string) => (e: { object: V1Pod }) =>
      e.object.metadata?.labels?.[GANTRY_LABELS.runId] === id;
    const jobOf = (id: string) => (e: { object: V1Job }) =>
      e.object.metadata?.annotations?.[GANTRY_ANNOTATIONS.runId] === id;

    // Outage 1: while the pods start.
    // Once launched (Job and Secret created: see the other test for a kill before that).
    await waitFor("every run launched", async () => (launched === RUNS ? true : undefined));
    await waitFor("every run pending", () => allIn(store, ids, "pending"), { intervalMs: 50 });
    await api.kill();
    const firstKill = Date.now();
    for (const id of ids)
      await pods.until(
        `the pod of ${id} running`,
        (e) => podOf(id)(e) && e.object.status?.phase === "Running",
      );
    assert.equal(
      await allIn(store, ids, "pending"),
      true,
      `nothing recorded while the API server was down: ${await states(store, ids)}`,
    );
    const stillPendingAt = Date.now();
    await api.start();
    const firstBack = Date.now();
    await waitFor("every run running", () => allIn(store, ids, "running"), { intervalMs: 50 });

    // Outage 2: while they end.
    await api.kill();
    for (const id of ids)
      await jobs.until(`the Job of ${id} complete`, (e) => jobOf(id)(e) && jobFinished(e.object), 40_000);
    assert.equal(
      await allIn(store, ids, "running"),
      true,
      `nothing recorded while the API server was down: ${await states(store, ids)}`,
    );
    await api.start();
    await waitFor("every run succeeded", () => allIn(store, ids, "succeeded"), { timeoutMs: 30_000 });
    const count = (what: string) => restarts.filter((w) => w === what).length;
    t.diagnostic(
      `first outage ${firstBack - firstKill} ms; informer restarts: jobs ${count("jobs")}, pods ${count("pods")}`,
    );

    for (const id of ids) {
      const events = await store.listRunEvents(id);
      assert.deepEqual(
        events.map((e) => `${e.attempt}:${e.to}`),
        ["1:queued", "1:dispatching", "1:pending", "1:running", "1:succeeded"],
        id,
      );
      const running = events.find((e) => e.to === "running");
      assert.ok(
        running !== undefined && running.at.getTime() >= stillPendingAt,
        `${id}: running was recorded after the outage in which the pod started: seen late, not lost`,
      );
      const lines = await store.readLogs(id, {});
      assert.match(lines.at(-1)?.text ?? "", /^\[gantry\] succeeded: exit_code 0/, id);
    }
    // Both informers lost their watch in each outage and were restarted by RestartingInformer.
    assert.ok(count("jobs") >= 2, `the Job informer restarted ${count("jobs")} times`);
    assert.ok(count("pods") >= 2, `the pod informer restarted ${count("pods")} times`);
  },
);

test(
  "Gantry's API server killed between creating a run's Job and its Secret: the run still runs once",
  {
    // The informer reports the Job pending while launch() is still creating its Secret; the
    // Secret's request finds no API server, and launch() sends it again until the server is back
    // (it used to give up, and the run failed with executor_error while its Job ran on).
    timeout: 120_000,
  },
  async (t) => {
    const { kc } = await useTestCluster();
    const api = await startExtraApiServer(t);
    const ns = await createTestNamespace(kc, "k8s-apiserver-launch");
    t.after(() => ns.cleanup());
    const store = await openStore();
    t.after(() => store.close());
    const tally = await tallyJobs(kc, ns.name);
    t.after(() => tally.stop());
    const noting = new WriteNotingKubeConfig();
    noting.loadFromString(api.kc.exportConfig());
    const { dispatcher } = await startDispatchingGantry(t, {
      kc: noting,
      namespace: ns.name,
      store,
      executor: {
        // The pod starts only after the launch has failed: an attempt whose launch fails after
        // its log is followed leaks the follower (launch() forgets it without halting it), and a
        // followed fake log never ends, which would keep this test process alive.
        podAnnotations: () => ({ [A.startDelay]: "10s", [A.runDuration]: "3s" }),
        // One request a second: the Secret's request waits a second after the Job's, so the kill
        // (the moment the test sees the Job) lands between them.
        qps: 1,
        burst: 1,
        watchRetryBaseMs: 200,
        watchRetryMaxMs: 1000,
      },
      executorFirst: true,
    });

    let killedAt = Number.POSITIVE_INFINITY;
    tally.onAdded = () => {
      killedAt = Date.now();
      void api.kill();
    };
    const run = await submitJob(store);
    dispatcher.nudge();
    await waitFor("the Job", async () => (tally.jobs.size > 0 ? true : undefined));
    await waitFor("the kill", async () => (api.running ? undefined : true));
    // The API server stays down until the launch has gone on without it: the Secret's request
    // sent (a restart takes over a second before it listens, so it is refused) or the launch
    // given up (when the kill cut off the Job's own response).
    await waitFor("the launch to go on without the API server", async () => {
      if (noting.writes.some((w) => w.at > killedAt)) return true;
      const state = (await store.getRun(run.id))?.state;
      return state === "failed" ? true : undefined;
    });
    const atKill = await states(store, [run.id]);
    await api.start();
    const done = await waitFor(
      "the run to end",
      async () => {
        const r = await store.getRun(run.id);
        return r !== null && ["succeeded", "failed", "timed_out", "cancelled"].includes(r.state)
          ? r
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const history = await states(store, [run.id]);
    const job = [...tally.jobs.values()][0];
    t.diagnostic(
      `at the kill: ${atKill}; writes after it: ${JSON.stringify(noting.writes.filter((w) => w.at > killedAt).map((w) => w.what))}; in the end: ${history}; Job ${job === undefined ? "none" : describeJob(job)}`,
    );
    assert.equal(done.state, "succeeded", history);
    assert.equal(tally.jobs.size, 1, history);
  },
);
