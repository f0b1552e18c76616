/**
 * The one behaviour suite every Store backend must pass. A backend's test file supplies a harness
 * (how to open a store on its own fresh database, and how to run setup SQL against it) and calls
 * `storeConformance`. Backend internals (reconnects, several processes) are tested in that file.
 */

import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { isGantryError } from "../../src/core/errors.ts";
import { RUN_STATES, canTransition, isTerminal } from "../../src/core/run-state.ts";
import type { RunState } from "../../src/core/run-state.ts";
import { DEFAULT_LIMITS } from "../../src/core/workload.ts";
import type { JobSpec, Run } from "../../src/core/workload.ts";
import type { ClaimLimits, NewRun, Store, StoreChannel } from "../../src/store/store.ts";

export interface StoreHarness {
  /** Opens a migrated store on this test file's own database. Called once, before the tests. */
  open(): Promise<Store>;
  /** Runs setup SQL against that database (emptying it between tests, ageing timestamps). */
  sql(text: string): Promise<void>;
  /** More stores on the same database, as other processes would have; absent when the backend
   *  is single-process (PGlite). The suite closes them. */
  openSibling?: () => Promise<Store>;
  /** Called once after the tests. */
  cleanup?: () => Promise<void>;
}

const EMPTY_ALL = `TRUNCATE run_finalizations, run_tokens, run_logs, results, run_events, api_tokens, runs, workloads`;

export function spec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    command: ["sh", "-c", "echo hello"],
    env: {},
    files: [],
    limits: { ...DEFAULT_LIMITS },
    ...overrides,
  };
}

export function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    kind: "job",
    owner: "alice",
    spec: spec(),
    priority: 0,
    retry: { maxAttempts: 1, baseDelayMs: 1000, maxDelayMs: 60_000 },
    ...overrides,
  };
}

