/**
 * Builds the schema bundle `gantry validate` checks built-in kinds against.
 *
 * Source: the OpenAPI v3 documents Kubernetes commits at `api/openapi-spec/v3/` — the same documents
 * a kube-apiserver of that release serves at `/openapi/v3` — taken from the `k8s.io/kubernetes` Go
 * module of a pinned release, fetched through the Go module proxy:
 *
 *   GOFLAGS=-mod=mod go mod download -json k8s.io/kubernetes@v1.36.3   # prints "Dir"
 *   node --import tsx scripts/validate-build-schemas.ts --spec-dir <Dir>/api/openapi-spec/v3 --version v1.36.3
 *
 * Output: `src/validate/schemas/kubernetes-<version>.json.gz`, one JSON document
 * `{ kubernetesVersion, source, definitions, kinds }`; definitions keep only the keywords validation
 * needs (descriptions, defaults and patch hints are dropped), `allOf: [{$ref}]` wrappers become a
 * plain `$ref` with the bare definition name, and a few enums that the API server enforces but the
 * published OpenAPI does not declare are added (ENUM_OVERLAYS, each citing its source).
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const KEEP = new Set([
  "type",
  "properties",
  "required",
  "items",
  "additionalProperties",
  "enum",
  "format",
  "$ref",
  "oneOf",
  "anyOf",
  "allOf",
  "not",
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "uniqueItems",
  "nullable",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
]);

/**
 * Enums the API server validates (pkg/apis/core/validation/validation.go and friends) but the
 * OpenAPI documents of this release do not declare. Keyed by definition name, then property.
 */
const ENUM_OVERLAYS: Record<string, Record<string, string[]>> = {
  // validateRestartPolicy / validatePullPolicy / validateProtocol / validateDNSPolicy
  "io.k8s.api.core.v1.PodSpec": {
    restartPolicy: ["Always", "OnFailure", "Never"],
    dnsPolicy: ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    preemptionPolicy: ["PreemptLowerPriority", "Never"],
  },
  "io.k8s.api.core.v1.Container": {
    imagePullPolicy: ["Always", "Never", "IfNotPresent"],
    terminationMessagePolicy: ["File", "FallbackToLogsOnError"],
  },
  "io.k8s.api.core.v1.ContainerPort": { protocol: ["TCP", "UDP", "SCTP"] },
  "io.k8s.api.core.v1.ServicePort": { protocol: ["TCP", "UDP", "SCTP"] },
  // validateServiceSpec: supportedServiceType, externalTrafficPolicy, sessionAffinity
  "io.k8s.api.core.v1.ServiceSpec": {
    type: ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"],
    sessionAffinity: ["ClientIP", "None"],
    externalTrafficPolicy: ["Cluster", "Local"],
    internalTrafficPolicy: ["Cluster", "Local"],
  },
  // ValidateJobSpec: completionMode, podReplacementPolicy
  "io.k8s.api.batch.v1.JobSpec": {
    completionMode: ["NonIndexed", "Indexed"],
    podReplacementPolicy: ["TerminatingOrFailed", "Failed"],
  },
  // ValidateCronJobSpec: concurrencyPolicy
  "io.k8s.api.batch.v1.CronJobSpec": { concurrencyPolicy: ["Allow", "Forbid", "Replace"] },
  "io.k8s.api.apps.v1.DeploymentStrategy": { type: ["Recreate", "RollingUpdate"] },
  "io.k8s.api.apps.v1.StatefulSetSpec": { podManagementPolicy: ["OrderedReady", "Parallel"] },
  "io.k8s.api.core.v1.Toleration": {
    operator: ["Exists", "Equal"],
    effect: ["NoSchedule", "PreferNoSchedule", "NoExecute"],
  },
  "io.k8s.api.core.v1.PersistentVolumeClaimSpec": { volumeMode: ["Block", "Filesystem"] },
  "io.k8s.api.networking.v1.HTTPIngressPath": { pathType: ["Exact", "Prefix", "ImplementationSpecific"] },
  "io.k8s.api.networking.v1.NetworkPolicyPort": { protocol: ["TCP", "UDP", "SCTP"] },
};

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function compact(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(compact);
  if (!isObject(schema)) return schema;
  // `allOf: [{$ref}]` (how v3 attaches defaults to a reference) → a plain reference.
  const allOf = schema["allOf"];
  if (
    Array.isArray(allOf) &&
    allOf.length === 1 &&
    isObject(allOf[0]) &&
    typeof allOf[0]["$ref"] === "string"
  ) {
    const rest = { ...schema };
    delete rest["allOf"];
    return compact({ ...rest, $ref: allOf[0]["$ref"] });
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(schema)) {
    if (!KEEP.has(k)) continue;
    if (k === "$ref" && typeof v === "string") out[k] = v.replace("#/components/schemas/", "");
    else if (k === "properties" && isObject(v))
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, compact(s)]));
    else if (k === "required" || k === "enum") out[k] = v;
    else out[k] = compact(v);
  }
  // Quantity and IntOrString carry both `format: int-or-string` and a oneOf; keep the oneOf.
  if (out["format"] === "int-or-string") delete out["format"];
  return out;
}

