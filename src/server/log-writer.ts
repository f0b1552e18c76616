/**
 * Batches log lines from executors into the store: lines are buffered per attempt and written in
 * order, at most every `intervalMs`, so a chatty workload costs a few inserts a second, not one per
 * line. `flushAll()` resolves once every line received so far is stored; the run
 * recorder calls it before recording a terminal state, so a finished run's log is complete.
 */

import type { LogChunkInput, Store } from "../store/store.ts";
import type { ExecutorLogLine } from "../executors/executor.ts";

export class LogWriter {
  private readonly buffers = new Map<string, { runId: string; attempt: number; lines: LogChunkInput[] }>();
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void,
    private readonly intervalMs = 50,
    private readonly maxBatch = 1000,
  ) {}

  add(line: ExecutorLogLine): void {
    const key = `${line.runId}/${line.attempt}`;
    let buffer = this.buffers.get(key);
    if (buffer === undefined) {
      buffer = { runId: line.runId, attempt: line.attempt, lines: [] };
      this.buffers.set(key, buffer);
    }
    buffer.lines.push({ stream: line.stream, at: line.at, text: line.text });
    if (buffer.lines.length >= this.maxBatch) void this.flushAll();
    else this.timer ??= setTimeout(() => void this.flushAll(), this.intervalMs);
  }

  /** Resolves when every line buffered so far (for any run) has been written. */
  flushAll(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batches = [...this.buffers.values()];
    this.buffers.clear();
    this.writing = this.writing.then(async () => {
      for (const batch of batches) {
        try {
          await this.store.appendLogs(batch.runId, batch.attempt, batch.lines);
        } catch (err) {
          this.onError(err);
        }
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    await this.flushAll();
  }
}
