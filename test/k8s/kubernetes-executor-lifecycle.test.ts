// KubernetesExecutor against the real API server: idempotent launch, adoption by a restarted
// Gantry, the output limit, and the start-up checks (reachability, RBAC permissions).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { isGantryError } from "../../src/core/errors.ts";
import { gantrySelector, jobName } from "../../src/core/kubernetes-objects.ts";
import {
  KubernetesExecutor,
  createKubernetesExecutor,
} from "../../src/executors/kubernetes/kubernetes-executor.ts";
import { REQUIRED_PERMISSIONS } from "../../src/executors/kubernetes/permissions.ts";
import {
  TEST_ANNOTATIONS as A,
  serviceAccountKubeConfig,
  useTestCluster,
  waitFor,
  writePodLog,
} from "./harness.ts";
import { executorFixture, recordingSink, request, spec } from "./kubernetes-executor-helpers.ts";

test("launching the same attempt again creates nothing new, in this process or another", async (t) => {
  const f = await executorFixture(t, "kx-idem");
  await f.executor.start();
  const req = request(spec({ files: [{ path: "a.txt", content: "a" }] }));
  f.annotations.set(req.runId, { [A.runDuration]: "1h" });
  await f.executor.launch(req);
  await f.executor.launch(req);
  const batch = f.kc.makeApiClient(BatchV1Api);
  const core = f.kc.makeApiClient(CoreV1Api);
  const counts = async () => {
    const labelSelector = gantrySelector();
    const [jobs, secrets, configMaps] = await Promise.all([
      batch.listNamespacedJob({ namespace: f.namespace, labelSelector }),
      core.listNamespacedSecret({ namespace: f.namespace, labelSelector }),
      core.listNamespacedConfigMap({ namespace: f.namespace, labelSelector }),
    ]);
    return {
      jobs: jobs.items.map((j) => j.metadata?.uid),
      secrets: secrets.items.length,
      configMaps: configMaps.items.length,
    };
  };
  const first = await counts();
  assert.equal(first.jobs.length, 1);
  assert.deepEqual({ secrets: first.secrets, configMaps: first.configMaps }, { secrets: 1, configMaps: 1 });

  // Another Gantry (a relaunch after a crash) meets AlreadyExists and adopts the Job.
  const other = f.another();
  await other.start();
  await other.launch(req);
  assert.deepEqual(await counts(), first);
  assert.deepEqual(await other.activeAttempts(), new Set([`${req.runId}/1`]));
  await f.executor.cancel(req.runId, 1);
});

test("a restarted Gantry adopts a running Job and reports its end; a Job that ended meanwhile is reported once", async (t) => {
  const f = await executorFixture(t, "kx-restart");
  await f.executor.start();
  const running = request();
  f.annotations.set(running.runId, { [A.runDuration]: "5s" });
  const ended = request();
  f.annotations.set(ended.runId, { [A.runDuration]: "200ms", [A.exitCode]: "4" });
  await f.executor.launch(running);
  await f.executor.launch(ended);
  await f.sink.waitForState(running.runId, "running");
  await f.executor.shutdown(); // Gantry stops; the Jobs keep going
  const stoppedAt = f.sink.events.length;
  await waitFor("the short Job to end", async () => {
    const job = await f.kc
      .makeApiClient(BatchV1Api)
      .readNamespacedJob({ name: jobName(ended.runId, 1), namespace: f.namespace });
    return job.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True") ? true : undefined;
  });

  const sink = recordingSink();
  const restarted = f.another({ sink });
  await restarted.start();
  const active = await restarted.activeAttempts();
  assert.ok(
    active.has(`${running.runId}/1`),
    "the running Job is adopted, so the dispatcher does not relaunch it",
  );
  const end = await sink.waitForState(running.runId, "succeeded");
  assert.deepEqual(end, {
    runId: running.runId,
    attempt: 1,
    state: "succeeded",
    reason: "exit_code 0",
    exitCode: 0,
  });
  assert.deepEqual(
    sink.updates(running.runId).map((u) => u.state),
    ["succeeded"],
    "only the end: the store may already hold pending/running",
  );
  assert.match(sink.lines(running.runId)[0]?.text ?? "", /adopted Job/);
  assert.deepEqual(
    sink.updates(ended.runId).map((u) => [u.state, u.reason]),
    [["failed", "exit_code 4"]],
  );
  assert.equal(f.sink.events.length, stoppedAt, "the stopped executor reported nothing more");
  await waitFor("no attempt left active", async () =>
    (await restarted.activeAttempts()).size === 0 ? true : undefined,
  );
});

