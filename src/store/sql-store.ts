/**
 * The Store, written once over a small SqlClient so PGlite and Postgres run the same SQL and the
 * same logic. State rules come from core/run-state (planTransition, resolveAttemptEnd) and claim
 * picking from core/dispatch-selection; this file only reads rows, asks core, and writes the answer
 * with its event in one transaction.
 */

import { createHash, randomUUID } from "node:crypto";
import { GantryError } from "../core/errors.ts";
import { selectRunsToClaim } from "../core/dispatch-selection.ts";
import {
  RUN_STATES,
  TERMINAL_STATES,
  isTerminal,
  planTransition,
  resolveAttemptEnd,
} from "../core/run-state.ts";
import type { RetryPolicy, RunState } from "../core/run-state.ts";
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
import { WORKLOAD_KINDS } from "../core/workload.ts";
import { GANTRY_LOCK_CLASS, migrate } from "./migrate.ts";
import * as Q from "./queries.ts";
import type { AdvisoryKey, SqlClient, SqlQueryable, SqlRow } from "./sql-client.ts";
import type {
  ApiToken,
  ClaimLimits,
  ClaimedRun,
  FinalizeOutcome,
  LogChunkInput,
  NewRun,
  OutcomeQuery,
  Role,
  RunOutcome,
  RunOutcomeRow,
  RunQuery,
  Store,
  StoreChannel,
  TransitionInput,
  TransitionOutcome,
} from "./store.ts";

const CLAIM_LOCK: AdvisoryKey = [GANTRY_LOCK_CLASS, 2];
/** Leadership locks live in their own classid; the objid is a hash of the leadership's name. */
const LEADERSHIP_LOCK_CLASS = GANTRY_LOCK_CLASS + 1;

/** Runs holding a slot of the concurrency caps. */
const LIVE_STATES: readonly RunState[] = RUN_STATES.filter((s) => s !== "queued" && !isTerminal(s));
const TERMINAL: readonly RunState[] = [...TERMINAL_STATES];
/** Runs that have not ended: the outcome `live`. */
const LIVE_AND_QUEUED: readonly RunState[] = RUN_STATES.filter((s) => !isTerminal(s));
const LOG_STREAMS: readonly LogStream[] = ["stdout", "stderr", "system"];
const ROLES: readonly Role[] = ["admin", "submitter", "viewer"];

/** Longest owner, name or hash we accept: they are indexed, and no honest value comes near it. */
const MAX_KEY_LENGTH = 512;
/** Longest reason kept; a longer one (say, a stack trace) is cut, not refused. */
const MAX_REASON_LENGTH = 4096;
/** Claim windows never read more rows than this, whatever the limits say. */
const MAX_CLAIM_WINDOW = 5000;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID_RE.test(value);
}

export class SqlStore implements Store {
  readonly backend: "pglite" | "postgres";
  readonly #db: SqlClient;

  constructor(db: SqlClient) {
    this.#db = db;
    this.backend = db.backend;
  }

  migrate(): Promise<void> {
    return migrate(this.#db);
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  // --- runs ---------------------------------------------------------------------------------------

  async createRun(input: NewRun): Promise<Run> {
    const owner = checkKey("owner", input.owner);
    const kind = checkOneOf("kind", input.kind, WORKLOAD_KINDS);
    const spec = toJson("spec", input.spec);
    const workloadId = randomUUID();
    const reason = "submitted";
    const run = await this.#db.transaction(async (tx) => {
      await tx.query(Q.INSERT_WORKLOAD, [workloadId, kind, owner, spec]);
      const [row] = await tx.query(Q.INSERT_RUN, [
        randomUUID(),
        workloadId,
        kind,
        owner,
        "queued",
        checkInt("retry.maxAttempts", input.retry.maxAttempts, 1),
        checkInt("retry.baseDelayMs", input.retry.baseDelayMs, 0),
        checkInt("retry.maxDelayMs", input.retry.maxDelayMs, 0),
        checkInt("priority", input.priority),
        reason,
      ]);
      const created = toRun(must(row));
      await insertEvents(tx, [{ run: created, from: null, to: "queued", reason }]);
      await notify(tx, "gantry_run_queued", [created.id]);
      return stripSeq(created);
    });
    return run;
  }

