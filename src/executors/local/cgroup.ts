/**
 * cgroup v1 controllers for per-attempt accounting and limits, used when this machine lets us
 * create child groups and write their limits (probed once at start):
 *   memory  — memory.limit_in_bytes (+ memsw), OOM kills from memory.oom_control, peak usage
 *   pids    — pids.max, refused forks from pids.events
 *   cpuacct — total CPU time of the attempt (RLIMIT_CPU only bounds each process)
 * Each controller degrades independently: a missing one is simply not used. cgroup v2 is not
 * supported yet (the executor then falls back to rlimits).
 */

import { existsSync } from "node:fs";
import { chown, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";

export type Controller = "memory" | "pids" | "cpuacct";
export const CONTROLLERS: readonly Controller[] = ["memory", "pids", "cpuacct"];

const V1_ROOT = "/sys/fs/cgroup";

/** Where each v1 controller is mounted and where this process sits in it. */
async function ownV1Paths(): Promise<Map<Controller, string>> {
  const out = new Map<Controller, string>();
  let text: string;
  try {
    text = await readFile("/proc/self/cgroup", "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const [, list, rel] = line.split(":");
    if (list === undefined || rel === undefined || list === "") continue;
    for (const ctrl of list.split(",")) {
      if ((CONTROLLERS as readonly string[]).includes(ctrl)) {
        // Combined mounts (cpu,cpuacct) are mounted under the joined name with a symlink per name.
        const mount = path.join(V1_ROOT, ctrl);
        if (existsSync(path.join(mount, "cgroup.procs"))) out.set(ctrl as Controller, path.join(mount, rel));
      }
    }
  }
  return out;
}

async function writeValue(file: string, value: string): Promise<void> {
  await writeFile(file, value);
}

async function readNumber(file: string): Promise<number | null> {
  try {
    const n = Number((await readFile(file, "utf8")).trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

async function readKeyed(file: string, key: string): Promise<number | null> {
  try {
    const text = await readFile(file, "utf8");
    const m = new RegExp(`^${key}\\s+(\\d+)`, "m").exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface CgroupSetup {
  /** Parent group of this executor in each usable controller. */
  parents: Map<Controller, string>;
  /** Why a controller is not used, for the start-up log line. */
  unusable: Map<Controller, string>;
}

/**
 * Creates `<own group>/<name>` in each controller and checks that a child of it accepts the limit
 * we would write. Never throws: what fails is reported in `unusable`.
 */
export async function setUpCgroups(name: string, enabled: boolean): Promise<CgroupSetup> {
  const parents = new Map<Controller, string>();
  const unusable = new Map<Controller, string>();
  if (!enabled) {
    for (const c of CONTROLLERS) unusable.set(c, "disabled by configuration");
    return { parents, unusable };
  }
  if (process.getuid?.() !== 0) {
    for (const c of CONTROLLERS) unusable.set(c, "needs root");
    return { parents, unusable };
  }
  const own = await ownV1Paths();
  for (const ctrl of CONTROLLERS) {
    const base = own.get(ctrl);
    if (base === undefined) {
      unusable.set(ctrl, "no cgroup v1 hierarchy");
      continue;
    }
    await removeStaleGroups(base);
    const parent = path.join(base, name);
    const probe = path.join(parent, "probe");
    try {
      await mkdir(parent, { recursive: true });
      await mkdir(probe, { recursive: true });
      if (ctrl === "memory") await writeValue(path.join(probe, "memory.limit_in_bytes"), String(64 << 20));
      if (ctrl === "pids") await writeValue(path.join(probe, "pids.max"), "16");
      if (ctrl === "cpuacct" && (await readNumber(path.join(probe, "cpuacct.usage"))) === null) {
        throw new Error("cpuacct.usage is unreadable");
      }
      parents.set(ctrl, parent);
    } catch (err) {
      unusable.set(ctrl, `cannot use ${parent}: ${(err as Error).message}`);
    } finally {
      await rmdir(probe).catch(() => undefined);
    }
  }
  return { parents, unusable };
}

/**
 * Removes empty groups left by a Gantry process that is gone (`gantry-<pid>-…` whose pid is not
 * alive) and their empty attempt groups.
 */
async function removeStaleGroups(base: string): Promise<void> {
  const entries = await readdir(base).catch(() => [] as string[]);
  for (const e of entries) {
    const m = /^gantry-(\d+)(-[0-9a-f]+)?$/.exec(e);
    if (!m || existsSync(`/proc/${m[1]}`)) continue;
    const dir = path.join(base, e);
    for (const child of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (child.isDirectory()) await rmdir(path.join(dir, child.name)).catch(() => undefined);
    }
    await rmdir(dir).catch(() => undefined);
  }
}

export async function tearDownCgroups(setup: CgroupSetup): Promise<void> {
  for (const parent of setup.parents.values()) await rmdir(parent).catch(() => undefined);
}

export interface CgroupStats {
  oomKills: number;
  refusedForks: number;
  cpuSeconds: number | null;
  peakMemoryBytes: number | null;
}

/** The groups of one attempt. */
export class AttemptCgroup {
  private constructor(readonly dirs: Map<Controller, string>) {}

  static async create(
    setup: CgroupSetup,
    name: string,
    limits: { memoryBytes: number; processes: number },
  ): Promise<AttemptCgroup> {
    const dirs = new Map<Controller, string>();
    const group = new AttemptCgroup(dirs);
    try {
      for (const [ctrl, parent] of setup.parents) {
        const dir = path.join(parent, name);
        await mkdir(dir);
        dirs.set(ctrl, dir);
        if (ctrl === "memory") {
          await writeValue(path.join(dir, "memory.limit_in_bytes"), String(limits.memoryBytes));
          // No swap beyond the limit, where swap accounting exists.
          const memsw = path.join(dir, "memory.memsw.limit_in_bytes");
          if (existsSync(memsw)) await writeValue(memsw, String(limits.memoryBytes)).catch(() => undefined);
        }
        if (ctrl === "pids") await writeValue(path.join(dir, "pids.max"), String(limits.processes));
      }
    } catch (err) {
      await group.remove();
      throw err;
    }
    return group;
  }

  has(ctrl: Controller): boolean {
    return this.dirs.has(ctrl);
  }

  /** `cgroup.procs` files a process must be written to, to join this attempt. */
  procsFiles(): string[] {
    return [...this.dirs.values()].map((d) => path.join(d, "cgroup.procs"));
  }

  /**
   * Lets processes of `uid` move themselves into this group (the unsandboxed path starts as the
   * attempt's uid and joins before exec). Harmless: leaving would need write access to another
   * group's cgroup.procs.
   */
  async allowJoinBy(uid: number, gid: number): Promise<void> {
    for (const file of this.procsFiles()) await chown(file, uid, gid);
  }

  /** pids still in the group (any controller; they all hold the same processes). */
  async pids(): Promise<number[]> {
    const dir = this.dirs.get("pids") ?? this.dirs.values().next().value;
    if (dir === undefined) return [];
    try {
      const text = await readFile(path.join(dir, "cgroup.procs"), "utf8");
      return text
        .split("\n")
        .filter((l) => l !== "")
        .map(Number);
    } catch {
      return [];
    }
  }

  async stats(): Promise<CgroupStats> {
    const mem = this.dirs.get("memory");
    const pids = this.dirs.get("pids");
    const cpu = this.dirs.get("cpuacct");
    const [oomKills, refusedForks, cpuNs, peak] = await Promise.all([
      mem ? readKeyed(path.join(mem, "memory.oom_control"), "oom_kill") : null,
      pids ? readKeyed(path.join(pids, "pids.events"), "max") : null,
      cpu ? readNumber(path.join(cpu, "cpuacct.usage")) : null,
      mem ? readNumber(path.join(mem, "memory.max_usage_in_bytes")) : null,
    ]);
    return {
      oomKills: oomKills ?? 0,
      refusedForks: refusedForks ?? 0,
      cpuSeconds: cpuNs === null ? null : cpuNs / 1e9,
      peakMemoryBytes: peak,
    };
  }

  /** Removes the groups; they must be empty (retries briefly while the last tasks are released). */
  async remove(): Promise<void> {
    for (const dir of this.dirs.values()) {
      for (let i = 0; ; i++) {
        try {
          await rmdir(dir);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT" || i >= 80) break;
          await new Promise((r) => setTimeout(r, i < 30 ? 1 : 20));
        }
      }
    }
  }
}
