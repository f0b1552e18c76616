/**
 * Fuzzing: random bytes, random YAML-ish text and random mutations of real manifests never make the
 * validator throw or hang, and every result is well-formed. Bounded by iterations and wall time;
 * the seed is printed on failure so a case can be replayed (GANTRY_FUZZ_SEED).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  renderJson,
  renderJunit,
  renderPlanText,
  renderSarif,
  validateDocuments,
  validateObjects,
} from "../../src/validate/index.ts";
import type { ObjectResult } from "../../src/validate/index.ts";
import { seededRandom } from "../helpers/seeded-random.ts";

const SEED = Number(process.env["GANTRY_FUZZ_SEED"] ?? Date.now() % 1_000_000);
const BUDGET_MS = Number(process.env["GANTRY_FUZZ_MS"] ?? 4000);

function check(results: ObjectResult[], input: string): void {
  for (const r of results) {
    assert.ok(["valid", "invalid", "skipped"].includes(r.status), input);
    for (const f of r.findings) {
      assert.equal(typeof f.rule, "string");
      assert.ok(f.severity === "error" || f.severity === "warning");
      assert.equal(typeof f.message, "string");
      if (f.location?.line !== undefined)
        assert.ok(Number.isInteger(f.location.line) && f.location.line >= 0);
    }
  }
  const report = { results, jobMode: false, kubernetesVersion: "test" };
  renderPlanText(report);
  JSON.parse(renderJson(report));
  renderJunit(report);
  JSON.parse(renderSarif(report));
}

function fuzz(name: string, gen: (r: () => number) => string): void {
  it(`${name} (seed ${SEED})`, () => {
    const r = seededRandom(SEED);
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < BUDGET_MS && n < 5000) {
      const input = gen(r);
      const t = performance.now();
      let results: ObjectResult[];
      try {
        results = validateDocuments(input, { jobMode: r() < 0.3, strict: r() < 0.3 }, "fuzz.yaml");
      } catch (err) {
        assert.fail(
          `threw on input ${JSON.stringify(input).slice(0, 400)} (seed ${SEED}, case ${n}): ${(err as Error).stack}`,
        );
      }
      assert.ok(
        performance.now() - t < 1000,
        `slow (${(performance.now() - t).toFixed(0)} ms) on ${JSON.stringify(input).slice(0, 200)}`,
      );
      check(results, input);
      n++;
    }
    assert.ok(n > 50, `only ${n} cases ran`);
  });
}

const TOKENS = [
  "apiVersion: batch/v1",
  "kind: Job",
  "kind: Pod",
  "metadata:",
  "  name: x",
  "spec:",
  "  template:",
  "    spec:",
  "      containers:",
  "      - name: c",
  "        image: busybox",
  "---",
  "- ",
  "- - ",
  ": ",
  "&a ",
  "*a",
  "<<: *a",
  "!!str ",
  "!!binary ",
  "!custom ",
  "? ",
  "|",
  "|-",
  ">",
  "[",
  "]",
  "{",
  "}",
  ",",
  "'",
  '"',
  "\\u00e9",
  "#",
  "\t",
  "\r\n",
  "%YAML 1.2",
  "...",
  "yes",
  "0x1F",
  "1e309",
  "-.inf",
  ".nan",
  "~",
  "null",
  "__proto__:",
  "constructor:",
  "\u0000",
  "\ud800",
  "\ufeff",
  "  ",
  "    ",
  "\n",
  "\n",
  "\n",
];

const SEED_DOCS = [
  readFileSync("test/validate/fixtures/d30-seed/jobs/worker-1.yaml", "utf8"),
  readFileSync("test/validate/fixtures/manifests/valid/app.yaml", "utf8"),
  readFileSync("test/validate/fixtures/manifests/valid/runner-job.json", "utf8"),
];

describe("fuzz", () => {
  fuzz("random bytes", (r) => {
    const n = Math.floor(r() * 400);
    const bytes = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bytes[i] = Math.floor(r() * 256);
    return bytes.toString(r() < 0.5 ? "latin1" : "utf8");
  });

  fuzz("random YAML tokens", (r) => {
    const n = 1 + Math.floor(r() * 60);
    let s = "";
    for (let i = 0; i < n; i++)
      s += TOKENS[Math.floor(r() * TOKENS.length)]! + (r() < 0.3 ? "\n" : r() < 0.5 ? " " : "");
    return s;
  });

  fuzz("mutated manifests", (r) => {
    let s = SEED_DOCS[Math.floor(r() * SEED_DOCS.length)]!;
    const edits = 1 + Math.floor(r() * 6);
    for (let i = 0; i < edits; i++) {
      const at = Math.floor(r() * s.length);
      const op = r();
      if (op < 0.3) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 10));
      else if (op < 0.6) s = s.slice(0, at) + TOKENS[Math.floor(r() * TOKENS.length)]! + s.slice(at);
      else if (op < 0.8)
        s = s.slice(0, at) + s.slice(Math.floor(r() * s.length), Math.floor(r() * s.length)) + s.slice(at);
      else s = s.replace(/\n {2}/, "\n   ");
    }
    return s;
  });

  fuzz("random YAML structures", (r) => {
    const scalar = () =>
      ["x", "1", "-2.5", "true", "yes", "~", "'q'", '"e\\n"', "[]", "{}", "0755", "2024-01-01T00:00:00Z"][
        Math.floor(r() * 12)
      ]!;
    const key = () =>
      [
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "spec",
        "containers",
        "image",
        "env",
        "template",
        "k" + Math.floor(r() * 5),
      ][Math.floor(r() * 10)]!;
    const node = (depth: number, indent: string): string => {
      if (depth > 5 || r() < 0.3) return " " + scalar();
      const n = 1 + Math.floor(r() * 4);
      const lines: string[] = [];
      const seq = r() < 0.4;
      for (let i = 0; i < n; i++)
        lines.push(`${indent}${seq ? "-" : key() + ":"}${node(depth + 1, indent + "  ")}`);
      return "\n" + lines.join("\n");
    };
    return `apiVersion: ${r() < 0.5 ? "batch/v1" : "v1"}\nkind: ${["Job", "Pod", "ConfigMap", "Deployment"][Math.floor(r() * 4)]}${node(0, "")}\n`;
  });

  it(`random objects through validateObjects (seed ${SEED})`, () => {
    const r = seededRandom(SEED + 1);
    const value = (depth: number): unknown => {
      const p = r();
      if (depth > 6 || p < 0.4)
        return [null, true, 0, -1, 1.5, "", "x", "Job", "batch/v1", NaN, Infinity][Math.floor(r() * 11)];
      if (p < 0.7) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--)
        o[
          [
            "apiVersion",
            "kind",
            "metadata",
            "spec",
            "template",
            "containers",
            "name",
            "image",
            "env",
            "securityContext",
            "volumes",
          ][Math.floor(r() * 11)]!
        ] = value(depth + 1);
      return o;
    };
    for (let i = 0; i < 2000; i++) {
      const obj = value(0);
      check(
        validateObjects(
          [obj, { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: value(1) }],
          { jobMode: true },
        ),
        String(i),
      );
    }
  });
});
