/**
 * Runs one program (a compile or a test case) inside the runner's sandbox under per-process limits
 * and measures it:
 *
 *   prlimit (CPU time, processes, file size, no core) → GNU time (peak RSS, CPU) → program
 *
 * in a session of its own. The runner also watches it: a wall-clock timer, an output byte count,
 * and a poll of every process but the runner's (resident memory and CPU time, every 20 ms; RLIMIT_CPU
 * is whole seconds) — each kills
 * the whole session. Afterwards every process left in the sandbox but the runner is killed, so
 * nothing a case started survives into the next one. The outer sandbox (cgroup memory and pids
 * limits) stays the backstop for what slips between two polls.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import path from "node:path";
import type { CaseExecution } from "../core/grading.ts";

export interface ProcessLimits {
  cpuMs: number;
  wallMs: number;
  memoryMB: number;
  /** stdout + stderr bytes; past it the program is killed. */
  outputBytes: number;
  /** Processes/threads besides those already in the sandbox. */
  processes: number;
  fileSizeBytes: number;
}

export interface ProcessRun extends CaseExecution {
  stdout: string;
}

const PAGE = 4096;
const TICKS = 100;
const POLL_MS = 20;
const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, num]) => [num, name]),
);

export const TOOLS = { prlimit: "/usr/bin/prlimit", time: "/usr/bin/time" };

/** Environment of submitted programs: nothing of the runner's (its token in particular). */
export function programEnv(): Record<string, string> {
  return { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8", TMPDIR: "/tmp" };
}

/** Pids in this (sandbox) pid namespace other than the runner and pid 1. */
async function otherPids(): Promise<number[]> {
  const entries = await readdir("/proc").catch(() => [] as string[]);
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === 1 || pid === process.pid || pid === process.ppid) continue;
    out.push(pid);
  }
  return out;
}

async function usage(pids: number[]): Promise<{ rssBytes: number; cpuMs: number; threads: number }> {
  let rssBytes = 0;
  let ticks = 0;
  let threads = 0;
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // fields after the command: state(0) … utime(11) stime(12) … num_threads(17) … rss(21)
        ticks += Number(f[11]) + Number(f[12]);
        threads += Number(f[17]);
        rssBytes += Number(f[21]) * PAGE;
      } catch {
        // gone meanwhile
      }
    }),
  );
  return { rssBytes, cpuMs: (ticks * 1000) / TICKS, threads };
}

/** Tasks (threads) in the sandbox now, the runner's included: the base for RLIMIT_NPROC. */
export async function sandboxTasks(): Promise<number> {
  const entries = await readdir("/proc").catch(() => [] as string[]);
  let n = 0;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    n += await readdir(`/proc/${e}/task`)
      .then((t) => t.length)
      .catch(() => 0);
  }
  return n;
}

