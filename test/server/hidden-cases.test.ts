/**
 * Hidden test cases: a submission's grading material (its cases' inputs and expected outputs, its
 * checker's sources) is write-only through /v1 for everyone but admins — the run's owner and
 * viewers read the run with byte counts in their place, on every route that returns a run — and a
 * case marked `hidden` has no expected output quoted in its feedback. The runner, graded for real in
 * the local sandbox here, still gets all of it from its payload (the grading works).
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";

interface Feedback {
  case: string;
  message: string;
}
interface RunBody {
  id: string;
  state: string;
  spec?: { submission?: Record<string, unknown> & { cases: Record<string, unknown>[] } };
  result: { status: string; score: number; feedback: Feedback[] } | null;
}

// Markers that must never reach a reader other than an admin.
const VISIBLE_IN = "2 3\n";
const HIDDEN_IN = "40000 2000\n";
const HIDDEN_OUT = "42000\n";
const CHECKER_SOURCE = [
  "# CHECKER-SOURCE-MARKER",
  "import sys",
  "n = sum(map(int, open(sys.argv[1]).read().split()))",
  "got = int(open(sys.argv[3]).read())",
  "if got == n:",
  "    sys.exit(0)",
  "print(f'SECRET-CHECKER-SAYS expected {n}, got {got}')",
  "sys.exit(1)",
].join("\n");

/** a - b: wrong on both cases, so each case gets feedback. */
const WRONG = "a, b = map(int, input().split())\nprint(a - b)\n";

