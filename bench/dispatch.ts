/**
 * Dispatch throughput: N trivial runs (`true`) through the whole of Gantry — HTTP API → store →
 * dispatcher → local sandbox executor → recorded terminal state — against a baseline loop that
 * launches the same sandboxed command through the same LocalExecutor directly, at the same
 * concurrency, in the same process run. Prints runs/second for both, their ratio, Gantry's
 * end-to-end latency (created → finished) p50/p99 with every run queued at once, and the same for
 * 50 runs submitted one at a time (no queueing). Asserts nothing.
 *
 * Usage: node --import tsx bench/dispatch.ts [runs=500] [concurrency=4] [backend=pglite|postgres]
 * (postgres needs GANTRY_TEST_DATABASE_URL, as `npm test` provides)
 */

import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_LIMITS } from "../src/core/workload.ts";
import type { AttemptUpdate, ExecutorSink } from "../src/executors/executor.ts";
import { LocalExecutor } from "../src/executors/local/index.ts";
import { startTestGantry } from "../test/helpers/test-gantry.ts";
import type { BackendName } from "../test/helpers/test-databases.ts";

const RUNS = Number(process.argv[2] ?? 500);
const CONCURRENCY = Number(process.argv[3] ?? 4);
const BACKEND = (process.argv[4] ?? "pglite") as BackendName;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The same sandboxed `true`, N times, CONCURRENCY at once, straight through the executor. */
async function baseline(): Promise<number> {
  const workRoot = await mkdtemp(join(tmpdir(), "gantry-bench-"));
  await chmod(workRoot, 0o755);
  const done = new Map<string, () => void>();
  const sink: ExecutorSink = {
    async update(u: AttemptUpdate) {
      if (u.state !== "running" && u.state !== "pending") done.get(u.runId)?.();
    },
    log() {},
  };
  const executor = new LocalExecutor({ workRoot: join(workRoot, "w"), sink, maxConcurrent: CONCURRENCY });
  await executor.start();
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < RUNS) {
      const id = `00000000-0000-4000-8000-${String(next++).padStart(12, "0")}`;
      const finished = new Promise<void>((resolve) => done.set(id, resolve));
      await executor.launch({
        runId: id,
        attempt: 1,
        owner: "bench",
        spec: { command: ["true"], env: {}, files: [], limits: { ...DEFAULT_LIMITS } },
        runToken: "gtr_bench",
        apiUrl: "http://127.0.0.1:1",
      });
      await finished;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await executor.shutdown();
  await rm(workRoot, { recursive: true, force: true });
  return RUNS / seconds;
}

async function throughGantry(): Promise<{
  rate: number;
  p50: number;
  p99: number;
  idleP50: number;
  idleP99: number;
}> {
  const t = await startTestGantry(BACKEND, {}, { GANTRY_MAX_ACTIVE_RUNS: String(CONCURRENCY) });
  try {
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, RUNS - i) }, () =>
          t.api("POST", "/v1/runs", { body: { command: ["true"] } }),
        ),
      );
      for (const res of batch) {
        if (res.status !== 201) throw new Error(`submit failed: ${res.text}`);
        ids.push((res.body as { id: string }).id);
      }
    }
    for (;;) {
      const counts = await t.gantry.store.countRunsByState();
      const finished = counts.succeeded + counts.failed + counts.timed_out + counts.cancelled;
      if (finished >= RUNS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const latencies: number[] = [];
    let failed = 0;
    for (const id of ids) {
      const run = await t.gantry.store.getRun(id);
      if (run === null || run.finishedAt === null) continue;
      if (run.state !== "succeeded") failed++;
      latencies.push(run.finishedAt.getTime() - run.createdAt.getTime());
    }
    if (failed > 0) console.warn(`warning: ${failed} runs did not succeed`);
    latencies.sort((a, b) => a - b);

    // One run at a time: what dispatch itself adds when nothing waits in the queue.
    const single: number[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await t.api("POST", "/v1/runs", { body: { command: ["true"] } });
      const id = (res.body as { id: string }).id;
      for (;;) {
        const run = await t.gantry.store.getRun(id);
        if (run?.finishedAt) {
          single.push(run.finishedAt.getTime() - run.createdAt.getTime());
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    single.sort((a, b) => a - b);
    return {
      rate: RUNS / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      idleP50: percentile(single, 50),
      idleP99: percentile(single, 99),
    };
  } finally {
    await t.stop();
  }
}

const base = await baseline();
const gantry = await throughGantry();
console.log(`dispatch benchmark: ${RUNS} runs of \`true\`, concurrency ${CONCURRENCY}, store ${BACKEND}`);
console.log(`  baseline (LocalExecutor.launch loop): ${base.toFixed(1)} runs/s`);
console.log(`  gantry (API → store → dispatcher):    ${gantry.rate.toFixed(1)} runs/s`);
console.log(`  ratio gantry/baseline:                ${(gantry.rate / base).toFixed(2)}`);
console.log(
  `  end-to-end latency created → finished: p50 ${gantry.p50} ms, p99 ${gantry.p99} ms (all ${RUNS} queued at once)`,
);
console.log(`  one run at a time, created → finished: p50 ${gantry.idleP50} ms, p99 ${gantry.idleP99} ms`);
