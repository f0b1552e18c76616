import { test } from "node:test";
import assert from "node:assert/strict";
import { selectRunsToClaim } from "./dispatch-selection.ts";

const limits = { batch: 10, maxActive: 100, maxActivePerOwner: 100 };
const runs = (...owners: string[]) => owners.map((owner, i) => ({ id: `r${i}`, owner }));
const ids = (picked: { id: string }[]) => picked.map((r) => r.id);

test("takes candidates in the given order up to the batch size", () => {
  const picked = selectRunsToClaim(runs("a", "b", "c", "d"), 0, new Map(), { ...limits, batch: 3 });
  assert.deepEqual(ids(picked), ["r0", "r1", "r2"]);
});

test("never exceeds the global cap, counting runs already active", () => {
  assert.deepEqual(ids(selectRunsToClaim(runs("a", "b", "c"), 8, new Map(), { ...limits, maxActive: 10 })), [
    "r0",
    "r1",
  ]);
  assert.deepEqual(selectRunsToClaim(runs("a"), 10, new Map(), { ...limits, maxActive: 10 }), []);
  assert.deepEqual(selectRunsToClaim(runs("a"), 12, new Map(), { ...limits, maxActive: 10 }), []);
});

test("honours the per-owner cap, counting the owner's active runs and the ones picked now", () => {
  const picked = selectRunsToClaim(runs("a", "a", "a", "b", "b"), 1, new Map([["a", 1]]), {
    ...limits,
    maxActivePerOwner: 2,
  });
  assert.deepEqual(ids(picked), ["r0", "r3", "r4"]);
});

test("an owner at its cap does not block other owners behind it", () => {
  const picked = selectRunsToClaim(runs("a", "a", "a", "b"), 3, new Map([["a", 3]]), {
    ...limits,
    maxActivePerOwner: 3,
  });
  assert.deepEqual(ids(picked), ["r3"]);
});

test("zero or negative limits pick nothing", () => {
  assert.deepEqual(selectRunsToClaim(runs("a"), 0, new Map(), { ...limits, batch: 0 }), []);
  assert.deepEqual(selectRunsToClaim(runs("a"), 0, new Map(), { ...limits, maxActive: 0 }), []);
  assert.deepEqual(selectRunsToClaim(runs("a"), 0, new Map(), { ...limits, maxActivePerOwner: 0 }), []);
  assert.deepEqual(selectRunsToClaim(runs("a"), 0, new Map(), { ...limits, batch: Number.NaN }), []);
});

test("a fractional batch is rounded down", () => {
  assert.equal(selectRunsToClaim(runs("a", "b", "c"), 0, new Map(), { ...limits, batch: 2.5 }).length, 2);
});

test("does not mutate the counts it was given", () => {
  const counts = new Map([["a", 1]]);
  selectRunsToClaim(runs("a", "a"), 1, counts, limits);
  assert.deepEqual([...counts], [["a", 1]]);
});
