/**
 * The Cloudemy API (CONTRACTS.md §2) against a whole Gantry with the local sandbox and Gantry's own
 * runner: every route's shape and status words, compile-only and graded submissions run for real,
 * finalize scoped to its owner with two users, and hostile, malformed and oversized input. The
 * result callback with a real run token and the Redis mode are in cloudemy-redis.test.ts.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { testBackends } from "../helpers/test-databases.ts";

type Json = Record<string, unknown>;

const SUBMISSION_KEYS = [
  "created_at",
  "fail_tags",
  "feedback",
  "finalized",
  "language",
  "metrics",
  "score",
  "status",
  "submission_id",
  "user_id",
];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const ADD_CASES = [
  { name: "small", stdin: "2 3\n", expectedStdout: "5\n" },
  { name: "large", stdin: "40000 2000\n", expectedStdout: "42000\n" },
];
const ADD = "a, b = map(int, input().split())\nprint(a + b)\n";

for (const backend of testBackends()) {
  describe(`Cloudemy API (${backend})`, () => {
    let t: TestGantry;
    let alice: string;
    let bob: string;
    let viewer: string;

    before(async () => {
      t = await startTestGantry(backend, {}, { GANTRY_MAX_ACTIVE_RUNS: "4" });
      alice = await t.createToken("submitter", "alice");
      bob = await t.createToken("submitter", "bob");
      viewer = await t.createToken("viewer", "watcher");
    });
    after(async () => {
      await t?.stop();
    });

    async function submit(token: string, body: unknown): Promise<Json> {
      const res = await t.api("POST", "/api/submissions", { token, body });
      assert.equal(res.status, 201, res.text);
      return res.body as Json;
    }

    /** Polls GET /api/submissions/{id} until it is no longer QUEUED. */
    async function settled(token: string, id: string, timeoutMs = 60_000): Promise<Json> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await t.api("GET", `/api/submissions/${id}`, { token });
        assert.equal(res.status, 200, res.text);
        const body = res.body as Json;
        if (body.status !== "QUEUED") return body;
        if (Date.now() > deadline) throw new Error(`submission ${id} still QUEUED`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    test("POST /api/submissions answers 201 {submission_id, status QUEUED, attempt 1, created_at} and queues a real submission run", async () => {
      const res = await t.api("POST", "/api/submissions", {
        token: alice,
        body: { language: "python", code: "print('hi')\n" },
      });
      assert.equal(res.status, 201, res.text);
      const body = res.body as Json;
      assert.deepEqual(Object.keys(body).sort(), ["attempt", "created_at", "status", "submission_id"]);
      assert.equal(body.status, "QUEUED");
      assert.equal(body.attempt, 1);
      assert.match(String(body.created_at), ISO);
      const id = String(body.submission_id);
      const run = (await t.api("GET", `/v1/runs/${id}`)).body as Json;
      assert.equal(run.kind, "submission");
      assert.equal(run.owner, "alice");
      const spec = run.spec as {
        submission: { language: string; files: { path: string; content: string }[] };
      };
      assert.equal(spec.submission.language, "python");
      assert.deepEqual(spec.submission.files, [{ path: "main.py", content: "print('hi')\n" }]);
      await settled(alice, id);
    });

    test("bare code is compile-only: COMPLETED 100 when it compiles, COMPLETED 0 with compile_error and the compiler's words when not", async () => {
      const good = await submit(alice, { code: "print('hello')\n" }); // language defaults to python
      const bad = await submit(alice, { language: "py", code: "def f(:\n  pass\n" });
      const c = await submit(alice, { language: "c", code: "int main(void){return 0;}\n" });
      const cBad = await submit(alice, { language: "c", code: "int main(void){return 0\n" });

      const ok = await settled(alice, String(good.submission_id));
      assert.deepEqual(Object.keys(ok).sort(), SUBMISSION_KEYS);
      assert.equal(ok.status, "COMPLETED");
      assert.equal(ok.score, 100);
      assert.equal(ok.user_id, "alice");
      assert.equal(ok.language, "python");
      assert.equal(ok.finalized, false);
      assert.deepEqual(ok.fail_tags, []);
      assert.deepEqual(ok.feedback, []);
      const metrics = ok.metrics as Json;
      assert.deepEqual(Object.keys(metrics).sort(), ["memoryMB", "timeMs"]);
      assert.equal(typeof metrics.timeMs, "number");

      const ko = await settled(alice, String(bad.submission_id));
      assert.equal(ko.status, "COMPLETED");
      assert.equal(ko.score, 0);
      assert.deepEqual(ko.fail_tags, ["compile_error"]);
      const feedback = ko.feedback as { case: string; message: string }[];
      assert.equal(feedback[0]?.case, "compile");
      assert.match(feedback[0]?.message ?? "", /SyntaxError|invalid syntax/);

      assert.equal((await settled(alice, String(c.submission_id))).score, 100);
      const cKo = await settled(alice, String(cBad.submission_id));
      assert.deepEqual([cKo.score, cKo.fail_tags], [0, ["compile_error"]]);
      assert.match((cKo.feedback as { message: string }[])[0]?.message ?? "", /error/);
    });

    test("with Gantry's cases extension it is graded by running them: score, feedback and metrics", async () => {
      const right = await submit(alice, { language: "python", code: ADD, cases: ADD_CASES });
      const wrong = await submit(alice, {
        language: "python",
        code: "a, b = map(int, input().split())\nprint(a - b)\n",
        cases: ADD_CASES,
        compare: { mode: "tokens" },
      });
      const r = await settled(alice, String(right.submission_id));
      assert.deepEqual([r.status, r.score, r.fail_tags], ["COMPLETED", 100, []]);
      assert.ok(((r.metrics as Json).memoryMB as number) > 0, JSON.stringify(r.metrics));
      const w = await settled(alice, String(wrong.submission_id));
      assert.deepEqual([w.status, w.score, w.fail_tags], ["COMPLETED", 0, ["wrong_answer"]]);
      const fb = w.feedback as { case: string; message: string }[];
      assert.deepEqual(
        fb.map((f) => f.case),
        ["small", "large"],
      );
      assert.match(fb[0]?.message ?? "", /wrong_answer/);
    });

    test("bad submissions get clear 400s: unknown language, empty code, oversized source, too many cases, bad shapes", async () => {
      const cases: [unknown, RegExp][] = [
        [
          { language: "cobol", code: "x" },
          /unknown language 'cobol'; known: c, cpp, java, javascript, python/,
        ],
        [{ language: "", code: "print(1)" }, /language/],
        [{ language: "python", code: "" }, /the submitted code is empty/],
        [{ language: "python", code: " \n\t\n" }, /the submitted code is empty/],
        [
          { language: "python", code: "#".repeat(600 * 1024) },
          /source files total 614400 bytes; the limit is 524288/,
        ],
        [
          {
            language: "python",
            code: ADD,
            cases: Array.from({ length: 201 }, () => ({ expectedStdout: "" })),
          },
          /at most 200 test cases are allowed, got 201/,
        ],
        [{ language: "python" }, /code/],
        [{ language: "python", code: 42 }, /code must be string/],
        [{ language: ["python"], code: "x" }, /language must be string/],
        [{ language: "python", code: "print(1)\0" }, /NUL/],
        [{ language: "python", code: ADD, cases: [{ stdin: "1" }] }, /expectedStdout/],
        [{ language: "python", code: ADD, compare: { mode: "exact" } }, /compare needs cases/],
        [
          { language: "python", code: ADD, cases: ADD_CASES, compare: { mode: "fuzzy" } },
          /compare.mode 'fuzzy'/,
        ],
        ["just a string", /body must be object/],
        [[{ language: "python", code: "x" }], /body must be object/],
        [{ language: "x".repeat(41), code: "x" }, /language must NOT have more than 40 characters/],
      ];
      for (const [body, message] of cases) {
        const res = await t.api("POST", "/api/submissions", { token: alice, body });
        assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${res.text.slice(0, 300)}`);
        const answer = res.body as { detail: string; error: { code: string; message: string } };
        assert.match(answer.detail, message, JSON.stringify(body).slice(0, 80));
        assert.equal(answer.error.code, "GANTRY_ERR_VALIDATION");
        assert.equal(answer.error.message, answer.detail);
      }
      const broken = await t.api("POST", "/api/submissions", {
        token: alice,
        raw: '{"language": "python", "co',
      });
      assert.equal(broken.status, 400);
      assert.equal((broken.body as { error: { code: string } }).error.code, "GANTRY_ERR_BAD_JSON");
      assert.equal(
        (await t.api("POST", "/api/submissions", { token: null, body: { code: "x" } })).status,
        401,
      );
      assert.equal(
        (await t.api("POST", "/api/submissions", { token: "gty_nope", body: { code: "x" } })).status,
        401,
      );
      assert.equal(
        (await t.api("POST", "/api/submissions", { token: viewer, body: { code: "x" } })).status,
        403,
      );
      // Unknown top-level fields are ignored, as the original's models do; the owner is the token's.
      const extra = await submit(bob, {
        language: "python",
        code: "print(2)\n",
        user_id: "mallory",
        assignment: 7,
      });
      const run = (await t.api("GET", `/v1/runs/${String(extra.submission_id)}`)).body as Json;
      assert.equal(run.owner, "bob");
      await settled(bob, String(extra.submission_id));
    });

    test("GET /api/submissions/{id}: 404 'submission not found' for bad, unknown, other users' and non-submission ids", async () => {
      const mine = await submit(alice, { code: "print(3)\n" });
      const job = await t.api("POST", "/v1/runs", { token: alice, body: { command: ["true"] } });
      assert.equal(job.status, 201);
      const ids = [
        "not-an-id",
        randomUUID(),
        String((job.body as Json).id),
        "%00",
        "' OR 1=1 --",
        "..%2F..%2Fv1%2Fruns",
      ];
      for (const id of ids) {
        const res = await t.api("GET", `/api/submissions/${encodeURIComponent(id)}`, { token: alice });
        assert.equal(res.status, 404, `${id}: ${res.text}`);
        assert.equal((res.body as Json).detail, "submission not found");
      }
      const other = await t.api("GET", `/api/submissions/${String(mine.submission_id)}`, { token: bob });
      assert.equal(other.status, 404, "bob does not see alice's submission");
      assert.equal(
        (await t.api("GET", `/api/submissions/${String(mine.submission_id)}`, { token: viewer })).status,
        200,
      );
      assert.equal(
        (await t.api("GET", `/api/submissions/${String(mine.submission_id)}`)).status,
        200,
        "admin",
      );
      const long = await t.api("GET", `/api/submissions/${"a".repeat(300)}`, { token: alice });
      assert.ok(long.status >= 400 && long.status < 500, long.text);
      assert.equal(
        (await t.api("GET", `/api/submissions/${String(mine.submission_id)}`, { token: null })).status,
        401,
      );
      await settled(alice, String(mine.submission_id));
    });

    test("GET /api/submissions: newest first, page and size, total, status and id filters, owner scope", async () => {
      const carol = await t.createToken("submitter", "carol");
      const made: string[] = [];
      for (let i = 0; i < 5; i++)
        made.push(String((await submit(carol, { code: `print(${i})\n` })).submission_id));
      const failing = String((await submit(carol, { code: "def (:\n" })).submission_id);
      made.push(failing);
      for (const id of made) await settled(carol, id);

      const first = await t.api("GET", "/api/submissions?page=1&size=4", { token: carol });
      assert.equal(first.status, 200, first.text);
      const page1 = first.body as { items: Json[]; total: number; page: number; size: number };
      assert.deepEqual(Object.keys(page1).sort(), ["items", "page", "size", "total"]);
      assert.deepEqual([page1.total, page1.page, page1.size], [6, 1, 4]);
      assert.deepEqual(Object.keys(page1.items[0] ?? {}).sort(), [
        "created_at",
        "language",
        "score",
        "status",
        "submission_id",
      ]);
      const page2 = (await t.api("GET", "/api/submissions?page=2&size=4", { token: carol }))
        .body as typeof page1;
      assert.deepEqual(
        [...page1.items, ...page2.items].map((i) => i.submission_id),
        [...made].reverse(),
        "newest first across pages",
      );
      const beyond = (await t.api("GET", "/api/submissions?page=9&size=4", { token: carol }))
        .body as typeof page1;
      assert.deepEqual([beyond.items.length, beyond.total], [0, 6]);
      const defaults = (await t.api("GET", "/api/submissions", { token: carol })).body as typeof page1;
      assert.deepEqual([defaults.page, defaults.size, defaults.items.length], [1, 10, 6]);
      // The contract's own example sends the filters empty.
      const empty = await t.api("GET", "/api/submissions?submission_id=&status=&page=1&size=10", {
        token: carol,
      });
      assert.equal((empty.body as typeof page1).total, 6);

      const byId = (await t.api("GET", `/api/submissions?submission_id=${failing}`, { token: carol }))
        .body as typeof page1;
      assert.deepEqual(
        byId.items.map((i) => [i.submission_id, i.status, i.score, i.language]),
        [[failing, "COMPLETED", 0, "python"]],
      );
      const completed = (await t.api("GET", "/api/submissions?status=COMPLETED&size=100", { token: carol }))
        .body as typeof page1;
      assert.equal(completed.total, 6);
      const lower = (await t.api("GET", "/api/submissions?status=completed", { token: carol }))
        .body as typeof page1;
      assert.equal(lower.total, 6, "status words are matched case-insensitively");
      for (const status of ["QUEUED", "FAILED", "TIMEOUT", "FINALIZED"]) {
        const none = (await t.api("GET", `/api/submissions?status=${status}`, { token: carol }))
          .body as typeof page1;
        assert.deepEqual([none.total, none.items.length], [0, 0], status);
      }
      for (const junk of ["nope", "%00", "x".repeat(41)]) {
        const res = await t.api("GET", `/api/submissions?submission_id=${junk}`, { token: carol });
        assert.equal(res.status, 200, res.text);
        assert.equal((res.body as typeof page1).total, 0);
      }
      const others = (await t.api("GET", "/api/submissions?size=100", { token: bob })).body as typeof page1;
      assert.ok(
        others.items.every((i) => !made.includes(String(i.submission_id))),
        "scoped to the caller",
      );
      const all = (await t.api("GET", "/api/submissions?size=100", { token: viewer })).body as typeof page1;
      assert.ok(
        made.every((id) => all.items.some((i) => i.submission_id === id)),
        "viewers see everyone's",
      );

      for (const q of [
        "size=0",
        "size=101",
        "size=-1",
        "size=abc",
        "size=1e2",
        "size=10.5",
        "page=0",
        "page=-3",
        "page=99999999999",
        "status=RUNNING",
        "status=%27%20OR%201%3D1",
        "unknown=1",
      ]) {
        const res = await t.api("GET", `/api/submissions?${q}`, { token: carol });
        assert.equal(res.status, 400, `${q}: ${res.text}`);
        assert.ok(typeof (res.body as Json).detail === "string");
      }
      assert.equal((await t.api("GET", "/api/submissions?size=100", { token: carol })).status, 200);
      assert.equal((await t.api("GET", "/api/submissions?size=1", { token: carol })).status, 200);
    });

    test("finalize: only your own, only once it has ended, idempotent, 409 for a second one; shown as FINALIZED", async () => {
      const dave = await t.createToken("submitter", "dave");
      const erin = await t.createToken("submitter", "erin");
      const d1 = String((await submit(dave, { code: "print(1)\n" })).submission_id);
      const d2 = String((await submit(dave, { code: "print(2)\n" })).submission_id);
      const e1 = String((await submit(erin, { code: "print(3)\n" })).submission_id);
      // A submission that takes seconds: its first case loops until its CPU limit.
      const slow = String(
        (
          await submit(dave, {
            code: "while True:\n    pass\n",
            cases: [{ expectedStdout: "", timeLimitMs: 3000 }],
          })
        ).submission_id,
      );
      const early = await t.api("POST", `/api/submissions/${slow}/finalize`, { token: dave, body: {} });
      assert.equal(early.status, 409, early.text);
      assert.equal((early.body as { error: { code: string } }).error.code, "GANTRY_ERR_NOT_FINISHED");
      for (const id of [d1, d2]) await settled(dave, id);
      await settled(erin, e1);

      for (const [token, id, who] of [
        [erin, d1, "another submitter"],
        [t.adminToken, d1, "an admin"],
      ] as const) {
        const res = await t.api("POST", `/api/submissions/${id}/finalize`, { token, body: {} });
        assert.equal(res.status, 404, `${who}: ${res.text}`);
        assert.equal((res.body as Json).detail, "submission not found");
      }
      assert.equal(
        (await t.api("POST", `/api/submissions/${d1}/finalize`, { token: viewer, body: {} })).status,
        403,
      );
      assert.equal(
        (await t.api("POST", `/api/submissions/${d1}/finalize`, { token: null, body: {} })).status,
        401,
      );

      const done = await t.api("POST", `/api/submissions/${d1}/finalize`, {
        token: dave,
        body: { note: "final" },
      });
      assert.equal(done.status, 200, done.text);
      assert.deepEqual(done.body, { submission_id: d1, status: "FINALIZED", finalized: true });
      const again = await t.api("POST", `/api/submissions/${d1}/finalize`, { token: dave });
      assert.equal(again.status, 200, "idempotent, also without a body");
      assert.deepEqual(again.body, done.body);
      const second = await t.api("POST", `/api/submissions/${d2}/finalize`, { token: dave, body: {} });
      assert.equal(second.status, 409, second.text);
      assert.equal((second.body as { error: { code: string } }).error.code, "GANTRY_ERR_ALREADY_FINALIZED");
      assert.match(String((second.body as Json).detail), new RegExp(d1));
      const erinsOwn = await t.api("POST", `/api/submissions/${e1}/finalize`, {
        token: erin,
        body: { note: null },
      });
      assert.equal(erinsOwn.status, 200, "erin's own finalization is unaffected by dave's");

      const shown = (await t.api("GET", `/api/submissions/${d1}`, { token: dave })).body as Json;
      assert.deepEqual([shown.status, shown.finalized, shown.score], ["FINALIZED", true, 100]);
      assert.equal(
        ((await t.api("GET", `/api/submissions/${d2}`, { token: dave })).body as Json).finalized,
        false,
      );
      const listed = (await t.api("GET", "/api/submissions?status=FINALIZED", { token: dave })).body as {
        items: Json[];
        total: number;
      };
      assert.deepEqual(
        listed.items.map((i) => i.submission_id),
        [d1],
      );

      for (const [id, body] of [
        ["not-an-id", {}],
        [randomUUID(), {}],
        [d2, { note: 5 }],
        [d2, { note: "x".repeat(5000) }],
        [d2, "note"],
      ] as const) {
        const res = await t.api("POST", `/api/submissions/${id}/finalize`, { token: dave, body });
        assert.ok([400, 404].includes(res.status), `${id} ${JSON.stringify(body)}: ${res.text}`);
      }
      await settled(dave, slow);
    });

    test("the result callback refuses missing, malformed and foreign tokens, and unknown ids, before reading the body", async () => {
      const id = String((await submit(alice, { code: "print(9)\n" })).submission_id);
      const path = `/api/internal/submissions/${id}/result`;
      const body = { status: "COMPLETED", score: 100 };
      const missing = await t.api("POST", path, { token: null, body });
      assert.equal(missing.status, 401, missing.text);
      assert.equal((missing.body as { error: { code: string } }).error.code, "GANTRY_ERR_RUN_TOKEN_INVALID");
      for (const token of ["nope", "gtr_", alice, `gtr_${"x".repeat(43)}`]) {
        const res = await t.api("POST", path, { token: null, body, headers: { "x-result-token": token } });
        assert.equal(res.status, 401, `${token}: ${res.text}`);
      }
      const forged = `gtr_${"A".repeat(43)}`;
      for (const unknown of [randomUUID(), "not-an-id"]) {
        const res = await t.api("POST", `/api/internal/submissions/${unknown}/result`, {
          token: null,
          body,
          headers: { "x-result-token": forged },
        });
        assert.equal(res.status, 404, res.text);
        assert.equal((res.body as Json).detail, "submission not found");
      }
      await settled(alice, id);
    });
  });
}

describe("Cloudemy bare code with an LLM configured (pglite)", () => {
  // A local chat-completions endpoint in place of the LLM (none is reachable here).
  const prompts: { auth: string | undefined; prompt: string }[] = [];
  let llm: Server;
  let t: TestGantry;
  let alice: string;

  before(async () => {
    llm = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          messages: { content: string }[];
        };
        prompts.push({
          auth: req.headers.authorization,
          prompt: body.messages.map((m) => m.content).join("\n"),
        });
        res.writeHead(200, { "content-type": "application/json" });
        const review = {
          status: "COMPLETED",
          score: 64,
          fail_tags: ["naming"],
          feedback: [{ case: "style", message: "name x better" }],
        };
        res.end(
          JSON.stringify({ choices: [{ message: { role: "assistant", content: JSON.stringify(review) } }] }),
        );
      });
    });
    await new Promise<void>((r) => llm.listen(0, "127.0.0.1", r));
    const port = (llm.address() as AddressInfo).port;
    t = await startTestGantry(
      "pglite",
      {},
      { LLM_BASE_URL: `http://127.0.0.1:${port}/v1`, LLM_API_KEY: "sk-cloudemy-test" },
    );
    alice = await t.createToken("submitter", "alice");
  });
  after(async () => {
    await t?.stop();
    llm?.closeAllConnections();
    await new Promise<void>((r) => llm?.close(() => r()));
  });

  async function settled(id: string): Promise<Json> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const body = (await t.api("GET", `/api/submissions/${id}`, { token: alice })).body as Json;
      if (body.status !== "QUEUED") return body;
      if (Date.now() > deadline) throw new Error(`submission ${id} still QUEUED`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test("bare code is compiled and reviewed by the LLM: its tags and feedback are added, the compile decides the score", async () => {
    const res = await t.api("POST", "/api/submissions", {
      token: alice,
      body: { code: "x = 1  # REVIEW-MARKER\nprint(x)\n" },
    });
    assert.equal(res.status, 201, res.text);
    const shown = await settled(String((res.body as Json).submission_id));
    assert.deepEqual([shown.status, shown.score], ["COMPLETED", 100]);
    assert.deepEqual(shown.fail_tags, ["llm_naming"]);
    assert.deepEqual(shown.feedback, [{ case: "llm:style", message: "name x better" }]);
    const asked = prompts.filter((p) => p.prompt.includes("REVIEW-MARKER"));
    assert.equal(asked.length, 1);
    assert.equal(asked[0]?.auth, "Bearer sk-cloudemy-test");

    // With cases Gantry's grade is the answer; no review is asked for.
    const graded = await t.api("POST", "/api/submissions", {
      token: alice,
      body: { code: "print(2)  # CASES-MARKER\n", cases: [{ expectedStdout: "2\n" }] },
    });
    const g = await settled(String((graded.body as Json).submission_id));
    assert.deepEqual([g.status, g.score, g.fail_tags], ["COMPLETED", 100, []]);
    assert.equal(prompts.filter((p) => p.prompt.includes("CASES-MARKER")).length, 0);
  });
});
