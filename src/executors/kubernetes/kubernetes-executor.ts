/**
 * KubernetesExecutor: runs each attempt as a Job in the runs namespace (objects rendered by
 * src/core/kubernetes-objects.ts, checked by the validator), observes it with informers on Jobs and
 * Pods selected by Gantry's label, maps what they say with src/core/kubernetes-status.ts, streams
 * the container's log into the sink, and adopts the Jobs a previous Gantry left running.
 *
 * Reporting contract (for the dispatcher; the same as the local executor's where it can be):
 * - `launch` resolves once the Job (and its Secret and ConfigMap, owned by the Job) exist; it does
 *   not wait for the sink. Launching an attempt whose Job already exists adopts that Job. It
 *   rejects only for executor trouble and then reports nothing (and removes a Job it created):
 *   GANTRY_ERR_EXECUTOR_BUSY when the API server pushes back (429, quota exceeded), otherwise
 *   GANTRY_ERR_EXECUTOR. A spec the validator or the API server refuses (400/422) gets a final
 *   `failed` update with reason `invalid_spec: …` instead.
 * - Per attempt, updates are delivered in order and only forward: `pending` (first reason seen),
 *   `running` (`started`), then exactly one final update. Pending reasons worth knowing
 *   (unschedulable, waiting on an image) also become `system` log lines as they change, since the
 *   store records one event per state. The final update comes after the log has been read to its end.
 * - Image pull (or container creation) failures end the attempt `failed` after `imagePullGraceMs`;
 *   Gantry then deletes the Job. A Job deleted by someone else ends it `failed` (`job_deleted`).
 * - After `cancel()` (which deletes the Job, propagation Background; the Secret and ConfigMap go
 *   with it through the garbage collector) or `shutdown()` nothing more is reported for the
 *   attempts they stopped. `shutdown()` leaves Jobs running.
 * - `start()` (and `resync()`, for Jobs it has not seen launched) adopts every Gantry Job in the
 *   namespace it does not track: it reports nothing but the final update for
 *   them (it does not know what the store recorded before the restart, and the store refuses a
 *   state the run is already in), and reads the logs of those still running from the start again
 *   (lines written before the restart may appear twice; a `system` line says where). Jobs that had
 *   already finished get their final update (the store ignores it when it has one) but no log.
 * - `activeAttempts()` are the attempts whose final update has not been delivered yet: running
 *   Jobs, and Jobs that ended while Gantry was down until their end is reported. `windingDown()`
 *   counts those reported ended whose Job has no Complete/Failed yet (its pod still terminating;
 *   at most a minute each): they still occupy the cluster, so the dispatcher counts them too.
 * - With `maxActiveJobs`, `launch` rejects with GANTRY_ERR_EXECUTOR_BUSY while that many unfinished
 *   Gantry Jobs exist in the namespace — whoever launched them (another Gantry, a Job this one no
 *   longer tracks) — and `capacity()` tells the dispatcher how many more it may send.
 * - `strayResources()` lists unfinished Gantry Jobs that belong to no attempt it knows (the
 *   reconciler reports them, and deletes them with `deleteStrayResource` when told to).
 */

import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesListObject,
  type V1ConfigMap,
  type V1Job,
  type V1Pod,
  type V1Secret,
} from "@kubernetes/client-node";
import { GantryError, isGantryError } from "../../core/errors.ts";
import {
  CONTAINER_NAME,
  GANTRY_ANNOTATIONS,
  GANTRY_LABELS,
  GANTRY_LABEL_VALUES,
  jobName,
  ownedBy,
  renderRunObjects,
  type KubeObject,
  type KubernetesRunConfig,
  type RenderedRun,
} from "../../core/kubernetes-objects.ts";
import {
  currentPod,
  evictionOf,
  kubernetesRunStatus,
  podStarted,
  type KubernetesRunStatus,
} from "../../core/kubernetes-status.ts";
import { DEFAULT_LIMITS } from "../../core/workload.ts";
import { assertValidObjects } from "../../validate/guard.ts";
import {
  attemptKey,
  type AttemptUpdate,
  type Executor,
  type ExecutorSink,
  type LaunchRequest,
  type LiveLog,
  type LiveLogOptions,
  type StrayResource,
} from "../executor.ts";
import { apiMessage, apiStatus, isTransient } from "./api-errors.ts";
import { RestartingInformer } from "./informer.ts";
import { errorMessage, NOOP_LOGGER, type KubernetesExecutorLogger } from "./logger.ts";
import { checkPermissions } from "./permissions.ts";
import { PodLogError, PodLogFollower, readPodLogError, sendPodLogRequest } from "./pod-log.ts";
import { TokenBucket } from "./rate-limit.ts";

