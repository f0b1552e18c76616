/**
 * Kind `submission`: source code graded by running it against test cases. Turns a request (already
 * shape-checked by the API schema) into the immutable spec a run executes. Pure; every refusal
 * names the field.
 *
 * A submission workload is stored as a `JobSpec` whose command is Gantry's own runner
 * (src/runner/, bundled into one file) and whose `submission` field holds the grading spec. So every
 * executor runs it like any job (the Kubernetes executor uses the language's image), and the
 * runner reads the grading spec from its payload (`/v1/internal/runs/{id}/payload`): the cases'
 * expected outputs never touch the sandbox's filesystem.
 */

import { GantryError } from "./errors.ts";
import { resolveLimits, unsafeRelativePath } from "./job-spec.ts";
import { resolveLanguageName, type LanguageDefinition, type LanguageTable } from "./languages.ts";
import { DEFAULT_LIMITS, MAX_LIMITS, type JobSpec, type Limits } from "./workload.ts";

export type CompareMode = "exact" | "trailing_whitespace" | "tokens" | "numeric";

export type CompareSpec =
  | { mode: CompareMode; tolerance?: number }
  | {
      mode: "checker";
      /** Files of the checker program, written under `.checker/` in the work directory. */
      files: { path: string; content: string }[];
      /** argv run (in `.checker/`) with three more arguments: input, expected and actual output files;
       * exit 0 accepts, 1 is a wrong answer (its stdout is the message), anything else a checker error. */
      command: string[];
    };

export interface TestCase {
  name: string;
  stdin: string;
  expectedStdout: string;
  /** CPU-time limit, ms (the wall-clock limit is twice this plus a second). */
  timeLimitMs: number;
  memoryMB: number;
  weight: number;
  /**
   * A hidden case: its feedback never quotes the expected output (a wrong answer says only that it
   * is one). Whatever this says, the cases' inputs and expected outputs are grading material that
   * only admins read back through the API (see `gradingMaterialView`).
   */
  hidden?: boolean;
}

export interface LlmReviewSpec {
  /** Extra instructions for the reviewer (e.g. the task statement). */
  instructions?: string;
}

export interface SubmissionSpec {
  language: string;
  /** The language row this submission was accepted with. */
  toolchain: LanguageDefinition;
  /** Sources; the first is the entry point (`{main}`). */
  files: { path: string; content: string }[];
  cases: TestCase[];
  compare: CompareSpec;
  /** stdout+stderr bytes one case may write; past it the case is `output_limit`. */
  caseOutputBytes: number;
  llmReview?: LlmReviewSpec;
}

export interface SubmissionRequest {
  language: string;
  files: { path: string; content: string }[];
  cases: {
    name?: string;
    stdin?: string;
    expectedStdout: string;
    timeLimitMs?: number;
    memoryMB?: number;
    weight?: number;
    hidden?: boolean;
  }[];
  compare?: {
    mode: string;
    tolerance?: number;
    files?: { path: string; content: string }[];
    command?: string[];
  };
  caseOutputBytes?: number;
  limits?: Partial<Limits>;
  image?: string;
  llmReview?: LlmReviewSpec | boolean;
}

export const SUBMISSION_CAPS = {
  files: 50,
  /** All source files together, bytes. */
  sourceBytes: 512 * 1024,
  cases: 200,
  /** stdin + expected stdout of all cases together, bytes. */
  caseBytes: 16 * 1024 * 1024,
  timeLimitMs: 30_000,
  memoryMB: 2048,
  caseOutputBytes: 64 * 1024 * 1024,
} as const;

export const CASE_DEFAULTS = { timeLimitMs: 2000, memoryMB: 256, weight: 1, caseOutputBytes: 1024 * 1024 };

/** Where the bundled runner (src/runner/main.ts) is bound inside a sandbox, read-only. */
export const SANDBOX_RUNNER_PATH = "/opt/gantry/gantry-runner.mjs";

/**
 * Where an execute-only Node binary is bound for the runner: running under a binary it cannot read
 * makes the runner non-dumpable, so the submission it runs cannot read its token or memory.
 */
export const SANDBOX_RUNNER_NODE = "/opt/gantry/node";

