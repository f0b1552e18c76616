/**
 * Sandbox start overhead: starting `true` bare vs sandboxed, interleaved in the same run.
 *
 *   bare         spawn("true") as root, no isolation
 *   bwrap        bubblewrap alone, with the executor's options, as the sandbox uid
 *   chain        the executor's launch argv without cgroups: sh → prlimit → setpriv → bwrap → true
 *   chain+cg     the same, joining fresh per-run cgroup v1 groups (memory, pids, cpuacct): mkdir,
 *                limits, join, rmdir — what the executor does when cgroups are available
 *   executor     LocalExecutor.launch() until the final update: work dir, cgroups, spawn, log
 *                capture, process check, clean-up
 *
 * Usage: node --import tsx bench/sandbox-start.ts [iterations=100]
 * Needs root and a working bubblewrap. Prints medians and ratios to `bare`; asserts nothing.
 */

import { spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AttemptUpdate, ExecutorSink } from "../src/executors/executor.ts";
import { LocalExecutor } from "../src/executors/local/index.ts";
import { AttemptCgroup, setUpCgroups, tearDownCgroups } from "../src/executors/local/cgroup.ts";
import { envArgsData } from "../src/executors/local/sandbox.ts";

const iterations = Number(process.argv[2] ?? 100);
const UID = 62990;

function runArgv(argv: readonly string[], opts: { uid?: number; fds?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: opts.fds ? ["ignore", "ignore", "inherit", "pipe", "pipe"] : ["ignore", "ignore", "inherit"],
      env: { PATH: "/usr/bin:/bin" },
      ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }),
    });
    if (opts.fds) {
      const args = child.stdio[3] as NodeJS.WritableStream;
      args.on("error", () => undefined);
      args.end(envArgsData({ PATH: "/usr/bin:/bin" }));
      (child.stdio[4] as NodeJS.ReadableStream).resume();
    }
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${argv.join(" ")} exited ${code}`)),
    );
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] as number;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root (the sandbox uses per-attempt uids)");
  const workRoot = mkdtempSync(path.join(tmpdir(), "gantry-bench-sandbox-"));
  const waiters = new Map<string, (u: AttemptUpdate) => void>();
  const sink: ExecutorSink = {
    async update(u) {
      if (u.state !== "running") waiters.get(u.runId)?.(u);
    },
    log() {},
  };
  const ex = new LocalExecutor({ workRoot, sink, maxConcurrent: 4, uidRange: { first: 62900, last: 62989 } });
  await ex.start();
  const cgroups = await setUpCgroups(`gantry-bench-${process.pid}`, true);
  console.log(`sandbox: ${ex.describe()?.sandbox}; memory: ${ex.describe()?.memory}`);
  if (cgroups.parents.size === 0) console.log("(no usable cgroups: chain+cg equals chain)");
  const workDir = path.join(workRoot, "bench");
  mkdirSync(workDir, { mode: 0o700 });
  chownSync(workDir, UID, UID);
  const chain = ex.sandboxArgv(["true"], workDir, UID, [], 256);
  const bwrapAt = chain.findIndex((a) => a.endsWith("/bwrap"));
  const bwrapOnly = chain.slice(bwrapAt);
  let n = 0;
  const variants: Record<string, () => Promise<number>> = {
    bare: () => runArgv(["/usr/bin/true"]),
    bwrap: () => runArgv(bwrapOnly, { uid: UID, fds: true }),
    chain: () => runArgv(chain, { fds: true }),
    "chain+cg": async () => {
      const t0 = performance.now();
      const cg = await AttemptCgroup.create(cgroups, `bench-${++n}`, {
        memoryBytes: 256 << 20,
        processes: 16,
      });
      await runArgv(ex.sandboxArgv(["true"], workDir, UID, cg.procsFiles(), 256), { fds: true });
      await cg.remove();
      return performance.now() - t0;
    },
    executor: async () => {
      const runId = `bench-${++n}`;
      const t0 = performance.now();
      const done = new Promise<AttemptUpdate>((r) => waiters.set(runId, r));
      await ex.launch({
        runId,
        attempt: 1,
        owner: "bench",
        spec: {
          command: ["true"],
          env: {},
          files: [],
          limits: { cpuSeconds: 10, wallSeconds: 30, memoryMB: 256, processes: 16, outputBytes: 1 << 20 },
        },
        runToken: "t",
        apiUrl: "http://127.0.0.1:1",
      });
      const u = await done;
      waiters.delete(runId);
      if (u.state !== "succeeded") throw new Error(`executor run ended ${u.state} ${u.reason}`);
      return performance.now() - t0;
    },
  };
  const names = Object.keys(variants);
  const times: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (const name of names) await variants[name]!(); // warm-up
  for (let i = 0; i < iterations; i++) {
    // Interleaved, rotating the order so no variant always runs first.
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length] as string;
      times[name]!.push(await variants[name]!());
    }
  }
  await ex.shutdown();
  await tearDownCgroups(cgroups);
  rmSync(workRoot, { recursive: true, force: true });
  const bare = median(times.bare!);
  console.log(`\nsandbox start overhead, ${iterations} interleaved iterations of \`true\`:`);
  console.log("variant     median ms     p90 ms   ratio to bare (median)");
  for (const name of names) {
    const xs = times[name]!;
    console.log(
      `${name.padEnd(10)} ${median(xs).toFixed(2).padStart(9)} ${pct(xs, 0.9).toFixed(2).padStart(10)}   ${(median(xs) / bare).toFixed(1)}×`,
    );
  }
}

await main();
