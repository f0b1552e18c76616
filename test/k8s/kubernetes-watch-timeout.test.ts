// client-node's watch and its 30 s timeout (issue 5, item 4). @kubernetes/client-node 2.0.0 aborted
// every watch 30 s after it started, healthy or not (kubernetes-client/javascript#3020); 2.0.1,
// which we pin, turned that into an inactivity timeout (#3022): a watch that receives data is
// left alone, a watch silent for 30 s is cut with a TimeoutError and its ListWatch reconnects at
// once from the last resourceVersion (no error reaches RestartingInformer, so it never restarts).
//
// One run spans the 30 s mark: its pod stays Pending for 34 s (the Job watch gets nothing in that
// time and is cut), then runs 6 s. A bare Gantry-labelled pod is patched every 2 s so the pod
// watch keeps receiving data. The test counts the executor's watch connections (every request it
// signs with watch=true) and asserts that the busy watch was never cut, that the quiet one was and
// came back, and that every transition of the run was reported, in order.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { RequestContext } from "@kubernetes/client-node";
import { GANTRY_LABELS, GANTRY_LABEL_VALUES } from "../../src/core/kubernetes-objects.ts";
import { KubernetesExecutor } from "../../src/executors/kubernetes/kubernetes-executor.ts";
import type { KubernetesExecutorLogger } from "../../src/executors/kubernetes/logger.ts";
import { TEST_ANNOTATIONS as A, createTestNamespace, useTestCluster } from "./harness.ts";
import { recordingSink, request } from "./kubernetes-executor-helpers.ts";

/** client-node's Watch.requestTimeoutMs in 2.0.x. */
const WATCH_TIMEOUT_MS = 30_000;

/** A KubeConfig that notes every watch request it signs: client-node signs each connection. */
class WatchCountingKubeConfig extends KubeConfig {
  readonly watches: { path: string; at: number }[] = [];

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const url = new URL(context.getUrl());
    if (url.searchParams.get("watch") === "true") this.watches.push({ path: url.pathname, at: Date.now() });
    await super.applySecurityAuthentication(context);
  }
}

test(
  "a run whose states span client-node's 30 s watch timeout is reported completely",
  { timeout: 120_000 },
  async (t) => {
    const { kc } = await useTestCluster();
    const ns = await createTestNamespace(kc, "k8s-watch-timeout");
    t.after(() => ns.cleanup());
    const core = kc.makeApiClient(CoreV1Api);

    // Keeps the pod watch busy: a pod the executor's informer sees (Gantry's label) but ignores
    // (no Job owns it), annotated anew every 2 s.
    const busy: V1Pod = {
      metadata: {
        name: "busy",
        labels: { [GANTRY_LABELS.managedBy]: GANTRY_LABEL_VALUES.managedBy },
      },
      spec: { containers: [{ name: "main", image: "registry.invalid/gantry-runner:test" }] },
    };
    await core.createNamespacedPod({ namespace: ns.name, body: busy });
    let ticks = 0;
    let patching = Promise.resolve();
    const ticker = setInterval(() => {
      patching = patching.then(async () => {
        await core
          .patchNamespacedPod({
            name: "busy",
            namespace: ns.name,
            body: [{ op: "add", path: "/metadata/annotations", value: { tick: String(++ticks) } }],
          })
          .catch(() => undefined);
      });
    }, 2000);
    t.after(async () => {
      clearInterval(ticker);
      await patching;
    });

    const watchingKc = new WatchCountingKubeConfig();
    watchingKc.loadFromString(kc.exportConfig());
    const restarts: string[] = [];
    const logger: KubernetesExecutorLogger = {
      info() {},
      warn(obj, msg) {
        if (msg?.includes("restarting it") === true) restarts.push(JSON.stringify(obj));
      },
      error() {},
    };
    const sink = recordingSink();
    const req = request();
    const executor = new KubernetesExecutor({
      kubeConfig: watchingKc,
      sink,
      runConfig: {
        namespace: ns.name,
        defaultImage: "registry.invalid/gantry-runner:test",
        ttlSecondsAfterFinished: 600,
        runAsUser: 65532,
        apiUrl: "http://gantry.invalid",
      },
      podAnnotations: () => ({ [A.startDelay]: "34s", [A.runDuration]: "6s" }),
      watchRetryBaseMs: 100,
      logger,
    });
    t.after(() => executor.shutdown());
    await executor.start();
    const startedAt = Date.now();
    await executor.launch(req);

    await sink.waitForState(req.runId, "pending");
    const running = await sink.waitForState(req.runId, "running", 60_000);
    const runningAt = Date.now();
    await sink.waitForState(req.runId, "succeeded", 30_000);
    const jobWatches = watchingKc.watches.filter((w) => w.path.endsWith("/jobs"));
    const podWatches = watchingKc.watches.filter((w) => w.path.endsWith("/pods"));
    const seen = `job watches at ${JSON.stringify(jobWatches.map((w) => w.at - startedAt))} ms, pod watches at ${JSON.stringify(podWatches.map((w) => w.at - startedAt))} ms, informer restarts ${JSON.stringify(restarts)}`;

    assert.ok(runningAt - startedAt > WATCH_TIMEOUT_MS, `running came after the 30 s mark (${seen})`);
    assert.equal(running.reason, "started");
    assert.deepEqual(
      sink.updates(req.runId).map((u) => u.state),
      ["pending", "running", "succeeded"],
      `every transition, in order (${seen})`,
    );
    assert.equal(ticks > 15, true, `the busy pod was patched throughout (${ticks} times)`);
    assert.equal(podWatches.length, 1, `the busy pod watch was never cut (${seen})`);
    // The Job watch heard nothing between the pod's creation and its start: client-node's
    // inactivity timeout cut it, and it was opened again (if a later client-node stops doing
    // that, this test no longer exercises a cut watch: change the delays, not the assertion).
    assert.ok(jobWatches.length >= 2, `the quiet Job watch was cut and reopened (${seen})`);
    const [first, second] = jobWatches;
    assert.ok(
      first !== undefined && second !== undefined && second.at - first.at >= WATCH_TIMEOUT_MS - 1000,
      `cut by the inactivity timeout, not sooner (${seen})`,
    );
    assert.ok(second !== undefined && second.at < runningAt, `reopened before the run started (${seen})`);
  },
);
