/**
 * Streams one container's log (`pods/log?follow=true`) into log lines, bounded by the attempt's
 * output limit, and makes sure nothing is missed at the end.
 *
 * - Every request reads the log from its start and skips the bytes already consumed, so a
 *   reconnect after a dropped stream (API server restart) resumes exactly where it stopped.
 * - A followed log ends by itself on a kubelet when the container exits, but never on kwok, and
 *   the watch that says "the Job ended" may come before the last lines: `finish()` stops following
 *   and reads the log once more without follow, keeping the bytes not yet consumed.
 * - Past `limitBytes` the rest is dropped, one `system` line says so, and reading stops.
 * - The API server merges stdout and stderr: every line is reported as `stdout`.
 * - Requests are plain HTTP(S) requests with the kubeconfig's credentials, not client-node's
 *   `Log.log()`: that one creates its AbortController inside and returns it only once the response
 *   headers arrive, which for a followed log of a container that has printed nothing yet is never
 *   (the request then cannot be aborted and keeps the process alive); it also pipes the response
 *   without an error listener, so aborting it raises an uncaught AbortError (2.0.1).
 */

import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { OutputCollector } from "../local/output.ts";
import type { LiveLogOptions } from "../executor.ts";
import type { TokenBucket } from "./rate-limit.ts";

export interface PodLogFollowerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  pod: string;
  container: string;
  /** Output bytes kept (the attempt's `limits.outputBytes`). */
  limitBytes: number;
  emit(stream: "stdout" | "system", text: string, at: Date): void;
  limiter?: TokenBucket;
  /**
   * First delay before re-following after the stream broke, ms (default 250). It doubles while
   * following keeps failing, up to 30 s (each try costs a rate-limiter token and a connection, and
   * the final read at the end recovers everything anyway), and starts afresh once data flows.
   */
  retryDelayMs?: number;
  /** Longest wait for the final read, ms (default 10 s). */
  finalReadTimeoutMs?: number;
  onError?(message: string): void;
}

interface Request {
  generation: number;
  /** Bytes of the log already consumed when this request started: skipped. */
  skip: number;
  /** Bytes this request has received. */
  seen: number;
}

const MAX_RETRY_DELAY_MS = 30_000;

/** Query parameters of `pods/log` (the API's PodLogOptions, as the executor offers them). */
export type PodLogQuery = LiveLogOptions & { container: string };

/**
 * Sends one `pods/log` request with the kubeconfig's credentials; `onResponse` gets the response
 * whatever its status. `onError` gets a failure to connect or a dropped connection.
 */
export async function sendPodLogRequest(
  kc: KubeConfig,
  target: { namespace: string; pod: string },
  query: PodLogQuery,
  onResponse: (res: IncomingMessage) => void,
): Promise<ClientRequest> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(
    `${server.replace(/\/+$/, "")}/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/log`,
  );
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const opts: RequestOptions = { method: "GET", headers: { Accept: "*/*" } };
  await kc.applyToHTTPSOptions(opts);
  const req =
    url.protocol === "https:" ? httpsRequest(url, opts, onResponse) : httpRequest(url, opts, onResponse);
  req.end();
  return req;
}

/** Reads an error response of the API server (a Status object, usually) into a PodLogError. */
export function readPodLogError(res: IncomingMessage, done: (err: PodLogError) => void): void {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (c: string) => (body = (body + c).slice(0, 4096)));
  const finish = () => {
    let message = body.trim();
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
    } catch {
      // not a Status object
    }
    done(new PodLogError(res.statusCode ?? 0, `HTTP ${res.statusCode}: ${message}`));
  };
  res.on("end", finish);
  res.on("error", finish);
}

/** A `pods/log` request the API server answered with an error status. */
export class PodLogError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "PodLogError";
  }
}

export class PodLogFollower {
  private readonly collector: OutputCollector;
  /** Bytes of the log consumed so far (from its start). */
  private offset = 0;
  private generation = 0;
  private current: ClientRequest | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private readonly baseRetryDelay: number;
  private truncated = false;
  private done = false;

  constructor(private readonly options: PodLogFollowerOptions) {
    this.retryDelay = this.baseRetryDelay = options.retryDelayMs ?? 250;
    this.collector = new OutputCollector({
      limitBytes: options.limitBytes,
      emit: (_stream, text, at) => options.emit("stdout", text, at),
    });
  }

