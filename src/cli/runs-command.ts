/** `gantry runs [ID]`, `gantry logs ID [-f]`, `gantry cancel ID`: look at and steer runs. */

import type { Command } from "./main.ts";
import {
  intOption,
  parseCommandArgs,
  runClientCommand,
  table,
  UsageError,
  writeJson,
} from "./command-kit.ts";
import { followRun } from "./follow.ts";

interface RunView {
  id: string;
  state: string;
  reason: string | null;
  owner: string;
  attempt: number;
  createdAt: string;
  spec?: { command: string[] };
}

const RUNS_HELP = `usage: gantry runs [ID] [--state S[,S...]] [--limit N] [--cursor C] [--json]

Lists runs, newest first (a submitter sees only its own), or shows one run with its result.
`;

export const runsCommand: Command = async (argv, io) =>
  runClientCommand(io, RUNS_HELP, async (client) => {
    const { values, positionals } = parseCommandArgs(argv, {
      state: { type: "string" },
      limit: { type: "string" },
      cursor: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout.write(RUNS_HELP);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError("give at most one run id");
    const id = positionals[0];
    if (id !== undefined) {
      const run = await client.request<RunView & Record<string, unknown>>(
        "GET",
        `/v1/runs/${encodeURIComponent(id)}`,
      );
      if (values.json) writeJson(io, run);
      else
        io.stdout.write(
          table(
            Object.entries(run)
              .filter(([k]) => k !== "spec")
              .map(([k, v]) => [k, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)]),
          ),
        );
      return 0;
    }
    const limit = intOption(values.limit, "limit", 1, 500);
    const query = new URLSearchParams();
    if (values.state !== undefined) query.set("state", values.state);
    if (limit !== undefined) query.set("limit", String(limit));
    if (values.cursor !== undefined) query.set("cursor", values.cursor);
    const page = await client.request<{ runs: RunView[]; nextCursor: string | null }>(
      "GET",
      `/v1/runs?${query}`,
    );
    if (values.json) {
      writeJson(io, page);
      return 0;
    }
    const rows = [["ID", "STATE", "REASON", "OWNER", "ATTEMPT", "CREATED"]];
    for (const r of page.runs)
      rows.push([r.id, r.state, r.reason ?? "", r.owner, String(r.attempt), r.createdAt]);
    io.stdout.write(table(rows));
    if (page.nextCursor !== null) io.stderr.write(`more: gantry runs --cursor ${page.nextCursor}\n`);
    return 0;
  });

const LOGS_HELP = `usage: gantry logs ID [-f|--follow] [--tail N] [--json]
       gantry logs ID --pod [-f] [--tail N] [--since 5m | --since-time RFC3339] [--container C]
                         [--previous] [--attempt N] [--limit-bytes N] [--timestamps]

Prints a run's log (stdout to stdout, stderr and Gantry's notes to stderr). --follow streams new
lines until the run ends.

--pod reads the log of the run's Kubernetes pod straight from the API server (as kubectl logs
does) while the pod exists; without it, Gantry's archived copy, which outlives the pod.
`;

export const logsCommand: Command = async (argv, io) =>
  runClientCommand(io, LOGS_HELP, async (client) => {
    const { values, positionals } = parseCommandArgs(argv, {
      follow: { type: "boolean", short: "f" },
      tail: { type: "string" },
      json: { type: "boolean" },
      pod: { type: "boolean" },
      container: { type: "string" },
      previous: { type: "boolean" },
      since: { type: "string" },
      "since-time": { type: "string" },
      attempt: { type: "string" },
      "limit-bytes": { type: "string" },
      timestamps: { type: "boolean" },
    });
    if (values.help) {
      io.stdout.write(LOGS_HELP);
      return 0;
    }
    const id = positionals[0];
    if (id === undefined || positionals.length > 1) throw new UsageError("give exactly one run id");
    const tail = intOption(values.tail, "tail", 0, 100_000);
    const podOnly = [
      "container",
      "previous",
      "since",
      "since-time",
      "attempt",
      "limit-bytes",
      "timestamps",
    ] as const;
    if (values.pod !== true) {
      const given = podOnly.filter((k) => values[k] !== undefined);
      if (given.length > 0) throw new UsageError(`--${given.join(", --")} need --pod`);
    } else {
      if (values.json) throw new UsageError("--pod prints the pod's log as it is; --json does not apply");
      const query = new URLSearchParams();
      if (values.follow) query.set("follow", "true");
      if (tail !== undefined) query.set("tail", String(tail));
      if (values.since !== undefined) {
        if (!/^[0-9]{1,7}[smh]$/.test(values.since))
          throw new UsageError(
            `--since takes a duration such as 30s, 5m or 2h, not ${JSON.stringify(values.since)}`,
          );
        query.set("since", values.since);
      }
      if (values["since-time"] !== undefined) query.set("sinceTime", values["since-time"]);
      if (values.container !== undefined) query.set("container", values.container);
      if (values.previous) query.set("previous", "true");
      if (values.timestamps) query.set("timestamps", "true");
      const attempt = intOption(values.attempt, "attempt", 1, 999_999);
      if (attempt !== undefined) query.set("attempt", String(attempt));
      const limitBytes = intOption(values["limit-bytes"], "limit-bytes", 1, 64 * 1024 * 1024);
      if (limitBytes !== undefined) query.set("limitBytes", String(limitBytes));
      await client.copyText(`/v1/runs/${encodeURIComponent(id)}/pod-log?${query}`, io.stdout);
      return 0;
    }
    const path = `/v1/runs/${encodeURIComponent(id)}/logs`;
    if (values.follow) {
      await followRun(client, io, id, {
        ...(tail === undefined ? {} : { tail }),
        json: values.json === true,
      });
      return 0;
    }
    type Page = { lines: { seq: number; stream: string; text: string }[]; next: number };
    let page = await client.request<Page>(
      "GET",
      `${path}?${tail === undefined ? "after=0" : `tail=${tail}`}&limit=10000`,
    );
    for (;;) {
      for (const line of page.lines) {
        if (values.json) io.stdout.write(JSON.stringify(line) + "\n");
        else (line.stream === "stdout" ? io.stdout : io.stderr).write(line.text + "\n");
      }
      if (page.lines.length < 10000) return 0;
      page = await client.request<Page>("GET", `${path}?after=${page.next}&limit=10000`);
    }
  });

const CANCEL_HELP = `usage: gantry cancel ID

Cancels a queued or running run.
`;

export const cancelCommand: Command = async (argv, io) =>
  runClientCommand(io, CANCEL_HELP, async (client) => {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: "boolean" } });
    if (values.help) {
      io.stdout.write(CANCEL_HELP);
      return 0;
    }
    const id = positionals[0];
    if (id === undefined || positionals.length > 1) throw new UsageError("give exactly one run id");
    const run = await client.request<RunView>("POST", `/v1/runs/${encodeURIComponent(id)}/cancel`);
    if (values.json) writeJson(io, run);
    else io.stdout.write(`${run.id} ${run.state}\n`);
    return 0;
  });
