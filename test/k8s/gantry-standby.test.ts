// Two Gantry processes on one PostgreSQL and one runs namespace (two replicas, or a rolling
// update): only the dispatch leader runs the Kubernetes executor. A standby `gantry up` neither
// observes nor adopts the leader's Jobs, and when the leader goes it takes over: it adopts the
// running Job and records the run's end and log, without relaunching it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { openStore } from "../../src/store/open-store.ts";
import { createTestDatabase, testBackends } from "../helpers/test-databases.ts";
import { startTestGantry } from "../helpers/test-gantry.ts";
import {
  TEST_ANNOTATIONS as A,
  createTestNamespace,
  useTestCluster,
  waitFor,
  writePodLog,
} from "./harness.ts";
import { spec, startDispatchingGantry, submitJob } from "./kubernetes-executor-helpers.ts";

test(
  "a standby gantry up leaves the leader's Jobs alone, then takes them over",
  {
    skip: testBackends().includes("postgres")
      ? false
      : "needs GANTRY_TEST_DATABASE_URL (npm test starts one)",
  },
  async (t) => {
    const { kc, kubeconfigPath } = await useTestCluster();
    const ns = await createTestNamespace(kc, "standby");
    t.after(() => ns.cleanup());
    const db = await createTestDatabase("postgres");
    t.after(() => db.drop());
    const databaseUrl = db.databaseUrl ?? "";
    const store = await openStore({ databaseUrl });
    t.after(() => store.close());

    // The leader, assembled as gantry-server does, with fake pods that run for a while.
    const leader = await startDispatchingGantry(t, {
      kc,
      namespace: ns.name,
      store,
      dispatcher: { maxActiveRuns: 4, maxActivePerOwner: 4 },
      runConfig: { defaultImage: "registry.invalid/gantry-job:test" },
      executor: { podAnnotations: () => ({ [A.runDuration]: "40s" }) },
    });

    const run = await submitJob(store, { spec: spec({}, { wallSeconds: 120 }) });
    await waitFor("the run to be running", async () =>
      (await store.getRun(run.id))?.state === "running" ? true : undefined,
    );
    const core = kc.makeApiClient(CoreV1Api);
    const pod = await waitFor("the run's pod", async () => {
      const pods = await core.listNamespacedPod({
        namespace: ns.name,
        labelSelector: `gantry.dev/run-id=${run.id}`,
      });
      return pods.items[0]?.metadata?.name;
    });
    await writePodLog(kc, { namespace: ns.name, pod, lines: ["line one", "line two"] });
    const stdout = async () =>
      (await store.readLogs(run.id, { afterSeq: 0, limit: 1000 }))
        .filter((l) => l.stream === "stdout")
        .map((l) => l.text);

    // A second `gantry up` on the same database and namespace: it stands by.
    const standby = await startTestGantry(
      "postgres",
      { databaseUrl },
      {
        GANTRY_EXECUTOR: "kubernetes",
        GANTRY_KUBECONFIG: kubeconfigPath,
        GANTRY_RUNS_NAMESPACE: ns.name,
        GANTRY_DEFAULT_IMAGE: "registry.invalid/gantry-job:test",
      },
    );
    t.after(() => standby.stop());
    assert.equal(standby.gantry.executor?.name, "kubernetes");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      await standby.gantry.executor.activeAttempts(),
      new Set(),
      "the standby adopted nothing",
    );
    const lines = await store.readLogs(run.id, { afterSeq: 0, limit: 1000 });
    assert.equal(
      lines.filter((l) => /adopted Job/.test(l.text)).length,
      0,
      "no second Gantry reads the log while the leader does",
    );

    // The leader goes; within its standby poll the second takes over and sees the run to its end.
    await leader.stop();
    const done = await waitFor(
      "the standby to take over and record the run's end",
      async () => {
        const r = await store.getRun(run.id);
        return r !== null && r.state === "succeeded" ? r : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(done.attempt, 1, "adopted, not relaunched");
    assert.deepEqual(await stdout(), ["line one", "line two"], "the log, stored once");
  },
);
