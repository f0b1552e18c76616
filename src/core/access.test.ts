import { test } from "node:test";
import assert from "node:assert/strict";
import { canReadGradingMaterial, canSeeRun, may, ownerScope, type Principal } from "./access.ts";

const admin: Principal = { tokenId: "1", role: "admin", owner: "root" };
const alice: Principal = { tokenId: "2", role: "submitter", owner: "alice" };
const viewer: Principal = { tokenId: "3", role: "viewer", owner: "v" };

test("roles grant what DESIGN.md says", () => {
  assert.equal(may(admin, "tokens:manage"), true);
  assert.equal(may(alice, "runs:create"), true);
  assert.equal(may(alice, "tokens:manage"), false);
  assert.equal(may(viewer, "runs:read"), true);
  assert.equal(may(viewer, "runs:create"), false);
  assert.equal(may(viewer, "runs:cancel"), false);
});

test("a submitter sees only its own runs; others see all", () => {
  assert.equal(canSeeRun(alice, { owner: "alice" }), true);
  assert.equal(canSeeRun(alice, { owner: "bob" }), false);
  assert.equal(canSeeRun(viewer, { owner: "bob" }), true);
  assert.equal(ownerScope(alice), "alice");
  assert.equal(ownerScope(admin), undefined);
});

test("only admins read a submission's grading material back; its owner and viewers do not", () => {
  assert.equal(canReadGradingMaterial(admin), true);
  assert.equal(canReadGradingMaterial(alice), false);
  assert.equal(canReadGradingMaterial(viewer), false);
});
