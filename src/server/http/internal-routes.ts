/**
 * `/v1/internal/runs/{id}/…`: what a workload calls from inside its sandbox or pod. Authorised only
 * by that run's own token (`Authorization: Bearer gtr_…` or `X-Run-Token`), bound to the current
 * attempt; the result call uses it up. `llm-review` asks the server's LLM about the stored
 * submission and the runner's draft (the key stays here), once per attempt.
 */

import type { FastifyInstance, FastifyRequest } from "fastify";
import { GantryError } from "../../core/errors.ts";
import { llmReviewDecision, type ReviewDraft } from "../../core/llm-review.ts";
import type { RunResult } from "../../core/workload.ts";
import type { Store } from "../../store/store.ts";
import type { LlmConfig } from "../config.ts";
import { LlmReviewer } from "../llm-client.ts";
import { hashToken, looksLikeToken } from "../tokens.ts";
import { bearerToken } from "./auth.ts";
import { isUuid, llmReviewDraftBody, resultBody, uuidParam } from "./schemas.ts";

/** The largest draft body: the schema's caps hold it under this even with every character escaped. */
const DRAFT_BODY_LIMIT = 1024 * 1024;

function runToken(request: FastifyRequest): string {
  const header = request.headers["x-run-token"];
  const token = typeof header === "string" ? header : bearerToken(request);
  if (token === null || !looksLikeToken(token, "run")) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
  return token;
}

type ResultBody = Partial<RunResult> & { status: string };

/** The attempt `token` is good for on run `runId`; GANTRY_ERR_RUN_TOKEN_INVALID for anything else. */
export async function grantedAttempt(
  store: Store,
  runId: string,
  token: string,
  consume: boolean,
): Promise<number> {
  if (!looksLikeToken(token, "run") || !isUuid(runId)) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
  const granted = await store.checkRunToken(runId, hashToken(token), { consume });
  if (granted === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
  return granted.attempt;
}

/**
 * Records `result` for the attempt `token` is good for, then uses the token up. Record first: a
 * failure in between leaves the result recorded (a repeat gets 409), never a used-up token without
 * its result. Every route a runner reports through (here and the compat adapters) comes here.
 */
export async function recordResultWithRunToken(
  store: Store,
  runId: string,
  token: string,
  result: RunResult,
): Promise<number> {
  const attempt = await grantedAttempt(store, runId, token, false);
  const recorded = await store.recordResult(runId, attempt, result);
  if (!recorded) throw new GantryError("GANTRY_ERR_RESULT_ALREADY_RECORDED", [runId, attempt]);
  await grantedAttempt(store, runId, token, true);
  return attempt;
}

export async function internalRoutes(
  app: FastifyInstance,
  options: { store: Store; llm?: LlmConfig },
): Promise<void> {
  const { store } = options;
  const reviewer = options.llm === undefined ? null : new LlmReviewer(options.llm);
  const mode = options.llm?.mode ?? "off";

  /** The run's current attempt (after the token check) and its stored workload. */
  const granted = async (runId: string, token: string) => {
    const attempt = await grantedAttempt(store, runId, token, false);
    const run = await store.getRun(runId);
    const workload = run === null ? null : await store.getWorkload(run.workloadId);
    if (run === null || workload === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
    return { attempt, run, workload };
  };

  app.get<{ Params: { id: string } }>(
    "/v1/internal/runs/:id/payload",
    {
      schema: {
        params: uuidParam,
        summary: "The run's workload, for the program inside it",
        tags: ["internal"],
      },
    },
    async (request) => {
      const { attempt, run, workload } = await granted(request.params.id, runToken(request));
      return {
        runId: run.id,
        attempt,
        kind: workload.kind,
        spec: workload.spec,
        // What the runner does about a review: the server decides (its config, the stored spec).
        llmReview: llmReviewDecision(mode, workload.spec),
      };
    },
  );

  app.post<{ Params: { id: string }; Body: ReviewDraft }>(
    "/v1/internal/runs/:id/llm-review",
    {
      bodyLimit: DRAFT_BODY_LIMIT,
      schema: {
        params: uuidParam,
        body: llmReviewDraftBody,
        summary:
          "Ask the server's LLM to review the run's submission, given the runner's draft result (once per attempt; a repeat gets the same review)",
        tags: ["internal"],
      },
    },
    async (request) => {
      const { attempt, run, workload } = await granted(request.params.id, runToken(request));
      const submission = workload.spec.submission;
      const decision = llmReviewDecision(mode, workload.spec);
      if (reviewer === null || submission === undefined || decision !== "review")
        throw new GantryError("GANTRY_ERR_LLM_REVIEW_NOT_ENABLED", [
          run.id,
          decision === "disabled" ? "reviews are turned off on this server" : "it asked for none",
        ]);
      const review = await reviewer.review(run.id, attempt, submission, request.body);
      return { runId: run.id, attempt, review };
    },
  );

  app.post<{ Params: { id: string }; Body: ResultBody }>(
    "/v1/internal/runs/:id/result",
    {
      schema: {
        params: uuidParam,
        body: resultBody,
        summary: "Report the run's result (once)",
        tags: ["internal"],
      },
    },
    async (request) => {
      const id = request.params.id;
      const body = request.body;
      const attempt = await recordResultWithRunToken(store, id, runToken(request), {
        status: body.status,
        score: body.score ?? null,
        failTags: body.failTags ?? [],
        feedback: body.feedback ?? [],
        metrics: body.metrics ?? {},
        artifacts: body.artifacts ?? {},
      });
      return { ok: true, runId: id, attempt };
    },
  );
}