/** argv that starts the runner: the bundle at `path` (`gantry runner` from source does the same). */
export function runnerCommand(path: string = SANDBOX_RUNNER_PATH): string[] {
  return [SANDBOX_RUNNER_NODE, path];
}

/** Memory the runner itself (Node + its sources) needs besides what it runs, MiB. */
export const RUNNER_MEMORY_MB = 256;
/** Wall time the runner needs besides compiling and the cases: start, payload, result. */
const RUNNER_WALL_MS = 15_000;
/** Wall time a requested LLM review gets: the server's default LLM timeout (30 s) and a margin. */
export const LLM_REVIEW_WALL_MS = 35_000;
const DEFAULT_COMPILE_MEMORY_MB = 512;
export const COMPILE_TIME_LIMIT_MS = 30_000;

const invalid = (msg: string) => new GantryError("GANTRY_ERR_VALIDATION", [msg]);

export function normalizeSubmission(
  request: SubmissionRequest,
  languages: Readonly<LanguageTable>,
  ceilings: Limits = MAX_LIMITS,
): JobSpec & { submission: SubmissionSpec } {
  const language = resolveLanguageName(languages, request.language);
  if (language === null) {
    throw invalid(
      `unknown language '${request.language.slice(0, 40)}'; known: ${Object.keys(languages).sort().join(", ")}`,
    );
  }
  const toolchain = languages[language] as LanguageDefinition;

  const files = request.files;
  if (files.length === 0) throw invalid("files must hold at least one source file");
  if (files.length > SUBMISSION_CAPS.files)
    throw invalid(`at most ${SUBMISSION_CAPS.files} source files are allowed, got ${files.length}`);
  let sourceBytes = 0;
  const seen = new Set<string>();
  for (const file of files) {
    const problem = unsafeRelativePath(file.path);
    if (problem !== null) throw invalid(`file path '${file.path.slice(0, 300)}' ${problem}`);
    if (file.path === ".checker" || file.path.startsWith(".checker/") || file.path.startsWith(".gantry"))
      throw invalid(`file path '${file.path}' is reserved`);
    if (seen.has(file.path)) throw invalid(`file path '${file.path}' appears twice`);
    seen.add(file.path);
    if (file.content.includes("\0")) throw invalid(`file '${file.path}' contains a NUL byte`);
    sourceBytes += Buffer.byteLength(file.content, "utf8");
  }
  if (files.every((f) => f.content.trim() === "")) throw invalid("the submitted code is empty");
  if (sourceBytes > SUBMISSION_CAPS.sourceBytes)
    throw invalid(`source files total ${sourceBytes} bytes; the limit is ${SUBMISSION_CAPS.sourceBytes}`);

  if (request.cases.length === 0) throw invalid("cases must hold at least one test case");
  if (request.cases.length > SUBMISSION_CAPS.cases)
    throw invalid(`at most ${SUBMISSION_CAPS.cases} test cases are allowed, got ${request.cases.length}`);
  let caseBytes = 0;
  const names = new Set<string>();
  const cases: TestCase[] = request.cases.map((c, i) => {
    const name = c.name ?? `case-${i + 1}`;
    if (name === "" || name.length > 100) throw invalid(`cases[${i}].name must be 1 to 100 characters`);
    if (names.has(name)) throw invalid(`case name '${name}' appears twice`);
    names.add(name);
    const stdin = c.stdin ?? "";
    caseBytes += Buffer.byteLength(stdin, "utf8") + Buffer.byteLength(c.expectedStdout, "utf8");
    const timeLimitMs = c.timeLimitMs ?? CASE_DEFAULTS.timeLimitMs;
    const memoryMB = c.memoryMB ?? CASE_DEFAULTS.memoryMB;
    const weight = c.weight ?? CASE_DEFAULTS.weight;
    if (!Number.isInteger(timeLimitMs) || timeLimitMs < 1 || timeLimitMs > SUBMISSION_CAPS.timeLimitMs)
      throw invalid(`cases[${i}].timeLimitMs must be an integer from 1 to ${SUBMISSION_CAPS.timeLimitMs}`);
    if (!Number.isInteger(memoryMB) || memoryMB < 16 || memoryMB > SUBMISSION_CAPS.memoryMB)
      throw invalid(`cases[${i}].memoryMB must be an integer from 16 to ${SUBMISSION_CAPS.memoryMB}`);
    if (!(typeof weight === "number" && Number.isFinite(weight) && weight >= 0 && weight <= 1e6))
      throw invalid(`cases[${i}].weight must be a number from 0 to 1000000`);
    return {
      name,
      stdin,
      expectedStdout: c.expectedStdout,
      timeLimitMs,
      memoryMB,
      weight,
      ...(c.hidden === true ? { hidden: true } : {}),
    };
  });
  if (caseBytes > SUBMISSION_CAPS.caseBytes)
    throw invalid(`test cases total ${caseBytes} bytes; the limit is ${SUBMISSION_CAPS.caseBytes}`);
  if (cases.every((c) => c.weight === 0)) throw invalid("at least one case must have a weight above 0");

  // The image is the runner's (on Kubernetes): one the submitter picked could grade itself — read
  // the expected outputs from its payload and post any score. So only the table's images are
  // allowed; operators add a row for another one.
  if (request.image !== undefined && !Object.values(languages).some((row) => row.image === request.image))
    throw invalid(
      `image '${request.image.slice(0, 200)}' is not one of the language table's runner images; ask the operator to add a language row for it`,
    );
  const compare = normalizeCompare(request.compare);
  const caseOutputBytes = request.caseOutputBytes ?? CASE_DEFAULTS.caseOutputBytes;
  if (
    !Number.isInteger(caseOutputBytes) ||
    caseOutputBytes < 1 ||
    caseOutputBytes > SUBMISSION_CAPS.caseOutputBytes
  )
    throw invalid(`caseOutputBytes must be an integer from 1 to ${SUBMISSION_CAPS.caseOutputBytes}`);

  const submission: SubmissionSpec = {
    language,
    toolchain: structuredClone(toolchain),
    files: files.map((f) => ({ path: f.path, content: f.content })),
    cases,
    compare,
    caseOutputBytes,
    ...(request.llmReview === undefined || request.llmReview === false
      ? {}
      : { llmReview: request.llmReview === true ? {} : { ...request.llmReview } }),
  };
  const limits = resolveLimits(request.limits ?? {}, submissionRunLimits(submission, ceilings), ceilings);
  const needMB = RUNNER_MEMORY_MB + Math.max(...cases.map((c) => c.memoryMB));
  if (limits.memoryMB < needMB)
    throw invalid(
      `limits.memoryMB must be at least ${needMB} (the runner plus the largest case) for these cases`,
    );
  return {
    command: runnerCommand(),
    env: {},
    files: [],
    image: request.image ?? toolchain.image,
    limits,
    submission,
    runTokenDelivery: "file",
  };
}

