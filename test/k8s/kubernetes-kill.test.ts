// kill -9 of a Gantry that runs its attempts as Kubernetes Jobs (issue 5, item 1). Gantry is
// `gantry up` in a child process (GANTRY_EXECUTOR=kubernetes, a PGlite data directory); the test
// watches the namespace's Jobs itself and SIGKILLs the process the moment a Job appears, before
// the store records the attempt as pending, then restarts it: the restarted Gantry must adopt the
// Job, so the run runs once (one Job, one final state, attempt 1). A second test kills it at
// random moments while a dozen runs are dispatched and checks the same of every run.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { CoreV1Api, type V1Job } from "@kubernetes/client-node";
import { GANTRY_ANNOTATIONS, GANTRY_LABELS } from "../../src/core/kubernetes-objects.ts";
import { openStore } from "../../src/store/open-store.ts";
import { GantryUpProcess, freePort } from "../helpers/gantry-process.ts";
import { seededRandom } from "../helpers/seeded-random.ts";
import { createTestNamespace, isApiStatus, useTestCluster, waitFor } from "./harness.ts";
import { tallyJobs, type JobTally } from "./job-tally.ts";

const ADMIN = "gty_k8s_kill_test_admin_token_0123456789";
const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"];

/** `gantry up` as a child process the test can SIGKILL and start again on the same data. */
class GantryProcess extends GantryUpProcess {
  async waitUntilReady(): Promise<void> {
    await waitFor("gantry to be ready", async () => ((await this.ready()) ? true : undefined), {
      timeoutMs: 60_000,
    });
  }

  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return this.request(ADMIN, method, path, body);
  }
}

interface RunEventBody {
  attempt: number;
  from: string | null;
  to: string;
}

