/**
 * Moves queued runs onto the executor.
 *
 *   start → reconcile → loop: dispatchQueuedRuns ⟲ (woken by NOTIFY, a finished run, or the poll
 *   timer as a safety net), and reconcile again every `reconcileIntervalMs`
 *
 * Claiming is the store's job (row locks, caps); the dispatcher mints each attempt's run token,
 * launches it, and records what the executor reports through `RunRecorder`. With the local executor
 * only one process may dispatch (its sandboxes live on this machine), so the dispatcher first takes
 * the store's leadership lock and stands by while another process holds it.
 */

import type { Logger } from "pino";
import type { Executor, ExecutorLogLine, ExecutorSink, AttemptUpdate } from "../executors/executor.ts";
import { attemptKey } from "../executors/executor.ts";
import { isGantryError } from "../core/errors.ts";
import { isTerminal } from "../core/run-state.ts";
import type { ClaimedRun, Store } from "../store/store.ts";
import { isUuid } from "./http/schemas.ts";
import { LogWriter } from "./log-writer.ts";
import { generateToken, hashToken } from "./tokens.ts";

export interface DispatcherOptions {
  store: Store;
  logger: Logger;
  maxActiveRuns: number;
  maxActivePerOwner: number;
  /** API URL as workloads see it. */
  publicUrl: string;
  batch?: number;
  pollIntervalMs?: number;
  /** How long a run token outlives the run's wall-time limit. */
  runTokenGraceMs?: number;
  onDispatched?: (claimed: ClaimedRun, latencySeconds: number) => void;
  /** How often `reconcile` runs after the first one at start, ms (default 30 s; 0: only at start). */
  reconcileIntervalMs?: number;
  /** Delete what the reconciler finds that belongs to no run (default false: only reported). */
  deleteOrphans?: boolean;
  onReconciled?: (report: ReconcileReport) => void;
}

export interface ReconcileReport {
  /** Live runs whose attempt the executor no longer has: back to the queue as a new attempt. */
  requeued: number;
  /** Attempts the executor still ran for runs that ended or moved on to another attempt: stopped. */
  stopped: number;
  /** What belongs to no run of this store (attempts of unknown runs, stray resources). */
  orphans: string[];
  /** Orphans deleted this time (with `deleteOrphans`). */
  deleted: number;
}

/** Records what executors report, in order, with the attempt's logs flushed before its end. */
export class RunRecorder implements ExecutorSink {
  /** Set at shutdown: what executors report while being stopped is not recorded, so the attempts
   * stay live in the store and the next start re-queues them instead of failing them. */
  closed = false;

  constructor(
    private readonly store: Store,
    private readonly logs: LogWriter,
    private readonly logger: Logger,
    private readonly onTerminal: () => void,
    private readonly cancelAttempt: (runId: string, attempt: number) => Promise<void>,
  ) {}

  log(line: ExecutorLogLine): void {
    this.logs.add(line);
  }

  async update(update: AttemptUpdate): Promise<void> {
    if (this.closed) return;
    const ending = isTerminal(update.state);
    if (ending) await this.logs.flushAll();
    const outcome = await this.store.transitionRun({
      runId: update.runId,
      attempt: update.attempt,
      to: update.state,
      reason: update.reason,
      exitCode: update.exitCode ?? null,
    });
    if (outcome.ok) {
      if (isTerminal(outcome.run.state) || outcome.run.state === "queued") this.onTerminal();
      return;
    }
    // The run moved on without the executor (cancelled, or a newer attempt): stop this attempt.
    this.logger.debug({ update, refusal: outcome.refusal }, "executor update refused");
    if (!ending) await this.cancelAttempt(update.runId, update.attempt);
  }
}

