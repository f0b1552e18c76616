import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { isLiveAs, killAllOfUid, killProcessesMentioning, pidsByUid, pidsOfUid } from "./procs.ts";

const isRoot = process.getuid?.() === 0;
const UID = 62098;

test(
  "finds every process of a uid, even detached ones, and kills them all at once",
  { skip: !isRoot ? "needs root" : false },
  async () => {
    const child = spawn("/bin/sh", ["-c", "sleep 30 & (setsid sleep 30 &); sleep 30"], {
      uid: UID,
      gid: UID,
      stdio: "ignore",
    });
    const closed = new Promise((r) => child.on("close", r));
    await new Promise((r) => setTimeout(r, 200));
    const pids = await pidsOfUid(UID);
    assert.ok(pids.length >= 4, `found ${pids.length}`);
    assert.ok(pids.includes(child.pid as number));
    assert.equal(await isLiveAs(child.pid as number, UID), true);
    assert.equal(await isLiveAs(child.pid as number, UID + 1), false);
    assert.equal((await pidsByUid(new Set([UID, UID + 1]))).get(UID)?.length, pids.length);
    await killAllOfUid("/bin/kill", UID, UID);
    await closed;
    for (let i = 0; i < 50 && (await pidsOfUid(UID)).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await pidsOfUid(UID), []);
    assert.equal(await isLiveAs(process.pid, 0), true);
    assert.equal(await isLiveAs(child.pid as number, UID), false);
  },
);

test("killProcessesMentioning kills the processes whose arguments hold every needle, and only those", async () => {
  const tag = `gantry-test-${process.pid}-${Date.now()}`;
  const spawnSleeper = (...args: string[]) => spawn("sh", ["-c", "sleep 30", ...args], { stdio: "ignore" });
  const both = spawnSleeper(`/opt/${tag}/bwrap`, `/tmp/${tag}/work/`);
  const one = spawnSleeper(`/tmp/${tag}/work/`);
  const exited = new Promise((resolve) => both.once("exit", resolve));
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const killed = await killProcessesMentioning([`/opt/${tag}/bwrap`, `/tmp/${tag}/work/`]);
    assert.deepEqual(killed, [both.pid]);
    await exited;
    assert.equal(both.signalCode, "SIGKILL");
    assert.equal(one.exitCode, null, "a process holding one needle only lives on");
    assert.equal(one.signalCode, null);
  } finally {
    both.kill("SIGKILL");
    one.kill("SIGKILL");
  }
});
