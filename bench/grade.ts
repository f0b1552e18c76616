/**
 * Grading throughput: N submissions of a trivial Python program (sum of two numbers) with C cases
 * each, end to end — HTTP API → store → dispatcher → local sandbox → `gantry runner` (payload,
 * compile check, every case under limits and measured, comparison) → result recorded — against a
 * baseline that runs the same program on the same cases inside the same sandbox through the same
 * LocalExecutor directly (a shell loop: `python3 main.py < N.in | cmp - N.out`), at the same
 * concurrency, in the same process run. Both are measured with 1 case and with C cases, so the
 * per-case cost (the slope) and the fixed cost per submission (the rest) come apart. Asserts nothing.
 *
 * Usage: node --import tsx bench/grade.ts [submissions=40] [cases=10] [concurrency=4]
 */

import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_LIMITS, type InputFile } from "../src/core/workload.ts";
import type { AttemptUpdate, ExecutorSink } from "../src/executors/executor.ts";
import { LocalExecutor } from "../src/executors/local/index.ts";
import { startTestGantry } from "../test/helpers/test-gantry.ts";

const SUBMISSIONS = Number(process.argv[2] ?? 40);
const CASES = Number(process.argv[3] ?? 10);
const CONCURRENCY = Number(process.argv[4] ?? 4);
const PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n";

function cases(n: number): { name: string; stdin: string; expectedStdout: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    name: String(i + 1),
    stdin: `${i} ${i * 7}\n`,
    expectedStdout: `${i * 8}\n`,
  }));
}

/** Seconds per submission (wall time / N) for the sandboxed shell loop, CONCURRENCY at once. */
async function baseline(caseCount: number): Promise<number> {
  const workRoot = await mkdtemp(join(tmpdir(), "gantry-bench-"));
  await chmod(workRoot, 0o755);
  const done = new Map<string, (state: string) => void>();
  const sink: ExecutorSink = {
    async update(u: AttemptUpdate) {
      if (u.state !== "running" && u.state !== "pending") done.get(u.runId)?.(`${u.state} ${u.reason}`);
    },
    log() {},
  };
  const executor = new LocalExecutor({ workRoot: join(workRoot, "w"), sink, maxConcurrent: CONCURRENCY });
  await executor.start();
  const files: InputFile[] = [{ path: "main.py", content: PROGRAM }];
  for (const c of cases(caseCount)) {
    files.push(
      { path: `${c.name}.in`, content: c.stdin },
      { path: `${c.name}.out`, content: c.expectedStdout },
    );
  }
  const script = `for i in $(seq 1 ${caseCount}); do /usr/bin/python3 -S main.py < $i.in | cmp -s - $i.out || exit 1; done`;
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < SUBMISSIONS) {
      const id = `00000000-0000-4000-8000-${String(next++).padStart(12, "0")}`;
      const finished = new Promise<string>((resolve) => done.set(id, resolve));
      await executor.launch({
        runId: id,
        attempt: 1,
        owner: "bench",
        spec: { command: ["sh", "-c", script], env: {}, files, limits: { ...DEFAULT_LIMITS } },
        runToken: "gtr_bench",
        apiUrl: "http://127.0.0.1:1",
      });
      if (!(await finished).startsWith("succeeded")) failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await executor.shutdown();
  await rm(workRoot, { recursive: true, force: true });
  if (failures > 0) console.warn(`warning: ${failures} baseline runs failed`);
  return seconds / SUBMISSIONS;
}

/** Seconds per submission through the whole of Gantry, all queued at once. */
async function throughGantry(caseCount: number): Promise<number> {
  const t = await startTestGantry("pglite", {}, { GANTRY_MAX_ACTIVE_RUNS: String(CONCURRENCY) });
  try {
    const body = {
      kind: "submission",
      language: "python",
      files: [{ path: "main.py", content: PROGRAM }],
      cases: cases(caseCount).map((c) => ({ ...c, timeLimitMs: 2000, memoryMB: 64 })),
    };
    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from({ length: SUBMISSIONS }, async () => {
        const res = await t.api("POST", "/v1/runs", { body });
        if (res.status !== 201) throw new Error(`submit failed: ${res.text}`);
        return (res.body as { id: string }).id;
      }),
    );
    for (;;) {
      const counts = await t.gantry.store.countRunsByState();
      if (counts.succeeded + counts.failed + counts.timed_out + counts.cancelled >= SUBMISSIONS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    let notAccepted = 0;
    for (const id of ids) if ((await t.gantry.store.getResult(id))?.status !== "accepted") notAccepted++;
    if (notAccepted > 0) console.warn(`warning: ${notAccepted} submissions were not accepted`);
    return seconds / SUBMISSIONS;
  } finally {
    await t.stop();
  }
}

const base1 = await baseline(1);
const baseN = await baseline(CASES);
const gantry1 = await throughGantry(1);
const gantryN = await throughGantry(CASES);
const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
const perCase = (one: number, many: number) => (many - one) / (CASES - 1);
console.log(
  `grading benchmark: ${SUBMISSIONS} submissions of a trivial Python program, concurrency ${CONCURRENCY}`,
);
console.log(
  `  baseline (same sandbox, shell loop over the cases): ${(1 / baseN).toFixed(2)} submissions/s with ${CASES} cases`,
);
console.log(
  `  gantry (API → dispatcher → sandbox → runner → result): ${(1 / gantryN).toFixed(2)} submissions/s with ${CASES} cases`,
);
console.log(`  ratio gantry/baseline: ${(baseN / gantryN).toFixed(2)}`);
console.log(
  `  per case (slope, wall per submission ÷ concurrency): baseline ${ms(perCase(base1, baseN))}, gantry ${ms(perCase(gantry1, gantryN))}`,
);
console.log(`  per-case overhead of the runner: ${ms(perCase(gantry1, gantryN) - perCase(base1, baseN))}`);
console.log(`  fixed cost per submission (1 case): baseline ${ms(base1)}, gantry ${ms(gantry1)}`);
