/**
 * Builds the Fastify app: error handling, OpenAPI document and UI at /docs, and one encapsulated
 * plugin per API area. It opens no socket; `gantry-server.ts` listens, tests use `inject`.
 */

import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Logger } from "pino";
import type { Limits } from "../../core/workload.ts";
import type { Store } from "../../store/store.ts";
import type { CloudemyConfig, LlmConfig } from "../config.ts";
import type { RunWatcher } from "../run-watcher.ts";
import { errorBody, registerErrorHandling, toGantryError } from "./errors.ts";
import { GantryMetrics, healthRoutes } from "./health-routes.ts";
import { internalRoutes } from "./internal-routes.ts";
import { podLogRoutes, type PodLogRoutesOptions } from "./pod-log-routes.ts";
import { cloudemyRoutes } from "./compat/cloudemy-routes.ts";
import { runsRoutes } from "./runs-routes.ts";
import { tokensRoutes } from "./tokens-routes.ts";

export interface ApiOptions {
  store: Store;
  watcher: RunWatcher;
  metrics: GantryMetrics;
  logger: Logger;
  bodyLimitBytes: number;
  defaultLimits: Limits;
  maxLimits: Limits;
  followPollMs?: number;
  onRunCreated?: () => void;
  /** The Cloudemy API's settings; absent: its defaults (compile-only, no Redis). */
  cloudemy?: CloudemyConfig;
  /** The LLM endpoint of reviews; absent: reviews off (`GANTRY_LLM_REVIEW=off`). */
  llm?: LlmConfig;
  /** The executor of this process, for live pod logs (Kubernetes); null or absent: none. */
  liveLogs?: PodLogRoutesOptions["liveLogs"];
}

export const API_VERSION = "0.1.0";

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 200 },
    // Router errors (over-long or malformed path segments) arrive before any hook; same body.
    frameworkErrors: (err, _request, reply) => {
      const gantryErr = toGantryError(err);
      reply.raw.writeHead(gantryErr.statusCode, { "content-type": "application/json; charset=utf-8" });
      reply.raw.end(JSON.stringify(errorBody(gantryErr)));
    },
    ajv: {
      // Wrong types and unknown fields are errors, not silently coerced or dropped.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: true },
    },
  });
  app.decorateRequest("principal", null);
  registerErrorHandling(app);

  await app.register(swagger, {
    openapi: {
      info: {
        title: "Gantry API",
        version: API_VERSION,
        description:
          "Runs untrusted workloads in a sandbox or as Kubernetes Jobs. Errors: `{ error: { code, message } }`.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });

  await app.register(healthRoutes, { store: options.store, metrics: options.metrics });
  await app.register(runsRoutes, {
    store: options.store,
    watcher: options.watcher,
    defaultLimits: options.defaultLimits,
    maxLimits: options.maxLimits,
    ...(options.followPollMs === undefined ? {} : { followPollMs: options.followPollMs }),
    ...(options.onRunCreated === undefined ? {} : { onRunCreated: options.onRunCreated }),
  });
  await app.register(podLogRoutes, { store: options.store, liveLogs: options.liveLogs ?? null });
  await app.register(internalRoutes, {
    store: options.store,
    ...(options.llm === undefined ? {} : { llm: options.llm }),
  });
  await app.register(tokensRoutes, { store: options.store });
  await app.register(cloudemyRoutes, {
    store: options.store,
    defaultLimits: options.defaultLimits,
    maxLimits: options.maxLimits,
    ...(options.cloudemy === undefined ? {} : { cloudemy: options.cloudemy }),
    ...(options.onRunCreated === undefined ? {} : { onRunCreated: options.onRunCreated }),
  });
  return app;
}