export interface KubernetesExecutorOptions {
  kubeConfig: KubeConfig;
  sink: ExecutorSink;
  /** Namespace, default image, TTL, uid, API URL for pods (see kubernetes-objects.ts). */
  runConfig: KubernetesRunConfig;
  /** How long a pod may wait on its image (or container creation) before the attempt fails. Default 2 min. */
  imagePullGraceMs?: number;
  logger?: KubernetesExecutorLogger;
  /** Client-side rate limit of API requests (watches excluded). Defaults 50 and 100. */
  qps?: number;
  burst?: number;
  /** Validate rendered objects before sending them (src/validate). Default true. */
  validate?: boolean;
  /** Extra pod-template annotations per attempt (the test cluster steers fake pods with them). */
  podAnnotations?: (request: LaunchRequest) => Record<string, string> | undefined;
  /** How long to wait for a pod's end after its Job's, before reporting without it. Default 2 s. */
  podSettleMs?: number;
  /**
   * Most unfinished Gantry Jobs in the namespace at once, counting every Gantry Job there (not only
   * this process's). 0 or absent: no cap of its own (the dispatcher's run cap still holds).
   */
  maxActiveJobs?: number;
  /** How long a launch sends its requests again while the API server does not answer, ms. Default 30 s. */
  launchRetryMs?: number;
  /** Informer restart backoff, ms. Defaults 500 → 30 000. */
  watchRetryBaseMs?: number;
  watchRetryMaxMs?: number;
}

const FINISHED_KEYS_KEPT = 10_000;
/** Longest an ended attempt's Job counts as winding down while waiting for Complete/Failed. */
const WIND_DOWN_MAX_MS = 60_000;
const RANK = { pending: 1, running: 2 } as const;
/** Pending reasons every attempt goes through; only the others are worth a log line. */
const ROUTINE_PENDING: ReadonlySet<string> = new Set(["waiting_for_pod", "waiting_for_node", "scheduled"]);

interface Attempt {
  key: string;
  runId: string;
  attempt: number;
  name: string;
  outputBytes: number;
  /** Found at start(): only the final update is reported. */
  adopted: boolean;
  /** Adopted after it had already finished: no log to read. */
  skipLogs: boolean;
  /** Highest state reported so far (RANK), 0 for none. */
  reported: number;
  lastPendingReason: string | null;
  /** The Job as last seen (its final form once deleted). */
  job: V1Job | undefined;
  jobGone: boolean;
  /** Pods of the Job that were deleted, in their last observed form. */
  deletedPods: Map<string, V1Pod>;
  launching: Promise<void> | null;
  /** Created by this launch (deleted again if the launch fails half-way). */
  createdJob: boolean;
  stopped: boolean;
  finalizing: boolean;
  logs: PodLogFollower | null;
  recheckTimer: NodeJS.Timeout | null;
  settleTimer: NodeJS.Timeout | null;
  settled: boolean;
  updates: Promise<void>;
}

function jobOwnerName(pod: V1Pod): string | undefined {
  const ref = pod.metadata?.ownerReferences?.find((r) => r.kind === "Job" && r.controller === true);
  return (
    ref?.name ?? pod.metadata?.labels?.["batch.kubernetes.io/job-name"] ?? pod.metadata?.labels?.["job-name"]
  );
}

/** Complete or Failed: the Job controller is done with it (its pods are gone and counted). */
function jobTerminal(job: V1Job | undefined): boolean {
  return (job?.status?.conditions ?? []).some(
    (c) => c.status === "True" && (c.type === "Complete" || c.type === "Failed"),
  );
}

/** The Job's outcome is known (SuccessCriteriaMet / FailureTarget come first, then Complete / Failed). */
function jobFinished(job: V1Job | undefined): boolean {
  return (job?.status?.conditions ?? []).some(
    (c) =>
      c.status === "True" &&
      (c.type === "Complete" ||
        c.type === "Failed" ||
        c.type === "FailureTarget" ||
        c.type === "SuccessCriteriaMet"),
  );
}

/** Rendered objects are plain JSON of these kinds; the typed clients take them as their models. */
const asModel = <T>(obj: KubeObject): T => obj as unknown as T;

export class KubernetesExecutor implements Executor {
  readonly name = "kubernetes";
  private readonly kc: KubeConfig;
  private readonly sink: ExecutorSink;
  private readonly config: KubernetesRunConfig;
  private readonly namespace: string;
  private readonly log: KubernetesExecutorLogger;
  private readonly imagePullGraceMs: number;
  private readonly podSettleMs: number;
  private readonly validate: boolean;
  private readonly limiter: TokenBucket;
  private readonly maxActiveJobs: number;
  private readonly launchRetryMs: number;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly attempts = new Map<string, Attempt>();
  private readonly byName = new Map<string, Attempt>();
  private readonly podsByJob = new Map<string, Map<string, V1Pod>>();
  private readonly finished = new Set<string>();
  /** Jobs of attempts whose end is reported but that have no Complete/Failed yet, with a timeout. */
  private readonly windingDownJobs = new Map<string, NodeJS.Timeout>();
  private jobInformer: RestartingInformer<V1Job> | null = null;
  private podInformer: RestartingInformer<V1Pod> | null = null;
  private started = false;
  private closed = false;

