import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { GantryError } from "./errors.ts";
import { DEFAULT_LANGUAGES } from "./languages.ts";
import {
  SANDBOX_RUNNER_NODE,
  SANDBOX_RUNNER_PATH,
  normalizeSubmission,
  runnerCommand,
  type SubmissionRequest,
} from "./submission-spec.ts";
import {
  GANTRY_ANNOTATIONS,
  GANTRY_LABELS,
  RUN_TOKEN_FILE,
  RUN_TOKEN_KEY,
  RUN_TOKEN_MOUNT,
  TOKEN_INIT_CONTAINER_NAME,
  WORK_DIR,
  cpuResources,
  escapeKubeExpansion,
  gantrySelector,
  jobName,
  labelValue,
  ownedBy,
  renderRunObjects,
} from "./kubernetes-objects.ts";
import type { KubeObject, KubernetesRunConfig, RenderRunInput } from "./kubernetes-objects.ts";
import { DEFAULT_LIMITS, MAX_LIMITS } from "./workload.ts";
import type { JobSpec } from "./workload.ts";
import { assertValidObjects, validateObjects } from "../validate/index.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const RUN_ID = "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab";
const TOKEN = "gtr_s3cr3t-token-value-that-must-not-leak";

const config: KubernetesRunConfig = {
  namespace: "gantry-runs",
  defaultImage: "registry.example/gantry-runner:0.1.0",
  ttlSecondsAfterFinished: 600,
  runAsUser: 65532,
  apiUrl: "http://gantry.gantry.svc.cluster.local:8080",
};

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return { command: ["python", "main.py"], env: {}, files: [], limits: { ...DEFAULT_LIMITS }, ...over };
}

function input(over: Partial<RenderRunInput> = {}): RenderRunInput {
  return { runId: RUN_ID, attempt: 1, owner: "alice", kind: "job", spec: spec(), runToken: TOKEN, ...over };
}

// The rendered objects are plain JSON; these helpers read their nested parts with the shapes we wrote.
type Obj = Record<string, unknown>;
const o = (v: unknown): Obj => v as Obj;
const podTemplate = (job: KubeObject): Obj => o(o(job["spec"])["template"]);
const podSpec = (job: KubeObject): Obj => o(podTemplate(job)["spec"]);
const containers = (job: KubeObject): Obj[] => podSpec(job)["containers"] as Obj[];
const main = (job: KubeObject): Obj => containers(job)[0]!;
const envOf = (job: KubeObject): Obj[] => main(job)["env"] as Obj[];
const envValue = (job: KubeObject, name: string): unknown =>
  envOf(job).find((e) => e["name"] === name)?.["value"];

test("jobName: gantry-<uuid>-<attempt>, a DNS-1123 label ≤ 63 chars, stable per (run, attempt)", () => {
  assert.equal(jobName(RUN_ID, 1), `gantry-${RUN_ID}-1`);
  assert.equal(jobName(RUN_ID, 1), jobName(RUN_ID, 1));
  assert.notEqual(jobName(RUN_ID, 1), jobName(RUN_ID, 2));
  // The largest attempt still fits beside a UUID.
  const big = jobName(RUN_ID, Number.MAX_SAFE_INTEGER);
  assert.ok(big.length <= 63 && DNS_LABEL.test(big), big);
  const odd = ["RUN_ID", "x".repeat(200), "a.b/c d", "---", "", "Ünïcode", RUN_ID.toUpperCase(), "9"];
  const names = new Set<string>();
  for (const id of odd) {
    for (const attempt of [0, 1, 12345678901]) {
      const n = jobName(id, attempt);
      assert.ok(n.length <= 63, `${n} is ${n.length} chars`);
      assert.match(n, DNS_LABEL);
      assert.ok(n.startsWith("gantry-") && n.endsWith(`-${attempt}`), n);
      assert.equal(jobName(id, attempt), n, "stable");
      names.add(n);
    }
  }
  assert.equal(names.size, odd.length * 3, "distinct ids and attempts give distinct names");
  for (const bad of [-1, 1.5, Number.NaN, Infinity])
    assert.throws(
      () => jobName(RUN_ID, bad),
      (err: unknown) => err instanceof GantryError,
    );
});

test("labelValue keeps valid values and turns anything else into a valid, distinct one", () => {
  assert.equal(labelValue("alice"), "alice");
  assert.equal(labelValue("team.a_b-c"), "team.a_b-c");
  assert.equal(labelValue(""), "");
  const inputs = ["alice@example.com", "alice@example.org", "-x-", "a".repeat(64), "ñ", " ", "a b", "a/b"];
  const out = inputs.map(labelValue);
  for (const v of out) assert.ok(v.length <= 63 && LABEL_VALUE.test(v), JSON.stringify(v));
  assert.equal(new Set(out).size, inputs.length);
  assert.match(labelValue("alice@example.com"), /^alice_example\.com-[0-9a-f]{8}$/);
});

