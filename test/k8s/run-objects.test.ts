// The objects src/core/kubernetes-objects.ts renders for a run, sent to the real API server: a
// strict server-side dry run accepts them, Pod Security "restricted" admits their pod, and the
// Secret and ConfigMap are garbage-collected with their Job.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  GANTRY_LABELS,
  gantrySelector,
  ownedBy,
  renderRunObjects,
} from "../../src/core/kubernetes-objects.ts";
import type { KubeObject, KubernetesRunConfig } from "../../src/core/kubernetes-objects.ts";
import { DEFAULT_LIMITS } from "../../src/core/workload.ts";
import { assertValidObjects } from "../../src/validate/index.ts";
import { TEST_ANNOTATIONS, createTestNamespace, kubeRequest, useTestCluster, waitFor } from "./harness.ts";
import type { KubeConfig } from "@kubernetes/client-node";

const RUN_ID = "4f9d7c1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f";
const TOKEN = "gtr_dry-run-token";

function render(namespace: string, attempt: number) {
  const config: KubernetesRunConfig = {
    namespace,
    defaultImage: "registry.invalid/gantry-runner:0.1.0",
    ttlSecondsAfterFinished: 600,
    runAsUser: 65532,
    imagePullPolicy: "IfNotPresent",
    apiUrl: "http://gantry.gantry.svc:8080",
  };
  return renderRunObjects(
    {
      runId: RUN_ID,
      attempt,
      owner: "alice@example.com",
      kind: "job",
      runToken: TOKEN,
      podAnnotations: { [TEST_ANNOTATIONS.runDuration]: "1h" },
      spec: {
        command: ["python", "main.py", "$(NOT_EXPANDED)"],
        env: { MODE: "grade" },
        files: [
          { path: "main.py", content: "print('hi')\n" },
          { path: "bin/tool", content: "AAEC/w==", encoding: "base64", executable: true },
        ],
        limits: { ...DEFAULT_LIMITS, wallSeconds: 120 },
      },
    },
    config,
  );
}

function collection(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  if (obj.kind === "Job") return `/apis/batch/v1/namespaces/${ns}/jobs`;
  if (obj.kind === "Secret") return `/api/v1/namespaces/${ns}/secrets`;
  if (obj.kind === "ConfigMap") return `/api/v1/namespaces/${ns}/configmaps`;
  if (obj.kind === "Pod") return `/api/v1/namespaces/${ns}/pods`;
  throw new Error(`no path for ${obj.kind}`);
}

async function create(kc: KubeConfig, obj: KubeObject, dryRun: boolean) {
  const query = `fieldValidation=Strict${dryRun ? "&dryRun=All" : ""}`;
  return kubeRequest(kc, { method: "POST", path: `${collection(obj)}?${query}`, body: JSON.stringify(obj) });
}

async function status(kc: KubeConfig, obj: KubeObject): Promise<number> {
  return (await kubeRequest(kc, { method: "GET", path: `${collection(obj)}/${obj.metadata.name}` })).status;
}

/** The Job's pod template as a bare Pod, to put it through Pod Security admission directly. */
function podOf(job: KubeObject, name: string): KubeObject {
  const template = (
    job["spec"] as { template: { metadata: { labels: Record<string, string> }; spec: unknown } }
  ).template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: job.metadata.namespace, labels: template.metadata.labels },
    spec: template.spec,
  };
}

async function restrictedNamespace(kc: KubeConfig, prefix: string) {
  const ns = await createTestNamespace(kc, prefix);
  const res = await kubeRequest(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${ns.name}`,
    contentType: "application/merge-patch+json",
    body: JSON.stringify({
      metadata: {
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    }),
  });
  assert.equal(res.status, 200, res.body);
  return ns;
}

test("the API server accepts the rendered Job, Secret and ConfigMap (dryRun=All, fieldValidation=Strict)", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await restrictedNamespace(kc, "run-objects-dry");
  t.after(() => ns.cleanup());
  const r = render(ns.name, 1);
  assert.ok(r.configMap !== null);
  const owner = { metadata: { name: r.name, uid: "0d9a4b8e-1111-4222-8333-444455556666" } };
  const objects = [r.job, ownedBy(r.secret, owner), ownedBy(r.configMap, owner)];
  assertValidObjects(objects, { strict: true });
  for (const obj of objects) {
    const res = await create(kc, obj, true);
    assert.equal(res.status, 201, `${obj.kind}: ${res.body}`);
    const echoed = res.json as { metadata: { labels: Record<string, string> } };
    assert.deepEqual(echoed.metadata.labels, obj.metadata.labels);
  }
  for (const obj of objects) assert.equal(await status(kc, obj), 404, `${obj.kind} was not persisted`);

  // Pod Security "restricted" (enforced on this namespace) admits the pod template as it is …
  const pod = podOf(r.job, `${r.name}-probe`);
  const admitted = await create(kc, pod, true);
  assert.equal(admitted.status, 201, admitted.body);
  // … and refuses it once one hardening field is gone, so the check above is real.
  const spec = structuredClone(pod["spec"]) as { containers: { securityContext: Record<string, unknown> }[] };
  spec.containers[0]!.securityContext["allowPrivilegeEscalation"] = true;
  const refused = await create(kc, { ...pod, spec }, true);
  assert.equal(refused.status, 403, refused.body);
  assert.match((refused.json as { message: string }).message, /violates PodSecurity "restricted/);
});

test("created for real: the pod starts under Pod Security 'restricted'; the Secret and ConfigMap go with the Job", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await restrictedNamespace(kc, "run-objects");
  t.after(() => ns.cleanup());
  const r = render(ns.name, 2);
  assert.ok(r.configMap !== null);

  const created = await create(kc, r.job, false);
  assert.equal(created.status, 201, created.body);
  const job = created.json as { metadata: { name: string; uid: string } };
  for (const obj of [ownedBy(r.secret, job), ownedBy(r.configMap, job)]) {
    const res = await create(kc, obj, false);
    assert.equal(res.status, 201, `${obj.kind}: ${res.body}`);
  }
  // Creating the same attempt again meets AlreadyExists: the name is the idempotency key.
  assert.equal((await create(kc, r.job, false)).status, 409);

  const selector = encodeURIComponent(
    gantrySelector({ [GANTRY_LABELS.runId]: RUN_ID, [GANTRY_LABELS.attempt]: "2" }),
  );
  const pod = await waitFor("the Job's pod to run", async () => {
    const res = await kubeRequest(kc, {
      method: "GET",
      path: `/api/v1/namespaces/${ns.name}/pods?labelSelector=${selector}`,
    });
    const items = (
      res.json as { items?: { metadata: { labels: Record<string, string> }; status?: { phase?: string } }[] }
    ).items;
    return items?.find((p) => p.status?.phase === "Running");
  });
  assert.equal(pod.metadata.labels[GANTRY_LABELS.owner], r.job.metadata.labels[GANTRY_LABELS.owner]);

  const del = await kubeRequest(kc, {
    method: "DELETE",
    // Query, not body: a body without apiVersion/kind is ignored, and Jobs default to orphaning.
    path: `/apis/batch/v1/namespaces/${ns.name}/jobs/${r.name}?propagationPolicy=Background`,
  });
  assert.equal(del.status, 200, del.body);
  for (const obj of [r.secret, r.configMap])
    await waitFor(`the ${obj.kind} to be garbage-collected`, async () =>
      (await status(kc, obj)) === 404 ? true : undefined,
    );
});
