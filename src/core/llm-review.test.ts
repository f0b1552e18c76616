import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_LANGUAGES } from "./languages.ts";
import {
  LLM_DRAFT_CAPS,
  llmReviewDecision,
  mergeReview,
  parseLlmAnswer,
  reviewDraft,
  reviewMessages,
} from "./llm-review.ts";
import type { SubmissionSpec } from "./submission-spec.ts";
import { DEFAULT_LIMITS, type JobSpec, type RunResult } from "./workload.ts";

const graded: RunResult = {
  status: "wrong_answer",
  score: 50,
  failTags: ["wrong_answer"],
  feedback: [{ case: "b", message: "wrong_answer: token 1" }],
  metrics: { timeMs: 5 },
  artifacts: { cases: [{ name: "b", verdict: "wrong_answer", timeMs: 5 }] },
};
const submission = {
  language: "python",
  toolchain: DEFAULT_LANGUAGES.python,
  files: [{ path: "main.py", content: "print(1)" }],
  cases: [],
  compare: { mode: "tokens" },
  caseOutputBytes: 1000,
  llmReview: { instructions: "add two numbers" },
} as unknown as SubmissionSpec;

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
  assert.equal(parseLlmAnswer("[1, 2]"), null);
  const huge = parseLlmAnswer(
    JSON.stringify({
      status: "x".repeat(1000),
      fail_tags: Array.from({ length: 500 }, () => "t".repeat(500)),
      feedback: Array.from({ length: 500 }, () => "m".repeat(50_000)),
    }),
  );
  assert.equal(huge?.status.length, 64);
  assert.equal(huge?.failTags.length, 20);
  assert.equal(huge?.feedback.length, 50);
  assert.equal(huge?.feedback[0]?.message.length, 4000);
});

test("a review is additive: tags and feedback added, status and score kept", () => {
  const r = mergeReview(graded, {
    outcome: "reviewed",
    status: "COMPLETED",
    score: 100,
    failTags: ["naming"],
    feedback: [{ case: "style", message: "use better names" }],
  });
  assert.equal(r.status, "wrong_answer");
  assert.equal(r.score, 50);
  assert.deepEqual(r.failTags, ["llm_naming", "wrong_answer"]);
  assert.deepEqual(r.feedback.at(-1), { case: "llm:style", message: "use better names" });
  assert.equal(r.metrics.llmScore, 100);
  assert.deepEqual(r.artifacts.llmReview, { status: "COMPLETED", score: 100 });
  assert.deepEqual(r.artifacts.cases, graded.artifacts.cases);
});

test("a failed review adds llm_error, a disabled one llm_disabled; the grade stands", () => {
  const failed = mergeReview(graded, { outcome: "failed", problem: "HTTP 500" });
  assert.deepEqual(failed.failTags, ["llm_error", "wrong_answer"]);
  assert.deepEqual(failed.feedback.at(-1), { case: "llm_review", message: "review unavailable: HTTP 500" });
  const disabled = mergeReview(graded, { outcome: "disabled" });
  assert.deepEqual(disabled.failTags, ["llm_disabled", "wrong_answer"]);
  for (const r of [failed, disabled]) {
    assert.equal(r.status, "wrong_answer");
    assert.equal(r.score, 50);
    assert.deepEqual(r.metrics, graded.metrics);
  }
});

test("who gets a review: the server's mode and the submission's ask", () => {
  const job: JobSpec = { command: ["echo"], env: {}, files: [], limits: { ...DEFAULT_LIMITS } };
  const asks: JobSpec = { ...job, submission };
  const { llmReview: _, ...silentSubmission } = submission;
  const silent: JobSpec = { ...job, submission: silentSubmission };
  const cloudemy: JobSpec = { ...asks, runTokenEnv: "INTERNAL_RESULT_TOKEN" };
  const table: [string, JobSpec, string, string, string][] = [
    // spec, off, request, always
    ["asks", asks, "disabled", "review", "review"],
    ["silent", silent, "none", "none", "review"],
    ["job", job, "none", "none", "none"],
    ["cloudemy runner", cloudemy, "none", "none", "none"],
  ];
  for (const [name, spec, off, request, always] of table) {
    assert.deepEqual(
      [llmReviewDecision("off", spec), llmReviewDecision("request", spec), llmReviewDecision("always", spec)],
      [off, request, always],
      name,
    );
  }
});

test("the prompt: task, verdicts, sources (capped); the draft: cut to the route's caps", () => {
  const [system, user] = reviewMessages(submission, reviewDraft(graded));
  assert.match(system?.content ?? "", /untrusted/);
  assert.match(
    user?.content ?? "",
    /add two numbers[\s\S]*status wrong_answer, score 50[\s\S]*b: wrong_answer/,
  );
  assert.match(user?.content ?? "", /--- main\.py\nprint\(1\)/);
  const big = {
    ...submission,
    files: Array.from({ length: 10 }, (_, i) => ({ path: `f${i}.py`, content: "x".repeat(50_000) })),
  };
  const prompt = reviewMessages(big, reviewDraft(graded))[1]?.content ?? "";
  assert.ok(prompt.length < 110_000, String(prompt.length));
  assert.match(prompt, /\[… cut\]/);

  const draft = reviewDraft({
    ...graded,
    failTags: Array.from({ length: 100 }, (_, i) => `t${i}`.repeat(50)),
    feedback: Array.from({ length: 500 }, () => ({ case: "c".repeat(300), message: "m".repeat(70_000) })),
    metrics: { ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`m${i}`, i])), bad: Number.NaN },
    artifacts: { cases: [{ name: "a", verdict: "accepted", stdin: "secret" }, "junk"] },
  });
  assert.equal(draft.failTags.length, LLM_DRAFT_CAPS.failTags);
  assert.ok(draft.failTags.every((t) => t.length <= LLM_DRAFT_CAPS.tagChars));
  assert.equal(draft.feedback.length, LLM_DRAFT_CAPS.feedback);
  assert.equal(draft.feedback[0]?.message.length, LLM_DRAFT_CAPS.messageChars);
  assert.equal(draft.feedback[0]?.case.length, LLM_DRAFT_CAPS.caseChars);
  assert.equal(Object.keys(draft.metrics).length, LLM_DRAFT_CAPS.metrics);
  assert.deepEqual(draft.cases, [{ name: "a", verdict: "accepted" }]);
});