export class Dispatcher {
  readonly logWriter: LogWriter;
  readonly recorder: RunRecorder;
  private executor: Executor | null = null;
  private running = false;
  private passInFlight: Promise<void> | null = null;
  private passRequested = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconcileRequested = false;
  /** Orphans already reported, so each is logged once. */
  private readonly reportedOrphans = new Set<string>();
  private standbyTimer: NodeJS.Timeout | null = null;
  private unsubscribes: (() => Promise<void>)[] = [];
  private leadership: { release(): Promise<void> } | null = null;
  private readonly launching = new Set<Promise<void>>();

  constructor(private readonly options: DispatcherOptions) {
    this.logWriter = new LogWriter(options.store, (err) =>
      options.logger.error({ err }, "writing logs failed"),
    );
    this.recorder = new RunRecorder(
      options.store,
      this.logWriter,
      options.logger,
      () => this.nudge(),
      (runId, attempt) => this.executor?.cancel(runId, attempt) ?? Promise.resolve(),
    );
  }

  /**
   * The executor must have been built with `this.recorder` as its sink. It is started once this
   * process leads (it may be started already: `start()` of executors is idempotent).
   */
  async start(executor: Executor): Promise<void> {
    this.executor = executor;
    this.running = true;
    const { store } = this.options;
    this.unsubscribes.push(await store.listen("gantry_run_queued", () => this.nudge()));
    this.unsubscribes.push(await store.listen("gantry_run_event", (runId) => void this.stopIfEnded(runId)));
    await this.takeLeadership();
  }

  /**
   * Only the leader runs the executor: it is started here, once leadership is won, so a standby
   * process neither observes nor adopts the leader's attempts (their logs would be stored twice).
   * At start a failure to start the executor is thrown; later, in standby, it is logged and retried.
   */
  private async takeLeadership(): Promise<void> {
    if (!this.running) return;
    const { logger, store } = this.options;
    const standBy = () => {
      this.standbyTimer = setTimeout(() => {
        this.takeLeadership().catch((err: unknown) => {
          logger.error({ err }, "taking over dispatching failed; trying again");
          if (this.running && this.leadership === null) standBy();
        });
      }, 5000);
    };
    this.leadership = await store.tryAcquireLeadership("dispatcher");
    if (this.leadership === null) {
      logger.info("another Gantry process is dispatching runs; standing by");
      standBy();
      return;
    }
    try {
      await this.requireExecutor().start();
    } catch (err) {
      await this.leadership.release().catch(() => undefined);
      this.leadership = null;
      throw err;
    }
    await this.reconcile();
    const interval = this.options.pollIntervalMs ?? 1000;
    this.pollTimer = setInterval(() => this.nudge(), interval);
    const reconcileEvery = this.options.reconcileIntervalMs ?? 30_000;
    if (reconcileEvery > 0) {
      this.reconcileTimer = setInterval(() => this.requestReconcile(), reconcileEvery);
      this.reconcileTimer.unref();
    }
    this.nudge();
  }

