// The concurrency cap on the real control plane (issue 5, item 2): 200 runs queued at once with
// maxActiveRuns 50. The store, dispatcher and executor are Gantry's own (PGlite in memory); the
// test watches the namespace's Jobs itself and replays the events: at no point may more than 50
// Jobs be live (their pod may still run: see job-tally.ts), and every run ends succeeded on its
// first attempt with exactly one Job. Nor may more than 50 Jobs lack a Complete/Failed condition:
// the executor reports a run's end at SuccessCriteriaMet, but its Job keeps the run's place under
// the cap until the Job controller marks it Complete (55 were measured before it did).
import assert from "node:assert/strict";
import { test } from "node:test";
import { GANTRY_ANNOTATIONS } from "../../src/core/kubernetes-objects.ts";
import { openStore } from "../../src/store/open-store.ts";
import { TEST_ANNOTATIONS as A, createTestNamespace, useTestCluster, waitFor } from "./harness.ts";
import { startDispatchingGantry, submitJob } from "./kubernetes-executor-helpers.ts";
import { tallyJobs } from "./job-tally.ts";

const RUNS = 200;
const CAP = 50;

test(
  `${RUNS} runs queued at once never have more than ${CAP} live Jobs, and all succeed`,
  { timeout: 240_000 },
  async (t) => {
    const { kc } = await useTestCluster();
    const ns = await createTestNamespace(kc, "k8s-cap");
    t.after(() => ns.cleanup());
    const store = await openStore();
    t.after(() => store.close());
    const tally = await tallyJobs(kc, ns.name);
    t.after(() => tally.stop());

    const { dispatcher, executor } = await startDispatchingGantry(t, {
      kc,
      namespace: ns.name,
      store,
      dispatcher: { maxActiveRuns: CAP, maxActivePerOwner: CAP },
      // Short, but long enough that the first 50 are still running when the cap is reached.
      executor: { podAnnotations: () => ({ [A.runDuration]: "2s" }) },
      start: false,
    });
    await executor.start();

    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await submitJob(store));
    const startedAt = Date.now();
    await dispatcher.start(executor);

    const ids = new Set(runs.map((r) => r.id));
    await waitFor(
      `all ${RUNS} runs to finish`,
      async () => {
        const counts = await store.countRunsByState();
        const done = counts.succeeded + counts.failed + counts.timed_out + counts.cancelled;
        return done === RUNS ? true : undefined;
      },
      { timeoutMs: 200_000, intervalMs: 250 },
    );
    const elapsedMs = Date.now() - startedAt;
    // The last Jobs' Complete conditions may trail the store by a moment.
    await waitFor("every Job finished", async () => (tally.unfinished() === 0 ? true : undefined));
    tally.stop();
    const summary = `at most ${tally.maxLive} live and ${tally.maxUnfinished} unfinished Jobs at once (${RUNS} Jobs in ${elapsedMs} ms)`;
    t.diagnostic(summary);

    assert.equal(tally.ended, null, "the test's Job watch ran throughout (else the tally is incomplete)");
    assert.ok(tally.maxLive <= CAP, `never more than ${CAP} Jobs whose pod may run: ${summary}`);
    // The cap was reached, so the test did exercise it.
    assert.ok(tally.maxLive >= CAP - 5, `the cap was reached: ${summary}`);
    for (const run of runs) {
      const r = await store.getRun(run.id);
      assert.equal(r?.state, "succeeded", `${run.id}: ${JSON.stringify(r)}`);
      assert.equal(r?.attempt, 1, `${run.id} was not relaunched`);
    }
    const jobsPerRun = new Map<string, number>();
    for (const job of tally.jobs.values()) {
      const runId = job.metadata?.annotations?.[GANTRY_ANNOTATIONS.runId] ?? "";
      assert.ok(ids.has(runId), `Job ${job.metadata?.name} belongs to one of the runs`);
      jobsPerRun.set(runId, (jobsPerRun.get(runId) ?? 0) + 1);
    }
    assert.equal(jobsPerRun.size, RUNS, "every run had a Job");
    assert.deepEqual(
      [...jobsPerRun].filter(([, n]) => n !== 1),
      [],
      "no run had more than one Job",
    );

    assert.ok(
      tally.maxUnfinished <= CAP,
      `never more than ${CAP} Jobs without a Complete/Failed condition: ${summary}; at the worst moment, unfinished but ended: ${JSON.stringify(tally.atMaxUnfinished)}`,
    );
  },
);
