import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  checkInputFiles,
  createWorkDir,
  inputPathSegments,
  InputFileError,
  removeWorkDir,
  writeInputFiles,
} from "./workdir.ts";

test("input paths: plain relative paths pass", () => {
  assert.deepEqual(inputPathSegments("a.txt"), ["a.txt"]);
  assert.deepEqual(inputPathSegments("src/main.py"), ["src", "main.py"]);
  assert.deepEqual(inputPathSegments("..hidden/x..y"), ["..hidden", "x..y"]);
});

test("input paths: everything that could leave the directory is refused", () => {
  const bad = [
    "",
    "/etc/passwd",
    "../x",
    "a/../../x",
    "a/..",
    "..",
    ".",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "a\0b",
    "x".repeat(2000),
    `${"y".repeat(300)}/z`,
  ];
  for (const p of bad) assert.throws(() => inputPathSegments(p), InputFileError, JSON.stringify(p));
});

test("input files: duplicates and files used as directories are refused", () => {
  assert.throws(
    () =>
      checkInputFiles([
        { path: "a", content: "" },
        { path: "a", content: "" },
      ]),
    /given twice/,
  );
  assert.throws(
    () =>
      checkInputFiles([
        { path: "a", content: "" },
        { path: "a/b", content: "" },
      ]),
    /lies under the file/,
  );
  assert.throws(
    () =>
      checkInputFiles([
        { path: "a/b", content: "" },
        { path: "a", content: "" },
      ]),
    /given twice/,
  );
  checkInputFiles([
    { path: "a/b", content: "" },
    { path: "a/c", content: "" },
  ]);
});

test("writes files (utf8, base64, executable) into a fresh private directory and removes it", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "gantry-workdir-"));
  try {
    const dir = path.join(root, "w");
    await createWorkDir(dir, null);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    await writeInputFiles(
      dir,
      [
        { path: "a/b/c.txt", content: "hello" },
        {
          path: "run.sh",
          content: Buffer.from("#!/bin/sh\n").toString("base64"),
          encoding: "base64",
          executable: true,
        },
      ],
      null,
    );
    assert.equal(readFileSync(path.join(dir, "a/b/c.txt"), "utf8"), "hello");
    assert.equal(readFileSync(path.join(dir, "run.sh"), "utf8"), "#!/bin/sh\n");
    assert.equal(statSync(path.join(dir, "run.sh")).mode & 0o777, 0o755);
    assert.equal(statSync(path.join(dir, "a/b/c.txt")).mode & 0o777, 0o644);
    // A file cannot be written twice (O_EXCL), nor through a path that is not a directory.
    await assert.rejects(writeInputFiles(dir, [{ path: "run.sh", content: "x" }], null), /EEXIST/);
    await assert.rejects(writeInputFiles(dir, [{ path: "run.sh/x", content: "x" }], null), /not a directory/);
    await assert.rejects(writeInputFiles(dir, [{ path: "../escape", content: "x" }], null), InputFileError);
    assert.equal(existsSync(path.join(root, "escape")), false);
    await removeWorkDir(dir);
    assert.equal(existsSync(dir), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