  async getRun(id: string): Promise<Run | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.#db.query(Q.SELECT_RUN, [id]);
    return row ? stripSeq(toRun(row)) : null;
  }

  async getWorkload(id: string): Promise<Workload | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.#db.query(Q.SELECT_WORKLOAD, [id]);
    return row ? toWorkload(row) : null;
  }

  async listRuns(query: RunQuery): Promise<{ runs: Run[]; nextCursor: string | null }> {
    const limit = Math.min(500, Math.max(1, Math.trunc(Number(query.limit)) || 1));
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    // A filter no stored value can match (too long, NUL) matches nothing; it is not an error.
    const filters = [query.owner, query.kind, ...(query.states ?? [])];
    if (!filters.every((f) => f === undefined || isStorable(f))) return { runs: [], nextCursor: null };
    const rows = await this.#db.query(Q.LIST_RUNS, [
      query.owner ?? null,
      query.states ?? null,
      query.kind ?? null,
      after,
      limit + 1,
    ]);
    const runs = rows.slice(0, limit).map((row) => stripSeq(toRun(row)));
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return { runs, nextCursor: last ? encodeCursor(toInt(last.seq)) : null };
  }

  async claimQueuedRuns(limits: ClaimLimits): Promise<ClaimedRun[]> {
    const executor = checkKey("executor", limits.executor);
    if (!(limits.batch > 0) || !(limits.maxActive > 0) || !(limits.maxActivePerOwner > 0)) return [];
    const claimed = await this.#db.transaction(async (tx) => {
      await tx.query(Q.LOCK_CLAIMS, [...CLAIM_LOCK]);
      const activeByOwner = new Map<string, number>();
      let activeTotal = 0;
      for (const row of await tx.query(Q.COUNT_ACTIVE_BY_OWNER, [LIVE_STATES])) {
        const n = toInt(row.n);
        activeByOwner.set(String(row.owner), n);
        activeTotal += n;
      }
      if (activeTotal >= limits.maxActive) return [];
      // Per owner, the ranked query returns at most the cap, of which at most `active` are
      // unusable, so batch + activeTotal rows always hold a full batch when the queue has one.
      const window = Math.min(MAX_CLAIM_WINDOW, Math.trunc(limits.batch) + activeTotal);
      const room = Math.min(Math.trunc(limits.batch), limits.maxActive - activeTotal);
      let candidates = await tx.query<Candidate>(Q.SELECT_CLAIM_CANDIDATES, [window]);
      let picked = selectRunsToClaim(candidates, activeTotal, activeByOwner, limits);
      if (picked.length < room && candidates.length === window) {
        // The window was full of owners at their cap: look past them.
        const perOwner = Math.min(limits.maxActivePerOwner, 2 ** 31 - 1);
        candidates = await tx.query<Candidate>(Q.SELECT_CLAIM_CANDIDATES_PER_OWNER, [perOwner, window]);
        picked = selectRunsToClaim(candidates, activeTotal, activeByOwner, limits);
      }
      if (picked.length === 0) return [];

      const reason = `claimed by ${executor}`;
      assertPlan("queued", "dispatching", reason);
      const rows = await tx.query(Q.CLAIM_RUNS, [picked.map((c) => c.id), "dispatching", executor, reason]);
      // Launch order: priority, then FIFO — the order they were picked in.
      const order = new Map(picked.map((c, i) => [c.id, i]));
      const runs = rows.map(toRun).sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
      if (runs.length === 0) return [];
      await insertEvents(
        tx,
        runs.map((run) => ({ run, from: "queued" as const, to: "dispatching" as const, reason })),
      );
      const workloads = new Map(
        (await tx.query(Q.SELECT_WORKLOADS, [runs.map((r) => r.workloadId)])).map((row) => {
          const w = toWorkload(row);
          return [w.id, w] as const;
        }),
      );
      await notify(
        tx,
        "gantry_run_event",
        runs.map((r) => r.id),
      );
      return runs.map((run) => ({ run: stripSeq(run), workload: must(workloads.get(run.workloadId)) }));
    });
    return claimed;
  }

  transitionRun(input: TransitionInput): Promise<TransitionOutcome> {
    // A run entering dispatching takes a cap slot: count it under the claimers' lock, taken before
    // the row lock as claimQueuedRuns does, so the two orders never cross.
    const claimLock = input.to === "dispatching";
    return this.#changeRun(input.runId, input.attempt, claimLock, (run) => {
      const reason = clip(input.reason);
      const plan = assertPlan(run.state, input.to, reason);
      if (!plan.ok) return plan;
      const end = resolveAttemptEnd(input.to, reason, run.failures, retryPolicy(run));
      if (end.retry) {
        // The failed attempt becomes a new queued attempt: legal from every live state.
        const requeue = assertPlan(run.state, "queued", end.reason);
        if (!requeue.ok) return requeue;
        return { kind: "requeue", reason: end.reason, delayMs: end.delayMs, failures: run.failures + 1 };
      }
      if (input.to === "queued") {
        return { kind: "requeue", reason, delayMs: 0, failures: run.failures };
      }
      const exitCode = input.exitCode === undefined ? run.exitCode : input.exitCode;
      // failures counts every attempt that ended failed/timed_out, the last one included.
      const failures = input.to === "failed" || input.to === "timed_out" ? run.failures + 1 : run.failures;
      return { kind: "move", to: input.to, reason, exitCode, failures };
    });
  }

  requeueLostAttempt(runId: string, attempt: number, reason: string): Promise<TransitionOutcome> {
    return this.#changeRun(runId, attempt, false, (run) => {
      const plan = assertPlan(run.state, "queued", clip(reason));
      if (!plan.ok) return plan;
      return { kind: "requeue", reason: plan.event.reason, delayMs: 0, failures: run.failures };
    });
  }

  /**
   * The one path that changes a single run: lock it, refuse a stale attempt, let `decide` (which
   * consults core) say what happens, write it with its event, notify.
   */
  async #changeRun(
    runId: string,
    attempt: number,
    claimLock: boolean,
    decide: (run: RunRow) => RunChange | { ok: false; refusal: "illegal_transition" | "already_terminal" },
  ): Promise<TransitionOutcome> {
    if (!isUuid(runId)) return { ok: false, refusal: "not_found", run: null };
    return this.#db.transaction(async (tx): Promise<TransitionOutcome> => {
      if (claimLock) await tx.query(Q.LOCK_CLAIMS, [...CLAIM_LOCK]);
      const [row] = await tx.query(Q.LOCK_RUN, [runId]);
      if (!row) return { ok: false, refusal: "not_found", run: null };
      const run = toRun(row);
      if (attempt !== run.attempt) return { ok: false, refusal: "stale_attempt", run: stripSeq(run) };
      const change = decide(run);
      if ("ok" in change) return { ok: false, refusal: change.refusal, run: stripSeq(run) };

      const requeue = change.kind === "requeue";
      const to: RunState = requeue ? "queued" : change.to;
      const [updatedRow] = await tx.query(Q.UPDATE_RUN_STATE, [
        run.id,
        to,
        requeue ? run.attempt + 1 : run.attempt,
        change.failures,
        change.reason,
        requeue ? null : checkOptionalInt("exitCode", change.exitCode),
        requeue ? null : run.executor,
        requeue ? Math.min(change.delayMs, 2 ** 31 - 1) : null,
        requeue ? "clear" : to === "running" ? "set" : "keep",
        isTerminal(to),
      ]);
      const updated = toRun(must(updatedRow));
      // The event belongs to the attempt that made the move; a requeue's next attempt starts after it.
      const [event] = await insertEvents(tx, [{ run, from: run.state, to, reason: change.reason }]);
      await notify(tx, "gantry_run_event", [run.id]);
      if (requeue) await notify(tx, "gantry_run_queued", [run.id]);
      return { ok: true, run: stripSeq(updated), event: must(event) };
    });
  }

  async listLiveRuns(executor?: string): Promise<Run[]> {
    if (executor !== undefined && !isStorable(executor)) return [];
    const rows = await this.#db.query(Q.LIST_LIVE_RUNS, [LIVE_STATES, executor ?? null]);
    return rows.map((row) => stripSeq(toRun(row)));
  }

  async listRunEvents(runId: string, afterSeq = 0): Promise<RunEvent[]> {
    if (!isUuid(runId)) return [];
    const rows = await this.#db.query(Q.LIST_EVENTS, [runId, safeSeq(afterSeq)]);
    return rows.map(toEvent);
  }

  async countRunsByState(): Promise<Record<RunState, number>> {
    const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    for (const row of await this.#db.query(Q.COUNT_RUNS_BY_STATE))
      counts[row.state as RunState] = toInt(row.n);
    return counts;
  }

  // --- results ------------------------------------------------------------------------------------

  async recordResult(runId: string, attempt: number, result: RunResult): Promise<boolean> {
    if (!isUuid(runId) || !Number.isSafeInteger(attempt) || attempt < 1 || attempt > 2 ** 31 - 1)
      return false;
    // A score that is not a finite number (NaN from a runner's division by zero) is no score.
    const score = typeof result.score === "number" && Number.isFinite(result.score) ? result.score : null;
    const rows = await this.#db.query(Q.INSERT_RESULT, [
      runId,
      attempt,
      clip(result.status),
      score,
      toJson("failTags", result.failTags),
      toJson("feedback", result.feedback),
      toJson("metrics", result.metrics),
      toJson("artifacts", result.artifacts),
    ]);
    return rows.length > 0;
  }

  async getResult(runId: string): Promise<(RunResult & { attempt: number; recordedAt: Date }) | null> {
    if (!isUuid(runId)) return null;
    const [row] = await this.#db.query(Q.SELECT_LATEST_RESULT, [runId]);
    if (!row) return null;
    return {
      attempt: toInt(row.attempt),
      status: String(row.status),
      score: row.score === null ? null : Number(row.score),
      failTags: row.fail_tags as string[],
      feedback: row.feedback as RunResult["feedback"],
      metrics: row.metrics as Record<string, number>,
      artifacts: row.artifacts as Record<string, unknown>,
      recordedAt: toDate(row.recorded_at),
    };
  }

  // --- logs ---------------------------------------------------------------------------------------

  async appendLogs(runId: string, attempt: number, lines: LogChunkInput[]): Promise<void> {
    if (lines.length === 0) return;
    if (!isUuid(runId)) throw new GantryError("GANTRY_ERR_NOT_FOUND", [`run ${printable(runId)}`]);
    checkInt("attempt", attempt, 1);
    const rows = lines.map((line) => ({
      stream: checkOneOf("stream", line.stream, LOG_STREAMS),
      at:
        line.at instanceof Date && !Number.isNaN(line.at.getTime())
          ? line.at.toISOString()
          : new Date().toISOString(),
      text: withoutNul(String(line.text)),
    }));
    await this.#db.transaction(async (tx) => {
      const [reserved] = await tx.query(Q.RESERVE_LOG_SEQS, [runId, rows.length]);
      if (!reserved) throw new GantryError("GANTRY_ERR_NOT_FOUND", [`run ${runId}`]);
      const first = toInt(reserved.log_seq) - rows.length + 1;
      await tx.query(Q.INSERT_LOGS, [runId, attempt, first, toJson("lines", rows)]);
      await notify(tx, "gantry_run_logs", [runId]);
    });
  }

  async readLogs(
    runId: string,
    opts: { afterSeq?: number; limit?: number; tail?: number },
  ): Promise<LogLine[]> {
    if (!isUuid(runId)) return [];
    const rows =
      opts.tail !== undefined
        ? await this.#db.query(Q.TAIL_LOGS, [runId, clampCount(opts.tail)])
        : await this.#db.query(Q.READ_LOGS, [
            runId,
            safeSeq(opts.afterSeq ?? 0),
            clampCount(opts.limit ?? 1000),
          ]);
    return rows.map(toLogLine);
  }

  // --- API tokens ---------------------------------------------------------------------------------

  async createApiToken(input: {
    name: string;
    role: Role;
    owner: string;
    tokenHash: string;
  }): Promise<ApiToken> {
    const [row] = await this.#db.query(Q.INSERT_API_TOKEN, [
      randomUUID(),
      checkKey("name", input.name),
      checkOneOf("role", input.role, ROLES),
      checkKey("owner", input.owner),
      checkKey("tokenHash", input.tokenHash),
    ]);
    return toApiToken(must(row));
  }

  async findApiTokenByHash(tokenHash: string): Promise<ApiToken | null> {
    if (typeof tokenHash !== "string" || tokenHash.length > MAX_KEY_LENGTH || tokenHash.includes("\0"))
      return null;
    const [row] = await this.#db.query(Q.FIND_API_TOKEN, [tokenHash]);
    return row ? toApiToken(row) : null;
  }

  async listApiTokens(): Promise<ApiToken[]> {
    return (await this.#db.query(Q.LIST_API_TOKENS)).map(toApiToken);
  }

  async revokeApiToken(id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return (await this.#db.query(Q.REVOKE_API_TOKEN, [id])).length > 0;
  }

  async countApiTokens(): Promise<number> {
    const [row] = await this.#db.query(Q.COUNT_API_TOKENS);
    return toInt(must(row).n);
  }

  // --- run tokens ---------------------------------------------------------------------------------

  async setRunToken(runId: string, attempt: number, tokenHash: string, expiresAt: Date): Promise<void> {
    if (!isUuid(runId)) throw new GantryError("GANTRY_ERR_NOT_FOUND", [`run ${printable(runId)}`]);
    const rows = await this.#db.query(Q.UPSERT_RUN_TOKEN, [
      runId,
      checkInt("attempt", attempt, 1),
      checkKey("tokenHash", tokenHash),
      checkDate("expiresAt", expiresAt),
    ]);
    if (rows.length === 0) throw new GantryError("GANTRY_ERR_NOT_FOUND", [`run ${runId}`]);
  }

  async checkRunToken(
    runId: string,
    tokenHash: string,
    opts: { consume: boolean },
  ): Promise<{ attempt: number } | null> {
    if (!isUuid(runId) || typeof tokenHash !== "string" || tokenHash.length > MAX_KEY_LENGTH) return null;
    if (tokenHash.includes("\0")) return null;
    const [row] = await this.#db.query(opts.consume ? Q.CONSUME_RUN_TOKEN : Q.CHECK_RUN_TOKEN, [
      runId,
      tokenHash,
      TERMINAL,
    ]);
    return row ? { attempt: toInt(row.attempt) } : null;
  }

  // --- finalizations ------------------------------------------------------------------------------

  async finalizeRun(runId: string, owner: string, note: string | null): Promise<FinalizeOutcome> {
    if (!isUuid(runId) || !isStorable(owner) || owner === "") return { ok: false, refusal: "not_found" };
    const [run] = await this.#db.query(Q.SELECT_RUN_OWNER_STATE, [runId]);
    if (!run || String(run.owner) !== owner) return { ok: false, refusal: "not_found" };
    const state = run.state as RunState;
    // Read the owner's finalization before inserting: a repeat is answered without a write, and a
    // lost race (the insert inserts nothing) is answered from what won.
    for (let pass = 0; pass < 2; pass++) {
      const [existing] = await this.#db.query(Q.SELECT_FINALIZATION_OF_OWNER, [owner]);
      if (existing) {
        return String(existing.run_id) === runId
          ? { ok: true, finalizedAt: toDate(existing.finalized_at), already: true }
          : { ok: false, refusal: "other_finalized", runId: String(existing.run_id) };
      }
      if (pass > 0) break;
      if (!isTerminal(state)) return { ok: false, refusal: "not_finished", state };
      const [inserted] = await this.#db.query(Q.INSERT_FINALIZATION, [
        runId,
        owner,
        note === null ? null : clip(note),
      ]);
      if (inserted) return { ok: true, finalizedAt: toDate(inserted.finalized_at), already: false };
    }
    throw new GantryError("GANTRY_ERR_UNAVAILABLE", ["the finalization kept changing; try again"]);
  }

  async listRunOutcomes(query: OutcomeQuery): Promise<{ rows: RunOutcomeRow[]; total: number }> {
    const limit = Math.min(500, Math.max(1, Math.trunc(Number(query.limit)) || 1));
    const offset = Math.min(1e9, Math.max(0, Math.trunc(Number(query.offset)) || 0));
    const filters = [query.owner, query.kind, query.outcome];
    if (!filters.every((f) => f === undefined || isStorable(f))) return { rows: [], total: 0 };
    if (query.runId !== undefined && !isUuid(query.runId)) return { rows: [], total: 0 };
    const params = [
      query.owner ?? null,
      query.kind ?? null,
      query.runId ?? null,
      query.outcome ?? null,
      LIVE_AND_QUEUED,
      [...query.rules.timeoutStatuses],
      [...query.rules.failedStatuses],
    ];
    const rows = await this.#db.query(Q.LIST_RUN_OUTCOMES, [...params, limit, offset]);
    // One id matches at most one run: the first page already holds the total.
    const total =
      query.runId !== undefined && offset === 0
        ? rows.length
        : toInt(
            must(
              (query.outcome === undefined
                ? await this.#db.query(Q.COUNT_RUNS_OF, params.slice(0, 3))
                : await this.#db.query(Q.COUNT_RUN_OUTCOMES, params))[0],
            ).n,
          );
    return {
      total,
      rows: rows.map((row) => ({
        run: stripSeq(toRun(row)),
        outcome: row.outcome as RunOutcome,
        resultStatus: row.result_status === null ? null : String(row.result_status),
        score: row.result_score === null ? null : Number(row.result_score),
        language: row.language === null ? null : String(row.language),
        finalizedAt: row.finalized_at === null ? null : toDate(row.finalized_at),
      })),
    };
  }

  // --- notifications and leadership ---------------------------------------------------------------

  listen(channel: StoreChannel, listener: (payload: string) => void): Promise<() => Promise<void>> {
    return this.#db.listen(channel, listener);
  }

  async tryAcquireLeadership(name: string): Promise<{ release(): Promise<void>; lost: AbortSignal } | null> {
    const key: AdvisoryKey = [
      LEADERSHIP_LOCK_CLASS,
      createHash("sha256").update(name).digest().readInt32BE(0),
    ];
    return this.#db.tryHoldSessionLock(key);
  }
}

