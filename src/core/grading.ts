/**
 * Grading, pure: comparing a case's output with the expected one (with a short diff), turning how a
 * case's process ended into a verdict, and scoring a submission from its case verdicts.
 *
 * Verdict order when several apply: output_limit, memory_limit, time_limit, runtime_error, then
 * the comparison (accepted / wrong_answer). Score: the accepted cases' share of the total weight,
 * 0–100 with two decimals. The overall status is `accepted` when every case is, `compile_error`
 * when the code did not compile, else the verdict of the first case that failed (Judge0 and
 * Codeforces style: "wrong answer on case 3").
 */

import type { CompareMode } from "./submission-spec.ts";

export const VERDICTS = [
  "accepted",
  "wrong_answer",
  "time_limit",
  "memory_limit",
  "runtime_error",
  "output_limit",
  "compile_error",
  "checker_error",
  "skipped",
] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface Comparison {
  ok: boolean;
  /** Short human-readable difference when not ok. */
  diff: string;
}

const SHOWN = 60;

function show(s: string | undefined): string {
  if (s === undefined) return "end of output";
  const t = JSON.stringify(s.length > SHOWN ? `${s.slice(0, SHOWN)}…` : s);
  return t;
}

function lines(text: string): string[] {
  const out = text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((l) => l.trimEnd());
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

function tokens(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== "");
}

function firstDifference<T>(expected: T[], actual: T[], same: (a: T, b: T) => boolean): number {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (i >= expected.length || i >= actual.length) return i;
    if (!same(expected[i] as T, actual[i] as T)) return i;
  }
  return -1;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function numbersClose(expected: string, actual: string, tolerance: number): boolean {
  if (expected === actual) return true;
  if (!NUMBER.test(expected) || !NUMBER.test(actual)) return false;
  const e = Number(expected);
  const a = Number(actual);
  const delta = Math.abs(e - a);
  return delta <= tolerance || delta <= tolerance * Math.abs(e);
}

/** Compares actual stdout with the expected one in `mode`. */
export function compareOutput(
  expected: string,
  actual: string,
  mode: CompareMode,
  tolerance = 1e-6,
): Comparison {
  if (mode === "exact") {
    if (expected === actual) return { ok: true, diff: "" };
    let i = 0;
    while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
    const line = expected.slice(0, i).split("\n").length;
    return {
      ok: false,
      diff: `line ${line}, character ${i + 1}: expected ${show(expected.slice(i, i + SHOWN) || undefined)}, got ${show(actual.slice(i, i + SHOWN) || undefined)}`,
    };
  }
  if (mode === "trailing_whitespace") {
    const e = lines(expected);
    const a = lines(actual);
    const i = firstDifference(e, a, (x, y) => x === y);
    if (i < 0) return { ok: true, diff: "" };
    return { ok: false, diff: `line ${i + 1}: expected ${show(e[i])}, got ${show(a[i])}` };
  }
  const e = tokens(expected);
  const a = tokens(actual);
  const same =
    mode === "numeric"
      ? (x: string, y: string) => numbersClose(x, y, tolerance)
      : (x: string, y: string) => x === y;
  const i = firstDifference(e, a, same);
  if (i < 0) return { ok: true, diff: "" };
  const extra = mode === "numeric" ? ` (tolerance ${tolerance})` : "";
  return { ok: false, diff: `token ${i + 1}: expected ${show(e[i])}, got ${show(a[i])}${extra}` };
}

/** How one case's process ended, as the runner measured it. */
export interface CaseExecution {
  exitCode: number | null;
  signal: string | null;
  cpuMs: number;
  wallMs: number;
  /** Peak resident memory, KiB. */
  memoryKB: number;
  /** Why the runner killed it, if it did. */
  killedFor: "wall_time" | "cpu_time" | "memory" | "output" | null;
  /** stdout + stderr bytes written (counted past the cap). */
  outputBytes: number;
  stderr: string;
}

export interface CaseLimits {
  cpuMs: number;
  memoryMB: number;
  outputBytes: number;
}

const ALLOCATION_FAILURE =
  /MemoryError|std::bad_alloc|java\.lang\.OutOfMemoryError|JavaScript heap out of memory|Cannot allocate memory|out of memory/i;

/** The verdict of a case from how it ended, before comparing output (null: it ended normally). */
export function executionVerdict(
  run: CaseExecution,
  limits: CaseLimits,
): { verdict: Exclude<Verdict, "accepted" | "wrong_answer">; message: string } | null {
  if (run.killedFor === "output" || run.outputBytes > limits.outputBytes || run.signal === "SIGXFSZ") {
    return { verdict: "output_limit", message: `output exceeded ${limits.outputBytes} bytes` };
  }
  const peakMB = run.memoryKB / 1024;
  const failedRun = run.exitCode !== 0 || run.signal !== null;
  if (
    run.killedFor === "memory" ||
    peakMB > limits.memoryMB ||
    (failedRun && (peakMB > limits.memoryMB * 0.9 || ALLOCATION_FAILURE.test(run.stderr)))
  ) {
    return {
      verdict: "memory_limit",
      message: `memory limit ${limits.memoryMB} MB exceeded (peak ${peakMB.toFixed(1)} MB)`,
    };
  }
  if (
    run.killedFor === "wall_time" ||
    run.killedFor === "cpu_time" ||
    run.signal === "SIGXCPU" ||
    run.cpuMs > limits.cpuMs
  ) {
    const which = run.killedFor === "wall_time" ? "wall-clock" : "CPU";
    return {
      verdict: "time_limit",
      message: `${which} time limit exceeded (limit ${limits.cpuMs} ms CPU; used ${run.cpuMs} ms CPU, ${run.wallMs} ms wall)`,
    };
  }
  if (run.signal !== null)
    return { verdict: "runtime_error", message: `killed by signal ${run.signal}${stderrTail(run.stderr)}` };
  if (run.exitCode !== 0)
    return {
      verdict: "runtime_error",
      message: `exit code ${String(run.exitCode)}${stderrTail(run.stderr)}`,
    };
  return null;
}

function stderrTail(stderr: string): string {
  const t = stderr.trim();
  if (t === "") return "";
  const tail = t.length > 300 ? `…${t.slice(-300)}` : t;
  return `: ${tail}`;
}

export interface CaseVerdict {
  name: string;
  verdict: Verdict;
  weight: number;
  message: string;
}

export interface Grade {
  status: string;
  score: number;
  failTags: string[];
}

/** Weighted score 0–100 (two decimals), overall status and the failing verdicts as tags. */
export function gradeCases(cases: readonly CaseVerdict[]): Grade {
  const total = cases.reduce((s, c) => s + c.weight, 0);
  const passed = cases.filter((c) => c.verdict === "accepted").reduce((s, c) => s + c.weight, 0);
  const score = total > 0 ? Math.round((passed / total) * 10_000) / 100 : 0;
  const failing = cases.filter((c) => c.verdict !== "accepted");
  const failTags = [...new Set(failing.map((c) => c.verdict))].sort();
  const status = failing.length === 0 ? "accepted" : (failing[0] as CaseVerdict).verdict;
  return { status, score, failTags };
}
