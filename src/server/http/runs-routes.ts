/**
 * `/v1/runs`: create, read, list, cancel, events (JSON or SSE) and logs (JSON or followed as SSE).
 */

import type { FastifyInstance } from "fastify";
import { canReadGradingMaterial, ownerScope, type Principal } from "../../core/access.ts";
import { GantryError } from "../../core/errors.ts";
import { normalizeJobSpec, type JobRequest } from "../../core/job-spec.ts";
import type { LanguageTable } from "../../core/languages.ts";
import {
  gradingMaterialView,
  normalizeSubmission,
  type SubmissionRequest,
} from "../../core/submission-spec.ts";
import { isRunState, isTerminal, type RunState } from "../../core/run-state.ts";
import type { JobSpec, Limits } from "../../core/workload.ts";
import type { Store } from "../../store/store.ts";
import { loadLanguageTable } from "../languages-config.ts";
import type { RunWatcher } from "../run-watcher.ts";
import { authorize, principalOf, visibleRun } from "./auth.ts";
import {
  createRunBody,
  eventView,
  eventsQuery,
  listRunsQuery,
  logView,
  logsQuery,
  runView,
  uuidParam,
} from "./schemas.ts";
import { openSse } from "./sse.ts";

export interface RunsRoutesOptions {
  store: Store;
  watcher: RunWatcher;
  defaultLimits: Limits;
  maxLimits: Limits;
  /** Safety-net poll for followed streams, in case a notification is missed. */
  followPollMs?: number;
  onRunCreated?: () => void;
  /** Languages of kind `submission`; default: built-ins plus GANTRY_LANGUAGES_FILE. */
  languages?: LanguageTable;
}

type CreateRunBody = ((JobRequest & { kind: "job" }) | (SubmissionRequest & { kind: "submission" })) & {
  priority: number;
  maxAttempts: number;
};