  /**
   * Brings the store and the executor into agreement: lost attempts go back to the queue; attempts
   * of runs that ended or moved on are stopped; what belongs to no run is reported (and deleted with
   * `deleteOrphans`). Runs in the dispatch chain, so it never sees a run claimed but not yet handed
   * to the executor.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { requeued: 0, stopped: 0, orphans: [], deleted: 0 };
    const executor = this.requireExecutor();
    // What another process of this Gantry launched before this one led is not lost: take it up.
    await executor.resync?.();
    report.requeued = await this.reconcileLostAttempts();
    const { store, logger } = this.options;
    for (const key of await executor.activeAttempts()) {
      const slash = key.lastIndexOf("/");
      const runId = key.slice(0, slash);
      const attempt = Number(key.slice(slash + 1));
      // An id that is no UUID names no run here (and would make the query fail).
      const run = isUuid(runId) ? await store.getRun(runId) : null;
      if (run === null) {
        report.orphans.push(`attempt ${key} (no such run in this store)`);
        if (this.options.deleteOrphans === true) {
          await executor.cancel(runId, attempt);
          report.deleted++;
        }
      } else if (isTerminal(run.state) || run.attempt !== attempt) {
        await executor.cancel(runId, attempt);
        report.stopped++;
      }
    }
    for (const stray of executor.strayResources?.() ?? []) {
      report.orphans.push(`${stray.description} (belongs to no attempt of this Gantry)`);
      if (this.options.deleteOrphans === true && executor.deleteStrayResource !== undefined) {
        await executor.deleteStrayResource(stray.name);
        report.deleted++;
      }
    }
    const fresh = report.orphans.filter((o) => !this.reportedOrphans.has(o));
    for (const o of fresh) this.reportedOrphans.add(o);
    if (this.reportedOrphans.size > 10_000) this.reportedOrphans.clear();
    if (fresh.length > 0) {
      logger.warn(
        { orphans: fresh, deleted: report.deleted },
        this.options.deleteOrphans === true
          ? "deleted executor resources that belong to no run"
          : "executor resources belong to no run (set GANTRY_DELETE_ORPHANS=true to delete them)",
      );
    }
    if (report.stopped > 0)
      logger.info({ stopped: report.stopped }, "stopped attempts of runs that moved on");
    this.options.onReconciled?.(report);
    return report;
  }

  /** Runs `reconcile` in the dispatch chain (after the pass in flight, if any). */
  private requestReconcile(): void {
    this.reconcileRequested = true;
    this.nudge();
  }

  /**
   * Attempts the store thinks are live but no executor of ours is running were lost (Gantry was
   * killed): each goes back to the queue as a new attempt, so it runs once more and never twice at
   * the same time.
   */
  async reconcileLostAttempts(): Promise<number> {
    const executor = this.requireExecutor();
    const active = await executor.activeAttempts();
    const live = await this.options.store.listLiveRuns(executor.name);
    let requeued = 0;
    for (const run of live) {
      if (active.has(attemptKey(run.id, run.attempt))) continue;
      const outcome = await this.options.store.requeueLostAttempt(
        run.id,
        run.attempt,
        `attempt ${run.attempt} was lost by the ${executor.name} executor (Gantry restarted); relaunching`,
      );
      if (outcome.ok) requeued++;
    }
    if (requeued > 0) this.options.logger.warn({ requeued }, "re-queued runs whose attempts were lost");
    return requeued;
  }

  /** Asks for a dispatch pass; passes never overlap, and a request during one runs one more. */
  nudge(): void {
    if (!this.running || this.leadership === null) return;
    if (this.passInFlight !== null) {
      this.passRequested = true;
      return;
    }
    this.passInFlight = this.runPass().finally(() => {
      this.passInFlight = null;
      if (this.passRequested) {
        this.passRequested = false;
        this.nudge();
      }
    });
  }

  private async runPass(): Promise<void> {
    if (this.reconcileRequested) {
      this.reconcileRequested = false;
      try {
        // Launches still in flight were claimed but may not have reached the executor yet.
        await Promise.allSettled([...this.launching]);
        if (this.running) await this.reconcile();
      } catch (err) {
        this.options.logger.error({ err }, "reconcile failed; retrying at the next interval");
      }
    }
    await this.dispatchUntilIdle();
  }

  private async dispatchUntilIdle(): Promise<void> {
    const batch = this.options.batch ?? 32;
    try {
      while (this.running) {
        const claimed = await this.dispatchQueuedRuns(batch);
        if (claimed === 0) break;
      }
    } catch (err) {
      this.options.logger.error({ err }, "dispatch pass failed; retrying on the next poll");
    }
  }