// --- decisions --------------------------------------------------------------------------------------

/** A claim candidate: enough to pick by owner; the claim itself returns the full row. */
type Candidate = { id: string; owner: string };

type RunChange =
  | { kind: "move"; to: RunState; reason: string; exitCode: number | null; failures: number }
  | { kind: "requeue"; reason: string; delayMs: number; failures: number };

type Plan =
  | { ok: true; event: { from: RunState; to: RunState; reason: string } }
  | { ok: false; refusal: "illegal_transition" | "already_terminal" };

/** planTransition, with a missing reason treated as the caller's bug it is rather than a refusal. */
function assertPlan(from: RunState, to: RunState, reason: string): Plan {
  const plan = planTransition({ from, to, reason });
  if (plan.ok) return plan;
  if (plan.refusal === "missing_reason") {
    throw new GantryError("GANTRY_ERR_VALIDATION", ["a run transition needs a reason"]);
  }
  return { ok: false, refusal: plan.refusal };
}

function retryPolicy(run: RunRow): RetryPolicy {
  return { maxAttempts: run.maxAttempts, baseDelayMs: run.retryBaseDelayMs, maxDelayMs: run.retryMaxDelayMs };
}

// --- writes shared by several operations ------------------------------------------------------------

async function insertEvents(
  tx: SqlQueryable,
  events: { run: Run; from: RunState | null; to: RunState; reason: string }[],
): Promise<RunEvent[]> {
  const rows = await tx.query(Q.INSERT_EVENTS, [
    toJson(
      "events",
      events.map((e) => ({
        run_id: e.run.id,
        attempt: e.run.attempt,
        from_state: e.from,
        to_state: e.to,
        reason: e.reason,
      })),
    ),
  ]);
  return rows.map(toEvent).sort((a, b) => a.seq - b.seq);
}

