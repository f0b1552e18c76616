/**
 * Cost of the Cloudemy adapter against Gantry's own API, in the same process run, on a store holding
 * N submissions of one user (a third still queued, the rest graded with a result; none dispatched:
 * the API role only). Each pair is the Cloudemy route and its /v1 counterpart, measured alternately,
 * sequentially over HTTP:
 *
 *   submit     POST /api/submissions {language, code}       vs POST /v1/runs {kind: submission, …}
 *   get        GET /api/submissions/{id}                     vs GET /v1/runs/{id}
 *   list       GET /api/submissions?page=1&size=10           vs GET /v1/runs?limit=10
 *   list deep  GET /api/submissions?page=<middle>&size=10    vs the same /v1 page by its cursor
 *   filtered   GET /api/submissions?status=COMPLETED&size=10 vs GET /v1/runs?state=succeeded&limit=10
 *
 * The list routes differ in kind: Cloudemy's answers `total` and pages by offset, so it counts every
 * matching submission and derives each one's status; /v1 pages by keyset and counts nothing. Prints
 * ms per request and the ratio Cloudemy / v1. Asserts nothing.
 *
 * Usage: node --import tsx bench/cloudemy.ts [submissions=2000] [requests=100] [backend=pglite|postgres]
 */

import { startTestGantry } from "../test/helpers/test-gantry.ts";
import type { BackendName } from "../test/helpers/test-databases.ts";

const N = Number(process.argv[2] ?? 2000);
const REQUESTS = Number(process.argv[3] ?? 100);
const BACKEND = (process.argv[4] ?? "pglite") as BackendName;
const CODE = "a, b = map(int, input().split())\nprint(a + b)\n";
const CASES = [{ name: "1", stdin: "1 2\n", expectedStdout: "3\n" }];

const t = await startTestGantry(BACKEND, { roles: { api: true, dispatcher: false } });
try {
  const token = await t.createToken("submitter", "bench");
  const store = t.gantry.store;

  const seedStart = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const res = await t.api("POST", "/api/submissions", {
      token,
      body: { language: "python", code: CODE, cases: CASES },
    });
    const id = String((res.body as { submission_id: string }).submission_id);
    ids.push(id);
    if (i % 3 === 0) continue; // stays queued
    for (const to of ["dispatching", "running"] as const)
      await store.transitionRun({ runId: id, attempt: 1, to, reason: "bench" });
    await store.recordResult(id, 1, {
      status: i % 5 === 0 ? "wrong_answer" : "accepted",
      score: i % 5 === 0 ? 0 : 100,
      failTags: [],
      feedback: [],
      metrics: { timeMs: 1, memoryMB: 1 },
      artifacts: {},
    });
    await store.transitionRun({ runId: id, attempt: 1, to: "succeeded", reason: "bench" });
  }
  const seedSeconds = (performance.now() - seedStart) / 1000;

  // The /v1 cursor of the middle page, as a client paging through would hold it.
  const middlePage = Math.max(1, Math.floor(N / 20));
  let cursor: string | null = null;
  for (let p = 1; p < middlePage; p++) {
    const q: string = cursor === null ? "" : `&cursor=${cursor}`;
    const page = (await t.api("GET", `/v1/runs?limit=10${q}`, { token })).body as {
      nextCursor: string | null;
    };
    cursor = page.nextCursor;
  }

  async function time(method: string, path: () => string, body?: () => unknown): Promise<number> {
    const start = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const b = body?.();
      const res = await t.api(method, path(), { token, ...(b === undefined ? {} : { body: b }) });
      if (res.status >= 300) throw new Error(`${method} ${path()}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    return (performance.now() - start) / REQUESTS;
  }

  let k = 0;
  const someId = () => ids[(k++ * 7919) % ids.length] as string;
  const pairs: [string, () => Promise<number>, () => Promise<number>][] = [
    [
      "submit",
      () =>
        time(
          "POST",
          () => "/api/submissions",
          () => ({ language: "python", code: CODE, cases: CASES }),
        ),
      () =>
        time(
          "POST",
          () => "/v1/runs",
          () => ({
            kind: "submission",
            language: "python",
            files: [{ path: "main.py", content: CODE }],
            cases: CASES,
          }),
        ),
    ],
    [
      "get",
      () => time("GET", () => `/api/submissions/${someId()}`),
      () => time("GET", () => `/v1/runs/${someId()}`),
    ],
    [
      "list",
      () => time("GET", () => "/api/submissions?page=1&size=10"),
      () => time("GET", () => "/v1/runs?limit=10"),
    ],
    [
      "list deep",
      () => time("GET", () => `/api/submissions?page=${middlePage}&size=10`),
      () => time("GET", () => `/v1/runs?limit=10${cursor === null ? "" : `&cursor=${cursor}`}`),
    ],
    [
      "filtered",
      () => time("GET", () => "/api/submissions?status=COMPLETED&size=10"),
      () => time("GET", () => "/v1/runs?state=succeeded&limit=10"),
    ],
  ];

  console.log(
    `${BACKEND}: ${N} submissions seeded in ${seedSeconds.toFixed(1)} s; ${REQUESTS} sequential requests per measurement`,
  );
  console.log("route        cloudemy ms   v1 ms   ratio");
  for (const [name, cloudemy, v1] of pairs) {
    // Alternate, twice each, and keep the better of two: warm-up and noise hit both sides alike.
    const a1 = await cloudemy();
    const b1 = await v1();
    const a2 = await cloudemy();
    const b2 = await v1();
    const a = Math.min(a1, a2);
    const b = Math.min(b1, b2);
    console.log(
      `${name.padEnd(12)} ${a.toFixed(2).padStart(11)} ${b.toFixed(2).padStart(7)} ${(a / b).toFixed(2).padStart(7)}`,
    );
  }
} finally {
  await t.stop();
}
