import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_LANGUAGES } from "../core/languages.ts";
import type { SubmissionSpec } from "../core/submission-spec.ts";
import { parseLlmAnswer, reviewWithLlm, type LlmConfig } from "./llm-review.ts";
import type { RunnerResult } from "./runner.ts";

/** A local server speaking the chat-completions protocol; `reply` decides each answer. */
let server: Server;
let baseUrl = "";
let reply: (body: { model: string; messages: { content: string }[] }) => {
  status: number;
  content: string;
  delayMs?: number;
};
const seen: { auth: string | undefined; model: string }[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        model: string;
        messages: { content: string }[];
      };
      seen.push({ auth: req.headers.authorization, model: body.model });
      const r = reply(body);
      setTimeout(() => {
        res.writeHead(r.status, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: r.content } }] }),
        );
      }, r.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const graded: RunnerResult = {
  status: "wrong_answer",
  score: 50,
  failTags: ["wrong_answer"],
  feedback: [{ case: "b", message: "wrong_answer: token 1" }],
  metrics: { timeMs: 5 },
  artifacts: {},
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
const config = (): LlmConfig => ({ baseUrl, apiKey: "sk-test", model: "gpt-4o-mini", timeoutMs: 500 });

test("parses JSON with or without code fences; refuses what is not the expected object", () => {
  const v = {
    status: "FAILED",
    score: 40,
    fail_tags: ["style"],
    feedback: [{ case: "all", message: "meh" }, "terse"],
  };
  const expected = {
    status: "FAILED",
    score: 40,
    failTags: ["style"],
    feedback: [
      { case: "all", message: "meh" },
      { case: "review", message: "terse" },
    ],
  };
  assert.deepEqual(parseLlmAnswer(JSON.stringify(v)), expected);
  assert.deepEqual(parseLlmAnswer("Here you go:\n```json\n" + JSON.stringify(v) + "\n```\nbye"), expected);
  assert.deepEqual(parseLlmAnswer("Sure! " + JSON.stringify(v) + " Hope it helps"), expected);
  assert.equal(parseLlmAnswer("```json\n{status: FAILED}\n```"), null);
  assert.equal(parseLlmAnswer("no json here"), null);
  assert.equal(parseLlmAnswer('{"score": 3}'), null);
});

test("a review is additive: tags and feedback added, status and score kept", async () => {
  reply = (body) => {
    assert.match(body.messages.at(-1)?.content ?? "", /add two numbers[\s\S]*print\(1\)/);
    return {
      status: 200,
      content:
        '```json\n{"status":"COMPLETED","score":90,"fail_tags":["naming"],"feedback":[{"case":"style","message":"use better names"}]}\n```',
    };
  };
  const r = await reviewWithLlm(graded, spec, config());
  assert.equal(r.status, "wrong_answer");
  assert.equal(r.score, 50);
  assert.deepEqual(r.failTags, ["llm_naming", "wrong_answer"]);
  assert.deepEqual(r.feedback.at(-1), { case: "llm:style", message: "use better names" });
  assert.equal(r.metrics.llmScore, 90);
  assert.deepEqual(seen.at(-1), { auth: "Bearer sk-test", model: "gpt-4o-mini" });
});

test("bad JSON, an HTTP error, a timeout or no server add llm_error and keep the grade", async () => {
  const cases: (() => Promise<RunnerResult>)[] = [
    async () => {
      reply = () => ({ status: 200, content: "I think it is fine." });
      return reviewWithLlm(graded, spec, config());
    },
    async () => {
      reply = () => ({ status: 500, content: "" });
      return reviewWithLlm(graded, spec, config());
    },
    async () => {
      reply = () => ({ status: 200, content: "{}", delayMs: 2000 });
      return reviewWithLlm(graded, spec, config());
    },
    async () => reviewWithLlm(graded, spec, { ...config(), baseUrl: "http://127.0.0.1:9/v1" }),
  ];
  for (const run of cases) {
    const r = await run();
    assert.equal(r.status, "wrong_answer");
    assert.equal(r.score, 50);
    assert.deepEqual(r.failTags, ["llm_error", "wrong_answer"]);
    assert.equal(r.feedback.at(-1)?.case, "llm_review");
  }
});
