// KubernetesExecutor against the real API server of test/k8s: each state mapping driven by the
// fake pods' annotations, logs archived through the sink, Gantry's own Job ending.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchV1Api, CoreV1Api } from "@kubernetes/client-node";
import { jobName } from "../../src/core/kubernetes-objects.ts";
import { TEST_ANNOTATIONS as A, isApiStatus, kubeRequest, waitFor, writePodLog } from "./harness.ts";
import { executorFixture, recordingSink, request, spec } from "./kubernetes-executor-helpers.ts";

test("launch → pending → running → succeeded, with the container's log archived before the end", async (t) => {
  const f = await executorFixture(t, "kx-ok");
  await f.executor.start();
  const req = request(spec({ files: [{ path: "input.txt", content: "42\n" }] }));
  f.annotations.set(req.runId, { [A.startDelay]: "300ms", [A.runDuration]: "6s" });
  await f.executor.launch(req);
  assert.deepEqual(await f.executor.activeAttempts(), new Set([`${req.runId}/1`]));

  // The Secret and the ConfigMap exist, owned by the Job.
  const core = f.kc.makeApiClient(CoreV1Api);
  const name = jobName(req.runId, 1);
  const job = await f.kc.makeApiClient(BatchV1Api).readNamespacedJob({ name, namespace: f.namespace });
  for (const obj of [
    await core.readNamespacedSecret({ name, namespace: f.namespace }),
    await core.readNamespacedConfigMap({ name, namespace: f.namespace }),
  ]) {
    assert.deepEqual(
      obj.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid]),
      [["Job", name, job.metadata?.uid]],
    );
  }

  await f.sink.waitForState(req.runId, "running");
  const pod = await f.podOf(req.runId);
  await writePodLog(f.kc, {
    namespace: f.namespace,
    pod: pod.metadata?.name ?? "",
    lines: ["hello", "wörld"],
  });
  await writePodLog(f.kc, {
    namespace: f.namespace,
    pod: pod.metadata?.name ?? "",
    lines: ["oops"],
    stream: "stderr",
  });
  const end = await f.sink.waitForState(req.runId, "succeeded");
  assert.deepEqual(end, {
    runId: req.runId,
    attempt: 1,
    state: "succeeded",
    reason: "exit_code 0",
    exitCode: 0,
  });
  assert.deepEqual(
    f.sink.updates(req.runId).map((u) => u.state),
    ["pending", "running", "succeeded"],
  );
  // Every line arrived before the final update; the API server merges stderr into one stream.
  const finalIndex = f.sink.events.findIndex((e) => e.kind === "update" && e.update.state === "succeeded");
  const stdout = f.sink.events
    .slice(0, finalIndex)
    .flatMap((e) => (e.kind === "log" && e.line.stream === "stdout" ? [e.line.text] : []));
  assert.deepEqual(stdout, ["hello", "wörld", "oops"]);
  const system = f.sink.lines(req.runId).filter((l) => l.stream === "system");
  assert.match(system.at(-1)?.text ?? "", /^\[gantry\] succeeded: exit_code 0 · output 18 B$/);
  await waitFor("the attempt to leave activeAttempts", async () =>
    (await f.executor.activeAttempts()).size === 0 ? true : undefined,
  );
});

test("a container exiting non-zero fails the attempt with its exit code", async (t) => {
  const f = await executorFixture(t, "kx-exit");
  await f.executor.start();
  const req = request();
  f.annotations.set(req.runId, {
    [A.runDuration]: "300ms",
    [A.exitCode]: "3",
    [A.message]: "grader crashed",
  });
  await f.executor.launch(req);
  const end = await f.sink.waitForState(req.runId, "failed");
  assert.deepEqual(end, {
    runId: req.runId,
    attempt: 1,
    state: "failed",
    reason: "exit_code 3",
    exitCode: 3,
  });
  assert.equal(
    f.sink.updates(req.runId).filter((u) => ["succeeded", "failed", "timed_out"].includes(u.state)).length,
    1,
  );
});

test("OOMKilled fails the attempt with memory_limit", async (t) => {
  const f = await executorFixture(t, "kx-oom");
  await f.executor.start();
  const req = request();
  f.annotations.set(req.runId, { [A.runDuration]: "300ms", [A.oom]: "true" });
  await f.executor.launch(req);
  const end = await f.sink.waitForState(req.runId, "failed");
  assert.deepEqual(end, {
    runId: req.runId,
    attempt: 1,
    state: "failed",
    reason: "memory_limit",
    exitCode: 137,
  });
});

