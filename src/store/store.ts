/**
 * The one interface to Gantry's database. Two implementations — PGlite (embedded, default) and
 * node-postgres (`DATABASE_URL`) — share the schema, migrations and SQL; only the connection
 * plumbing differs. Callers never see a client, connection or transaction.
 *
 * Every method that changes a run does it in one transaction together with the run's event, and
 * refuses (returns a refusal, never throws for an expected conflict) when the state machine says no.
 */

import type { Role } from "../core/access.ts";
import type { RunState, RetryPolicy } from "../core/run-state.ts";
import type {
  JobSpec,
  LogLine,
  LogStream,
  Run,
  RunEvent,
  RunResult,
  Workload,
  WorkloadKind,
} from "../core/workload.ts";

export type { Role };

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  /** The subject this token acts as; runs it creates are owned by it. */
  owner: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface NewRun {
  kind: WorkloadKind;
  owner: string;
  spec: JobSpec;
  priority: number;
  retry: RetryPolicy;
}

export interface RunQuery {
  owner?: string;
  states?: RunState[];
  kind?: WorkloadKind;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
  /** 1..500 */
  limit: number;
}

export interface ClaimLimits {
  /** Most runs to claim in this call. */
  batch: number;
  /** Cap on runs in dispatching/pending/running across all owners. */
  maxActive: number;
  /** Cap on such runs per owner. */
  maxActivePerOwner: number;
  /** Executor name recorded on the claimed runs. */
  executor: string;
}

export interface ClaimedRun {
  run: Run;
  workload: Workload;
}

export interface TransitionInput {
  runId: string;
  /** The attempt the caller is talking about; a stale attempt is refused. */
  attempt: number;
  to: RunState;
  reason: string;
  exitCode?: number | null;
}

export type TransitionRefusal = "not_found" | "stale_attempt" | "illegal_transition" | "already_terminal";

export type TransitionOutcome =
  { ok: true; run: Run; event: RunEvent } | { ok: false; refusal: TransitionRefusal; run: Run | null };

export interface LogChunkInput {
  stream: LogStream;
  at: Date;
  text: string;
}

/**
 * What became of a run, as one word: `finalized` (its owner handed it in), else `live` until it
 * has ended, then what its newest result says (`timeout`, `failed` or `completed`, by
 * `OutcomeRules`), or without a result `timeout` when it timed out and `failed` otherwise.
 */
export type RunOutcome = "live" | "completed" | "failed" | "timeout" | "finalized";

/** Which result statuses make an outcome other than `completed`. */
export interface OutcomeRules {
  timeoutStatuses: readonly string[];
  failedStatuses: readonly string[];
}

export interface OutcomeQuery {
  owner?: string;
  kind?: WorkloadKind;
  runId?: string;
  outcome?: RunOutcome;
  rules: OutcomeRules;
  /** Rows to skip, newest first (0..1e9). */
  offset: number;
  /** 1..500 */
  limit: number;
}

export interface RunOutcomeRow {
  run: Run;
  outcome: RunOutcome;
  /** The newest attempt's result, if any. */
  resultStatus: string | null;
  score: number | null;
  /** The workload's `spec.submission.language`, for submissions. */
  language: string | null;
  finalizedAt: Date | null;
}

export type FinalizeOutcome =
  | { ok: true; finalizedAt: Date; already: boolean }
  | { ok: false; refusal: "not_found" }
  | { ok: false; refusal: "not_finished"; state: RunState }
  | { ok: false; refusal: "other_finalized"; runId: string };

export interface Store {
  readonly backend: "pglite" | "postgres";