function normalizeCompare(raw: SubmissionRequest["compare"]): CompareSpec {
  if (raw === undefined) return { mode: "trailing_whitespace" };
  if (raw.mode === "checker") {
    const files = raw.files ?? [];
    const command = raw.command ?? [];
    if (command.length === 0 || command.some((a) => a === "" || a.includes("\0")))
      throw invalid("compare.command must be a non-empty argv of non-empty strings");
    for (const f of files) {
      const problem = unsafeRelativePath(f.path);
      if (problem !== null) throw invalid(`compare.files path '${f.path.slice(0, 300)}' ${problem}`);
    }
    return {
      mode: "checker",
      files: files.map((f) => ({ path: f.path, content: f.content })),
      command: [...command],
    };
  }
  if (!["exact", "trailing_whitespace", "tokens", "numeric"].includes(raw.mode))
    throw invalid(
      `compare.mode '${raw.mode}' is not one of exact, trailing_whitespace, tokens, numeric, checker`,
    );
  if (raw.tolerance !== undefined) {
    if (raw.mode !== "numeric") throw invalid("compare.tolerance applies to mode 'numeric' only");
    if (!(Number.isFinite(raw.tolerance) && raw.tolerance >= 0))
      throw invalid("compare.tolerance must be >= 0");
    return { mode: "numeric", tolerance: raw.tolerance };
  }
  return raw.mode === "numeric" ? { mode: "numeric", tolerance: 1e-6 } : { mode: raw.mode as CompareMode };
}

