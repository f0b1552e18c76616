/**
 * The baseline of bench/kubernetes.ts, in a process of its own (as Gantry is, so the parent's
 * watches are never starved by the creating side): a plain `@kubernetes/client-node` loop that
 * sends what KubernetesExecutor.launch sends for an attempt, rendered by the same
 * `renderRunObjects` (the Job, then its Secret owned by it), through a `TokenBucket` of the same
 * QPS/burst, every run of a request at once (as the dispatcher launches a claimed batch). Forked by
 * the parent; answers `PlainRequest`s over IPC.
 */

import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Secret } from "@kubernetes/client-node";
import { normalizeJobSpec } from "../src/core/job-spec.ts";
import { ownedBy, renderRunObjects } from "../src/core/kubernetes-objects.ts";
import type { JobSpec } from "../src/core/workload.ts";
import { TokenBucket } from "../src/executors/kubernetes/rate-limit.ts";
import { generateToken } from "../src/server/tokens.ts";
import { isApiStatus } from "../test/k8s/harness.ts";
import { benchPodAnnotations, isEntry, jobRequest, type PodTiming } from "./kubernetes-gantry.ts";

/** Parent → child: create these runs' objects (all at once), or stop. */
export type PlainRequest =
  | {
      id: number;
      type: "create";
      namespace: string;
      runIds: string[];
      timing: PodTiming;
      qps: number;
      burst: number;
    }
  | { id: number; type: "stop" };

/** Child → parent: `ready` once, then one reply per request (create: requests retried after 429). */
export type PlainMessage =
  | { type: "ready" }
  | { type: "reply"; id: number; value: number }
  | { type: "error"; id: number; message: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class PlainClient {
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly limiter: TokenBucket;
  retried429 = 0;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    qps: { qps: number; burst: number },
  ) {
    this.batch = kc.makeApiClient(BatchV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.limiter = new TokenBucket(qps.qps, qps.burst);
  }

  /** What KubernetesExecutor.launch sends for an attempt: the Job, then its Secret owned by it. */
  async create(runId: string, spec: JobSpec): Promise<void> {
    const rendered = renderRunObjects(
      {
        runId,
        attempt: 1,
        owner: "bench",
        kind: "job",
        spec,
        runToken: generateToken("run"),
        podAnnotations: benchPodAnnotations(spec.env),
      },
      {
        namespace: this.namespace,
        defaultImage: "registry.invalid/gantry-runner:bench",
        ttlSecondsAfterFinished: 600,
        runAsUser: 65532,
        apiUrl: "http://gantry.invalid",
      },
    );
    // Rendered objects are plain JSON of these kinds, as the executor sends them.
    const job = await this.send(() =>
      this.batch.createNamespacedJob({ namespace: this.namespace, body: rendered.job as unknown as V1Job }),
    );
    const secret = ownedBy(rendered.secret, {
      metadata: { name: rendered.name, uid: job.metadata?.uid ?? "" },
    });
    await this.send(() =>
      this.core.createNamespacedSecret({ namespace: this.namespace, body: secret as unknown as V1Secret }),
    );
  }

  /** One rate-limited request; a 429 waits and tries again, as client-go does. */
  private async send<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.limiter.take();
      try {
        return await request();
      } catch (err) {
        if (!isApiStatus(err, 429) || attempt >= 10) throw err;
        this.retried429++;
        await sleep(100 * 2 ** Math.min(attempt, 4));
      }
    }
  }
}

function main(): void {
  const kc = new KubeConfig();
  kc.loadFromFile(process.argv[2] ?? "");
  // One client (and token bucket) per namespace and setting, as one executor per Gantry.
  const clients = new Map<string, PlainClient>();
  const send = (m: PlainMessage) => process.send?.(m);
  process.on("message", (req: PlainRequest) => {
    if (req.type === "stop") {
      send({ type: "reply", id: req.id, value: 0 });
      process.disconnect();
      return;
    }
    const key = `${req.namespace} ${req.qps} ${req.burst}`;
    let client = clients.get(key);
    if (client === undefined) clients.set(key, (client = new PlainClient(kc, req.namespace, req)));
    const spec = normalizeJobSpec(jobRequest(req.timing));
    const c = client;
    const before = c.retried429;
    Promise.all(req.runIds.map((id) => c.create(id, spec))).then(
      () => send({ type: "reply", id: req.id, value: c.retried429 - before }),
      (err: unknown) =>
        send({ type: "error", id: req.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
  send({ type: "ready" });
}

if (isEntry(import.meta.url)) main();