test("output past limits.outputBytes is cut with a truncation marker", async (t) => {
  const f = await executorFixture(t, "kx-trunc");
  await f.executor.start();
  const req = request(spec({}, { outputBytes: 10 }));
  f.annotations.set(req.runId, { [A.runDuration]: "5s" });
  await f.executor.launch(req);
  await f.sink.waitForState(req.runId, "running");
  const pod = await f.podOf(req.runId);
  await writePodLog(f.kc, {
    namespace: f.namespace,
    pod: pod.metadata?.name ?? "",
    lines: ["12345", "67890", "abcdef"],
  });
  await f.sink.waitForState(req.runId, "succeeded");
  const lines = f.sink.lines(req.runId).map((l) => [l.stream, l.text]);
  assert.deepEqual(lines.slice(0, 3), [
    ["stdout", "12345"],
    ["stdout", "6789"],
    [
      "system",
      "[gantry] output truncated: the log passed 10 bytes (limits.outputBytes); the rest is not kept",
    ],
  ]);
  assert.match(lines.at(-1)?.[1] ?? "", /output 10 B \(truncated\)$/);
});

test("a restarted Gantry bounds an adopted Job's log by the attempt's own output limit", async (t) => {
  const f = await executorFixture(t, "kx-trunc-adopt");
  await f.executor.start();
  const req = request(spec({}, { outputBytes: 8 }));
  f.annotations.set(req.runId, { [A.runDuration]: "6s" });
  await f.executor.launch(req);
  await f.sink.waitForState(req.runId, "running");
  await f.executor.shutdown();
  const pod = await f.podOf(req.runId);
  await writePodLog(f.kc, {
    namespace: f.namespace,
    pod: pod.metadata?.name ?? "",
    lines: ["12345", "67890", "abcdef"],
  });
  const sink = recordingSink();
  const restarted = f.another({ sink });
  await restarted.start();
  await sink.waitForState(req.runId, "succeeded");
  const stdout = sink
    .lines(req.runId)
    .filter((l) => l.stream === "stdout")
    .map((l) => l.text);
  assert.deepEqual(stdout, ["12345", "67"], "8 bytes, as the attempt asked, not the default 1 MiB");
  assert.ok(sink.lines(req.runId).some((l) => /passed 8 bytes/.test(l.text)));
});

test("start() fails clearly when the API server cannot be reached", async () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "nowhere", server: "https://127.0.0.1:1", skipTLSVerify: true }],
    users: [{ name: "nobody", token: "x" }],
    contexts: [{ name: "nowhere", cluster: "nowhere", user: "nobody" }],
    currentContext: "nowhere",
  });
  const executor = new KubernetesExecutor({
    kubeConfig: kc,
    sink: recordingSink(),
    runConfig: {
      namespace: "runs",
      defaultImage: "x",
      ttlSecondsAfterFinished: 60,
      runAsUser: 65532,
      apiUrl: "",
    },
  });
  await assert.rejects(executor.start(), (err: unknown) => {
    assert.ok(isGantryError(err) && err.code === "GANTRY_ERR_CONFIG", String(err));
    assert.match(err.message, /cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1/);
    return true;
  });
  await executor.shutdown();
});

/** The rules of deploy/'s Role for Gantry in the runs namespace. */
async function deployRoleRules(): Promise<V1PolicyRule[]> {
  const text = await readFile(new URL("../../deploy/kubernetes/rbac.yaml", import.meta.url), "utf8");
  const role = parseAllDocuments(text)
    .map((d) => d.toJS() as { kind?: string; rules?: V1PolicyRule[] })
    .find((o) => o.kind === "Role");
  assert.ok(role?.rules, "deploy/kubernetes/rbac.yaml has a Role");
  return role.rules;
}

