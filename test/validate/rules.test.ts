/**
 * Every rule in the registry has a case that fails it and one that passes it. The base object is a
 * Job that passes every rule in job mode; each case breaks one thing.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GantryError } from "../../src/core/errors.ts";
import { RULES, assertValidObjects, validateDocuments, validateObjects } from "../../src/validate/index.ts";
import type { ObjectResult, ValidateOptions } from "../../src/validate/index.ts";
import { applyServerDryRun } from "../../src/validate/server-dry-run.ts";
import type { DryRunClient } from "../../src/validate/server-dry-run.ts";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test fixtures are edited freely by path

function baseJob(): Obj {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: "arb-tuning-s1-w1-0",
      namespace: "jobs",
      labels: { app: "a", session_id: "s", worker_id: "w", component: "c" },
    },
    spec: {
      activeDeadlineSeconds: 60,
      ttlSecondsAfterFinished: 60,
      template: {
        spec: {
          restartPolicy: "Never",
          securityContext: { runAsNonRoot: true, runAsUser: 1000 },
          containers: [
            {
              name: "main",
              image: "registry.example.com/x:1.0",
              args: ["--a"],
              env: [{ name: "A", value: "1" }],
              resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1", memory: "128Mi" } },
              securityContext: { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  };
}

const JOB_MODE: ValidateOptions = { jobMode: true };
const pod = (o: Obj): Obj => o["spec"]["template"]["spec"];
const ctr = (o: Obj): Obj => pod(o)["containers"][0];

interface Case {
  rule: string;
  options?: ValidateOptions;
  /** Breaks the base object, or YAML text that fails. */
  fail: ((o: Obj) => void) | string;
  /** Fixes it again (default: the untouched base object), or YAML text that passes. */
  pass?: ((o: Obj) => void) | string;
}

const VALID_YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: b}\n";

const CASES: Case[] = [
  { rule: "yaml-syntax", fail: "apiVersion: v1\nkind: [ConfigMap\n", pass: VALID_YAML },
  {
    rule: "yaml-duplicate-key",
    fail: "apiVersion: v1\nkind: ConfigMap\nkind: ConfigMap\nmetadata: {name: c}\n",
    pass: VALID_YAML,
  },
  {
    rule: "yaml-alias-limit",
    fail: "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    pass: "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: c, namespace: n}\ndata: {a: b}\n",
  },
  {
    rule: "yaml-too-large",
    options: { maxBytes: 64 },
    fail: VALID_YAML + "# padding padding padding\n",
    pass: "a: 1\n",
  },
  { rule: "yaml-not-object", fail: "- just\n- a list\n", pass: VALID_YAML },
  { rule: "schema-missing-type-meta", fail: (o) => delete o["kind"] },
  { rule: "schema-unknown-kind", fail: (o) => (o["apiVersion"] = "batch/v2") },
  { rule: "schema-type", fail: (o) => (o["spec"]["backoffLimit"] = "6") },
  { rule: "schema-required", fail: (o) => delete ctr(o)["name"] },
  { rule: "schema-enum", fail: (o) => (pod(o)["restartPolicy"] = "Sometimes") },
  { rule: "schema-format", fail: (o) => (o["metadata"]["creationTimestamp"] = "yesterday") },
  {
    rule: "schema-constraint",
    options: { schemaDirs: ["test/validate/fixtures/crds"] },
    fail: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: n}\nspec: {size: small, count: 0}\n",
    pass: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: n}\nspec: {size: small, count: 1}\n",
  },
  { rule: "schema-unknown-field", fail: (o) => (o["spec"]["paralelism"] = 2) },
  { rule: "job-api-version", options: JOB_MODE, fail: (o) => (o["apiVersion"] = "batch/v1beta1") },
  { rule: "job-kind", options: JOB_MODE, fail: (o) => (o["kind"] = "CronJob") },
  { rule: "metadata-name-missing", fail: (o) => delete o["metadata"]["name"] },
  { rule: "metadata-name-invalid", fail: (o) => (o["metadata"]["name"] = "Arb_Tuning") },
  { rule: "namespace-missing", options: JOB_MODE, fail: (o) => delete o["metadata"]["namespace"] },
  { rule: "containers-missing", fail: (o) => (pod(o)["containers"] = []) },
  { rule: "container-image-missing", fail: (o) => delete ctr(o)["image"] },
  { rule: "container-args-missing", options: JOB_MODE, fail: (o) => delete ctr(o)["args"] },
  { rule: "labels-recommended", options: JOB_MODE, fail: (o) => delete o["metadata"]["labels"]["worker_id"] },
  { rule: "container-resources-missing", options: JOB_MODE, fail: (o) => delete ctr(o)["resources"] },
  { rule: "container-env-missing", options: JOB_MODE, fail: (o) => delete ctr(o)["env"] },
  { rule: "env-name-invalid", fail: (o) => (ctr(o)["env"] = [{ name: "A=B", value: "1" }]) },
  { rule: "job-name-pattern", options: JOB_MODE, fail: (o) => (o["metadata"]["name"] = "my-job") },
  { rule: "policy-privileged", fail: (o) => (ctr(o)["securityContext"]["privileged"] = true) },
  { rule: "policy-host-namespaces", fail: (o) => (pod(o)["hostPID"] = true) },
  {
    rule: "policy-host-path",
    fail: (o) => (pod(o)["volumes"] = [{ name: "h", hostPath: { path: "/var/run/docker.sock" } }]),
    pass: (o) => (pod(o)["volumes"] = [{ name: "h", emptyDir: {} }]),
  },
  { rule: "policy-run-as-root", fail: (o) => (ctr(o)["securityContext"]["runAsUser"] = 0) },
  {
    rule: "policy-privilege-escalation",
    fail: (o) => delete ctr(o)["securityContext"]["allowPrivilegeEscalation"],
  },
  {
    rule: "policy-capabilities-added",
    fail: (o) => (ctr(o)["securityContext"]["capabilities"] = { add: ["NET_ADMIN"] }),
    pass: (o) => (ctr(o)["securityContext"]["capabilities"] = { drop: ["ALL"] }),
  },
  { rule: "policy-limits-missing", fail: (o) => delete ctr(o)["resources"]["limits"]["memory"] },
  {
    rule: "policy-image-tag",
    fail: (o) => (ctr(o)["image"] = "registry.example.com/x:latest"),
    pass: (o) => (ctr(o)["image"] = "registry.example.com:5000/x@sha256:abc"),
  },
  { rule: "policy-job-deadline", fail: (o) => delete o["spec"]["activeDeadlineSeconds"] },
  { rule: "policy-job-ttl", fail: (o) => delete o["spec"]["ttlSecondsAfterFinished"] },
];

