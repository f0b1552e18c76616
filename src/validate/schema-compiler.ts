/**
 * Compiles the JSON-schema subset Kubernetes uses (OpenAPI v3 components and CRD
 * `openAPIV3Schema`s) into closures, once per definition, so checking an object is a walk over the
 * object with no schema interpretation left.
 *
 * Semantics follow the API server where they differ from plain JSON Schema: `null` for a field means
 * "not set" (it only fails `required`), `x-kubernetes-int-or-string` and
 * `x-kubernetes-preserve-unknown-fields` are honoured, and fields not in `properties` are reported as
 * unknown (a separate issue kind, so `--strict` can decide how bad that is).
 */

export type SchemaIssueKind = "type" | "required" | "enum" | "format" | "constraint" | "unknown-field";

export interface SchemaIssue {
  kind: SchemaIssueKind;
  path: (string | number)[];
  message: string;
}

export type Path = (string | number)[];
export type Check = (value: unknown, path: Path, out: SchemaIssue[]) => void;

export type SchemaNode = { [k: string]: unknown };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const TYPE_TESTS: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === "string",
  integer: (v) => typeof v === "number" && Number.isInteger(v),
  number: (v) => typeof v === "number" && Number.isFinite(v),
  boolean: (v) => typeof v === "boolean",
  object: isPlainObject,
  array: Array.isArray,
  null: (v) => v === null,
};

// RFC 3339 date-time, as Kubernetes' metav1.Time and JSON Schema's date-time read it.
const DATE_TIME =
  /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const FORMAT_TESTS: Record<string, { test: (v: unknown) => boolean; expect: string }> = {
  "date-time": {
    test: (v) => typeof v !== "string" || DATE_TIME.test(v),
    expect: "an RFC 3339 date-time such as 2024-01-02T15:04:05Z",
  },
  byte: {
    test: (v) => typeof v !== "string" || BASE64.test(v.replace(/\s+/g, "")),
    expect: "base64-encoded data (use stringData for plain text)",
  },
  int32: {
    test: (v) => typeof v !== "number" || (v >= -2147483648 && v <= 2147483647),
    expect: "a 32-bit integer (-2147483648 to 2147483647)",
  },
};

export interface CompileContext {
  /** Looks up a named definition for `$ref`. */
  resolve(ref: string): SchemaNode | undefined;
}

/** Compiles schemas, caching one closure per referenced definition (which also handles recursion). */
export class SchemaCompiler {
  private readonly refs = new Map<string, Check>();
  constructor(private readonly ctx: CompileContext) {}

  ref(name: string): Check {
    const cached = this.refs.get(name);
    if (cached !== undefined) return cached;
    let compiled: Check | undefined;
    const lazy: Check = (v, p, o) => {
      if (compiled === undefined) {
        const def = this.ctx.resolve(name);
        compiled = def === undefined ? () => undefined : this.compile(def);
      }
      compiled(v, p, o);
    };
    this.refs.set(name, lazy);
    return lazy;
  }

