/**
 * The validator's core: one object in, findings out. `validateObjects` checks objects Gantry built
 * itself (the guard before anything is sent to a cluster); `validateDocuments` checks YAML text.
 */
import type { ValidateOptions } from "./config.ts";
import { ruleLevel } from "./config.ts";
import type { Finding, ObjectResult } from "./findings.ts";
import { hasErrors } from "./findings.ts";
import { checkJobRules } from "./job-rules.ts";
import { checkPolicyRules } from "./policy-rules.ts";
import type { RuleContext } from "./rule-context.ts";
import { RULES } from "./rules.ts";
import type { SchemaIssue } from "./schema-compiler.ts";
import { formatPath } from "./schema-compiler.ts";
import { SchemaSet } from "./schema-set.ts";
import type { LoadedDocument } from "./yaml-loader.ts";
import { loadDocuments } from "./yaml-loader.ts";
import { asStr, isObj, workloadDetails } from "./workload.ts";
import type { Obj } from "./workload.ts";

/** At most this many schema findings per object; hostile input must not produce unbounded output. */
export const MAX_SCHEMA_FINDINGS = 50;

const ISSUE_RULE: Record<SchemaIssue["kind"], string> = {
  type: "schema-type",
  required: "schema-required",
  enum: "schema-enum",
  format: "schema-format",
  constraint: "schema-constraint",
  "unknown-field": "schema-unknown-field",
};

const schemaSets = new Map<string, SchemaSet>();

/** Schema sets are costly to build (they compile lazily, per kind); share one per schema-dir list. */
export function schemaSetFor(options: ValidateOptions): SchemaSet {
  const k = JSON.stringify(options.schemaDirs ?? []);
  let s = schemaSets.get(k);
  if (s === undefined) {
    s = new SchemaSet(options.schemaDirs ?? []);
    schemaSets.set(k, s);
  }
  return s;
}

export interface ObjectSource {
  file: string;
  documentIndex: number;
  line: number;
  /** Maps a path in the object to a source position; absent for objects not read from YAML. */
  locate?: (path: readonly (string | number)[]) => { line: number; column: number };
}

function kindMatches(obj: Obj, kinds: readonly string[]): boolean {
  const kind = asStr(obj["kind"])?.toLowerCase() ?? "";
  const gvk = `${asStr(obj["apiVersion"]) ?? ""}/${asStr(obj["kind"]) ?? ""}`.toLowerCase();
  return kinds.some((k) => {
    const want = k.toLowerCase();
    return want === kind || want === gvk;
  });
}

/** Validates one object. Never throws for any input value. */
export function validateObject(
  value: unknown,
  source: ObjectSource,
  options: ValidateOptions,
  schemas = schemaSetFor(options),
): ObjectResult {
  const findings: Finding[] = [];
  const result: ObjectResult = {
    file: source.file,
    documentIndex: source.documentIndex,
    line: source.line,
    status: "valid",
    findings,
  };
  const add = (rule: string, message: string, path: readonly (string | number)[], fix?: string) => {
    const level = ruleLevel(rule, options);
    if (level === "off") return;
    const f: Finding = { rule, severity: level, message, fix: fix ?? RULES.get(rule)?.fix ?? "" };
    if (path.length > 0) f.path = formatPath(path);
    const pos = source.locate?.(path);
    f.location =
      pos === undefined
        ? { file: source.file, line: source.line }
        : { file: source.file, line: pos.line, column: pos.column };
    findings.push(f);
  };
  if (!isObj(value)) {
    add(
      "yaml-not-object",
      `the document is ${Array.isArray(value) ? "a list" : `a ${typeof value}`}, not a mapping`,
      [],
    );
    result.status = hasErrors(findings) ? "invalid" : "valid";
    return result;
  }
  const obj = value;
  const apiVersion = asStr(obj["apiVersion"]);
  const kind = asStr(obj["kind"]);
  if (apiVersion !== undefined) result.apiVersion = apiVersion;
  if (kind !== undefined) result.kind = kind;
  const meta = isObj(obj["metadata"]) ? obj["metadata"] : undefined;
  const name = asStr(meta?.["name"]);
  if (name !== undefined) result.name = name;
  const ns = asStr(meta?.["namespace"]);
  if (ns !== undefined) result.namespace = ns;

  if (options.kinds !== undefined && options.kinds.length > 0 && !kindMatches(obj, options.kinds)) {
    result.status = "skipped";
    result.skipReason = `kind ${kind ?? "(none)"} is not in --kinds`;
    return result;
  }

  let namespaced = true;
  if (apiVersion === undefined || kind === undefined || apiVersion === "" || kind === "") {
    const missing = [
      apiVersion === undefined || apiVersion === "" ? "apiVersion" : "",
      kind === undefined || kind === "" ? "kind" : "",
    ].filter(Boolean);
    add(
      "schema-missing-type-meta",
      `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing or not a string`,
      missing.length === 1 ? [missing[0]!] : [],
    );
  } else {
    const schema = schemas.lookup(apiVersion, kind);
    if (schema === undefined) {
      if (options.skipUnknownKinds === true) {
        result.status = "skipped";
        result.skipReason = `no schema for ${apiVersion} ${kind}`;
        return result;
      }
      const versions = schemas.versionsFor(kind);
      add(
        "schema-unknown-kind",
        `no schema for apiVersion ${apiVersion}, kind ${kind} (Kubernetes ${schemas.kubernetesVersion})`,
        ["kind"],
        versions.length > 0
          ? `${kind} is known as apiVersion ${versions.join(", ")}; use one of those`
          : undefined,
      );
    } else {
      namespaced = schema.namespaced;
      if (!namespaced) result.clusterScoped = true;
      const issues: SchemaIssue[] = [];
      schema.check(obj, [], issues);
      for (const issue of issues.slice(0, MAX_SCHEMA_FINDINGS)) {
        const rule = ISSUE_RULE[issue.kind];
        const where = issue.path.length === 0 ? "the object" : formatPath(issue.path);
        add(rule, `${where}: ${issue.message}`, issue.path);
      }
      if (issues.length > MAX_SCHEMA_FINDINGS)
        add("schema-type", `${issues.length - MAX_SCHEMA_FINDINGS} more schema problems not shown`, []);
    }
  }

  const ctx: RuleContext = { options, namespaced, report: add };
  checkJobRules(obj, ctx);
  checkPolicyRules(obj, ctx);
  const details = workloadDetails(obj);
  if (details !== undefined) result.details = details;
  result.status = hasErrors(findings) ? "invalid" : "valid";
  return result;
}

