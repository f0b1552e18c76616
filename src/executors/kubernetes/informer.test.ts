// RestartingInformer against a fake API server whose watches break: client-node's informer stops
// on such errors; the wrapper must restart it and keep delivering events.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
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
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "fake",
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "fake", cluster: "fake", user: "u" }],
    currentContext: "fake",
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