async function setUp(t: TestContext, prefix: string, maxActiveRuns: number) {
  const { kc, kubeconfigPath } = await useTestCluster();
  const ns = await createTestNamespace(kc, prefix);
  t.after(() => ns.cleanup());
  const dataDir = await mkdtemp(join(tmpdir(), "gantry-k8s-kill-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const tally = await tallyJobs(kc, ns.name);
  t.after(() => tally.stop());
  const port = await freePort();
  const gantry = new GantryProcess(
    {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      GANTRY_PORT: String(port),
      GANTRY_DATA_DIR: dataDir,
      GANTRY_ADMIN_TOKEN: ADMIN,
      GANTRY_LOG_LEVEL: "warn",
      GANTRY_EXECUTOR: "kubernetes",
      GANTRY_KUBECONFIG: kubeconfigPath,
      GANTRY_RUNS_NAMESPACE: ns.name,
      GANTRY_DEFAULT_IMAGE: "registry.invalid/gantry-job:test",
      GANTRY_JOB_TTL_SECONDS: "600",
      GANTRY_MAX_ACTIVE_RUNS: String(maxActiveRuns),
    },
    `http://127.0.0.1:${port}`,
  );
  t.after(() => gantry.kill());
  return { kc, namespace: ns.name, dataDir, tally, gantry };
}

const submit = async (gantry: GantryProcess, i: number): Promise<string> => {
  const res = await gantry.call("POST", "/v1/runs", { command: ["sh", "-c", `echo run ${i}`] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return (res.body as { id: string }).id;
};

const jobsOf = (tally: JobTally, runId: string): V1Job[] =>
  [...tally.jobs.values()].filter((j) => j.metadata?.annotations?.[GANTRY_ANNOTATIONS.runId] === runId);

/** The run ended succeeded, once: one Job (of its last attempt), and attempts that never overlap. */
async function assertRanOnce(gantry: GantryProcess, tally: JobTally, runId: string): Promise<RunEventBody[]> {
  assert.equal(tally.ended, null, "the test's Job watch ran throughout (else it may have missed Jobs)");
  const run = (await gantry.call("GET", `/v1/runs/${runId}`)).body as { state: string; attempt: number };
  assert.equal(run.state, "succeeded", `${runId}: ${JSON.stringify(run)}`);
  const { events } = (await gantry.call("GET", `/v1/runs/${runId}/events`)).body as {
    events: RunEventBody[];
  };
  const history = JSON.stringify(events);
  let live: number | null = null;
  let previous = 0;
  for (const e of events) {
    assert.ok(e.attempt >= previous, `${runId}: attempts in sequence: ${history}`);
    previous = e.attempt;
    if (e.to === "dispatching") {
      assert.equal(
        live,
        null,
        `${runId}: attempt ${e.attempt} dispatched while ${live} was live: ${history}`,
      );
      live = e.attempt;
    } else if (e.to === "queued" && e.from !== null) {
      assert.equal(
        live ?? e.attempt,
        e.attempt,
        `${runId}: re-queued while another attempt was live: ${history}`,
      );
      live = null;
    } else if (TERMINAL.includes(e.to)) live = null;
  }
  assert.deepEqual(
    events.filter((e) => TERMINAL.includes(e.to)).map((e) => `${e.attempt}:${e.to}`),
    [`${run.attempt}:succeeded`],
    `${runId}: one final state: ${history}`,
  );
  const jobs = jobsOf(tally, runId);
  assert.deepEqual(
    jobs.map((j) => j.metadata?.labels?.[GANTRY_LABELS.attempt]),
    [String(run.attempt)],
    `${runId}: one Job, of attempt ${run.attempt}: ${history}`,
  );
  return events;
}

async function waitForTerminal(gantry: GantryProcess, ids: string[], timeoutMs = 90_000): Promise<void> {
  const pending = new Set(ids);
  await waitFor(
    `${ids.length} runs to finish`,
    async () => {
      for (const id of [...pending]) {
        const state = ((await gantry.call("GET", `/v1/runs/${id}`)).body as { state: string }).state;
        if (TERMINAL.includes(state)) pending.delete(id);
      }
      return pending.size === 0 ? true : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

test(
  "kill -9 between creating the Job and recording it: the restarted Gantry adopts the Job, the run runs once",
  { timeout: 180_000 },
  async (t) => {
    const env = await setUp(t, "k8s-kill-window", 4);
    const { gantry, tally } = env;
    const core = env.kc.makeApiClient(CoreV1Api);
    // The watch event may lose the race with Gantry recording `pending`; try a few runs until one
    // kill lands inside the window (it usually does at once).
    let hit: { runId: string; secretAtKill: boolean } | null = null;
    const outcomes: string[] = [];
    for (let round = 0; round < 5 && hit === null; round++) {
      gantry.start();
      await gantry.waitUntilReady();
      tally.onAdded = () => gantry.killNow();
      const runId = await submit(gantry, round);
      await waitFor("the Job to appear", async () => (jobsOf(tally, runId).length > 0 ? true : undefined));
      await gantry.kill();
      tally.onAdded = null;
      const job = jobsOf(tally, runId)[0];
      const secretAtKill = await core
        .readNamespacedSecret({ namespace: env.namespace, name: job?.metadata?.name ?? "" })
        .then(() => true)
        .catch((err: unknown) => {
          if (isApiStatus(err, 404)) return false;
          throw err;
        });
      // The store as the killed process left it (PGlite: nobody else has it open now).
      const store = await openStore({ dataDir: join(env.dataDir, "db") });
      const state = (await store.getRun(runId))?.state;
      await store.close();
      outcomes.push(`${runId}: ${state}${secretAtKill ? "" : " (no Secret yet)"}`);
      if (state === "dispatching") hit = { runId, secretAtKill };
      // Whatever the outcome, the run must still end once after the restart.
      gantry.start();
      await gantry.waitUntilReady();
      await waitForTerminal(gantry, [runId]);
      await assertRanOnce(gantry, tally, runId);
      await gantry.kill();
    }
    t.diagnostic(`kills: ${outcomes.join("; ")}`);
    assert.ok(
      hit !== null,
      `no kill landed between the Job's creation and its pending: ${outcomes.join("; ")}`,
    );

    gantry.start();
    await gantry.waitUntilReady();
    const events = await assertRanOnce(gantry, tally, hit.runId);
    // Adopted: the restarted executor reports only the end, on the first attempt.
    assert.deepEqual(
      events.map((e) => `${e.attempt}:${e.to}`),
      ["1:queued", "1:dispatching", "1:succeeded"],
    );
    assert.equal(tally.ended, null, "the test's Job watch ran throughout");

    // The kill usually lands before the Secret exists, and only the killed process knew the token.
    // On a kubelet the pod would then wait for its Secret forever, so the restarted executor
    // deletes such a Job before its pod starts and the run is relaunched as a new attempt
    // (kubernetes-executor-reconcile.test.ts holds the pod Pending to show it). kwok starts the pod
    // without its Secret, so here the Job is adopted and runs once.
    const name = jobsOf(tally, hit.runId)[0]?.metadata?.name ?? "";
    const secretNow = await core
      .readNamespacedSecret({ namespace: env.namespace, name })
      .then(() => true)
      .catch(() => false);
    t.diagnostic(`Secret ${name}: at the kill ${hit.secretAtKill}, after the restart ${secretNow}`);
  },
);

test(
  "kill -9 at random moments while a dozen runs are dispatched: each runs once",
  { timeout: 180_000 },
  async (t) => {
    const env = await setUp(t, "k8s-kill-random", 3);
    const { gantry, tally } = env;
    const seed = Number(process.env.GANTRY_TEST_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (GANTRY_TEST_SEED)`);
    const random = seededRandom(seed);
    gantry.start();
    await gantry.waitUntilReady();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await submit(gantry, i));
    for (let kill = 0; kill < 4; kill++) {
      await new Promise((r) => setTimeout(r, 200 + random() * 1500));
      await gantry.kill();
      gantry.start();
      await gantry.waitUntilReady();
    }
    await waitForTerminal(gantry, ids, 120_000);
    const relaunched: string[] = [];
    for (const id of ids) {
      const events = await assertRanOnce(gantry, tally, id);
      if (events.some((e) => e.attempt > 1)) relaunched.push(id);
    }
    t.diagnostic(
      `${relaunched.length} of ${ids.length} runs were relaunched (killed before their Job existed)`,
    );
    assert.equal(tally.ended, null, "the test's Job watch ran throughout");
  },
);
