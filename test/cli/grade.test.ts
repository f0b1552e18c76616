/**
 * `gantry grade` as a user runs it (bin/gantry) against a real Gantry: a case directory of
 * NAME.in / NAME.out pairs, --wait printing each case's verdict and the score, and usage errors.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readCaseDirectory } from "../../src/cli/grade-command.ts";
import { runGantry } from "../helpers/run-gantry.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";

const gantry = runGantry;

describe("gantry grade", () => {
  let t: TestGantry;
  let env: Record<string, string>;
  let dir: string;
  before(async () => {
    t = await startTestGantry("pglite");
    env = { GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: join(t.dataDir, "cli-home") };
    dir = join(t.dataDir, "grade");
    await mkdir(join(dir, "cases"), { recursive: true });
    const cases: Record<string, string> = {
      "1.in": "1 2\n",
      "1.out": "3\n",
      "2.in": "10 20\n",
      "2.out": "30\n",
      "10.in": "-5 5\n",
      "10.out": "0\n",
      "empty.out": "0\n",
    };
    for (const [name, content] of Object.entries(cases)) await writeFile(join(dir, "cases", name), content);
    await writeFile(join(dir, "sol.py"), "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n");
    await writeFile(join(dir, "neg.py"), "import sys\nprint(-sum(map(int, sys.stdin.read().split())))\n");
  });
  after(() => t.stop());

  test("the case directory: NAME.out with optional NAME.in, natural order", async () => {
    const cases = await readCaseDirectory(join(dir, "cases"));
    assert.deepEqual(
      cases.map((c) => [c.name, c.stdin, c.expectedStdout]),
      [
        ["1", "1 2\n", "3\n"],
        ["2", "10 20\n", "30\n"],
        ["10", "-5 5\n", "0\n"],
        ["empty", "", "0\n"],
      ],
    );
  });

  test("--wait prints each verdict and the score; exit 0 only when every case passes", async () => {
    const ok = await gantry(
      [
        "grade",
        "--language",
        "python",
        "--source",
        join(dir, "sol.py"),
        "--cases",
        join(dir, "cases"),
        "--wait",
      ],
      env,
    );
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /^CASE\s+VERDICT\s+TIME\s+MEMORY\n1\s+accepted/m);
    assert.match(ok.stdout, /accepted · score 100\/100/);

    const bad = await gantry(
      [
        "grade",
        "-l",
        "python",
        "-s",
        join(dir, "neg.py"),
        "-c",
        join(dir, "cases"),
        "--compare",
        "tokens",
        "--wait",
      ],
      env,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^1\s+wrong_answer/m);
    assert.match(bad.stdout, /1: wrong_answer: token 1: expected "3", got "-3"/);
    assert.match(bad.stdout, /wrong_answer · score 50\/100 · wrong_answer/);

    const json = await gantry(
      ["grade", "-l", "py", "-s", join(dir, "sol.py"), "-c", join(dir, "cases"), "--wait", "--json"],
      env,
    );
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { result: { score: number } }).result.score, 100);
  });

  test("usage errors exit 2; an unknown language is the server's clear 400", async () => {
    const missing = await gantry(["grade", "--language", "python", "--cases", join(dir, "cases")], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--source/);
    const noDir = await gantry(
      ["grade", "-l", "python", "-s", join(dir, "sol.py"), "-c", join(dir, "nope")],
      env,
    );
    assert.equal(noDir.code, 2);
    assert.match(noDir.stderr, /not a readable directory/);
    const runner = await gantry(["runner"], env);
    assert.equal(runner.code, 2, "the runner outside a run");
    assert.match(
      runner.stderr,
      /GANTRY_RUN_ID and GANTRY_RUN_TOKEN \(or GANTRY_RUN_TOKEN_FILE\) must be set/,
    );
    const cobol = await gantry(
      ["grade", "-l", "cobol", "-s", join(dir, "sol.py"), "-c", join(dir, "cases")],
      env,
    );
    assert.equal(cobol.code, 1);
    assert.match(cobol.stderr, /unknown language 'cobol'.*\[GANTRY_ERR_VALIDATION\]/);
  });
});
