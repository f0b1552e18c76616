/**
 * `/v1/internal/runs/{id}/…`: what a workload calls from inside its sandbox or pod. Authorised only
 * by that run's own token (`Authorization: Bearer gtr_…` or `X-Run-Token`), bound to the current
 * attempt; the result call uses it up.
 */

import type { FastifyInstance, FastifyRequest } from "fastify";
import { GantryError } from "../../core/errors.ts";
import type { RunResult } from "../../core/workload.ts";
import type { Store } from "../../store/store.ts";
import { hashToken, looksLikeToken } from "../tokens.ts";
import { bearerToken } from "./auth.ts";
import { isUuid, resultBody, uuidParam } from "./schemas.ts";

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

export async function internalRoutes(app: FastifyInstance, options: { store: Store }): Promise<void> {
  const { store } = options;

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
      const attempt = await grantedAttempt(store, request.params.id, runToken(request), false);
      const run = await store.getRun(request.params.id);
      const workload = run === null ? null : await store.getWorkload(run.workloadId);
      if (run === null || workload === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      return { runId: run.id, attempt, kind: workload.kind, spec: workload.spec };
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
