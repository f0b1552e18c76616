/**
 * `gantry runner`: the program inside a submission's sandbox (or pod).
 *
 *   payload (run token; retries with backoff) → write sources into the work directory → compile
 *   once → each case: run under limits, verdict, compare → score → LLM review, when the payload
 *   says so (asked of Gantry's server, which holds the key) → post the result (retries with backoff)
 *
 * The result is always posted when the API is reachable: a compile error, a case the runner could
 * not start and a deadline that comes near (remaining cases `skipped`, status `timeout`) are all
 * results. Exit code 0 means "graded and reported" — the run then `succeeded` whatever the verdicts
 * (the grade is in the result); non-zero means the runner could not grade or report, and the run
 * `failed`.
 *
 * Submitted programs get an environment of their own (no run token) and run as separate sessions
 * that are wiped after each case; see case-process.ts.
 */

import { readFileSync, rmSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  compareOutput,
  executionVerdict,
  gradeCases,
  type CaseVerdict,
  type Verdict,
} from "../core/grading.ts";
import { expandCommand } from "../core/languages.ts";
import { mergeReview, type LlmReviewDecision } from "../core/llm-review.ts";
import {
  COMPILE_TIME_LIMIT_MS,
  caseWallMs,
  type SubmissionSpec,
  type TestCase,
} from "../core/submission-spec.ts";
import type { JobSpec, RunResult } from "../core/workload.ts";
import { runLimited, type ProcessRun } from "./case-process.ts";
import { internalApi, payloadWithRetry, postWithRetry } from "./internal-api.ts";
import { reviewThroughGantry } from "./llm-review.ts";

export type RunnerResult = Omit<RunResult, "artifacts"> & { artifacts: Record<string, unknown> };

interface RunnerIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Time kept back from the run's wall limit to report before the executor's deadline. */
const REPORT_RESERVE_MS = 5000;
/** How long the payload is retried for (a pod's network may come up a little after it starts). */
const PAYLOAD_RETRY_MS = 20_000;
const MAX_FEEDBACK = 65_000;

/**
 * The run token, from GANTRY_RUN_TOKEN or from the file GANTRY_RUN_TOKEN_FILE names — which is
 * deleted at once, before any submitted code runs as this same user and could read it.
 */
function takeRunToken(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GANTRY_RUN_TOKEN !== undefined) return env.GANTRY_RUN_TOKEN;
  const file = env.GANTRY_RUN_TOKEN_FILE;
  if (file === undefined) return undefined;
  try {
    const token = readFileSync(file, "utf8").trim();
    return token === "" ? undefined : token;
  } catch {
    return undefined;
  } finally {
    rmSync(file, { force: true });
  }
}

export async function runnerCommand(_argv: string[], io: RunnerIO): Promise<number> {
  const started = Date.now();
  const { env } = io;
  const runId = env.GANTRY_RUN_ID;
  const token = takeRunToken(env);
  if (runId === undefined || token === undefined) {
    io.stderr.write(
      "gantry runner: GANTRY_RUN_ID and GANTRY_RUN_TOKEN (or GANTRY_RUN_TOKEN_FILE) must be set (it runs inside a Gantry run)\n",
    );
    return 2;
  }
  // Nothing the runner starts inherits the token (programs get programEnv()), and it leaves ours.
  delete process.env.GANTRY_RUN_TOKEN;
  const api = internalApi({ runId, token, socketPath: env.GANTRY_API_SOCKET, apiUrl: env.GANTRY_API_URL });
  let spec: JobSpec;
  let review: LlmReviewDecision;
  try {
    const payload = (await payloadWithRetry(api, started + PAYLOAD_RETRY_MS)) as {
      spec: JobSpec;
      llmReview?: LlmReviewDecision;
    };
    spec = payload.spec;
    review = payload.llmReview ?? "none";
  } catch (err) {
    io.stderr.write(`gantry runner: could not fetch the payload: ${(err as Error).message}\n`);
    return 1;
  }
  const submission = spec.submission;
  const deadline = started + spec.limits.wallSeconds * 1000 - REPORT_RESERVE_MS;
  let result: RunnerResult;
  if (submission === undefined) {
    result = internalError("the payload holds no submission");
  } else {
    try {
      result = await grade(submission, process.cwd(), deadline, io);
      if (review === "review") {
        // Up to the report's own reserve: posting the result must still fit.
        result = await reviewThroughGantry(api, result, started + spec.limits.wallSeconds * 1000 - 3000, io);
      } else if (review === "disabled") {
        result = mergeReview(result, { outcome: "disabled" });
      }
    } catch (err) {
      result = internalError((err as Error).message);
    }
  }
  io.stdout.write(`result: ${result.status}, score ${String(result.score)}\n`);
  const status = await postWithRetry(api, result, started + spec.limits.wallSeconds * 1000 - 1000);
  if (status >= 200 && status < 300) return result.status === "internal_error" ? 1 : 0;
  io.stderr.write(`gantry runner: posting the result failed (HTTP ${status || "unreachable"})\n`);
  return 1;
}

