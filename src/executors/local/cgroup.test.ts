import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { AttemptCgroup, setUpCgroups, tearDownCgroups } from "./cgroup.ts";

const isRoot = process.getuid?.() === 0;
const hasV1 =
  existsSync("/sys/fs/cgroup/pids/cgroup.procs") || existsSync("/sys/fs/cgroup/memory/cgroup.procs");

test("disabled or unprivileged: nothing is used, and the log can say why", async () => {
  const off = await setUpCgroups("gantry-test-off", false);
  assert.equal(off.parents.size, 0);
  assert.equal(off.unusable.get("memory"), "disabled by configuration");
});

test(
  "cgroup v1: limits written, a process joins, stats read, groups removed",
  { skip: !isRoot || !hasV1 ? "needs root and cgroup v1" : false },
  async () => {
    const setup = await setUpCgroups(`gantry-${process.pid}-${Date.now().toString(16)}`, true);
    try {
      assert.ok(setup.parents.size > 0, JSON.stringify([...setup.unusable]));
      const group = await AttemptCgroup.create(setup, "attempt-1", { memoryBytes: 64 << 20, processes: 5 });
      const mem = group.dirs.get("memory");
      if (mem)
        assert.equal(readFileSync(path.join(mem, "memory.limit_in_bytes"), "utf8").trim(), String(64 << 20));
      const pids = group.dirs.get("pids");
      if (pids) assert.equal(readFileSync(path.join(pids, "pids.max"), "utf8").trim(), "5");
      // A shell joins, then tries to start more processes than allowed.
      const script =
        'for f in "$@"; do echo $$ > "$f"; done; sleep 0.3; for i in 1 2 3 4 5 6 7 8; do sleep 0.2 & done 2>/dev/null; wait';
      const child = spawn("/bin/sh", ["-c", script, "sh", ...group.procsFiles()], { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 100));
      assert.ok((await group.pids()).includes(child.pid as number));
      await new Promise((r) => child.on("close", r));
      const stats = await group.stats();
      if (pids) assert.ok(stats.refusedForks > 0, "pids.events counted the refused forks");
      if (mem) assert.ok((stats.peakMemoryBytes ?? 0) > 0);
      assert.equal(stats.oomKills, 0);
      await group.remove();
      for (const dir of group.dirs.values()) assert.equal(existsSync(dir), false);
    } finally {
      await tearDownCgroups(setup);
    }
    for (const dir of setup.parents.values()) assert.equal(existsSync(dir), false);
  },
);

test(
  "stale groups of a dead Gantry process are removed at set-up",
  { skip: !isRoot || !hasV1 ? "needs root and cgroup v1" : false },
  async () => {
    const probe = await setUpCgroups(`gantry-${process.pid}-aa`, true);
    const base = path.dirname([...probe.parents.values()][0] as string);
    await tearDownCgroups(probe);
    // pid 2^22+1 is above the kernel's pid_max, so never alive.
    const stale = path.join(base, "gantry-4194305-abc123");
    mkdirSync(path.join(stale, "old-attempt"), { recursive: true });
    const setup = await setUpCgroups(`gantry-${process.pid}-bb`, true);
    await tearDownCgroups(setup);
    assert.equal(existsSync(stale), false);
  },
);
