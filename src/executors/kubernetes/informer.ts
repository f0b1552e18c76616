/**
 * A client-node informer (list, then watch from the list's resourceVersion) that keeps going.
 *
 * client-node's `ListWatch` relists on 410 Gone and reconnects after a watch ends or times out,
 * but on any other error (the API server restarting, a 403, a dropped connection while listing) it
 * reports the error and stops for good. This wrapper restarts it after a capped, doubling delay.
 * A restart resumes the watch from the last resourceVersion it saw; when that is too old the
 * server answers 410 and the informer relists, reporting objects that vanished meanwhile as
 * deletions. Handlers that throw are logged: client-node would swallow the exception silently.
 */

import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from "@kubernetes/client-node";
import type { KubernetesExecutorLogger } from "./logger.ts";

export interface RestartingInformerOptions<T extends KubernetesObject> {
  /** For log lines, e.g. "jobs". */
  what: string;
  kubeConfig: KubeConfig;
  /** e.g. `/apis/batch/v1/namespaces/x/jobs`. */
  path: string;
  labelSelector: string;
  list: () => Promise<KubernetesListObject<T>>;
  onUpsert(obj: T): void;
  onDelete(obj: T): void;
  logger: KubernetesExecutorLogger;
  /** First restart delay, ms (default 500); doubles up to `maxDelayMs` (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class RestartingInformer<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private delayMs: number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Set while start() runs: the first error is thrown instead of restarting. */
  private starting = false;
  private startError: unknown = undefined;
  private lastErrorAt = 0;
  /** Restarts after errors, for tests and metrics. */
  restarts = 0;

  constructor(private readonly options: RestartingInformerOptions<T>) {
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.delayMs = this.baseDelayMs;
    this.informer = makeInformer<T>(options.kubeConfig, options.path, options.list, options.labelSelector);
    const guard =
      (fn: (obj: T) => void) =>
      (obj: T): void => {
        try {
          fn(obj);
        } catch (err) {
          options.logger.error(
            { err: err instanceof Error ? err.message : String(err), what: options.what },
            "kubernetes executor: informer handler failed",
          );
        }
      };
    this.informer.on("add", guard(options.onUpsert));
    this.informer.on("update", guard(options.onUpsert));
    this.informer.on("delete", guard(options.onDelete));
    this.informer.on("error", (err: unknown) => this.onError(err));
  }

  /** Lists and starts watching; throws what went wrong when the first list or watch fails. */
  async start(): Promise<void> {
    this.stopped = false;
    this.starting = true;
    this.startError = undefined;
    try {
      await this.informer.start();
    } finally {
      this.starting = false;
    }
    if (this.startError !== undefined) {
      const err = this.startError;
      await this.stop();
      throw err;
    }
  }

  /** The cached objects. */
  list(): readonly T[] {
    return this.informer.list();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.informer.stop();
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    if (this.starting) {
      this.startError ??= err;
      return;
    }
    const now = Date.now();
    // A minute without trouble: the next error starts the backoff afresh.
    if (now - this.lastErrorAt > 60_000) this.delayMs = this.baseDelayMs;
    this.lastErrorAt = now;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.options.logger.warn(
      { what: this.options.what, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
      "kubernetes executor: watch stopped; restarting it",
    );
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      this.restarts++;
      // Errors during the restart come back through onError and schedule the next one.
      this.informer.start().catch((e: unknown) => this.onError(e));
    }, delay);
  }
}
