import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CLOUDEMY_STATUSES,
  CLOUDEMY_TOKEN_ENV,
  COMPILE_ONLY_RUN,
  cloudemyLaunchEnv,
  cloudemyRedisHash,
  cloudemyRunnerSpec,
  cloudemySubmissionSpec,
  isCloudemyRunnerSpec,
  listItemView,
  normalizeResultStatus,
  outcomeOf,
  resultFromCallback,
  statusOf,
  submissionView,
  type Outcome,
} from "./cloudemy-contract.ts";
import { isGantryError } from "./errors.ts";
import { DEFAULT_LANGUAGES } from "./languages.ts";
import { DEFAULT_LIMITS, MAX_LIMITS, type Run } from "./workload.ts";

const RUN: Run = {
  id: "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
  workloadId: "1b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
  kind: "submission",
  owner: "alice",
  state: "succeeded",
  attempt: 1,
  failures: 0,
  maxAttempts: 1,
  priority: 0,
  reason: "exit_code 0",
  exitCode: 0,
  executor: "local",
  notBefore: new Date(0),
  createdAt: new Date("2026-01-02T03:04:05.678Z"),
  updatedAt: new Date(0),
  startedAt: null,
  finishedAt: null,
};

const refusal = (fn: () => unknown, message: RegExp) =>
  assert.throws(
    fn,
    (err: unknown) => isGantryError(err) && err.code === "GANTRY_ERR_VALIDATION" && message.test(err.message),
  );

test("status words: one per outcome, and back", () => {
  const outcomes: Outcome[] = ["live", "completed", "failed", "timeout", "finalized"];
  assert.deepEqual(outcomes.map(statusOf), [...CLOUDEMY_STATUSES]);
  for (const o of outcomes) assert.equal(outcomeOf(statusOf(o)), o);
  assert.equal(outcomeOf("RUNNING"), null);
  assert.equal(outcomeOf("completed"), null, "callers upper-case first");
});

test("result statuses: upper-cased, SUCCESS and SUCCESSED are COMPLETED, others refused", () => {
  for (const [raw, want] of [
    ["completed", "COMPLETED"],
    [" Success ", "COMPLETED"],
    ["SUCCESSED", "COMPLETED"],
    ["failed", "FAILED"],
    ["TimeOut", "TIMEOUT"],
  ] as const)
    assert.equal(normalizeResultStatus(raw), want, raw);
  for (const raw of ["", "QUEUED", "FINALIZED", "ok", "COMPLETED!", "SUCCES"])
    assert.equal(normalizeResultStatus(raw), null, raw);
});

test("the callback body with the contract's defaults", () => {
  assert.deepEqual(resultFromCallback({ status: "success" }), {
    status: "COMPLETED",
    score: 0,
    failTags: [],
    feedback: [],
    metrics: { timeMs: 0, memoryMB: 0 },
    artifacts: {},
  });
  const full = resultFromCallback({
    status: "failed",
    score: 12.5,
    fail_tags: ["x"],
    feedback: [{ case: "1", message: "m" }],
    metrics: { timeMs: 3 },
  });
  assert.deepEqual(
    [full.status, full.score, full.failTags, full.metrics],
    ["FAILED", 12.5, ["x"], { timeMs: 3, memoryMB: 0 }],
  );
  assert.equal(resultFromCallback({ status: "COMPLETED", score: null }).score, 0);
  refusal(
    () => resultFromCallback({ status: "graded" }),
    /unknown status 'graded'; known: COMPLETED, FAILED, TIMEOUT/,
  );
});

test("views: exactly the contract's fields; zeros before a result and while QUEUED", () => {
  const queued = submissionView({ ...RUN, state: "running" }, "live", "python", {
    score: 80,
    failTags: ["x"],
    feedback: [{ case: "a", message: "b" }],
    metrics: { timeMs: 1, memoryMB: 1 },
  });
  assert.deepEqual(queued, {
    submission_id: RUN.id,
    user_id: "alice",
    language: "python",
    status: "QUEUED",
    score: 0,
    fail_tags: [],
    feedback: [],
    metrics: { timeMs: 0, memoryMB: 0 },
    finalized: false,
    created_at: "2026-01-02T03:04:05.678Z",
  });
  const graded = submissionView(RUN, "finalized", "c", {
    score: 50,
    failTags: ["wrong_answer"],
    feedback: [{ case: "a", message: "b" }],
    metrics: { timeMs: 7, memoryMB: 2.5, compileMs: 100, cases: 2 },
  });
  assert.deepEqual(
    [graded.status, graded.finalized, graded.score, graded.metrics],
    ["FINALIZED", true, 50, { timeMs: 7, memoryMB: 2.5 }],
  );
  assert.equal(listItemView(RUN, "live", "c", 80).score, 0, "not before the run has ended");
  assert.equal(listItemView(RUN, "completed", "c", 80).score, 80);
  assert.deepEqual(listItemView(RUN, "timeout", null, null), {
    submission_id: RUN.id,
    language: "",
    status: "TIMEOUT",
    score: 0,
    created_at: "2026-01-02T03:04:05.678Z",
  });
});

