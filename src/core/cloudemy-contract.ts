/**
 * The Cloudemy wire contract (../shared/CONTRACTS.md §2) as pure functions: its status words, the
 * shapes of its answers, its result body, and how a Cloudemy submission becomes a Gantry
 * `submission` spec. The HTTP adapter (src/server/http/compat/cloudemy-routes.ts) and the Redis
 * runner launch (src/server/cloudemy-runner.ts) only do I/O around these.
 *
 * Statuses from a run (see `OUTCOME_RULES` and the store's `listRunOutcomes`): FINALIZED once its
 * owner finalized it; QUEUED until the run has ended (Cloudemy has no "running"; a result posted
 * just before the runner exits shows with it); then the newest result decides — TIMEOUT for
 * `timeout`/`TIMEOUT`, FAILED for `internal_error`/`FAILED`, COMPLETED for any other (a graded
 * submission is COMPLETED whatever its verdicts: the score says how good it is); without a result
 * TIMEOUT when the run timed out and FAILED when it ended otherwise (failed, cancelled, or
 * succeeded without reporting). So a submission shown with a final status can always be finalized.
 */

import { GantryError } from "./errors.ts";
import { resolveLanguageName, type LanguageDefinition, type LanguageTable } from "./languages.ts";
import { normalizeSubmission, type SubmissionRequest } from "./submission-spec.ts";
import type { JobSpec, Limits, Run, RunResult } from "./workload.ts";

export const CLOUDEMY_STATUSES = ["QUEUED", "COMPLETED", "FAILED", "TIMEOUT", "FINALIZED"] as const;
export type CloudemyStatus = (typeof CLOUDEMY_STATUSES)[number];

/** The store's outcome words (store.ts `RunOutcome`), one per Cloudemy status. */
export type Outcome = "live" | "completed" | "failed" | "timeout" | "finalized";

const STATUS_OF: Readonly<Record<Outcome, CloudemyStatus>> = {
  live: "QUEUED",
  completed: "COMPLETED",
  failed: "FAILED",
  timeout: "TIMEOUT",
  finalized: "FINALIZED",
};

/** Result statuses that are not COMPLETED: Gantry's runner's and the Cloudemy runner's words. */
export const OUTCOME_RULES = {
  timeoutStatuses: ["timeout", "TIMEOUT"],
  failedStatuses: ["internal_error", "FAILED"],
} as const;

export function statusOf(outcome: Outcome): CloudemyStatus {
  return STATUS_OF[outcome];
}

/** The outcome a `status=` filter asks for, or null for a word that is not a Cloudemy status. */
export function outcomeOf(status: string): Outcome | null {
  const found = (Object.entries(STATUS_OF) as [Outcome, CloudemyStatus][]).find(([, s]) => s === status);
  return found === undefined ? null : found[0];
}

// --- the result callback ------------------------------------------------------------------------

/** Statuses a runner may report, after upper-casing (SUCCESS and SUCCESSED mean COMPLETED). */
export const RESULT_STATUSES = ["COMPLETED", "FAILED", "TIMEOUT"] as const;

/** The reported status as stored, or null when it is not one the contract knows. */
export function normalizeResultStatus(raw: string): (typeof RESULT_STATUSES)[number] | null {
  const upper = raw.trim().toUpperCase();
  if (upper === "SUCCESS" || upper === "SUCCESSED") return "COMPLETED";
  return (RESULT_STATUSES as readonly string[]).includes(upper)
    ? (upper as (typeof RESULT_STATUSES)[number])
    : null;
}

export interface CloudemyResultBody {
  status: string;
  score?: number | null;
  fail_tags?: string[];
  feedback?: { case: string; message: string }[];
  metrics?: { timeMs?: number; memoryMB?: number };
}

