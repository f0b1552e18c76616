// Kind `submission` on the test control plane, end to end: Gantry's API (a PGlite store) takes a
// submission in every built-in language; a dispatcher with the real KubernetesExecutor (Gantry's
// dispatcher role) turns it into a Job in a namespace enforcing Pod Security "restricted". The test
// asserts what the API server holds — the Job, its pod, the Secret, and that no ConfigMap exists:
// the language's runner image and command, env without the token, the token only through the init
// container's Secret volume, hardening, limits, labels, and no source, input or expected output in
// any object. Fake pods execute nothing (execution is proven locally, test/server/submissions), so
// the test then does what the pod's two containers would do with the API: the init container's
// token (read from the Secret) fetches the payload — the only place the expected outputs are — and
// posts the result; the fake pod's run to completion is recorded as the run's end. Hostile
// submissions (`../` paths, env and `$(…)` injection) are refused or change nothing in the objects.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KubeConfig } from "@kubernetes/client-node";
import {
  GANTRY_LABELS,
  RUN_TOKEN_FILE,
  RUN_TOKEN_KEY,
  TOKEN_INIT_CONTAINER_NAME,
  jobName,
  ownedBy,
  renderRunObjects,
} from "../../src/core/kubernetes-objects.ts";
import { DEFAULT_LANGUAGES } from "../../src/core/languages.ts";
import { normalizeSubmission, runnerCommand } from "../../src/core/submission-spec.ts";
import { assertValidObjects } from "../../src/validate/index.ts";
import type { KubernetesExecutor } from "../../src/executors/kubernetes/kubernetes-executor.ts";
import type { Dispatcher } from "../../src/server/dispatcher.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import {
  TEST_ANNOTATIONS as A,
  createTestNamespace,
  kubeRequest,
  useTestCluster,
  waitFor,
} from "./harness.ts";
import { assembleGantry, enforceRestrictedPodSecurity } from "./kubernetes-executor-helpers.ts";

/** The API as pods would reach it (GANTRY_API_URL); the fake pods reach nothing. */
const PODS_API_URL = "http://gantry.gantry.svc.cluster.local:8080";

