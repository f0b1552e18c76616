import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { UidLocks } from "./uid-lock.ts";

const prefix = `gantry-test-uid-${process.pid}`;

test("a uid is held by one owner at a time and free again once released", async () => {
  const a = new UidLocks(prefix);
  const b = new UidLocks(prefix);
  assert.equal(await a.tryLock(7), true);
  assert.equal(await a.tryLock(7), false, "not twice");
  assert.equal(await b.tryLock(7), false, "not by another owner");
  assert.equal(await b.tryLock(8), true);
  a.release(7);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(await b.tryLock(7), true);
  b.releaseAll();
  assert.equal(b.size, 0);
  a.releaseAll();
});

test("a lock dies with its process: no stale lock after a crash", async () => {
  const name = `\0${prefix}-9`;
  const holder = spawn(
    process.execPath,
    [
      "-e",
      `require("net").createServer().listen({ path: ${JSON.stringify(name)} }, () => console.log("held"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const gone = new Promise((r) => holder.on("close", r));
  const locks = new UidLocks(prefix);
  try {
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    assert.equal(await locks.tryLock(9), false, "held by the other process");
  } finally {
    holder.kill("SIGKILL");
    await gone;
  }
  assert.equal(await locks.tryLock(9), true, "free once the holder is dead");
  locks.releaseAll();
});