describe("hidden test cases", () => {
  let t: TestGantry;
  let alice: string;
  let viewer: string;
  let plain: RunBody;
  let checked: RunBody;

  before(async () => {
    t = await startTestGantry("pglite");
    alice = await t.createToken("submitter", "alice");
    viewer = await t.createToken("viewer", "vera");
    const submit = async (body: Record<string, unknown>) => {
      const res = await t.api("POST", "/v1/runs", { token: alice, body: { kind: "submission", ...body } });
      assert.equal(res.status, 201, res.text);
      assert.ok(!res.text.includes(HIDDEN_OUT.trim()), "the create answer holds no spec");
      return (res.body as { id: string }).id;
    };
    const ids = await Promise.all([
      submit({
        language: "python",
        files: [{ path: "main.py", content: WRONG }],
        cases: [
          { name: "sample", stdin: VISIBLE_IN, expectedStdout: "5\n" },
          { name: "secret", stdin: HIDDEN_IN, expectedStdout: HIDDEN_OUT, hidden: true },
        ],
        compare: { mode: "tokens" },
      }),
      submit({
        language: "python",
        files: [{ path: "main.py", content: WRONG }],
        cases: [
          { name: "sample", stdin: VISIBLE_IN, expectedStdout: "(checked)" },
          { name: "secret", stdin: HIDDEN_IN, expectedStdout: "(checked)", hidden: true },
        ],
        compare: {
          mode: "checker",
          files: [{ path: "check.py", content: CHECKER_SOURCE }],
          command: ["/usr/bin/python3", "check.py"],
        },
      }),
    ]);
    const done = await Promise.all(ids.map((id) => t.waitForRun(id, 120_000)));
    [plain, checked] = done as unknown as [RunBody, RunBody];
  });
  after(() => t?.stop());

  const get = async (id: string, token: string) => {
    const res = await t.api("GET", `/v1/runs/${id}`, { token });
    assert.equal(res.status, 200, res.text);
    return { text: res.text, run: res.body as RunBody };
  };

  test("the grading still works: the runner got every case from its payload", () => {
    for (const run of [plain, checked]) {
      assert.equal(run.state, "succeeded", JSON.stringify(run));
      assert.equal(run.result?.status, "wrong_answer");
      assert.deepEqual(
        run.result?.feedback.map((f) => f.case),
        ["sample", "secret"],
      );
    }
  });

  test("feedback quotes the expected output of a visible case, never of a hidden one", () => {
    const [sample, secret] = plain.result?.feedback ?? [];
    assert.match(sample?.message ?? "", /wrong_answer: token 1: expected "5", got "-1"/);
    assert.equal(secret?.message, "wrong_answer: the output differs from the expected output (hidden case)");
    const [cSample, cSecret] = checked.result?.feedback ?? [];
    assert.match(cSample?.message ?? "", /SECRET-CHECKER-SAYS expected 5, got -1/);
    assert.ok(!(cSecret?.message ?? "").includes("SECRET-CHECKER-SAYS"), cSecret?.message);
    assert.ok(!JSON.stringify(plain.result).includes(HIDDEN_OUT.trim()));
  });

  test("the run's owner and viewers read the run without inputs, expected outputs or checker sources", async () => {
    for (const token of [alice, viewer]) {
      const { text, run } = await get(plain.id, token);
      for (const secret of [HIDDEN_OUT.trim(), "40000", '"stdin"', '"expectedStdout"'])
        assert.ok(!text.includes(secret), `${secret} shown: ${text}`);
      const submission = run.spec?.submission;
      assert.equal(submission?.redacted, true);
      assert.deepEqual(submission?.cases, [
        {
          name: "sample",
          timeLimitMs: 2000,
          memoryMB: 256,
          weight: 1,
          hidden: false,
          stdinBytes: 4,
          expectedStdoutBytes: 2,
        },
        {
          name: "secret",
          timeLimitMs: 2000,
          memoryMB: 256,
          weight: 1,
          hidden: true,
          stdinBytes: 11,
          expectedStdoutBytes: 6,
        },
      ]);
      // What is theirs to see stays: the sources, the language, the result.
      assert.deepEqual(submission?.files, [{ path: "main.py", content: WRONG }]);
      assert.equal(submission?.language, "python");
      assert.equal(run.result?.status, "wrong_answer");

      const c = await get(checked.id, token);
      assert.ok(!c.text.includes("CHECKER-SOURCE-MARKER") && !c.text.includes("import sys"), c.text);
      assert.deepEqual(c.run.spec?.submission?.compare, {
        mode: "checker",
        command: ["/usr/bin/python3", "check.py"],
        files: [{ path: "check.py", bytes: Buffer.byteLength(CHECKER_SOURCE) }],
      });
    }
  });

  test("an admin reads the grading material back", async () => {
    const { run } = await get(plain.id, t.adminToken);
    const cases = run.spec?.submission?.cases ?? [];
    assert.equal(run.spec?.submission?.redacted, undefined);
    assert.deepEqual(
      cases.map((c) => [c.stdin, c.expectedStdout, c.hidden]),
      [
        [VISIBLE_IN, "5\n", undefined],
        [HIDDEN_IN, HIDDEN_OUT, true],
      ],
    );
    const c = await get(checked.id, t.adminToken);
    const compare = c.run.spec?.submission?.compare as { files: { content: string }[] };
    assert.equal(compare.files[0]?.content, CHECKER_SOURCE);
  });

  test("no other route returns the material: lists, events, logs, cancel", async () => {
    for (const token of [alice, viewer, t.adminToken]) {
      const texts = await Promise.all(
        [
          "/v1/runs",
          "/v1/runs?limit=500",
          `/v1/runs/${plain.id}/events`,
          `/v1/runs/${plain.id}/logs`,
          `/v1/runs/${checked.id}/logs`,
        ].map(async (path) => {
          const res = await t.api("GET", path, { token });
          assert.equal(res.status, 200, `${path}: ${res.text}`);
          return `${path}: ${res.text}`;
        }),
      );
      for (const text of texts)
        for (const secret of [HIDDEN_OUT.trim(), "40000", "CHECKER-SOURCE-MARKER", '"spec"'])
          assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
    // Cancelling a finished run is refused without echoing it.
    const cancel = await t.api("POST", `/v1/runs/${plain.id}/cancel`, { token: alice });
    assert.equal(cancel.status, 409, cancel.text);
    assert.ok(!cancel.text.includes(HIDDEN_OUT.trim()));
  });

  test("hidden must be a boolean", async () => {
    for (const hidden of ["yes", 1, null, {}]) {
      const res = await t.api("POST", "/v1/runs", {
        token: alice,
        body: {
          kind: "submission",
          language: "python",
          files: [{ path: "main.py", content: "print(1)" }],
          cases: [{ expectedStdout: "1", hidden }],
        },
      });
      assert.equal(res.status, 400, `${JSON.stringify(hidden)}: ${res.text}`);
      assert.equal((res.body as { error: { code: string } }).error.code, "GANTRY_ERR_VALIDATION");
    }
  });
});
