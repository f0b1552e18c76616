/** `/healthz` (process alive), `/readyz` (store answers), `/metrics` (Prometheus text). */

import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { RUN_STATES } from "../../core/run-state.ts";
import type { Store } from "../../store/store.ts";

export class GantryMetrics {
  readonly registry = new Registry();
  readonly dispatchLatency: Histogram;
  /** What the dispatcher's last reconcile found that belongs to no run (orphaned Jobs). */
  readonly orphans: Gauge;
  /** Attempts the reconciler re-queued (lost) or stopped (their run had moved on). */
  readonly reconciled: Counter<"action">;

  constructor(store: Store) {
    // Both gauges come from one count: a scrape collects them together, so they share one query.
    let counting: { at: number; counts: ReturnType<Store["countRunsByState"]> } | null = null;
    const countRuns = (): ReturnType<Store["countRunsByState"]> => {
      if (counting === null || Date.now() - counting.at > 250) {
        counting = { at: Date.now(), counts: store.countRunsByState() };
      }
      return counting.counts;
    };
    new Gauge({
      name: "gantry_runs",
      help: "Runs by state",
      labelNames: ["state"],
      registers: [this.registry],
      async collect() {
        const counts = await countRuns();
        for (const state of RUN_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: "gantry_queue_depth",
      help: "Runs waiting in the queue",
      registers: [this.registry],
      async collect() {
        this.set((await countRuns()).queued ?? 0);
      },
    });
    this.dispatchLatency = new Histogram({
      name: "gantry_dispatch_latency_seconds",
      help: "Time from a run becoming dispatchable to its launch",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.orphans = new Gauge({
      name: "gantry_orphan_resources",
      help: "Executor resources (Kubernetes Jobs) the last reconcile found belonging to no run",
      registers: [this.registry],
    });
    this.reconciled = new Counter({
      name: "gantry_reconciled_attempts_total",
      help: "Attempts the reconciler re-queued (lost by the executor), stopped (run moved on) or deleted (orphans)",
      labelNames: ["action"],
      registers: [this.registry],
    });
  }

  /** Records what one reconcile did. */
  observeReconcile(report: { requeued: number; stopped: number; deleted: number; orphans: string[] }): void {
    this.orphans.set(report.orphans.length - report.deleted);
    if (report.requeued > 0) this.reconciled.inc({ action: "requeued" }, report.requeued);
    if (report.stopped > 0) this.reconciled.inc({ action: "stopped" }, report.stopped);
    if (report.deleted > 0) this.reconciled.inc({ action: "deleted" }, report.deleted);
  }
}

export async function healthRoutes(
  app: FastifyInstance,
  options: { store: Store; metrics: GantryMetrics },
): Promise<void> {
  app.get("/healthz", { schema: { summary: "Liveness", tags: ["health"] } }, async () => ({ ok: true }));
  app.get(
    "/readyz",
    { schema: { summary: "Readiness: the store answers", tags: ["health"] } },
    async (_req, reply) => {
      try {
        await options.store.countApiTokens();
        return { ok: true, store: options.store.backend };
      } catch {
        return reply
          .status(503)
          .send({ error: { code: "GANTRY_ERR_UNAVAILABLE", message: "the store does not answer" } });
      }
    },
  );
  app.get(
    "/metrics",
    { schema: { summary: "Prometheus metrics", tags: ["health"] } },
    async (_req, reply) => {
      const text = await options.metrics.registry.metrics();
      return reply.header("content-type", options.metrics.registry.contentType).send(text);
    },
  );
}
