import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ERRORS, GantryError, RETIRED_ERROR_CODES, type ErrorCode } from "./errors.ts";

const documented = new Map(
  [
    ...readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8").matchAll(
      /^\| `(GANTRY_ERR_[A-Z_]+)` \| (\d{3}) \|/gm,
    ),
  ].map((m) => [m[1] ?? "", Number(m[2])]),
);

test("every error code is documented in docs/errors.md with its status, and nothing else is", () => {
  for (const [code, def] of Object.entries(ERRORS)) {
    assert.equal(documented.get(code), def.status, `${code} missing or wrong status in docs/errors.md`);
  }
  for (const code of documented.keys())
    assert.ok(code in ERRORS, `docs/errors.md lists unknown code ${code}`);
});

test("retired codes are never redefined", () => {
  for (const code of RETIRED_ERROR_CODES) assert.ok(!(code in ERRORS), code);
});

test("messages fill their placeholders and serialise with their code", () => {
  const err = new GantryError("GANTRY_ERR_LIMIT_EXCEEDED", ["memoryMB=1", "2"]);
  assert.equal(err.message, "limit memoryMB=1 exceeds the maximum allowed (2)");
  assert.equal(err.statusCode, 400);
  assert.deepEqual(err.toJSON(), { code: "GANTRY_ERR_LIMIT_EXCEEDED", message: err.message });
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    assert.ok(new GantryError(code, ["a", "b"]).statusCode >= 400);
  }
});
