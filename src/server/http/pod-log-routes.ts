/**
 * `GET /v1/runs/{id}/pod-log`: the log of a run's pod as the API server serves it (`pods/log`),
 * with kubectl's options — container, follow, previous, tail, since, sinceTime, limitBytes,
 * timestamps — streamed as plain text. It exists while the pod does; `/v1/runs/{id}/logs` is the
 * archived copy that outlives it. Only with the Kubernetes executor in this process.
 */

import type { FastifyInstance } from "fastify";
import { GantryError } from "../../core/errors.ts";
import type { Executor, LiveLogOptions } from "../../executors/executor.ts";
import type { Store } from "../../store/store.ts";
import { authorize, visibleRun } from "./auth.ts";
import { uuidParam } from "./schemas.ts";

export interface PodLogRoutesOptions {
  store: Store;
  /** The executor of this process, when it keeps live logs (Kubernetes). */
  liveLogs: Pick<Executor, "openLiveLog"> | null;
}

interface PodLogQuery {
  attempt?: string;
  container?: string;
  follow?: string;
  previous?: string;
  tail?: string;
  since?: string;
  sinceTime?: string;
  limitBytes?: string;
  timestamps?: string;
}

const BOOL = { type: "string", enum: ["true", "false", "1", "0"] } as const;

export const podLogQuery = {
  type: "object",
  additionalProperties: false,
  properties: {
    attempt: { type: "string", pattern: "^[0-9]{1,6}$", description: "default: the run's current attempt" },
    container: {
      type: "string",
      pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
      description: "default: the workload's container",
    },
    follow: BOOL,
    previous: BOOL,
    tail: { type: "string", pattern: "^[0-9]{1,6}$", description: "only the last N lines" },
    since: { type: "string", pattern: "^[0-9]{1,7}[smh]$", description: "e.g. 30s, 5m, 2h" },
    sinceTime: { type: "string", format: "date-time", description: "RFC 3339" },
    limitBytes: { type: "string", pattern: "^[0-9]{1,9}$", description: "at most N bytes" },
    timestamps: BOOL,
  },
} as const;

const SECONDS = { s: 1, m: 60, h: 3600 } as const;
const MAX_LIMIT_BYTES = 64 * 1024 * 1024;

/** The query as pods/log options; refuses combinations the API server would. */
export function liveLogOptions(q: PodLogQuery): LiveLogOptions {
  const flag = (v: string | undefined) => (v === undefined ? undefined : v === "true" || v === "1");
  if (q.since !== undefined && q.sinceTime !== undefined)
    throw new GantryError("GANTRY_ERR_VALIDATION", ["give since or sinceTime, not both"]);
  const options: LiveLogOptions = {};
  if (q.container !== undefined) options.container = q.container;
  const follow = flag(q.follow);
  if (follow !== undefined) options.follow = follow;
  const previous = flag(q.previous);
  if (previous !== undefined) options.previous = previous;
  const timestamps = flag(q.timestamps);
  if (timestamps !== undefined) options.timestamps = timestamps;
  if (q.tail !== undefined) options.tailLines = Number(q.tail);
  if (q.since !== undefined) {
    const unit = q.since.slice(-1) as keyof typeof SECONDS;
    const seconds = Number(q.since.slice(0, -1)) * SECONDS[unit];
    if (seconds < 1) throw new GantryError("GANTRY_ERR_VALIDATION", ["since must be at least 1s"]);
    options.sinceSeconds = seconds;
  }
  if (q.sinceTime !== undefined) options.sinceTime = new Date(q.sinceTime).toISOString();
  if (q.limitBytes !== undefined) {
    const n = Number(q.limitBytes);
    if (n < 1 || n > MAX_LIMIT_BYTES)
      throw new GantryError("GANTRY_ERR_VALIDATION", [`limitBytes must be from 1 to ${MAX_LIMIT_BYTES}`]);
    options.limitBytes = n;
  }
  return options;
}

export async function podLogRoutes(app: FastifyInstance, options: PodLogRoutesOptions): Promise<void> {
  const { store, liveLogs } = options;

  app.get<{ Params: { id: string }; Querystring: PodLogQuery }>(
    "/v1/runs/:id/pod-log",
    {
      schema: {
        params: uuidParam,
        querystring: podLogQuery,
        summary: "The live log of the run's pod (Kubernetes pods/log), as plain text",
        tags: ["runs"],
      },
      preHandler: authorize(store, "runs:read"),
    },
    async (request, reply) => {
      const id = request.params.id;
      const run = await visibleRun(store, request, id);
      const logOptions = liveLogOptions(request.query);
      const attempt = request.query.attempt === undefined ? run.attempt : Number(request.query.attempt);
      if (attempt < 1 || attempt > run.attempt)
        throw new GantryError("GANTRY_ERR_VALIDATION", [`attempt must be from 1 to ${run.attempt}`]);
      if (liveLogs?.openLiveLog === undefined || run.executor !== "kubernetes") {
        throw new GantryError("GANTRY_ERR_LIVE_LOG_UNAVAILABLE", [
          id,
          `it does not run on the Kubernetes executor of this Gantry process; read /v1/runs/${id}/logs`,
        ]);
      }
      const live = await liveLogs.openLiveLog(run.id, attempt, logOptions);
      request.raw.on("close", () => live.close());
      reply.header("content-type", "text/plain; charset=utf-8");
      reply.header("x-gantry-log-source", live.source);
      return reply.send(live.stream);
    },
  );
}
