/**
 * The CLI's API client: where the server is and which token to use (`GANTRY_URL`/`GANTRY_TOKEN`
 * override the credentials `gantry up` saved), JSON requests with Gantry's error bodies turned into
 * readable errors, and a Server-Sent Events reader for followed streams.
 */

import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ClientSettings {
  url: string;
  token: string | undefined;
}

export async function loadClientSettings(env: NodeJS.ProcessEnv): Promise<ClientSettings> {
  const dataDir = env.GANTRY_DATA_DIR ?? join(homedir(), ".gantry");
  let saved: { url?: unknown; token?: unknown } = {};
  try {
    saved = JSON.parse(await readFile(join(dataDir, "credentials.json"), "utf8")) as typeof saved;
  } catch {
    // No saved credentials: env vars or defaults below.
  }
  const url = env.GANTRY_URL ?? (typeof saved.url === "string" ? saved.url : "http://127.0.0.1:8080");
  const token = env.GANTRY_TOKEN ?? (typeof saved.token === "string" ? saved.token : undefined);
  return { url: url.replace(/\/+$/, ""), token };
}

export class GantryClient {
  constructor(readonly settings: ClientSettings) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.settings.token === undefined
      ? extra
      : { authorization: `Bearer ${this.settings.token}`, ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.settings.url + path, {
        method,
        headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiError(
        0,
        "GANTRY_ERR_UNREACHABLE",
        `cannot reach Gantry at ${this.settings.url} (${causeOf(err)}); is 'gantry up' running? Set GANTRY_URL to point elsewhere.`,
      );
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      const hint =
        response.status === 401 ? " (set GANTRY_TOKEN, or run 'gantry up' once to save an admin token)" : "";
      throw new ApiError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        (error?.message ?? text.slice(0, 500)) + hint,
      );
    }
    return parsed as T;
  }

  /** Opens a streamed response; a refusal becomes an ApiError with the server's code and message. */
  private async open(
    path: string,
    accept: string,
    signal?: AbortSignal,
  ): Promise<Response & { body: ReadableStream<Uint8Array> }> {
    let response: Response;
    try {
      response = await fetch(this.settings.url + path, {
        headers: this.headers({ accept }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      throw new ApiError(
        0,
        "GANTRY_ERR_UNREACHABLE",
        `cannot reach Gantry at ${this.settings.url} (${causeOf(err)})`,
      );
    }
    if (!response.ok || response.body === null) {
      const text = await response.text();
      let message = text.slice(0, 500);
      let code = `HTTP_${response.status}`;
      try {
        const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        message = e?.message ?? message;
        code = e?.code ?? code;
      } catch {
        // not JSON
      }
      throw new ApiError(response.status, code, message);
    }
    return response as Response & { body: ReadableStream<Uint8Array> };
  }

  /** Copies a plain-text response to `out` as it arrives, until the server ends it. */
  async copyText(path: string, out: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
    const response = await this.open(path, "text/plain", signal);
    for await (const chunk of response.body) out.write(chunk);
  }

  /** Reads an SSE stream, calling `onEvent` per event, until the server ends it or `signal` aborts. */
  async stream(
    path: string,
    onEvent: (event: string, data: unknown) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const response = await this.open(path, "text/event-stream", signal);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let boundary: number;
      while ((boundary = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        const parsed = parseSseFrame(frame);
        if (parsed !== null) onEvent(parsed.event, parsed.data);
      }
    }
  }
}

export function parseSseFrame(frame: string): { event: string; data: unknown } | null {
  let event = "message";
  const data: string[] = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length === 0) return null;
  try {
    return { event, data: JSON.parse(data.join("\n")) };
  } catch {
    return { event, data: data.join("\n") };
  }
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