  compile(schema: SchemaNode): Check {
    const checks: Check[] = [];
    const ref = schema["$ref"];
    if (typeof ref === "string")
      checks.push(this.ref(ref.replace(/^#\/(components\/schemas|definitions)\//, "")));

    const intOrString = schema["x-kubernetes-int-or-string"] === true;
    const preserve = schema["x-kubernetes-preserve-unknown-fields"] === true;
    const rawType = schema["type"];
    const types = intOrString
      ? ["integer", "string"]
      : typeof rawType === "string"
        ? [rawType]
        : Array.isArray(rawType)
          ? (rawType as string[])
          : [];
    if (types.length > 0) {
      const tests = types.map((t) => TYPE_TESTS[t] ?? (() => true));
      const expected = types.join(" or ");
      checks.push((v, p, o) => {
        for (const t of tests) if (t(v)) return;
        o.push({
          kind: "type",
          path: p.slice(),
          message: `expected ${expected}, got ${typeName(v)} ${show(v)}`,
        });
      });
    }

    const format = schema["format"];
    if (typeof format === "string" && FORMAT_TESTS[format] !== undefined) {
      const f = FORMAT_TESTS[format];
      checks.push((v, p, o) => {
        if (!f.test(v)) o.push({ kind: "format", path: p.slice(), message: `${show(v)} is not ${f.expect}` });
      });
    }

    const enumValues = schema["enum"];
    if (Array.isArray(enumValues)) {
      const prim = new Set(enumValues.filter((x) => typeof x !== "object" || x === null));
      const complex = enumValues
        .filter((x) => typeof x === "object" && x !== null)
        .map((x) => JSON.stringify(x));
      const list = enumValues.map((x) => show(x)).join(", ");
      checks.push((v, p, o) => {
        if (prim.has(v)) return;
        if (typeof v === "object" && complex.includes(JSON.stringify(v))) return;
        o.push({ kind: "enum", path: p.slice(), message: `${show(v)} is not one of ${list}` });
      });
    }

    this.addConstraints(schema, checks);

    const props = isPlainObject(schema["properties"])
      ? (schema["properties"] as Record<string, SchemaNode>)
      : undefined;
    const addl = schema["additionalProperties"];
    const required = Array.isArray(schema["required"]) ? (schema["required"] as string[]) : [];
    if (props !== undefined || addl !== undefined || required.length > 0) {
      const propChecks = new Map<string, Check>();
      for (const [k, s] of Object.entries(props ?? {}))
        if (isPlainObject(s)) propChecks.set(k, this.compile(s));
      const addlCheck = isPlainObject(addl) ? this.compile(addl) : undefined;
      // Unknown fields: explicit `additionalProperties: false`, or a schema that lists properties
      // without allowing others (how the API server's strict field validation reads it).
      const closed = addl === false || (props !== undefined && addl === undefined && !preserve);
      checks.push((v, p, o) => {
        if (!isPlainObject(v)) return;
        for (const r of required)
          if (v[r] === undefined || v[r] === null)
            o.push({ kind: "required", path: p.slice(), message: `missing required field "${r}"` });
        for (const key in v) {
          const child = v[key];
          const c = propChecks.get(key);
          if (c !== undefined) {
            if (child === null) continue;
            p.push(key);
            c(child, p, o);
            p.pop();
          } else if (addlCheck !== undefined) {
            if (child === null) continue;
            p.push(key);
            addlCheck(child, p, o);
            p.pop();
          } else if (closed) {
            p.push(key);
            o.push({ kind: "unknown-field", path: p.slice(), message: `unknown field "${key}"` });
            p.pop();
          }
        }
      });
    }

    const items = schema["items"];
    if (isPlainObject(items)) {
      const itemCheck = this.compile(items);
      checks.push((v, p, o) => {
        if (!Array.isArray(v)) return;
        for (let i = 0; i < v.length; i++) {
          if (v[i] === null) continue;
          p.push(i);
          itemCheck(v[i], p, o);
          p.pop();
        }
      });
    }

    for (const key of ["oneOf", "anyOf"] as const) {
      const branches = schema[key];
      if (!Array.isArray(branches) || branches.length === 0) continue;
      const compiled = branches.filter(isPlainObject).map((b) => this.compile(b));
      const describe = branches
        .filter(isPlainObject)
        .map((b) => (typeof b["type"] === "string" ? b["type"] : "a sub-schema"))
        .join(" or ");
      checks.push((v, p, o) => {
        let passed = 0;
        for (const c of compiled) {
          const tmp: SchemaIssue[] = [];
          c(v, p, tmp);
          if (tmp.length === 0) passed++;
        }
        if (passed === 0 || (key === "oneOf" && passed > 1 && !branchesAreTypes(branches)))
          o.push({
            kind: "type",
            path: p.slice(),
            message:
              passed === 0
                ? `expected ${describe}, got ${typeName(v)} ${show(v)}`
                : `matches more than one of the allowed sub-schemas`,
          });
      });
    }
    const allOf = schema["allOf"];
    if (Array.isArray(allOf)) for (const s of allOf) if (isPlainObject(s)) checks.push(this.compile(s));
    const not = schema["not"];
    if (isPlainObject(not)) {
      const c = this.compile(not);
      checks.push((v, p, o) => {
        const tmp: SchemaIssue[] = [];
        c(v, p, tmp);
        if (tmp.length === 0)
          o.push({ kind: "constraint", path: p.slice(), message: "matches a schema it must not match" });
      });
    }

    if (checks.length === 0) return () => undefined;
    if (checks.length === 1) return checks[0]!;
    return (v, p, o) => {
      for (const c of checks) c(v, p, o);
    };
  }

  private addConstraints(schema: SchemaNode, checks: Check[]): void {
    const num = (k: string) => (typeof schema[k] === "number" ? (schema[k] as number) : undefined);
    const pattern = schema["pattern"];
    if (typeof pattern === "string") {
      let re: RegExp | undefined;
      try {
        re = new RegExp(pattern, "u");
      } catch {
        re = undefined;
      }
      if (re !== undefined) {
        const r = re;
        checks.push((v, p, o) => {
          if (typeof v === "string" && !r.test(v))
            o.push({
              kind: "constraint",
              path: p.slice(),
              message: `${show(v)} does not match the pattern ${pattern}`,
            });
        });
      }
    }
    const min = num("minimum");
    const max = num("maximum");
    const exMin = schema["exclusiveMinimum"] === true;
    const exMax = schema["exclusiveMaximum"] === true;
    if (min !== undefined || max !== undefined)
      checks.push((v, p, o) => {
        if (typeof v !== "number") return;
        if (min !== undefined && (exMin ? v <= min : v < min))
          o.push({ kind: "constraint", path: p.slice(), message: `${v} is less than the minimum ${min}` });
        if (max !== undefined && (exMax ? v >= max : v > max))
          o.push({ kind: "constraint", path: p.slice(), message: `${v} is more than the maximum ${max}` });
      });
    const limits: [string, string, (v: unknown) => number | undefined, boolean][] = [
      ["minLength", "characters", (v) => (typeof v === "string" ? [...v].length : undefined), true],
      ["maxLength", "characters", (v) => (typeof v === "string" ? [...v].length : undefined), false],
      ["minItems", "items", (v) => (Array.isArray(v) ? v.length : undefined), true],
      ["maxItems", "items", (v) => (Array.isArray(v) ? v.length : undefined), false],
      ["minProperties", "properties", (v) => (isPlainObject(v) ? Object.keys(v).length : undefined), true],
      ["maxProperties", "properties", (v) => (isPlainObject(v) ? Object.keys(v).length : undefined), false],
    ];
    for (const [key, unit, measure, isMin] of limits) {
      const bound = num(key);
      if (bound === undefined) continue;
      checks.push((v, p, o) => {
        const n = measure(v);
        if (n === undefined) return;
        if (isMin ? n < bound : n > bound)
          o.push({
            kind: "constraint",
            path: p.slice(),
            message: `has ${n} ${unit}, ${isMin ? "at least" : "at most"} ${bound} allowed`,
          });
      });
    }
    if (schema["uniqueItems"] === true)
      checks.push((v, p, o) => {
        if (!Array.isArray(v)) return;
        const seen = new Set(v.map((x) => JSON.stringify(x)));
        if (seen.size !== v.length)
          o.push({ kind: "constraint", path: p.slice(), message: "items must be unique" });
      });
  }
}

/** `oneOf: [{type: integer}, {type: number}]`-style unions overlap by design (1 is both); accept them. */
function branchesAreTypes(branches: unknown[]): boolean {
  return branches.every((b) => isPlainObject(b) && Object.keys(b).every((k) => k === "type"));
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.length === 0
    ? "/"
    : "/" + path.map((s) => String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
}
