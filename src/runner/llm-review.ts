/**
 * The runner's side of the LLM review: it sends its draft result to Gantry's server
 * (`POST /v1/internal/runs/{id}/llm-review`), which asks the model with its own config and key,
 * and merges the answer (src/core/llm-review.ts). The sandbox never holds the key nor reaches the
 * model. Whatever goes wrong here — the server unreachable, a refusal, no time left — is an
 * `llm_error`, and the grade stands.
 */

import { mergeReview, reviewDraft, type ReviewOutcome } from "../core/llm-review.ts";
import type { RunResult } from "../core/workload.ts";
import { withRetry, type InternalApi } from "./internal-api.ts";

/** Less time than this before `deadline` and the review is not asked for. */
const MIN_REVIEW_MS = 1000;

/** `result` with the attempt's review merged in (or `llm_error`); status and score never change. */
export async function reviewThroughGantry<T extends RunResult>(
  api: InternalApi,
  result: T,
  deadline: number,
  io?: { stderr: NodeJS.WritableStream },
): Promise<T> {
  const outcome = await askServer(api, result, deadline);
  if (outcome.outcome === "failed") io?.stderr.write(`llm review failed: ${outcome.problem}\n`);
  return { ...result, ...mergeReview(result, outcome) };
}

async function askServer(api: InternalApi, result: RunResult, deadline: number): Promise<ReviewOutcome> {
  const draft = reviewDraft(result);
  if (deadline - Date.now() < MIN_REVIEW_MS)
    return { outcome: "failed", problem: "the run's time ran out before the review" };
  // The server keeps one review per attempt, so a retry (after a dropped connection) costs nothing.
  const res = await withRetry(() => api.llmReview(draft, Math.max(1, deadline - Date.now())), deadline);
  if (res === null) return { outcome: "failed", problem: "Gantry's API did not answer the review request" };
  const review = (res.body as { review?: unknown } | null)?.review;
  if (res.status !== 200 || !isOutcome(review)) {
    const code = (res.body as { error?: { code?: unknown } } | null)?.error?.code;
    return {
      outcome: "failed",
      problem: `the review request got HTTP ${res.status}${typeof code === "string" ? ` (${code})` : ""}`,
    };
  }
  return review;
}

/** The server's answer checked for the shape mergeReview reads (it is the server's, but cheap). */
function isOutcome(value: unknown): value is ReviewOutcome {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v.outcome === "failed") return typeof v.problem === "string";
  if (v.outcome === "disabled") return true;
  return (
    v.outcome === "reviewed" &&
    typeof v.status === "string" &&
    (v.score === null || typeof v.score === "number") &&
    Array.isArray(v.failTags) &&
    v.failTags.every((t) => typeof t === "string") &&
    Array.isArray(v.feedback) &&
    v.feedback.every(
      (f: unknown) =>
        typeof f === "object" &&
        f !== null &&
        typeof (f as { case?: unknown }).case === "string" &&
        typeof (f as { message?: unknown }).message === "string",
    )
  );
}