function internalError(message: string): RunnerResult {
  return {
    status: "internal_error",
    score: 0,
    failTags: ["internal_error"],
    feedback: [{ case: "runner", message: message.slice(0, MAX_FEEDBACK) }],
    metrics: {},
    artifacts: {},
  };
}

/** Writes the sources, compiles, runs every case; the result to post. */
export async function grade(
  spec: SubmissionSpec,
  workDir: string,
  deadline: number,
  io: { stdout: NodeJS.WritableStream },
): Promise<RunnerResult> {
  const toolchain = spec.toolchain;
  for (const file of spec.files) await writeInside(workDir, file.path, file.content);
  const main = (spec.files[0] as { path: string }).path;
  const sources = spec.files
    .map((f) => f.path)
    .filter((p) => toolchain.extensions.some((ext) => p.endsWith(ext)));
  const vars = { main, sources: sources.length > 0 ? sources : [main] };

  const compileArgv = toolchain.compile;
  let compileMs = 0;
  if (compileArgv !== undefined) {
    const memoryMB = toolchain.compileMemoryMB ?? 512;
    const compileLimitMs = Math.min(COMPILE_TIME_LIMIT_MS, Math.max(1000, deadline - Date.now() - 1000));
    const compiled = await runLimited(
      expandCommand(compileArgv, { ...vars, memoryMB }),
      "",
      {
        cpuMs: compileLimitMs,
        wallMs: compileLimitMs,
        memoryMB,
        outputBytes: 256 * 1024,
        processes: 64,
        fileSizeBytes: 256 * 1024 * 1024,
      },
      workDir,
    );
    compileMs = compiled.wallMs;
    io.stdout.write(`compile: exit ${String(compiled.exitCode)} in ${compiled.wallMs} ms\n`);
    if (compiled.exitCode !== 0 || compiled.killedFor !== null) {
      const why =
        compiled.killedFor === null && compiled.signal === null
          ? `compiler exited with ${String(compiled.exitCode)}`
          : `compiler stopped (${compiled.killedFor ?? compiled.signal ?? "?"})`;
      const output = `${compiled.stdout}${compiled.stderr}`.trim();
      return {
        status: "compile_error",
        score: 0,
        failTags: ["compile_error"],
        feedback: [{ case: "compile", message: `${why}\n${tail(output, 8000)}`.trim() }],
        metrics: { timeMs: 0, memoryMB: 0, compileMs },
        artifacts: { cases: [] },
      };
    }
  }

  const verdicts: (CaseVerdict & { timeMs: number; memoryMB: number })[] = [];
  let outOfTime = false;
  for (const c of spec.cases) {
    const cpuMs = c.timeLimitMs + (toolchain.startupMs ?? 0);
    if (outOfTime || Date.now() + caseWallMs(cpuMs) > deadline) {
      outOfTime = true;
      verdicts.push({
        name: c.name,
        verdict: "skipped",
        weight: c.weight,
        message: "not run: the run's time ran out",
        timeMs: 0,
        memoryMB: 0,
      });
      continue;
    }
    const run = await runLimited(
      expandCommand(toolchain.run, { ...vars, memoryMB: c.memoryMB }),
      c.stdin,
      {
        cpuMs,
        wallMs: caseWallMs(cpuMs),
        memoryMB: c.memoryMB,
        outputBytes: spec.caseOutputBytes,
        processes: toolchain.processes ?? 16,
        fileSizeBytes: Math.max(16 * 1024 * 1024, spec.caseOutputBytes),
      },
      workDir,
    );
    const judged = await judgeCase(spec, c, run, cpuMs, workDir);
    const { verdict } = judged;
    const message = c.hidden === true ? concealed(judged) : judged.message;
    io.stdout.write(
      `case ${c.name}: ${verdict} (${run.cpuMs} ms CPU, ${(run.memoryKB / 1024).toFixed(1)} MB)\n`,
    );
    verdicts.push({
      name: c.name,
      verdict,
      weight: c.weight,
      message,
      timeMs: run.cpuMs,
      memoryMB: Math.round((run.memoryKB / 1024) * 10) / 10,
    });
  }
  const grade = gradeCases(verdicts);
  const status = outOfTime ? "timeout" : grade.status;
  const failTags = outOfTime ? [...new Set([...grade.failTags, "timeout"])].sort() : grade.failTags;
  return {
    status,
    score: grade.score,
    failTags,
    feedback: verdicts
      .filter((v) => v.verdict !== "accepted")
      .map((v) => ({
        case: v.name.slice(0, 256),
        message: `${v.verdict}: ${v.message}`.slice(0, MAX_FEEDBACK),
      })),
    metrics: {
      timeMs: Math.max(0, ...verdicts.map((v) => v.timeMs)),
      memoryMB: Math.max(0, ...verdicts.map((v) => v.memoryMB)),
      compileMs,
      cases: verdicts.length,
      passed: verdicts.filter((v) => v.verdict === "accepted").length,
    },
    artifacts: {
      cases: verdicts.map((v) => ({
        name: v.name,
        verdict: v.verdict,
        timeMs: v.timeMs,
        memoryMB: v.memoryMB,
        weight: v.weight,
      })),
    },
  };
}

