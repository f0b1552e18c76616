/**
 * What a run attempt's Job and pods say about the attempt: the executor state and reason Gantry
 * reports. Pure: plain objects in (watch JSON or client-node models alike), no I/O, the clock passed
 * in. One test per case in `kubernetes-status.test.ts`.
 *
 * Sources the derivation follows (kubernetes/kubernetes, v1.36):
 * - Job conditions, `pkg/controller/job/job_controller.go`: the controller first adds
 *   `FailureTarget` / `SuccessCriteriaMet` and, once every pod has terminated, `Failed` / `Complete`
 *   with the same reason; reasons `BackoffLimitExceeded`, `DeadlineExceeded` (activeDeadlineSeconds),
 *   `PodFailurePolicy`. kubectl's `printJob` (`pkg/printers/internalversion/printers.go`) shows
 *   `Complete`, `Failed`, `FailureTarget` → "Failing", else "Running" from the same conditions.
 * - Pod status, kubectl's `printPod` (same file): the phase, replaced by `status.reason` (e.g.
 *   `Evicted`), replaced by the last container's `waiting.reason` (`ImagePullBackOff`, …) or
 *   `terminated.reason` (`OOMKilled`, `Error`, `Completed`) or `ExitCode:N` / `Signal:N`.
 * - Scheduling: condition `PodScheduled=False` with reason `Unschedulable` (`v1.PodReasonUnschedulable`)
 *   or `SchedulingGated`.
 * - Image pull waiting reasons, `pkg/kubelet/images/types.go`: `ErrImagePull`, `ImagePullBackOff`,
 *   `InvalidImageName`, `ErrImageNeverPull`, `ImageInspectError`, plus `RegistryUnavailable` and
 *   `SignatureValidationFailed`; container creation, `pkg/kubelet/container/sync_result.go`:
 *   `CreateContainerConfigError`, `CreateContainerError`, `RunContainerError`.
 * - Eviction: the kubelet's eviction manager sets pod `status.reason=Evicted`; disruptions set the
 *   pod condition `DisruptionTarget=True` (`EvictionByEvictionAPI`, `PreemptionByScheduler`,
 *   `DeletionByTaintManager`, `DeletionByPodGC`, `TerminationByKubelet`; `k8s.io/api/core/v1`).
 *
 * Gantry's choices on top:
 * - The end of an attempt comes from the Job's conditions (the Job controller has then counted the
 *   pod); the pod supplies the detail (exit code, OOMKilled, eviction). When the Job has ended but
 *   the pod's end has not been seen yet (two watches, no order between them), the result is marked
 *   `provisional`: the caller waits a moment for the pod before reporting it.
 * - Precedence of a finished attempt: deadline → `timed_out wall_time_limit`; any container
 *   `OOMKilled` → `failed memory_limit` (even if the program recovered, as the local executor does);
 *   eviction → `failed evicted`; Complete → `succeeded exit_code 0`; a non-zero exit → `failed
 *   exit_code N`; anything else → `failed job_failed: <reason>: <message>`.
 * - A pod waiting on an image (or on container creation) fails the attempt once the condition has
 *   lasted `imagePullGraceMs` since the pod started (`status.startTime`, else its creation), so
 *   a restarted Gantry measures the same grace; until then it is `pending` with `recheckInMs`.
 */

export type KubernetesRunState = "pending" | "running" | "succeeded" | "failed" | "timed_out";

export interface KubernetesRunStatus {
  state: KubernetesRunState;
  /** Shared vocabulary: `exit_code N`, `memory_limit`, `wall_time_limit`, `evicted`, `image_pull: …`. */
  reason: string;
  exitCode?: number | null;
  /** Pending only: evaluate again after this long (the image-pull grace period ends then). */
  recheckInMs?: number;
  /** Final only: the Job has ended but its pod's end has not been observed yet. */
  provisional?: boolean;
}

/** Timestamps arrive as strings in watch JSON and as Dates in client-node's models. */
type Time = string | Date;

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: Time;
}

