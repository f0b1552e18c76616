import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "./errors.ts";
import { DEFAULT_LANGUAGES } from "./languages.ts";
import {
  gradingMaterialView,
  normalizeSubmission,
  runnerCommand,
  SUBMISSION_CAPS,
  submissionRunLimits,
  LLM_REVIEW_WALL_MS,
  type SubmissionRequest,
} from "./submission-spec.ts";
import { MAX_LIMITS } from "./workload.ts";

const base: SubmissionRequest = {
  language: "python",
  files: [{ path: "main.py", content: "print(1)\n" }],
  cases: [{ expectedStdout: "1\n" }],
};
const norm = (r: Partial<SubmissionRequest>) => normalizeSubmission({ ...base, ...r }, DEFAULT_LANGUAGES);

test("a submission becomes a job running the runner, with the grading spec and case defaults", () => {
  const spec = norm({ language: "PY" });
  assert.deepEqual(spec.command, runnerCommand());
  assert.deepEqual(spec.command, ["/opt/gantry/node", "/opt/gantry/gantry-runner.mjs"]);
  assert.deepEqual(spec.files, [], "the sources reach the runner through its payload only");
  assert.equal(spec.image, DEFAULT_LANGUAGES.python?.image);
  assert.equal(spec.submission.language, "python");
  assert.deepEqual(spec.submission.toolchain, DEFAULT_LANGUAGES.python);
  assert.deepEqual(spec.submission.cases, [
    { name: "case-1", stdin: "", expectedStdout: "1\n", timeLimitMs: 2000, memoryMB: 256, weight: 1 },
  ]);
  assert.deepEqual(spec.submission.compare, { mode: "trailing_whitespace" });
  assert.equal(spec.submission.caseOutputBytes, 1024 * 1024);
  assert.equal(spec.submission.llmReview, undefined);
  assert.deepEqual(norm({ llmReview: true }).submission.llmReview, {});
});

test("run limits follow the cases: runner memory plus the largest case, wall time for every case", () => {
  const spec = norm({
    cases: [
      { expectedStdout: "", timeLimitMs: 1000, memoryMB: 100 },
      { expectedStdout: "", timeLimitMs: 3000, memoryMB: 400 },
    ],
  });
  assert.ok(spec.limits.memoryMB >= 256 + 400, String(spec.limits.memoryMB));
  assert.ok(spec.limits.wallSeconds >= 30 + 3 + 7, String(spec.limits.wallSeconds));
  assert.equal(norm({ limits: { wallSeconds: 99 } }).limits.wallSeconds, 99, "explicit limits win");
  const small = { ...MAX_LIMITS, memoryMB: 300 };
  assert.equal(submissionRunLimits(spec.submission, small).memoryMB, 300, "clamped to the ceilings");
  const reviewed = norm({
    llmReview: true,
    cases: [
      { expectedStdout: "", timeLimitMs: 1000, memoryMB: 100 },
      { expectedStdout: "", timeLimitMs: 3000, memoryMB: 400 },
    ],
  });
  assert.equal(
    reviewed.limits.wallSeconds,
    spec.limits.wallSeconds + LLM_REVIEW_WALL_MS / 1000,
    "a requested LLM review gets its own wall time",
  );
});

test("compare modes: numeric gets a default tolerance; a checker keeps its files and command", () => {
  assert.deepEqual(norm({ compare: { mode: "numeric" } }).submission.compare, {
    mode: "numeric",
    tolerance: 1e-6,
  });
  assert.deepEqual(norm({ compare: { mode: "numeric", tolerance: 0.5 } }).submission.compare, {
    mode: "numeric",
    tolerance: 0.5,
  });
  const checker = norm({
    compare: { mode: "checker", files: [{ path: "c.py", content: "" }], command: ["python3", "c.py"] },
  });
  assert.deepEqual(checker.submission.compare, {
    mode: "checker",
    files: [{ path: "c.py", content: "" }],
    command: ["python3", "c.py"],
  });
});

