import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_LIMITS, type JobSpec } from "../../core/workload.ts";
import { specProblem } from "./spec-check.ts";

const ok: JobSpec = { command: ["echo", "hi"], env: { A: "1" }, files: [], limits: { ...DEFAULT_LIMITS } };

test("a plain spec passes", () => {
  assert.equal(specProblem(ok), null);
});

test("refuses what cannot be run safely", () => {
  const bad: [Partial<JobSpec> | Record<string, unknown>, RegExp][] = [
    [{ command: [] }, /command is empty/],
    [{ command: [""] }, /command\[0\] is empty/],
    [{ command: ["sh", "a\0b"] }, /NUL/],
    [{ command: ["sh", 3] }, /strings/],
    [{ env: { "A=B": "x" } }, /name "A=B" is invalid/],
    [{ env: { "": "x" } }, /invalid/],
    [{ env: { A: "x\0" } }, /NUL/],
    [{ env: { A: 1 } }, /must be a string/],
    [{ limits: { ...DEFAULT_LIMITS, memoryMB: 0 } }, /memoryMB/],
    [{ limits: { ...DEFAULT_LIMITS, wallSeconds: Number.NaN } }, /wallSeconds/],
    [{ limits: { ...DEFAULT_LIMITS, processes: -1 } }, /processes/],
  ];
  for (const [patch, expected] of bad) {
    assert.match(specProblem({ ...ok, ...patch } as JobSpec) ?? "", expected, JSON.stringify(patch));
  }
});