  /** Bytes kept so far. */
  get bytes(): number {
    return this.collector.bytes;
  }

  get wasTruncated(): boolean {
    return this.truncated;
  }

  /** Starts following (from the start of the log). */
  start(): void {
    if (this.done) return;
    void this.follow();
  }

  /** Stops following, reads what is left, emits the last partial line. Idempotent. */
  async finish(): Promise<void> {
    if (this.done) return;
    this.halt();
    if (!this.truncated) {
      try {
        await this.readOnce();
      } catch (err) {
        // 400: the container never started; 404: the pod is gone. Either way there is no more.
        const status = err instanceof PodLogError ? err.status : null;
        if (status !== 400 && status !== 404)
          this.options.onError?.(`reading the log: ${(err as Error).message}`);
      }
    }
    this.done = true;
    this.halt();
    this.collector.flush();
  }

  /** Stops everything; nothing more is emitted. */
  stop(): void {
    this.done = true;
    this.halt();
  }

  private halt(): void {
    this.generation++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.current?.destroy();
    this.current = null;
  }

  private consume(request: Request, chunk: Buffer): void {
    if (request.generation !== this.generation || this.truncated) return;
    let data = chunk;
    const before = request.seen;
    request.seen += chunk.length;
    if (before < request.skip) {
      if (request.seen <= request.skip) return;
      data = chunk.subarray(request.skip - before);
    }
    this.offset += data.length;
    this.retryDelay = this.baseRetryDelay;
    if (!this.collector.push("stdout", data)) {
      this.truncated = true;
      this.options.emit(
        "system",
        `[gantry] output truncated: the log passed ${this.options.limitBytes} bytes (limits.outputBytes); the rest is not kept`,
        new Date(),
      );
      this.halt();
    }
  }

  /**
   * Sends one `pods/log` request; `onEnd` is called once: null when the response ended, else why
   * it failed. Returns null when this request was superseded before it was sent.
   */
  private async open(follow: boolean, onEnd: (err: Error | null) => void): Promise<ClientRequest | null> {
    const request: Request = { generation: this.generation, skip: this.offset, seen: 0 };
    await this.options.limiter?.take();
    if (request.generation !== this.generation) return null;
    const { namespace, pod, container } = this.options;
    let ended = false;
    const end = (err: Error | null) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    const onResponse = (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        readPodLogError(res, end);
        return;
      }
      res.on("data", (chunk: Buffer) => this.consume(request, chunk));
      res.on("end", () => end(null));
      res.on("error", end);
      res.on("aborted", () => end(new Error("the log stream was aborted")));
    };
    const req = await sendPodLogRequest(
      this.options.kubeConfig,
      { namespace, pod },
      { container, follow, limitBytes: this.options.limitBytes + 1 },
      onResponse,
    );
    req.on("error", end);
    req.on("close", () => end(new Error("the connection closed")));
    return req;
  }

  private async follow(): Promise<void> {
    const generation = this.generation;
    try {
      const req = await this.open(true, (err) => {
        if (generation !== this.generation || this.done) return;
        // A clean end: the container exited (kubelet). finish() reads whatever else there is.
        if (err === null) return;
        this.scheduleRetry(err.message);
      });
      if (req !== null && (generation !== this.generation || this.done)) req.destroy();
      else if (req !== null) this.current = req;
    } catch (err) {
      if (generation !== this.generation || this.done) return;
      this.scheduleRetry((err as Error).message);
    }
  }

  private scheduleRetry(why: string): void {
    if (this.done || this.retryTimer !== null) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_DELAY_MS);
    this.options.onError?.(`following the log: ${why}; again in ${delay} ms`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.done) void this.follow();
    }, delay);
  }

  private async readOnce(): Promise<void> {
    const timeoutMs = this.options.finalReadTimeoutMs ?? 10_000;
    let req: ClientRequest | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no end of the log after ${timeoutMs} ms`)), timeoutMs);
        this.open(false, (err) => (err === null ? resolve() : reject(err)))
          .then((r) => {
            req = r;
            if (r === null) resolve();
          })
          .catch(reject);
      });
    } finally {
      clearTimeout(timer);
      (req as ClientRequest | null)?.destroy();
    }
  }
}
