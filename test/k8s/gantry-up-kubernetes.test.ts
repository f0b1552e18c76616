// `startGantry` with GANTRY_EXECUTOR=kubernetes, assembled from environment variables exactly as
// `gantry up` is: a job submitted through the /v1 API becomes a Job on the test cluster and ends
// succeeded; cancel deletes the Job; bad Kubernetes settings stop the start with a clear error.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BatchV1Api } from "@kubernetes/client-node";
import { GantryError } from "../../src/core/errors.ts";
import { loadServerConfig } from "../../src/server/config.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { createTestNamespace, useTestCluster, waitFor } from "./harness.ts";

describe("gantry on Kubernetes, configured by environment", () => {
  let t: TestGantry;
  let namespace: { name: string; cleanup(): Promise<void> };
  let batch: BatchV1Api;

  before(async () => {
    const { kc, kubeconfigPath } = await useTestCluster();
    namespace = await createTestNamespace(kc, "gantry-up");
    batch = kc.makeApiClient(BatchV1Api);
    t = await startTestGantry(
      "pglite",
      {},
      {
        GANTRY_EXECUTOR: "kubernetes",
        GANTRY_KUBECONFIG: kubeconfigPath,
        GANTRY_RUNS_NAMESPACE: namespace.name,
        GANTRY_DEFAULT_IMAGE: "registry.invalid/gantry-job:test",
        GANTRY_JOB_TTL_SECONDS: "600",
      },
    );
  });
  after(async () => {
    await t?.stop();
    await namespace?.cleanup();
  });

  test("a job submitted through the API runs as a Job and succeeds", async () => {
    assert.equal(t.gantry.executor?.name, "kubernetes");
    const res = await t.api("POST", "/v1/runs", { body: { command: ["sh", "-c", "echo hi"] } });
    assert.equal(res.status, 201, res.text);
    const id = (res.body as { id: string }).id;
    const done = await t.waitForRun(id, 60_000);
    assert.equal(done.state, "succeeded", JSON.stringify(done));
    const jobs = await batch.listNamespacedJob({
      namespace: namespace.name,
      labelSelector: `gantry.dev/run-id=${id}`,
    });
    assert.equal(jobs.items.length, 1);
    assert.equal(
      jobs.items[0]?.spec?.template.spec?.containers[0]?.image,
      "registry.invalid/gantry-job:test",
    );
    const events = (await t.api("GET", `/v1/runs/${id}/events`)).body as { events: { to: string }[] };
    assert.deepEqual(events.events.map((e) => e.to).slice(0, 2), ["queued", "dispatching"]);
  });

  test("cancel deletes the run's Job", async () => {
    const res = await t.api("POST", "/v1/runs", {
      body: { command: ["sleep", "600"], limits: { wallSeconds: 600 } },
    });
    const id = (res.body as { id: string }).id;
    const labelSelector = `gantry.dev/run-id=${id}`;
    const list = async () =>
      (await batch.listNamespacedJob({ namespace: namespace.name, labelSelector })).items;
    await waitFor("the run's Job", async () => ((await list()).length === 1 ? true : undefined));
    const cancelled = await t.api("POST", `/v1/runs/${id}/cancel`);
    assert.equal(cancelled.status, 200, cancelled.text);
    await waitFor("the Job deleted", async () =>
      (await list()).every((j) => j.metadata?.deletionTimestamp !== undefined) ? true : undefined,
    );
  });
});

test("bad Kubernetes settings are refused with the variable's name", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ GANTRY_EXECUTOR: "docker" }, /GANTRY_EXECUTOR=docker: must be local or kubernetes/],
    [{ GANTRY_EXECUTOR: "kubernetes" }, /GANTRY_DEFAULT_IMAGE/],
    [
      { GANTRY_EXECUTOR: "kubernetes", GANTRY_DEFAULT_IMAGE: "x", GANTRY_RUNS_NAMESPACE: "Bad_NS" },
      /GANTRY_RUNS_NAMESPACE=Bad_NS/,
    ],
    [
      { GANTRY_EXECUTOR: "kubernetes", GANTRY_DEFAULT_IMAGE: "x", GANTRY_JOB_TTL_SECONDS: "soon" },
      /GANTRY_JOB_TTL_SECONDS/,
    ],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadServerConfig(env),
      (err: unknown) =>
        err instanceof GantryError && err.code === "GANTRY_ERR_CONFIG" && message.test(err.message),
      JSON.stringify(env),
    );
  }
  const ok = loadServerConfig({
    GANTRY_EXECUTOR: "kubernetes",
    GANTRY_DEFAULT_IMAGE: "debian:bookworm-slim",
  });
  assert.equal(ok.kubernetes?.namespace, "gantry-runs");
  assert.equal(ok.kubernetes?.runsApiUrl, ok.publicUrl);
});

test("an unreachable cluster stops the start with a clear error", async () => {
  await assert.rejects(
    startTestGantry(
      "pglite",
      {},
      {
        GANTRY_EXECUTOR: "kubernetes",
        GANTRY_KUBECONFIG: "/nonexistent/kubeconfig",
        GANTRY_DEFAULT_IMAGE: "x",
      },
    ),
    (err: unknown) =>
      err instanceof GantryError && err.code === "GANTRY_ERR_CONFIG" && /kubeconfig/.test(err.message),
  );
});
