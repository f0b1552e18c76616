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

export async function internalRoutes(app: FastifyInstance, options: { store: Store }): Promise<void> {
  const { store } = options;

  /** The attempt the request's run token is good for; 401 for anything else. */
  async function grantedAttempt(
    request: FastifyRequest<{ Params: { id: string } }>,
    consume: boolean,
  ): Promise<number> {
    const token = runToken(request);
    if (!isUuid(request.params.id)) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
    const granted = await store.checkRunToken(request.params.id, hashToken(token), { consume });
    if (granted === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
    return granted.attempt;
  }

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
      const attempt = await grantedAttempt(request, false);
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
      // Record first, then use the token up: a failure in between leaves the result recorded
      // (a repeat gets 409), never a used-up token without its result.
      const attempt = await grantedAttempt(request, false);
      const id = request.params.id;
      const body = request.body;
      const recorded = await store.recordResult(id, attempt, {
        status: body.status,
        score: body.score ?? null,
        failTags: body.failTags ?? [],
        feedback: body.feedback ?? [],
        metrics: body.metrics ?? {},
        artifacts: body.artifacts ?? {},
      });
      if (!recorded) throw new GantryError("GANTRY_ERR_RESULT_ALREADY_RECORDED", [id, attempt]);
      await grantedAttempt(request, true);
      return { ok: true, runId: id, attempt };
    },
  );
}