function run(input: Obj | string, options: ValidateOptions): ObjectResult[] {
  return typeof input === "string"
    ? validateDocuments(input, options, "case.yaml")
    : validateObjects([input], options);
}

function build(spec: ((o: Obj) => void) | string | undefined): Obj | string {
  if (typeof spec === "string") return spec;
  const o = baseJob();
  spec?.(o);
  return o;
}

const rulesOf = (results: ObjectResult[]) => results.flatMap((r) => r.findings.map((f) => f.rule));

describe("validation rules", () => {
  it("the base Job passes every rule in job mode", () => {
    const [r] = validateObjects([baseJob()], JOB_MODE);
    assert.deepEqual(r!.findings, []);
    assert.equal(r!.status, "valid");
  });

  it("every registered rule has a case here (server-dry-run below)", () => {
    const covered = new Set([...CASES.map((c) => c.rule), "server-dry-run"]);
    assert.deepEqual(
      [...RULES.keys()].filter((id) => !covered.has(id)),
      [],
    );
  });

  for (const c of CASES) {
    const options = c.options ?? JOB_MODE;
    it(`${c.rule}: fails when broken, passes when fixed`, () => {
      const failed = run(build(c.fail), options);
      assert.ok(
        rulesOf(failed).includes(c.rule),
        `expected ${c.rule}, got ${JSON.stringify(rulesOf(failed))}`,
      );
      const finding = failed.flatMap((r) => r.findings).find((f) => f.rule === c.rule)!;
      assert.ok(
        finding.message.length > 0 && finding.fix.length > 0,
        "findings say what is wrong and how to fix it",
      );
      assert.equal(finding.severity, RULES.get(c.rule)!.severity);
      if (finding.severity === "error") assert.ok(failed.some((r) => r.status === "invalid"));
      const passed = run(build(c.pass), options);
      assert.ok(
        !rulesOf(passed).includes(c.rule),
        `did not expect ${c.rule} in ${JSON.stringify(rulesOf(passed))}`,
      );
    });
  }

  it("server-dry-run: a rejection becomes a finding, an acceptance does not", async () => {
    const objects = [baseJob(), baseJob()];
    const results = validateObjects(objects, {});
    let n = 0;
    const client: DryRunClient = {
      server: "https://fake",
      verdict: async () =>
        n++ === 0
          ? { status: "accepted" }
          : { status: "rejected", message: 'Job.batch "x" is invalid: spec.template: Required value' },
    };
    await applyServerDryRun(results, objects, [client], {});
    assert.equal(results[0]!.server?.status, "accepted");
    assert.equal(results[0]!.status, "valid");
    assert.equal(results[1]!.server?.status, "rejected");
    assert.equal(results[1]!.status, "invalid");
    assert.deepEqual(rulesOf([results[1]!]), ["server-dry-run"]);
  });
});