type Obj = Record<string, unknown>;
interface Container {
  name: string;
  image: string;
  command: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Obj;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes: ({ name: string } & Obj)[];
  securityContext: Obj;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
}
interface JobObject {
  metadata: {
    name: string;
    uid: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: {
    backoffLimit: number;
    activeDeadlineSeconds: number;
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}
interface RunBody {
  id: string;
  state: string;
  reason: string | null;
  spec: { limits: { memoryMB: number; wallSeconds: number }; image: string; submission: Obj };
  result: { status: string; score: number; feedback: { case: string; message: string }[] } | null;
}

/** A memory quantity as the API server returns it (it normalises `1024Mi` to `1Gi`), in MiB. */
function mebibytes(quantity: string | undefined): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity ?? "");
  assert.ok(m, `unexpected quantity ${quantity}`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
}

/** Each language's program; the marker comment must never reach an object. */
const PROGRAMS: Record<string, { path: string; code: string }> = {
  python: { path: "main.py", code: "# SOURCE-MARKER\nprint(sum(map(int, input().split())))\n" },
  javascript: {
    path: "main.js",
    code: '// SOURCE-MARKER\nconst [a, b] = require("fs").readFileSync(0, "utf8").split(/\\s+/).map(Number);\nconsole.log(a + b);\n',
  },
  c: {
    path: "main.c",
    code: '// SOURCE-MARKER\n#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}\n',
  },
  cpp: {
    path: "main.cpp",
    code: "// SOURCE-MARKER\n#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}\n",
  },
  java: {
    path: "Main.java",
    code: "// SOURCE-MARKER\npublic class Main{public static void main(String[] x){java.util.Scanner s=new java.util.Scanner(System.in);System.out.println(s.nextLong()+s.nextLong());}}\n",
  },
};
const CASES = [
  { name: "sample", stdin: "2 3 STDIN-MARKER\n", expectedStdout: "5 EXPECTED-MARKER-A\n" },
  { name: "secret", stdin: "40000 2000\n", expectedStdout: "42000 EXPECTED-MARKER-B\n", hidden: true },
];
const MARKERS = ["SOURCE-MARKER", "STDIN-MARKER", "EXPECTED-MARKER", "40000 2000"];

describe("submissions as Jobs on the test control plane", () => {
  let t: TestGantry;
  let kc: KubeConfig;
  let namespace: { name: string; cleanup(): Promise<void> };
  let alice: string;
  let dispatcher: Dispatcher;
  let executor: KubernetesExecutor;
  /** kwok's run duration per run: long enough to play the pod's part before it ends. */
  const runDuration = new Map<string, string>();

  before(async () => {
    ({ kc } = await useTestCluster());
    namespace = await createTestNamespace(kc, "submissions");
    await enforceRestrictedPodSecurity(kc, namespace.name);
    // `gantry server --role api` …
    t = await startTestGantry("pglite", { roles: { api: true, dispatcher: false } });
    alice = await t.createToken("submitter", "alice");
    // … and the dispatcher role on the same store, with the executor `gantry up` builds for
    // GANTRY_EXECUTOR=kubernetes, plus the fake pods' annotations.
    const gantry = assembleGantry({
      kc,
      namespace: namespace.name,
      store: t.gantry.store,
      dispatcher: {
        maxActiveRuns: 20,
        maxActivePerOwner: 20,
        publicUrl: PODS_API_URL,
        pollIntervalMs: 100,
      },
      runConfig: { defaultImage: "registry.invalid/gantry-job:test" },
      executor: { podAnnotations: (r) => ({ [A.runDuration]: runDuration.get(r.runId) ?? "20s" }) },
      executorFirst: true,
    });
    ({ dispatcher, executor } = gantry);
    await gantry.start();
  });
  after(async () => {
    await dispatcher?.stop();
    await executor?.shutdown();
    await t?.stop();
    await namespace?.cleanup();
  });

  const submit = async (body: Obj) =>
    t.api("POST", "/v1/runs", { token: alice, body: { kind: "submission", ...body } });
  const get = async (path: string) => {
    const res = await kubeRequest(kc, { method: "GET", path });
    return { status: res.status, body: res.json as Obj, text: res.body };
  };
  const ns = () => namespace.name;
  const jobOf = (id: string) =>
    waitFor(`the Job of run ${id}`, async () => {
      const res = await get(`/apis/batch/v1/namespaces/${ns()}/jobs/${jobName(id, 1)}`);
      return res.status === 200 ? (res.body as unknown as JobObject) : undefined;
    });
  const podOf = (id: string) =>
    waitFor(`the running pod of run ${id}`, async () => {
      const selector = encodeURIComponent(`${GANTRY_LABELS.runId}=${id}`);
      const res = await get(`/api/v1/namespaces/${ns()}/pods?labelSelector=${selector}`);
      const items = (res.body as { items?: (Obj & { status?: { phase?: string } })[] }).items ?? [];
      return items.find((p) => p.status?.phase === "Running");
    });
  /** Plays the runner for run `id`: the token the init container would copy, then the API calls. */
  const actAsPod = async (id: string) => {
    const secret = await get(`/api/v1/namespaces/${ns()}/secrets/${jobName(id, 1)}`);
    assert.equal(secret.status, 200, secret.text);
    const token = Buffer.from(
      (secret.body as { data: Record<string, string> }).data[RUN_TOKEN_KEY] ?? "",
      "base64",
    ).toString();
    const payload = await t.api("GET", `/v1/internal/runs/${id}/payload`, { token });
    const posted = await t.api("POST", `/v1/internal/runs/${id}/result`, {
      token,
      body: {
        status: "accepted",
        score: 100,
        feedback: [],
        metrics: { timeMs: 3, memoryMB: 4 },
      },
    });
    return { token, secret, payload, posted };
  };

  test("every language: the Job, its pod, the Secret — and no ConfigMap — as the API server holds them", async () => {
    const runs = await Promise.all(
      Object.entries(PROGRAMS).map(async ([language, p]) => {
        const res = await submit({ language, files: [{ path: p.path, content: p.code }], cases: CASES });
        assert.equal(res.status, 201, res.text);
        return { language, id: (res.body as { id: string }).id };
      }),
    );
    await Promise.all(
      runs.map(async ({ language, id }) => {
        const what = `${language} (run ${id})`;
        const row = DEFAULT_LANGUAGES[language]!;
        const admin = (await t.api("GET", `/v1/runs/${id}`)).body as RunBody;
        const job = await jobOf(id);
        const name = jobName(id, 1);

        // Labels: Gantry's, the kind and the language.
        for (const labels of [job.metadata.labels, job.spec.template.metadata.labels]) {
          assert.equal(labels[GANTRY_LABELS.kind], "submission", what);
          assert.equal(labels[GANTRY_LABELS.language], language, what);
          assert.equal(labels[GANTRY_LABELS.runId], id, what);
          assert.equal(labels[GANTRY_LABELS.owner], "alice", what);
          assert.equal(labels["app.kubernetes.io/managed-by"], "gantry", what);
        }
        assert.equal(job.metadata.annotations["gantry.dev/payload"], "api", what);

        // The main container: the language's runner image, the runner, no token.
        const pod = job.spec.template.spec;
        assert.equal(pod.containers.length, 1, what);
        const main = pod.containers[0]!;
        assert.equal(main.image, row.image, what);
        assert.deepEqual(main.command, runnerCommand(), what);
        const env = Object.fromEntries((main.env ?? []).map((e) => [e.name, e.value]));
        assert.deepEqual(
          Object.keys(env).sort(),
          [
            "GANTRY_API_URL",
            "GANTRY_ATTEMPT",
            "GANTRY_PAYLOAD",
            "GANTRY_PAYLOAD_URL",
            "GANTRY_RUN_ID",
            "GANTRY_RUN_TOKEN_FILE",
            "HOME",
            "TMPDIR",
          ],
          what,
        );
        assert.equal(env.GANTRY_RUN_TOKEN_FILE, RUN_TOKEN_FILE);
        assert.equal(env.GANTRY_API_URL, PODS_API_URL);
        assert.equal(env.GANTRY_PAYLOAD_URL, `${PODS_API_URL}/v1/internal/runs/${id}/payload`);
        assert.ok(
          (main.env ?? []).every((e) => e.valueFrom === undefined),
          `${what}: no secretKeyRef`,
        );
        assert.deepEqual(
          main.volumeMounts.map((m) => m.name),
          ["work", "tmp"],
          `${what}: no secret volume in the main container`,
        );

        // The token reaches the pod only through the init container's Secret volume.
        const init = pod.initContainers ?? [];
        assert.deepEqual(
          init.map((c) => c.name),
          [TOKEN_INIT_CONTAINER_NAME],
          what,
        );
        assert.equal(init[0]!.image, row.image);
        assert.ok(init[0]!.volumeMounts.some((m) => m.name === "run-token" && m.readOnly === true));
        assert.deepEqual(init[0]!.command.slice(-1), [RUN_TOKEN_FILE]);
        const secretVolumes = pod.volumes.filter((v) => v["secret"] !== undefined);
        assert.deepEqual(
          secretVolumes.map((v) => [v.name, (v["secret"] as { secretName: string }).secretName]),
          [["run-token", name]],
        );

        // Hardening and limits, on both containers.
        for (const c of [main, init[0]!]) {
          assert.equal(c.securityContext["runAsNonRoot"], true, `${what} ${c.name}`);
          assert.equal(c.securityContext["allowPrivilegeEscalation"], false);
          assert.equal(c.securityContext["readOnlyRootFilesystem"], true);
          assert.deepEqual(c.securityContext["capabilities"], { drop: ["ALL"] });
          assert.ok(c.resources.limits["memory"] !== undefined && c.resources.limits["cpu"] !== undefined);
        }
        assert.equal(mebibytes(main.resources.limits["memory"]), admin.spec.limits.memoryMB, what);
        assert.equal(main.resources.requests["memory"], main.resources.limits["memory"]);
        assert.equal(job.spec.activeDeadlineSeconds, admin.spec.limits.wallSeconds);
        assert.equal(job.spec.backoffLimit, 0);
        assert.equal(pod.automountServiceAccountToken, false);
        assert.equal(pod.enableServiceLinks, false);
        assert.equal(pod.securityContext["runAsUser"], 65532);

        // The pod exists and runs: Pod Security "restricted" (enforced here) admitted it.
        const running = await podOf(id);

        // The Secret: the token, owned by the Job. No ConfigMap: the grading spec is not mounted.
        const { token, secret, payload, posted } = await actAsPod(id);
        assert.ok(token.startsWith("gtr_"), what);
        assert.deepEqual(
          (
            secret.body as { metadata: { ownerReferences: { kind: string; uid: string }[] } }
          ).metadata.ownerReferences.map((r) => [r.kind, r.uid]),
          [["Job", job.metadata.uid]],
        );
        const cm = await get(`/api/v1/namespaces/${ns()}/configmaps/${name}`);
        assert.equal(cm.status, 404, `${what}: ${cm.text}`);

        // Nothing of the grading spec in any object of the run (the token only in the Secret).
        const objects = JSON.stringify([job, running]);
        for (const marker of [...MARKERS, token])
          assert.ok(!objects.includes(marker), `${what}: ${marker} in the Job or pod`);
        const secretText = Buffer.from(
          (secret.body as { data: Record<string, string> }).data[RUN_TOKEN_KEY] ?? "",
          "base64",
        ).toString();
        for (const marker of MARKERS)
          assert.ok(!secret.text.includes(marker) && !secretText.includes(marker));

        // What the runner fetches with that token is the only place the cases are.
        assert.equal(payload.status, 200, payload.text);
        const cases = (payload.body as { spec: { submission: { cases: { expectedStdout: string }[] } } }).spec
          .submission.cases;
        assert.deepEqual(
          cases.map((c) => c.expectedStdout),
          CASES.map((c) => c.expectedStdout),
        );
        assert.equal(posted.status, 200, posted.text);

        // The fake pod runs to its end; the run is recorded succeeded with the posted result, and
        // its owner reads it back without the grading material.
        const done = (await t.waitForRun(id, 60_000)) as unknown as RunBody;
        assert.equal(done.state, "succeeded", `${what}: ${JSON.stringify(done)}`);
        assert.equal(done.reason, "exit_code 0");
        assert.equal(done.result?.status, "accepted");
        const shown = await t.api("GET", `/v1/runs/${id}`, { token: alice });
        for (const marker of ["STDIN-MARKER", "EXPECTED-MARKER", "40000 2000"])
          assert.ok(!shown.text.includes(marker), `${what}: ${marker} shown to the submitter`);
        assert.ok(shown.text.includes("SOURCE-MARKER"), "the owner sees the sources");
      }),
    );
  });

  test("strict server dry run: every language's Job and Secret, and its pod under Pod Security 'restricted'", async () => {
    const create = (path: string, obj: unknown) =>
      kubeRequest(kc, {
        method: "POST",
        path: `${path}?fieldValidation=Strict&dryRun=All`,
        body: JSON.stringify(obj),
      });
    for (const language of Object.keys(DEFAULT_LANGUAGES)) {
      const spec = normalizeSubmission(
        { language, files: [{ path: "x", content: "SOURCE-MARKER" }], cases: CASES },
        DEFAULT_LANGUAGES,
      );
      const r = renderRunObjects(
        {
          runId: "7d3c2b1a-0f9e-4d8c-b7a6-554433221100",
          attempt: 1,
          owner: "alice",
          kind: "submission",
          spec,
          runToken: "gtr_dry-run",
        },
        {
          namespace: ns(),
          defaultImage: "unused",
          ttlSecondsAfterFinished: 600,
          runAsUser: 65532,
          imagePullPolicy: "IfNotPresent",
          apiUrl: PODS_API_URL,
        },
      );
      const owner = { metadata: { name: r.name, uid: "0d9a4b8e-1111-4222-8333-444455556666" } };
      const secret = ownedBy(r.secret, owner);
      assertValidObjects([r.job, secret], { strict: true });
      const job = await create(`/apis/batch/v1/namespaces/${ns()}/jobs`, r.job);
      assert.equal(job.status, 201, `${language} Job: ${job.body}`);
      const sec = await create(`/api/v1/namespaces/${ns()}/secrets`, secret);
      assert.equal(sec.status, 201, `${language} Secret: ${sec.body}`);
      const template = (r.job["spec"] as { template: { metadata: { labels: Obj }; spec: PodSpec } }).template;
      const pod = (spec: PodSpec) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `${r.name}-probe`, namespace: ns(), labels: template.metadata.labels },
        spec,
      });
      const admitted = await create(`/api/v1/namespaces/${ns()}/pods`, pod(template.spec));
      assert.equal(admitted.status, 201, `${language} pod: ${admitted.body}`);
      // The init container is held to "restricted" too: without its hardening the pod is refused.
      const loose = structuredClone(template.spec);
      loose.initContainers![0]!.securityContext["allowPrivilegeEscalation"] = true;
      const refused = await create(`/api/v1/namespaces/${ns()}/pods`, pod(loose));
      assert.equal(refused.status, 403, refused.body);
      assert.match(
        (refused.json as { message: string }).message,
        /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false \(container "run-token" must/,
      );
    }
  });

