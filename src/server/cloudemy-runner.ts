/**
 * Redis mode of the Cloudemy API: launching a submission with the original Cloudemy runner image.
 * `withCloudemyRunner` wraps the executor: for a spec made by `cloudemyRunnerSpec` it first writes
 * the hash `submission:{id}` (submission_id, user_id, language, code) that the runner reads, then
 * launches with the runner's env completed — SUBMISSION_ID, REDIS_URL, LLM_API_KEY, which are
 * secret or known only now and so never stored in the spec. Every other launch passes through.
 *
 * The store stays the source of truth: the hash is written at launch, from the stored workload, so
 * Redis holds nothing Gantry does not. When Redis is down the launch fails with a reason naming it
 * (`executor_error: redis unavailable: …`), the dispatcher records it, and the run is retried as
 * its retry policy says (the API gives these runs two attempts) — nothing is lost or silently
 * dropped. Nothing is LPUSHed onto `queue:submissions`: Gantry's queue is the store, and a list
 * nobody pops would only grow (or, were the original scheduler still running, launch every
 * submission a second time).
 */

import { createClient } from "@redis/client";
import type { Logger } from "pino";
import { cloudemyLaunchEnv, cloudemyRedisHash, isCloudemyRunnerSpec } from "../core/cloudemy-contract.ts";
import { GantryError } from "../core/errors.ts";
import type { Executor, LaunchRequest } from "../executors/executor.ts";
import type { CloudemyConfig } from "./config.ts";

/** The hash outlives the run's wall time by as long as its token does (dispatcher's grace). */
const HASH_GRACE_SECONDS = 600;
/** A write that takes longer than this fails the launch rather than holding the dispatcher. */
const WRITE_TIMEOUT_MS = 5000;

export interface SubmissionHashWriter {
  /** HSET key fields + EXPIRE key ttlSeconds, atomically; rejects when Redis does not take it. */
  write(key: string, fields: Record<string, string>, ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A Redis connection that fails commands at once while disconnected (no offline queue: a launch
 * must not wait for Redis to come back) and reconnects in the background with capped backoff.
 */
export function redisHashWriter(url: string, logger: Pick<Logger, "warn">): SubmissionHashWriter {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 3000,
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000),
    },
  });
  let lastWarning = 0;
  client.on("error", (err: Error) => {
    // Reconnects repeat the same error; say it once a minute, not every attempt.
    if (Date.now() - lastWarning > 60_000) {
      lastWarning = Date.now();
      logger.warn({ err: err.message }, "redis (Cloudemy runner contract) unavailable");
    }
  });
  const connected = client.connect().catch(() => undefined);
  return {
    async write(key, fields, ttlSeconds) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${WRITE_TIMEOUT_MS} ms`)), WRITE_TIMEOUT_MS);
      });
      try {
        await Promise.race([client.multi().hSet(key, fields).expire(key, ttlSeconds).exec(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      client.destroy();
      await connected;
    },
  };
}

/**
 * The executor, with launches of the Cloudemy runner's specs prepared as the header says. Every
 * other method (and launches of other specs) is the wrapped executor's own.
 */
export function withCloudemyRunner(
  executor: Executor,
  config: CloudemyConfig,
  logger: Pick<Logger, "warn">,
  writer: SubmissionHashWriter | null = config.redisUrl === undefined
    ? null
    : redisHashWriter(config.redisUrl, logger),
): Executor {
  const launch = async (request: LaunchRequest): Promise<void> => {
    if (!isCloudemyRunnerSpec(request.spec)) return executor.launch(request);
    if (writer === null || config.redisUrl === undefined)
      throw new GantryError("GANTRY_ERR_EXECUTOR", [
        "this submission is for the Cloudemy runner, which needs REDIS_URL; it is not set",
      ]);
    const hash = cloudemyRedisHash(request.runId, request.owner, request.spec);
    try {
      await writer.write(hash.key, hash.fields, request.spec.limits.wallSeconds + HASH_GRACE_SECONDS);
    } catch (err) {
      throw new GantryError("GANTRY_ERR_EXECUTOR", [`redis unavailable: ${(err as Error).message}`]);
    }
    const spec = cloudemyLaunchEnv(request.spec, request.runId, {
      redisUrl: config.redisUrl,
      llmApiKey: config.llmApiKey,
    });
    return executor.launch({ ...request, spec });
  };
  const shutdown = async (): Promise<void> => {
    try {
      await executor.shutdown();
    } finally {
      await writer?.close();
    }
  };
  // A Proxy rather than a class listing the methods: optional ones the executor has (or gains)
  // stay visible exactly as they are, bound to it.
  return new Proxy(executor, {
    get(target, property) {
      if (property === "launch") return launch;
      if (property === "shutdown") return shutdown;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
