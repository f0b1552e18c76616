/**
 * The schemas objects are checked against: the committed bundle of a pinned Kubernetes release
 * (built by `scripts/validate-build-schemas.ts`) plus any `--schema-dir` directories for CRDs.
 *
 * A schema directory may hold
 * - CustomResourceDefinition manifests (`*.yaml`, `*.yml`, `*.json`): every served version's
 *   `openAPIV3Schema` is used;
 * - JSON schemas in kubeconform's layout, `<kind>-<group>-<version>.json` (group is the first label
 *   of the API group, e.g. `certificate-cert-manager-v1.json`; `<kind>-<version>.json` for the core
 *   group), as produced by openapi2jsonschema.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { yamlLib } from "./yaml-lib.ts";
import type { Check, SchemaNode } from "./schema-compiler.ts";
import { SchemaCompiler } from "./schema-compiler.ts";

export const KUBERNETES_VERSION = "v1.36.3";

interface BundleKind {
  group: string;
  version: string;
  kind: string;
  definition: string;
  namespaced: boolean;
  creatable: boolean;
}

interface Bundle {
  kubernetesVersion: string;
  source: string;
  definitions: Record<string, SchemaNode>;
  kinds: BundleKind[];
}

export interface KindSchema {
  apiVersion: string;
  kind: string;
  /** Whether objects of this kind live in a namespace (unknown for CRD JSON schemas: true). */
  namespaced: boolean;
  check: Check;
  source: "builtin" | "schema-dir";
}

let bundleCache: Bundle | undefined;
let bundleUrl = new URL(`./schemas/kubernetes-${KUBERNETES_VERSION}.json.gz`, import.meta.url).href;

/** Where the schema bundle is (workers run from a bundled copy of this module elsewhere). */
export function schemaBundleUrl(): string {
  return bundleUrl;
}

export function useSchemaBundleAt(url: string): void {
  if (url !== bundleUrl) bundleCache = undefined;
  bundleUrl = url;
}

export function loadBundle(): Bundle {
  if (bundleCache === undefined) {
    bundleCache = JSON.parse(gunzipSync(readFileSync(new URL(bundleUrl))).toString("utf8")) as Bundle;
  }
  return bundleCache;
}

export class SchemaSetError extends Error {
  override name = "SchemaSetError";
}

const key = (apiVersion: string, kind: string) => `${apiVersion}|${kind.toLowerCase()}`;

export class SchemaSet {
  private readonly byKey = new Map<string, KindSchema>();
  /** Lower-case kind → every apiVersion known for it (for "did you mean" hints). */
  private readonly versionsOfKind = new Map<string, string[]>();
  private readonly builtin: SchemaCompiler;
  readonly kubernetesVersion: string;
  /** kubeconform-layout files found in schema dirs, loaded on first use: file stem → path. */
  private readonly lazyFiles = new Map<string, string>();

  constructor(schemaDirs: readonly string[] = []) {
    const bundle = loadBundle();
    this.kubernetesVersion = bundle.kubernetesVersion;
    this.builtin = new SchemaCompiler({ resolve: (name) => bundle.definitions[name] });
    for (const k of bundle.kinds) {
      const apiVersion = k.group === "" ? k.version : `${k.group}/${k.version}`;
      let check: Check | undefined;
      const def = k.definition;
      this.add({
        apiVersion,
        kind: k.kind,
        namespaced: k.namespaced,
        source: "builtin",
        check: (v, p, o) => {
          check ??= this.builtin.ref(def);
          check(v, p, o);
        },
      });
    }
    for (const dir of schemaDirs) this.loadDir(dir);
  }

  private add(s: KindSchema): void {
    this.byKey.set(key(s.apiVersion, s.kind), s);
    const versions = this.versionsOfKind.get(s.kind.toLowerCase()) ?? [];
    if (!versions.includes(s.apiVersion)) versions.push(s.apiVersion);
    this.versionsOfKind.set(s.kind.toLowerCase(), versions);
  }