  /** Applies pending numbered migrations; safe to call from several processes at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  // --- runs ---------------------------------------------------------------------------------
  /** Workload + queued run + first event in one transaction; then NOTIFY `gantry_run_queued`. */
  createRun(input: NewRun): Promise<Run>;
  getRun(id: string): Promise<Run | null>;
  getWorkload(id: string): Promise<Workload | null>;
  /** Newest first; `nextCursor` is null on the last page. */
  listRuns(query: RunQuery): Promise<{ runs: Run[]; nextCursor: string | null }>;
  /**
   * Moves up to `batch` queued runs whose notBefore has passed to `dispatching`, highest priority
   * first, FIFO within a priority, never exceeding the caps (counted inside the same transaction
   * under a transaction-level advisory lock, so concurrent claimers cannot overshoot). Uses
   * `FOR UPDATE SKIP LOCKED`.
   */
  claimQueuedRuns(limits: ClaimLimits): Promise<ClaimedRun[]>;
  /**
   * Applies one transition for the run's current attempt, recording its event. A transition to
   * `failed`/`timed_out` while the run's retry policy has attempts left records a return to
   * `queued` as attempt + 1 instead (see core `resolveAttemptEnd`). NOTIFY `gantry_run_event`.
   */
  transitionRun(input: TransitionInput): Promise<TransitionOutcome>;
  /**
   * Re-queues a live attempt that its executor lost (crash, missing Job) as attempt + 1 without
   * counting a failure. Refuses like transitionRun.
   */
  requeueLostAttempt(runId: string, attempt: number, reason: string): Promise<TransitionOutcome>;
  /** Runs in dispatching/pending/running (optionally of one executor), oldest first. */
  listLiveRuns(executor?: string): Promise<Run[]>;
  /** Events with seq > afterSeq, oldest first. */
  listRunEvents(runId: string, afterSeq?: number): Promise<RunEvent[]>;
  /** Counts of runs per state (for metrics). */
  countRunsByState(): Promise<Record<RunState, number>>;

  // --- results ------------------------------------------------------------------------------
  /** At most once per (run, attempt): returns false when one was already recorded. */
  recordResult(runId: string, attempt: number, result: RunResult): Promise<boolean>;
  getResult(runId: string): Promise<(RunResult & { attempt: number; recordedAt: Date }) | null>;

  // --- logs ---------------------------------------------------------------------------------
  appendLogs(runId: string, attempt: number, lines: LogChunkInput[]): Promise<void>;
  /** Lines with seq > afterSeq, oldest first, at most `limit`. `tail` returns the last N instead. */
  readLogs(runId: string, opts: { afterSeq?: number; limit?: number; tail?: number }): Promise<LogLine[]>;

  // --- API tokens (hashes only; the caller hashes) ---------------------------------------------
  createApiToken(input: { name: string; role: Role; owner: string; tokenHash: string }): Promise<ApiToken>;
  /** Not revoked; updates lastUsedAt at most once a minute. */
  findApiTokenByHash(tokenHash: string): Promise<ApiToken | null>;
  listApiTokens(): Promise<ApiToken[]>;
  revokeApiToken(id: string): Promise<boolean>;
  countApiTokens(): Promise<number>;

  // --- per-run tokens -------------------------------------------------------------------------
  /** Replaces any token of this run; bound to (run, attempt). */
  setRunToken(runId: string, attempt: number, tokenHash: string, expiresAt: Date): Promise<void>;
  /**
   * True when the hash matches the run's token for its current attempt, the token is unused and
   * unexpired, and the run is not terminal. `consume` marks it used in the same statement.
   */
  checkRunToken(
    runId: string,
    tokenHash: string,
    opts: { consume: boolean },
  ): Promise<{ attempt: number } | null>;

  // --- finalizations (the Cloudemy API) --------------------------------------------------------
  /**
   * Marks an ended run as its owner's one finalized run. Only the run's owner may (anyone else gets
   * `not_found`); again for the same run it answers ok with `already`; refused when the owner has
   * finalized another run (`other_finalized`, also for two racing calls) or the run is still live.
   */
  finalizeRun(runId: string, owner: string, note: string | null): Promise<FinalizeOutcome>;
  /** Runs with their outcome, newest first, and how many match in all. */
  listRunOutcomes(query: OutcomeQuery): Promise<{ rows: RunOutcomeRow[]; total: number }>;

  // --- notifications ---------------------------------------------------------------------------
  /** Calls `listener` on NOTIFY of the channel; returns an unsubscribe function. */
  listen(channel: StoreChannel, listener: (payload: string) => void): Promise<() => Promise<void>>;

  // --- leadership -----------------------------------------------------------------------------
  /**
   * Tries to take a session-level advisory lock held until `release` or the connection dies;
   * null when another process holds it. Used to elect the one reconciler. `lost` (when present) is
   * aborted if the connection holding the lock dies: leadership is gone and must be re-acquired.
   */
  tryAcquireLeadership(
    name: string,
  ): Promise<{ release(): Promise<void>; readonly lost?: AbortSignal } | null>;
}

export type StoreChannel = "gantry_run_queued" | "gantry_run_event" | "gantry_run_logs";
