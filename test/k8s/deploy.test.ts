// deploy/kubernetes against the real API server: Gantry's ServiceAccount, with exactly the Role of
// rbac.yaml, can do everything the Kubernetes executor does in the runs namespace and nothing
// else; every manifest passes `gantry validate --strict` and a strict server-side dry run.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Exec } from "@kubernetes/client-node";
import type { KubeConfig, V1Status } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import {
  GANTRY_LABELS,
  gantrySelector,
  ownedBy,
  renderRunObjects,
} from "../../src/core/kubernetes-objects.ts";
import type { KubeObject } from "../../src/core/kubernetes-objects.ts";
import { DEFAULT_LIMITS } from "../../src/core/workload.ts";
import { collectInputs, readInput, validateTexts } from "../../src/validate/index.ts";
import type { ObjectResult } from "../../src/validate/index.ts";
import {
  TEST_ANNOTATIONS,
  createTestNamespace,
  kubeRequest,
  serviceAccountKubeConfig,
  textSink,
  useTestCluster,
  waitFor,
} from "./harness.ts";
import type { KubeResponse, TestNamespace } from "./harness.ts";

const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../deploy/kubernetes");

/** What the executor needs in the runs namespace (issue 5), as `group/resource[/sub]:verb`. */
const EXECUTOR_RIGHTS = [
  ...["create", "get", "list", "watch", "delete"].map((v) => `batch/jobs:${v}`),
  ...["get", "list", "watch"].map((v) => `/pods:${v}`),
  "/pods/log:get",
  "/pods/exec:create",
  "/pods/exec:get",
  ...["create", "get", "delete"].flatMap((v) => [`/configmaps:${v}`, `/secrets:${v}`]),
].sort();

/** A sample of what it must not do there (or anywhere). */
const REFUSED_IN_RUNS = [
  "batch/jobs:update",
  "batch/jobs:patch",
  "batch/jobs:deletecollection",
  "batch/jobs/status:update",
  "batch/jobs/finalizers:update",
  "batch/cronjobs:create",
  "/pods:create",
  "/pods:delete",
  "/pods:update",
  "/pods/attach:create",
  "/pods/portforward:create",
  "/pods/ephemeralcontainers:patch",
  "/secrets:list",
  "/secrets:watch",
  "/secrets:update",
  "/configmaps:list",
  "/configmaps:update",
  "/serviceaccounts:create",
  "/serviceaccounts/token:create",
  "/services:create",
  "/events:list",
  "apps/deployments:create",
  "rbac.authorization.k8s.io/roles:create",
  "rbac.authorization.k8s.io/rolebindings:create",
  "networking.k8s.io/networkpolicies:delete",
];

interface Right {
  group: string;
  resource: string;
  subresource: string;
  verb: string;
}

function parseRight(right: string): Right {
  const [path, verb] = right.split(":") as [string, string];
  const [group, resource, subresource = ""] = path.split("/") as [string, string, string?];
  return { group, resource, subresource, verb };
}

function loadYaml(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(join(DEPLOY_DIR, file), "utf8")).map((d) => d.toJS() as KubeObject);
}

/** The object moved from Gantry's namespaces to the test's own pair. */
function remap(obj: KubeObject, names: Record<string, string>): KubeObject {
  const copy = structuredClone(obj);
  const ns = copy.metadata.namespace;
  if (ns !== undefined) copy.metadata.namespace = names[ns] ?? ns;
  const subjects = copy["subjects"];
  if (Array.isArray(subjects))
    for (const s of subjects as { namespace?: string }[])
      if (s.namespace !== undefined) s.namespace = names[s.namespace] ?? s.namespace;
  return copy;
}

const PLURALS: Record<string, string> = { NetworkPolicy: "networkpolicies" };

