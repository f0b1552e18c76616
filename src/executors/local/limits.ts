/**
 * rlimits applied to every attempt with util-linux `prlimit` (they are inherited through
 * bubblewrap by every process of the workload). Pure: builds argv only.
 *
 *   RLIMIT_CPU    soft = cpuSeconds (SIGXCPU), hard = soft + 1 (SIGKILL) — per process
 *   RLIMIT_AS     memoryMB, only when no memory cgroup enforces memory (address space is a poor
 *                 proxy: runtimes that reserve large virtual ranges fail under it)
 *   RLIMIT_NPROC  processes + the sandbox's own 2 (bubblewrap monitor + its pid-1), counted per
 *                 uid — meaningful because each attempt has its own uid; not enforced for root.
 *                 With a pids cgroup (exact) it is only a backstop and gets some slack.
 *   RLIMIT_FSIZE  largest file the workload may write
 *   RLIMIT_NOFILE open files
 *   RLIMIT_CORE   0 (no core dumps in the work directory)
 */

import type { Limits } from "../../core/workload.ts";

/** Processes bubblewrap itself keeps in the attempt (outer monitor + pid 1 of the namespace). */
export const SANDBOX_OVERHEAD_PROCESSES = 2;
/** RLIMIT_NPROC slack when a pids cgroup enforces the exact process limit. */
export const NPROC_SLACK_WITH_PIDS_CGROUP = 16;

export interface RlimitOptions {
  /** Set RLIMIT_AS to the memory limit (when no memory cgroup is available). */
  memoryViaAddressSpace: boolean;
  /** Set RLIMIT_NPROC (only meaningful for a dedicated non-root uid). */
  nproc: boolean;
  /**
   * Extra processes to allow besides `limits.processes`: the sandbox's own two, plus slack when a
   * pids cgroup enforces the exact limit (RLIMIT_NPROC also counts a previous attempt's not yet
   * reaped zombies of the same uid).
   */
  overheadProcesses: number;
  fileSizeBytes: number;
  openFiles: number;
}

export function prlimitArgs(limits: Limits, options: RlimitOptions): string[] {
  const cpu = Math.max(1, Math.ceil(limits.cpuSeconds));
  const args = [
    `--cpu=${cpu}:${cpu + 1}`,
    `--core=0`,
    `--fsize=${options.fileSizeBytes}`,
    `--nofile=${options.openFiles}`,
  ];
  if (options.memoryViaAddressSpace) args.push(`--as=${limits.memoryMB * 1024 * 1024}`);
  if (options.nproc) args.push(`--nproc=${limits.processes + options.overheadProcesses}`);
  return args;
}