test("labels: the same six on the Job, its pod template, the Secret and the ConfigMap (a submission adds its language)", () => {
  const r = renderRunObjects(
    input({ owner: "Alice Smith <alice@example.com>", spec: spec({ files: [{ path: "a", content: "x" }] }) }),
    config,
  );
  const expected = {
    [GANTRY_LABELS.managedBy]: "gantry",
    [GANTRY_LABELS.name]: "gantry-run",
    [GANTRY_LABELS.runId]: RUN_ID,
    [GANTRY_LABELS.attempt]: "1",
    [GANTRY_LABELS.kind]: "job",
    [GANTRY_LABELS.owner]: labelValue("Alice Smith <alice@example.com>"),
  };
  assert.deepEqual(
    Object.keys(GANTRY_LABELS).sort(),
    ["attempt", "kind", "language", "managedBy", "name", "owner", "runId"].sort(),
  );
  assert.ok(r.configMap !== null);
  for (const obj of [r.job, r.secret, r.configMap]) {
    assert.deepEqual(obj.metadata.labels, expected, obj.kind);
    assert.equal(obj.metadata.name, r.name);
    assert.equal(obj.metadata.namespace, "gantry-runs");
    assert.equal(obj.metadata.annotations?.[GANTRY_ANNOTATIONS.owner], "Alice Smith <alice@example.com>");
    assert.equal(obj.metadata.annotations?.[GANTRY_ANNOTATIONS.runId], RUN_ID);
    assert.equal(
      obj.metadata.annotations?.[GANTRY_ANNOTATIONS.outputBytes],
      String(DEFAULT_LIMITS.outputBytes),
    );
  }
  assert.deepEqual(o(podTemplate(r.job)["metadata"])["labels"], expected);
  for (const v of Object.values(expected)) assert.match(v, LABEL_VALUE);
  assert.equal(r.name, jobName(RUN_ID, 1));
  assert.equal(
    gantrySelector({ [GANTRY_LABELS.runId]: RUN_ID }),
    `app.kubernetes.io/managed-by=gantry,app.kubernetes.io/name=gantry-run,gantry.dev/run-id=${RUN_ID}`,
  );
});

test("Job: backoffLimit 0, restartPolicy Never, deadline from wallSeconds, TTL from config", () => {
  const { job } = renderRunObjects(
    input({ spec: spec({ limits: { ...DEFAULT_LIMITS, wallSeconds: 77 } }) }),
    config,
  );
  assert.equal(job.apiVersion, "batch/v1");
  assert.equal(job.kind, "Job");
  const s = o(job["spec"]);
  assert.equal(s["backoffLimit"], 0);
  assert.equal(s["activeDeadlineSeconds"], 77);
  assert.equal(s["ttlSecondsAfterFinished"], 600);
  assert.equal(s["completions"], 1);
  assert.equal(s["parallelism"], 1);
  assert.equal(s["selector"], undefined, "the Job controller generates the selector");
  assert.equal(podSpec(job)["restartPolicy"], "Never");
});