const LIMITS: ClaimLimits = { batch: 10, maxActive: 100, maxActivePerOwner: 100, executor: "local" };

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isGantryError(err), `expected a GantryError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

export function storeConformance(backend: "pglite" | "postgres", harness: StoreHarness): void {
  describe(`Store conformance (${backend})`, () => {
    let store: Store;
    const extra: Store[] = [];

    before(async () => {
      store = await harness.open();
    });
    beforeEach(async () => {
      await harness.sql(EMPTY_ALL);
    });
    afterEach(async () => {
      await Promise.all(extra.splice(0).map((s) => s.close()));
    });
    after(async () => {
      await store?.close();
      await harness.cleanup?.();
    });

    /** Moves a fresh run along legal transitions until it is in `state`. */
    async function runIn(state: RunState, overrides: Partial<NewRun> = {}): Promise<Run> {
      let run = await store.createRun(newRun(overrides));
      const path: Record<RunState, RunState[]> = {
        queued: [],
        dispatching: ["dispatching"],
        pending: ["dispatching", "pending"],
        running: ["dispatching", "pending", "running"],
        succeeded: ["dispatching", "running", "succeeded"],
        failed: ["dispatching", "running", "failed"],
        timed_out: ["dispatching", "running", "timed_out"],
        cancelled: ["cancelled"],
      };
      for (const to of path[state]) {
        const out = await store.transitionRun({
          runId: run.id,
          attempt: run.attempt,
          to,
          reason: `to ${to}`,
        });
        assert.ok(out.ok, `setup: ${run.state} → ${to}`);
        run = out.run;
      }
      assert.equal(run.state, state);
      return run;
    }

    // --- backend and migrations ----------------------------------------------------------------

    test("reports its backend and migrates idempotently, also when called concurrently", async () => {
      assert.equal(store.backend, backend);
      await store.migrate();
      await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
      const run = await store.createRun(newRun());
      assert.equal((await store.getRun(run.id))?.id, run.id);
    });

    // --- createRun / getRun / getWorkload --------------------------------------------------------

    test("createRun stores workload, queued run and its first event", async () => {
      const before = Date.now();
      const input = newRun({
        owner: "bob",
        priority: 7,
        retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50 },
        spec: spec({ env: { A: "1" }, files: [{ path: "in.txt", content: "x" }], image: "busybox" }),
      });
      const run = await store.createRun(input);
      assert.match(run.id, /^[0-9a-f-]{36}$/);
      assert.equal(run.state, "queued");
      assert.equal(run.kind, "job");
      assert.equal(run.owner, "bob");
      assert.equal(run.attempt, 1);
      assert.equal(run.failures, 0);
      assert.equal(run.maxAttempts, 3);
      assert.equal(run.priority, 7);
      assert.equal(run.exitCode, null);
      assert.equal(run.executor, null);
      assert.equal(run.startedAt, null);
      assert.equal(run.finishedAt, null);
      assert.ok(run.createdAt instanceof Date && run.createdAt.getTime() >= before - 5000);
      assert.ok(run.notBefore.getTime() <= Date.now() + 5000);
      assert.deepEqual(Object.keys(run).sort(), [
        "attempt",
        "createdAt",
        "executor",
        "exitCode",
        "failures",
        "finishedAt",
        "id",
        "kind",
        "maxAttempts",
        "notBefore",
        "owner",
        "priority",
        "reason",
        "startedAt",
        "state",
        "updatedAt",
        "workloadId",
      ]);

      assert.deepEqual(await store.getRun(run.id), run);
      const workload = await store.getWorkload(run.workloadId);
      assert.ok(workload);
      assert.equal(workload.owner, "bob");
      assert.equal(workload.kind, "job");
      assert.deepEqual(workload.spec, input.spec);

      const events = await store.listRunEvents(run.id);
      assert.equal(events.length, 1);
      assert.deepEqual(
        { from: events[0]?.from, to: events[0]?.to, attempt: events[0]?.attempt },
        { from: null, to: "queued", attempt: 1 },
      );
      assert.ok(events[0]?.reason);
    });

    test("getRun, getWorkload and friends return null or nothing for unknown and malformed ids", async () => {
      for (const id of [randomUUID(), "nope", "", "'; DROP TABLE runs; --", "x".repeat(100_000), "1"]) {
        assert.equal(await store.getRun(id), null);
        assert.equal(await store.getWorkload(id), null);
        assert.deepEqual(await store.listRunEvents(id), []);
        assert.equal(await store.getResult(id), null);
        assert.deepEqual(await store.readLogs(id, {}), []);
        assert.equal(await store.checkRunToken(id, "h", { consume: true }), null);
        assert.equal(await store.revokeApiToken(id), false);
        assert.equal(await store.recordResult(id, 1, result()), false);
        const out = await store.transitionRun({ runId: id, attempt: 1, to: "cancelled", reason: "x" });
        assert.deepEqual(out, { ok: false, refusal: "not_found", run: null });
        assert.deepEqual(await store.requeueLostAttempt(id, 1, "lost"), {
          ok: false,
          refusal: "not_found",
          run: null,
        });
      }
    });

    test("hostile strings are stored verbatim or refused with a validation error, never a SQL error", async () => {
      const sqlish = `'); DROP TABLE runs; -- "quoted" \\ $1 ${"\u{1F600}"}`;
      const huge = "y".repeat(2 * 1024 * 1024);
      const run = await store.createRun(
        newRun({ owner: sqlish, spec: spec({ env: { BIG: huge, Q: sqlish }, command: [sqlish] }) }),
      );
      assert.equal((await store.getRun(run.id))?.owner, sqlish);
      const w = await store.getWorkload(run.workloadId);
      assert.equal(w?.spec.env.BIG?.length, huge.length);
      assert.equal(w?.spec.command[0], sqlish);
      assert.equal((await store.listRuns({ owner: sqlish, limit: 10 })).runs.length, 1);

      await rejectsWithCode(store.createRun(newRun({ owner: "o".repeat(100_000) })), "GANTRY_ERR_VALIDATION");
      await rejectsWithCode(store.createRun(newRun({ owner: "" })), "GANTRY_ERR_VALIDATION");
      await rejectsWithCode(store.createRun(newRun({ owner: "a\0b" })), "GANTRY_ERR_VALIDATION");
      await rejectsWithCode(
        store.createRun(newRun({ spec: spec({ env: { A: "nul\0" } }) })),
        "GANTRY_ERR_VALIDATION",
      );
      await rejectsWithCode(store.createRun(newRun({ priority: 1.5 })), "GANTRY_ERR_VALIDATION");
      await rejectsWithCode(store.createRun(newRun({ priority: 2 ** 40 })), "GANTRY_ERR_VALIDATION");
      await rejectsWithCode(
        store.createRun(newRun({ retry: { maxAttempts: 0, baseDelayMs: 0, maxDelayMs: 0 } })),
        "GANTRY_ERR_VALIDATION",
      );
      assert.deepEqual((await store.listRuns({ owner: "o".repeat(100_000), limit: 10 })).runs, []);
      assert.deepEqual((await store.listRuns({ owner: "a\0", limit: 10 })).runs, []);
      assert.deepEqual((await store.listRuns({ states: ["queued", "x\0" as RunState], limit: 10 })).runs, []);
      assert.deepEqual((await store.listRuns({ states: ["bogus" as RunState], limit: 10 })).runs, []);
      assert.deepEqual(await store.listLiveRuns("e\0"), []);
      await rejectsWithCode(
        store.createRun(newRun({ kind: "manifest" as unknown as NewRun["kind"] })),
        "GANTRY_ERR_VALIDATION",
      );
      // Lone surrogates (invalid UTF-16) become U+FFFD rather than a jsonb error.
      const broken = await store.createRun(
        newRun({ owner: "s\ud800", spec: spec({ env: { ["k\udc00"]: "v\ud800\ud800" } }) }),
      );
      assert.equal((await store.getRun(broken.id))?.owner, "s\ufffd");
      assert.deepEqual((await store.getWorkload(broken.workloadId))?.spec.env, {
        "k\ufffd": "v\ufffd\ufffd",
      });
      // Nothing half-written by the refusals.
      assert.equal((await store.listRuns({ limit: 500 })).runs.length, 2);
    });

    // --- listRuns ----------------------------------------------------------------------------------

    test("listRuns pages newest first with opaque cursors and filters", async () => {
      const made: Run[] = [];
      for (let i = 0; i < 7; i++)
        made.push(await store.createRun(newRun({ owner: i % 2 ? "bob" : "alice" })));
      await store.transitionRun({ runId: made[0]!.id, attempt: 1, to: "cancelled", reason: "by test" });

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listRuns({ limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
        if (cursor) assert.doesNotMatch(cursor, /^\d+$/, "cursor is opaque");
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, made.map((r) => r.id).reverse());

      const exact = await store.listRuns({ limit: 7 });
      assert.equal(exact.runs.length, 7);
      assert.equal(exact.nextCursor, null);

      const bobs = await store.listRuns({ owner: "bob", limit: 100 });
      assert.deepEqual(
        bobs.runs.map((r) => r.id),
        made
          .filter((_, i) => i % 2)
          .map((r) => r.id)
          .reverse(),
      );
      const cancelled = await store.listRuns({ states: ["cancelled"], limit: 100 });
      assert.deepEqual(
        cancelled.runs.map((r) => r.id),
        [made[0]!.id],
      );
      assert.equal((await store.listRuns({ states: ["queued", "cancelled"], limit: 100 })).runs.length, 7);
      assert.equal((await store.listRuns({ states: [], limit: 100 })).runs.length, 0);
      assert.equal((await store.listRuns({ kind: "job", owner: "alice", limit: 100 })).runs.length, 4);
      assert.equal((await store.listRuns({ owner: "nobody", limit: 100 })).runs.length, 0);

      // Filters and cursor together.
      const first = await store.listRuns({ owner: "alice", limit: 2 });
      const second = await store.listRuns({ owner: "alice", limit: 2, cursor: first.nextCursor! });
      assert.deepEqual(
        [...first.runs, ...second.runs].map((r) => r.id),
        [made[6]!.id, made[4]!.id, made[2]!.id, made[0]!.id],
      );
      assert.equal(second.nextCursor, null);

      // Out-of-range limits are clamped, not errors.
      assert.equal((await store.listRuns({ limit: 0 })).runs.length, 1);
      assert.equal((await store.listRuns({ limit: 100_000 })).runs.length, 7);
    });

    test("listRuns refuses a forged or garbage cursor with a validation error", async () => {
      for (const cursor of [
        "",
        "garbage",
        "MTIz",
        "'; DROP TABLE runs; --",
        "x".repeat(10_000),
        "cnVuczotMQ",
      ]) {
        await rejectsWithCode(store.listRuns({ limit: 10, cursor }), "GANTRY_ERR_VALIDATION");
      }
    });

    // --- transitions -------------------------------------------------------------------------------

    test("every legal transition succeeds with its event, and every other one is refused", async () => {
      for (const from of RUN_STATES) {
        for (const to of RUN_STATES) {
          const run = await runIn(from);
          const eventsBefore = await store.listRunEvents(run.id);
          const out = await store.transitionRun({
            runId: run.id,
            attempt: run.attempt,
            to,
            reason: `test ${from}→${to}`,
            exitCode: to === "failed" ? 3 : undefined,
          });
          const label = `${from} → ${to}`;
          if (isTerminal(from)) {
            assert.deepEqual(out, { ok: false, refusal: "already_terminal", run }, label);
          } else if (!canTransition(from, to)) {
            assert.deepEqual(out, { ok: false, refusal: "illegal_transition", run }, label);
          } else {
            assert.ok(out.ok, label);
            assert.equal(out.event.from, from, label);
            assert.equal(out.event.to, to, label);
            assert.equal(out.event.attempt, run.attempt, label);
            assert.equal(out.event.runId, run.id, label);
            assert.equal(out.event.reason, `test ${from}→${to}`, label);
            assert.equal(out.run.state, to, label);
            assert.equal(out.run.reason, `test ${from}→${to}`, label);
            // Back to queued is a retry: always a new attempt.
            assert.equal(out.run.attempt, to === "queued" ? run.attempt + 1 : run.attempt, label);
            assert.equal(out.run.finishedAt !== null, isTerminal(to), label);
            if (to === "running") assert.ok(out.run.startedAt, label);
            if (to === "failed") assert.equal(out.run.exitCode, 3, label);
            if (to === "failed" || to === "timed_out") assert.equal(out.run.failures, 1, label);
            if (to === "queued") assert.equal(out.run.executor, null, label);
            assert.deepEqual(await store.getRun(run.id), out.run, label);
          }
          const eventsAfter = await store.listRunEvents(run.id);
          assert.equal(eventsAfter.length, eventsBefore.length + (out.ok ? 1 : 0), label);
          if (!out.ok) assert.deepEqual(await store.getRun(run.id), run, `${label}: unchanged`);
        }
      }
    });

    test("a stale attempt is refused, and a missing reason is a caller error", async () => {
      const run = await runIn("running");
      const stale = await store.transitionRun({ runId: run.id, attempt: 2, to: "succeeded", reason: "x" });
      assert.deepEqual(stale, { ok: false, refusal: "stale_attempt", run });
      const requeued = await store.requeueLostAttempt(run.id, 1, "executor lost it");
      assert.ok(requeued.ok);
      const late = await store.transitionRun({ runId: run.id, attempt: 1, to: "succeeded", reason: "late" });
      assert.equal(late.ok, false);
      assert.equal(!late.ok && late.refusal, "stale_attempt");
      assert.equal(late.run?.attempt, 2);
      await rejectsWithCode(
        store.transitionRun({ runId: run.id, attempt: 2, to: "cancelled", reason: "  " }),
        "GANTRY_ERR_VALIDATION",
      );
      assert.equal((await store.getRun(run.id))?.state, "queued");
    });

    test("a failed attempt with attempts left is re-queued after an exponential backoff", async () => {
      let run = await runIn("running", { retry: { maxAttempts: 3, baseDelayMs: 300, maxDelayMs: 400 } });
      const t0 = Date.now();
      let out = await store.transitionRun({
        runId: run.id,
        attempt: 1,
        to: "failed",
        reason: "exit_code 2",
        exitCode: 2,
      });
      assert.ok(out.ok);
      run = out.run;
      assert.equal(run.state, "queued");
      assert.equal(run.attempt, 2);
      assert.equal(run.failures, 1);
      assert.equal(run.exitCode, null);
      assert.equal(run.finishedAt, null);
      assert.match(run.reason ?? "", /exit_code 2.*retrying in 300 ms/);
      assert.equal(out.event.to, "queued");
      assert.equal(out.event.from, "running");
      assert.equal(out.event.attempt, 1);
      const delay = run.notBefore.getTime() - run.updatedAt.getTime();
      assert.ok(delay >= 290 && delay <= 310, `delay ${delay}`);

      // Not claimable until notBefore.
      assert.deepEqual(await store.claimQueuedRuns(LIMITS), []);
      await sleep(Math.max(0, 350 - (Date.now() - t0)));
      const [claimed] = await store.claimQueuedRuns(LIMITS);
      assert.equal(claimed?.run.id, run.id);
      assert.equal(claimed?.run.attempt, 2);

      out = await store.transitionRun({ runId: run.id, attempt: 2, to: "timed_out", reason: "wall_time" });
      assert.ok(out.ok);
      assert.equal(out.run.state, "queued");
      assert.equal(out.run.attempt, 3);
      assert.equal(out.run.failures, 2);
      const delay2 = out.run.notBefore.getTime() - out.run.updatedAt.getTime();
      assert.ok(delay2 >= 390 && delay2 <= 410, `capped delay ${delay2}`);

      // The last attempt's failure is final.
      await store.transitionRun({ runId: run.id, attempt: 3, to: "dispatching", reason: "claimed" });
      out = await store.transitionRun({
        runId: run.id,
        attempt: 3,
        to: "failed",
        reason: "exit_code 1",
        exitCode: 1,
      });
      assert.ok(out.ok);
      assert.equal(out.run.state, "failed");
      assert.equal(out.run.attempt, 3);
      assert.equal(out.run.failures, 3);
      assert.equal(out.run.exitCode, 1);
      assert.ok(out.run.finishedAt);
      assert.deepEqual(
        (await store.listRunEvents(run.id)).map((e) => `${e.attempt}:${e.from}→${e.to}`),
        [
          "1:null→queued",
          "1:queued→dispatching",
          "1:dispatching→pending",
          "1:pending→running",
          "1:running→queued",
          "2:queued→dispatching",
          "2:dispatching→queued",
          "3:queued→dispatching",
          "3:dispatching→failed",
        ],
      );
    });

    test("success and cancellation are final even with attempts left", async () => {
      const retry = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 };
      const ok = await runIn("running", { retry });
      const done = await store.transitionRun({
        runId: ok.id,
        attempt: 1,
        to: "succeeded",
        reason: "exit_code 0",
        exitCode: 0,
      });
      assert.ok(done.ok);
      assert.equal(done.run.state, "succeeded");
      assert.equal(done.run.exitCode, 0);
      const c = await runIn("pending", { retry });
      const cancelled = await store.transitionRun({
        runId: c.id,
        attempt: 1,
        to: "cancelled",
        reason: "by alice",
      });
      assert.ok(cancelled.ok);
      assert.equal(cancelled.run.state, "cancelled");
    });

    test("requeueLostAttempt starts a new attempt without counting a failure", async () => {
      const run = await runIn("running", {
        retry: { maxAttempts: 1, baseDelayMs: 10_000, maxDelayMs: 10_000 },
      });
      const out = await store.requeueLostAttempt(run.id, 1, "executor lost the attempt");
      assert.ok(out.ok);
      assert.equal(out.run.state, "queued");
      assert.equal(out.run.attempt, 2);
      assert.equal(out.run.failures, 0);
      assert.equal(out.run.executor, null);
      assert.equal(out.run.startedAt, null);
      assert.ok(out.run.notBefore.getTime() <= out.run.updatedAt.getTime());
      assert.equal(out.event.reason, "executor lost the attempt");
      // Immediately claimable.
      const [claimed] = await store.claimQueuedRuns(LIMITS);
      assert.equal(claimed?.run.id, run.id);

      assert.equal((await store.requeueLostAttempt(run.id, 1, "again")).ok, false);
      const queued = await runIn("queued");
      const q = await store.requeueLostAttempt(queued.id, 1, "not live");
      assert.deepEqual(q, { ok: false, refusal: "illegal_transition", run: queued });
      const ended = await runIn("succeeded");
      const e = await store.requeueLostAttempt(ended.id, 1, "too late");
      assert.deepEqual(e, { ok: false, refusal: "already_terminal", run: ended });
    });

    test("concurrent transitions of one run apply exactly one", async () => {
      const run = await runIn("running");
      const outs = await Promise.all(
        (["succeeded", "failed", "cancelled", "timed_out", "succeeded"] as const).map((to) =>
          store.transitionRun({ runId: run.id, attempt: 1, to, reason: `race ${to}` }),
        ),
      );
      assert.equal(outs.filter((o) => o.ok).length, 1);
      assert.ok(outs.filter((o) => !o.ok).every((o) => !o.ok && o.refusal === "already_terminal"));
      assert.equal((await store.listRunEvents(run.id)).filter((e) => isTerminal(e.to)).length, 1);
    });

    // --- claiming ---------------------------------------------------------------------------------

    test("claims by priority, FIFO within a priority, up to the batch", async () => {
      const low1 = await store.createRun(newRun({ priority: 0 }));
      const high1 = await store.createRun(newRun({ priority: 5, owner: "bob" }));
      const low2 = await store.createRun(newRun({ priority: 0 }));
      const high2 = await store.createRun(newRun({ priority: 5 }));
      const neg = await store.createRun(newRun({ priority: -3 }));

      const first = await store.claimQueuedRuns({ ...LIMITS, batch: 3, executor: "kubernetes" });
      assert.deepEqual(
        first.map((c) => c.run.id),
        [high1.id, high2.id, low1.id],
      );
      for (const c of first) {
        assert.equal(c.run.state, "dispatching");
        assert.equal(c.run.executor, "kubernetes");
        assert.equal(c.workload.id, c.run.workloadId);
        assert.deepEqual(c.workload.spec, spec());
        const events = await store.listRunEvents(c.run.id);
        assert.equal(events.at(-1)?.to, "dispatching");
        assert.equal(events.at(-1)?.from, "queued");
        assert.deepEqual(await store.getRun(c.run.id), c.run);
      }
      const rest = await store.claimQueuedRuns(LIMITS);
      assert.deepEqual(
        rest.map((c) => c.run.id),
        [low2.id, neg.id],
      );
      assert.deepEqual(await store.claimQueuedRuns(LIMITS), []);
    });

    test("claims never exceed the global cap, counting runs already active", async () => {
      const live = await runIn("running", { owner: "a" });
      await runIn("pending", { owner: "b" });
      await runIn("succeeded", { owner: "c" }); // ended runs hold no slot
      for (let i = 0; i < 5; i++) await store.createRun(newRun({ owner: `o${i}` }));
      const claimed = await store.claimQueuedRuns({ ...LIMITS, maxActive: 4 });
      assert.equal(claimed.length, 2);
      assert.deepEqual(await store.claimQueuedRuns({ ...LIMITS, maxActive: 4 }), []);
      await store.transitionRun({ runId: live.id, attempt: 1, to: "succeeded", reason: "done" });
      assert.equal((await store.claimQueuedRuns({ ...LIMITS, maxActive: 4 })).length, 1);
      assert.equal((await store.countRunsByState()).queued, 2);
    });

    test("claims honour the per-owner cap without blocking other owners", async () => {
      await runIn("running", { owner: "hog" });
      const hog = [];
      for (let i = 0; i < 6; i++) hog.push(await store.createRun(newRun({ owner: "hog", priority: 9 })));
      const other = await store.createRun(newRun({ owner: "quiet" }));
      const claimed = await store.claimQueuedRuns({ ...LIMITS, batch: 10, maxActivePerOwner: 3 });
      assert.deepEqual(
        claimed.map((c) => c.run.id),
        [hog[0]!.id, hog[1]!.id, other.id],
      );
      assert.deepEqual(await store.claimQueuedRuns({ ...LIMITS, maxActivePerOwner: 3 }), []);
    });

    test("a flood from one owner cannot hide other owners' runs from the claim window", async () => {
      for (let i = 0; i < 60; i++) await store.createRun(newRun({ owner: "flood", priority: 1 }));
      const other = await store.createRun(newRun({ owner: "late" }));
      const claimed = await store.claimQueuedRuns({ ...LIMITS, batch: 2, maxActivePerOwner: 1 });
      assert.deepEqual(
        claimed.map((c) => c.run.owner),
        ["flood", "late"],
      );
      assert.equal(claimed[1]?.run.id, other.id);

      // Same, with the flooding owner's active runs counted against it.
      await harness.sql(EMPTY_ALL);
      for (let i = 0; i < 3; i++) await runIn("running", { owner: "flood" });
      for (let i = 0; i < 100; i++) await store.createRun(newRun({ owner: "flood", priority: 1 }));
      const b = await store.createRun(newRun({ owner: "b" }));
      const c = await store.createRun(newRun({ owner: "c" }));
      const more = await store.claimQueuedRuns({ ...LIMITS, batch: 5, maxActivePerOwner: 4 });
      assert.deepEqual(
        more.map((r) => r.run.owner),
        ["flood", "b", "c"],
      );
      assert.deepEqual(
        more.slice(1).map((r) => r.run.id),
        [b.id, c.id],
      );
    });

    test("claims with zero room or nonsense limits claim nothing", async () => {
      await store.createRun(newRun());
      for (const limits of [
        { ...LIMITS, batch: 0 },
        { ...LIMITS, maxActive: 0 },
        { ...LIMITS, maxActivePerOwner: 0 },
        { ...LIMITS, batch: -5 },
        { ...LIMITS, batch: Number.NaN },
      ]) {
        assert.deepEqual(await store.claimQueuedRuns(limits), []);
      }
      assert.equal((await store.countRunsByState()).queued, 1);
    });

    test("concurrent claimers never double-claim or overshoot the caps", async () => {
      const owners = ["a", "b", "c", "d"];
      for (let i = 0; i < 80; i++) await store.createRun(newRun({ owner: owners[i % 4]!, priority: i % 3 }));
      const claimers = [store];
      if (harness.openSibling) {
        for (let i = 0; i < 3; i++) {
          const s = await harness.openSibling();
          extra.push(s);
          claimers.push(s);
        }
      }
      const limits = { ...LIMITS, batch: 4, maxActive: 30, maxActivePerOwner: 9 };
      const rounds = await Promise.all(
        Array.from({ length: 12 }, (_, i) => claimers[i % claimers.length]!.claimQueuedRuns(limits)),
      );
      const ids = rounds.flat().map((c) => c.run.id);
      assert.equal(new Set(ids).size, ids.length, "no run claimed twice");
      const live = await store.listLiveRuns();
      assert.equal(live.length, ids.length);
      assert.ok(live.length <= 30, `global cap: ${live.length}`);
      // With 4 owners of 9 each the per-owner caps bind first: 30 is reachable but 36 is not.
      assert.equal(live.length, 30);
      for (const owner of owners) {
        const n = live.filter((r) => r.owner === owner).length;
        assert.ok(n <= 9, `owner ${owner}: ${n}`);
      }
      for (const run of live) {
        const events = await store.listRunEvents(run.id);
        assert.equal(events.filter((e) => e.to === "dispatching").length, 1);
      }
    });

    test("a claim racing a cancel never claims the cancelled run", async () => {
      const runs = [];
      for (let i = 0; i < 20; i++) runs.push(await store.createRun(newRun()));
      const [claims, ...cancels] = await Promise.all([
        store.claimQueuedRuns({ ...LIMITS, batch: 20 }),
        ...runs.map((r) => store.transitionRun({ runId: r.id, attempt: 1, to: "cancelled", reason: "race" })),
      ]);
      const claimed = new Set(claims.map((c) => c.run.id));
      for (const [i, out] of cancels.entries()) {
        const id = runs[i]!.id;
        const final = await store.getRun(id);
        if (claimed.has(id)) {
          // The cancel came second: it moved the claimed run from dispatching.
          assert.equal(final?.state, "cancelled");
          assert.ok(out.ok);
        } else {
          assert.ok(out.ok, "unclaimed runs are cancelled from queued");
          assert.equal(final?.state, "cancelled");
        }
      }
    });

    // --- live runs and counts ----------------------------------------------------------------------

    test("listLiveRuns lists dispatching, pending and running runs oldest first, by executor", async () => {
      const a = await store.createRun(newRun());
      const b = await store.createRun(newRun());
      const c = await store.createRun(newRun());
      await store.createRun(newRun());
      await runIn("succeeded");
      await store.claimQueuedRuns({ ...LIMITS, batch: 1, executor: "kubernetes" });
      await store.claimQueuedRuns({ ...LIMITS, batch: 2, executor: "local" });
      await store.transitionRun({ runId: b.id, attempt: 1, to: "running", reason: "started" });
      await store.transitionRun({ runId: c.id, attempt: 1, to: "pending", reason: "pod pending" });
      assert.deepEqual(
        (await store.listLiveRuns()).map((r) => r.id),
        [a.id, b.id, c.id],
      );
      assert.deepEqual(
        (await store.listLiveRuns("local")).map((r) => r.id),
        [b.id, c.id],
      );
      assert.deepEqual(
        (await store.listLiveRuns("kubernetes")).map((r) => r.id),
        [a.id],
      );
      assert.deepEqual(await store.listLiveRuns("'; --"), []);
      const counts = await store.countRunsByState();
      assert.deepEqual(counts, {
        queued: 1,
        dispatching: 1,
        pending: 1,
        running: 1,
        succeeded: 1,
        failed: 0,
        timed_out: 0,
        cancelled: 0,
      });
    });

    test("listRunEvents returns events after a seq, oldest first", async () => {
      const run = await runIn("running");
      const all = await store.listRunEvents(run.id);
      assert.equal(all.length, 4);
      assert.ok(all.every((e, i) => i === 0 || e.seq > all[i - 1]!.seq));
      assert.deepEqual(await store.listRunEvents(run.id, all[1]!.seq), all.slice(2));
      assert.deepEqual(await store.listRunEvents(run.id, all[3]!.seq), []);
      assert.deepEqual(await store.listRunEvents(run.id, -1), all);
      assert.deepEqual(await store.listRunEvents(run.id, Number.NaN), all);
    });

    // --- results ------------------------------------------------------------------------------------

    function result(status = "passed") {
      return {
        status,
        score: 0.75,
        failTags: ["slow"],
        feedback: [{ case: "t1", message: "ok" }],
        metrics: { ms: 12 },
        artifacts: { replay: { url: "s3://x" } },
      };
    }

    test("records a result at most once per attempt; getResult returns the newest", async () => {
      const run = await runIn("running", { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
      assert.equal(await store.getResult(run.id), null);
      assert.equal(await store.recordResult(run.id, 1, result("failed")), true);
      assert.equal(await store.recordResult(run.id, 1, result("passed")), false);
      let got = await store.getResult(run.id);
      assert.ok(got);
      assert.equal(got.status, "failed");
      assert.equal(got.attempt, 1);
      assert.equal(got.score, 0.75);
      assert.deepEqual(got.failTags, ["slow"]);
      assert.deepEqual(got.feedback, [{ case: "t1", message: "ok" }]);
      assert.deepEqual(got.metrics, { ms: 12 });
      assert.deepEqual(got.artifacts, { replay: { url: "s3://x" } });
      assert.ok(got.recordedAt instanceof Date);

      assert.equal(await store.recordResult(run.id, 2, { ...result("passed"), score: null }), true);
      got = await store.getResult(run.id);
      assert.equal(got?.attempt, 2);
      assert.equal(got?.score, null);

      const races = await Promise.all(
        Array.from({ length: 5 }, () => store.recordResult(run.id, 3, result())),
      );
      assert.equal(races.filter(Boolean).length, 1);

      assert.equal(await store.recordResult(randomUUID(), 1, result()), false);
      assert.equal(await store.recordResult(run.id, 0, result()), false);
      assert.equal(await store.recordResult(run.id, Number.NaN, result()), false);
      const nan = await store.recordResult(run.id, 9, { ...result(), score: Number.NaN });
      assert.equal(nan, true);
      assert.equal((await store.getResult(run.id))?.score, null);
      const hostile = { ...result(), score: "1; DROP TABLE results" as unknown as number };
      assert.equal(await store.recordResult(run.id, 10, hostile), true);
      assert.equal((await store.getResult(run.id))?.score, null);
    });

    // --- logs --------------------------------------------------------------------------------------

    test("appends logs with increasing seqs across attempts and reads them after a seq or as a tail", async () => {
      const run = await runIn("running");
      const at = new Date("2026-01-02T03:04:05.678Z");
      await store.appendLogs(run.id, 1, [
        { stream: "stdout", at, text: "line 1" },
        { stream: "stderr", at, text: "line 2" },
      ]);
      await store.appendLogs(run.id, 1, []);
      await store.appendLogs(run.id, 2, [
        { stream: "system", at, text: "attempt 2 started" },
        { stream: "stdout", at, text: "nul\0byte" },
        { stream: "stdout", at, text: "'); DROP TABLE run_logs; --" },
      ]);
      const all = await store.readLogs(run.id, {});
      assert.deepEqual(
        all.map((l) => [l.seq, l.attempt, l.stream, l.text]),
        [
          [1, 1, "stdout", "line 1"],
          [2, 1, "stderr", "line 2"],
          [3, 2, "system", "attempt 2 started"],
          [4, 2, "stdout", "nul\uFFFDbyte"],
          [5, 2, "stdout", "'); DROP TABLE run_logs; --"],
        ],
      );
      assert.equal(all[0]?.at.toISOString(), at.toISOString());
      assert.deepEqual(
        (await store.readLogs(run.id, { afterSeq: 2, limit: 2 })).map((l) => l.seq),
        [3, 4],
      );
      assert.deepEqual(
        (await store.readLogs(run.id, { tail: 2 })).map((l) => l.seq),
        [4, 5],
      );
      assert.deepEqual(await store.readLogs(run.id, { tail: 0 }), []);
      assert.deepEqual(await store.readLogs(run.id, { afterSeq: 5 }), []);
      assert.equal((await store.readLogs(run.id, { afterSeq: -3 })).length, 5);
      assert.equal((await store.readLogs(run.id, { limit: 1 })).length, 1);
    });

    test("concurrent appends to one run get distinct, gap-free seqs; a huge line survives", async () => {
      const run = await runIn("running");
      const at = new Date();
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.appendLogs(
            run.id,
            1,
            Array.from({ length: 20 }, (_, j) => ({ stream: "stdout" as const, at, text: `${i}:${j}` })),
          ),
        ),
      );
      const lines = await store.readLogs(run.id, { limit: 10_000 });
      assert.deepEqual(
        lines.map((l) => l.seq),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      const big = "z".repeat(1024 * 1024);
      await store.appendLogs(run.id, 1, [{ stream: "stdout", at, text: big }]);
      assert.equal((await store.readLogs(run.id, { tail: 1 }))[0]?.text.length, big.length);
    });

    test("appending logs to an unknown run fails with not-found; a bad line with a validation error", async () => {
      const line = { stream: "stdout" as const, at: new Date(), text: "x" };
      await rejectsWithCode(store.appendLogs(randomUUID(), 1, [line]), "GANTRY_ERR_NOT_FOUND");
      await rejectsWithCode(store.appendLogs("not-a-uuid", 1, [line]), "GANTRY_ERR_NOT_FOUND");
      const run = await runIn("running");
      await rejectsWithCode(
        store.appendLogs(run.id, 1, [{ ...line, stream: "stdin" as unknown as "stdout" }]),
        "GANTRY_ERR_VALIDATION",
      );
      await rejectsWithCode(store.appendLogs(run.id, 0, [line]), "GANTRY_ERR_VALIDATION");
      // An invalid timestamp is replaced by now; a lone surrogate by U+FFFD.
      await store.appendLogs(run.id, 1, [{ ...line, at: new Date(Number.NaN), text: "half \ud800" }]);
      const [got] = await store.readLogs(run.id, {});
      assert.equal(got?.text, "half \ufffd");
      assert.ok(got && Math.abs(got.at.getTime() - Date.now()) < 60_000);
      assert.equal(got?.seq, 1, "refused appends used no seqs");
    });

    // --- API tokens --------------------------------------------------------------------------------

    test("API tokens: create, find by hash, list, revoke, count", async () => {
      assert.equal(await store.countApiTokens(), 0);
      const admin = await store.createApiToken({
        name: "first admin",
        role: "admin",
        owner: "admin",
        tokenHash: sha("a"),
      });
      const sub = await store.createApiToken({
        name: "ci",
        role: "submitter",
        owner: "alice",
        tokenHash: sha("s"),
      });
      assert.equal(admin.role, "admin");
      assert.equal(admin.lastUsedAt, null);
      assert.equal(admin.revokedAt, null);
      assert.equal(sub.owner, "alice");
      assert.equal(await store.countApiTokens(), 2);

      const found = await store.findApiTokenByHash(sha("s"));
      assert.equal(found?.id, sub.id);
      assert.ok(found?.lastUsedAt, "first use is recorded");
      assert.equal(await store.findApiTokenByHash(sha("nope")), null);
      assert.equal(await store.findApiTokenByHash(""), null);
      assert.equal(await store.findApiTokenByHash("x".repeat(100_000)), null);
      assert.equal(await store.findApiTokenByHash("' OR '1'='1"), null);

      // Oldest first; two tokens made in the same millisecond may come in either order.
      assert.deepEqual((await store.listApiTokens()).map((t) => t.id).sort(), [admin.id, sub.id].sort());
      assert.equal(await store.revokeApiToken(sub.id), true);
      assert.equal(await store.revokeApiToken(sub.id), false);
      assert.equal(await store.revokeApiToken(randomUUID()), false);
      assert.equal(await store.findApiTokenByHash(sha("s")), null);
      const listed = await store.listApiTokens();
      assert.ok(listed.find((t) => t.id === sub.id)?.revokedAt);
      // Revoked tokens still count: the count answers "has any token ever been made".
      assert.equal(await store.countApiTokens(), 2);

      await assert.rejects(
        store.createApiToken({ name: "dup", role: "viewer", owner: "x", tokenHash: sha("a") }),
        "the same hash twice is refused",
      );
      await rejectsWithCode(
        store.createApiToken({ name: "n".repeat(100_000), role: "viewer", owner: "x", tokenHash: sha("b") }),
        "GANTRY_ERR_VALIDATION",
      );
      await rejectsWithCode(
        store.createApiToken({
          name: "r",
          role: "root" as unknown as "admin",
          owner: "x",
          tokenHash: sha("c"),
        }),
        "GANTRY_ERR_VALIDATION",
      );
    });

    test("API token lastUsedAt is written at most once a minute", async () => {
      const token = await store.createApiToken({
        name: "t",
        role: "viewer",
        owner: "v",
        tokenHash: sha("t"),
      });
      const first = await store.findApiTokenByHash(sha("t"));
      const second = await store.findApiTokenByHash(sha("t"));
      assert.ok(first?.lastUsedAt);
      assert.equal(second?.lastUsedAt?.getTime(), first.lastUsedAt.getTime());
      await harness.sql(
        `UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = '${token.id}'`,
      );
      const third = await store.findApiTokenByHash(sha("t"));
      assert.ok(third?.lastUsedAt && third.lastUsedAt.getTime() > Date.now() - 30_000);
    });

    // --- run tokens --------------------------------------------------------------------------------

    test("run tokens: checked without consuming, consumed once, bound to run and attempt", async () => {
      const run = await runIn("running");
      const other = await runIn("running");
      const later = new Date(Date.now() + 60_000);
      await store.setRunToken(run.id, 1, sha("tok"), later);
      assert.deepEqual(await store.checkRunToken(run.id, sha("tok"), { consume: false }), { attempt: 1 });
      assert.deepEqual(await store.checkRunToken(run.id, sha("tok"), { consume: false }), { attempt: 1 });
      assert.equal(await store.checkRunToken(run.id, sha("wrong"), { consume: false }), null);
      assert.equal(await store.checkRunToken(other.id, sha("tok"), { consume: false }), null);
      assert.equal(await store.checkRunToken(run.id, "x".repeat(100_000), { consume: true }), null);
      assert.equal(await store.checkRunToken(run.id, "a\0b", { consume: true }), null);

      const consumed = await Promise.all(
        Array.from({ length: 5 }, () => store.checkRunToken(run.id, sha("tok"), { consume: true })),
      );
      assert.equal(consumed.filter((c) => c !== null).length, 1, "one racing consumer wins");
      assert.equal(await store.checkRunToken(run.id, sha("tok"), { consume: false }), null);

      // Replacing the token revives the run's ability to report, with the new hash only.
      await store.setRunToken(run.id, 1, sha("tok2"), later);
      assert.equal(await store.checkRunToken(run.id, sha("tok"), { consume: false }), null);
      assert.deepEqual(await store.checkRunToken(run.id, sha("tok2"), { consume: true }), { attempt: 1 });
    });

    test("run tokens die with expiry, a new attempt, or the run's end", async () => {
      const expired = await runIn("running");
      await store.setRunToken(expired.id, 1, sha("e"), new Date(Date.now() - 1000));
      assert.equal(await store.checkRunToken(expired.id, sha("e"), { consume: false }), null);

      const retried = await runIn("running", { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
      await store.setRunToken(retried.id, 1, sha("r"), new Date(Date.now() + 60_000));
      await store.transitionRun({ runId: retried.id, attempt: 1, to: "failed", reason: "exit_code 1" });
      assert.equal(
        await store.checkRunToken(retried.id, sha("r"), { consume: false }),
        null,
        "stale attempt",
      );

      const ended = await runIn("running");
      await store.setRunToken(ended.id, 1, sha("d"), new Date(Date.now() + 60_000));
      assert.ok(await store.checkRunToken(ended.id, sha("d"), { consume: false }));
      await store.transitionRun({ runId: ended.id, attempt: 1, to: "cancelled", reason: "by admin" });
      assert.equal(await store.checkRunToken(ended.id, sha("d"), { consume: true }), null, "terminal");

      await rejectsWithCode(
        store.setRunToken(randomUUID(), 1, sha("x"), new Date(Date.now() + 1000)),
        "GANTRY_ERR_NOT_FOUND",
      );
      await rejectsWithCode(
        store.setRunToken("bad id", 1, sha("x"), new Date(Date.now() + 1000)),
        "GANTRY_ERR_NOT_FOUND",
      );
      await rejectsWithCode(
        store.setRunToken(ended.id, 1, sha("x"), new Date(Number.NaN)),
        "GANTRY_ERR_VALIDATION",
      );
    });

    // --- notifications -----------------------------------------------------------------------------

    test("NOTIFY on queue, event and log channels; unsubscribe stops delivery", async () => {
      const got: Record<StoreChannel, string[]> = {
        gantry_run_queued: [],
        gantry_run_event: [],
        gantry_run_logs: [],
      };
      const stops = await Promise.all(
        (Object.keys(got) as StoreChannel[]).map((channel) =>
          store.listen(channel, (p) => got[channel].push(p)),
        ),
      );
      const run = await store.createRun(newRun({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } }));
      await waitFor("queued notification", () => got.gantry_run_queued.includes(run.id));

      await store.claimQueuedRuns(LIMITS);
      await waitFor("claim event notification", () => got.gantry_run_event.includes(run.id));
      got.gantry_run_event.length = 0;

      await store.transitionRun({ runId: run.id, attempt: 1, to: "failed", reason: "exit_code 1" });
      await waitFor("event notification", () => got.gantry_run_event.includes(run.id));
      await waitFor(
        "re-queue notification",
        () => got.gantry_run_queued.filter((p) => p === run.id).length === 2,
      );

      await store.appendLogs(run.id, 1, [{ stream: "stdout", at: new Date(), text: "x" }]);
      await waitFor("logs notification", () => got.gantry_run_logs.includes(run.id));

      // A refused transition notifies nothing.
      got.gantry_run_event.length = 0;
      await store.transitionRun({ runId: run.id, attempt: 1, to: "running", reason: "stale" });

      await Promise.all(stops.map((stop) => stop()));
      await store.createRun(newRun());
      await sleep(200);
      assert.equal(got.gantry_run_queued.length, 2);
      assert.deepEqual(got.gantry_run_event, []);
    });

    test("several listeners on one channel each get the notification", async () => {
      const a: string[] = [];
      const b: string[] = [];
      const stopA = await store.listen("gantry_run_queued", (p) => a.push(p));
      const stopB = await store.listen("gantry_run_queued", (p) => b.push(p));
      const run = await store.createRun(newRun());
      await waitFor("both listeners", () => a.includes(run.id) && b.includes(run.id));
      await stopA();
      const run2 = await store.createRun(newRun());
      await waitFor("remaining listener", () => b.includes(run2.id));
      assert.ok(!a.includes(run2.id));
      await stopB();
    });

    // --- finalizations and run outcomes --------------------------------------------------------------

    test("finalizeRun: only the owner, only an ended run, idempotent, one per owner", async () => {
      const done = await runIn("succeeded", { owner: "fin-a" });
      const other = await runIn("failed", { owner: "fin-a" });
      const live = await runIn("running", { owner: "fin-a" });
      const bobs = await runIn("succeeded", { owner: "fin-b" });

      assert.deepEqual(await store.finalizeRun(randomUUID(), "fin-a", null), {
        ok: false,
        refusal: "not_found",
      });
      assert.deepEqual(await store.finalizeRun("not-a-uuid", "fin-a", null), {
        ok: false,
        refusal: "not_found",
      });
      assert.deepEqual(await store.finalizeRun(done.id, "fin-b", null), { ok: false, refusal: "not_found" });
      assert.deepEqual(await store.finalizeRun(done.id, "fin-a\0", null), {
        ok: false,
        refusal: "not_found",
      });
      assert.deepEqual(await store.finalizeRun(done.id, "", null), { ok: false, refusal: "not_found" });
      assert.deepEqual(await store.finalizeRun(live.id, "fin-a", null), {
        ok: false,
        refusal: "not_finished",
        state: "running",
      });

      const first = await store.finalizeRun(done.id, "fin-a", "my final answer");
      assert.ok(first.ok);
      assert.equal(first.already, false);
      assert.ok(first.finalizedAt instanceof Date);
      const again = await store.finalizeRun(done.id, "fin-a", "ignored");
      assert.ok(again.ok);
      assert.equal(again.already, true);
      assert.equal(again.finalizedAt.getTime(), first.finalizedAt.getTime());
      assert.deepEqual(await store.finalizeRun(other.id, "fin-a", null), {
        ok: false,
        refusal: "other_finalized",
        runId: done.id,
      });
      // Another owner is not affected, and may not touch fin-a's runs.
      assert.deepEqual(await store.finalizeRun(other.id, "fin-b", null), { ok: false, refusal: "not_found" });
      const b = await store.finalizeRun(bobs.id, "fin-b", "x".repeat(10_000));
      assert.ok(b.ok && !b.already);
    });

    test("finalizeRun: of two racing finalizations of different runs by one owner, one wins", async () => {
      const runs = await Promise.all(Array.from({ length: 6 }, () => runIn("succeeded", { owner: "racer" })));
      const outcomes = await Promise.all(runs.map((r) => store.finalizeRun(r.id, "racer", null)));
      const winners = outcomes.filter((o) => o.ok);
      assert.equal(winners.length, 1, JSON.stringify(outcomes));
      const winner = runs[outcomes.findIndex((o) => o.ok)] as Run;
      for (const o of outcomes) {
        if (!o.ok) assert.deepEqual(o, { ok: false, refusal: "other_finalized", runId: winner.id });
      }
    });

    const RULES = { timeoutStatuses: ["timeout", "TIMEOUT"], failedStatuses: ["internal_error", "FAILED"] };
    const outcomeOf = async (runId: string) =>
      (await store.listRunOutcomes({ runId, rules: RULES, offset: 0, limit: 10 })).rows[0]?.outcome;

    test("listRunOutcomes: every outcome from state, newest result and finalization", async () => {
      const result = (status: string, score: number | null = 50) => ({
        status,
        score,
        failTags: [],
        feedback: [],
        metrics: {},
        artifacts: {},
      });
      const queued = await store.createRun(newRun());
      const running = await runIn("running");
      const reported = await runIn("running");
      assert.equal(await store.recordResult(reported.id, 1, result("COMPLETED", 80)), true);
      const graded = await runIn("succeeded");
      await store.recordResult(graded.id, 1, result("wrong_answer", 40));
      const gradedTimeout = await runIn("succeeded");
      await store.recordResult(gradedTimeout.id, 1, result("timeout"));
      const runnerFailed = await runIn("succeeded");
      await store.recordResult(runnerFailed.id, 1, result("FAILED"));
      const noResult = await runIn("succeeded");
      const failed = await runIn("failed");
      const timedOut = await runIn("timed_out");
      const cancelled = await runIn("cancelled");
      const finalized = await runIn("succeeded");
      await store.recordResult(finalized.id, 1, result("accepted", 100));
      assert.ok((await store.finalizeRun(finalized.id, "alice", null)).ok);

      const expected: [Run, string][] = [
        [queued, "live"],
        [running, "live"],
        [reported, "live"], // a result does not end the run: it is live until its runner exits
        [graded, "completed"],
        [gradedTimeout, "timeout"],
        [runnerFailed, "failed"],
        [noResult, "failed"],
        [failed, "failed"],
        [timedOut, "timeout"],
        [cancelled, "failed"],
        [finalized, "finalized"],
      ];
      for (const [run, outcome] of expected) assert.equal(await outcomeOf(run.id), outcome, run.reason ?? "");

      const all = await store.listRunOutcomes({ rules: RULES, offset: 0, limit: 100 });
      assert.equal(all.total, expected.length);
      assert.deepEqual(
        all.rows.map((r) => r.run.id),
        expected.map(([r]) => r.id).reverse(),
        "newest first",
      );
      const row = all.rows.find((r) => r.run.id === graded.id);
      assert.equal(row?.resultStatus, "wrong_answer");
      assert.equal(row?.score, 40);
      assert.equal(row?.finalizedAt, null);
      assert.ok(all.rows.find((r) => r.run.id === finalized.id)?.finalizedAt instanceof Date);
      assert.equal(all.rows.find((r) => r.run.id === queued.id)?.resultStatus, null);

      for (const outcome of ["live", "completed", "failed", "timeout", "finalized"] as const) {
        const page = await store.listRunOutcomes({ rules: RULES, outcome, offset: 0, limit: 100 });
        const want = expected.filter(([, o]) => o === outcome).map(([r]) => r.id);
        assert.equal(page.total, want.length, outcome);
        assert.deepEqual(page.rows.map((r) => r.run.id).sort(), [...want].sort(), outcome);
      }
    });

    test("listRunOutcomes: owner, kind and id filters, offset paging with the full total, language", async () => {
      const submission = spec({
        submission: {
          language: "python",
          toolchain: { sourceFile: "main.py", extensions: [".py"], run: ["python3", "{main}"], image: "py" },
          files: [{ path: "main.py", content: "print(1)" }],
          cases: [],
          compare: { mode: "exact" },
          caseOutputBytes: 1024,
        },
      });
      const mine: Run[] = [];
      for (let i = 0; i < 5; i++)
        mine.push(await store.createRun(newRun({ owner: "pager", kind: "submission", spec: submission })));
      await store.createRun(newRun({ owner: "pager" })); // kind job
      await store.createRun(newRun({ owner: "someone-else", kind: "submission", spec: submission }));

      const q = { owner: "pager", kind: "submission" as const, rules: RULES };
      const p1 = await store.listRunOutcomes({ ...q, offset: 0, limit: 2 });
      const p2 = await store.listRunOutcomes({ ...q, offset: 2, limit: 2 });
      const p3 = await store.listRunOutcomes({ ...q, offset: 4, limit: 2 });
      const past = await store.listRunOutcomes({ ...q, offset: 40, limit: 2 });
      assert.deepEqual([p1.total, p2.total, p3.total, past.total], [5, 5, 5, 5]);
      assert.deepEqual(
        [...p1.rows, ...p2.rows, ...p3.rows].map((r) => r.run.id),
        mine.map((r) => r.id).reverse(),
      );
      assert.equal(past.rows.length, 0);
      assert.equal(p1.rows[0]?.language, "python");
      assert.equal(
        (await store.listRunOutcomes({ owner: "pager", rules: RULES, offset: 0, limit: 50 })).total,
        6,
      );
      const job = (
        await store.listRunOutcomes({ owner: "pager", kind: "job", rules: RULES, offset: 0, limit: 5 })
      ).rows[0];
      assert.equal(job?.language, null);

      const one = await store.listRunOutcomes({ ...q, runId: (mine[2] as Run).id, offset: 0, limit: 10 });
      assert.deepEqual([one.total, one.rows[0]?.run.id], [1, (mine[2] as Run).id]);
      const nobody = { rules: RULES, offset: 0, limit: 10 };
      for (const query of [
        { ...nobody, runId: "not-a-uuid" },
        { ...nobody, runId: randomUUID() },
        { ...nobody, owner: "x\0y" },
        { ...nobody, owner: "o".repeat(100_000) },
        { ...nobody, owner: "pager", runId: (await store.createRun(newRun({ owner: "z" }))).id },
      ]) {
        assert.deepEqual(await store.listRunOutcomes(query), { rows: [], total: 0 });
      }
      // Out-of-range paging is clamped, not an error.
      const clamped = await store.listRunOutcomes({ ...q, offset: -5, limit: 10_000 });
      assert.equal(clamped.rows.length, 5);
    });

    // --- leadership --------------------------------------------------------------------------------

    test("leadership is exclusive per name until released", async () => {
      const lead = await store.tryAcquireLeadership("reconciler");
      assert.ok(lead);
      assert.equal(await store.tryAcquireLeadership("reconciler"), null);
      const otherName = await store.tryAcquireLeadership("janitor");
      assert.ok(otherName, "different names are different locks");
      if (harness.openSibling) {
        const sibling = await harness.openSibling();
        extra.push(sibling);
        assert.equal(await sibling.tryAcquireLeadership("reconciler"), null, "another process is refused");
        await lead.release();
        const taken = await sibling.tryAcquireLeadership("reconciler");
        assert.ok(taken, "released leadership can be taken by another process");
        assert.equal(await store.tryAcquireLeadership("reconciler"), null);
        await sibling.close();
        assert.equal(taken.lost?.aborted, true, "closing the store loses its leadership");
      } else {
        await lead.release();
      }
      const again = await store.tryAcquireLeadership("reconciler");
      assert.ok(again);
      assert.equal(again.lost?.aborted ?? false, false);
      await again.release();
      await again.release(); // idempotent
      assert.equal(again.lost?.aborted ?? false, false, "a release is not a loss");
      await otherName.release();
    });
  });
}
