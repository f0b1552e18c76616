// The test control plane itself: pinned versions, loopback only, fake nodes ready, RBAC and
// admission on (test/k8s/README.md).
import assert from "node:assert/strict";
import { test } from "node:test";
import { CoreV1Api, KubeConfig, VersionApi } from "@kubernetes/client-node";
import { kubeRequest, useTestCluster } from "./harness.ts";

test("the API server is Kubernetes v1.36.3 on 127.0.0.1 with Ready kwok nodes", async () => {
  const { kc, info } = await useTestCluster();
  const version = await kc.makeApiClient(VersionApi).getCode();
  assert.equal(version.gitVersion, "v1.36.3");
  if (info !== undefined) assert.equal(info.kubernetesVersion, version.gitVersion);

  const server = new URL(kc.getCurrentCluster()?.server ?? "");
  assert.equal(server.protocol, "https:");
  assert.equal(server.hostname, "127.0.0.1");

  const nodes = await kc.makeApiClient(CoreV1Api).listNode();
  assert.ok(nodes.items.length >= 1);
  for (const node of nodes.items) {
    assert.equal(node.metadata?.annotations?.["kwok.x-k8s.io/node"], "fake");
    assert.ok(node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  }
});

test("anonymous requests are refused and admission plugins are on", async () => {
  const { kc } = await useTestCluster();
  const cluster = kc.getCurrentCluster();
  assert.ok(cluster);
  const nobody = new KubeConfig();
  nobody.loadFromOptions({
    clusters: [{ ...cluster, name: "test" }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "test", cluster: "test", user: "nobody" }],
    currentContext: "test",
  });
  const anonymous = await kubeRequest(nobody, { method: "GET", path: "/api/v1/namespaces" });
  assert.equal(anonymous.status, 403, anonymous.body);
  assert.match(anonymous.body, /system:anonymous/);
  assert.equal((await kubeRequest(kc, { method: "GET", path: "/api/v1/namespaces" })).status, 200);

  // NamespaceLifecycle admission: nothing can be created in a namespace that does not exist.
  const orphan = await kubeRequest(kc, {
    method: "POST",
    path: "/api/v1/namespaces/no-such-namespace/configmaps",
    body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }),
  });
  assert.equal(orphan.status, 404, orphan.body);
});