describe("names by kind", () => {
  const named = (apiVersion: string, kind: string, name: string) =>
    validateObjects([{ apiVersion, kind, metadata: { name, namespace: "n" } }], {})[0]!.findings.some(
      (f) => f.rule === "metadata-name-invalid",
    );
  it("follows the API server's name rules", () => {
    assert.equal(named("v1", "Service", "1web"), true, "Services start with a letter (DNS-1035)");
    assert.equal(named("v1", "Service", "web-1"), false);
    assert.equal(named("v1", "Namespace", "team.a"), true, "Namespaces are DNS-1123 labels");
    assert.equal(named("v1", "ConfigMap", "app.config-1"), false, "most kinds take DNS-1123 subdomains");
    assert.equal(named("v1", "ConfigMap", "App"), true);
    assert.equal(named("batch/v1", "Job", "j".repeat(64)), true, "Job names end up in a label: 63 at most");
    assert.equal(named("batch/v1", "CronJob", "c".repeat(53)), true, "CronJob names: 52 at most");
    assert.equal(named("rbac.authorization.k8s.io/v1", "ClusterRole", "system:aggregate-to-view"), false);
    assert.equal(named("example.com/v1", "Widget", "Any_Name"), false, "CRD names are only path segments");
  });
});

describe("the guard before the cluster", () => {
  it("returns the results when every object is valid, throws a coded error naming the problems otherwise", () => {
    assert.equal(assertValidObjects([baseJob()], JOB_MODE).length, 1);
    const bad = baseJob();
    ctr(bad)["securityContext"]["privileged"] = true;
    assert.throws(
      () => assertValidObjects([baseJob(), bad]),
      (err: unknown) =>
        err instanceof GantryError &&
        err.code === "GANTRY_ERR_VALIDATION" &&
        /Job\/arb-tuning-s1-w1-0: \[policy-privileged\] container "main" runs privileged \(fix: /.test(
          err.message,
        ),
    );
  });
});

describe("rule levels", () => {
  it("--strict turns warnings into errors", () => {
    const o = baseJob();
    o["spec"]["paralelism"] = 2;
    const [loose] = validateObjects([o], {});
    assert.equal(loose!.status, "valid");
    assert.equal(loose!.findings[0]!.severity, "warning");
    const [strict] = validateObjects([o], { strict: true });
    assert.equal(strict!.status, "invalid");
    assert.equal(strict!.findings[0]!.severity, "error");
  });

  it("the config switches rules off and re-levels them", () => {
    const o = baseJob();
    ctr(o)["image"] = "busybox";
    assert.deepEqual(rulesOf(validateObjects([o], { rules: { "policy-image-tag": "off" } })), []);
    const [r] = validateObjects([o], { rules: { "policy-image-tag": "error" } });
    assert.equal(r!.status, "invalid");
  });

  it("job-profile rules stay off outside job mode unless asked for", () => {
    const o = baseJob();
    delete ctr(o)["args"];
    assert.deepEqual(rulesOf(validateObjects([o], {})), []);
    assert.deepEqual(rulesOf(validateObjects([o], { jobProfile: true })), ["container-args-missing"]);
  });

  it("--kinds skips other kinds; --skip-unknown-kinds skips kinds without a schema", () => {
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } };
    const [r] = validateObjects([cm], { kinds: ["Job"] });
    assert.equal(r!.status, "skipped");
    const [j] = validateObjects([baseJob()], { kinds: ["batch/v1/job"] });
    assert.equal(j!.status, "valid");
    const unknown = { apiVersion: "example.com/v1", kind: "Gizmo", metadata: { name: "g" } };
    assert.equal(validateObjects([unknown], {})[0]!.status, "invalid");
    assert.equal(validateObjects([unknown], { skipUnknownKinds: true })[0]!.status, "skipped");
  });

  it("an unknown apiVersion for a known kind suggests the right one", () => {
    const o = baseJob();
    o["apiVersion"] = "batch/v2";
    const f = validateObjects([o], {})[0]!.findings.find((x) => x.rule === "schema-unknown-kind")!;
    assert.match(f.fix, /batch\/v1/);
  });
});
