/**
 * The Cloudemy API (../shared/CONTRACTS.md §2) under `/api`: a thin adapter over Gantry's store.
 * A Cloudemy submission is a Gantry run of kind `submission`; shapes and status words come from
 * src/core/cloudemy-contract.ts. Callers authenticate with Gantry API tokens (`Authorization:
 * Bearer gty_…`) and `user_id` is the token's owner; the runner's result callback is authorised by
 * its run's own token in `X-Result-Token`. Errors keep Gantry's body and add FastAPI's `detail`
 * (`{"detail": "submission not found", "error": {code, message}}`), which Cloudemy clients read.
 */

import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { canSeeRun, ownerScope } from "../../../core/access.ts";
import {
  OUTCOME_RULES,
  cloudemyRunnerSpec,
  cloudemySubmissionSpec,
  listItemView,
  outcomeOf,
  resultFromCallback,
  submissionView,
  type CloudemyResultBody,
  type CloudemySubmissionBody,
  type Outcome,
} from "../../../core/cloudemy-contract.ts";
import { GantryError } from "../../../core/errors.ts";
import type { LanguageTable } from "../../../core/languages.ts";
import type { Limits } from "../../../core/workload.ts";
import type { Store } from "../../../store/store.ts";
import type { CloudemyConfig } from "../../config.ts";
import { loadLanguageTable } from "../../languages-config.ts";
import { looksLikeToken } from "../../tokens.ts";
import { authorize, principalOf } from "../auth.ts";
import { toGantryError } from "../errors.ts";
import { grantedAttempt, recordResultWithRunToken } from "../internal-routes.ts";
import { isUuid } from "../schemas.ts";

export interface CloudemyRoutesOptions {
  store: Store;
  defaultLimits: Limits;
  maxLimits: Limits;
  /** Absent: Gantry's runner for everything (no Redis mode). */
  cloudemy?: CloudemyConfig;
  onRunCreated?: () => void;
  /** Default: built-ins plus GANTRY_LANGUAGES_FILE, as /v1/runs. */
  languages?: LanguageTable;
}

/** Wall time of a run of the original runner: its Job's activeDeadlineSeconds. */
export const CLOUDEMY_RUNNER_WALL_SECONDS = 120;
/** Attempts of a run of the original runner: its Job's backoffLimit 1 is one retry. */
export const CLOUDEMY_RUNNER_ATTEMPTS = 2;

const caseSchema = {
  type: "object",
  additionalProperties: false,
  required: ["expectedStdout"],
  properties: {
    name: { type: "string", minLength: 1, maxLength: 100 },
    stdin: { type: "string" },
    expectedStdout: { type: "string" },
    timeLimitMs: { type: "integer", minimum: 1 },
    memoryMB: { type: "integer", minimum: 1 },
    weight: { type: "number", minimum: 0 },
  },
} as const;

// Unknown top-level fields are accepted and ignored, as the original's Pydantic models do.
const submissionBody = {
  type: "object",
  required: ["code"],
  properties: {
    language: { type: "string", minLength: 1, maxLength: 40, default: "python" },
    code: { type: "string" },
    // Gantry's extension: test cases to grade by running (caps and messages of /v1/runs).
    cases: { type: "array", maxItems: 100_000, items: caseSchema },
    compare: {
      type: "object",
      additionalProperties: false,
      required: ["mode"],
      properties: { mode: { type: "string", maxLength: 40 }, tolerance: { type: "number", minimum: 0 } },
    },
  },
} as const;

const listQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    submission_id: { type: "string", maxLength: 200 },
    status: { type: "string", maxLength: 40 },
    page: { type: "string", maxLength: 40 },
    size: { type: "string", maxLength: 40 },
  },
} as const;

const idParam = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", maxLength: 200 } },
} as const;

const finalizeBody = {
  type: ["object", "null"],
  properties: { note: { type: ["string", "null"], maxLength: 4000 } },
} as const;

const callbackBody = {
  type: "object",
  required: ["status"],
  properties: {
    status: { type: "string", minLength: 1, maxLength: 64 },
    score: { type: ["number", "null"] },
    fail_tags: { type: "array", maxItems: 256, items: { type: "string", maxLength: 256 } },
    feedback: {
      type: "array",
      maxItems: 1000,
      items: {
        type: "object",
        required: ["case", "message"],
        properties: {
          case: { type: "string", maxLength: 256 },
          message: { type: "string", maxLength: 65536 },
        },
      },
    },
    metrics: {
      type: "object",
      maxProperties: 64,
      properties: { timeMs: { type: "number" }, memoryMB: { type: "number" } },
    },
  },
} as const;

