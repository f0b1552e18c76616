import assert from "node:assert/strict";
import { test } from "node:test";
import {
  currentPod,
  evictionOf,
  kubernetesRunStatus,
  podStarted,
  type JobLike,
  type PodLike,
  type StatusOptions,
} from "./kubernetes-status.ts";

const NOW = new Date("2026-11-22T01:00:00Z");
const OPTIONS: StatusOptions = { now: NOW, imagePullGraceMs: 60_000, containerName: "main" };

function job(...conditions: { type: string; reason?: string; message?: string }[]): JobLike {
  return {
    metadata: { name: "gantry-r-1" },
    status: { conditions: conditions.map((c) => ({ status: "True", ...c })) },
  };
}

function pod(status: NonNullable<PodLike["status"]>, extra: Partial<PodLike> = {}): PodLike {
  return {
    metadata: { name: "gantry-r-1-abcde", creationTimestamp: "2026-11-22T00:59:00Z" },
    spec: { nodeName: "node-000000" },
    status,
    ...extra,
  };
}

const terminated = (exitCode: number, reason: string) => ({
  phase: exitCode === 0 ? "Succeeded" : "Failed",
  containerStatuses: [{ name: "main", state: { terminated: { exitCode, reason } } }],
});

test("no Job: nothing to say", () => {
  assert.equal(kubernetesRunStatus(undefined, [], OPTIONS), null);
});

test("a Job without a pod yet is pending", () => {
  assert.deepEqual(kubernetesRunStatus(job(), [], OPTIONS), { state: "pending", reason: "waiting_for_pod" });
});

test("an unschedulable pod is pending with the scheduler's message", () => {
  const p = pod(
    {
      phase: "Pending",
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/2 nodes are available",
        },
      ],
    },
    { spec: {} },
  );
  assert.deepEqual(kubernetesRunStatus(job(), [p], OPTIONS), {
    state: "pending",
    reason: "unschedulable: 0/2 nodes are available",
  });
});

test("a scheduled pod not yet started is pending (scheduled, or the container's waiting reason)", () => {
  assert.deepEqual(kubernetesRunStatus(job(), [pod({ phase: "Pending" })], OPTIONS), {
    state: "pending",
    reason: "scheduled",
  });
  const creating = pod({
    phase: "Pending",
    containerStatuses: [{ name: "main", state: { waiting: { reason: "ContainerCreating" } } }],
  });
  assert.deepEqual(kubernetesRunStatus(job(), [creating], OPTIONS), {
    state: "pending",
    reason: "waiting: ContainerCreating",
  });
});

test("an image pull failure is pending during the grace period, with when to look again", () => {
  const p = pod({
    phase: "Pending",
    startTime: "2026-11-22T00:59:30Z", // 30 s ago
    containerStatuses: [
      { name: "main", state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } } },
    ],
  });
  assert.deepEqual(kubernetesRunStatus(job(), [p], OPTIONS), {
    state: "pending",
    reason: "image_pull: ImagePullBackOff: Back-off pulling image",
    recheckInMs: 30_000,
  });
});

test("an image pull failure past the grace period fails the attempt", () => {
  const p = pod({
    phase: "Pending",
    startTime: new Date("2026-11-22T00:58:00Z"), // a model's Date, 2 min ago
    containerStatuses: [
      { name: "main", state: { waiting: { reason: "ErrImagePull", message: "not found" } } },
    ],
  });
  assert.deepEqual(kubernetesRunStatus(job(), [p], OPTIONS), {
    state: "failed",
    reason: "image_pull: ErrImagePull: not found",
    exitCode: null,
  });
});

test("a container that cannot be created fails after the same grace period", () => {
  const p = pod({
    phase: "Pending",
    startTime: "2026-11-22T00:50:00Z",
    containerStatuses: [{ name: "main", state: { waiting: { reason: "CreateContainerConfigError" } } }],
  });
  assert.deepEqual(kubernetesRunStatus(job(), [p], OPTIONS), {
    state: "failed",
    reason: "container_error: CreateContainerConfigError",
    exitCode: null,
  });
});

test("an init container stuck on its image is the reason (the workload's container only says PodInitializing)", () => {
  const p = (startTime: string) =>
    pod({
      phase: "Pending",
      startTime,
      initContainerStatuses: [
        {
          name: "run-token",
          state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
        },
      ],
      containerStatuses: [{ name: "main", state: { waiting: { reason: "PodInitializing" } } }],
    });
  assert.deepEqual(kubernetesRunStatus(job(), [p("2026-11-22T00:59:30Z")], OPTIONS), {
    state: "pending",
    reason: "image_pull: ImagePullBackOff: Back-off pulling image",
    recheckInMs: 30_000,
  });
  assert.deepEqual(kubernetesRunStatus(job(), [p("2026-11-22T00:50:00Z")], OPTIONS), {
    state: "failed",
    reason: "image_pull: ImagePullBackOff: Back-off pulling image",
    exitCode: null,
  });
  // An init container merely running leaves the workload's own reason.
  const initializing = pod({
    phase: "Pending",
    initContainerStatuses: [{ name: "run-token", state: { running: { startedAt: "2026-11-22T00:59:59Z" } } }],
    containerStatuses: [{ name: "main", state: { waiting: { reason: "PodInitializing" } } }],
  });
  assert.deepEqual(kubernetesRunStatus(job(), [initializing], OPTIONS), {
    state: "pending",
    reason: "waiting: PodInitializing",
  });
});