  lookup(apiVersion: string, kind: string): KindSchema | undefined {
    const found = this.byKey.get(key(apiVersion, kind));
    if (found !== undefined) return found.kind === kind ? found : undefined;
    const [groupOrVersion = "", version] = apiVersion.split("/");
    const stem =
      version === undefined
        ? `${kind}-${groupOrVersion}`.toLowerCase()
        : `${kind}-${groupOrVersion.split(".")[0]}-${version}`.toLowerCase();
    const file = this.lazyFiles.get(stem);
    if (file === undefined) return undefined;
    this.lazyFiles.delete(stem);
    const schema = readJson(file);
    const compiler = new SchemaCompiler({ resolve: (name) => definitionsOf(schema)[name] });
    const s: KindSchema = {
      apiVersion,
      kind,
      namespaced: true,
      source: "schema-dir",
      check: compiler.compile(schema),
    };
    this.add(s);
    return s;
  }

  /** Known apiVersions for a kind (case-insensitive), to suggest when the apiVersion is wrong. */
  versionsFor(kind: string): string[] {
    return this.versionsOfKind.get(kind.toLowerCase()) ?? [];
  }

  private loadDir(dir: string): void {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (err) {
      throw new SchemaSetError(`cannot read schema directory ${dir}: ${(err as Error).message}`);
    }
    for (const name of entries.sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        this.loadDir(path);
        continue;
      }
      if (/\.ya?ml$/i.test(name)) this.loadCrdFile(path, readFileSync(path, "utf8"));
      else if (/\.json$/i.test(name)) {
        const text = readFileSync(path, "utf8");
        if (/"kind"\s*:\s*"CustomResourceDefinition"/.test(text)) this.loadCrdFile(path, text);
        else this.lazyFiles.set(basename(name, ".json").toLowerCase(), path);
      }
    }
  }

  private loadCrdFile(path: string, text: string): void {
    const docs = yamlLib().parseAllDocuments(text);
    for (const doc of Array.isArray(docs) ? docs : []) {
      if (doc.errors.length > 0) throw new SchemaSetError(`${path}: invalid YAML: ${doc.errors[0]!.message}`);
      const crd = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown> | null;
      if (crd === null || typeof crd !== "object") continue;
      const items =
        crd["kind"] === "List" && Array.isArray(crd["items"]) ? (crd["items"] as unknown[]) : [crd];
      for (const item of items) this.addCrd(path, item);
    }
  }

  private addCrd(path: string, crd: unknown): void {
    if (!isObj(crd) || crd["kind"] !== "CustomResourceDefinition") return;
    const spec = crd["spec"];
    if (!isObj(spec) || typeof spec["group"] !== "string" || !isObj(spec["names"])) {
      throw new SchemaSetError(`${path}: CustomResourceDefinition without spec.group or spec.names`);
    }
    const kind = spec["names"]["kind"];
    if (typeof kind !== "string")
      throw new SchemaSetError(`${path}: CustomResourceDefinition without spec.names.kind`);
    const namespaced = spec["scope"] !== "Cluster";
    for (const v of Array.isArray(spec["versions"]) ? spec["versions"] : []) {
      if (!isObj(v) || typeof v["name"] !== "string") continue;
      const schema = isObj(v["schema"]) ? v["schema"]["openAPIV3Schema"] : undefined;
      const root: SchemaNode = isObj(schema)
        ? withTypeMeta(schema)
        : { type: "object", "x-kubernetes-preserve-unknown-fields": true };
      const compiler = new SchemaCompiler({ resolve: () => undefined });
      this.add({
        apiVersion: `${spec["group"]}/${v["name"]}`,
        kind,
        namespaced,
        source: "schema-dir",
        check: compiler.compile(root),
      });
    }
  }
}

/** CRD schemas often leave out apiVersion, kind and metadata; the API server always accepts them. */
function withTypeMeta(schema: Record<string, unknown>): SchemaNode {
  const props = isObj(schema["properties"]) ? schema["properties"] : {};
  return {
    ...schema,
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      ...props,
    },
  };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readJson(path: string): SchemaNode {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (!isObj(v)) throw new Error("not a JSON object");
    return v;
  } catch (err) {
    throw new SchemaSetError(`${path}: not a JSON schema: ${(err as Error).message}`);
  }
}

function definitionsOf(schema: SchemaNode): Record<string, SchemaNode> {
  const defs =
    schema["definitions"] ?? (isObj(schema["components"]) ? schema["components"]["schemas"] : undefined);
  return isObj(defs) ? (defs as Record<string, SchemaNode>) : {};
}
