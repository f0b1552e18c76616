// RBAC against the real authorizer: a ServiceAccount bound to a namespaced Role.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchV1Api, CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import type { V1Job } from "@kubernetes/client-node";
import {
  createTestNamespace,
  isApiStatus,
  serviceAccountKubeConfig,
  useTestCluster,
  waitFor,
} from "./harness.ts";

const job = (name: string): V1Job => ({
  metadata: { name },
  spec: {
    backoffLimit: 0,
    template: {
      spec: { restartPolicy: "Never", containers: [{ name: "main", image: "registry.invalid/x:1" }] },
    },
  },
});

async function expect403(what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    assert.ok(isApiStatus(err, 403), `${what}: expected 403, got ${String(err)}`);
    return;
  }
  assert.fail(`${what}: expected 403, but it was allowed`);
}

test("a ServiceAccount bound to a namespaced Role creates Jobs there and gets 403 elsewhere", async (t) => {
  const { kc } = await useTestCluster();
  const home = await createTestNamespace(kc, "k8s-rbac-home");
  t.after(() => home.cleanup());
  const other = await createTestNamespace(kc, "k8s-rbac-other");
  t.after(() => other.cleanup());

  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: home.name,
    body: {
      metadata: { name: "job-runner" },
      rules: [
        { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "delete"] },
        { apiGroups: [""], resources: ["pods", "pods/log"], verbs: ["get", "list", "watch"] },
      ],
    },
  });
  const sa = await serviceAccountKubeConfig(kc, home.name, "runner");
  await rbac.createNamespacedRoleBinding({
    namespace: home.name,
    body: {
      metadata: { name: "runner-runs-jobs" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "job-runner" },
      subjects: [{ kind: "ServiceAccount", name: "runner", namespace: home.name }],
    },
  });

  const batch = sa.makeApiClient(BatchV1Api);
  // The authorizer learns of the new binding through its informer: allow it a moment.
  const created = await waitFor("the RoleBinding to take effect", async () => {
    try {
      return await batch.createNamespacedJob({ namespace: home.name, body: job("allowed") });
    } catch (err) {
      if (isApiStatus(err, 403)) return undefined;
      throw err;
    }
  });
  assert.equal(created.metadata?.namespace, home.name);
  const listed = await batch.listNamespacedJob({ namespace: home.name });
  assert.deepEqual(
    listed.items.map((j) => j.metadata?.name),
    ["allowed"],
  );

  await expect403("create a Job in another namespace", () =>
    batch.createNamespacedJob({ namespace: other.name, body: job("denied") }),
  );
  await expect403("list Jobs in all namespaces", () => batch.listJobForAllNamespaces());
  const core = sa.makeApiClient(CoreV1Api);
  await expect403("create a Namespace (cluster-scoped)", () =>
    core.createNamespace({ body: { metadata: { name: `${home.name}-x` } } }),
  );
  await expect403("list Nodes (cluster-scoped)", () => core.listNode());
  await expect403("read Secrets in its own namespace (not granted)", () =>
    core.listNamespacedSecret({ namespace: home.name }),
  );
});