test("a running pod is running", () => {
  const p = pod({ phase: "Running", containerStatuses: [{ name: "main", state: { running: {} } }] });
  assert.deepEqual(kubernetesRunStatus(job(), [p], OPTIONS), { state: "running", reason: "started" });
});

test("a pod that ended before its Job did is still running (the Job controller decides the end)", () => {
  assert.deepEqual(kubernetesRunStatus(job(), [pod(terminated(3, "Error"))], OPTIONS), {
    state: "running",
    reason: "started",
  });
});

test("a Complete Job succeeds with exit code 0", () => {
  assert.deepEqual(
    kubernetesRunStatus(job({ type: "Complete" }), [pod(terminated(0, "Completed"))], OPTIONS),
    {
      state: "succeeded",
      reason: "exit_code 0",
      exitCode: 0,
    },
  );
  // SuccessCriteriaMet comes before Complete.
  assert.equal(kubernetesRunStatus(job({ type: "SuccessCriteriaMet" }), [], OPTIONS)?.state, "succeeded");
});

test("a failed Job fails with its container's exit code", () => {
  const j = job({ type: "FailureTarget", reason: "BackoffLimitExceeded" });
  assert.deepEqual(kubernetesRunStatus(j, [pod(terminated(3, "Error"))], OPTIONS), {
    state: "failed",
    reason: "exit_code 3",
    exitCode: 3,
  });
});

test("OOMKilled fails with memory_limit", () => {
  const j = job({ type: "Failed", reason: "BackoffLimitExceeded" });
  assert.deepEqual(kubernetesRunStatus(j, [pod(terminated(137, "OOMKilled"))], OPTIONS), {
    state: "failed",
    reason: "memory_limit",
    exitCode: 137,
  });
});

test("DeadlineExceeded is timed_out wall_time_limit, whatever the pod says", () => {
  const j = job({ type: "FailureTarget", reason: "DeadlineExceeded", message: "Job was active longer" });
  const killed = pod({ phase: "Running", containerStatuses: [{ name: "main", state: { running: {} } }] });
  assert.deepEqual(kubernetesRunStatus(j, [killed], OPTIONS), {
    state: "timed_out",
    reason: "wall_time_limit",
    exitCode: null,
  });
});

test("an evicted pod (kubelet eviction) fails the attempt with evicted", () => {
  const j = job({ type: "Failed", reason: "BackoffLimitExceeded" });
  const p = pod({ phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." });
  assert.deepEqual(kubernetesRunStatus(j, [p], OPTIONS), {
    state: "failed",
    reason: "evicted",
    exitCode: null,
  });
});

test("a pod evicted through the Eviction API (DisruptionTarget, then deleted) is evicted", () => {
  const j = job({ type: "Failed", reason: "BackoffLimitExceeded" });
  const p = pod(
    {
      phase: "Running",
      conditions: [{ type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI" }],
    },
    { metadata: { name: "gantry-r-1-abcde", deletionTimestamp: "2026-11-22T00:59:59Z" } },
  );
  assert.deepEqual(kubernetesRunStatus(j, [p], OPTIONS), {
    state: "failed",
    reason: "evicted",
    exitCode: null,
  });
  assert.equal(evictionOf(p), "EvictionByEvictionAPI");
});

test("a failed Job whose pod's end was not seen yet is provisional", () => {
  const j = job({
    type: "FailureTarget",
    reason: "BackoffLimitExceeded",
    message: "Job has reached the limit",
  });
  const running = pod({ phase: "Running", containerStatuses: [{ name: "main", state: { running: {} } }] });
  assert.deepEqual(kubernetesRunStatus(j, [running], OPTIONS), {
    state: "failed",
    reason: "job_failed: BackoffLimitExceeded: Job has reached the limit",
    exitCode: null,
    provisional: true,
  });
});

test("the newest pod is the attempt's pod", () => {
  const old = pod(
    { phase: "Failed" },
    { metadata: { name: "a", creationTimestamp: "2026-11-22T00:00:00Z" } },
  );
  const young = pod(
    { phase: "Running" },
    { metadata: { name: "b", creationTimestamp: "2026-11-22T00:30:00Z" } },
  );
  assert.equal(currentPod([young, old]), young);
  assert.equal(currentPod([old, young]), young);
  assert.equal(podStarted(young), true);
  assert.equal(podStarted(pod({ phase: "Pending" })), false);
});
