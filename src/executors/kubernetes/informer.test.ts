// RestartingInformer against a fake API server whose watches break: client-node's informer stops
// on such errors; the wrapper must restart it and keep delivering events.
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { test } from "node:test";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { fakeKubeApi } from "../../../test/helpers/fake-kube-api.ts";
import { RestartingInformer } from "./informer.ts";
import { NOOP_LOGGER } from "./logger.ts";

const pod = (name: string, resourceVersion: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: "runs",
    resourceVersion,
    labels: { "app.kubernetes.io/managed-by": "gantry" },
  },
});

test("a watch that breaks (dropped connection, then a 500) is restarted and no event is lost", async (t) => {
  const watches: string[] = [];
  const { kc } = await fakeKubeApi(t, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.searchParams.get("watch") !== "true") {
      res.setHeader("Content-Type", "application/json");
      res.end(
        JSON.stringify({
          kind: "PodList",
          apiVersion: "v1",
          metadata: { resourceVersion: "1" },
          items: [pod("a", "1")],
        }),
      );
      return;
    }
    watches.push(url.searchParams.get("resourceVersion") ?? "");
    const n = watches.length;
    if (n === 2) {
      res.statusCode = 500;
      res.end(JSON.stringify({ kind: "Status", code: 500, message: "etcd is restarting" }));
      return;
    }
    res.setHeader("Content-Type", "application/json");
    res.flushHeaders();
    res.write(
      JSON.stringify({ type: "ADDED", object: pod(n === 1 ? "b" : "c", n === 1 ? "2" : "3") }) + "\n",
    );
    if (n === 1) setTimeout(() => req.socket.destroy(), 50);
  });
  const seen: string[] = [];
  const core = kc.makeApiClient(CoreV1Api);
  const informer = new RestartingInformer<V1Pod>({
    what: "pods",
    kubeConfig: kc,
    path: "/api/v1/namespaces/runs/pods",
    labelSelector: "app.kubernetes.io/managed-by=gantry",
    list: () => core.listNamespacedPod({ namespace: "runs" }),
    onUpsert: (p) => seen.push(p.metadata?.name ?? ""),
    onDelete: () => undefined,
    logger: NOOP_LOGGER,
    baseDelayMs: 20,
    maxDelayMs: 100,
  });
  await informer.start();
  t.after(() => informer.stop());
  const deadline = Date.now() + 5000;
  while (!seen.includes("c") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, ["a", "b", "c"]);
  assert.equal(informer.restarts, 2);
  // Each restart resumed from the last resourceVersion seen, without relisting.
  assert.deepEqual(watches, ["1", "2", "2"]);
  assert.deepEqual(
    informer.list().map((p) => p.metadata?.name),
    ["a", "b", "c"],
  );
});
