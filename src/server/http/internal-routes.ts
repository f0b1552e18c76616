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
import { resultBody, uuidParam } from "./schemas.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function runToken(request: FastifyRequest): string {
  const header = request.headers["x-run-token"];
  const token = typeof header === "string" ? header : bearerToken(request);
  if (token === null || !looksLikeToken(token, "run")) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
  return token;
}

type ResultBody = Partial<RunResult> & { status: string };

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
      const token = runToken(request);
      const id = request.params.id;
      if (!UUID.test(id)) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      const granted = await store.checkRunToken(id, hashToken(token), { consume: false });
      if (granted === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      const run = await store.getRun(id);
      const workload = run === null ? null : await store.getWorkload(run.workloadId);
      if (run === null || workload === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      return { runId: run.id, attempt: granted.attempt, kind: workload.kind, spec: workload.spec };
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
      const token = runToken(request);
      const id = request.params.id;
      if (!UUID.test(id)) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      const granted = await store.checkRunToken(id, hashToken(token), { consume: true });
      if (granted === null) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      const body = request.body;
      const recorded = await store.recordResult(id, granted.attempt, {
        status: body.status,
        score: body.score ?? null,
        failTags: body.failTags ?? [],
        feedback: body.feedback ?? [],
        metrics: body.metrics ?? {},
        artifacts: body.artifacts ?? {},
      });
      if (!recorded) throw new GantryError("GANTRY_ERR_RESULT_ALREADY_RECORDED", [id, granted.attempt]);
      return { ok: true, runId: id, attempt: granted.attempt };
    },
  );
}