/** The callback body as Gantry's result, with the contract's defaults; unknown status → 400. */
export function resultFromCallback(body: CloudemyResultBody): RunResult {
  const status = normalizeResultStatus(body.status);
  if (status === null) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      `unknown status '${body.status.slice(0, 40)}'; known: ${RESULT_STATUSES.join(", ")} (SUCCESS, SUCCESSED mean COMPLETED)`,
    ]);
  }
  const score = body.score;
  return {
    status,
    score: typeof score === "number" && Number.isFinite(score) ? score : 0,
    failTags: body.fail_tags ?? [],
    feedback: (body.feedback ?? []).map((f) => ({ case: f.case, message: f.message })),
    metrics: { timeMs: body.metrics?.timeMs ?? 0, memoryMB: body.metrics?.memoryMB ?? 0 },
    artifacts: {},
  };
}

// --- answers ------------------------------------------------------------------------------------

export interface CloudemySubmissionView {
  submission_id: string;
  user_id: string;
  language: string;
  status: CloudemyStatus;
  score: number;
  fail_tags: string[];
  feedback: { case: string; message: string }[];
  metrics: { timeMs: number; memoryMB: number };
  finalized: boolean;
  created_at: string;
}

/**
 * `GET /api/submissions/{id}`. Before a result, and while QUEUED (a result posted just before the
 * runner exits shows with the run's end, as the status does): score 0, no tags, no feedback, zero
 * metrics.
 */
export function submissionView(
  run: Run,
  outcome: Outcome,
  language: string | null,
  recorded: Pick<RunResult, "score" | "failTags" | "feedback" | "metrics"> | null,
): CloudemySubmissionView {
  const result = outcome === "live" ? null : recorded;
  const metric = (key: string): number => {
    const v = result?.metrics[key];
    return typeof v === "number" && Number.isFinite(v) ? v : 0;
  };
  return {
    submission_id: run.id,
    user_id: run.owner,
    language: language ?? "",
    status: statusOf(outcome),
    score: result?.score ?? 0,
    fail_tags: result?.failTags ?? [],
    feedback: result?.feedback ?? [],
    metrics: { timeMs: metric("timeMs"), memoryMB: metric("memoryMB") },
    finalized: outcome === "finalized",
    created_at: run.createdAt.toISOString(),
  };
}

/** One item of `GET /api/submissions`. */
export function listItemView(
  run: Run,
  outcome: Outcome,
  language: string | null,
  score: number | null,
): { submission_id: string; language: string; status: CloudemyStatus; score: number; created_at: string } {
  return {
    submission_id: run.id,
    language: language ?? "",
    status: statusOf(outcome),
    score: outcome === "live" ? 0 : (score ?? 0),
    created_at: run.createdAt.toISOString(),
  };
}

// --- submissions ----------------------------------------------------------------------------------

/** `POST /api/submissions`: the contract's two fields plus Gantry's optional grading extensions. */
export interface CloudemySubmissionBody {
  language: string;
  code: string;
  cases?: SubmissionRequest["cases"];
  compare?: SubmissionRequest["compare"];
}

/**
 * Program of the one case of a compile-only submission: it succeeds without output, so the
 * verdict is decided by the compile step alone.
 */
export const COMPILE_ONLY_RUN = ["/bin/true"];

/**
 * A Cloudemy submission as the spec of a Gantry `submission` run. Bare code becomes the language's
 * `sourceFile`. With `cases` it is graded by running them; without, it is compile-only: one case
 * named `compile` whose program is `/bin/true`, so a compile error fails it (score 0) and code that
 * compiles passes (score 100) — and, with `reviewBareCode` (an LLM is configured), it asks for
 * Gantry's LLM review too, the original's way of grading bare code. Every refusal (unknown
 * language, empty or oversized code, too many cases) is the same 400 as `/v1/runs` gives.
 */
