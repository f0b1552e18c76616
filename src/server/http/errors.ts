/**
 * One place turns every failure into the API's error body `{ error: { code, message, details? } }`:
 * our GantryErrors, Fastify's schema/parse/size errors, and anything unexpected (logged, shown as
 * an internal error without internals).
 */

import type { FastifyError, FastifyInstance } from "fastify";
import { GantryError, isGantryError } from "../../core/errors.ts";

export function errorBody(err: GantryError): { error: ReturnType<GantryError["toJSON"]> } {
  return { error: err.toJSON() };
}

export function toGantryError(err: FastifyError | Error): GantryError {
  if (isGantryError(err)) return err;
  const fe = err as FastifyError;
  if (fe.validation !== undefined) {
    const details = fe.validation.map((v) => {
      const where = `${fe.validationContext ?? "body"}${v.instancePath.replace(/\//g, ".")}`;
      const extra =
        v.keyword === "additionalProperties"
          ? ` '${String((v.params as { additionalProperty?: string }).additionalProperty)}'`
          : "";
      return `${where} ${v.message ?? "is invalid"}${extra}`;
    });
    return new GantryError("GANTRY_ERR_VALIDATION", [details.join("; ")], { problems: details });
  }
  switch (fe.code) {
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new GantryError("GANTRY_ERR_URI_TOO_LONG", ["200"]);
    case "FST_ERR_BAD_URL":
      return new GantryError("GANTRY_ERR_VALIDATION", ["the URL is malformed"]);
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new GantryError("GANTRY_ERR_BODY_TOO_LARGE", [
        String((fe as { limit?: number }).limit ?? "the allowed"),
      ]);
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new GantryError("GANTRY_ERR_BAD_JSON", [fe.message]);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new GantryError("GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE", [
        fe.message.replace(/^Unsupported Media Type: ?/, "") || "this",
      ]);
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new GantryError("GANTRY_ERR_VALIDATION", ["Content-Length does not match the body"]);
  }
  if (err instanceof SyntaxError) return new GantryError("GANTRY_ERR_BAD_JSON", [err.message]);
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new GantryError("GANTRY_ERR_VALIDATION", [fe.message]);
  }
  return new GantryError("GANTRY_ERR_INTERNAL", ["see the server log"]);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const gantryErr = toGantryError(err);
    if (gantryErr.statusCode >= 500) request.log.error({ err }, "request failed");
    if (reply.raw.headersSent) {
      reply.raw.end();
      return;
    }
    void reply.status(gantryErr.statusCode).send(errorBody(gantryErr));
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new GantryError("GANTRY_ERR_ROUTE_NOT_FOUND", [
      `${request.method} ${request.url.split("?")[0] ?? ""}`,
    ]);
    void reply.status(404).send(errorBody(err));
  });
}