async function notify(tx: SqlQueryable, channel: StoreChannel, payloads: string[]): Promise<void> {
  if (payloads.length > 0) await tx.query(Q.NOTIFY, [channel, payloads]);
}

// --- input checks -----------------------------------------------------------------------------------

function checkKey(field: string, value: unknown): string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > MAX_KEY_LENGTH ||
    value.includes("\0")
  ) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      `${field} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters without NUL`,
    ]);
  }
  return value;
}

function checkInt(field: string, value: unknown, min = -(2 ** 31)): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > 2 ** 31 - 1) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      `${field} must be an integer between ${min} and ${2 ** 31 - 1}`,
    ]);
  }
  return value;
}

function checkOptionalInt(field: string, value: number | null): number | null {
  return value === null ? null : checkInt(field, value);
}

/** JSON for a jsonb column. Postgres rejects \u0000 in jsonb, so it is refused here, by name. */
function toJson(field: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new GantryError("GANTRY_ERR_VALIDATION", [`${field} is not JSON`]);
  if (ESCAPED_NUL_RE.test(json)) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [`${field} contains a NUL character`]);
  }
  // JSON.stringify escapes a lone surrogate (\ud800), which jsonb rejects; text columns turn one
  // into U+FFFD on the way in, so JSON does the same.
  return json.replace(LONE_SURROGATE_RE, "\\ufffd");
}

