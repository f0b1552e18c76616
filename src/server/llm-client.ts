/**
 * Gantry's client of an OpenAI-compatible chat-completions endpoint, and the reviewer the internal
 * route `POST /v1/internal/runs/{id}/llm-review` uses. It runs in the server, with the server's
 * config: the key never reaches a sandbox or a pod (they cannot reach the endpoint anyway).
 *
 * Every failure — refused connection, HTTP error, timeout, an answer without usable JSON — is a
 * `failed` outcome (the runner adds `llm_error`), never an error of the route. One review per
 * attempt: the outcome is kept, and a repeated call (a runner retrying, or looping) gets the same
 * outcome without asking the model again, so a run cannot spend the operator's LLM budget.
 */

import {
  parseLlmAnswer,
  reviewMessages,
  type ChatMessage,
  type ReviewDraft,
  type ReviewOutcome,
} from "../core/llm-review.ts";
import type { SubmissionSpec } from "../core/submission-spec.ts";
import { MAX_LIMITS } from "../core/workload.ts";
import type { LlmConfig } from "./config.ts";

/** Largest answer body read from the endpoint; a bigger one is a failure. */
const MAX_ANSWER_BYTES = 1 << 20;

/** The text of the model's first choice; throws (with a message safe to show) on any failure. */
export async function chatCompletion(config: LlmConfig, messages: ChatMessage[]): Promise<string> {
  let response: Response;
  const signal = AbortSignal.timeout(config.timeoutMs);
  try {
    response = await fetch(`${config.baseUrl}/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(config.apiKey === undefined ? {} : { authorization: `Bearer ${config.apiKey}` }),
      },
      body: JSON.stringify({ model: config.model, temperature: 0, messages }),
      signal,
      redirect: "error",
    });
  } catch (err) {
    throw new Error(failure(err, config));
  }
  // The error body is not quoted: providers echo (parts of) the key in it.
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`the LLM endpoint answered HTTP ${response.status}`);
  }
  let text: string;
  try {
    text = await readCapped(response, MAX_ANSWER_BYTES);
  } catch (err) {
    throw new Error(failure(err, config));
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error("the LLM endpoint's answer is not JSON");
  }
  const content = (body as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message
    ?.content;
  if (typeof content !== "string") throw new Error("the LLM endpoint's answer holds no message");
  return content;
}

function failure(err: unknown, config: LlmConfig): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError")
    return `no answer from the LLM endpoint in ${config.timeoutMs} ms`;
  return `the LLM endpoint is unreachable (${e.cause?.code ?? e.cause?.message ?? e.message})`.slice(0, 300);
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`answer larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Asks for one review; every failure is a `failed` outcome. */
export async function askForReview(
  config: LlmConfig,
  submission: SubmissionSpec,
  draft: ReviewDraft,
): Promise<ReviewOutcome> {
  try {
    const verdict = parseLlmAnswer(await chatCompletion(config, reviewMessages(submission, draft)));
    if (verdict === null) return { outcome: "failed", problem: "the model's answer held no usable JSON" };
    return { outcome: "reviewed", ...verdict };
  } catch (err) {
    return { outcome: "failed", problem: (err as Error).message };
  }
}

/**
 * One review per attempt (see the header). Kept in this process: behind several API replicas a
 * looping runner gets at most one review per replica. Entries go once no token of theirs can be
 * alive (the longest run plus an hour).
 */
export class LlmReviewer {
  readonly #config: LlmConfig;
  readonly #keepMs: number;
  readonly #done = new Map<string, { at: number; outcome: Promise<ReviewOutcome> }>();

  constructor(config: LlmConfig, keepMs = MAX_LIMITS.wallSeconds * 1000 + 3_600_000) {
    this.#config = config;
    this.#keepMs = keepMs;
  }

  review(
    runId: string,
    attempt: number,
    submission: SubmissionSpec,
    draft: ReviewDraft,
  ): Promise<ReviewOutcome> {
    const now = Date.now();
    for (const [key, entry] of this.#done) {
      if (now - entry.at <= this.#keepMs) break; // insertion order: the rest are younger
      this.#done.delete(key);
    }
    const key = `${runId}:${attempt}`;
    const kept = this.#done.get(key);
    if (kept !== undefined) return kept.outcome;
    const outcome = askForReview(this.#config, submission, draft);
    this.#done.set(key, { at: now, outcome });
    return outcome;
  }
}
