/**
 * Finding and killing every process of a sandbox uid. Each running attempt owns one uid, so
 * "all processes of uid U" is exactly "everything the attempt started", whatever it forked,
 * double-forked or setsid()'d.
 */

import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/** Real uid and state letter of a process from /proc/PID/status (dumpable or not), or null if gone. */
async function uidAndState(pid: string): Promise<{ uid: number; state: string } | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    const st = /^State:\s+(\S)/m.exec(status);
    return m ? { uid: Number(m[1]), state: st?.[1] ?? "?" } : null;
  } catch {
    return null;
  }
}

/**
 * pids of processes whose real uid is in `uids` (one /proc scan). Zombies are left out unless
 * asked for: a sandbox's pid-1 can outlive bubblewrap's monitor by a moment, gets reparented to the
 * host's init and waits there to be reaped — it runs nothing and holds nothing but its pid.
 */
export async function pidsByUid(
  uids: ReadonlySet<number>,
  includeZombies = false,
): Promise<Map<number, number[]>> {
  const found = new Map<number, number[]>();
  if (uids.size === 0) return found;
  const entries = await readdir("/proc");
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        const info = await uidAndState(pid);
        if (
          info !== null &&
          uids.has(info.uid) &&
          (includeZombies || (info.state !== "Z" && info.state !== "X"))
        ) {
          const uid = info.uid;
          const list = found.get(uid) ?? [];
          list.push(Number(pid));
          found.set(uid, list);
        }
      }),
  );
  return found;
}

/** Whether `pid` exists, is not a zombie and runs as `uid` (guards against pid reuse). */
export async function isLiveAs(pid: number, uid: number): Promise<boolean> {
  const info = await uidAndState(String(pid));
  return info !== null && info.uid === uid && info.state !== "Z" && info.state !== "X";
}

export async function pidsOfUid(uid: number, includeZombies = false): Promise<number[]> {
  return (await pidsByUid(new Set([uid]), includeZombies)).get(uid) ?? [];
}

/**
 * Sends SIGKILL to every process of `uid` at once by running `kill -KILL -1` as that uid: the
 * kernel walks the process list in one call, so a fork bomb cannot outrun it. Needs root.
 */
export function killAllOfUid(killPath: string, uid: number, gid: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(killPath, ["-KILL", "-1"], { uid, gid, stdio: "ignore", env: {} });
    child.on("error", () => resolve());
    child.on("close", () => resolve());
  });
}

/**
 * SIGKILLs every process (but this one) whose command line contains each of `needles`, until none
 * is left (about 1 s at most); returns the pids it killed. For the launch chain of a Gantry that
 * died: its root-owned steps (sh → prlimit → setpriv) carry bubblewrap's path and the work
 * directory in their arguments, and would still exec into a sandbox after a sweep by uid.
 */
export async function killProcessesMentioning(needles: readonly string[]): Promise<number[]> {
  const killed = new Set<number>();
  for (let round = 0; round < 50; round++) {
    const found: number[] = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let cmdline: string;
      try {
        cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      } catch {
        continue; // gone
      }
      if (needles.every((n) => cmdline.includes(n))) found.push(Number(entry));
    }
    const live = [];
    for (const pid of found) {
      const info = await uidAndState(String(pid));
      if (info !== null && info.state !== "Z" && info.state !== "X") live.push(pid);
    }
    if (live.length === 0) break;
    for (const pid of live) {
      try {
        process.kill(pid, "SIGKILL");
        killed.add(pid);
      } catch {
        // gone meanwhile, or not ours to kill
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return [...killed];
}