  constructor(private readonly options: KubernetesExecutorOptions) {
    this.kc = options.kubeConfig;
    this.sink = options.sink;
    this.config = options.runConfig;
    this.namespace = options.runConfig.namespace;
    this.log = options.logger ?? NOOP_LOGGER;
    this.imagePullGraceMs = options.imagePullGraceMs ?? 120_000;
    this.podSettleMs = options.podSettleMs ?? 2000;
    this.validate = options.validate ?? true;
    this.limiter = new TokenBucket(options.qps ?? 50, options.burst ?? 100);
    this.maxActiveJobs = options.maxActiveJobs ?? 0;
    this.launchRetryMs = options.launchRetryMs ?? 30_000;
    if (!Number.isSafeInteger(this.maxActiveJobs) || this.maxActiveJobs < 0)
      throw new GantryError("GANTRY_ERR_CONFIG", ["maxActiveJobs must be a non-negative integer"]);
    this.batch = this.kc.makeApiClient(BatchV1Api);
    this.core = this.kc.makeApiClient(CoreV1Api);
    if (this.namespace === "") throw new GantryError("GANTRY_ERR_CONFIG", ["the runs namespace is empty"]);
  }

  /** Reachability and every permission the executor needs (GANTRY_ERR_CONFIG naming what is wrong). */
  async checkAccess(): Promise<void> {
    await checkPermissions(this.kc, this.namespace);
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.closed) throw new GantryError("GANTRY_ERR_EXECUTOR", ["the kubernetes executor is shut down"]);
    await checkPermissions(this.kc, this.namespace);
    const ns = this.namespace;
    const labelSelector = `${GANTRY_LABELS.managedBy}=${GANTRY_LABEL_VALUES.managedBy}`;
    const common = {
      kubeConfig: this.kc,
      labelSelector,
      logger: this.log,
      baseDelayMs: this.options.watchRetryBaseMs,
      maxDelayMs: this.options.watchRetryMaxMs,
    };
    this.podInformer = new RestartingInformer<V1Pod>({
      ...common,
      what: "pods",
      path: `/api/v1/namespaces/${ns}/pods`,
      list: () => this.core.listNamespacedPod({ namespace: ns, labelSelector }),
      onUpsert: (pod) => this.onPod(pod, false),
      onDelete: (pod) => this.onPod(pod, true),
    });
    this.jobInformer = new RestartingInformer<V1Job>({
      ...common,
      what: "jobs",
      path: `/apis/batch/v1/namespaces/${ns}/jobs`,
      list: (): Promise<KubernetesListObject<V1Job>> =>
        this.batch.listNamespacedJob({ namespace: ns, labelSelector }),
      onUpsert: (job) => this.onJob(job, false),
      onDelete: (job) => this.onJob(job, true),
    });
    try {
      // Pods first: when the Jobs are adopted below, their pods are known.
      await this.podInformer.start();
      await this.jobInformer.start();
    } catch (err) {
      await this.podInformer.stop();
      throw new GantryError("GANTRY_ERR_CONFIG", [
        `cannot list and watch Jobs and Pods in namespace "${ns}": ${apiMessage(err)}`,
      ]);
    }
    this.started = true;
    const adopted = this.jobInformer.list().flatMap((job) => this.adopt(job) ?? []);
    await this.dropIncomplete(adopted);
    this.log.info({ namespace: ns, adopted: adopted.length }, "kubernetes executor started");
  }

  async resync(): Promise<number> {
    if (!this.started || this.closed) return 0;
    const adopted: Attempt[] = [];
    for (const job of this.jobInformer?.list() ?? []) {
      const name = job.metadata?.name;
      if (name === undefined || this.byName.has(name) || job.metadata?.deletionTimestamp !== undefined)
        continue;
      const a = this.adopt(job);
      if (a !== null) adopted.push(a);
    }
    await this.dropIncomplete(adopted);
    if (adopted.length > 0)
      this.log.info({ adopted: adopted.length }, "kubernetes executor: adopted Jobs it did not track");
    return adopted.length;
  }

  /**
   * A Gantry killed between creating a Job and its Secret (or ConfigMap) leaves a Job whose pod
   * can never start: it waits for them, and only the dead process knew the token. Such a Job is
   * deleted and its attempt dropped, so the reconciler relaunches the run as a new attempt.
   */
  private async dropIncomplete(adopted: readonly Attempt[]): Promise<void> {
    const namespace = this.namespace;
    const missing = async (read: () => Promise<unknown>): Promise<boolean> => {
      await this.limiter.take();
      try {
        await read();
        return false;
      } catch (err) {
        if (apiStatus(err) === 404) return true;
        throw err;
      }
    };
    for (const a of adopted) {
      if (a.skipLogs || a.stopped || this.podsOf(a).some((pod) => podStarted(pod))) continue;
      const name = a.name;
      const lacking: string[] = [];
      try {
        if (await missing(() => this.core.readNamespacedSecret({ name, namespace }))) lacking.push("Secret");
        const payload = a.job?.metadata?.annotations?.[GANTRY_ANNOTATIONS.payload];
        if (
          payload === "configmap" &&
          (await missing(() => this.core.readNamespacedConfigMap({ name, namespace })))
        )
          lacking.push("ConfigMap");
      } catch (err) {
        this.log.warn(
          { attempt: a.key, err: apiMessage(err) },
          "kubernetes executor: checking an adopted Job failed",
        );
        continue;
      }
      if (lacking.length === 0) continue;
      this.log.warn(
        { attempt: a.key, job: name, lacking },
        "kubernetes executor: an adopted Job lacks its Secret/ConfigMap (Gantry died while creating them); deleting it so the run is relaunched",
      );
      this.halt(a);
      this.forget(a);
      await this.deleteJob(name).catch((err: unknown) =>
        this.log.warn(
          { attempt: a.key, err: apiMessage(err) },
          "kubernetes executor: deleting an incomplete Job failed",
        ),
      );
    }
  }

  /** Tracks a Gantry Job found at start-up or by resync(); null when it is not an attempt's Job. */
  private adopt(job: V1Job): Attempt | null {
    const name = job.metadata?.name;
    const runId = job.metadata?.annotations?.[GANTRY_ANNOTATIONS.runId];
    const attempt = Number(job.metadata?.labels?.[GANTRY_LABELS.attempt]);
    if (name === undefined || runId === undefined || !Number.isSafeInteger(attempt)) return null;
    const key = attemptKey(runId, attempt);
    if (this.attempts.has(key) || this.finished.has(key)) return null;
    const outputBytes = Number(job.metadata?.annotations?.[GANTRY_ANNOTATIONS.outputBytes]);
    const a = this.track(
      key,
      runId,
      attempt,
      name,
      Number.isSafeInteger(outputBytes) && outputBytes > 0 ? outputBytes : DEFAULT_LIMITS.outputBytes,
    );
    a.adopted = true;
    a.job = job;
    a.skipLogs = jobFinished(job);
    if (!a.skipLogs)
      this.systemLine(
        a,
        `[gantry] Gantry restarted and adopted Job ${name}; its log is read again from the start`,
      );
    this.evaluate(a);
    return a;
  }

  private track(key: string, runId: string, attempt: number, name: string, outputBytes: number): Attempt {
    const a: Attempt = {
      key,
      runId,
      attempt,
      name,
      outputBytes,
      adopted: false,
      skipLogs: false,
      reported: 0,
      lastPendingReason: null,
      job: undefined,
      jobGone: false,
      deletedPods: new Map(),
      launching: null,
      createdJob: false,
      stopped: false,
      finalizing: false,
      logs: null,
      recheckTimer: null,
      settleTimer: null,
      settled: false,
      updates: Promise.resolve(),
    };
    this.attempts.set(key, a);
    this.byName.set(name, a);
    return a;
  }

  private forget(a: Attempt): void {
    if (this.attempts.get(a.key) === a) this.attempts.delete(a.key);
    if (this.byName.get(a.name) === a) this.byName.delete(a.name);
    this.finished.add(a.key);
    if (this.finished.size > FINISHED_KEYS_KEPT) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }

  async launch(request: LaunchRequest): Promise<void> {
    if (this.closed) throw new GantryError("GANTRY_ERR_EXECUTOR", ["the kubernetes executor is shut down"]);
    if (!this.started)
      throw new GantryError("GANTRY_ERR_EXECUTOR", ["the kubernetes executor is not started"]);
    const key = attemptKey(request.runId, request.attempt);
    if (this.attempts.has(key) || this.finished.has(key)) return;

    let rendered: RenderedRun;
    try {
      rendered = renderRunObjects(
        {
          runId: request.runId,
          attempt: request.attempt,
          owner: request.owner,
          kind: request.spec.submission === undefined ? "job" : "submission",
          spec: request.spec,
          runToken: request.runToken,
          podAnnotations: this.options.podAnnotations?.(request),
        },
        { ...this.config, apiUrl: this.config.apiUrl === "" ? request.apiUrl : this.config.apiUrl },
      );
      if (this.validate) {
        assertValidObjects([
          rendered.job,
          rendered.secret,
          ...(rendered.configMap ? [rendered.configMap] : []),
        ]);
      }
    } catch (err) {
      if (isGantryError(err) && err.code === "GANTRY_ERR_VALIDATION") {
        this.refuse(request, key, `invalid_spec: ${err.message}`);
        return;
      }
      throw err;
    }

    // No await since the check: concurrent launches cannot overshoot the cap.
    if (this.maxActiveJobs > 0 && this.capacity() <= 0) {
      throw new GantryError("GANTRY_ERR_EXECUTOR_BUSY", [
        `${this.maxActiveJobs} unfinished Gantry Jobs exist in namespace ${this.namespace} (maxActiveJobs)`,
      ]);
    }
    const a = this.track(key, request.runId, request.attempt, rendered.name, request.spec.limits.outputBytes);
    a.launching = this.createObjects(a, rendered);
    try {
      await a.launching;
    } catch (err) {
      a.launching = null;
      this.halt(a);
      this.forget(a);
      this.finished.delete(key);
      if (a.createdJob) await this.deleteJob(a.name).catch(() => undefined);
      const status = apiStatus(err);
      const message = apiMessage(err);
      if (isTransient(err)) {
        // Not the run's fault: back to the queue. A Job left behind without its Secret is deleted
        // by the next reconcile (resync adopts it, and drops it as incomplete).
        throw new GantryError("GANTRY_ERR_EXECUTOR_BUSY", [
          `the Kubernetes API server did not answer creating Job ${this.namespace}/${a.name}: ${message}`,
        ]);
      }
      if (status === 400 || status === 422) {
        this.refuse(request, key, `invalid_spec: ${message}`);
        return;
      }
      if (status === 429 || (status === 403 && /exceeded quota/i.test(message))) {
        throw new GantryError("GANTRY_ERR_EXECUTOR_BUSY", [
          `the Kubernetes API server refused a Job: ${message}`,
        ]);
      }
      if (isGantryError(err)) throw err;
      throw new GantryError("GANTRY_ERR_EXECUTOR", [`creating Job ${this.namespace}/${a.name}: ${message}`]);
    }
    a.launching = null;
    if (a.stopped) return;
    this.evaluate(a);
  }

  /** A final `failed` update for an attempt that never reached the cluster. */
  private refuse(request: LaunchRequest, key: string, reason: string): void {
    this.finished.add(key);
    const update: AttemptUpdate = {
      runId: request.runId,
      attempt: request.attempt,
      state: "failed",
      reason,
      exitCode: null,
    };
    this.sink
      .update(update)
      .catch((err: unknown) => this.log.error({ update, err: errorMessage(err) }, "sink.update failed"));
  }

  private async createObjects(a: Attempt, rendered: RenderedRun): Promise<void> {
    const namespace = this.namespace;
    let job: V1Job;
    const deadline = Date.now() + this.launchRetryMs;
    try {
      job = await this.retryTransient(a, deadline, () =>
        this.batch.createNamespacedJob({ namespace, body: asModel<V1Job>(rendered.job) }),
      );
      a.createdJob = true;
    } catch (err) {
      if (apiStatus(err) !== 409) throw err;
      job = await this.retryTransient(a, deadline, () =>
        this.batch.readNamespacedJob({ name: a.name, namespace }),
      );
      const runId = job.metadata?.annotations?.[GANTRY_ANNOTATIONS.runId];
      if (runId !== a.runId || job.metadata?.labels?.[GANTRY_LABELS.attempt] !== String(a.attempt)) {
        throw new GantryError("GANTRY_ERR_EXECUTOR", [
          `Job ${namespace}/${a.name} exists but belongs to another attempt (${runId ?? "no run id"})`,
        ]);
      }
      this.log.info(
        { attempt: a.key, job: a.name },
        "kubernetes executor: the Job exists already; adopting it",
      );
    }
    a.job ??= job;
    const uid = job.metadata?.uid;
    if (uid === undefined)
      throw new GantryError("GANTRY_ERR_EXECUTOR", [`Job ${namespace}/${a.name} has no uid`]);
    const owner = { metadata: { name: a.name, uid } };
    await this.createOwned(a, deadline, ownedBy(rendered.secret, owner), (body) =>
      this.core.createNamespacedSecret({ namespace, body: asModel<V1Secret>(body) }),
    );
    if (rendered.configMap !== null) {
      await this.createOwned(a, deadline, ownedBy(rendered.configMap, owner), (body) =>
        this.core.createNamespacedConfigMap({ namespace, body: asModel<V1ConfigMap>(body) }),
      );
    }
  }

  private async createOwned(
    a: Attempt,
    deadline: number,
    obj: KubeObject,
    create: (obj: KubeObject) => Promise<unknown>,
  ): Promise<void> {
    try {
      await this.retryTransient(a, deadline, () => create(obj));
    } catch (err) {
      if (apiStatus(err) !== 409) throw err;
    }
  }

  /**
   * One API request of a launch, sent again after transient trouble (no answer, 500/502/503/504:
   * an API server restarting) until `deadline`: once the Job exists, giving up would leave it
   * without its Secret, so the launch waits for the API server rather than fail the run.
   */
  private async retryTransient<T>(a: Attempt, deadline: number, send: () => Promise<T>): Promise<T> {
    let delay = 250;
    for (;;) {
      await this.limiter.take();
      try {
        return await send();
      } catch (err) {
        if (!isTransient(err) || a.stopped || this.closed || Date.now() + delay > deadline) throw err;
        this.log.warn(
          { attempt: a.key, err: apiMessage(err), retryInMs: delay },
          "kubernetes executor: the API server did not answer; sending again",
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 4000);
      }
    }
  }

  private async deleteJob(name: string): Promise<void> {
    await this.limiter.take();
    try {
      await this.batch.deleteNamespacedJob({
        name,
        namespace: this.namespace,
        propagationPolicy: "Background",
      });
    } catch (err) {
      if (apiStatus(err) !== 404) throw err;
    }
  }

  // --- observing ------------------------------------------------------------------------------

  private onJob(job: V1Job, deleted: boolean): void {
    const name = job.metadata?.name;
    if (name === undefined) return;
    if (deleted || jobTerminal(job)) this.woundDown(name);
    const a = this.byName.get(name);
    if (a === undefined) return;
    // A Job of the same name from before (another uid) says nothing about this one.
    const uid = job.metadata?.uid;
    if (a.job?.metadata?.uid !== undefined && uid !== undefined && a.job.metadata.uid !== uid) return;
    a.job = job;
    if (deleted) a.jobGone = true;
    this.evaluate(a);
  }

  private onPod(pod: V1Pod, deleted: boolean): void {
    const podName = pod.metadata?.name;
    const jobName = jobOwnerName(pod);
    if (podName === undefined || jobName === undefined) return;
    let pods = this.podsByJob.get(jobName);
    if (deleted) {
      pods?.delete(podName);
      if (pods?.size === 0) this.podsByJob.delete(jobName);
    } else {
      if (pods === undefined) this.podsByJob.set(jobName, (pods = new Map()));
      pods.set(podName, pod);
    }
    const a = this.byName.get(jobName);
    if (a === undefined) return;
    if (deleted) a.deletedPods.set(podName, pod);
    else a.deletedPods.delete(podName);
    this.evaluate(a);
  }

  private podsOf(a: Attempt): V1Pod[] {
    const live = this.podsByJob.get(a.name);
    const pods = live === undefined ? [] : [...live.values()];
    for (const [name, pod] of a.deletedPods) if (!live?.has(name)) pods.push(pod);
    return pods;
  }

  /** Applies what is known about the attempt's Job and pods: report, follow logs, finish. */
  private evaluate(a: Attempt): void {
    if (a.stopped || a.finalizing || this.closed || a.job === undefined) return;
    if (a.recheckTimer !== null) clearTimeout(a.recheckTimer);
    a.recheckTimer = null;
    const pods = this.podsOf(a);
    const status = kubernetesRunStatus(a.job, pods, {
      now: new Date(),
      imagePullGraceMs: this.imagePullGraceMs,
      containerName: CONTAINER_NAME,
    });
    const final = status !== null && status.state !== "pending" && status.state !== "running";
    if (a.jobGone && !final) {
      void this.finalize(a, { state: "failed", reason: "job_deleted", exitCode: null });
      return;
    }
    if (status === null) return;
    if (final) {
      if (status.provisional === true && !a.jobGone && !a.settled) {
        a.settleTimer ??= setTimeout(() => {
          a.settleTimer = null;
          a.settled = true;
          this.evaluate(a);
        }, this.podSettleMs);
        return;
      }
      void this.finalize(a, status);
      return;
    }
    const pod = currentPod(pods);
    if (pod !== undefined && podStarted(pod)) this.followLogs(a, pod);
    if (status.recheckInMs !== undefined) {
      a.recheckTimer = setTimeout(() => {
        a.recheckTimer = null;
        this.evaluate(a);
      }, status.recheckInMs + 20);
    }
    if (status.state === "pending" && status.reason !== a.lastPendingReason) {
      if (!ROUTINE_PENDING.has(status.reason)) this.systemLine(a, `[gantry] pending: ${status.reason}`);
      a.lastPendingReason = status.reason;
    }
    const rank = status.state === "running" ? RANK.running : RANK.pending;
    if (!a.adopted && rank > a.reported) {
      a.reported = rank;
      this.report(a, { state: status.state, reason: status.reason });
    }
  }

  private followLogs(a: Attempt, pod: V1Pod): PodLogFollower | null {
    if (a.logs !== null || a.skipLogs) return a.logs;
    const podName = pod.metadata?.name;
    if (podName === undefined) return null;
    a.logs = new PodLogFollower({
      kubeConfig: this.kc,
      namespace: this.namespace,
      pod: podName,
      container: CONTAINER_NAME,
      limitBytes: a.outputBytes,
      limiter: this.limiter,
      emit: (stream, text, at) => this.emitLine(a, stream, text, at),
      onError: (message) =>
        this.log.warn({ attempt: a.key, pod: podName, message }, "kubernetes executor: pod log"),
    });
    a.logs.start();
    return a.logs;
  }

  private async finalize(a: Attempt, status: KubernetesRunStatus): Promise<void> {
    if (a.finalizing || a.stopped) return;
    a.finalizing = true;
    for (const t of [a.recheckTimer, a.settleTimer]) if (t !== null) clearTimeout(t);
    a.recheckTimer = a.settleTimer = null;
    const pods = this.podsOf(a);
    const pod = currentPod(pods);
    // A pod that ran and ended before we followed it (or that we never saw running) still has a log.
    const logs = pod !== undefined && podStarted(pod) ? this.followLogs(a, pod) : a.logs;
    try {
      await logs?.finish();
    } catch (err) {
      this.log.warn(
        { attempt: a.key, err: errorMessage(err) },
        "kubernetes executor: reading the log failed",
      );
    }
    if (a.stopped || this.closed) return;
    const details = [`[gantry] ${status.state}: ${status.reason}`];
    const eviction = evictionOf(pod);
    if (eviction !== null && status.reason === "evicted") details.push(eviction);
    if (status.reason.startsWith("job_deleted"))
      details.push(`Job ${this.namespace}/${a.name} was deleted by someone else`);
    if (logs !== null) details.push(`output ${logs.bytes} B${logs.wasTruncated ? " (truncated)" : ""}`);
    this.systemLine(a, details.join(" · "));
    // Its pod may still be terminating: the attempt keeps its place under the caps until the Job
    // controller is done with it (Complete/Failed come after SuccessCriteriaMet/FailureTarget).
    if (!a.jobGone && !jobTerminal(a.job) && !this.windingDownJobs.has(a.name)) {
      const name = a.name;
      const timer = setTimeout(() => this.woundDown(name), WIND_DOWN_MAX_MS);
      timer.unref();
      this.windingDownJobs.set(name, timer);
    }
    this.report(a, { state: status.state, reason: status.reason, exitCode: status.exitCode ?? null });
    if (!a.jobGone && !jobFinished(a.job)) {
      // Gantry ended it (image pull grace): the Job would otherwise wait for its deadline.
      this.deleteJob(a.name).catch((err: unknown) =>
        this.log.warn(
          { attempt: a.key, err: apiMessage(err) },
          "kubernetes executor: deleting an ended Job failed",
        ),
      );
    }
    await a.updates;
    this.forget(a);
  }

  private systemLine(a: Attempt, text: string): void {
    this.emitLine(a, "system", text, new Date());
  }

  private emitLine(a: Attempt, stream: "stdout" | "system", text: string, at: Date): void {
    if (a.stopped || this.closed) return;
    try {
      this.sink.log({ runId: a.runId, attempt: a.attempt, stream, at, text });
    } catch (err) {
      this.log.error({ err: errorMessage(err), attempt: a.key }, "sink.log threw");
    }
  }

  /** Queues an update for the attempt, after its earlier ones. */
  private report(a: Attempt, u: Omit<AttemptUpdate, "runId" | "attempt">): void {
    const update: AttemptUpdate = { runId: a.runId, attempt: a.attempt, ...u };
    a.updates = a.updates
      .then(() => this.sink.update(update))
      .catch((err: unknown) => {
        this.log.error({ attempt: a.key, update, err: errorMessage(err) }, "sink.update failed");
      });
  }

  // --- control --------------------------------------------------------------------------------

  async cancel(runId: string, attempt: number): Promise<void> {
    const a = this.attempts.get(attemptKey(runId, attempt));
    if (a === undefined) return;
    this.halt(a);
    if (a.launching !== null) await a.launching.catch(() => undefined);
    try {
      await this.deleteJob(a.name);
    } catch (err) {
      throw new GantryError("GANTRY_ERR_EXECUTOR", [
        `deleting Job ${this.namespace}/${a.name}: ${apiMessage(err)}`,
      ]);
    } finally {
      this.forget(a);
    }
  }

  private halt(a: Attempt): void {
    a.stopped = true;
    for (const t of [a.recheckTimer, a.settleTimer]) if (t !== null) clearTimeout(t);
    a.recheckTimer = a.settleTimer = null;
    a.logs?.stop();
  }

  /** Names of the unfinished Gantry Jobs in the namespace, and of those being created now. */
  private unfinishedJobNames(): Set<string> {
    const names = new Set<string>();
    for (const job of this.jobInformer?.list() ?? []) {
      const name = job.metadata?.name;
      if (name !== undefined && !jobTerminal(job)) names.add(name);
    }
    for (const a of this.attempts.values()) {
      if (!a.stopped && !a.jobGone && !jobTerminal(a.job)) names.add(a.name);
    }
    return names;
  }

  private woundDown(name: string): void {
    const timer = this.windingDownJobs.get(name);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.windingDownJobs.delete(name);
  }

  windingDown(): number {
    return this.windingDownJobs.size;
  }

  capacity(): number {
    if (this.maxActiveJobs === 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.maxActiveJobs - this.unfinishedJobNames().size);
  }

  strayResources(): StrayResource[] {
    const strays: StrayResource[] = [];
    for (const job of this.jobInformer?.list() ?? []) {
      const name = job.metadata?.name;
      if (name === undefined || this.byName.has(name) || jobFinished(job)) continue;
      if (job.metadata?.deletionTimestamp !== undefined) continue;
      const runId = job.metadata?.annotations?.[GANTRY_ANNOTATIONS.runId] ?? null;
      const attempt = Number(job.metadata?.labels?.[GANTRY_LABELS.attempt]);
      const validAttempt = Number.isSafeInteger(attempt) ? attempt : null;
      if (runId !== null && validAttempt !== null && this.finished.has(attemptKey(runId, validAttempt)))
        continue;
      strays.push({ description: `Job ${this.namespace}/${name}`, name, runId, attempt: validAttempt });
    }
    return strays;
  }

  async deleteStrayResource(name: string): Promise<void> {
    if (this.byName.has(name))
      throw new GantryError("GANTRY_ERR_EXECUTOR", [
        `Job ${this.namespace}/${name} belongs to a tracked attempt`,
      ]);
    try {
      await this.deleteJob(name);
    } catch (err) {
      throw new GantryError("GANTRY_ERR_EXECUTOR", [
        `deleting Job ${this.namespace}/${name}: ${apiMessage(err)}`,
      ]);
    }
  }

  async openLiveLog(runId: string, attempt: number, options: LiveLogOptions): Promise<LiveLog> {
    const name = jobName(runId, attempt);
    const live = this.podsByJob.get(name);
    const pod = currentPod(live === undefined ? [] : [...live.values()]);
    const podName = pod?.metadata?.name;
    const noPod = () =>
      new GantryError("GANTRY_ERR_LIVE_LOG_UNAVAILABLE", [
        runId,
        `attempt ${attempt} has no pod in namespace ${this.namespace} (not started yet, or gone: its log is archived at /v1/runs/${runId}/logs)`,
      ]);
    if (pod === undefined || podName === undefined) throw noPod();
    const container = options.container ?? CONTAINER_NAME;
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map(
      (c) => c.name,
    );
    if (!containers.includes(container)) {
      throw new GantryError("GANTRY_ERR_VALIDATION", [
        `container ${JSON.stringify(container.slice(0, 64))} is not in pod ${podName} (it has ${containers.join(", ")})`,
      ]);
    }
    await this.limiter.take();
    const target = { namespace: this.namespace, pod: podName };
    return new Promise<LiveLog>((resolve, reject) => {
      // A 404: the pod went after the informer last saw it.
      const fail = (err: Error) =>
        reject(
          err instanceof PodLogError && err.status === 404
            ? noPod()
            : new GantryError("GANTRY_ERR_LIVE_LOG_UNAVAILABLE", [runId, `pod ${podName}: ${err.message}`]),
        );
      sendPodLogRequest(this.kc, target, { ...options, container }, (res) => {
        if (res.statusCode !== 200) {
          readPodLogError(res, fail);
          return;
        }
        resolve({
          source: `pod ${this.namespace}/${podName}, container ${container}`,
          stream: res,
          close: () => res.destroy(),
        });
      })
        .then((req) => req.on("error", fail))
        .catch(fail);
    });
  }

  async activeAttempts(): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const [key, a] of this.attempts) if (!a.stopped) keys.add(key);
    return keys;
  }

  /** Stops informers and log streams; Jobs keep running (a restarted Gantry adopts them). */
  async shutdown(): Promise<void> {
    this.closed = true;
    const launches: Promise<void>[] = [];
    for (const a of this.attempts.values()) {
      this.halt(a);
      if (a.launching !== null) launches.push(a.launching.catch(() => undefined));
    }
    await Promise.all(launches);
    await Promise.all([this.jobInformer?.stop(), this.podInformer?.stop()]);
    this.attempts.clear();
    this.byName.clear();
    for (const timer of this.windingDownJobs.values()) clearTimeout(timer);
    this.windingDownJobs.clear();
    this.podsByJob.clear();
  }
}