test("a submission: bare code in the language's source file; compile-only without cases", () => {
  const compileOnly = cloudemySubmissionSpec(
    { language: "Java", code: "class Main {}" },
    DEFAULT_LANGUAGES,
    MAX_LIMITS,
  );
  assert.equal(compileOnly.submission.language, "java");
  assert.deepEqual(compileOnly.submission.files, [{ path: "Main.java", content: "class Main {}" }]);
  assert.deepEqual(compileOnly.submission.toolchain.run, COMPILE_ONLY_RUN);
  assert.deepEqual(compileOnly.submission.toolchain.compile, DEFAULT_LANGUAGES.java?.compile);
  assert.deepEqual(
    compileOnly.submission.cases.map((c) => [c.name, c.stdin, c.expectedStdout]),
    [["compile", "", ""]],
  );
  assert.equal(compileOnly.submission.llmReview, undefined);
  const reviewed = cloudemySubmissionSpec(
    { language: "c", code: "int main(){}" },
    DEFAULT_LANGUAGES,
    MAX_LIMITS,
    true,
  );
  assert.deepEqual(
    reviewed.submission.llmReview,
    {},
    "bare code asks for a review when an LLM is configured",
  );
  const graded = cloudemySubmissionSpec(
    { language: "py", code: "print(1)", cases: [{ expectedStdout: "1\n" }], compare: { mode: "exact" } },
    DEFAULT_LANGUAGES,
    MAX_LIMITS,
  );
  assert.deepEqual(graded.submission.toolchain.run, DEFAULT_LANGUAGES.python?.run);
  assert.deepEqual(graded.submission.compare, { mode: "exact" });
  const gradedWithKey = cloudemySubmissionSpec(
    { language: "py", code: "print(1)", cases: [{ expectedStdout: "1\n" }] },
    DEFAULT_LANGUAGES,
    MAX_LIMITS,
    true,
  );
  assert.equal(gradedWithKey.submission.llmReview, undefined, "graded code: Gantry's grade is the answer");
  refusal(
    () => cloudemySubmissionSpec({ language: "brainfuck", code: "+" }, DEFAULT_LANGUAGES, MAX_LIMITS),
    /unknown language/,
  );
  refusal(
    () => cloudemySubmissionSpec({ language: "python", code: "\n" }, DEFAULT_LANGUAGES, MAX_LIMITS),
    /empty/,
  );
  refusal(
    () =>
      cloudemySubmissionSpec(
        { language: "python", code: "x", compare: { mode: "exact" } },
        DEFAULT_LANGUAGES,
        MAX_LIMITS,
      ),
    /compare needs cases/,
  );
  refusal(
    () =>
      cloudemySubmissionSpec(
        { language: "python", code: "x", cases: Array.from({ length: 201 }, () => ({ expectedStdout: "" })) },
        DEFAULT_LANGUAGES,
        MAX_LIMITS,
      ),
    /at most 200 test cases/,
  );
});

test("the original runner's spec: no secrets stored; the launch adds them; the hash holds the code", () => {
  const accepted = cloudemySubmissionSpec(
    { language: "python", code: "print(1)" },
    DEFAULT_LANGUAGES,
    MAX_LIMITS,
  );
  const spec = cloudemyRunnerSpec(accepted, {
    image: "runner:1",
    command: [],
    backendInternalUrl: "http://gantry:8080/api/internal",
    llmModel: "gpt-4o-mini",
    limits: { ...DEFAULT_LIMITS, wallSeconds: 120 },
  });
  assert.deepEqual(spec.env, {
    BACKEND_INTERNAL_URL: "http://gantry:8080/api/internal",
    LLM_MODEL: "gpt-4o-mini",
  });
  assert.equal(spec.runTokenEnv, CLOUDEMY_TOKEN_ENV);
  assert.deepEqual(spec.submission.cases, []);
  assert.ok(isCloudemyRunnerSpec(spec));
  assert.ok(!isCloudemyRunnerSpec(accepted));
  assert.deepEqual(cloudemyRedisHash(RUN.id, "alice", spec), {
    key: `submission:${RUN.id}`,
    fields: { submission_id: RUN.id, user_id: "alice", language: "python", code: "print(1)" },
  });
  const launched = cloudemyLaunchEnv(spec, RUN.id, { redisUrl: "redis://r:6379", llmApiKey: "k" });
  assert.deepEqual(launched.env, {
    BACKEND_INTERNAL_URL: "http://gantry:8080/api/internal",
    LLM_MODEL: "gpt-4o-mini",
    SUBMISSION_ID: RUN.id,
    REDIS_URL: "redis://r:6379",
    LLM_API_KEY: "k",
  });
  assert.deepEqual(
    spec.env,
    { BACKEND_INTERNAL_URL: "http://gantry:8080/api/internal", LLM_MODEL: "gpt-4o-mini" },
    "not mutated",
  );
});
