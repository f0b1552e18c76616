/**
 * Writes Gantry's schema bundle out in kubeconform's layout, so both tools check the same schemas:
 * one standalone JSON schema per kind, `<kind>-<group>-<version>.json` (`<kind>-<version>.json` for
 * the core group), lower-case, with the definitions it reaches under `definitions`.
 *
 * Like openapi2jsonschema's `--strict --kubernetes` output (which kubeconform's default schemas come
 * from): `additionalProperties: false` wherever an object lists properties, and optional fields accept
 * null (the API server treats null as unset). Use with
 *   kubeconform -strict -schema-location '<dir>/{{ .ResourceKind }}{{ .KindSuffix }}.json'
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadBundle } from "../src/validate/schema-set.ts";

type Schema = { [k: string]: unknown };
const isObj = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

function convert(s: unknown, refs: Set<string>): unknown {
  if (Array.isArray(s)) return s.map((x) => convert(x, refs));
  if (!isObj(s)) return s;
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "$ref" && typeof v === "string") {
      refs.add(v);
      out[k] = `#/definitions/${v}`;
    } else if (k === "properties" && isObj(v)) {
      const required = new Set(Array.isArray(s["required"]) ? (s["required"] as string[]) : []);
      const props: Schema = {};
      for (const [p, ps] of Object.entries(v)) {
        const c = convert(ps, refs);
        props[p] = required.has(p) ? c : nullable(c);
      }
      out[k] = props;
    } else if (k.startsWith("x-kubernetes-")) continue;
    else out[k] = convert(v, refs);
  }
  if (
    isObj(out["properties"]) &&
    out["additionalProperties"] === undefined &&
    s["x-kubernetes-preserve-unknown-fields"] !== true
  )
    out["additionalProperties"] = false;
  if (s["x-kubernetes-int-or-string"] === true) return { oneOf: [{ type: "integer" }, { type: "string" }] };
  return out;
}

function nullable(c: unknown): unknown {
  if (!isObj(c)) return c;
  if (typeof c["type"] === "string") return { ...c, type: [c["type"], "null"] };
  if (c["$ref"] !== undefined || c["oneOf"] !== undefined) return { anyOf: [{ type: "null" }, c] };
  return c;
}

export function writeKubeconformSchemas(dir: string): number {
  const bundle = loadBundle();
  mkdirSync(dir, { recursive: true });
  let n = 0;
  for (const k of bundle.kinds) {
    const refs = new Set<string>([k.definition]);
    const definitions: Schema = {};
    const queue = [k.definition];
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (definitions[name] !== undefined) continue;
      const found = new Set<string>();
      definitions[name] = convert(bundle.definitions[name] ?? {}, found);
      for (const r of found) if (definitions[r] === undefined) queue.push(r);
      for (const r of found) refs.add(r);
    }
    const root = {
      $schema: "http://json-schema.org/draft-04/schema#",
      $ref: `#/definitions/${k.definition}`,
      definitions,
    };
    const suffix = k.group === "" ? `-${k.version}` : `-${k.group.split(".")[0]}-${k.version}`;
    writeFileSync(join(dir, `${k.kind.toLowerCase()}${suffix.toLowerCase()}.json`), JSON.stringify(root));
    n++;
  }
  return n;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write("usage: validate-kubeconform-schemas.ts DIR\n");
    process.exit(2);
  }
  process.stdout.write(`wrote ${writeKubeconformSchemas(dir)} schemas to ${dir}\n`);
}
