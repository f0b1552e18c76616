/**
 * Follows a run's log stream to its end, printing stdout lines to stdout and everything else to
 * stderr. Reconnects from the last line seen when the connection drops (a server restart), so no
 * line is printed twice or skipped.
 */

import type { GantryClient } from "./client.ts";
import type { CommandIO } from "./main.ts";

export interface RunSummary {
  id: string;
  state: string;
  reason: string | null;
  exitCode: number | null;
}

interface LogLineView {
  seq: number;
  stream: string;
  text: string;
  attempt: number;
}

export async function followRun(
  client: GantryClient,
  io: CommandIO,
  runId: string,
  opts: { after?: number; tail?: number; json?: boolean; maxReconnects?: number } = {},
): Promise<RunSummary | null> {
  let after = opts.after ?? 0;
  let first = true;
  let end: RunSummary | null = null;
  const maxReconnects = opts.maxReconnects ?? 120;
  for (let reconnects = 0; end === null; reconnects++) {
    const query = first && opts.tail !== undefined ? `tail=${opts.tail}` : `after=${after}`;
    first = false;
    try {
      await client.stream(`/v1/runs/${runId}/logs?follow=true&${query}`, (event, data) => {
        if (event === "log") {
          const line = data as LogLineView;
          after = line.seq;
          if (opts.json) io.stdout.write(JSON.stringify(line) + "\n");
          else (line.stream === "stdout" ? io.stdout : io.stderr).write(line.text + "\n");
        } else if (event === "end") {
          end = data as RunSummary;
        }
      });
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status !== undefined && status !== 0 && status < 500) throw err;
      if (reconnects >= maxReconnects) throw err;
    }
    if (end === null) await new Promise((r) => setTimeout(r, Math.min(500 * (reconnects + 1), 5000)));
  }
  return end;
}