/** Any object to send: the renderer's KubeObject, or a cluster-scoped one (no namespace). */
interface Sendable {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

function collectionPath(obj: Sendable): string {
  const base = obj.apiVersion.includes("/") ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const plural = PLURALS[obj.kind] ?? `${obj.kind.toLowerCase()}s`;
  return obj.metadata.namespace === undefined
    ? `${base}/${plural}`
    : `${base}/namespaces/${obj.metadata.namespace}/${plural}`;
}

async function post(kc: KubeConfig, obj: Sendable, dryRun = false): Promise<KubeResponse> {
  const query = `fieldValidation=Strict${dryRun ? "&dryRun=All" : ""}`;
  return kubeRequest(kc, {
    method: "POST",
    path: `${collectionPath(obj)}?${query}`,
    body: JSON.stringify(obj),
  });
}

async function accessReview(kc: KubeConfig, namespace: string, right: Right): Promise<boolean> {
  const res = await kubeRequest(kc, {
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: JSON.stringify({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { namespace, ...right } },
    }),
  });
  assert.equal(res.status, 201, res.body);
  return (res.json as { status: { allowed: boolean } }).status.allowed;
}

/** Sets up the pair of namespaces, the ServiceAccount and deploy/kubernetes's RBAC; returns its client. */
async function deployRbac(t: { after(fn: () => Promise<void>): void }) {
  const { kc } = await useTestCluster();
  const gantryNs: TestNamespace = await createTestNamespace(kc, "deploy-gantry");
  t.after(() => gantryNs.cleanup());
  const runsNs: TestNamespace = await createTestNamespace(kc, "deploy-runs");
  t.after(() => runsNs.cleanup());
  const names = { gantry: gantryNs.name, "gantry-runs": runsNs.name };
  const objects = [...loadYaml("serviceaccount.yaml"), ...loadYaml("rbac.yaml")].map((o) => remap(o, names));
  assert.deepEqual(
    objects.map((o) => o.kind),
    ["ServiceAccount", "Role", "RoleBinding"],
  );
  for (const obj of objects) {
    const res = await post(kc, obj);
    assert.equal(res.status, 201, `${obj.kind}: ${res.body}`);
  }
  const sa = await serviceAccountKubeConfig(kc, gantryNs.name, "gantry");
  // A new RoleBinding reaches the authorizer through its informer: allow it a moment.
  await waitFor("the RoleBinding to take effect", async () =>
    (await accessReview(sa, runsNs.name, parseRight("batch/jobs:create"))) ? true : undefined,
  );
  return { kc, sa, gantryNs: gantryNs.name, runsNs: runsNs.name };
}

test("deploy/kubernetes RBAC: exactly the executor's verbs in the runs namespace (access and rules reviews)", async (t) => {
  const { sa, gantryNs, runsNs } = await deployRbac(t);

  for (const right of EXECUTOR_RIGHTS)
    assert.equal(
      await accessReview(sa, runsNs, parseRight(right)),
      true,
      `${right} allowed in the runs namespace`,
    );
  for (const right of REFUSED_IN_RUNS)
    assert.equal(
      await accessReview(sa, runsNs, parseRight(right)),
      false,
      `${right} refused in the runs namespace`,
    );
  for (const right of EXECUTOR_RIGHTS) {
    assert.equal(
      await accessReview(sa, gantryNs, parseRight(right)),
      false,
      `${right} refused in Gantry's namespace`,
    );
    assert.equal(await accessReview(sa, "default", parseRight(right)), false, `${right} refused in default`);
  }
  for (const right of ["/nodes:list", "/namespaces:list", "/namespaces:create", "batch/jobs:list"])
    assert.equal(await accessReview(sa, "", parseRight(right)), false, `${right} refused cluster-wide`);

  // The rules the authorizer holds for it in the runs namespace are exactly the executor's, besides
  // the self-reviews every authenticated user may create (system:basic-user).
  const review = await kubeRequest(sa, {
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
    body: JSON.stringify({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectRulesReview",
      spec: { namespace: runsNs },
    }),
  });
  assert.equal(review.status, 201, review.body);
  const rules = (
    review.json as {
      status: { resourceRules: { verbs: string[]; apiGroups?: string[]; resources?: string[] }[] };
    }
  ).status.resourceRules;
  const held = new Set<string>();
  for (const rule of rules)
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs) held.add(`${group}/${resource}:${verb}`);
  const selfReviews = [...held].filter((r) =>
    /^(authorization|authentication)\.k8s\.io\/selfsubject\w+:create$/.test(r),
  );
  assert.deepEqual([...held].filter((r) => !selfReviews.includes(r)).sort(), EXECUTOR_RIGHTS);
});