test("pod hardening: non-root, read-only root, no escalation, no capabilities, seccomp, no SA token, no host", () => {
  const { job } = renderRunObjects(input(), config);
  const pod = podSpec(job);
  assert.equal(pod["automountServiceAccountToken"], false);
  assert.equal(pod["enableServiceLinks"], false);
  for (const k of ["hostNetwork", "hostPID", "hostIPC"]) assert.equal(pod[k], false, k);
  assert.equal(pod["serviceAccountName"], undefined);
  assert.deepEqual(pod["securityContext"], {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.equal(containers(job).length, 1);
  assert.equal(pod["initContainers"], undefined);
  const c = main(job);
  assert.deepEqual(c["securityContext"], {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.equal(c["workingDir"], "/work");
  const volumes = pod["volumes"] as Obj[];
  for (const v of volumes) {
    assert.equal(v["hostPath"], undefined);
    assert.ok(v["emptyDir"] !== undefined || v["configMap"] !== undefined, JSON.stringify(v));
  }
  const mounts = c["volumeMounts"] as Obj[];
  assert.deepEqual(
    mounts.map((m) => [m["mountPath"], volumes.find((v) => v["name"] === m["name"])?.["emptyDir"]]),
    [
      ["/work", { sizeLimit: "1024Mi" }],
      ["/tmp", { sizeLimit: "1024Mi" }],
    ],
  );
  assert.throws(
    () => renderRunObjects(input(), { ...config, runAsUser: 0 }),
    (err: unknown) => err instanceof GantryError && err.code === "GANTRY_ERR_CONFIG",
  );
});

test("the run token reaches the pod only through the Secret (secretKeyRef), never inline", () => {
  const r = renderRunObjects(input({ spec: spec({ files: [{ path: "f", content: "x" }] }) }), config);
  assert.ok(!JSON.stringify(r.job).includes(TOKEN), "token not in the Job");
  assert.ok(!JSON.stringify(r.configMap).includes(TOKEN), "token not in the ConfigMap");
  assert.ok(!JSON.stringify(r.job).includes(Buffer.from(TOKEN).toString("base64")));
  const tokenEnv = envOf(r.job).filter((e) => e["name"] === "GANTRY_RUN_TOKEN");
  assert.deepEqual(tokenEnv, [
    {
      name: "GANTRY_RUN_TOKEN",
      valueFrom: { secretKeyRef: { name: r.name, key: RUN_TOKEN_KEY, optional: false } },
    },
  ]);
  assert.equal(r.secret.apiVersion, "v1");
  assert.equal(r.secret.kind, "Secret");
  assert.equal(r.secret["type"], "Opaque");
  assert.equal(r.secret["immutable"], true);
  const data = o(r.secret["data"]);
  assert.deepEqual(Object.keys(data), [RUN_TOKEN_KEY]);
  assert.equal(Buffer.from(data[RUN_TOKEN_KEY] as string, "base64").toString("utf8"), TOKEN);
  assert.equal(r.secret["stringData"], undefined);
  // A spec cannot smuggle its own GANTRY_RUN_TOKEN (or any GANTRY_*) in.
  const smuggled = renderRunObjects(
    input({ spec: spec({ env: { GANTRY_RUN_TOKEN: "fake", GANTRY_API_URL: "http://evil", OK: "1" } }) }),
    config,
  );
  const names = envOf(smuggled.job).map((e) => e["name"]);
  assert.equal(names.filter((n) => n === "GANTRY_RUN_TOKEN").length, 1);
  assert.equal(names.filter((n) => n === "GANTRY_API_URL").length, 1);
  assert.equal(envValue(smuggled.job, "GANTRY_API_URL"), config.apiUrl);
  assert.equal(envValue(smuggled.job, "OK"), "1");
});

test("env: GANTRY_RUN_ID/ATTEMPT/API_URL, the spec's env, HOME and TMPDIR defaults; $ stays literal", () => {
  const { job } = renderRunObjects(
    input({
      attempt: 3,
      spec: spec({
        env: { GREETING: "hi $(GANTRY_RUN_ID) $$ $HOME", TMPDIR: "/work/tmp" },
        command: ["sh", "-c", "echo $(X)"],
      }),
    }),
    config,
  );
  assert.equal(envValue(job, "GANTRY_RUN_ID"), RUN_ID);
  assert.equal(envValue(job, "GANTRY_ATTEMPT"), "3");
  assert.equal(envValue(job, "GANTRY_API_URL"), config.apiUrl);
  assert.equal(envValue(job, "GANTRY_PAYLOAD"), "none");
  assert.equal(envValue(job, "HOME"), "/work");
  assert.equal(envValue(job, "TMPDIR"), "/work/tmp", "the spec's value wins over the default");
  assert.equal(envOf(job).filter((e) => e["name"] === "TMPDIR").length, 1);
  // Kubernetes turns $$ into $ and expands $(VAR): doubled, the workload sees exactly what was asked.
  assert.equal(envValue(job, "GREETING"), "hi $$(GANTRY_RUN_ID) $$$$ $$HOME");
  assert.deepEqual(main(job)["command"], ["sh", "-c", "echo $$(X)"]);
  assert.equal(main(job)["args"], undefined);
  assert.equal(escapeKubeExpansion("a$b$$c$(d)"), "a$$b$$$$c$$(d)");
});

test("image: the spec's, else the default; pull policy only when configured", () => {
  const own = renderRunObjects(input({ spec: spec({ image: "python:3.12-slim" }) }), config);
  assert.equal(main(own.job)["image"], "python:3.12-slim");
  assert.equal(main(own.job)["imagePullPolicy"], undefined);
  const dflt = renderRunObjects(input(), { ...config, imagePullPolicy: "IfNotPresent" });
  assert.equal(main(dflt.job)["image"], config.defaultImage);
  assert.equal(main(dflt.job)["imagePullPolicy"], "IfNotPresent");
  assert.equal(main(dflt.job)["name"], "main");
});

test("limits: memory request = limit; CPU from the budget's average rate", () => {
  const { job } = renderRunObjects(
    input({ spec: spec({ limits: { ...DEFAULT_LIMITS, memoryMB: 768 } }) }),
    config,
  );
  assert.deepEqual(main(job)["resources"], {
    requests: { cpu: "167m", memory: "768Mi" },
    limits: { cpu: "1", memory: "768Mi" },
  });
  // [cpuSeconds, wallSeconds] → request, limit
  const table: [number, number, string, string][] = [
    [10, 60, "167m", "1"], // default: a sixth of a core on average, bursts to one
    [1, 3600, "100m", "1"], // floor of 100m
    [60, 60, "1", "1"],
    [90, 60, "1500m", "2"],
    [3600, 1, "4", "4"], // capped at maxCpuMillis (4 cores)
    [MAX_LIMITS.cpuSeconds, MAX_LIMITS.wallSeconds, "167m", "1"],
  ];
  for (const [cpuSeconds, wallSeconds, request, limit] of table)
    assert.deepEqual(
      cpuResources({ cpuSeconds, wallSeconds }),
      { request, limit },
      `${cpuSeconds}/${wallSeconds}`,
    );
  assert.deepEqual(cpuResources({ cpuSeconds: 3600, wallSeconds: 1 }, 8000), { request: "8", limit: "8" });
  assert.deepEqual(cpuResources({ cpuSeconds: 10, wallSeconds: 60 }, 500), {
    request: "167m",
    limit: "500m",
  });
  const capped = renderRunObjects(input({ spec: spec({ limits: { ...DEFAULT_LIMITS, cpuSeconds: 600 } }) }), {
    ...config,
    maxCpuMillis: 2000,
    workDirSizeMB: 64,
  });
  assert.deepEqual(o(main(capped.job)["resources"])["limits"], { cpu: "2", memory: "512Mi" });
  assert.deepEqual(
    (podSpec(capped.job)["volumes"] as Obj[]).map((v) => v["emptyDir"]),
    [{ sizeLimit: "64Mi" }, { sizeLimit: "64Mi" }],
  );
});

test("files: in the per-run ConfigMap, each mounted read-only at /work/<path>", () => {
  const files = [
    { path: "main.py", content: "print('hi')\n" },
    { path: "lib/util.py", content: "X = 1\n", encoding: "utf8" as const },
    {
      path: "bin/tool",
      content: Buffer.from([0, 1, 2, 255]).toString("base64"),
      encoding: "base64" as const,
      executable: true,
    },
  ];
  const r = renderRunObjects(input({ spec: spec({ files }) }), config);
  const cm = r.configMap;
  assert.ok(cm !== null);
  assert.equal(cm.apiVersion, "v1");
  assert.equal(cm.kind, "ConfigMap");
  assert.equal(cm["immutable"], true);
  assert.deepEqual(cm["data"], { f0: "print('hi')\n", f1: "X = 1\n" });
  assert.deepEqual(cm["binaryData"], { f2: "AAEC/w==" });
  assert.equal(cm.metadata.annotations?.[GANTRY_ANNOTATIONS.payload], "configmap");
  assert.equal(envValue(r.job, "GANTRY_PAYLOAD"), "configmap");
  const volume = (podSpec(r.job)["volumes"] as Obj[]).find((v) => v["name"] === "files");
  assert.deepEqual(volume, {
    name: "files",
    configMap: {
      name: r.name,
      optional: false,
      defaultMode: 0o444,
      items: [
        { key: "f0", path: "f0", mode: 0o444 },
        { key: "f1", path: "f1", mode: 0o444 },
        { key: "f2", path: "f2", mode: 0o555 },
      ],
    },
  });
  const mounts = (main(r.job)["volumeMounts"] as Obj[]).filter((m) => m["name"] === "files");
  assert.deepEqual(mounts, [
    { name: "files", mountPath: "/work/main.py", subPath: "f0", readOnly: true },
    { name: "files", mountPath: "/work/lib/util.py", subPath: "f1", readOnly: true },
    { name: "files", mountPath: "/work/bin/tool", subPath: "f2", readOnly: true },
  ]);
  // Unpadded base64 (normalizeJobSpec accepts it; the API server does not) is sent padded.
  const unpadded = renderRunObjects(
    input({ spec: spec({ files: [{ path: "u", content: "AAE", encoding: "base64" }] }) }),
    config,
  );
  assert.deepEqual(unpadded.configMap?.["binaryData"], { f0: "AAE=" });
  assert.doesNotThrow(() => assertValidObjects([unpadded.configMap], { strict: true }));
  // No files: no ConfigMap and no files volume.
  const none = renderRunObjects(input(), config);
  assert.equal(none.configMap, null);
  assert.ok(!(podSpec(none.job)["volumes"] as Obj[]).some((v) => v["name"] === "files"));
});

test("files larger than payloadConfigMapMaxBytes: no ConfigMap; the workload fetches its payload", () => {
  const files = [{ path: "big.txt", content: "x".repeat(2000) }];
  const at = renderRunObjects(input({ spec: spec({ files }) }), {
    ...config,
    payloadConfigMapMaxBytes: 2002,
  });
  assert.ok(at.configMap !== null, "2000 bytes + key 'f0' fit in 2002");
  const over = renderRunObjects(input({ spec: spec({ files }) }), {
    ...config,
    payloadConfigMapMaxBytes: 2001,
  });
  assert.equal(over.configMap, null);
  assert.equal(envValue(over.job, "GANTRY_PAYLOAD"), "api");
  assert.equal(
    envValue(over.job, "GANTRY_PAYLOAD_URL"),
    `${config.apiUrl}/v1/internal/runs/${RUN_ID}/payload`,
  );
  assert.equal(over.job.metadata.annotations?.[GANTRY_ANNOTATIONS.payload], "api");
  assert.ok(!(podSpec(over.job)["volumes"] as Obj[]).some((v) => v["name"] === "files"));
  assert.ok(!JSON.stringify(over.job).includes("xxxxxxxx"), "the payload is not inlined anywhere");
  // Base64 files count their decoded size; multi-byte UTF-8 counts bytes, not characters.
  const b64 = [{ path: "b", content: Buffer.alloc(300).toString("base64"), encoding: "base64" as const }];
  assert.ok(
    renderRunObjects(input({ spec: spec({ files: b64 }) }), { ...config, payloadConfigMapMaxBytes: 302 })
      .configMap !== null,
  );
  assert.equal(
    renderRunObjects(input({ spec: spec({ files: b64 }) }), { ...config, payloadConfigMapMaxBytes: 301 })
      .configMap,
    null,
  );
  const utf = [{ path: "u", content: "é".repeat(100) }];
  assert.equal(
    renderRunObjects(input({ spec: spec({ files: utf }) }), { ...config, payloadConfigMapMaxBytes: 150 })
      .configMap,
    null,
  );
  // The default stays under the API server's 1 MiB ConfigMap limit.
  const mib = [{ path: "m", content: "y".repeat(1024 * 1024) }];
  assert.equal(renderRunObjects(input({ spec: spec({ files: mib }) }), config).configMap, null);
});

test("pod annotations: extra ones (e.g. kwok's) on the pod template; Gantry's own cannot be overridden", () => {
  const { job } = renderRunObjects(
    input({ podAnnotations: { "gantry.dev/test-exit-code": "3", [GANTRY_ANNOTATIONS.owner]: "mallory" } }),
    config,
  );
  const annotations = o(podTemplate(job)["metadata"])["annotations"] as Record<string, string>;
  assert.equal(annotations["gantry.dev/test-exit-code"], "3");
  assert.equal(annotations[GANTRY_ANNOTATIONS.owner], "alice");
  assert.equal(annotations["kubectl.kubernetes.io/default-container"], "main");
});

test("ownedBy: an ownerReference to the Job, not controlling, not blocking; idempotent", () => {
  const r = renderRunObjects(input(), config);
  const owner = { metadata: { name: r.name, uid: "6f1c0c9e-0000-4000-8000-000000000001" } };
  const owned = ownedBy(r.secret, owner);
  assert.deepEqual(owned.metadata.ownerReferences, [
    {
      apiVersion: "batch/v1",
      kind: "Job",
      name: r.name,
      uid: owner.metadata.uid,
      controller: false,
      blockOwnerDeletion: false,
    },
  ]);
  assert.equal(r.secret.metadata.ownerReferences, undefined, "the input is not modified");
  assert.deepEqual(ownedBy(owned, owner), owned, "adding the same owner twice keeps one reference");
  assert.deepEqual(owned["data"], r.secret["data"]);
  assert.deepEqual(owned.metadata.labels, r.secret.metadata.labels);
});

test("every rendered object passes the validator in strict mode with no finding at all", () => {
  const variants: RenderRunInput[] = [
    input(),
    input({
      attempt: 7,
      owner: "bob@example.com",
      spec: spec({ image: "python:3.12-slim", env: { A: "1" } }),
    }),
    input({
      spec: spec({
        files: [
          { path: "main.py", content: "print(1)" },
          { path: "data/x.bin", content: "AAEC", encoding: "base64", executable: true },
        ],
        limits: { ...MAX_LIMITS },
      }),
    }),
    input({ spec: spec({ files: [{ path: "big", content: "z".repeat(2000) }] }) }),
  ];
  for (const v of variants) {
    for (const cfg of [
      config,
      { ...config, payloadConfigMapMaxBytes: 100, imagePullPolicy: "Always" as const },
    ]) {
      const r = renderRunObjects(v, cfg);
      const owner = { metadata: { name: r.name, uid: "6f1c0c9e-0000-4000-8000-000000000001" } };
      const objects = [
        r.job,
        ownedBy(r.secret, owner),
        ...(r.configMap === null ? [] : [ownedBy(r.configMap, owner)]),
      ];
      assert.doesNotThrow(() => assertValidObjects(objects, { strict: true }));
      for (const result of validateObjects(objects, { strict: true }))
        assert.deepEqual(result.findings, [], `${result.kind}: ${JSON.stringify(result.findings)}`);
    }
  }
});

test("the validator would catch a rendered Job that lost its hardening (the previous test means something)", () => {
  const { job } = renderRunObjects(input(), config);
  const broken = structuredClone(job);
  const c = main(broken);
  c["securityContext"] = { ...o(c["securityContext"]), privileged: true, allowPrivilegeEscalation: true };
  delete o(c["resources"])["limits"];
  c["image"] = "python:latest";
  assert.throws(
    () => assertValidObjects([broken], { strict: true }),
    (err: unknown) =>
      err instanceof GantryError &&
      ["policy-privileged", "policy-privilege-escalation", "policy-limits-missing", "policy-image-tag"].every(
        (rule) => err.message.includes(rule),
      ),
  );
});

// ---- kind `submission` ----

const submissionSpec = (language: string, request: Partial<SubmissionRequest> = {}) =>
  normalizeSubmission(
    {
      language,
      files: [{ path: DEFAULT_LANGUAGES[language]!.sourceFile, content: "SOURCE-MARKER-Zq81\n" }],
      cases: [
        { name: "visible", stdin: "STDIN-MARKER-1\n", expectedStdout: "EXPECTED-MARKER-1\n" },
        { name: "hidden", stdin: "STDIN-MARKER-2\n", expectedStdout: "EXPECTED-MARKER-2\n", weight: 3 },
      ],
      ...request,
    },
    DEFAULT_LANGUAGES,
  );
const submissionInput = (s: JobSpec, over: Partial<RenderRunInput> = {}): RenderRunInput =>
  input({ kind: "submission", spec: s, ...over });
const initContainers = (job: KubeObject): Obj[] =>
  (podSpec(job)["initContainers"] as Obj[] | undefined) ?? [];
const volumes = (job: KubeObject): Obj[] => podSpec(job)["volumes"] as Obj[];

test("submission: the runner in the language's image, kind and language labels, payload from the API", () => {
  for (const language of Object.keys(DEFAULT_LANGUAGES)) {
    const s = submissionSpec(language);
    const r = renderRunObjects(submissionInput(s), config);
    const c = main(r.job);
    assert.equal(c["image"], DEFAULT_LANGUAGES[language]!.image, language);
    assert.deepEqual(c["command"], runnerCommand(), "the same argv as in the local sandbox");
    assert.deepEqual(c["command"], [SANDBOX_RUNNER_NODE, SANDBOX_RUNNER_PATH]);
    for (const obj of [
      r.job,
      r.secret,
      { metadata: podTemplate(r.job)["metadata"] as KubeObject["metadata"] },
    ]) {
      assert.equal(obj.metadata.labels[GANTRY_LABELS.kind], "submission");
      assert.equal(obj.metadata.labels[GANTRY_LABELS.language], language);
    }
    assert.equal(r.job.metadata.annotations?.[GANTRY_ANNOTATIONS.payload], "api");
    assert.equal(envValue(r.job, "GANTRY_PAYLOAD"), "api");
    assert.equal(
      envValue(r.job, "GANTRY_PAYLOAD_URL"),
      `${config.apiUrl}/v1/internal/runs/${RUN_ID}/payload`,
    );
    assert.equal(r.configMap, null, "no ConfigMap: the grading spec is fetched, never mounted");
    const res = o(c["resources"]);
    assert.deepEqual(o(res["limits"])["memory"], `${s.limits.memoryMB}Mi`);
    assert.equal(o(r.job["spec"])["activeDeadlineSeconds"], s.limits.wallSeconds);
  }
  // The spec's image is the one run (a row of the operator's table other than the language's).
  const own = renderRunObjects(
    submissionInput({ ...submissionSpec("c"), image: "registry.example/my-gcc:1.2" }),
    config,
  );
  assert.equal(main(own.job)["image"], "registry.example/my-gcc:1.2");
  assert.equal(initContainers(own.job)[0]!["image"], "registry.example/my-gcc:1.2");
});

test("runTokenDelivery file: the Secret is mounted only into the init container; main gets GANTRY_RUN_TOKEN_FILE", () => {
  const r = renderRunObjects(submissionInput(submissionSpec("python")), config);
  const text = JSON.stringify(r.job);
  assert.ok(!text.includes(TOKEN) && !text.includes(Buffer.from(TOKEN).toString("base64")));
  const c = main(r.job);
  const names = envOf(r.job).map((e) => e["name"]);
  assert.ok(!names.includes("GANTRY_RUN_TOKEN"), "no token env in the main container");
  assert.ok(
    envOf(r.job).every((e) => e["valueFrom"] === undefined),
    "no env of the main container refers to the Secret",
  );
  assert.equal(envValue(r.job, "GANTRY_RUN_TOKEN_FILE"), RUN_TOKEN_FILE);
  assert.equal(RUN_TOKEN_FILE, "/work/.gantry-run-token");
  const mounts = (c["volumeMounts"] as Obj[]).map((m) => m["name"]);
  assert.deepEqual(mounts, ["work", "tmp"], "main mounts no secret volume");

  const inits = initContainers(r.job);
  assert.equal(inits.length, 1);
  const init = inits[0]!;
  assert.equal(init["name"], TOKEN_INIT_CONTAINER_NAME);
  assert.equal(init["image"], c["image"], "the same image: nothing else to pull");
  assert.equal((init["command"] as string[])[0], SANDBOX_RUNNER_NODE);
  assert.deepEqual((init["command"] as string[]).slice(-2), [
    `${RUN_TOKEN_MOUNT}/${RUN_TOKEN_KEY}`,
    RUN_TOKEN_FILE,
  ]);
  assert.deepEqual(init["env"], [{ name: "HOME", value: WORK_DIR }]);
  assert.deepEqual(init["volumeMounts"], [
    { name: "work", mountPath: WORK_DIR },
    { name: "run-token", mountPath: RUN_TOKEN_MOUNT, readOnly: true },
  ]);
  assert.deepEqual(init["securityContext"], c["securityContext"], "hardened like the main container");
  assert.notEqual(init["securityContext"], c["securityContext"], "each container has its own object");
  assert.ok(o(o(init["resources"])["limits"])["memory"] !== undefined);
  const secretVolumes = volumes(r.job).filter((v) => v["secret"] !== undefined);
  assert.deepEqual(secretVolumes, [
    {
      name: "run-token",
      secret: {
        secretName: r.name,
        optional: false,
        defaultMode: 0o440,
        items: [{ key: RUN_TOKEN_KEY, path: RUN_TOKEN_KEY }],
      },
    },
  ]);
  // The Secret itself is the same as for any run.
  assert.equal(Buffer.from(o(r.secret["data"])[RUN_TOKEN_KEY] as string, "base64").toString(), TOKEN);

  // File delivery is the spec's choice, not the kind's: a job asking for it gets the same; the
  // default (env) keeps the secretKeyRef and renders no init container.
  const job = renderRunObjects(input({ spec: spec({ runTokenDelivery: "file" }) }), config);
  assert.equal(initContainers(job.job).length, 1);
  assert.equal(envValue(job.job, "GANTRY_RUN_TOKEN_FILE"), RUN_TOKEN_FILE);
  const plain = renderRunObjects(input(), config);
  assert.equal(podSpec(plain.job)["initContainers"], undefined);
  assert.equal(envValue(plain.job, "GANTRY_RUN_TOKEN_FILE"), undefined);
});

test("the init container's program writes the token as a 0600 file and refuses a target that exists", async () => {
  const { job } = renderRunObjects(submissionInput(submissionSpec("python")), config);
  const argv = initContainers(job)[0]!["command"] as string[];
  const dir = await mkdtemp(path.join(tmpdir(), "gantry-token-init-"));
  try {
    const source = path.join(dir, "secret");
    const target = path.join(dir, "work-token");
    await writeFile(source, TOKEN, { mode: 0o440 });
    // The rendered argv with the host's node and these paths in place of the pod's.
    const run = (to: string) =>
      spawnSync(process.execPath, [...argv.slice(1, -2), source, to], { encoding: "utf8" });
    const first = run(target);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(await readFile(target, "utf8"), TOKEN);
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    // A planted file (or link) at the target is not followed or overwritten.
    const planted = path.join(dir, "planted");
    await writeFile(planted, "keep");
    await symlink(planted, path.join(dir, "link"));
    const second = run(path.join(dir, "link"));
    assert.notEqual(second.status, 0);
    assert.equal(await readFile(planted, "utf8"), "keep");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("submission: nothing of the grading spec (sources, stdin, expected outputs, checker) is in any object", () => {
  const checker = submissionSpec("cpp", {
    compare: {
      mode: "checker",
      files: [{ path: "check.py", content: "CHECKER-MARKER-77" }],
      command: ["/usr/bin/python3", "check.py"],
    },
  });
  for (const s of [submissionSpec("python"), checker]) {
    const r = renderRunObjects(submissionInput(s), config);
    const text = JSON.stringify([r.job, r.secret, r.configMap]);
    for (const marker of [
      "SOURCE-MARKER",
      "STDIN-MARKER",
      "EXPECTED-MARKER",
      "CHECKER-MARKER",
      "check.py",
      "hidden",
    ])
      assert.ok(!text.includes(marker), `${marker} leaked into the objects`);
  }
});

test("a hostile submission cannot change the rendered objects: they depend on language, image and limits only", () => {
  const benign = submissionSpec("python");
  const hostile = structuredClone(benign);
  // What the API refuses, put straight into a spec (as a tampered store row would be).
  hostile.submission.files = [
    { path: "../../etc/passwd", content: "x" },
    { path: "/abs", content: "$(GANTRY_RUN_TOKEN)" },
    { path: "main.py\nenv:\n- name: GANTRY_RUN_TOKEN", content: "}" },
  ];
  hostile.submission.cases[0]!.expectedStdout = '"},{"name":"GANTRY_RUN_TOKEN","value":"x"}';
  hostile.submission.cases[0]!.name = "$(HOME)/../x";
  const a = renderRunObjects(submissionInput(benign), config);
  const b = renderRunObjects(submissionInput(hostile), config);
  assert.deepEqual(b, a);
  // Env a spec brings (none, for an accepted submission) never replaces Gantry's, and $ stays literal.
  const injected = renderRunObjects(
    submissionInput({
      ...benign,
      env: { GANTRY_RUN_TOKEN_FILE: "/etc/shadow", GANTRY_RUN_TOKEN: "x", X: "$(GANTRY_API_URL)" },
    }),
    config,
  );
  assert.equal(envValue(injected.job, "GANTRY_RUN_TOKEN_FILE"), RUN_TOKEN_FILE);
  assert.ok(!envOf(injected.job).some((e) => e["name"] === "GANTRY_RUN_TOKEN"));
  assert.equal(envValue(injected.job, "X"), "$$(GANTRY_API_URL)");
  // A language name that is no label value is made one; files to mount and a missing spec are refused.
  const odd = structuredClone(benign);
  odd.submission.language = "Py thon/../x";
  const oddLabel = renderRunObjects(submissionInput(odd), config).job.metadata.labels[GANTRY_LABELS.language];
  assert.match(oddLabel ?? "", LABEL_VALUE);
  for (const bad of [{ ...benign, files: [{ path: "main.py", content: "print(1)" }] }, spec()])
    assert.throws(
      () => renderRunObjects(submissionInput(bad), config),
      (err: unknown) => err instanceof GantryError && err.code === "GANTRY_ERR_VALIDATION",
    );
});

test("every rendered submission passes the validator in strict mode with no finding at all", () => {
  for (const language of Object.keys(DEFAULT_LANGUAGES)) {
    for (const cfg of [config, { ...config, imagePullPolicy: "IfNotPresent" as const, maxCpuMillis: 2000 }]) {
      const r = renderRunObjects(submissionInput(submissionSpec(language)), cfg);
      const owner = { metadata: { name: r.name, uid: "6f1c0c9e-0000-4000-8000-000000000002" } };
      const objects = [r.job, ownedBy(r.secret, owner)];
      for (const result of validateObjects(objects, { strict: true }))
        assert.deepEqual(
          result.findings,
          [],
          `${language} ${result.kind}: ${JSON.stringify(result.findings)}`,
        );
    }
  }
  // The init container is checked too: without its hardening the validator refuses the Job.
  const { job } = renderRunObjects(submissionInput(submissionSpec("java")), config);
  const broken = structuredClone(job);
  initContainers(broken)[0]!["securityContext"] = { runAsNonRoot: true };
  assert.throws(() => assertValidObjects([broken], { strict: true }), GantryError);
});
