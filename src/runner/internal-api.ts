/**
 * The runner's client of Gantry's internal API: over the unix socket GANTRY_API_SOCKET when set
 * (local sandboxes have no network), else GANTRY_API_URL. Authorised by the run token alone.
 */

import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface InternalApi {
  payload(): Promise<unknown>;
  /** Posts the result; resolves with the HTTP status (2xx recorded, 409 already recorded). */
  postResult(result: unknown): Promise<number>;
}

export interface InternalApiConfig {
  runId: string;
  token: string;
  socketPath?: string | undefined;
  apiUrl?: string | undefined;
  timeoutMs?: number;
}

export function internalApi(config: InternalApiConfig): InternalApi {
  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
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
          timeout: config.timeoutMs ?? 15_000,
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
      req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      req.end(data);
    });
  const base = `/v1/internal/runs/${encodeURIComponent(config.runId)}`;
  return {
    async payload() {
      const res = await call("GET", `${base}/payload`);
      if (res.status !== 200) throw new Error(`payload: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
      return JSON.parse(res.text) as unknown;
    },
    async postResult(result) {
      const res = await call("POST", `${base}/result`, result);
      return res.status;
    },
  };
}

/**
 * Posts with retries and exponential backoff (0.5 s, 1 s, 2 s, … capped at 8 s) until `deadline`;
 * a 4xx other than 408/429 is final. Returns the last status, 0 when nothing got through.
 */
export async function postWithRetry(
  api: InternalApi,
  result: unknown,
  deadline: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<number> {
  let delay = 500;
  let status = 0;
  for (;;) {
    try {
      status = await api.postResult(result);
      if (status < 500 && status !== 408 && status !== 429) return status;
    } catch {
      status = 0;
    }
    if (Date.now() + delay > deadline) return status;
    await sleep(delay);
    delay = Math.min(delay * 2, 8000);
  }
}
