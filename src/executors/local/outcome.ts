/**
 * Maps what was observed about a finished attempt to the state and reason the executor reports.
 * Pure: no I/O, no clock. Every branch is unit-tested in `outcome.test.ts`.
 */

import { constants as osConstants } from "node:os";
import type { ExecutorState } from "../executor.ts";

/** Why the executor itself ended an attempt (a limit it enforces by killing). */
export type KillCause =
  "wall_time_limit" | "output_limit" | "cpu_time_limit" | "memory_limit" | "process_limit";

export interface AttemptObservation {
  /** The workload's own process was started (bubblewrap reported its child, or the bare spawn worked). */
  started: boolean;
  /** Why it did not start (bubblewrap's message, spawn error, bad spec). Used only when !started. */
  setupError?: string | undefined;
  /** Exit status of the outermost process we spawned, if it exited normally. */
  exitCode: number | null;
  /** Signal that ended the outermost process, if any. */
  signal: string | null;
  /**
   * The outermost process is bubblewrap, which turns "the workload died of signal N" into exit code
   * 128+N. With this set, exit codes 129…192 are read as signals (so a program that itself calls
   * `exit(139)` is reported as `signal SIGSEGV`; the shell has the same ambiguity).
   */
  viaSandbox: boolean;
  /** The executor killed the attempt because of this limit. */
  killedFor: KillCause | null;
  /** The memory cgroup's OOM killer killed a process of the attempt. */
  oomKilled: boolean;
  /** A fork/clone was refused because of the process limit (cgroup pids.events). */
  processLimitHit: boolean;
  /** CPU seconds used by the whole attempt, when measured (cgroup cpuacct). */
  cpuSecondsUsed: number | null;
  cpuLimitSeconds: number;
  /**
   * Without a memory cgroup, a failed attempt whose stderr showed an allocation failure
   * (MemoryError, "Cannot allocate memory", std::bad_alloc, …) under RLIMIT_AS. Heuristic.
   */
  allocationFailureSeen: boolean;
  /**
   * Without a pids cgroup, a failed attempt whose stderr showed a refused fork ("Cannot fork",
   * "Resource temporarily unavailable") under RLIMIT_NPROC. Heuristic.
   */
  forkFailureSeen?: boolean;
}

export interface Outcome {
  state: Extract<ExecutorState, "succeeded" | "failed" | "timed_out">;
  reason: string;
  exitCode: number | null;
}

/** Number → name, keeping the first (canonical) name of aliases: SIGABRT, not SIGIOT. */
const SIGNAL_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, num] of Object.entries(osConstants.signals)) if (!names.has(num)) names.set(num, name);
  return names;
})();

/** `SIGSEGV` for 11; `signal 99` style fallback for numbers without a name. */
export function signalName(num: number): string {
  return SIGNAL_NAMES.get(num) ?? `SIG${num}`;
}

/** The signal that ended the workload, if it was one. */
export function workloadSignal(
  obs: Pick<AttemptObservation, "exitCode" | "signal" | "viaSandbox">,
): string | null {
  if (obs.signal !== null) return obs.signal;
  if (obs.viaSandbox && obs.exitCode !== null && obs.exitCode > 128 && obs.exitCode <= 128 + 64) {
    return signalName(obs.exitCode - 128);
  }
  return null;
}

export function mapOutcome(obs: AttemptObservation): Outcome {
  const failed = (reason: string): Outcome => ({ state: "failed", reason, exitCode: null });
  // Limits the executor enforced by killing come first: they are certain, and they explain the
  // SIGKILL the workload died of.
  switch (obs.killedFor) {
    case "wall_time_limit":
      return { state: "timed_out", reason: "wall_time_limit", exitCode: null };
    case "output_limit":
    case "memory_limit":
    case "process_limit":
    case "cpu_time_limit":
      return failed(obs.killedFor);
    case null:
      break;
  }
  if (!obs.started) return failed(`sandbox_error: ${obs.setupError ?? "the workload did not start"}`);
  // A limit the kernel enforced. Exceeding one fails the attempt even if the program recovered.
  if (obs.oomKilled) return failed("memory_limit");
  const sig = workloadSignal(obs);
  const cpuSpent = obs.cpuSecondsUsed !== null && obs.cpuSecondsUsed >= obs.cpuLimitSeconds;
  if (sig === "SIGXCPU" || (sig === "SIGKILL" && cpuSpent)) return failed("cpu_time_limit");
  if (obs.processLimitHit) return failed("process_limit");
  // RLIMIT_FSIZE: writing past the largest allowed file raises SIGXFSZ.
  if (sig === "SIGXFSZ") return failed("file_size_limit");
  const exitedBadly = sig !== null || (obs.exitCode !== null && obs.exitCode !== 0);
  if (exitedBadly && obs.allocationFailureSeen) return failed("memory_limit");
  if (exitedBadly && obs.forkFailureSeen === true) return failed("process_limit");
  if (sig !== null) return failed(`signal ${sig}`);
  if (obs.exitCode === 0) return { state: "succeeded", reason: "exit_code 0", exitCode: 0 };
  if (obs.exitCode !== null)
    return { state: "failed", reason: `exit_code ${obs.exitCode}`, exitCode: obs.exitCode };
  return failed("sandbox_error: the process ended without an exit status");
}
