/**
 * The runner's client of Gantry's internal API: over the unix socket GANTRY_API_SOCKET when set
 * (local sandboxes have no network), else GANTRY_API_URL. Authorised by the run token alone.
 */

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface Answer {
  status: number;
  /** The parsed JSON body; null when there is none or it is not JSON. */
  body: unknown;
  text: string;
}

export interface InternalApi {
  /** The run's payload (spec and what to do about an LLM review). */
  payload(): Promise<Answer>;
  /** Posts the result; resolves with the HTTP status (2xx recorded, 409 already recorded). */
  postResult(result: unknown): Promise<number>;
  /** Asks the server for the attempt's LLM review of `draft`; waits at most `timeoutMs`. */
  llmReview(draft: unknown, timeoutMs: number): Promise<Answer>;
}

export interface InternalApiConfig {
  runId: string;
  token: string;
  socketPath?: string | undefined;
  apiUrl?: string | undefined;
  timeoutMs?: number;
}

export function internalApi(config: InternalApiConfig): InternalApi {
  const call = (
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = config.timeoutMs ?? 15_000,
  ): Promise<{ status: number; text: string }> => {
    let timer: NodeJS.Timeout | undefined;
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { "x-run-token": config.token };
      if (data !== undefined) headers["content-type"] = "application/json";
      const base = config.socketPath === undefined ? new URL(config.apiUrl ?? "http://127.0.0.1:8080") : null;
      const send = base?.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(
        {
          method,
          path: `${base?.pathname.replace(/\/$/, "") ?? ""}${path}`,
          headers,
          timeout: timeoutMs,
          ...(config.socketPath === undefined
            ? { hostname: base?.hostname, port: base?.port }
            : { socketPath: config.socketPath, hostname: "gantry" }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      // `timeout` is socket inactivity; the whole exchange gets the same bound.
      timer = setTimeout(() => req.destroy(new Error(`${method} ${path} timed out`)), timeoutMs);
      req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      req.end(data);
    }).finally(() => clearTimeout(timer));
  };
  const base = `/v1/internal/runs/${encodeURIComponent(config.runId)}`;
  const answer = (res: { status: number; text: string }): Answer => {
    let body: unknown = null;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = null;
    }
    return { ...res, body };
  };
  return {
    async payload() {
      return answer(await call("GET", `${base}/payload`));
    },
    async postResult(result) {
      const res = await call("POST", `${base}/result`, result);
      return res.status;
    },
    async llmReview(draft, timeoutMs) {
      return answer(await call("POST", `${base}/llm-review`, draft, timeoutMs));
    },
  };
}

/**
 * Calls `send` with retries and exponential backoff (0.5 s, 1 s, 2 s, … capped at 8 s) until
 * `deadline`: through connection errors (a pod whose network is not ready yet), 5xx, 408 and 429;
 * any other answer is final. Returns the last answer, null when nothing got through.
 */
export async function withRetry<T extends { status: number }>(
  send: () => Promise<T>,
  deadline: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T | null> {
  let delay = 500;
  let last: T | null = null;
  for (;;) {
    try {
      last = await send();
      if (last.status < 500 && last.status !== 408 && last.status !== 429) return last;
    } catch {
      last = null;
    }
    if (Date.now() + delay > deadline) return last;
    await sleep(delay);
    delay = Math.min(delay * 2, 8000);
  }
}

/** The payload, fetched with `withRetry`; throws when none came by `deadline`. */
export async function payloadWithRetry(
  api: InternalApi,
  deadline: number,
  sleep?: (ms: number) => Promise<void>,
): Promise<unknown> {
  const res = await withRetry(() => api.payload(), deadline, sleep);
  if (res === null) throw new Error("payload: the API is unreachable");
  if (res.status !== 200 || res.body === null)
    throw new Error(`payload: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  return res.body;
}
/** Posts the result with `withRetry`; the last status, 0 when nothing got through. */
export async function postWithRetry(
  api: InternalApi,
  result: unknown,
  deadline: number,
  sleep?: (ms: number) => Promise<void>,
): Promise<number> {
  const res = await withRetry(async () => ({ status: await api.postResult(result) }), deadline, sleep);
  return res?.status ?? 0;
}
