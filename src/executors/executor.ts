/**
 * Where runs execute. `local` runs sandboxed processes on this machine; `kubernetes` runs Jobs.
 * The dispatcher hands an executor one attempt at a time; the executor reports what happens to it
 * through the `ExecutorSink` it was built with. It never touches the store itself.
 */

import type { Readable } from "node:stream";
import type { JobSpec, LogStream } from "../core/workload.ts";

export interface LaunchRequest {
  runId: string;
  attempt: number;
  owner: string;
  spec: JobSpec;
  /**
   * Plain per-run token the workload uses for `/v1/internal/runs/{id}/…`; given only here. Every
   * executor exposes to the workload: GANTRY_RUN_ID, GANTRY_ATTEMPT, GANTRY_API_URL and
   * GANTRY_RUN_TOKEN (locally as env; on Kubernetes the token comes from a per-run Secret).
   */
  runToken: string;
  /** Base URL of Gantry's API as seen from inside the workload (may be unreachable locally). */
  apiUrl: string;
}

/** States an executor may report for an attempt it launched. */
export type ExecutorState = "pending" | "running" | "succeeded" | "failed" | "timed_out";

export interface AttemptUpdate {
  runId: string;
  attempt: number;
  state: ExecutorState;
  /**
   * Why, in the shared vocabulary: `exit_code N`, `signal SIGKILL`, `memory_limit`, `cpu_time_limit`,
   * `output_limit`, `wall_time_limit`, `process_limit`, `sandbox_error: …`, `started`, …
   */
  reason: string;
  exitCode?: number | null;
}

export interface ExecutorLogLine {
  runId: string;
  attempt: number;
  stream: LogStream;
  at: Date;
  text: string;
}

export interface ExecutorSink {
  /** Called in order for each attempt; the returned promise resolves once recorded. */
  update(update: AttemptUpdate): Promise<void>;
  /** Lines in order per stream; the sink batches writes. */
  log(line: ExecutorLogLine): void;
}

export interface Executor {
  readonly name: string;
  /** Checks the environment (e.g. bubblewrap present); throws a GantryError with a clear message. */
  start(): Promise<void>;
  /**
   * Starts the attempt. Idempotent: launching an attempt that is already running does nothing.
   * Resolves once the attempt has been handed off (not when it ends).
   */
  launch(request: LaunchRequest): Promise<void>;
  /** Stops the attempt if it is running; resolves when it is gone. Unknown attempts are ignored. */
  cancel(runId: string, attempt: number): Promise<void>;
  /** Attempts this executor is running now, as `${runId}/${attempt}` keys. */
  activeAttempts(): Promise<Set<string>>;
  /**
   * Takes up the attempts whose resources exist but that it does not track yet — launched by
   * another process of this Gantry before this one became the dispatcher (Kubernetes: Jobs created
   * after this executor started). The reconciler calls it first. Returns how many it took up.
   */
  resync?(): Promise<number>;
  /**
   * Attempts whose end is reported but whose resources are still being released (Kubernetes: Jobs
   * without Complete/Failed yet). They still occupy the platform, so they count against the run cap.
   */
  windingDown?(): number;
  /**
   * How many more attempts it can take now, when it has a cap of its own besides the dispatcher's
   * (Kubernetes: unfinished Jobs in the runs namespace). Absent: no cap of its own.
   */
  capacity?(): number;
  /**
   * Resources that carry Gantry's marks but belong to no attempt this executor knows (Kubernetes:
   * Gantry-labelled Jobs of another Gantry, or whose run annotation is missing). For the reconciler.
   */
  strayResources?(): StrayResource[];
  /** Deletes a stray resource by name (the reconciler, when configured to). */
  deleteStrayResource?(name: string): Promise<void>;
  /**
   * The log as the platform itself keeps it while the attempt's resources exist (Kubernetes:
   * `pods/log`, with its options). Executors whose logs live only in the store have none.
   */
  openLiveLog?(runId: string, attempt: number, options: LiveLogOptions): Promise<LiveLog>;
  /** Stops every attempt it started and releases resources. */
  shutdown(): Promise<void>;
}

export interface LiveLogOptions {
  /** Default: the workload's own container. */
  container?: string;
  follow?: boolean;
  /** The previous instance of the container (after a restart). */
  previous?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** RFC 3339. */
  sinceTime?: string;
  limitBytes?: number;
  timestamps?: boolean;
}

export interface LiveLog {
  /** Where it comes from, e.g. `pod gantry-runs/gantry-…-1-x7k2p, container main`. */
  source: string;
  /** The log bytes as the platform sends them. */
  stream: Readable;
  /** Ends the stream (a followed log never ends by itself while the container runs). */
  close(): void;
}

export interface StrayResource {
  /** e.g. `Job gantry-runs/gantry-…`. */
  description: string;
  name: string;
  /** The run and attempt its labels name, when they do. */
  runId: string | null;
  attempt: number | null;
}

export function attemptKey(runId: string, attempt: number): string {
  return `${runId}/${attempt}`;
}
