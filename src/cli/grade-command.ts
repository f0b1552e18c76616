/**
 * `gantry grade --language L --source FILE… --cases DIR [--wait]`: queue a `submission` run that
 * compiles the sources and runs them against the cases in DIR (`NAME.in` / `NAME.out` pairs; see
 * the README), optionally waiting for the verdicts.
 */

import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Command, CommandIO } from "./main.ts";
import type { GantryClient } from "./client.ts";
import {
  intOption,
  parseCommandArgs,
  runClientCommand,
  table,
  UsageError,
  writeJson,
} from "./command-kit.ts";

const HELP = `usage: gantry grade --language LANG --source FILE [--source FILE…] --cases DIR [options]

Queues source code to be compiled and run against test cases in the sandbox. The first --source
is the entry point; each is sent under its file name. DIR holds the cases as pairs NAME.in (stdin,
optional) and NAME.out (expected stdout), run in natural name order. With --wait, prints each case's
verdict and the score, and exits 0 when every case is accepted, 1 otherwise.

options:
  --language LANG      python, javascript, c, cpp, java (or a language the server adds)
  --source FILE        a source file (repeatable)
  --cases DIR          directory of NAME.in / NAME.out pairs
  --compare MODE       exact | trailing_whitespace (default) | tokens | numeric
  --tolerance X        numeric mode: absolute or relative tolerance (default 1e-6)
  --time-limit MS      CPU-time limit per case (default 2000)
  --memory MIB         memory limit per case (default 256)
  --llm-review         also ask the configured LLM for a review (additive)
  --wait               wait for the verdicts
  --json               print the run as JSON (with --wait: the final run with its result)
`;

const MAX_SOURCE_BYTES = 512 * 1024;

interface GradeResult {
  status: string;
  score: number | null;
  failTags: string[];
  feedback: { case: string; message: string }[];
  metrics: Record<string, number>;
  artifacts: { cases?: { name: string; verdict: string; timeMs: number; memoryMB: number }[] };
}
interface RunWithResult {
  id: string;
  state: string;
  reason: string | null;
  result?: GradeResult | null;
}

/** Case pairs of `dir`: NAME.out files with their optional NAME.in, in natural order. */
export async function readCaseDirectory(
  dir: string,
): Promise<{ name: string; stdin: string; expectedStdout: string }[]> {
  const entries = await readdir(dir).catch(() => {
    throw new UsageError(`--cases: '${dir}' is not a readable directory`);
  });
  const names = entries
    .filter((e) => e.endsWith(".out"))
    .map((e) => e.slice(0, -4))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const orphans = entries.filter((e) => e.endsWith(".in") && !names.includes(e.slice(0, -3)));
  if (orphans.length > 0) throw new UsageError(`--cases: ${orphans.join(", ")} ha(s) no matching .out file`);
  if (names.length === 0) throw new UsageError(`--cases: '${dir}' holds no NAME.out files`);
  return Promise.all(
    names.map(async (name) => ({
      name,
      stdin: entries.includes(`${name}.in`) ? await readFile(join(dir, `${name}.in`), "utf8") : "",
      expectedStdout: await readFile(join(dir, `${name}.out`), "utf8"),
    })),
  );
}

export const gradeCommand: Command = async (argv, io) =>
  runClientCommand(io, HELP, async (client) => {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        language: { type: "string", short: "l" },
        source: { type: "string", short: "s", multiple: true },
        cases: { type: "string", short: "c" },
        compare: { type: "string" },
        tolerance: { type: "string" },
        "time-limit": { type: "string" },
        memory: { type: "string" },
        "llm-review": { type: "boolean" },
        wait: { type: "boolean" },
        json: { type: "boolean" },
      },
      false,
    );
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    void positionals;
    if (values.language === undefined) throw new UsageError("--language is required");
    if (values.source === undefined || values.source.length === 0)
      throw new UsageError("give at least one --source FILE");
    if (values.cases === undefined) throw new UsageError("--cases DIR is required");
    const files = [];
    for (const local of values.source) {
      const info = await stat(local).catch(() => null);
      if (info === null || !info.isFile())
        throw new UsageError(`--source: '${local}' is not a readable file`);
      if (info.size > MAX_SOURCE_BYTES)
        throw new UsageError(`--source: '${local}' is larger than ${MAX_SOURCE_BYTES} bytes`);
      files.push({ path: basename(local), content: await readFile(local, "utf8") });
    }
    const timeLimitMs = intOption(values["time-limit"], "time-limit", 1, 30_000);
    const memoryMB = intOption(values.memory, "memory", 16, 2048);
    const cases = (await readCaseDirectory(values.cases)).map((c) => ({
      ...c,
      ...(timeLimitMs === undefined ? {} : { timeLimitMs }),
      ...(memoryMB === undefined ? {} : { memoryMB }),
    }));
    let compare: { mode: string; tolerance?: number } | undefined;
    if (values.compare !== undefined || values.tolerance !== undefined) {
      const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
      if (tolerance !== undefined && !(Number.isFinite(tolerance) && tolerance >= 0))
        throw new UsageError(`--tolerance must be a number >= 0, got '${values.tolerance ?? ""}'`);
      compare = {
        mode: values.compare ?? "numeric",
        ...(tolerance === undefined ? {} : { tolerance }),
      };
    }
    const body = {
      kind: "submission",
      language: values.language,
      files,
      cases,
      ...(compare === undefined ? {} : { compare }),
      ...(values["llm-review"] ? { llmReview: true } : {}),
    };
    const run = await client.request<RunWithResult>("POST", "/v1/runs", body);
    if (!values.wait) {
      if (values.json) writeJson(io, run);
      else io.stdout.write(`${run.id}\n`);
      return 0;
    }
    io.stderr.write(`gantry: submission ${run.id} queued (${cases.length} cases)\n`);
    const final = await waitForResult(client, run.id);
    if (values.json) {
      writeJson(io, final);
    } else {
      printVerdicts(io, final);
    }
    return final.result?.status === "accepted" ? 0 : 1;
  });

async function waitForResult(client: GantryClient, id: string): Promise<RunWithResult> {
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    const run = await client.request<RunWithResult>("GET", `/v1/runs/${id}`);
    if (["succeeded", "failed", "timed_out", "cancelled"].includes(run.state)) return run;
    await new Promise((r) => setTimeout(r, delay));
  }
}

function printVerdicts(io: CommandIO, run: RunWithResult): void {
  const r = run.result;
  if (r === null || r === undefined) {
    io.stdout.write(
      `run ${run.id} ${run.state}${run.reason ? `: ${run.reason}` : ""}; no result was reported\n`,
    );
    return;
  }
  const messages = new Map(r.feedback.map((f) => [f.case, f.message]));
  const rows = [["CASE", "VERDICT", "TIME", "MEMORY"]];
  for (const c of r.artifacts.cases ?? []) {
    rows.push([c.name, c.verdict, `${c.timeMs} ms`, `${c.memoryMB} MB`]);
  }
  if (rows.length > 1) io.stdout.write(table(rows));
  for (const [name, message] of messages) io.stdout.write(`\n${name}: ${message}\n`);
  io.stdout.write(
    `\n${r.status} · score ${String(r.score)}/100${r.failTags.length > 0 ? ` · ${r.failTags.join(", ")}` : ""}\n`,
  );
}
