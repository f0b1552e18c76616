/**
 * LLM review, done by Gantry's server: real grading in the local sandbox through Gantry's API, and
 * a local HTTP server on 127.0.0.1 speaking chat-completions in place of the LLM (none is
 * reachable here). The runner asks `POST /v1/internal/runs/{id}/llm-review`; the server builds the
 * prompt from the stored workload and calls the model with its own key, which never enters a
 * sandbox. The route's hostile input is tried on a Gantry without a dispatcher (runs stay queued
 * and their tokens are the test's).
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readdir, readFile } from "node:fs/promises";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { hashToken } from "../../src/server/tokens.ts";
import { internalApi } from "../../src/runner/internal-api.ts";
import { reviewThroughGantry } from "../../src/runner/llm-review.ts";
import type { RunResult } from "../../src/core/workload.ts";

const KEY = "sk-gantry-test-7f3a9c1e5b2d4086";
const MODEL = "fake-review-model";

interface Seen {
  auth: string | undefined;
  model: string;
  prompt: string;
}

/** The fake LLM: answers by the marker found in the prompt (the submission's source says it). */
class FakeLlm {
  server: Server | null = null;
  seen: Seen[] = [];
  url = "";
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          model: string;
          messages: { content: string }[];
        };
        const prompt = body.messages.map((m) => m.content).join("\n");
        this.seen.push({ auth: req.headers.authorization, model: body.model, prompt });
        const send = (status: number, content: string) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content } }] }));
        };
        if (prompt.includes("MARK-BADJSON")) return send(200, "Looks fine to me!");
        if (prompt.includes("MARK-HTTP500")) return send(500, "");
        if (prompt.includes("MARK-SLOW")) {
          const timer = setTimeout(() => send(200, "{}"), 5000);
          res.on("close", () => clearTimeout(timer));
          return;
        }
        // Praise and full marks: the execution verdicts must still decide.
        send(
          200,
          'Here is my review:\n```json\n{"status":"COMPLETED","score":97,"fail_tags":["naming"],"feedback":[{"case":"style","message":"name things better"}]}\n```',
        );
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }
  saw(marker: string): Seen[] {
    return this.seen.filter((s) => s.prompt.includes(marker));
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

interface Result {
  status: string;
  score: number;
  failTags: string[];
  feedback: { case: string; message: string }[];
  metrics: Record<string, number>;
  artifacts: Record<string, unknown>;
}

const ADD_CASES = [
  { name: "small", stdin: "2 3\n", expectedStdout: "5\n", timeLimitMs: 2000, memoryMB: 64 },
  { name: "large", stdin: "40000 2000\n", expectedStdout: "42000\n", timeLimitMs: 2000, memoryMB: 64 },
];
/** Right on "small", wrong on "large": wrong_answer, 50. */
const HALF_RIGHT = (marker: string) =>
  `# ${marker}\na, b = map(int, input().split())\nprint(5 if a == 2 else a - b)\n`;

function llmEnv(llm: FakeLlm, extra: Record<string, string> = {}): Record<string, string> {
  return {
    LLM_BASE_URL: llm.url,
    LLM_API_KEY: KEY,
    LLM_MODEL: MODEL,
    LLM_TIMEOUT_MS: "1500",
    ...extra,
  };
}

async function grade(
  t: TestGantry,
  body: Record<string, unknown>,
): Promise<{ state: string; result: Result }> {
  const res = await t.api("POST", "/v1/runs", { body: { kind: "submission", ...body } });
  assert.equal(res.status, 201, res.text);
  const run = await t.waitForRun((res.body as { id: string }).id, 120_000);
  return run as unknown as { state: string; result: Result };
}

describe("LLM review end to end (local sandbox, GANTRY_LLM_REVIEW=request)", () => {
  const llm = new FakeLlm();
  let t: TestGantry;
  const savedKey = process.env.LLM_API_KEY;
  before(async () => {
    await llm.start();
    // In Gantry's own environment too: nothing it starts may inherit it.
    process.env.LLM_API_KEY = KEY;
    t = await startTestGantry("pglite", {}, llmEnv(llm, { GANTRY_MAX_ACTIVE_RUNS: "4" }));
  });
  after(async () => {
    await t.stop();
    await llm.stop();
    if (savedKey === undefined) delete process.env.LLM_API_KEY;
    else process.env.LLM_API_KEY = savedKey;
  });

  test("a submission asking for a review is graded by running it and reviewed; the verdicts decide", async () => {
    const done = await grade(t, {
      language: "python",
      files: [{ path: "main.py", content: HALF_RIGHT("MARK-GOOD") }],
      // "large" hidden: its expected output must not reach the model either.
      cases: [ADD_CASES[0], { ...ADD_CASES[1], hidden: true }],
      llmReview: { instructions: "Add two integers read from stdin." },
    });
    assert.equal(done.state, "succeeded", JSON.stringify(done));
    const r = done.result;
    assert.equal(r.status, "wrong_answer");
    assert.equal(r.score, 50);
    assert.deepEqual(r.failTags, ["llm_naming", "wrong_answer"]);
    assert.equal(r.metrics.llmScore, 97);
    assert.deepEqual(r.feedback.at(-1), { case: "llm:style", message: "name things better" });
    assert.deepEqual(r.artifacts.llmReview, { status: "COMPLETED", score: 97 });
    const asked = llm.saw("MARK-GOOD");
    assert.equal(asked.length, 1, "one review for the attempt");
    const seen = asked[0] as Seen;
    assert.equal(seen.auth, `Bearer ${KEY}`);
    assert.equal(seen.model, MODEL);
    assert.match(seen.prompt, /Add two integers read from stdin\./);
    assert.match(seen.prompt, /print\(5 if a == 2 else a - b\)/, "the stored sources");
    assert.match(seen.prompt, /status wrong_answer, score 50/, "the runner's verdicts");
    assert.match(seen.prompt, /large: wrong_answer/);
    assert.doesNotMatch(seen.prompt, /42000/, "a hidden case's expected output is not sent");
  });

  test("bad JSON, HTTP 500 and a timeout add llm_error; the grade stands", async () => {
    const runs = await Promise.all(
      ["MARK-BADJSON", "MARK-HTTP500", "MARK-SLOW"].map((marker) =>
        grade(t, {
          language: "python",
          files: [{ path: "main.py", content: HALF_RIGHT(marker) }],
          cases: ADD_CASES,
          llmReview: true,
        }),
      ),
    );
    for (const [i, done] of runs.entries()) {
      assert.equal(done.state, "succeeded", JSON.stringify(done));
      assert.equal(done.result.status, "wrong_answer", String(i));
      assert.equal(done.result.score, 50);
      assert.deepEqual(done.result.failTags, ["llm_error", "wrong_answer"]);
      assert.equal(done.result.feedback.at(-1)?.case, "llm_review");
      assert.equal(done.result.metrics.llmScore, undefined);
    }
    assert.match(runs[0]?.result.feedback.at(-1)?.message ?? "", /no usable JSON/);
    assert.match(runs[1]?.result.feedback.at(-1)?.message ?? "", /HTTP 500/);
    assert.match(runs[2]?.result.feedback.at(-1)?.message ?? "", /no answer .* in 1500 ms/);
  });

  test("a submission that does not ask is not reviewed", async () => {
    const done = await grade(t, {
      language: "python",
      files: [{ path: "main.py", content: HALF_RIGHT("MARK-NOTASKED") }],
      cases: ADD_CASES,
    });
    assert.equal(done.result.status, "wrong_answer");
    assert.deepEqual(done.result.failTags, ["wrong_answer"]);
    assert.equal(llm.saw("MARK-NOTASKED").length, 0);
  });

  test("the key is nowhere in the sandbox: not in the env, nor any /proc/*/environ or cmdline it can read", async () => {
    const hunter = [
      "# MARK-HUNTER",
      "import os",
      // Reversed: the source itself (in the work directory, in the prompt) must not hold the key.
      `key = ${JSON.stringify([...KEY].reverse().join(""))}[::-1].encode()`,
      "found = []",
      "if any(key in (k + '=' + v).encode() for k, v in os.environ.items()): found.append('env')",
      "if any(k.startswith('LLM_') for k in os.environ): found.append('LLM_ var')",
      "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:",
      "    for name in ('environ', 'cmdline'):",
      "        try:",
      "            if key in open(f'/proc/{pid}/{name}', 'rb').read(): found.append(pid + '/' + name)",
      "        except OSError:",
      "            pass",
      "for root in ('/run', '/opt/gantry', '/tmp', os.getcwd()):",
      "    for d, _, files in os.walk(root):",
      "        for f in files:",
      "            try:",
      "                if key in open(os.path.join(d, f), 'rb').read(1 << 24): found.append(os.path.join(d, f))",
      "            except OSError:",
      "                pass",
      "import time; time.sleep(1.5)  # time for the outside look below",
      "print('found ' + ' '.join(found) if found else 'no key')",
    ].join("\n");
    // From outside too (as root): the environ of every process of this Gantry's sandboxes — the
    // runner's included, which the submission cannot read — while the hunter runs.
    const looked = new Set<string>();
    const leaks: string[] = [];
    let looking = true;
    const outside = (async () => {
      while (looking) {
        for (const pid of await readdir("/proc")) {
          if (!/^\d+$/.test(pid)) continue;
          const cgroup = await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "");
          if (!cgroup.includes(`gantry-${process.pid}-`)) continue;
          const environ = await readFile(`/proc/${pid}/environ`).catch(() => null);
          if (environ === null) continue;
          const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
          looked.add(cmdline.includes("gantry-runner") ? "runner" : `pid ${pid}`);
          if (environ.includes(KEY) || /(^|\0)LLM_/.test(environ.toString("utf8"))) leaks.push(cmdline);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const done = await grade(t, {
      language: "python",
      files: [{ path: "main.py", content: hunter + "\n" }],
      cases: [{ name: "hunt", stdin: "", expectedStdout: "no key\n", timeLimitMs: 5000, memoryMB: 128 }],
      llmReview: true,
    });
    looking = false;
    await outside;
    assert.ok(looked.has("runner"), `the runner's environ was read: ${[...looked].join(", ")}`);
    assert.deepEqual(leaks, []);
    assert.equal(done.result.status, "accepted", JSON.stringify(done.result.feedback));
    // A submission that asked for a review, on a server that holds the key.
    assert.equal(llm.saw("MARK-HUNTER").length, 1);
    assert.ok(!JSON.stringify(done).includes(KEY));
    const stored = await t.gantry.store.getWorkload(
      (await t.gantry.store.getRun((done as unknown as { id: string }).id))?.workloadId ?? "",
    );
    assert.ok(stored !== null && !JSON.stringify(stored).includes(KEY), "not in the stored spec");
  });
});

describe("GANTRY_LLM_REVIEW=always and =off", () => {
  const llm = new FakeLlm();
  before(() => llm.start());
  after(() => llm.stop());

  test("always: a submission that did not ask is reviewed", async () => {
    const t = await startTestGantry("pglite", {}, llmEnv(llm, { GANTRY_LLM_REVIEW: "always" }));
    try {
      const done = await grade(t, {
        language: "python",
        files: [{ path: "main.py", content: HALF_RIGHT("MARK-ALWAYS") }],
        cases: ADD_CASES,
      });
      assert.equal(done.result.status, "wrong_answer");
      assert.equal(done.result.score, 50);
      assert.deepEqual(done.result.failTags, ["llm_naming", "wrong_answer"]);
      assert.equal(llm.saw("MARK-ALWAYS").length, 1);
    } finally {
      await t.stop();
    }
  });

  test("off: the LLM is never called; a submission that asked is tagged llm_disabled", async () => {
    const t = await startTestGantry("pglite", {}, llmEnv(llm, { GANTRY_LLM_REVIEW: "off" }));
    try {
      const [asked, silent] = await Promise.all([
        grade(t, {
          language: "python",
          files: [{ path: "main.py", content: HALF_RIGHT("MARK-OFF-ASKED") }],
          cases: ADD_CASES,
          llmReview: { instructions: "x" },
        }),
        grade(t, {
          language: "python",
          files: [{ path: "main.py", content: HALF_RIGHT("MARK-OFF-SILENT") }],
          cases: ADD_CASES,
        }),
      ]);
      assert.equal(asked.result.status, "wrong_answer");
      assert.equal(asked.result.score, 50);
      assert.deepEqual(asked.result.failTags, ["llm_disabled", "wrong_answer"]);
      assert.deepEqual(silent.result.failTags, ["wrong_answer"]);
      assert.equal(llm.saw("MARK-OFF").length, 0);
    } finally {
      await t.stop();
    }
  });
});

describe("POST /v1/internal/runs/{id}/llm-review: hostile input", () => {
  const llm = new FakeLlm();
  let t: TestGantry;
  let asking = "";
  let silent = "";
  let job = "";
  const tokens: Record<string, string> = {};
  const draft = {
    status: "wrong_answer",
    score: 50,
    failTags: ["wrong_answer"],
    feedback: [{ case: "large", message: "wrong_answer: expected 42000" }],
    metrics: { timeMs: 3 },
    cases: [{ name: "large", verdict: "wrong_answer" }],
  };

  before(async () => {
    await llm.start();
    t = await startTestGantry("pglite", { roles: { api: true, dispatcher: false } }, llmEnv(llm));
    const create = async (body: Record<string, unknown>) => {
      const res = await t.api("POST", "/v1/runs", { body });
      assert.equal(res.status, 201, res.text);
      const id = (res.body as { id: string }).id;
      tokens[id] = `gtr_${id.replace(/-/g, "")}${"Q".repeat(11)}`;
      await t.gantry.store.setRunToken(id, 1, hashToken(tokens[id]), new Date(Date.now() + 600_000));
      return id;
    };
    const submission = (marker: string, extra: Record<string, unknown> = {}) => ({
      kind: "submission",
      language: "python",
      files: [{ path: "main.py", content: HALF_RIGHT(marker) }],
      cases: ADD_CASES,
      ...extra,
    });
    asking = await create(submission("MARK-ROUTE", { llmReview: { instructions: "sum them" } }));
    silent = await create(submission("MARK-ROUTE-SILENT"));
    job = await create({ command: ["echo", "hi"] });
  });
  after(async () => {
    await t.stop();
    await llm.stop();
  });

  const review = (id: string, options: { token?: string | null; body?: unknown; raw?: string }) =>
    t.api("POST", `/v1/internal/runs/${id}/llm-review`, {
      token: null,
      ...(options.token === null ? {} : { headers: { "x-run-token": options.token ?? tokens[id] ?? "" } }),
      ...(options.raw === undefined ? { body: options.body ?? draft } : { raw: options.raw }),
    });
  const code = (res: { body: unknown }) => (res.body as { error?: { code?: string } }).error?.code;

  test("the payload says what the runner does about a review", async () => {
    for (const [id, decision] of [
      [asking, "review"],
      [silent, "none"],
      [job, "none"],
    ] as const) {
      const res = await t.api("GET", `/v1/internal/runs/${id}/payload`, {
        token: null,
        headers: { "x-run-token": tokens[id] ?? "" },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal((res.body as { llmReview: string }).llmReview, decision);
      assert.ok(!res.text.includes(KEY));
    }
  });

  test("no token, a wrong one, another run's, or an admin's: 401, and the LLM is not called", async () => {
    const attempts = [
      await review(asking, { token: null }),
      await review(asking, { token: "gtr_" + "A".repeat(43) }),
      await review(asking, { token: tokens[silent] ?? "" }),
      await review(asking, { token: t.adminToken }),
      await review("not-a-uuid", { token: tokens[asking] ?? "" }),
      await review("00000000-0000-4000-8000-000000000000", { token: tokens[asking] ?? "" }),
    ];
    for (const res of attempts) assert.equal(code(res), "GANTRY_ERR_RUN_TOKEN_INVALID", res.text);
    assert.equal(llm.saw("MARK-ROUTE").length, 0);
  });

  test("malformed and oversized drafts: 400/413, and the LLM is not called", async () => {
    const bad: unknown[] = [
      {},
      { ...draft, status: undefined },
      { ...draft, surprise: true },
      { ...draft, score: "50" },
      { ...draft, failTags: Array.from({ length: 65 }, (_, i) => `t${i}`) },
      { ...draft, failTags: ["x".repeat(101)] },
      { ...draft, feedback: Array.from({ length: 51 }, () => ({ case: "c", message: "m" })) },
      { ...draft, feedback: [{ case: "c", message: "m".repeat(2001) }] },
      { ...draft, feedback: [{ case: "c", message: "m", extra: 1 }] },
      { ...draft, metrics: { timeMs: "fast" } },
      { ...draft, metrics: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i])) },
      { ...draft, cases: [{ name: "a", verdict: "accepted", stdin: "leak" }] },
      [draft],
      "draft",
    ];
    for (const body of bad) {
      const res = await review(asking, { body });
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 200)} → ${res.text}`);
      assert.equal(code(res), "GANTRY_ERR_VALIDATION");
    }
    assert.equal(code(await review(asking, { raw: "{not json" })), "GANTRY_ERR_BAD_JSON");
    const huge = await review(asking, { raw: JSON.stringify({ ...draft, status: "x".repeat(2 << 20) }) });
    assert.equal(huge.status, 413, huge.text);
    assert.equal(code(huge), "GANTRY_ERR_BODY_TOO_LARGE");
    assert.equal(llm.saw("MARK-ROUTE").length, 0);
  });

  test("runs that get no review: 409 GANTRY_ERR_LLM_REVIEW_NOT_ENABLED", async () => {
    for (const id of [silent, job]) {
      const res = await review(id, {});
      assert.equal(res.status, 409, res.text);
      assert.equal(code(res), "GANTRY_ERR_LLM_REVIEW_NOT_ENABLED");
    }
    assert.equal(llm.saw("MARK-ROUTE-SILENT").length, 0);
  });

  test("one review per attempt: a second call gets the same review without asking the LLM again", async () => {
    const first = await review(asking, {});
    assert.equal(first.status, 200, first.text);
    const body = first.body as { runId: string; attempt: number; review: Record<string, unknown> };
    assert.equal(body.runId, asking);
    assert.equal(body.attempt, 1);
    assert.equal(body.review.outcome, "reviewed");
    assert.equal(body.review.score, 97);
    const second = await review(asking, { body: { ...draft, status: "accepted", score: 100 } });
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body, first.body);
    const asked = llm.saw("MARK-ROUTE");
    assert.equal(asked.length, 1);
    assert.match(asked[0]?.prompt ?? "", /sum them[\s\S]*status wrong_answer, score 50/);
    assert.ok(!first.text.includes(KEY));
  });

  test("the runner's client: merges the review; a refusal or no time left is llm_error", async () => {
    const graded: RunResult = { ...draft, artifacts: { cases: [] } };
    const client = (id: string) => internalApi({ runId: id, token: tokens[id] ?? "", apiUrl: t.url });
    const merged = await reviewThroughGantry(client(asking), graded, Date.now() + 10_000);
    assert.equal(merged.status, "wrong_answer");
    assert.equal(merged.score, 50);
    assert.deepEqual(merged.failTags, ["llm_naming", "wrong_answer"]);
    assert.equal(merged.metrics.llmScore, 97);
    const refused = await reviewThroughGantry(client(silent), graded, Date.now() + 10_000);
    assert.deepEqual(refused.failTags, ["llm_error", "wrong_answer"]);
    assert.match(refused.feedback.at(-1)?.message ?? "", /HTTP 409 \(GANTRY_ERR_LLM_REVIEW_NOT_ENABLED\)/);
    const late = await reviewThroughGantry(client(asking), graded, Date.now() + 100);
    assert.deepEqual(late.failTags, ["llm_error", "wrong_answer"]);
    assert.match(late.feedback.at(-1)?.message ?? "", /time ran out/);
  });

  test("once the result is posted the token is dead for the review too", async () => {
    const posted = await t.api("POST", `/v1/internal/runs/${asking}/result`, {
      token: null,
      headers: { "x-run-token": tokens[asking] ?? "" },
      body: { status: "wrong_answer", score: 50 },
    });
    assert.equal(posted.status, 200, posted.text);
    assert.equal(code(await review(asking, {})), "GANTRY_ERR_RUN_TOKEN_INVALID");
  });
});
