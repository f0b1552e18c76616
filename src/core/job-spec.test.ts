import { test } from "node:test";
import assert from "node:assert/strict";
import { GantryError } from "./errors.ts";
import { normalizeJobSpec, unsafeRelativePath } from "./job-spec.ts";
import { DEFAULT_LIMITS, MAX_LIMITS } from "./workload.ts";

function refusal(fn: () => unknown): GantryError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GantryError, "throws a GantryError");
    return err;
  }
  assert.fail("expected a refusal");
}

test("defaults fill missing limits; given limits are kept", () => {
  const spec = normalizeJobSpec({ command: ["true"], limits: { wallSeconds: 5 } });
  assert.deepEqual(spec.limits, { ...DEFAULT_LIMITS, wallSeconds: 5 });
  assert.deepEqual(spec.env, {});
  assert.deepEqual(spec.files, []);
});

test("limits above the ceiling are refused, not clamped", () => {
  const err = refusal(() =>
    normalizeJobSpec({ command: ["true"], limits: { memoryMB: MAX_LIMITS.memoryMB + 1 } }),
  );
  assert.equal(err.code, "GANTRY_ERR_LIMIT_EXCEEDED");
  assert.match(err.message, /memoryMB/);
  const custom = { ...MAX_LIMITS, cpuSeconds: 5 };
  assert.equal(
    refusal(() => normalizeJobSpec({ command: ["x"], limits: { cpuSeconds: 6 } }, DEFAULT_LIMITS, custom))
      .code,
    "GANTRY_ERR_LIMIT_EXCEEDED",
  );
});

test("non-positive or fractional limits are refused", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.equal(
      refusal(() => normalizeJobSpec({ command: ["x"], limits: { cpuSeconds: bad } })).code,
      "GANTRY_ERR_VALIDATION",
    );
  }
});

test("empty commands, NUL bytes and bad env names are refused", () => {
  refusal(() => normalizeJobSpec({ command: [""] }));
  refusal(() => normalizeJobSpec({ command: [] }));
  refusal(() => normalizeJobSpec({ command: ["echo", "a\0b"] }));
  refusal(() => normalizeJobSpec({ command: ["x"], env: { "BAD-NAME": "1" } }));
  refusal(() => normalizeJobSpec({ command: ["x"], env: { "1X": "1" } }));
  refusal(() => normalizeJobSpec({ command: ["x"], env: { OK: "a\0" } }));
});

test("hostile file paths are refused", () => {
  for (const path of [
    "../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "a//b",
    "./a",
    "a\\b",
    "",
    "x".repeat(256),
    "a\0b",
  ]) {
    assert.notEqual(unsafeRelativePath(path), null, path);
    refusal(() => normalizeJobSpec({ command: ["x"], files: [{ path, content: "" }] }));
  }
  for (const path of ["main.py", "src/lib/util.c", "..hidden", "a..b"])
    assert.equal(unsafeRelativePath(path), null, path);
});

test("duplicate files, too many files, bad base64 and oversized input are refused", () => {
  refusal(() =>
    normalizeJobSpec({
      command: ["x"],
      files: [
        { path: "a", content: "" },
        { path: "a", content: "" },
      ],
    }),
  );
  refusal(() =>
    normalizeJobSpec({
      command: ["x"],
      files: Array.from({ length: 101 }, (_, i) => ({ path: `f${i}`, content: "" })),
    }),
  );
  refusal(() =>
    normalizeJobSpec({ command: ["x"], files: [{ path: "a", content: "not base64!", encoding: "base64" }] }),
  );
  refusal(() =>
    normalizeJobSpec({ command: ["x"], files: [{ path: "a", content: "x".repeat(5 * 1024 * 1024) }] }),
  );
});
