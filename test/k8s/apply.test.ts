// Server-side apply, dry runs and strict field validation against the real API server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KubernetesObjectApi, PatchStrategy, loadAllYaml } from "@kubernetes/client-node";
import type { KubernetesObject } from "@kubernetes/client-node";
import { createTestNamespace, isApiStatus, kubeRequest, useTestCluster, waitFor } from "./harness.ts";

function manifests(namespace: string): string {
  return `
apiVersion: v1
kind: ConfigMap
metadata:
  name: grader-config
  namespace: ${namespace}
data:
  timeout: "30"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: grader
  namespace: ${namespace}
automountServiceAccountToken: false
---
apiVersion: batch/v1
kind: Job
metadata:
  name: grade
  namespace: ${namespace}
  labels:
    app.kubernetes.io/managed-by: gantry
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        gantry.dev/test-run-duration: 1h
    spec:
      restartPolicy: Never
      serviceAccountName: grader
      containers:
        - name: main
          image: registry.invalid/grader:1
          envFrom:
            - configMapRef:
                name: grader-config
`;
}

test("server-side apply of a multi-document YAML: dryRun=All first, then for real, then delete", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-apply");
  t.after(() => ns.cleanup());
  const api = KubernetesObjectApi.makeApiClient(kc);
  // loadAllYaml returns untyped objects; each document here is a Kubernetes object.
  const docs = loadAllYaml(manifests(ns.name)) as KubernetesObject[];
  assert.equal(docs.length, 3);
  const exists = async (doc: KubernetesObject) => {
    try {
      await api.read({
        apiVersion: doc.apiVersion ?? "",
        kind: doc.kind ?? "",
        metadata: { name: doc.metadata?.name ?? "", namespace: ns.name },
      });
      return true;
    } catch (err) {
      if (isApiStatus(err, 404)) return false;
      throw err;
    }
  };

  for (const doc of docs) {
    const planned = await api.patch(
      doc,
      undefined,
      "All",
      "gantry-test",
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.equal(planned.metadata?.name, doc.metadata?.name);
    assert.ok(planned.metadata?.uid, `dry run of ${doc.kind} returns the object as it would be stored`);
  }
  for (const doc of docs) assert.equal(await exists(doc), false, `dry run did not create ${doc.kind}`);

  for (const doc of docs) {
    const applied = await api.patch(
      doc,
      undefined,
      undefined,
      "gantry-test",
      true,
      PatchStrategy.ServerSideApply,
    );
    assert.ok(
      applied.metadata?.managedFields?.some((f) => f.manager === "gantry-test" && f.operation === "Apply"),
    );
  }
  for (const doc of docs) assert.equal(await exists(doc), true, `${doc.kind} was applied`);

  // Applying the same documents again changes nothing (same resourceVersion).
  const job = docs[2];
  assert.ok(job);
  const before = await api.read({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "grade", namespace: ns.name },
  });
  const again = await api.patch(
    job,
    undefined,
    undefined,
    "gantry-test",
    true,
    PatchStrategy.ServerSideApply,
  );
  assert.equal(again.metadata?.resourceVersion, before.metadata?.resourceVersion);

  for (const doc of [...docs].reverse()) {
    await api.delete(doc, undefined, undefined, undefined, undefined, "Foreground");
  }
  for (const doc of docs) {
    await waitFor(`${doc.kind} ${doc.metadata?.name} to be gone`, async () =>
      (await exists(doc)) ? undefined : true,
    );
  }
});

test("fieldValidation=Strict rejects an unknown field; Ignore lets the same body through", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "k8s-strict");
  t.after(() => ns.cleanup());
  // Sent as raw JSON: the typed clients drop fields they do not know before sending.
  const body = JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "typo" },
    spec: {
      template: {
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "main", image: "registry.invalid/x:1", imagePullPolicyy: "Always" }],
        },
      },
    },
  });
  const path = `/apis/batch/v1/namespaces/${ns.name}/jobs`;

  const strict = await kubeRequest(kc, { method: "POST", path: `${path}?fieldValidation=Strict`, body });
  assert.equal(strict.status, 400, strict.body);
  const message = (strict.json as { message?: string } | undefined)?.message ?? "";
  assert.match(
    message,
    /strict decoding error: unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolicyy"/,
  );

  const ignored = await kubeRequest(kc, {
    method: "POST",
    path: `${path}?fieldValidation=Ignore&dryRun=All`,
    body,
  });
  assert.equal(ignored.status, 201, ignored.body);

  // Server-side apply of raw YAML rejects it too.
  const yaml = `apiVersion: v1
kind: ConfigMap
metadata:
  name: typo
data:
  a: "1"
dataa:
  b: "2"
`;
  const applied = await kubeRequest(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${ns.name}/configmaps/typo?fieldManager=gantry-test&fieldValidation=Strict&dryRun=All`,
    body: yaml,
    contentType: PatchStrategy.ServerSideApply,
  });
  // Kubernetes 1.36 answers an apply with an undeclared field with 500 (not 400), whatever
  // fieldValidation says: "failed to create typed patch object ... field not declared in schema".
  assert.equal(applied.status, 500, applied.body);
  const applyMessage = (applied.json as { message?: string } | undefined)?.message ?? "";
  assert.match(applyMessage, /\.dataa: field not declared in schema/);
});