export interface JobLike {
  metadata?: { name?: string; deletionTimestamp?: Time };
  status?: { conditions?: Condition[] };
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: Time };
  terminated?: { exitCode?: number; signal?: number; reason?: string; message?: string };
}

interface ContainerStatus {
  name?: string;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface PodLike {
  metadata?: { name?: string; creationTimestamp?: Time; deletionTimestamp?: Time };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    startTime?: Time;
    conditions?: Condition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

export interface StatusOptions {
  now: Date;
  /** How long a pod may wait on its image (or container creation) before the attempt fails. */
  imagePullGraceMs: number;
  /** The workload's container; default: the first container status. */
  containerName?: string;
}

export const IMAGE_PULL_REASONS: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "ImageInspectError",
  "RegistryUnavailable",
  "SignatureValidationFailed",
]);

export const CONTAINER_ERROR_REASONS: ReadonlySet<string> = new Set([
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

const DISRUPTION_REASONS: ReadonlySet<string> = new Set([
  "EvictionByEvictionAPI",
  "PreemptionByScheduler",
  "DeletionByTaintManager",
  "DeletionByPodGC",
  "TerminationByKubelet",
]);

function condition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type && c.status === "True");
}

function timeMs(t: Time | undefined): number | null {
  if (t === undefined) return null;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

/** The attempt's pod: with backoffLimit 0 there is one; should there be more, the newest. */
export function currentPod<P extends PodLike>(pods: readonly P[]): P | undefined {
  let best: P | undefined;
  for (const pod of pods) {
    if (best === undefined) {
      best = pod;
      continue;
    }
    const a = timeMs(best.metadata?.creationTimestamp) ?? 0;
    const b = timeMs(pod.metadata?.creationTimestamp) ?? 0;
    if (b > a || (b === a && (pod.metadata?.name ?? "") > (best.metadata?.name ?? ""))) best = pod;
  }
  return best;
}

function workloadContainer(pod: PodLike | undefined, name: string | undefined): ContainerStatus | undefined {
  const statuses = pod?.status?.containerStatuses ?? [];
  return (name === undefined ? undefined : statuses.find((s) => s.name === name)) ?? statuses[0];
}

function stuckInitContainer(pod: PodLike): ContainerStatus | undefined {
  return (pod.status?.initContainerStatuses ?? []).find((s) => {
    const reason = s.state?.waiting?.reason ?? "";
    return IMAGE_PULL_REASONS.has(reason) || CONTAINER_ERROR_REASONS.has(reason);
  });
}

function terminatedOf(status: ContainerStatus | undefined) {
  return status?.state?.terminated ?? status?.lastState?.terminated;
}

/** The pod has ended (phase, or every container terminated). */
export function podEnded(pod: PodLike): boolean {
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return true;
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.length > 0 && statuses.every((s) => s.state?.terminated !== undefined);
}

/** A container of the pod has started (running or terminated): its log exists. */
export function podStarted(pod: PodLike): boolean {
  const phase = pod.status?.phase;
  if (phase === "Running" || phase === "Succeeded") return true;
  return (pod.status?.containerStatuses ?? []).some(
    (s) => s.state?.running !== undefined || s.state?.terminated !== undefined,
  );
}

/** Why the pod was evicted or disrupted, or null. */
export function evictionOf(pod: PodLike | undefined): string | null {
  if (pod === undefined) return null;
  if (pod.status?.reason === "Evicted") return pod.status.message ?? "Evicted";
  const disruption = condition(pod.status?.conditions, "DisruptionTarget");
  if (disruption !== undefined && DISRUPTION_REASONS.has(disruption.reason ?? "")) {
    return [disruption.reason, disruption.message].filter(Boolean).join(": ");
  }
  return null;
}

function detail(reason: string | undefined, message: string | undefined): string {
  return [reason, message?.trim()].filter((s) => s !== undefined && s !== "").join(": ");
}

/**
 * The state of an attempt from its Job and the pods it owns (deleted pods included, in their last
 * observed form); null when there is no Job to speak of.
 */
export function kubernetesRunStatus(
  job: JobLike | undefined,
  pods: readonly PodLike[],
  options: StatusOptions,
): KubernetesRunStatus | null {
  if (job === undefined) return null;
  const conditions = job.status?.conditions;
  const pod = currentPod(pods);
  const main = workloadContainer(pod, options.containerName);

  const failed = condition(conditions, "Failed") ?? condition(conditions, "FailureTarget");
  const complete = condition(conditions, "Complete") ?? condition(conditions, "SuccessCriteriaMet");
  if (failed !== undefined || complete !== undefined) {
    if (failed?.reason === "DeadlineExceeded" || pod?.status?.reason === "DeadlineExceeded") {
      return { state: "timed_out", reason: "wall_time_limit", exitCode: null };
    }
    const provisional =
      pod === undefined || !(podEnded(pod) || pod.metadata?.deletionTimestamp !== undefined);
    const mark = (s: KubernetesRunStatus): KubernetesRunStatus => (provisional ? { ...s, provisional } : s);
    const oom = (pod?.status?.containerStatuses ?? []).find((s) => terminatedOf(s)?.reason === "OOMKilled");
    if (oom !== undefined) {
      return { state: "failed", reason: "memory_limit", exitCode: terminatedOf(oom)?.exitCode ?? 137 };
    }
    if (evictionOf(pod) !== null) return { state: "failed", reason: "evicted", exitCode: null };
    if (complete !== undefined && failed === undefined) {
      return { state: "succeeded", reason: "exit_code 0", exitCode: 0 };
    }
    const terminated = terminatedOf(main);
    if (terminated?.exitCode !== undefined && terminated.exitCode !== 0) {
      return { state: "failed", reason: `exit_code ${terminated.exitCode}`, exitCode: terminated.exitCode };
    }
    const waiting = main?.state?.waiting;
    if (waiting?.reason !== undefined && IMAGE_PULL_REASONS.has(waiting.reason)) {
      return {
        state: "failed",
        reason: `image_pull: ${detail(waiting.reason, waiting.message)}`,
        exitCode: null,
      };
    }
    return mark({
      state: "failed",
      reason: `job_failed: ${detail(failed?.reason ?? "Failed", failed?.message) || "the Job failed"}`,
      exitCode: null,
    });
  }

  if (pod === undefined) return { state: "pending", reason: "waiting_for_pod" };
  if (podStarted(pod) || podEnded(pod)) return { state: "running", reason: "started" };

  // An init container (the run token's copier) stuck on its image leaves the workload's container
  // only `PodInitializing`: its reason is the one that tells.
  const waiting = stuckInitContainer(pod)?.state?.waiting ?? main?.state?.waiting;
  const reason = waiting?.reason;
  if (reason !== undefined && (IMAGE_PULL_REASONS.has(reason) || CONTAINER_ERROR_REASONS.has(reason))) {
    const what = IMAGE_PULL_REASONS.has(reason) ? "image_pull" : "container_error";
    const text = `${what}: ${detail(reason, waiting?.message)}`;
    const since = timeMs(pod.status?.startTime) ?? timeMs(pod.metadata?.creationTimestamp);
    const waited = since === null ? 0 : options.now.getTime() - since;
    if (waited >= options.imagePullGraceMs) return { state: "failed", reason: text, exitCode: null };
    return { state: "pending", reason: text, recheckInMs: Math.max(1, options.imagePullGraceMs - waited) };
  }
  if (reason !== undefined && reason !== "") return { state: "pending", reason: `waiting: ${reason}` };
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False") {
    if (scheduled.reason === "Unschedulable")
      return { state: "pending", reason: `unschedulable: ${scheduled.message ?? "no node fits"}` };
    if (scheduled.reason === "SchedulingGated") return { state: "pending", reason: "scheduling_gated" };
  }
  if (pod.spec?.nodeName) return { state: "pending", reason: "scheduled" };
  return { state: "pending", reason: "waiting_for_node" };
}
