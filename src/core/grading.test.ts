import { test } from "node:test";
import assert from "node:assert/strict";
import { compareOutput, executionVerdict, gradeCases, numbersClose, type CaseExecution } from "./grading.ts";

test("exact: every byte counts; the diff names line and character", () => {
  assert.equal(compareOutput("a\nb\n", "a\nb\n", "exact").ok, true);
  const r = compareOutput("a\nb\n", "a\nb \n", "exact");
  assert.equal(r.ok, false);
  assert.match(r.diff, /^line 2, character 4: expected "\\n", got " \\n"$/);
  assert.match(compareOutput("abc", "ab", "exact").diff, /expected "c", got end of output/);
});

test("trailing_whitespace: ignores spaces at line ends, CRLF and trailing blank lines only", () => {
  assert.equal(compareOutput("1 2\n3\n", "1 2   \r\n3\n\n\n", "trailing_whitespace").ok, true);
  const r = compareOutput("1 2\n3\n", "1  2\n3\n", "trailing_whitespace");
  assert.deepEqual(r, { ok: false, diff: 'line 1: expected "1 2", got "1  2"' });
  assert.match(
    compareOutput("1\n2\n", "1\n", "trailing_whitespace").diff,
    /line 2: expected "2", got end of output/,
  );
});

test("tokens: any whitespace separates", () => {
  assert.equal(compareOutput("1 2\n3", " 1\t2 3\n", "tokens").ok, true);
  assert.deepEqual(compareOutput("1 2 3", "1 2 4", "tokens"), {
    ok: false,
    diff: 'token 3: expected "3", got "4"',
  });
});

test("numeric: absolute or relative tolerance; non-numbers compare as strings", () => {
  assert.equal(numbersClose("0.5", "0.5000001", 1e-6), true);
  assert.equal(numbersClose("1e9", "1000000500", 1e-6), true, "relative");
  assert.equal(numbersClose("1", "1.1", 1e-6), false);
  assert.equal(numbersClose("nan", "nan", 0), true);
  assert.equal(numbersClose("1", "x", 1), false);
  assert.equal(compareOutput("YES 3.14159", "YES 3.1416", "numeric", 1e-4).ok, true);
  assert.match(compareOutput("3.14", "3.2", "numeric", 0.01).diff, /token 1: .* \(tolerance 0.01\)/);
});

test("long lines are shortened in the diff", () => {
  const r = compareOutput("x".repeat(500), "y".repeat(500), "trailing_whitespace");
  assert.ok(r.diff.length < 200, r.diff);
});

const ok: CaseExecution = {
  exitCode: 0,
  signal: null,
  cpuMs: 10,
  wallMs: 20,
  memoryKB: 8000,
  killedFor: null,
  outputBytes: 10,
  stderr: "",
};
const limits = { cpuMs: 1000, memoryMB: 64, outputBytes: 1000 };

test("verdict of how a case ended: order output > memory > time > runtime error", () => {
  assert.equal(executionVerdict(ok, limits), null);
  const v = (e: Partial<CaseExecution>) => executionVerdict({ ...ok, ...e }, limits)?.verdict;
  assert.equal(v({ killedFor: "output", signal: "SIGKILL", exitCode: null }), "output_limit");
  assert.equal(v({ outputBytes: 1001 }), "output_limit");
  assert.equal(v({ signal: "SIGXFSZ", exitCode: null }), "output_limit");
  assert.equal(v({ killedFor: "memory", signal: "SIGKILL", exitCode: null }), "memory_limit");
  assert.equal(v({ memoryKB: 70 * 1024 }), "memory_limit", "peak above the limit, even if it ended well");
  assert.equal(v({ exitCode: 1, stderr: "MemoryError" }), "memory_limit");
  assert.equal(
    v({ exitCode: 1, stderr: "Exception in thread main java.lang.OutOfMemoryError: Java heap space" }),
    "memory_limit",
  );
  assert.equal(
    v({
      signal: "SIGABRT",
      exitCode: null,
      stderr: "terminate called after throwing an instance of 'std::bad_alloc'",
    }),
    "memory_limit",
  );
  assert.equal(
    v({ signal: "SIGKILL", exitCode: null, memoryKB: 60 * 1024 }),
    "memory_limit",
    "killed near the limit: the OOM killer",
  );
  assert.equal(v({ killedFor: "wall_time", signal: "SIGKILL", exitCode: null }), "time_limit");
  assert.equal(v({ killedFor: "cpu_time", signal: "SIGKILL", exitCode: null }), "time_limit");
  assert.equal(v({ signal: "SIGXCPU", exitCode: null }), "time_limit");
  assert.equal(v({ cpuMs: 1001 }), "time_limit");
  assert.equal(v({ signal: "SIGSEGV", exitCode: null }), "runtime_error");
  const crash = executionVerdict({ ...ok, exitCode: 3, stderr: "Traceback…\nValueError: boom\n" }, limits);
  assert.deepEqual(crash, { verdict: "runtime_error", message: "exit code 3: Traceback…\nValueError: boom" });
});

test("score is the accepted share of the weight; status is the first failure", () => {
  const c = (name: string, verdict: "accepted" | "wrong_answer" | "time_limit", weight = 1) => ({
    name,
    verdict,
    weight,
    message: "",
  });
  assert.deepEqual(gradeCases([c("a", "accepted"), c("b", "accepted")]), {
    status: "accepted",
    score: 100,
    failTags: [],
  });
  assert.deepEqual(gradeCases([c("a", "accepted", 2), c("b", "time_limit"), c("c", "wrong_answer")]), {
    status: "time_limit",
    score: 50,
    failTags: ["time_limit", "wrong_answer"],
  });
  assert.equal(gradeCases([c("a", "accepted"), c("b", "wrong_answer"), c("c", "wrong_answer")]).score, 33.33);
  assert.equal(gradeCases([]).score, 0);
});
