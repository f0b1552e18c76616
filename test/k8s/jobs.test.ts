// Jobs on the test control plane: a real Job controller and scheduler, pods run by kwok's Stages
// and steered by the gantry.dev/test-* annotations (test/k8s/README.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchV1Api, CoreV1Api } from "@kubernetes/client-node";
import type { KubeConfig, V1Job, V1Node, V1Pod } from "@kubernetes/client-node";
import { TEST_ANNOTATIONS, createTestNamespace, recordWatch, useTestCluster } from "./harness.ts";

function job(name: string, annotations: Record<string, string>): V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { annotations },
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "main", image: "registry.invalid/gantry-runner:test", command: ["run"] }],
        },
      },
    },
  };
}

async function runJob(kc: KubeConfig, namespace: string, name: string, annotations: Record<string, string>) {
  const pods = await recordWatch<V1Pod>(kc, `/api/v1/namespaces/${namespace}/pods`, {
    labelSelector: `job-name=${name}`,
  });
  const jobs = await recordWatch<V1Job>(kc, `/apis/batch/v1/namespaces/${namespace}/jobs`);
  try {
    await kc.makeApiClient(BatchV1Api).createNamespacedJob({ namespace, body: job(name, annotations) });
    const finished = await jobs.until(`job ${name} to finish`, (e) =>
      (e.object.status?.conditions ?? []).some(
        (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
      ),
    );
    const terminal = await pods.until(`the pod of ${name} to end`, (e) =>
      ["Succeeded", "Failed"].includes(e.object.status?.phase ?? ""),
    );
    return { job: finished.object, pod: terminal.object, podEvents: pods.events };
  } finally {
    pods.stop();
    jobs.stop();
  }
}

test("a Job's pod is scheduled on a fake node and goes Pending → Running → Succeeded, seen through a watch", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-job-ok");
  t.after(() => ns.cleanup());

  const { job, pod, podEvents } = await runJob(kc, ns.name, "ok", {
    [TEST_ANNOTATIONS.startDelay]: "300ms",
    [TEST_ANNOTATIONS.runDuration]: "500ms",
  });

  assert.ok(job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"));
  assert.equal(job.status?.succeeded, 1);

  // Each phase in order, and the pod was on a node while Pending (scheduled, not yet started).
  const phases = podEvents.map((e) => e.object.status?.phase).filter((p, i, all) => p !== all[i - 1]);
  assert.deepEqual(phases, ["Pending", "Running", "Succeeded"]);
  assert.ok(
    podEvents.some((e) => e.object.status?.phase === "Pending" && e.object.spec?.nodeName),
    "the watch saw the pod scheduled but still Pending",
  );

  const nodeName = pod.spec?.nodeName;
  assert.ok(nodeName, "pod was scheduled");
  const node: V1Node = await kc.makeApiClient(CoreV1Api).readNode({ name: nodeName });
  assert.equal(node.metadata?.annotations?.["kwok.x-k8s.io/node"], "fake");
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  assert.equal(terminated?.exitCode, 0);
  assert.equal(terminated?.reason, "Completed");
});

test("a Job told to fail ends Failed with its exit code visible on the pod", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-job-fail");
  t.after(() => ns.cleanup());

  const { job, pod } = await runJob(kc, ns.name, "fail", {
    [TEST_ANNOTATIONS.runDuration]: "200ms",
    [TEST_ANNOTATIONS.exitCode]: "3",
    [TEST_ANNOTATIONS.message]: "grader crashed",
  });

  const failed = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  assert.equal(failed?.reason, "BackoffLimitExceeded");
  assert.equal(job.status?.failed, 1);
  assert.equal(pod.status?.phase, "Failed");
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  assert.equal(terminated?.exitCode, 3);
  assert.equal(terminated?.reason, "Error");
  assert.equal(terminated?.message, "grader crashed");
});

test("a Job told to OOM ends Failed with the container OOMKilled (exit 137)", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-job-oom");
  t.after(() => ns.cleanup());

  const { job, pod } = await runJob(kc, ns.name, "oom", {
    [TEST_ANNOTATIONS.runDuration]: "200ms",
    [TEST_ANNOTATIONS.oom]: "true",
  });

  assert.ok(job.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True"));
  assert.equal(pod.status?.phase, "Failed");
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  assert.equal(terminated?.reason, "OOMKilled");
  assert.equal(terminated?.exitCode, 137);
});

test("a pod told to wait stays Pending with that reason (e.g. ImagePullBackOff)", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-job-wait");
  t.after(() => ns.cleanup());

  const pods = await recordWatch<V1Pod>(kc, `/api/v1/namespaces/${ns.name}/pods`);
  t.after(() => pods.stop());
  await kc.makeApiClient(BatchV1Api).createNamespacedJob({
    namespace: ns.name,
    body: job("pull", { [TEST_ANNOTATIONS.waitingReason]: "ImagePullBackOff" }),
  });
  const waiting = await pods.until("the container to be waiting", (e) =>
    Boolean(e.object.status?.containerStatuses?.[0]?.state?.waiting),
  );
  assert.equal(waiting.object.status?.phase, "Pending");
  assert.equal(waiting.object.status?.containerStatuses?.[0]?.state?.waiting?.reason, "ImagePullBackOff");
});
