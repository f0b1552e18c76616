/**
 * The dispatcher's periodic reconcile on a running Gantry (local executor, both store backends):
 * a run the store holds as dispatched but that no executor runs — as another dispatcher that died
 * right after claiming leaves it — is found at the next interval and re-queued as a new attempt,
 * then runs to success once.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_RETRY_POLICY } from "../../src/core/run-state.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { testBackends } from "../helpers/test-databases.ts";
import { waitFor } from "../k8s/harness.ts";

for (const backend of testBackends()) {
  describe(`periodic reconcile (${backend})`, () => {
    let t: TestGantry;
    before(async () => {
      t = await startTestGantry(
        backend,
        { maxActiveRuns: 1, maxActivePerOwner: 1 },
        {
          GANTRY_RECONCILE_INTERVAL_SECONDS: "1",
        },
      );
    });
    after(() => t?.stop());

    test("a claimed run no executor runs is re-queued at the next interval and succeeds once", async () => {
      const store = t.gantry.store;
      // Fill the only slot, so this Gantry's dispatcher claims nothing more on its own.
      const blocker = await t.api("POST", "/v1/runs", {
        body: { command: ["sleep", "30"], limits: { wallSeconds: 60 } },
      });
      assert.equal(blocker.status, 201, blocker.text);
      const blockerId = (blocker.body as { id: string }).id;
      await waitFor("the blocker to run", async () =>
        (await store.getRun(blockerId))?.state === "running" ? true : undefined,
      );

      // Another dispatcher claims a run and dies before launching it.
      const lost = await store.createRun({
        kind: "job",
        owner: "admin",
        spec: {
          command: ["echo", "found again"],
          env: {},
          files: [],
          limits: t.config.defaultLimits,
        },
        priority: 0,
        retry: DEFAULT_RETRY_POLICY,
      });
      const claimed = await store.claimQueuedRuns({
        batch: 1,
        maxActive: 10,
        maxActivePerOwner: 10,
        executor: "local",
      });
      assert.deepEqual(
        claimed.map((c) => c.run.id),
        [lost.id],
      );

      // Within a few intervals the reconciler re-queues it; once the slot frees, it runs.
      await waitFor("the lost run to be re-queued", async () =>
        (await store.getRun(lost.id))?.attempt === 2 ? true : undefined,
      );
      const metrics = await t.api("GET", "/metrics", { token: null });
      assert.match(metrics.text, /gantry_reconciled_attempts_total\{action="requeued"\} 1\b/);
      assert.match(metrics.text, /gantry_orphan_resources 0\b/);
      const cancelled = await t.api("POST", `/v1/runs/${blockerId}/cancel`);
      assert.equal(cancelled.status, 200, cancelled.text);
      const done = await t.waitForRun(lost.id, 30_000);
      assert.equal(done.state, "succeeded", JSON.stringify(done));
      assert.equal(done.attempt, 2);
      const events = await store.listRunEvents(lost.id);
      assert.deepEqual(
        events.map((e) => `${e.attempt}:${e.to}`),
        ["1:queued", "1:dispatching", "1:queued", "2:dispatching", "2:running", "2:succeeded"],
      );
      assert.match(events[2]?.reason ?? "", /lost by the local executor/);
    });
  });
}
