/**
 * Reading client-node's errors: an `ApiException` carries the HTTP status in `code` and the
 * server's `Status` object (or its JSON text) in `body`; its own message is a multi-line dump.
 */

import { ApiException } from "@kubernetes/client-node";

export function apiStatus(err: unknown): number | null {
  return err instanceof ApiException ? (err.code as number) : null;
}

export function isApiStatus(err: unknown, code: number): boolean {
  return apiStatus(err) === code;
}

const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/**
 * Trouble worth sending the request again for: no answer at all (connection refused or reset, an
 * API server restarting: fetch fails with a system or undici error code somewhere in its causes)
 * or a 500/502/503/504. Other statuses and errors (a bug, a refused spec) are not.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof ApiException) return TRANSIENT_STATUSES.has(err.code as number);
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === "string" && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return true;
    e = (e as Error & { cause?: unknown }).cause;
  }
  return false;
}

interface StatusBody {
  message?: unknown;
  reason?: unknown;
}

/** The server's own message (e.g. `jobs.batch "x" already exists`), or the error's. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    let body: unknown = err.body;
    if (typeof body === "string") {
      const text = body.trim();
      try {
        body = JSON.parse(text);
      } catch {
        return text === "" ? `HTTP ${err.code}` : `HTTP ${err.code}: ${text}`;
      }
    }
    const message = (body as StatusBody | null)?.message;
    if (typeof message === "string" && message !== "") return message;
    return `HTTP ${err.code}`;
  }
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