test("refusals name the problem", () => {
  const refused: [Partial<SubmissionRequest>, RegExp][] = [
    [{ language: "cobol" }, /unknown language 'cobol'; known: c, cpp, java, javascript, python/],
    [{ files: [] }, /at least one source file/],
    [{ files: [{ path: "main.py", content: " \n\t" }] }, /code is empty/],
    [
      { files: [{ path: "a.py", content: "x".repeat(SUBMISSION_CAPS.sourceBytes + 1) }] },
      /source files total/,
    ],
    [
      { files: Array.from({ length: 51 }, (_, i) => ({ path: `f${i}.py`, content: "x" })) },
      /at most 50 source files/,
    ],
    [{ files: [{ path: "../x.py", content: "x" }] }, /'\.\.\/x\.py' must not contain/],
    [{ files: [{ path: "/x.py", content: "x" }] }, /must be relative/],
    [
      {
        files: [
          { path: "a.py", content: "x" },
          { path: "a.py", content: "y" },
        ],
      },
      /appears twice/,
    ],
    [{ files: [{ path: ".gantry-x", content: "x" }] }, /reserved/],
    [{ files: [{ path: "a.py", content: "x\0" }] }, /NUL/],
    [{ cases: [] }, /at least one test case/],
    [
      { cases: Array.from({ length: SUBMISSION_CAPS.cases + 1 }, () => ({ expectedStdout: "" })) },
      /at most 200 test cases/,
    ],
    [{ cases: [{ expectedStdout: "", timeLimitMs: 0 }] }, /timeLimitMs/],
    [{ cases: [{ expectedStdout: "", memoryMB: 8 }] }, /memoryMB/],
    [{ cases: [{ expectedStdout: "", weight: 0 }] }, /weight above 0/],
    [
      {
        cases: [
          { name: "a", expectedStdout: "" },
          { name: "a", expectedStdout: "" },
        ],
      },
      /case name 'a' appears twice/,
    ],
    [{ cases: [{ expectedStdout: "x".repeat(SUBMISSION_CAPS.caseBytes + 1) }] }, /test cases total/],
    [{ compare: { mode: "fuzzy" } }, /compare.mode 'fuzzy'/],
    [{ compare: { mode: "tokens", tolerance: 1 } }, /tolerance applies to mode 'numeric' only/],
    [{ compare: { mode: "checker" } }, /compare.command/],
    [
      { compare: { mode: "checker", command: ["x"], files: [{ path: "../c", content: "" }] } },
      /compare.files path/,
    ],
    [{ caseOutputBytes: 0 }, /caseOutputBytes/],
    [
      { limits: { memoryMB: 300 } },
      /limits.memoryMB must be at least 512 \(the runner plus the largest case\)/,
    ],
  ];
  for (const [request, message] of refused) {
    assert.throws(
      () => norm(request),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "GANTRY_ERR_VALIDATION", err.message);
        assert.match(err.message, message);
        return true;
      },
    );
  }
  assert.throws(() => norm({ limits: { memoryMB: 1e9 } }), /GANTRY_ERR_LIMIT_EXCEEDED|exceeds the maximum/);
});

test("hidden: kept only when true; anything else is a visible case", () => {
  const spec = norm({
    cases: [
      { name: "a", expectedStdout: "1", hidden: true },
      { name: "b", expectedStdout: "2", hidden: false },
      { name: "c", expectedStdout: "3" },
    ],
  });
  assert.deepEqual(
    spec.submission.cases.map((c) => c.hidden),
    [true, undefined, undefined],
  );
});

test("gradingMaterialView: byte counts for inputs and expected outputs, paths and sizes for a checker", () => {
  const spec = norm({
    files: [{ path: "main.py", content: "print('mine')\n" }],
    cases: [
      { name: "a", stdin: "ÄÖ in\n", expectedStdout: "SECRET-OUT-1", hidden: true, weight: 2 },
      { name: "b", expectedStdout: "SECRET-OUT-2", timeLimitMs: 500, memoryMB: 64 },
    ],
    compare: {
      mode: "checker",
      files: [{ path: "lib/check.py", content: "SECRET-CHECKER" }],
      command: ["/usr/bin/python3", "lib/check.py"],
    },
  });
  const before = structuredClone(spec);
  const view = gradingMaterialView(spec);
  const text = JSON.stringify(view);
  for (const secret of ["SECRET-OUT", "SECRET-CHECKER", "ÄÖ", '"stdin"', '"expectedStdout"'])
    assert.ok(!text.includes(secret), `${secret} in ${text}`);
  assert.deepEqual(spec, before, "the stored spec is not changed");
  const submission = view.submission as unknown as Record<string, unknown>;
  assert.equal(submission.redacted, true);
  assert.deepEqual(submission.cases, [
    {
      name: "a",
      timeLimitMs: 2000,
      memoryMB: 256,
      weight: 2,
      hidden: true,
      stdinBytes: 8,
      expectedStdoutBytes: 12,
    },
    {
      name: "b",
      timeLimitMs: 500,
      memoryMB: 64,
      weight: 1,
      hidden: false,
      stdinBytes: 0,
      expectedStdoutBytes: 12,
    },
  ]);
  assert.deepEqual(submission.compare, {
    mode: "checker",
    command: ["/usr/bin/python3", "lib/check.py"],
    files: [{ path: "lib/check.py", bytes: 14 }],
  });
  // The submitter's own sources, the language row and the limits stay.
  assert.deepEqual(submission.files, spec.submission.files);
  assert.deepEqual(submission.toolchain, spec.submission.toolchain);
  assert.deepEqual(view.limits, spec.limits);
  // A non-checker compare is kept; a spec without a submission is returned as it is.
  assert.deepEqual(
    (
      gradingMaterialView(norm({ compare: { mode: "numeric", tolerance: 0.5 } })).submission as {
        compare: unknown;
      }
    ).compare,
    {
      mode: "numeric",
      tolerance: 0.5,
    },
  );
  const job = { command: ["true"], env: {}, files: [], limits: spec.limits };
  assert.equal(gradingMaterialView(job), job);
});

test("image: only one of the language table's runner images (a submitter's own image could grade itself)", () => {
  assert.equal(norm({}).image, DEFAULT_LANGUAGES.python?.image);
  // Another row's image is allowed (e.g. a combined image an operator listed for several rows).
  assert.equal(norm({ image: DEFAULT_LANGUAGES.java?.image }).image, DEFAULT_LANGUAGES.java?.image);
  for (const image of [
    "python:3.12",
    "evil.example/runner-python:3.11",
    `${DEFAULT_LANGUAGES.python?.image} `,
  ])
    assert.throws(
      () => norm({ image }),
      (err: unknown) =>
        err instanceof GantryError &&
        err.code === "GANTRY_ERR_VALIDATION" &&
        /runner images/.test(err.message),
      image,
    );
});
