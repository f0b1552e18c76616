/** `gantry submit [options] -- COMMAND [ARGS…]`: queue a job run, optionally wait for it and stream its logs. */

import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import type { Command } from "./main.ts";
import { intOption, parseCommandArgs, runClientCommand, UsageError, writeJson } from "./command-kit.ts";
import { followRun, type RunSummary } from "./follow.ts";

const HELP = `usage: gantry submit [options] -- COMMAND [ARGS...]

Queues COMMAND as a run. With --wait, streams its output and exits 0 when it succeeded, 1 when it
did not (printing the state and reason).

options:
  --wait               wait for the run to end, streaming its logs
  --cpu SECONDS        CPU-time limit
  --timeout SECONDS    wall-time limit
  --memory MIB         memory limit
  --processes N        process/thread limit
  --output BYTES       stdout+stderr limit
  --env NAME=VALUE     environment variable (repeatable)
  --file PATH[=LOCAL]  copy LOCAL (default: PATH) into the work directory as PATH (repeatable)
  --image IMAGE        container image (Kubernetes executor)
  --priority N         higher runs first (-1000..1000, default 0)
  --max-attempts N     retry a failed run up to N attempts in all (1..10, default 1)
  --json               print the run as JSON (with --wait: the final run)
`;

const MAX_FILE_BYTES = 2 * 1024 * 1024;

export const submitCommand: Command = async (argv, io) =>
  runClientCommand(io, HELP, async (client) => {
    const { values, positionals } = parseCommandArgs(argv, {
      wait: { type: "boolean" },
      cpu: { type: "string" },
      timeout: { type: "string" },
      memory: { type: "string" },
      processes: { type: "string" },
      output: { type: "string" },
      env: { type: "string", multiple: true },
      file: { type: "string", multiple: true },
      image: { type: "string" },
      priority: { type: "string" },
      "max-attempts": { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError("give the command to run after --, e.g. gantry submit -- sh -c 'echo hi'");
    const env: Record<string, string> = {};
    for (const pair of values.env ?? []) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new UsageError(`--env takes NAME=VALUE, got '${pair}'`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    const files = [];
    for (const spec of values.file ?? []) {
      const eq = spec.indexOf("=");
      const local = eq < 0 ? spec : spec.slice(eq + 1);
      const path = eq < 0 ? basename(spec) : spec.slice(0, eq);
      const info = await stat(local).catch(() => null);
      if (info === null || !info.isFile()) throw new UsageError(`--file: '${local}' is not a readable file`);
      if (info.size > MAX_FILE_BYTES)
        throw new UsageError(`--file: '${local}' is larger than ${MAX_FILE_BYTES} bytes`);
      const bytes = await readFile(local);
      const text = bytes.toString("utf8");
      const isText = Buffer.from(text, "utf8").equals(bytes);
      files.push({
        path,
        content: isText ? text : bytes.toString("base64"),
        encoding: isText ? "utf8" : "base64",
        executable: (info.mode & 0o111) !== 0,
      });
    }
    const limits = Object.fromEntries(
      Object.entries({
        cpuSeconds: intOption(values.cpu, "cpu", 1, 1e9),
        wallSeconds: intOption(values.timeout, "timeout", 1, 1e9),
        memoryMB: intOption(values.memory, "memory", 1, 1e9),
        processes: intOption(values.processes, "processes", 1, 1e9),
        outputBytes: intOption(values.output, "output", 1, 1e12),
      }).filter(([, v]) => v !== undefined),
    );
    const priority = intOption(values.priority, "priority", -1000, 1000);
    const body = {
      command: positionals,
      env,
      files,
      limits,
      ...(values.image === undefined ? {} : { image: values.image }),
      ...(priority === undefined ? {} : { priority }),
      ...(values["max-attempts"] === undefined
        ? {}
        : { maxAttempts: intOption(values["max-attempts"], "max-attempts", 1, 10) }),
    };
    const run = await client.request<RunSummary>("POST", "/v1/runs", body);
    if (!values.wait) {
      if (values.json) writeJson(io, run);
      else io.stdout.write(`${run.id}\n`);
      return 0;
    }
    io.stderr.write(`gantry: run ${run.id} queued\n`);
    const end = await followRun(client, io, run.id);
    const final = end ?? run;
    if (values.json) writeJson(io, final);
    if (final.state === "succeeded") return 0;
    io.stderr.write(`gantry: run ${final.id} ${final.state}${final.reason ? `: ${final.reason}` : ""}\n`);
    return 1;
  });
