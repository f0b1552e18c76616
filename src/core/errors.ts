/**
 * Every failure Gantry reports to a caller has one code here, with its HTTP status and a message
 * template. Codes are never reused once retired (list retired ones in RETIRED_ERROR_CODES).
 * `docs/errors.md` lists every code; a test keeps the two in step.
 */

export interface ErrorDefinition {
  status: number;
  message: string;
}

export const ERRORS = {
  // Input
  GANTRY_ERR_VALIDATION: { status: 400, message: "invalid request: %s" },
  GANTRY_ERR_BODY_TOO_LARGE: { status: 413, message: "request body is larger than %s bytes" },
  GANTRY_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "send the body as application/json, not %s" },
  GANTRY_ERR_BAD_JSON: { status: 400, message: "request body is not valid JSON: %s" },
  GANTRY_ERR_URI_TOO_LONG: { status: 414, message: "a path segment is longer than %s characters" },
  GANTRY_ERR_INVALID_ID: { status: 400, message: "%s is not a valid id" },
  GANTRY_ERR_LIMIT_EXCEEDED: { status: 400, message: "limit %s exceeds the maximum allowed (%s)" },
  // Auth
  GANTRY_ERR_UNAUTHENTICATED: {
    status: 401,
    message: "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
  },
  GANTRY_ERR_FORBIDDEN: { status: 403, message: "role %s may not %s" },
  GANTRY_ERR_RUN_TOKEN_INVALID: { status: 401, message: "run token is missing, wrong, used or expired" },
  // Lookups
  GANTRY_ERR_NOT_FOUND: { status: 404, message: "%s not found" },
  GANTRY_ERR_ROUTE_NOT_FOUND: { status: 404, message: "no route %s" },
  // Run lifecycle
  GANTRY_ERR_ILLEGAL_TRANSITION: { status: 409, message: "run cannot move from %s to %s" },
  GANTRY_ERR_RUN_TERMINAL: { status: 409, message: "run %s has already ended (%s)" },
  GANTRY_ERR_RESULT_ALREADY_RECORDED: {
    status: 409,
    message: "a result for run %s attempt %s was already recorded",
  },
  GANTRY_ERR_STALE_ATTEMPT: { status: 409, message: "attempt %s of run %s is no longer current" },
  GANTRY_ERR_LLM_REVIEW_NOT_ENABLED: { status: 409, message: "run %s gets no LLM review: %s" },
  // Finalization (the Cloudemy API)
  GANTRY_ERR_ALREADY_FINALIZED: {
    status: 409,
    message: "%s has already finalized another submission (%s); only one may be finalized",
  },
  GANTRY_ERR_NOT_FINISHED: {
    status: 409,
    message: "submission %s has not finished (%s); finalize it once it has its result",
  },
  // Execution
  GANTRY_ERR_SANDBOX_UNAVAILABLE: {
    status: 503,
    message: "the local sandbox is unavailable: %s",
  },
  GANTRY_ERR_EXECUTOR: { status: 502, message: "executor error: %s" },
  GANTRY_ERR_EXECUTOR_BUSY: { status: 503, message: "the executor has no room now: %s" },
  GANTRY_ERR_LIVE_LOG_UNAVAILABLE: { status: 409, message: "no live log of run %s: %s" },
  // Server
  GANTRY_ERR_CONFIG: { status: 500, message: "invalid configuration: %s" },
  GANTRY_ERR_INTERNAL: { status: 500, message: "internal error: %s" },
  GANTRY_ERR_UNAVAILABLE: { status: 503, message: "%s" },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

/** Codes that existed once; never define them again. */
export const RETIRED_ERROR_CODES: readonly string[] = [];

export class GantryError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, args: readonly (string | number)[] = [], details?: Record<string, unknown>) {
    super(formatMessage(ERRORS[code].message, args));
    this.name = "GantryError";
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isGantryError(err: unknown): err is GantryError {
  return err instanceof GantryError;
}

function formatMessage(template: string, args: readonly (string | number)[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : "%s"));
}
