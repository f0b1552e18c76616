/**
 * Optional LLM review of a graded submission, additive only: an OpenAI-compatible chat-completions
 * call asks for JSON `{status, score, fail_tags, feedback}`; its feedback and tags are added to the
 * result (prefixed `llm_`), its score is kept as `metrics.llmScore`, and the execution verdicts
 * still decide the status and score. Code fences around the JSON are tolerated; no answer, bad
 * JSON, an HTTP error or the timeout add the tag `llm_error` and leave the grade as it is.
 *
 * Config (env of the runner): LLM_BASE_URL (default https://api.openai.com/v1), LLM_API_KEY,
 * LLM_MODEL (default gpt-4o-mini), LLM_TIMEOUT_MS (default 30000).
 */

import type { SubmissionSpec } from "../core/submission-spec.ts";
import type { RunnerResult } from "./runner.ts";

export interface LlmConfig {
  baseUrl: string;
  apiKey: string | undefined;
  model: string;
  timeoutMs: number;
  /** How to reach baseUrl; tests and sandboxes pass their own. */
  fetch?: typeof fetch;
}

export function llmConfigFromEnv(env: NodeJS.ProcessEnv): LlmConfig {
  return {
    baseUrl: env.LLM_BASE_URL ?? "https://api.openai.com/v1",
    apiKey: env.LLM_API_KEY,
    model: env.LLM_MODEL ?? "gpt-4o-mini",
    timeoutMs: Number(env.LLM_TIMEOUT_MS ?? 30_000) || 30_000,
  };
}

export interface LlmVerdict {
  status: string;
  score: number | null;
  failTags: string[];
  feedback: { case: string; message: string }[];
}

/** The JSON object in a model's answer (inside code fences or not), or null. */
export function parseLlmAnswer(text: string): LlmVerdict | null {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
  let body = (fenced?.[1] ?? text).trim();
  if (!body.startsWith("{")) {
    const start = body.indexOf("{");
    const end = body.lastIndexOf("}");
    if (start < 0 || end <= start) return null;
    body = body.slice(start, end + 1);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  const o = parsed as Record<string, unknown>;
  if (typeof o.status !== "string") return null;
  const score = typeof o.score === "number" && Number.isFinite(o.score) ? o.score : null;
  const tags = Array.isArray(o.fail_tags)
    ? o.fail_tags.filter((t): t is string => typeof t === "string")
    : [];
  const feedback = Array.isArray(o.feedback)
    ? o.feedback.flatMap((f): { case: string; message: string }[] => {
        if (typeof f === "string") return [{ case: "review", message: f }];
        if (typeof f === "object" && f !== null && typeof (f as { message?: unknown }).message === "string") {
          const c = (f as { case?: unknown }).case;
          return [
            { case: typeof c === "string" ? c : "review", message: (f as { message: string }).message },
          ];
        }
        return [];
      })
    : [];
  return { status: o.status, score, failTags: tags, feedback };
}

function prompt(result: RunnerResult, spec: SubmissionSpec): string {
  const sources = spec.files.map((f) => `--- ${f.path}\n${f.content.slice(0, 20_000)}`).join("\n");
  return [
    `Review this ${spec.language} submission. It was run against test cases; the execution result is final.`,
    spec.llmReview?.instructions ? `Task: ${spec.llmReview.instructions}` : "",
    `Execution result: status ${result.status}, score ${String(result.score)}/100, failing: ${result.failTags.join(", ") || "none"}.`,
    sources,
    'Answer with JSON only: {"status": "COMPLETED"|"FAILED", "score": 0-100, "fail_tags": [..], "feedback": [{"case": "...", "message": "..."}]}',
  ]
    .filter((s) => s !== "")
    .join("\n\n");
}

export async function askLlm(config: LlmConfig, content: string): Promise<LlmVerdict | null> {
  const doFetch = config.fetch ?? fetch;
  const response = await doFetch(`${config.baseUrl.replace(/\/$/, "")}/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(config.apiKey === undefined ? {} : { authorization: `Bearer ${config.apiKey}` }),
    },
    body: JSON.stringify({
      model: config.model,
      temperature: 0,
      messages: [
        { role: "system", content: "You review code submissions. Reply with one JSON object." },
        { role: "user", content },
      ],
    }),
    signal: AbortSignal.timeout(config.timeoutMs),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const body = (await response.json()) as { choices?: { message?: { content?: unknown } }[] };
  const text = body.choices?.[0]?.message?.content;
  return typeof text === "string" ? parseLlmAnswer(text) : null;
}

/** The result with the review added (or `llm_error`); status and score are never changed. */
export async function reviewWithLlm(
  result: RunnerResult,
  spec: SubmissionSpec,
  config: LlmConfig,
  io?: { stderr: NodeJS.WritableStream },
): Promise<RunnerResult> {
  let verdict: LlmVerdict | null = null;
  let problem = "";
  try {
    verdict = await askLlm(config, prompt(result, spec));
    if (verdict === null) problem = "the model's answer held no usable JSON";
  } catch (err) {
    problem = (err as Error).message;
  }
  if (verdict === null) {
    io?.stderr.write(`llm review failed: ${problem}\n`);
    return {
      ...result,
      failTags: [...new Set([...result.failTags, "llm_error"])].sort(),
      feedback: [
        ...result.feedback,
        { case: "llm_review", message: `review unavailable: ${problem}`.slice(0, 1000) },
      ],
    };
  }
  return {
    ...result,
    failTags: [
      ...new Set([...result.failTags, ...verdict.failTags.slice(0, 20).map((t) => `llm_${t}`.slice(0, 100))]),
    ].sort(),
    feedback: [
      ...result.feedback,
      ...verdict.feedback
        .slice(0, 50)
        .map((f) => ({ case: `llm:${f.case}`.slice(0, 256), message: f.message.slice(0, 4000) })),
    ],
    metrics: { ...result.metrics, ...(verdict.score === null ? {} : { llmScore: verdict.score }) },
    artifacts: { ...result.artifacts, llmReview: { status: verdict.status, score: verdict.score } },
  };
}