test("the wall-time limit (activeDeadlineSeconds) ends the attempt timed_out", async (t) => {
  const f = await executorFixture(t, "kx-deadline");
  await f.executor.start();
  const req = request(spec({}, { wallSeconds: 1 }));
  f.annotations.set(req.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(req);
  await f.sink.waitForState(req.runId, "running");
  const end = await f.sink.waitForState(req.runId, "timed_out");
  assert.deepEqual(end, {
    runId: req.runId,
    attempt: 1,
    state: "timed_out",
    reason: "wall_time_limit",
    exitCode: null,
  });
});

test("an image that cannot be pulled fails the attempt after the grace period, and Gantry deletes the Job", async (t) => {
  const f = await executorFixture(t, "kx-pull", { imagePullGraceMs: 2500 });
  await f.executor.start();
  const req = request();
  f.annotations.set(req.runId, {
    [A.waitingReason]: "ImagePullBackOff",
    [A.message]: "Back-off pulling image",
  });
  const launched = Date.now();
  await f.executor.launch(req);
  const end = await f.sink.waitForState(req.runId, "failed");
  // Measured from the pod's start time, which has a resolution of one second.
  assert.ok(Date.now() - launched >= 1500, "not before the grace period");
  assert.deepEqual(end, {
    runId: req.runId,
    attempt: 1,
    state: "failed",
    reason: "image_pull: ImagePullBackOff: Back-off pulling image",
    exitCode: null,
  });
  assert.deepEqual(
    f.sink.updates(req.runId).map((u) => u.state),
    ["pending", "failed"],
  );
  assert.ok(
    f.sink
      .lines(req.runId)
      .some((l) => l.text === "[gantry] pending: image_pull: ImagePullBackOff: Back-off pulling image"),
  );
  await waitFor("the Job to be deleted", async () => ((await f.jobExists(req.runId)) ? undefined : true));
});

test("cancel deletes the Job; its Secret and ConfigMap go with it (garbage collector); nothing is reported after", async (t) => {
  const f = await executorFixture(t, "kx-cancel");
  await f.executor.start();
  const req = request(spec({ files: [{ path: "a.txt", content: "a" }] }));
  f.annotations.set(req.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(req);
  await f.sink.waitForState(req.runId, "running");
  const before = f.sink.events.length;
  await f.executor.cancel(req.runId, 1);
  assert.equal(await f.jobExists(req.runId), false);
  assert.deepEqual(await f.executor.activeAttempts(), new Set());
  const core = f.kc.makeApiClient(CoreV1Api);
  const name = jobName(req.runId, 1);
  await waitFor(
    "the Secret and ConfigMap to be garbage-collected",
    async () => {
      const gone = async (read: () => Promise<unknown>) => {
        try {
          await read();
          return false;
        } catch (err) {
          if (isApiStatus(err, 404)) return true;
          throw err;
        }
      };
      const secret = await gone(() => core.readNamespacedSecret({ name, namespace: f.namespace }));
      const configMap = await gone(() => core.readNamespacedConfigMap({ name, namespace: f.namespace }));
      return secret && configMap ? true : undefined;
    },
    { timeoutMs: 20_000 },
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(f.sink.events.length, before, "nothing reported after cancel");
  // Cancelling again, or an unknown attempt, does nothing.
  await f.executor.cancel(req.runId, 1);
  await f.executor.cancel(req.runId, 7);
});

test("a Job deleted behind Gantry's back fails the attempt with job_deleted", async (t) => {
  const f = await executorFixture(t, "kx-deleted");
  await f.executor.start();
  const req = request();
  f.annotations.set(req.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(req);
  await f.sink.waitForState(req.runId, "running");
  await f.kc.makeApiClient(BatchV1Api).deleteNamespacedJob({
    name: jobName(req.runId, 1),
    namespace: f.namespace,
    propagationPolicy: "Background",
  });
  const end = await f.sink.waitForState(req.runId, "failed");
  assert.deepEqual(end, {
    runId: req.runId,
    attempt: 1,
    state: "failed",
    reason: "job_deleted",
    exitCode: null,
  });
});

test("a pod no node can hold stays pending with the scheduler's reason, logged once", async (t) => {
  const f = await executorFixture(t, "kx-unsched");
  const sink = recordingSink();
  // 64 cores requested; the fake nodes have 32.
  const executor = f.another({
    sink,
    runConfig: {
      namespace: f.namespace,
      defaultImage: "registry.invalid/gantry-runner:test",
      ttlSecondsAfterFinished: 600,
      runAsUser: 65532,
      apiUrl: "http://gantry.invalid",
      maxCpuMillis: 64_000,
    },
  });
  await executor.start();
  const req = request(spec({}, { cpuSeconds: 64, wallSeconds: 1 }));
  await executor.launch(req);
  const line = await waitFor("the unschedulable reason", async () =>
    sink.lines(req.runId).find((l) => l.text.startsWith("[gantry] pending: unschedulable: ")),
  );
  assert.match(line.text, /Insufficient cpu/);
  assert.deepEqual(
    sink.updates(req.runId).map((u) => u.state),
    ["pending"],
  );
  await executor.cancel(req.runId, 1);
});

test("an evicted pod fails the attempt with evicted", async (t) => {
  const f = await executorFixture(t, "kx-evict");
  await f.executor.start();
  const req = request();
  f.annotations.set(req.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(req);
  await f.sink.waitForState(req.runId, "running");
  const pod = await f.podOf(req.runId);
  // kwok does not simulate eviction: set the status the kubelet's eviction manager would.
  const res = await kubeRequest(f.kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${f.namespace}/pods/${pod.metadata?.name}/status`,
    contentType: "application/merge-patch+json",
    body: JSON.stringify({
      status: { phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." },
    }),
  });
  assert.equal(res.status, 200, res.body);
  const end = await f.sink.waitForState(req.runId, "failed");
  assert.deepEqual(end, { runId: req.runId, attempt: 1, state: "failed", reason: "evicted", exitCode: null });
  assert.ok(
    f.sink
      .lines(req.runId)
      .some((l) => l.text.startsWith("[gantry] failed: evicted · The node was low on resource: memory.")),
  );
});
