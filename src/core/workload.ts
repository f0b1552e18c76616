/**
 * What a user asks to run. A workload is immutable once accepted; each execution of it is a Run.
 * Kinds so far: `job` (a command in a sandbox or container) and `submission` (code graded by
 * running it: a job whose command is Gantry's runner, see submission-spec.ts); `match` and
 * `manifest` arrive with their issues.
 */

import type { RunState } from "./run-state.ts";
import type { SubmissionSpec } from "./submission-spec.ts";

export const WORKLOAD_KINDS = ["job", "submission"] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** Resource limits of one attempt. Every field is always set once a run is accepted. */
export interface Limits {
  /** CPU time, seconds (RLIMIT_CPU locally; the container's CPU limit on Kubernetes is separate). */
  cpuSeconds: number;
  /** Wall-clock time, seconds; exceeding it ends the attempt as `timed_out`. */
  wallSeconds: number;
  /** Memory, MiB. */
  memoryMB: number;
  /** Processes/threads the workload may have at once. */
  processes: number;
  /** stdout + stderr bytes kept; past it the attempt fails with `output_limit`. */
  outputBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  cpuSeconds: 10,
  wallSeconds: 60,
  memoryMB: 512,
  processes: 64,
  outputBytes: 1024 * 1024,
};

/** Hard ceilings an operator can lower in config; a request above them is refused, not clamped. */
export const MAX_LIMITS: Readonly<Limits> = {
  cpuSeconds: 3600,
  wallSeconds: 6 * 3600,
  memoryMB: 16 * 1024,
  processes: 4096,
  outputBytes: 64 * 1024 * 1024,
};

export interface InputFile {
  /** Relative path inside the work directory; no `..`, no absolute paths. */
  path: string;
  /** File contents, UTF-8 text or base64 (see `encoding`). */
  content: string;
  encoding?: "utf8" | "base64";
  /** Make the file executable. */
  executable?: boolean;
}

export interface JobSpec {
  /** argv: command[0] is looked up on PATH inside the sandbox/container. */
  command: string[];
  env: Record<string, string>;
  files: InputFile[];
  /** Container image on Kubernetes; ignored by the local executor. */
  image?: string;
  limits: Limits;
  /** Kind `submission` only: what the runner grades (the command is then `gantry runner`). */
  submission?: SubmissionSpec;
  /**
   * How the run token reaches the workload: env GANTRY_RUN_TOKEN (default), or a file named by
   * GANTRY_RUN_TOKEN_FILE that the workload reads and deletes first. A runner that runs untrusted
   * code as its own user takes the file: the token then never passes through a process (such as
   * the sandbox's init) whose memory that code could read.
   */
  runTokenDelivery?: "env" | "file";
  /**
   * One more environment variable that receives the run token, besides GANTRY_RUN_TOKEN (or its
   * file): for runner images that read it under their own name, such as the Cloudemy runner's
   * INTERNAL_RESULT_TOKEN. Set by Gantry's adapters, never by a /v1 request. On Kubernetes it comes
   * from the run's Secret like GANTRY_RUN_TOKEN.
   */
  runTokenEnv?: string;
}

export interface Workload {
  id: string;
  kind: WorkloadKind;
  owner: string;
  spec: JobSpec;
  createdAt: Date;
}

export interface Run {
  id: string;
  workloadId: string;
  kind: WorkloadKind;
  owner: string;
  state: RunState;
  /** Monotonic; each (re)launch is a new attempt. Executors name their resources by it. */
  attempt: number;
  /** Attempts that ended failed/timed_out (crash-lost attempts don't count). */
  failures: number;
  maxAttempts: number;
  priority: number;
  /** Why the run is in its state, e.g. "exit_code 1", "memory_limit". */
  reason: string | null;
  exitCode: number | null;
  executor: string | null;
  /** Not dispatched before this time (retry backoff). */
  notBefore: Date;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface RunEvent {
  seq: number;
  runId: string;
  attempt: number;
  from: RunState | null;
  to: RunState;
  reason: string;
  at: Date;
}

export type LogStream = "stdout" | "stderr" | "system";

export interface LogLine {
  /** Position within the run's log, increasing across attempts; for `after` cursors. */
  seq: number;
  attempt: number;
  stream: LogStream;
  at: Date;
  /** One line without its newline (a very long line is split into several). */
  text: string;
}

export interface RunResult {
  status: string;
  score: number | null;
  failTags: string[];
  feedback: { case: string; message: string }[];
  metrics: Record<string, number>;
  artifacts: Record<string, unknown>;
}