/** Kills every process in the sandbox but the runner until none is left (or tries run out). */
export async function killStrays(): Promise<number> {
  let killed = 0;
  for (let i = 0; i < 50; i++) {
    const pids = await otherPids();
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        killed++;
      } catch {
        // gone, or not ours
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return killed;
}

/** Runs `argv` in `cwd` with `stdin`, under `limits`; resolves once it and its session are gone. */
export async function runLimited(
  argv: readonly string[],
  stdin: string,
  limits: ProcessLimits,
  cwd: string,
): Promise<ProcessRun> {
  const base = await sandboxTasks();
  // GNU time's report goes to a file of a random name (node's stdio pipes are sockets, which
  // /dev/fd/N cannot reopen); only its last line is trusted.
  const timeFile = path.join(tmpdir(), `.gantry-time-${randomBytes(8).toString("hex")}`);
  const cpuSoft = Math.ceil(limits.cpuMs / 1000) + 1;
  const wrapped = [
    `--cpu=${cpuSoft}:${cpuSoft + 1}`,
    `--nproc=${base + limits.processes + 2}`,
    `--fsize=${limits.fileSizeBytes}`,
    "--core=0",
    "--",
    TOOLS.time,
    "-f",
    "GANTRY-TIME %e %U %S %M %x",
    "-o",
    timeFile,
    ...argv,
  ];
  const started = Date.now();
  const child = spawn(TOOLS.prlimit, wrapped, {
    cwd,
    env: programEnv(),
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
  });
  // Should the run's own cgroup limit strike (a burst between two polls), the program goes first,
  // not the runner (the score is inherited by what prlimit and time exec and fork).
  try {
    if (child.pid !== undefined) writeFileSync(`/proc/${child.pid}/oom_score_adj`, "1000");
  } catch {
    // gone already, or no /proc: the poll still applies
  }
  let killedFor: CaseExecution["killedFor"] = null;
  let sweeping: Promise<unknown> = Promise.resolve();
  const killSession = (why: NonNullable<CaseExecution["killedFor"]>) => {
    killedFor ??= why;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    // Processes that left the session (setsid) too; awaited before the next case can start.
    sweeping = sweeping.then(killStrays);
  };

  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let kept = 0;
  let outputBytes = 0;
  const collect = (into: Buffer[]) => (chunk: Buffer) => {
    outputBytes += chunk.length;
    if (kept < limits.outputBytes) {
      const part = chunk.subarray(0, limits.outputBytes - kept);
      into.push(part);
      kept += part.length;
    }
    if (outputBytes > limits.outputBytes) killSession("output");
  };
  child.stdout?.on("data", collect(stdout));
  child.stderr?.on("data", collect(stderr));
  child.stdin?.on("error", () => undefined); // the program need not read its input
  child.stdin?.end(stdin);

  let peakRss = 0;
  let polledCpuMs = 0;
  const memoryBytes = limits.memoryMB * 1024 * 1024;
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    void otherPids()
      .then(usage)
      .then((u) => {
        peakRss = Math.max(peakRss, u.rssBytes);
        polledCpuMs = Math.max(polledCpuMs, u.cpuMs);
        if (u.rssBytes > memoryBytes) killSession("memory");
        else if (u.cpuMs > limits.cpuMs + POLL_MS) killSession("cpu_time");
      })
      .finally(() => (polling = false));
  }, POLL_MS);
  const wall = setTimeout(() => killSession("wall_time"), limits.wallMs);

  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => {
      child.on("error", () => resolve({ code: 127, signal: null }));
      child.on("exit", (c, s) => resolve({ code: c, signal: s }));
    },
  );
  const wallMs = Date.now() - started;
  clearInterval(poll);
  clearTimeout(wall);
  // Whatever it left behind (holding its pipes open, or detached) goes now; then the pipes drain.
  await sweeping;
  await killStrays();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
  const timeReport = await readFile(timeFile, "utf8")
    .then((text) => text.slice(-4096))
    .catch(() => "");
  await rm(timeFile, { force: true });

  // GNU time writes its report after the program has ended: its last line is the one to read.
  const report = timeReport.trim().split("\n");
  const last = [...report].reverse().find((l) => l.startsWith("GANTRY-TIME "));
  const signalLine = [...report].reverse().find((l) => l.startsWith("Command terminated by signal "));
  let exitCode: number | null = code;
  let signalName: string | null = signal;
  let cpuMs = polledCpuMs;
  let memoryKB = Math.round(peakRss / 1024);
  if (last !== undefined && killedFor === null) {
    const [, , user, sys, maxKB, status] = last.split(" ");
    cpuMs = Math.max(cpuMs, Math.round((Number(user) + Number(sys)) * 1000));
    memoryKB = Math.max(memoryKB, Number(maxKB));
    if (signalLine !== undefined) {
      const num = Number(signalLine.slice("Command terminated by signal ".length));
      signalName = SIGNAL_NAMES.get(num) ?? `signal ${num}`;
      exitCode = null;
    } else {
      exitCode = Number(status);
      signalName = null;
    }
  } else if (killedFor !== null) {
    signalName = "SIGKILL";
    exitCode = null;
  }
  return {
    exitCode,
    signal: signalName,
    cpuMs,
    wallMs,
    memoryKB,
    killedFor,
    outputBytes,
    stdout: Buffer.concat(stdout).toString("utf8"),
    stderr: Buffer.concat(stderr).toString("utf8"),
  };
}
