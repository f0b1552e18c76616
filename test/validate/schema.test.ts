/** Schemas: the pinned bundle, the compiler's API-server semantics, and extra schema directories. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KUBERNETES_VERSION, SchemaSet, validateObjects } from "../../src/validate/index.ts";
import { SchemaCompiler } from "../../src/validate/schema-compiler.ts";
import type { SchemaIssue, SchemaNode } from "../../src/validate/schema-compiler.ts";

function check(schema: SchemaNode, value: unknown, defs: Record<string, SchemaNode> = {}): string[] {
  const issues: SchemaIssue[] = [];
  new SchemaCompiler({ resolve: (n) => defs[n] }).compile(schema)(value, [], issues);
  return issues.map((i) => `${i.kind} /${i.path.join("/")}`);
}

describe("the schema bundle", () => {
  it("is for the Kubernetes version the test control plane runs", () => {
    const pinned = /^K8S_VERSION=(\S+)$/m.exec(readFileSync("test/k8s/versions.sh", "utf8"))?.[1];
    assert.equal(KUBERNETES_VERSION, pinned);
  });

  it("knows the common kinds and whether they are namespaced", () => {
    const s = new SchemaSet();
    for (const [apiVersion, kind, namespaced] of [
      ["batch/v1", "Job", true],
      ["apps/v1", "Deployment", true],
      ["v1", "Namespace", false],
      ["rbac.authorization.k8s.io/v1", "ClusterRole", false],
      ["networking.k8s.io/v1", "Ingress", true],
    ] as const)
      assert.equal(s.lookup(apiVersion, kind)?.namespaced, namespaced, `${apiVersion} ${kind}`);
    assert.equal(s.lookup("batch/v1", "job"), undefined, "kinds are case-sensitive");
    assert.deepEqual(s.versionsFor("HorizontalPodAutoscaler").sort(), ["autoscaling/v1", "autoscaling/v2"]);
  });
});

describe("compiler semantics", () => {
  const obj: SchemaNode = {
    type: "object",
    required: ["name"],
    properties: {
      name: { type: "string" },
      port: { $ref: "IntOrString" },
      extra: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  };
  const defs = { IntOrString: { oneOf: [{ type: "integer" }, { type: "string" }] } };

  it("null means unset, except for required fields", () => {
    assert.deepEqual(check(obj, { name: "a", port: null }, defs), []);
    assert.deepEqual(check(obj, { name: null }, defs), ["required /"]);
  });

  it("int-or-string, unknown and preserved fields", () => {
    assert.deepEqual(check(obj, { name: "a", port: 80 }, defs), []);
    assert.deepEqual(check(obj, { name: "a", port: "http" }, defs), []);
    assert.deepEqual(check(obj, { name: "a", port: 1.5 }, defs), ["type /port"]);
    assert.deepEqual(check(obj, { name: "a", nmae: "b" }, defs), ["unknown-field /nmae"]);
    assert.deepEqual(check(obj, { name: "a", extra: { anything: [1] } }, defs), []);
    assert.deepEqual(check({ "x-kubernetes-int-or-string": true }, true), ["type /"]);
  });

  it("formats the API server checks", () => {
    assert.deepEqual(check({ type: "string", format: "date-time" }, "2024-02-30T25:00:00Z"), ["format /"]);
    assert.deepEqual(check({ type: "string", format: "date-time" }, "2024-02-03T04:05:06.789+01:00"), []);
    assert.deepEqual(check({ type: "string", format: "byte" }, "aGVsbG8="), []);
    assert.deepEqual(check({ type: "string", format: "byte" }, "hello!"), ["format /"]);
    assert.deepEqual(check({ type: "integer", format: "int32" }, 2 ** 31), ["format /"]);
  });

  it("recursive definitions compile once and terminate", () => {
    const tree: Record<string, SchemaNode> = {
      Node: { type: "object", properties: { children: { type: "array", items: { $ref: "Node" } } } },
    };
    let v: Record<string, unknown> = {};
    const root = v;
    for (let i = 0; i < 50; i++) {
      const child = {};
      v["children"] = [child];
      v = child;
    }
    v["bad"] = 1;
    assert.equal(check({ $ref: "Node" }, root, tree).length, 1);
  });
});

describe("extra schema directories", () => {
  it("reads kubeconform-style JSON schemas named <kind>-<group>-<version>.json", () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-schemas-"));
    writeFileSync(
      join(dir, "gadget-example-v2.json"),
      JSON.stringify({
        type: "object",
        properties: {
          apiVersion: { type: "string" },
          kind: { type: "string" },
          metadata: { type: "object" },
          spec: { type: "object", required: ["size"], properties: { size: { type: "integer", minimum: 1 } } },
        },
      }),
    );
    const opts = { schemaDirs: [dir] };
    const ok = {
      apiVersion: "example.com/v2",
      kind: "Gadget",
      metadata: { name: "g", namespace: "n" },
      spec: { size: 2 },
    };
    const bad = { ...ok, spec: { size: 0 } };
    assert.deepEqual(
      validateObjects([ok, bad], opts).map((r) => r.status),
      ["valid", "invalid"],
    );
  });

  it("a CRD's versions each get their schema; cluster-scoped CRDs are not namespaced", () => {
    const s = new SchemaSet(["test/validate/fixtures/crds"]);
    assert.equal(s.lookup("example.com/v1", "Widget")?.namespaced, true);
    assert.equal(s.lookup("example.com/v2", "Widget"), undefined);
  });

  it("a missing directory is a clear error", () => {
    assert.throws(
      () => new SchemaSet(["/nonexistent/schemas"]),
      /cannot read schema directory \/nonexistent\/schemas/,
    );
  });
});