  /**
   * Claims up to `batch` runs and launches them; returns how many were claimed. Attempts this
   * process already runs count against the cap before asking the store, so a full executor costs
   * no claim transaction (the store's count stays the authority across processes).
   */
  async dispatchQueuedRuns(batch: number): Promise<number> {
    const executor = this.requireExecutor();
    const ownCap = executor.capacity?.() ?? Number.POSITIVE_INFINITY;
    const room =
      Math.min(
        this.options.maxActiveRuns - (await executor.activeAttempts()).size - (executor.windingDown?.() ?? 0),
        ownCap,
      ) - this.launching.size;
    if (room <= 0) return 0;
    const claimed = await this.options.store.claimQueuedRuns({
      batch: Math.min(batch, room),
      maxActive: this.options.maxActiveRuns,
      maxActivePerOwner: this.options.maxActivePerOwner,
      executor: executor.name,
    });
    for (const c of claimed) {
      const launch = this.launch(c).finally(() => this.launching.delete(launch));
      this.launching.add(launch);
    }
    return claimed.length;
  }

  private async launch(claimed: ClaimedRun): Promise<void> {
    const executor = this.requireExecutor();
    const { run, workload } = claimed;
    const { store, logger } = this.options;
    try {
      const runToken = generateToken("run");
      const ttlMs = workload.spec.limits.wallSeconds * 1000 + (this.options.runTokenGraceMs ?? 10 * 60_000);
      await store.setRunToken(run.id, run.attempt, hashToken(runToken), new Date(Date.now() + ttlMs));
      await executor.launch({
        runId: run.id,
        attempt: run.attempt,
        owner: run.owner,
        spec: workload.spec,
        runToken,
        apiUrl: this.options.publicUrl,
      });
      const since = Math.max(run.createdAt.getTime(), run.notBefore.getTime());
      this.options.onDispatched?.(claimed, Math.max(0, Date.now() - since) / 1000);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (isGantryError(err) && err.code === "GANTRY_ERR_EXECUTOR_BUSY") {
        // Not the run's fault (e.g. cancelled attempts still draining): back to the queue.
        logger.warn({ runId: run.id, reason: message }, "executor busy; re-queueing");
        await store
          .requeueLostAttempt(run.id, run.attempt, `executor busy: ${message}`)
          .catch((e: unknown) => logger.error({ err: e, runId: run.id }, "re-queueing failed"));
        setTimeout(() => this.nudge(), 200).unref();
        return;
      }
      logger.error({ err, runId: run.id }, "launch failed");
      await store
        .transitionRun({
          runId: run.id,
          attempt: run.attempt,
          to: "failed",
          reason: `executor_error: ${message}`,
        })
        .catch((e: unknown) => logger.error({ err: e, runId: run.id }, "recording a failed launch failed"));
    }
  }

  /** A run changed state somewhere (maybe another process): stop our attempt if it has ended. */
  private async stopIfEnded(runId: string): Promise<void> {
    if (this.executor === null) return;
    try {
      const active = await this.executor.activeAttempts();
      const ours = [...active].filter((key) => key.startsWith(`${runId}/`));
      if (ours.length === 0) return;
      const run = await this.options.store.getRun(runId);
      for (const key of ours) {
        const attempt = Number(key.slice(runId.length + 1));
        if (run === null || isTerminal(run.state) || run.attempt !== attempt) {
          await this.executor.cancel(runId, attempt);
        }
      }
    } catch (err) {
      this.options.logger.error({ err, runId }, "checking a changed run failed");
    }
  }

  private requireExecutor(): Executor {
    if (this.executor === null) throw new Error("dispatcher not started");
    return this.executor;
  }

  /** Stops dispatching; attempts still running stay live in the store (see RunRecorder.closed). */
  async stop(): Promise<void> {
    this.running = false;
    this.recorder.closed = true;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.reconcileTimer !== null) clearInterval(this.reconcileTimer);
    if (this.standbyTimer !== null) clearTimeout(this.standbyTimer);
    for (const unsubscribe of this.unsubscribes.splice(0)) await unsubscribe().catch(() => undefined);
    await this.passInFlight;
    await Promise.allSettled([...this.launching]);
    await this.logWriter.close();
    await this.leadership?.release().catch(() => undefined);
    this.leadership = null;
  }
}