/** `\u0000` as an escape in JSON text: preceded by an even number of backslashes. */
const ESCAPED_NUL_RE = /(?<=(?:^|[^\\])(?:\\\\)*)\\u0000/;
/** A `\ud800`–`\udfff` escape, which JSON.stringify emits only for a lone surrogate. */
const LONE_SURROGATE_RE = /(?<=(?:^|[^\\])(?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/gi;

/** Whether a string could be stored at all: under the key length and without NUL. */
function isStorable(value: unknown): boolean {
  return typeof value === "string" && value.length <= MAX_KEY_LENGTH && !value.includes("\0");
}

function checkOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [`${field} must be one of ${allowed.join(", ")}`]);
  }
  return value as T;
}

function checkDate(field: string, value: unknown): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [`${field} must be a valid date`]);
  }
  return value;
}

/** Postgres text cannot hold NUL; a program's output can. Keep the line, mark the byte. */
function withoutNul(text: string): string {
  return text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text;
}

function clip(reason: string): string {
  const text = withoutNul(String(reason));
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}

function printable(value: unknown): string {
  return JSON.stringify(String(value).slice(0, 64));
}

function safeSeq(value: number): number {
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function clampCount(value: number): number {
  return Math.min(10_000, Math.max(0, Math.trunc(Number(value)) || 0));
}

// --- cursors ----------------------------------------------------------------------------------------

function encodeCursor(seq: number): string {
  return Buffer.from(`runs:${seq}`).toString("base64url");
}

function decodeCursor(cursor: string): number {
  const match = /^runs:(\d{1,15})$/.exec(Buffer.from(String(cursor), "base64url").toString("utf8"));
  if (!match || cursor.length > 64) throw new GantryError("GANTRY_ERR_VALIDATION", ["cursor is not valid"]);
  return Number(match[1]);
}

// --- rows to domain types ---------------------------------------------------------------------------

type RunRow = Run & { seq: number; retryBaseDelayMs: number; retryMaxDelayMs: number };

function toRun(row: SqlRow): RunRow {
  return {
    id: String(row.id),
    seq: toInt(row.seq),
    workloadId: String(row.workload_id),
    kind: row.kind as WorkloadKind,
    owner: String(row.owner),
    state: row.state as RunState,
    attempt: toInt(row.attempt),
    failures: toInt(row.failures),
    maxAttempts: toInt(row.max_attempts),
    retryBaseDelayMs: toInt(row.retry_base_delay_ms),
    retryMaxDelayMs: toInt(row.retry_max_delay_ms),
    priority: toInt(row.priority),
    reason: row.reason === null ? null : String(row.reason),
    exitCode: row.exit_code === null ? null : toInt(row.exit_code),
    executor: row.executor === null ? null : String(row.executor),
    notBefore: toDate(row.not_before),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    startedAt: row.started_at === null ? null : toDate(row.started_at),
    finishedAt: row.finished_at === null ? null : toDate(row.finished_at),
  };
}

/** Callers get exactly the Run shape, without the store's bookkeeping columns. */
function stripSeq(run: RunRow | Run): Run {
  const { seq: _seq, retryBaseDelayMs: _b, retryMaxDelayMs: _m, ...rest } = run as RunRow;
  return rest;
}

function toWorkload(row: SqlRow): Workload {
  return {
    id: String(row.id),
    kind: row.kind as WorkloadKind,
    owner: String(row.owner),
    spec: row.spec as JobSpec,
    createdAt: toDate(row.created_at),
  };
}

function toEvent(row: SqlRow): RunEvent {
  return {
    seq: toInt(row.seq),
    runId: String(row.run_id),
    attempt: toInt(row.attempt),
    from: row.from_state === null ? null : (row.from_state as RunState),
    to: row.to_state as RunState,
    reason: String(row.reason),
    at: toDate(row.at),
  };
}

function toLogLine(row: SqlRow): LogLine {
  return {
    seq: toInt(row.seq),
    attempt: toInt(row.attempt),
    stream: row.stream as LogStream,
    at: toDate(row.at),
    text: String(row.text),
  };
}

function toApiToken(row: SqlRow): ApiToken {
  return {
    id: String(row.id),
    name: String(row.name),
    role: row.role as Role,
    owner: String(row.owner),
    createdAt: toDate(row.created_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
    lastUsedAt: row.last_used_at === null ? null : toDate(row.last_used_at),
  };
}

/** bigint columns come back as string (pg), number or bigint (PGlite). */
function toInt(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n))
    throw new Error(`expected an integer from the database, got ${String(value)}`);
  return n;
}

function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("the database returned no row where one was certain");
  return value;
}