test("start() names the permission a ServiceAccount lacks; with deploy/'s Role it runs a Job end to end", async (t) => {
  const f = await executorFixture(t, "kx-rbac");
  const rbac = f.kc.makeApiClient(RbacAuthorizationV1Api);
  const rules = (skip?: { verb: string; resource: string }) => {
    const byResource = new Map<string, { group: string; verbs: string[] }>();
    for (const p of REQUIRED_PERMISSIONS) {
      if (skip && p.verb === skip.verb && p.resource === skip.resource) continue;
      const resource = p.subresource === undefined ? p.resource : `${p.resource}/${p.subresource}`;
      const entry = byResource.get(resource) ?? { group: p.group, verbs: [] };
      entry.verbs.push(p.verb);
      byResource.set(resource, entry);
    }
    return [...byResource].map(([resource, { group, verbs }]) => ({
      apiGroups: [group],
      resources: [resource],
      verbs,
    }));
  };
  const bind = async (sa: string, role: string, roleRules: V1PolicyRule[]) => {
    await rbac.createNamespacedRole({
      namespace: f.namespace,
      body: { metadata: { name: role }, rules: roleRules },
    });
    const kc = await serviceAccountKubeConfig(f.kc, f.namespace, sa);
    await rbac.createNamespacedRoleBinding({
      namespace: f.namespace,
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace: f.namespace }],
      },
    });
    return kc;
  };

  const limitedKc = await bind("limited", "no-delete", rules({ verb: "delete", resource: "jobs" }));
  const limited = f.another({ kubeConfig: limitedKc });
  // The authorizer learns of a new binding through its informer: until then everything is missing.
  const message = await waitFor("the RoleBinding to take effect", async () => {
    try {
      await limited.start();
      return "started";
    } catch (err) {
      assert.ok(isGantryError(err) && err.code === "GANTRY_ERR_CONFIG", String(err));
      return /create jobs\.batch/.test(err.message) ? undefined : err.message;
    }
  });
  assert.match(
    message,
    new RegExp(
      `lack a permission the executor needs in namespace "${f.namespace}": delete jobs\\.batch \\(to cancel an attempt\\)`,
    ),
  );

  const fullKc = await bind("gantry", "gantry-executor", await deployRoleRules());
  const sink = recordingSink();
  const full = f.another({ kubeConfig: fullKc, sink });
  await waitFor("the second RoleBinding to take effect", async () => {
    try {
      await full.start();
      return true;
    } catch {
      return undefined;
    }
  });
  const req = request(spec({ files: [{ path: "a.txt", content: "a" }] }));
  f.annotations.set(req.runId, { [A.runDuration]: "5s" });
  await full.launch(req);
  await sink.waitForState(req.runId, "running");
  const pod = await f.podOf(req.runId);
  await writePodLog(f.kc, {
    namespace: f.namespace,
    pod: pod.metadata?.name ?? "",
    lines: ["as the service account"],
  });
  const end = await sink.waitForState(req.runId, "succeeded");
  assert.equal(end.reason, "exit_code 0");
  assert.ok(sink.lines(req.runId).some((l) => l.stream === "stdout" && l.text === "as the service account"));
});

test("createKubernetesExecutor builds a working executor from plain settings, and refuses a bad kubeconfig", async (t) => {
  const f = await executorFixture(t, "kx-factory");
  const { kubeconfigPath } = await useTestCluster();
  const settings = {
    sink: recordingSink(),
    namespace: f.namespace,
    defaultImage: "registry.invalid/gantry-runner:test",
    ttlSecondsAfterFinished: 60,
    imagePullGraceSeconds: 30,
  };
  const executor = createKubernetesExecutor({ ...settings, kubeconfigPath });
  t.after(() => executor.shutdown());
  assert.equal(executor.name, "kubernetes");
  await executor.start();
  assert.deepEqual(await executor.activeAttempts(), new Set());
  assert.throws(
    () => createKubernetesExecutor({ ...settings, kubeconfigPath: "/nonexistent/kubeconfig" }),
    (err: unknown) =>
      isGantryError(err) && err.code === "GANTRY_ERR_CONFIG" && /kubeconfig/.test(err.message),
  );
});