async function judgeCase(
  spec: SubmissionSpec,
  c: TestCase,
  run: ProcessRun,
  cpuMs: number,
  workDir: string,
): Promise<{ verdict: Verdict; message: string }> {
  const failed = executionVerdict(run, { cpuMs, memoryMB: c.memoryMB, outputBytes: spec.caseOutputBytes });
  if (failed !== null) return failed;
  const compare = spec.compare;
  if (compare.mode !== "checker") {
    const result = compareOutput(c.expectedStdout, run.stdout, compare.mode, compare.tolerance);
    return result.ok
      ? { verdict: "accepted", message: "" }
      : { verdict: "wrong_answer", message: result.diff };
  }
  // The checker's files are rewritten for every case: the submission may have touched them.
  const dir = path.join(workDir, ".checker");
  await rm(dir, { recursive: true, force: true });
  for (const f of compare.files) await writeInside(dir, f.path, f.content);
  await writeInside(dir, ".input", c.stdin);
  await writeInside(dir, ".expected", c.expectedStdout);
  await writeInside(dir, ".actual", run.stdout);
  const checked = await runLimited(
    [...compare.command, ".input", ".expected", ".actual"],
    "",
    {
      cpuMs: 5000,
      wallMs: 10_000,
      memoryMB: 512,
      outputBytes: 64 * 1024,
      processes: 16,
      fileSizeBytes: 1 << 20,
    },
    dir,
  );
  await rm(dir, { recursive: true, force: true });
  const said = (checked.stdout || checked.stderr).trim().slice(0, 2000);
  if (checked.exitCode === 0) return { verdict: "accepted", message: "" };
  if (checked.exitCode === 1)
    return { verdict: "wrong_answer", message: said || "the checker rejected the output" };
  return {
    verdict: "checker_error",
    message: `checker failed (${checked.signal ?? `exit ${String(checked.exitCode)}`}): ${said}`,
  };
}

/**
 * The message of a hidden case's verdict: nothing that could quote its expected output (a diff, a
 * checker's words). Limits and crashes say only what the submission itself did, so they stay.
 */
function concealed(judged: { verdict: Verdict; message: string }): string {
  if (judged.verdict === "wrong_answer") return "the output differs from the expected output (hidden case)";
  if (judged.verdict === "checker_error") return "the checker failed on this hidden case";
  return judged.message;
}

/** Writes `content` at `rel` under `root`, creating directories; never follows a link out of it. */
async function writeInside(root: string, rel: string, content: string): Promise<void> {
  const target = path.resolve(root, rel);
  if (!target.startsWith(path.resolve(root) + path.sep))
    throw new Error(`path '${rel}' leaves the work directory`);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, content, { flag: "wx", mode: 0o644 });
}

function tail(text: string, max: number): string {
  return text.length > max ? `…${text.slice(-max)}` : text;
}