/**
 * Limits of the whole run, derived from the cases: the runner's own memory plus the largest of
 * compile and case memory (with headroom, since a case's memory is watched by polling), and wall
 * time for compiling, every case at its wall limit, and the runner itself. Clamped to `ceilings`.
 */
export function submissionRunLimits(spec: SubmissionSpec, ceilings: Limits = MAX_LIMITS): Limits {
  const maxCaseMB = Math.max(...spec.cases.map((c) => c.memoryMB));
  const compileMB =
    spec.toolchain.compile === undefined ? 0 : (spec.toolchain.compileMemoryMB ?? DEFAULT_COMPILE_MEMORY_MB);
  const memoryMB = RUNNER_MEMORY_MB + Math.max(compileMB, Math.ceil(maxCaseMB * 1.25) + 64);
  const startup = spec.toolchain.startupMs ?? 0;
  const casesWallMs = spec.cases.reduce((sum, c) => sum + caseWallMs(c.timeLimitMs + startup) + 200, 0);
  const compileMs = spec.toolchain.compile === undefined ? 0 : COMPILE_TIME_LIMIT_MS;
  const checkerMs = spec.compare.mode === "checker" ? spec.cases.length * 10_000 : 0;
  const reviewMs = spec.llmReview === undefined ? 0 : LLM_REVIEW_WALL_MS;
  const wallMs = RUNNER_WALL_MS + compileMs + casesWallMs + checkerMs + reviewMs;
  const cpuMs = 10_000 + compileMs + spec.cases.reduce((s, c) => s + c.timeLimitMs + startup + 1000, 0);
  const limits: Limits = {
    cpuSeconds: Math.ceil(cpuMs / 1000),
    wallSeconds: Math.ceil(wallMs / 1000),
    memoryMB,
    processes: 64 + (spec.toolchain.processes ?? 16) * 2,
    outputBytes: DEFAULT_LIMITS.outputBytes,
  };
  for (const key of Object.keys(limits) as (keyof Limits)[])
    limits[key] = Math.min(limits[key], ceilings[key]);
  return limits;
}

/** Wall-clock limit of a case with CPU-time limit `cpuMs`: I/O and scheduling get slack. */
export function caseWallMs(cpuMs: number): number {
  return cpuMs * 2 + 1000;
}

/**
 * What a reader who may not see the grading material is shown of a spec: a submission's cases keep
 * their name, limits, weight and `hidden` flag, but their input and expected output become byte
 * counts, and a checker's files keep only their paths and sizes (`redacted: true` says so). The
 * submitted sources, the language row and the limits stay. Other specs are returned as they are.
 */
export interface RedactedSubmission extends Omit<SubmissionSpec, "cases" | "compare"> {
  redacted: true;
  cases: (Omit<TestCase, "stdin" | "expectedStdout" | "hidden"> & {
    hidden: boolean;
    stdinBytes: number;
    expectedStdoutBytes: number;
  })[];
  compare:
    | { mode: CompareMode; tolerance?: number }
    | { mode: "checker"; command: string[]; files: { path: string; bytes: number }[] };
}

export type SpecView = JobSpec | (Omit<JobSpec, "submission"> & { submission: RedactedSubmission });

export function gradingMaterialView(spec: JobSpec): SpecView {
  const submission = spec.submission;
  if (submission === undefined) return spec;
  const bytes = (text: string) => Buffer.byteLength(text, "utf8");
  const compare =
    submission.compare.mode === "checker"
      ? {
          mode: "checker" as const,
          command: [...submission.compare.command],
          files: submission.compare.files.map((f) => ({ path: f.path, bytes: bytes(f.content) })),
        }
      : { ...submission.compare };
  return {
    ...spec,
    submission: {
      ...submission,
      redacted: true as const,
      cases: submission.cases.map((c) => ({
        name: c.name,
        timeLimitMs: c.timeLimitMs,
        memoryMB: c.memoryMB,
        weight: c.weight,
        hidden: c.hidden === true,
        stdinBytes: bytes(c.stdin),
        expectedStdoutBytes: bytes(c.expectedStdout),
      })),
      compare,
    },
  };
}