const notFound = () => new GantryError("GANTRY_ERR_NOT_FOUND", ["submission"]);

export async function cloudemyRoutes(app: FastifyInstance, options: CloudemyRoutesOptions): Promise<void> {
  const { store, cloudemy } = options;
  const languages = options.languages ?? loadLanguageTable(process.env);
  const runnerLimits = clampLimits(
    {
      ...options.defaultLimits,
      wallSeconds: CLOUDEMY_RUNNER_WALL_SECONDS,
      cpuSeconds: CLOUDEMY_RUNNER_WALL_SECONDS,
    },
    options.maxLimits,
  );

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const gantryErr = toGantryError(err);
    if (gantryErr.statusCode >= 500) request.log.error({ err }, "request failed");
    void reply.status(gantryErr.statusCode).send({ detail: gantryErr.message, error: gantryErr.toJSON() });
  });

  /** A submission the caller may see, with its outcome; 404 for anything else. */
  async function visibleSubmission(request: FastifyRequest, id: string) {
    if (!isUuid(id)) throw notFound();
    const principal = principalOf(request);
    const scope = ownerScope(principal);
    const { rows } = await store.listRunOutcomes({
      runId: id,
      kind: "submission",
      ...(scope === undefined ? {} : { owner: scope }),
      rules: OUTCOME_RULES,
      offset: 0,
      limit: 1,
    });
    const row = rows[0];
    if (row === undefined || !canSeeRun(principal, row.run)) throw notFound();
    return row;
  }

  app.post<{ Body: CloudemySubmissionBody }>(
    "/api/submissions",
    {
      schema: { body: submissionBody, summary: "Cloudemy: submit code", tags: ["cloudemy"] },
      preHandler: authorize(store, "runs:create"),
    },
    async (request, reply) => {
      const body = request.body;
      const bare = (body.cases?.length ?? 0) === 0;
      // Bare code: the original runner reviews it when it is the chosen runner; else Gantry's
      // runner checks that it compiles, and asks for an LLM review when a key is configured.
      const byCloudemyRunner = cloudemy?.runner === "cloudemy" && bare;
      const review = bare && !byCloudemyRunner && (cloudemy?.llmApiKey ?? "") !== "";
      const accepted = cloudemySubmissionSpec(body, languages, options.maxLimits, review);
      const spec =
        byCloudemyRunner && cloudemy !== undefined
          ? cloudemyRunnerSpec(accepted, {
              image: cloudemy.runnerImage,
              command: cloudemy.runnerCommand,
              backendInternalUrl: cloudemy.backendInternalUrl,
              llmModel: cloudemy.llmModel,
              limits: runnerLimits,
            })
          : accepted;
      const run = await store.createRun({
        kind: "submission",
        owner: principalOf(request).owner,
        spec,
        priority: 0,
        retry: {
          maxAttempts: byCloudemyRunner ? CLOUDEMY_RUNNER_ATTEMPTS : 1,
          baseDelayMs: 1000,
          maxDelayMs: 60_000,
        },
      });
      options.onRunCreated?.();
      return reply.status(201).header("location", `/api/submissions/${run.id}`).send({
        submission_id: run.id,
        status: "QUEUED",
        attempt: 1,
        created_at: run.createdAt.toISOString(),
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    "/api/submissions/:id",
    {
      schema: { params: idParam, summary: "Cloudemy: a submission and its grade", tags: ["cloudemy"] },
      preHandler: authorize(store, "runs:read"),
    },
    async (request) => {
      const row = await visibleSubmission(request, request.params.id);
      const result = await store.getResult(row.run.id);
      return submissionView(row.run, row.outcome, row.language, result);
    },
  );

  app.get<{ Querystring: { submission_id?: string; status?: string; page?: string; size?: string } }>(
    "/api/submissions",
    {
      schema: {
        querystring: listQuery,
        summary: "Cloudemy: submissions, newest first (page from 1, size 1-100)",
        tags: ["cloudemy"],
      },
      preHandler: authorize(store, "runs:read"),
    },
    async (request) => {
      const q = request.query;
      const page = pageNumber("page", q.page, 1, 1_000_000);
      const size = pageNumber("size", q.size, 10, 100);
      let outcome: Outcome | undefined;
      if (q.status !== undefined && q.status !== "") {
        const asked = outcomeOf(q.status.trim().toUpperCase());
        if (asked === null)
          throw new GantryError("GANTRY_ERR_VALIDATION", [
            `status '${q.status.slice(0, 40)}' is not one of QUEUED, COMPLETED, FAILED, TIMEOUT, FINALIZED`,
          ]);
        outcome = asked;
      }
      const id = q.submission_id === undefined || q.submission_id === "" ? undefined : q.submission_id;
      // An id that no submission can have matches nothing; it is a filter, not a lookup.
      if (id !== undefined && !isUuid(id)) return { items: [], total: 0, page, size };
      const scope = ownerScope(principalOf(request));
      const { rows, total } = await store.listRunOutcomes({
        kind: "submission",
        ...(scope === undefined ? {} : { owner: scope }),
        ...(id === undefined ? {} : { runId: id }),
        ...(outcome === undefined ? {} : { outcome }),
        rules: OUTCOME_RULES,
        offset: (page - 1) * size,
        limit: size,
      });
      return {
        items: rows.map((r) => listItemView(r.run, r.outcome, r.language, r.score)),
        total,
        page,
        size,
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { note?: string | null } | null }>(
    "/api/submissions/:id/finalize",
    {
      schema: {
        params: idParam,
        body: finalizeBody,
        summary: "Cloudemy: hand in this submission (one per user; only your own)",
        tags: ["cloudemy"],
      },
      preHandler: authorize(store, "runs:create"),
    },
    async (request) => {
      const id = request.params.id;
      if (!isUuid(id)) throw notFound();
      // Scoped to the caller's own submissions whatever its role: nobody finalizes for another.
      const run = await store.getRun(id);
      const owner = principalOf(request).owner;
      if (run === null || run.kind !== "submission" || run.owner !== owner) throw notFound();
      const outcome = await store.finalizeRun(id, owner, request.body?.note ?? null);
      if (!outcome.ok) {
        if (outcome.refusal === "not_found") throw notFound();
        if (outcome.refusal === "other_finalized")
          throw new GantryError("GANTRY_ERR_ALREADY_FINALIZED", [owner, outcome.runId]);
        throw new GantryError("GANTRY_ERR_NOT_FINISHED", [id, outcome.state]);
      }
      return { submission_id: id, status: "FINALIZED", finalized: true };
    },
  );

  app.post<{ Params: { id: string }; Body: CloudemyResultBody }>(
    "/api/internal/submissions/:id/result",
    {
      schema: {
        params: idParam,
        body: callbackBody,
        summary: "Cloudemy runner: report the result (X-Result-Token: the run's own token)",
        tags: ["cloudemy", "internal"],
        security: [],
      },
    },
    async (request) => {
      const header = request.headers["x-result-token"];
      const token = typeof header === "string" ? header.trim() : "";
      if (!looksLikeToken(token, "run")) throw new GantryError("GANTRY_ERR_RUN_TOKEN_INVALID");
      const id = request.params.id;
      const run = isUuid(id) ? await store.getRun(id) : null;
      if (run === null || run.kind !== "submission") throw notFound();
      // The token first, so nothing about the body is answered to a caller without it. An ended
      // run's token is dead: a finalized submission (always ended) is left as it is.
      await grantedAttempt(store, id, token, false);
      const result = resultFromCallback(request.body);
      await recordResultWithRunToken(store, id, token, result);
      return { ok: true, submission_id: id, status: result.status };
    },
  );
}

function pageNumber(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined || raw === "") return fallback;
  if (!/^[0-9]{1,9}$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > max)
    throw new GantryError("GANTRY_ERR_VALIDATION", [`${name} must be an integer from 1 to ${max}`]);
  return Number(raw);
}

function clampLimits(limits: Limits, ceilings: Limits): Limits {
  const out = { ...limits };
  for (const key of Object.keys(out) as (keyof Limits)[]) out[key] = Math.min(out[key], ceilings[key]);
  return out;
}