export async function runsRoutes(app: FastifyInstance, options: RunsRoutesOptions): Promise<void> {
  const { store, watcher } = options;
  const followPollMs = options.followPollMs ?? 2000;
  const languages = options.languages ?? loadLanguageTable(process.env);

  app.post<{ Body: CreateRunBody }>(
    "/v1/runs",
    {
      schema: { body: createRunBody, summary: "Queue a run", tags: ["runs"] },
      preHandler: authorize(store, "runs:create"),
    },
    async (request, reply) => {
      const body = request.body;
      const spec: JobSpec =
        body.kind === "submission"
          ? normalizeSubmission(body, languages, options.maxLimits)
          : normalizeJobSpec(body, options.defaultLimits, options.maxLimits);
      const principal = principalOf(request);
      const run = await store.createRun({
        kind: body.kind,
        owner: principal.owner,
        spec,
        priority: body.priority,
        retry: { maxAttempts: body.maxAttempts, baseDelayMs: 1000, maxDelayMs: 60_000 },
      });
      options.onRunCreated?.();
      return reply.status(201).header("location", `/v1/runs/${run.id}`).send(runView(run));
    },
  );

  app.get<{ Querystring: { state?: string; owner?: string; cursor?: string; limit?: string } }>(
    "/v1/runs",
    {
      schema: { querystring: listRunsQuery, summary: "List runs, newest first", tags: ["runs"] },
      preHandler: authorize(store, "runs:read"),
    },
    async (request) => {
      const q = request.query;
      const principal = principalOf(request);
      const states = parseStates(q.state);
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (limit < 1 || limit > 500) throw new GantryError("GANTRY_ERR_VALIDATION", ["limit must be 1-500"]);
      const owner = resolveOwnerFilter(principal, q.owner);
      const page = await store.listRuns({
        ...(owner === undefined ? {} : { owner }),
        ...(states === undefined ? {} : { states }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        limit,
      });
      return { runs: page.runs.map((r) => runView(r)), nextCursor: page.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/runs/:id",
    {
      schema: { params: uuidParam, summary: "Get a run with its spec and result", tags: ["runs"] },
      preHandler: authorize(store, "runs:read"),
    },
    async (request) => {
      const run = await visibleRun(store, request, request.params.id);
      const [workload, result] = await Promise.all([
        store.getWorkload(run.workloadId),
        store.getResult(run.id),
      ]);
      // Hidden test cases: only admins read a submission's inputs, expected outputs and checker back.
      const shown =
        workload === null || canReadGradingMaterial(principalOf(request))
          ? workload
          : { ...workload, spec: gradingMaterialView(workload.spec) };
      return {
        ...runView(run, shown),
        result: result === null ? null : { ...result, recordedAt: result.recordedAt.toISOString() },
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    "/v1/runs/:id/cancel",
    {
      schema: { params: uuidParam, summary: "Cancel a queued or running run", tags: ["runs"] },
      preHandler: authorize(store, "runs:cancel"),
    },
    async (request) => {
      const principal = principalOf(request);
      let run = await visibleRun(store, request, request.params.id);
      // The attempt may move on between read and write (a retry); try again on a stale attempt.
      for (let tries = 0; tries < 5; tries++) {
        if (isTerminal(run.state)) throw new GantryError("GANTRY_ERR_RUN_TERMINAL", [run.id, run.state]);
        const outcome = await store.transitionRun({
          runId: run.id,
          attempt: run.attempt,
          to: "cancelled",
          reason: `cancelled by ${principal.owner}`,
        });
        if (outcome.ok) return runView(outcome.run);
        if (outcome.run === null) throw new GantryError("GANTRY_ERR_NOT_FOUND", [`run ${run.id}`]);
        run = outcome.run;
      }
      throw new GantryError("GANTRY_ERR_UNAVAILABLE", ["the run kept changing; try again"]);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { after?: string } }>(
    "/v1/runs/:id/events",
    {
      schema: {
        params: uuidParam,
        querystring: eventsQuery,
        summary: "State changes of a run; Server-Sent Events with 'Accept: text/event-stream'",
        tags: ["runs"],
      },
      preHandler: authorize(store, "runs:read"),
    },
    async (request, reply) => {
      const run = await visibleRun(store, request, request.params.id);
      const lastEventId = request.headers["last-event-id"];
      let after = Number(request.query.after ?? (typeof lastEventId === "string" ? lastEventId : 0)) || 0;
      if (!(request.headers.accept ?? "").includes("text/event-stream")) {
        return { events: (await store.listRunEvents(run.id, after)).map(eventView) };
      }
      const sse = openSse(reply);
      const pump = serialized(async () => {
        for (const event of await store.listRunEvents(run.id, after)) {
          sse.send("state", eventView(event), event.seq);
          after = event.seq;
        }
        const current = await store.getRun(run.id);
        if (current === null || isTerminal(current.state)) {
          sse.send("end", current === null ? {} : runView(current));
          sse.close();
        }
      });
      followUntilClosed(sse, watcher.watch("event", run.id, pump), pump, followPollMs);
      return reply;
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: { follow?: string; after?: string; tail?: string; limit?: string };
  }>(
    "/v1/runs/:id/logs",
    {
      schema: {
        params: uuidParam,
        querystring: logsQuery,
        summary: "Log lines of a run (all attempts); follow=true streams them as Server-Sent Events",
        tags: ["runs"],
      },
      preHandler: authorize(store, "runs:read"),
    },
    async (request, reply) => {
      const run = await visibleRun(store, request, request.params.id);
      const q = request.query;
      const limit = Math.min(Math.max(Number(q.limit ?? 1000), 1), 10_000);
      let after = Number(q.after ?? 0);
      if (q.tail !== undefined) {
        const tailLines = await store.readLogs(run.id, { tail: Number(q.tail) });
        after = tailLines.length > 0 ? (tailLines[0]?.seq ?? 1) - 1 : await lastLogSeq(store, run.id);
      }
      const follow = q.follow === "true" || q.follow === "1";
      if (!follow) {
        const lines = await store.readLogs(run.id, { afterSeq: after, limit });
        const next = lines.length > 0 ? (lines[lines.length - 1]?.seq ?? after) : after;
        return { lines: lines.map(logView), next, state: run.state };
      }
      const sse = openSse(reply);
      const pump = serialized(async () => {
        // Read the state first: lines written before a terminal state are then all visible below.
        const current = await store.getRun(run.id);
        for (;;) {
          const lines = await store.readLogs(run.id, { afterSeq: after, limit: 1000 });
          for (const line of lines) sse.send("log", logView(line), line.seq);
          if (lines.length > 0) after = lines[lines.length - 1]?.seq ?? after;
          if (lines.length < 1000 || sse.closed) break;
        }
        if (current === null || isTerminal(current.state)) {
          sse.send("end", current === null ? {} : runView(current));
          sse.close();
        }
      });
      const unwatchLogs = watcher.watch("logs", run.id, pump);
      followUntilClosed(sse, watcher.watch("event", run.id, pump), pump, followPollMs);
      sse.onClose(unwatchLogs);
      return reply;
    },
  );
}

function resolveOwnerFilter(principal: Principal, requested: string | undefined): string | undefined {
  const scope = ownerScope(principal);
  if (scope !== undefined && requested !== undefined && requested !== scope) {
    throw new GantryError("GANTRY_ERR_FORBIDDEN", [principal.role, `list runs of owner ${requested}`]);
  }
  return scope ?? requested;
}

function parseStates(raw: string | undefined): RunState[] | undefined {
  if (raw === undefined || raw === "") return undefined;
  const states = raw.split(",").map((s) => s.trim());
  for (const s of states) {
    if (!isRunState(s)) throw new GantryError("GANTRY_ERR_VALIDATION", [`unknown state '${s.slice(0, 40)}'`]);
  }
  return states as RunState[];
}

async function lastLogSeq(store: Store, runId: string): Promise<number> {
  const last = await store.readLogs(runId, { tail: 1 });
  return last[0]?.seq ?? 0;
}

/** Wraps `fn` so calls never overlap; a call during a run schedules exactly one more. */
function serialized(fn: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    fn()
      .catch(() => undefined)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return run;
}

function followUntilClosed(
  sse: { onClose(fn: () => void): void },
  unwatch: () => void,
  pump: () => void,
  pollMs: number,
): void {
  const poll = setInterval(pump, pollMs);
  sse.onClose(() => {
    clearInterval(poll);
    unwatch();
  });
  pump();
}
