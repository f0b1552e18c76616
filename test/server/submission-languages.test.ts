/**
 * A language added by configuration (GANTRY_LANGUAGES_FILE) is graded like a built-in one, and a
 * built-in one removed there is refused.
 */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";

let t: TestGantry;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gantry-lang-"));
  const file = join(dir, "languages.json");
  await writeFile(
    file,
    JSON.stringify({
      sh: {
        sourceFile: "main.sh",
        extensions: [".sh"],
        compile: ["/bin/sh", "-n", "{main}"],
        run: ["/bin/sh", "{main}"],
        image: "busybox:1.36",
      },
      java: null,
    }),
  );
  process.env.GANTRY_LANGUAGES_FILE = file; // read by the API at start
  t = await startTestGantry("pglite");
});
after(async () => {
  await t.stop();
  delete process.env.GANTRY_LANGUAGES_FILE;
  await rm(dir, { recursive: true, force: true });
});

test("a configured language compiles (here: a syntax check) and runs", async () => {
  const res = await t.api("POST", "/v1/runs", {
    body: {
      kind: "submission",
      language: "sh",
      files: [{ path: "main.sh", content: "read a b\necho $((a + b))\n" }],
      cases: [
        { stdin: "2 3\n", expectedStdout: "5\n" },
        { stdin: "1 1\n", expectedStdout: "3\n" },
      ],
    },
  });
  assert.equal(res.status, 201, res.text);
  const run = (await t.waitForRun((res.body as { id: string }).id, 60_000)) as {
    result: { status: string; score: number; feedback: { message: string }[] };
    spec: { image: string };
  };
  assert.equal(run.result.status, "wrong_answer");
  assert.equal(run.result.score, 50);
  assert.match(run.result.feedback[0]?.message ?? "", /expected "3", got "2"/);
  assert.equal(run.spec.image, "busybox:1.36");

  const broken = await t.api("POST", "/v1/runs", {
    body: {
      kind: "submission",
      language: "sh",
      files: [{ path: "main.sh", content: "if then fi (\n" }],
      cases: [{ expectedStdout: "" }],
    },
  });
  const graded = (await t.waitForRun((broken.body as { id: string }).id, 60_000)) as {
    result: { status: string };
  };
  assert.equal(graded.result.status, "compile_error");

  const java = await t.api("POST", "/v1/runs", {
    body: {
      kind: "submission",
      language: "java",
      files: [{ path: "Main.java", content: "class Main {}" }],
      cases: [{ expectedStdout: "" }],
    },
  });
  assert.equal(java.status, 400);
  assert.match(java.text, /unknown language 'java'; known: c, cpp, javascript, python, sh/);
});