  test("hostile submissions are refused, or change nothing in the rendered objects", async () => {
    // Refused at the API: nothing reaches the cluster.
    const refused: [Obj, RegExp][] = [
      [{ files: [{ path: "../../etc/passwd", content: "x" }] }, /file path/],
      [{ files: [{ path: "/abs.py", content: "x" }] }, /file path/],
      [{ files: [{ path: ".gantry-run-token", content: "x" }] }, /reserved/],
      [{ env: { GANTRY_RUN_TOKEN: "x" } }, /env/],
      [{ image: "attacker.example/runner:1" }, /runner images/],
      [{ command: ["/bin/sh", "-c", "cat /var/run/gantry/run-token"] }, /command/],
    ];
    for (const [extra, message] of refused) {
      const res = await submit({
        language: "python",
        files: [{ path: "main.py", content: "print(1)" }],
        cases: [{ expectedStdout: "1" }],
        ...extra,
      });
      assert.equal(res.status, 400, `${JSON.stringify(extra)}: ${res.text}`);
      assert.match(res.text, message);
    }

    // Accepted, with `$(…)`, quotes and newlines everywhere a submitter writes text: the objects are
    // those of a plain submission but for the run's own id and name.
    const plain = await submit({
      language: "python",
      files: [{ path: "main.py", content: "print(1)\n" }],
      cases: [{ name: "a", expectedStdout: "1\n" }],
    });
    const hostile = await submit({
      language: "python",
      files: [
        { path: "main.py", content: 'print("$(GANTRY_RUN_TOKEN)")\n' },
        { path: "$(HOME)/x\n- name: GANTRY_RUN_TOKEN.py", content: '"}]}' },
      ],
      cases: [
        { name: "a", stdin: "$(GANTRY_API_URL)\n", expectedStdout: '"},{"name":"GANTRY_RUN_TOKEN"}\n' },
      ],
    });
    assert.equal(plain.status, 201, plain.text);
    assert.equal(hostile.status, 201, hostile.text);
    const [p, h] = await Promise.all(
      [plain, hostile].map(async (r) => {
        const id = (r.body as { id: string }).id;
        runDuration.set(id, "1s");
        const job = await jobOf(id);
        // Only what names this run differs (its id, and the Job controller's uid label): mask those
        // and compare the pod template whole.
        const template = structuredClone(job.spec.template) as {
          metadata: { labels: Record<string, string> };
        };
        for (const key of Object.keys(template.metadata.labels))
          if (key.includes("controller-uid")) delete template.metadata.labels[key];
        const text = JSON.stringify(template).replaceAll(id, "<run>");
        return { id, text, job };
      }),
    );
    assert.equal(h!.text, p!.text);
    assert.ok(!h!.text.includes("$("), "no text of the submission reached the Job");
    for (const { id } of [p!, h!]) {
      const done = (await t.waitForRun(id, 60_000)) as unknown as RunBody;
      // No runner posts a result here: the pod ends, the run is recorded (succeeded, no result).
      assert.equal(done.state, "succeeded", JSON.stringify(done));
      assert.equal(done.result, null);
    }
  });
});