interface KindEntry {
  group: string;
  version: string;
  kind: string;
  definition: string;
  namespaced: boolean;
  creatable: boolean;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      "spec-dir": { type: "string" },
      version: { type: "string", default: "v1.36.3" },
      out: { type: "string" },
    },
  });
  const version = values.version ?? "v1.36.3";
  let specDir = values["spec-dir"];
  if (specDir === undefined) {
    const info = JSON.parse(
      execFileSync("go", ["mod", "download", "-json", `k8s.io/kubernetes@${version}`], {
        env: { ...process.env, GOFLAGS: "-mod=mod" },
        encoding: "utf8",
      }),
    ) as { Dir: string };
    specDir = join(info.Dir, "api/openapi-spec/v3");
  }
  const definitions: JsonObject = {};
  const gvkOf = new Map<string, { group: string; version: string; kind: string }[]>();
  const scope = new Map<string, { namespaced: boolean; creatable: boolean }>();
  for (const file of readdirSync(specDir).sort()) {
    if (!file.endsWith(".json")) continue;
    const doc = JSON.parse(readFileSync(join(specDir, file), "utf8")) as JsonObject;
    const schemas = isObject(doc["components"]) ? doc["components"]["schemas"] : undefined;
    if (isObject(schemas)) {
      for (const [name, schema] of Object.entries(schemas)) {
        if (!isObject(schema)) continue;
        definitions[name] ??= compact(schema);
        const gvks = schema["x-kubernetes-group-version-kind"];
        if (Array.isArray(gvks) && !gvkOf.has(name))
          gvkOf.set(
            name,
            gvks.filter(isObject).map((g) => ({
              group: String(g["group"]),
              version: String(g["version"]),
              kind: String(g["kind"]),
            })),
          );
      }
    }
    const paths = doc["paths"];
    if (!isObject(paths)) continue;
    for (const [path, item] of Object.entries(paths)) {
      if (!isObject(item)) continue;
      for (const op of ["post", "get"]) {
        const operation = item[op];
        if (!isObject(operation)) continue;
        const gvk = operation["x-kubernetes-group-version-kind"];
        if (!isObject(gvk)) continue;
        const key = `${String(gvk["group"])}/${String(gvk["version"])}/${String(gvk["kind"])}`;
        const prev = scope.get(key) ?? { namespaced: false, creatable: false };
        if (op === "post") prev.creatable = true;
        if (path.includes("{namespace}") && op === "post") prev.namespaced = true;
        scope.set(key, prev);
      }
    }
  }
  for (const [defName, props] of Object.entries(ENUM_OVERLAYS)) {
    const def = definitions[defName];
    if (!isObject(def) || !isObject(def["properties"]))
      throw new Error(`overlay target ${defName} is missing`);
    for (const [prop, values] of Object.entries(props)) {
      const p = def["properties"][prop];
      if (!isObject(p)) throw new Error(`overlay target ${defName}.${prop} is missing`);
      p["enum"] = values;
    }
  }
  const kinds: KindEntry[] = [];
  for (const [definition, gvks] of gvkOf) {
    // Shared meta types (DeleteOptions, WatchEvent, Status…) list many groups; they are not objects
    // anyone applies.
    if (gvks.length !== 1) continue;
    const g = gvks[0]!;
    const s = scope.get(`${g.group}/${g.version}/${g.kind}`) ?? { namespaced: false, creatable: false };
    kinds.push({ ...g, definition, namespaced: s.namespaced, creatable: s.creatable });
  }
  kinds.sort((a, b) =>
    `${a.group}/${a.version}/${a.kind}`.localeCompare(`${b.group}/${b.version}/${b.kind}`),
  );
  const bundle = {
    kubernetesVersion: version,
    source: `k8s.io/kubernetes@${version} api/openapi-spec/v3 (Go module proxy)`,
    definitions,
    kinds,
  };
  const out =
    values.out ?? join(import.meta.dirname, "../src/validate/schemas", `kubernetes-${version}.json.gz`);
  const json = JSON.stringify(bundle);
  writeFileSync(out, gzipSync(json, { level: 9 }));
  process.stdout.write(
    `wrote ${out}: ${Object.keys(definitions).length} definitions, ${kinds.length} kinds, ${json.length} bytes JSON\n`,
  );
}

main();