export interface CreateKubernetesExecutorOptions {
  sink: ExecutorSink;
  /** A kubeconfig file; default: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfigPath?: string;
  namespace: string;
  defaultImage: string;
  ttlSecondsAfterFinished: number;
  /** Non-root uid the workloads run as. Default 65532. */
  runAsUser?: number;
  /** Gantry's API as pods reach it; default: the dispatcher's public URL. */
  apiUrl?: string;
  imagePullGraceSeconds?: number;
  qps?: number;
  burst?: number;
  /** Most unfinished Gantry Jobs in the namespace at once; 0: no cap of its own. */
  maxActiveJobs?: number;
  logger?: KubernetesExecutorLogger;
}

/** Builds the executor from plain settings (the server's config). */
export function createKubernetesExecutor(options: CreateKubernetesExecutorOptions): KubernetesExecutor {
  const kubeConfig = new KubeConfig();
  try {
    if (options.kubeconfigPath !== undefined && options.kubeconfigPath !== "")
      kubeConfig.loadFromFile(options.kubeconfigPath);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    throw new GantryError("GANTRY_ERR_CONFIG", [`cannot load the kubeconfig: ${errorMessage(err)}`]);
  }
  if (kubeConfig.getCurrentCluster() === null)
    throw new GantryError("GANTRY_ERR_CONFIG", [
      "no Kubernetes cluster configured: set GANTRY_KUBECONFIG, KUBECONFIG, or run in a pod with a service account",
    ]);
  return new KubernetesExecutor({
    kubeConfig,
    sink: options.sink,
    runConfig: {
      namespace: options.namespace,
      defaultImage: options.defaultImage,
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished,
      runAsUser: options.runAsUser ?? 65532,
      apiUrl: options.apiUrl ?? "",
    },
    imagePullGraceMs: (options.imagePullGraceSeconds ?? 120) * 1000,
    qps: options.qps,
    burst: options.burst,
    maxActiveJobs: options.maxActiveJobs,
    logger: options.logger,
  });
}