test("deploy/kubernetes RBAC: real requests — the executor's work succeeds, anything else gets 403", async (t) => {
  const { kc, sa, gantryNs, runsNs } = await deployRbac(t);
  const expectStatus = async (what: string, res: Promise<KubeResponse>, status: number) => {
    const r = await res;
    assert.equal(r.status, status, `${what}: ${r.body.slice(0, 300)}`);
    return r;
  };
  const rendered = renderRunObjects(
    {
      runId: "7a1f3e2d-5c4b-4a39-8e7f-6d5c4b3a2910",
      attempt: 1,
      owner: "alice",
      kind: "job",
      runToken: "gtr_rbac",
      podAnnotations: { [TEST_ANNOTATIONS.runDuration]: "1h" },
      spec: {
        command: ["sh", "-c", "true"],
        env: {},
        files: [{ path: "a.txt", content: "a" }],
        limits: DEFAULT_LIMITS,
      },
    },
    {
      namespace: runsNs,
      defaultImage: "registry.invalid/runner:1",
      ttlSecondsAfterFinished: 60,
      runAsUser: 65532,
      apiUrl: "http://gantry:8080",
    },
  );
  const { name } = rendered;
  const jobs = `/apis/batch/v1/namespaces/${runsNs}/jobs`;
  const core = `/api/v1/namespaces/${runsNs}`;

  // jobs: create, get, list, watch
  const created = await expectStatus("create the Job", post(sa, rendered.job), 201);
  const job = created.json as { metadata: { name: string; uid: string } };
  await expectStatus("get the Job", kubeRequest(sa, { method: "GET", path: `${jobs}/${name}` }), 200);
  const selector = encodeURIComponent(
    gantrySelector({ [GANTRY_LABELS.runId]: "7a1f3e2d-5c4b-4a39-8e7f-6d5c4b3a2910" }),
  );
  await expectStatus(
    "list Jobs",
    kubeRequest(sa, { method: "GET", path: `${jobs}?labelSelector=${selector}` }),
    200,
  );
  await expectStatus(
    "watch Jobs",
    kubeRequest(sa, { method: "GET", path: `${jobs}?watch=true&timeoutSeconds=1` }),
    200,
  );
  // configmaps and secrets: create, get
  assert.ok(rendered.configMap !== null);
  for (const obj of [ownedBy(rendered.secret, job), ownedBy(rendered.configMap, job)]) {
    await expectStatus(`create the ${obj.kind}`, post(sa, obj), 201);
    await expectStatus(
      `get the ${obj.kind}`,
      kubeRequest(sa, { method: "GET", path: `${collectionPath(obj)}/${name}` }),
      200,
    );
  }
  // pods: list, get, watch; pods/log: get; pods/exec: create
  const pod = await waitFor("the Job's pod to run", async () => {
    const res = await expectStatus(
      "list pods",
      kubeRequest(sa, { method: "GET", path: `${core}/pods?labelSelector=${selector}` }),
      200,
    );
    const items = (res.json as { items: { metadata: { name: string }; status?: { phase?: string } }[] })
      .items;
    return items.find((p) => p.status?.phase === "Running")?.metadata.name;
  });
  await expectStatus("get the pod", kubeRequest(sa, { method: "GET", path: `${core}/pods/${pod}` }), 200);
  await expectStatus(
    "watch pods",
    kubeRequest(sa, { method: "GET", path: `${core}/pods?watch=true&timeoutSeconds=1` }),
    200,
  );
  await expectStatus(
    "read the pod's log",
    kubeRequest(sa, { method: "GET", path: `${core}/pods/${pod}/log?container=main` }),
    200,
  );
  const stdout = textSink();
  const status = await new Promise<V1Status>((resolve, reject) => {
    new Exec(sa)
      .exec(runsNs, pod, "main", ["echo", "exec-ok"], stdout, null, null, false, resolve)
      .catch(reject);
  });
  assert.equal(status.status, "Success", JSON.stringify(status));
  await waitFor("the exec output", async () => (stdout.text.includes("exec-ok") ? true : undefined));

  // What it must not do: 403 from the API server itself.
  const refused: [string, Promise<KubeResponse>][] = [
    ["list Secrets", kubeRequest(sa, { method: "GET", path: `${core}/secrets` })],
    ["list ConfigMaps", kubeRequest(sa, { method: "GET", path: `${core}/configmaps` })],
    [
      "create a Deployment",
      post(sa, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "x", namespace: runsNs, labels: {} },
        spec: {},
      }),
    ],
    [
      "create a Pod directly",
      post(sa, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "x", namespace: runsNs, labels: {} },
        spec: { containers: [{ name: "c", image: "x:1" }] },
      }),
    ],
    ["delete the pod", kubeRequest(sa, { method: "DELETE", path: `${core}/pods/${pod}` })],
    [
      "patch the Job",
      kubeRequest(sa, {
        method: "PATCH",
        path: `${jobs}/${name}`,
        contentType: "application/merge-patch+json",
        body: JSON.stringify({ metadata: { labels: { x: "y" } } }),
      }),
    ],
    [
      "create a Job in Gantry's namespace",
      post(sa, { ...rendered.job, metadata: { ...rendered.job.metadata, namespace: gantryNs } }),
    ],
    [
      "list Jobs in default",
      kubeRequest(sa, { method: "GET", path: "/apis/batch/v1/namespaces/default/jobs" }),
    ],
    ["list Jobs cluster-wide", kubeRequest(sa, { method: "GET", path: "/apis/batch/v1/jobs" })],
    ["list nodes", kubeRequest(sa, { method: "GET", path: "/api/v1/nodes" })],
    ["list namespaces", kubeRequest(sa, { method: "GET", path: "/api/v1/namespaces" })],
    [
      "create a namespace",
      post(sa, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: `${runsNs}-x` },
      }),
    ],
    [
      "create a Role",
      post(sa, {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "x", namespace: runsNs, labels: {} },
        rules: [],
      }),
    ],
    [
      "request a ServiceAccount token",
      kubeRequest(sa, {
        method: "POST",
        path: `${core}/serviceaccounts/default/token`,
        body: JSON.stringify({
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { audiences: [] },
        }),
      }),
    ],
  ];
  for (const [what, res] of refused) await expectStatus(what, res, 403);

  // configmaps, secrets, jobs: delete (the Job in the background, as cancel does)
  await expectStatus(
    "delete the Secret",
    kubeRequest(sa, { method: "DELETE", path: `${core}/secrets/${name}` }),
    200,
  );
  await expectStatus(
    "delete the ConfigMap",
    kubeRequest(sa, { method: "DELETE", path: `${core}/configmaps/${name}` }),
    200,
  );
  await expectStatus(
    "delete the Job",
    kubeRequest(sa, { method: "DELETE", path: `${jobs}/${name}?propagationPolicy=Background` }),
    200,
  );
  await waitFor("the pod to go with its Job", async () => {
    const res = await kubeRequest(kc, { method: "GET", path: `${core}/pods/${pod}` });
    return res.status === 404 ? true : undefined;
  });
});

