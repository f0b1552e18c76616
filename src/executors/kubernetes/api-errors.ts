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
