import assert from "node:assert/strict";
import { test } from "node:test";
import { UidPool } from "./uid-pool.ts";

test("hands out each uid once, round-robin, skipping blocked ones", () => {
  const pool = new UidPool(100, 102);
  assert.equal(pool.acquire(), 100);
  assert.equal(pool.acquire(), 101);
  pool.release(100);
  assert.equal(pool.acquire(), 102);
  assert.equal(pool.acquire(), 100, "wraps around to the released one");
  assert.equal(pool.acquire(), null, "all taken");
  pool.release(101);
  pool.block(101);
  assert.equal(pool.acquire(), null, "blocked uids are never handed out");
  pool.unblock(101);
  assert.equal(pool.acquire(), 101);
  assert.equal(pool.contains(102), true);
  assert.equal(pool.contains(103), false);
});

test("refuses bad ranges", () => {
  assert.throws(() => new UidPool(0, 10), RangeError);
  assert.throws(() => new UidPool(10, 5), RangeError);
  assert.throws(() => new UidPool(1.5, 5), RangeError);
});