test("deploy/kubernetes passes `gantry validate --strict`; the API server accepts every object (strict dry run)", async (t) => {
  // The kustomization lists every manifest in the directory.
  const files = readdirSync(DEPLOY_DIR)
    .filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml")
    .sort();
  const kustomization = loadYaml("kustomization.yaml")[0] as KubeObject & { resources: string[] };
  assert.deepEqual([...kustomization.resources].sort(), files);

  // What `gantry validate --strict --skip-unknown-kinds deploy/kubernetes` runs.
  const inputs = collectInputs([DEPLOY_DIR]).map((f) => readInput(f));
  const texts = inputs.filter((i): i is { file: string; text: string } => "text" in i);
  assert.equal(texts.length, inputs.length, "every file is readable");
  const results: ObjectResult[] = await validateTexts(
    texts,
    { strict: true, skipUnknownKinds: true },
    { workers: 1 },
  );
  const invalid = results.filter((r) => r.status === "invalid");
  assert.deepEqual(
    invalid,
    [],
    JSON.stringify(
      invalid.map((r) => [r.kind, r.findings]),
      null,
      1,
    ),
  );
  assert.deepEqual(
    results.filter((r) => r.status === "skipped").map((r) => r.kind),
    ["Kustomization"],
  );
  assert.deepEqual(
    results
      .filter((r) => r.status === "valid")
      .map((r) => r.kind)
      .sort(),
    [
      "Deployment",
      "Namespace",
      "Namespace",
      "NetworkPolicy",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
    ],
  );
  for (const r of results.filter((x) => x.status === "valid"))
    assert.deepEqual(r.findings, [], `${r.kind} has no warning`);

  // The API server's verdict, in a fresh namespace pair (Namespaces themselves: dry run as written).
  const { kc } = await useTestCluster();
  const gantryNs = await createTestNamespace(kc, "deploy-dry-gantry");
  t.after(() => gantryNs.cleanup());
  const runsNs = await createTestNamespace(kc, "deploy-dry-runs");
  t.after(() => runsNs.cleanup());
  const names = { gantry: gantryNs.name, "gantry-runs": runsNs.name };
  const objects = files.flatMap(loadYaml).map((o) => remap(o, names));
  for (const obj of objects) {
    const res = await post(kc, obj, true);
    assert.ok(
      res.status === 201 || (obj.kind === "Namespace" && res.status === 409),
      `${obj.kind}/${obj.metadata.name}: ${res.status} ${res.body}`,
    );
  }
  // Gantry's own pod satisfies Pod Security "restricted", like the runs (its ServiceAccount must exist).
  const account = objects.find((o) => o.kind === "ServiceAccount");
  assert.ok(account !== undefined);
  assert.equal((await post(kc, account)).status, 201);
  const patched = await kubeRequest(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${gantryNs.name}`,
    contentType: "application/merge-patch+json",
    body: JSON.stringify({ metadata: { labels: { "pod-security.kubernetes.io/enforce": "restricted" } } }),
  });
  assert.equal(patched.status, 200, patched.body);
  const deployment = objects.find((o) => o.kind === "Deployment") as KubeObject & {
    spec: { template: { metadata: { labels: Record<string, string> }; spec: unknown } };
  };
  const pod: KubeObject = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "gantry-probe",
      namespace: gantryNs.name,
      labels: deployment.spec.template.metadata.labels,
    },
    spec: deployment.spec.template.spec,
  };
  const admitted = await post(kc, pod, true);
  assert.equal(admitted.status, 201, admitted.body);
});

test("WebSocket exec needs both get and create on pods/exec (Kubernetes ≥ 1.35); either alone is refused", async (t) => {
  const { kc } = await useTestCluster();
  const ns = await createTestNamespace(kc, "deploy-exec");
  t.after(() => ns.cleanup());
  // A pod not owned by a Job keeps running on kwok's fake node.
  const created = await post(kc, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "target", namespace: ns.name, labels: {} },
    spec: { containers: [{ name: "main", image: "registry.invalid/x:1" }] },
  });
  assert.equal(created.status, 201, created.body);
  await waitFor("the pod to run", async () => {
    const res = await kubeRequest(kc, { method: "GET", path: `/api/v1/namespaces/${ns.name}/pods/target` });
    return (res.json as { status?: { phase?: string } }).status?.phase === "Running" ? true : undefined;
  });
  const exec = async (verbs: string[]): Promise<string> => {
    const name = `exec-${verbs.join("-")}`;
    const role: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: ns.name, labels: {} },
      rules: [
        { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
        { apiGroups: [""], resources: ["pods/exec"], verbs },
      ],
    };
    const binding: KubeObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: ns.name, labels: {} },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: ns.name }],
    };
    const sa = await serviceAccountKubeConfig(kc, ns.name, name);
    for (const obj of [role, binding]) assert.equal((await post(kc, obj)).status, 201);
    await waitFor("the RoleBinding to take effect", async () =>
      (await accessReview(sa, ns.name, parseRight("/pods:get"))) ? true : undefined,
    );
    const stdout = textSink();
    try {
      const status = await new Promise<V1Status>((resolve, reject) => {
        new Exec(sa)
          .exec(ns.name, "target", "main", ["echo", "ok"], stdout, null, null, false, resolve)
          .catch(reject);
      });
      return status.status ?? "no status";
    } catch (err) {
      return (err as Error).message;
    }
  };
  assert.match(await exec(["create"]), /403/);
  assert.match(await exec(["get"]), /403/);
  assert.equal(await exec(["get", "create"]), "Success");
});
