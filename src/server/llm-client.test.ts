/**
 * The server's chat-completions client against a local server that speaks the protocol (no real
 * LLM is reachable here): what it sends, what it accepts, and every way it fails without throwing.
 */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_LANGUAGES } from "../core/languages.ts";
import type { ReviewDraft } from "../core/llm-review.ts";
import type { SubmissionSpec } from "../core/submission-spec.ts";
import type { LlmConfig } from "./config.ts";
import { askForReview, LlmReviewer } from "./llm-client.ts";

interface Seen {
  path: string | undefined;
  auth: string | undefined;
  model: string;
  messages: { role: string; content: string }[];
}

/** A local server speaking the chat-completions protocol; `reply` decides each answer. */
let server: Server;
let baseUrl = "";
let reply: () => { status: number; content?: string; raw?: string; delayMs?: number };
const seen: Seen[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Omit<Seen, "auth" | "path">;
      seen.push({
        path: req.url,
        auth: req.headers.authorization,
        model: body.model,
        messages: body.messages,
      });
      const r = reply();
      const timer = setTimeout(() => {
        res.writeHead(r.status, { "content-type": "application/json" });
        res.end(
          r.raw ??
            JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: r.content } }] }),
        );
      }, r.delayMs ?? 0);
      res.on("close", () => clearTimeout(timer));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const draft: ReviewDraft = {
  status: "wrong_answer",
  score: 50,
  failTags: ["wrong_answer"],
  feedback: [{ case: "b", message: "wrong_answer: token 1" }],
  metrics: { timeMs: 5 },
  cases: [
    { name: "a", verdict: "accepted" },
    { name: "b", verdict: "wrong_answer" },
  ],
};
const spec = {
  language: "python",
  toolchain: DEFAULT_LANGUAGES.python,
  files: [{ path: "main.py", content: "print(1)" }],
  cases: [],
  compare: { mode: "tokens" },
  caseOutputBytes: 1000,
  llmReview: { instructions: "add two numbers" },
} as unknown as SubmissionSpec;
const config = (): LlmConfig => ({
  mode: "request",
  baseUrl,
  apiKey: "sk-test-123",
  model: "review-model",
  timeoutMs: 500,
});
const GOOD =
  '```json\n{"status":"COMPLETED","score":90,"fail_tags":["naming"],"feedback":[{"case":"style","message":"use better names"}]}\n```';

test("asks with the configured model and key; the prompt holds the task, the sources and the verdicts", async () => {
  reply = () => ({ status: 200, content: GOOD });
  const outcome = await askForReview(config(), spec, draft);
  assert.deepEqual(outcome, {
    outcome: "reviewed",
    status: "COMPLETED",
    score: 90,
    failTags: ["naming"],
    feedback: [{ case: "style", message: "use better names" }],
  });
  const last = seen.at(-1) as Seen;
  assert.equal(last.path, "/v1/chat/completions");
  assert.equal(last.auth, "Bearer sk-test-123");
  assert.equal(last.model, "review-model");
  const prompt = last.messages.at(-1)?.content ?? "";
  assert.match(prompt, /add two numbers[\s\S]*print\(1\)/);
  assert.match(prompt, /status wrong_answer, score 50/);
  assert.match(prompt, /b: wrong_answer/);
});

test("no key configured: no Authorization header at all", async () => {
  reply = () => ({ status: 200, content: GOOD });
  await askForReview({ ...config(), apiKey: undefined }, spec, draft);
  assert.equal(seen.at(-1)?.auth, undefined);
});

test("bad JSON, HTTP errors, a timeout, no server, a huge or odd answer: a failed outcome, never a throw", async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const cases: [() => ReturnType<typeof reply>, RegExp, Partial<LlmConfig>?][] = [
    [() => ({ status: 200, content: "I think it is fine." }), /no usable JSON/],
    [() => ({ status: 200, content: '```json\n{"status": FAILED}\n```' }), /no usable JSON/],
    // Providers echo the key in error bodies; the problem must not quote them.
    [() => ({ status: 500, raw: '{"error":"bad key sk-test-123"}' }), /^the LLM endpoint answered HTTP 500$/],
    [() => ({ status: 401, raw: "sk-test-123" }), /HTTP 401/],
    [() => ({ status: 200, content: "{}", delayMs: 2000 }), /no answer from the LLM endpoint in 500 ms/],
    [() => ({ status: 200, raw: "not json" }), /not JSON/],
    [() => ({ status: 200, raw: '{"choices":[]}' }), /no message/],
    [() => ({ status: 200, raw: `{"x":"${"a".repeat(2 << 20)}"}` }), /larger than 1048576 bytes/],
    [
      () => ({ status: 200, content: GOOD }),
      /unreachable \(ECONNREFUSED\)/,
      { baseUrl: `http://127.0.0.1:${closedPort}/v1` },
    ],
  ];
  for (const [answer, problem, overrides] of cases) {
    reply = answer;
    const outcome = await askForReview({ ...config(), ...overrides }, spec, draft);
    assert.equal(outcome.outcome, "failed", JSON.stringify(outcome));
    if (outcome.outcome === "failed") {
      assert.match(outcome.problem, problem, String(problem));
      assert.doesNotMatch(outcome.problem, /sk-test/);
    }
  }
});

test("the reviewer asks once per attempt: repeats and concurrent calls get the same outcome", async () => {
  reply = () => ({ status: 200, content: GOOD, delayMs: 100 });
  const reviewer = new LlmReviewer(config());
  const before = seen.length;
  const runId = "3f1c0c2e-0000-4000-8000-000000000001";
  const [a, b] = await Promise.all([
    reviewer.review(runId, 1, spec, draft),
    reviewer.review(runId, 1, spec, { ...draft, status: "accepted" }),
  ]);
  const c = await reviewer.review(runId, 1, spec, draft);
  assert.deepEqual(a, b);
  assert.deepEqual(a, c);
  assert.equal(seen.length - before, 1);
  // A failure is kept too: a runner cannot retry its way to many calls.
  reply = () => ({ status: 500 });
  const failed = await reviewer.review(runId, 2, spec, draft);
  reply = () => ({ status: 200, content: GOOD });
  assert.deepEqual(await reviewer.review(runId, 2, spec, draft), failed);
  assert.equal(seen.length - before, 2);
  // Another attempt is another review.
  assert.equal((await reviewer.review(runId, 3, spec, draft)).outcome, "reviewed");
  assert.equal(seen.length - before, 3);
});

test("kept outcomes expire once no token of theirs can be alive", async () => {
  reply = () => ({ status: 200, content: GOOD });
  const reviewer = new LlmReviewer(config(), 50);
  const before = seen.length;
  const runId = "3f1c0c2e-0000-4000-8000-000000000002";
  await reviewer.review(runId, 1, spec, draft);
  await new Promise((r) => setTimeout(r, 80));
  await reviewer.review(runId, 1, spec, draft);
  assert.equal(seen.length - before, 2);
});