export function cloudemySubmissionSpec(
  body: CloudemySubmissionBody,
  languages: Readonly<LanguageTable>,
  ceilings: Limits,
  reviewBareCode = false,
): JobSpec & { submission: NonNullable<JobSpec["submission"]> } {
  const language = resolveLanguageName(languages, body.language);
  if (language === null) {
    throw new GantryError("GANTRY_ERR_VALIDATION", [
      `unknown language '${body.language.slice(0, 40)}'; known: ${Object.keys(languages).sort().join(", ")}`,
    ]);
  }
  const row = languages[language] as LanguageDefinition;
  const files = [{ path: row.sourceFile, content: body.code }];
  const cases = body.cases ?? [];
  if (cases.length > 0) {
    return normalizeSubmission(
      { language, files, cases, ...(body.compare === undefined ? {} : { compare: body.compare }) },
      languages,
      ceilings,
    );
  }
  if (body.compare !== undefined)
    throw new GantryError("GANTRY_ERR_VALIDATION", ["compare needs cases to compare against"]);
  const compileOnly: LanguageTable = { [language]: { ...row, run: [...COMPILE_ONLY_RUN] } };
  return normalizeSubmission(
    {
      language,
      files,
      cases: [{ name: "compile", expectedStdout: "" }],
      ...(reviewBareCode ? { llmReview: true } : {}),
    },
    compileOnly,
    ceilings,
  );
}

// --- the original runner (Redis mode) --------------------------------------------------------------

/** The env var of the original runner that carries the result token (here: the run's own token). */
export const CLOUDEMY_TOKEN_ENV = "INTERNAL_RESULT_TOKEN";

export interface CloudemyRunnerTemplate {
  /** The runner image (Kubernetes). */
  image: string;
  /** argv; empty = the image's own entrypoint (Kubernetes only). */
  command: string[];
  /** BACKEND_INTERNAL_URL: the runner posts to `${this}/submissions/{id}/result`. */
  backendInternalUrl: string;
  llmModel: string;
  limits: Limits;
}

/**
 * The spec of a submission run by the original Cloudemy runner: its image and command, the
 * contract's env without what is secret or known only at launch (SUBMISSION_ID, REDIS_URL,
 * LLM_API_KEY: see `cloudemyLaunchEnv`), the run token delivered as INTERNAL_RESULT_TOKEN, and the
 * accepted submission (language and code, which the launch writes to Redis).
 */
export function cloudemyRunnerSpec(
  accepted: JobSpec & { submission: NonNullable<JobSpec["submission"]> },
  template: CloudemyRunnerTemplate,
): JobSpec & { submission: NonNullable<JobSpec["submission"]> } {
  return {
    command: [...template.command],
    env: { BACKEND_INTERNAL_URL: template.backendInternalUrl, LLM_MODEL: template.llmModel },
    files: [],
    image: template.image,
    limits: { ...template.limits },
    submission: { ...accepted.submission, cases: [] },
    runTokenEnv: CLOUDEMY_TOKEN_ENV,
  };
}

/** Whether a spec is one `cloudemyRunnerSpec` made (the token env is never set through /v1). */
export function isCloudemyRunnerSpec(
  spec: JobSpec,
): spec is JobSpec & { submission: NonNullable<JobSpec["submission"]> } {
  return spec.runTokenEnv === CLOUDEMY_TOKEN_ENV && spec.submission !== undefined;
}

/** The hash `submission:{id}` the original runner reads. */
export function cloudemyRedisHash(
  runId: string,
  owner: string,
  spec: JobSpec & { submission: NonNullable<JobSpec["submission"]> },
): { key: string; fields: Record<"submission_id" | "user_id" | "language" | "code", string> } {
  return {
    key: `submission:${runId}`,
    fields: {
      submission_id: runId,
      user_id: owner,
      language: spec.submission.language,
      code: spec.submission.files[0]?.content ?? "",
    },
  };
}

/**
 * The launched spec: the stored one plus SUBMISSION_ID, REDIS_URL and LLM_API_KEY, so the runner's
 * env is exactly the original contract (INTERNAL_RESULT_TOKEN comes from `runTokenEnv`).
 */
export function cloudemyLaunchEnv(
  spec: JobSpec,
  runId: string,
  secrets: { redisUrl: string; llmApiKey: string },
): JobSpec {
  return {
    ...spec,
    env: { ...spec.env, SUBMISSION_ID: runId, REDIS_URL: secrets.redisUrl, LLM_API_KEY: secrets.llmApiKey },
  };
}