/** Validates objects built in code (no YAML source): the guard before Gantry sends them anywhere. */
export function validateObjects(
  objects: readonly unknown[],
  options: ValidateOptions = {},
  file = "<objects>",
): ObjectResult[] {
  const schemas = schemaSetFor(options);
  return objects.map((o, i) => validateObject(o, { file, documentIndex: i, line: 0 }, options, schemas));
}

/** Results for the documents of one YAML stream. Empty documents are dropped; `kind: List` is expanded. */
export function validateLoaded(
  docs: readonly LoadedDocument[],
  options: ValidateOptions,
  schemas = schemaSetFor(options),
  objects?: unknown[],
): ObjectResult[] {
  const out: ObjectResult[] = [];
  for (const doc of docs) {
    if (doc.empty) continue;
    if (doc.findings.length > 0 && doc.value === undefined) {
      const findings = doc.findings
        .map((f) => {
          const level = ruleLevel(f.rule, options);
          return level === "off" ? undefined : { ...f, severity: level };
        })
        .filter((f): f is Finding => f !== undefined);
      out.push({
        file: doc.file,
        documentIndex: doc.index,
        line: doc.line,
        status: hasErrors(findings) || findings.length === 0 ? "invalid" : "valid",
        findings,
      });
      objects?.push(undefined);
      continue;
    }
    const value = doc.value;
    if (isObj(value) && value["kind"] === "List" && Array.isArray(value["items"])) {
      value["items"].forEach((item, i) => {
        objects?.push(item);
        out.push(
          validateObject(
            item,
            {
              file: doc.file,
              documentIndex: doc.index,
              line: doc.line,
              locate: (p) => doc.locate(["items", i, ...p]),
            },
            options,
            schemas,
          ),
        );
      });
      continue;
    }
    const r = validateObject(
      value,
      { file: doc.file, documentIndex: doc.index, line: doc.line, locate: doc.locate },
      options,
      schemas,
    );
    if (doc.findings.length > 0) {
      const yamlFindings: Finding[] = [];
      for (const f of doc.findings) {
        const level = ruleLevel(f.rule, options);
        if (level !== "off") yamlFindings.push({ ...f, severity: level });
      }
      r.findings.splice(0, 0, ...yamlFindings);
      r.status = hasErrors(r.findings) ? "invalid" : "valid";
    }
    objects?.push(value);
    out.push(r);
  }
  return out;
}

/** Validates a YAML stream (one or more `---`-separated documents). Never throws for any text. */
export function validateDocuments(
  text: string,
  options: ValidateOptions = {},
  file = "<input>",
  objects?: unknown[],
): ObjectResult[] {
  const limits = {
    ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    ...(options.maxDocuments === undefined ? {} : { maxDocuments: options.maxDocuments }),
    ...(options.maxAliasCount === undefined ? {} : { maxAliasCount: options.maxAliasCount }),
    ...(options.lineParser === undefined ? {} : { lineParser: options.lineParser }),
  };
  return validateLoaded(loadDocuments(text, file, limits), options, schemaSetFor(options), objects);
}
