/** The YAML loader: kubectl's scalar semantics, positions, limits, and hostile input. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { loadDocuments } from "../../src/validate/yaml-loader.ts";
import { readFileSync } from "node:fs";
import { locateOffset, parseStream } from "../../src/validate/yaml-events.ts";
import { locateFast, parseFast, parseSegment, splitSegments } from "../../src/validate/yaml-fast.ts";
import { resolvePlain } from "../../src/validate/yaml-scalars.ts";
import { validateDocuments } from "../../src/validate/index.ts";

const values = (text: string) => loadDocuments(text, "t.yaml").map((d) => d.value);
const rules = (text: string, opts = {}) =>
  validateDocuments(text, opts, "t.yaml").flatMap((r) => r.findings.map((f) => f.rule));

/** Bounds a test's wall time: hostile input must be refused quickly, not slowly. */
function quick<T>(fn: () => T, ms = 2000): T {
  const t = performance.now();
  const v = fn();
  assert.ok(performance.now() - t < ms, `took ${(performance.now() - t).toFixed(0)} ms`);
  return v;
}

describe("scalars follow go-yaml v2 (what kubectl reads)", () => {
  const cases: [string, unknown][] = [
    ["yes", true],
    ["On", true],
    ["y", true],
    ["NO", false],
    ["off", false],
    ["~", null],
    ["null", null],
    ["", null],
    ["0755", 493],
    ["0o17", 15],
    ["0x1F", 31],
    ["0b101", 5],
    ["1_000", 1000],
    ["08", 8],
    ["1e3", 1000],
    ["-12", -12],
    ["1.5", 1.5],
    [".5", 0.5],
    ["2001-12-14", "2001-12-14"],
    ["190:20:30", "190:20:30"],
    ["1.2.3", "1.2.3"],
    ["100m", "100m"],
    ["nginx:1.25", "nginx:1.25"],
    ["+", "+"],
    ["-", "-"],
  ];
  for (const [text, want] of cases)
    it(`${JSON.stringify(text)} → ${JSON.stringify(want)}`, () => {
      assert.deepEqual(resolvePlain(text), want);
      if (text !== "" && text !== "-") assert.deepEqual(values(`v: ${text}\n`)[0], { v: want });
    });

  it("quoted scalars stay strings, tags are honoured", () => {
    assert.deepEqual(values(`a: "yes"\nb: '0755'\nc: !!str 12\nd: !!int "7"\n`)[0], {
      a: "yes",
      b: "0755",
      c: "12",
      d: 7,
    });
  });
});

describe("documents", () => {
  it("splits multi-document streams and drops empty documents' values", () => {
    const docs = loadDocuments("---\na: 1\n---\n# nothing\n---\nb: [1, {c: d}]\n", "t");
    assert.deepEqual(
      docs.filter((d) => !d.empty).map((d) => d.value),
      [{ a: 1 }, { b: [1, { c: "d" }] }],
    );
  });

  it("locates paths to lines and columns, on both paths", () => {
    const text =
      "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n  - name: b\n    ports: [{containerPort: 80}]\n";
    for (const t of [text, text.replace("kind: Pod", "kind: Pod\nanchor: &a 1\nalias: *a")]) {
      const [doc] = loadDocuments(t, "t");
      const shift = t === text ? 0 : 2;
      assert.deepEqual(doc!.locate(["spec", "containers", 1, "name"]), { line: 7 + shift, column: 5 });
      assert.deepEqual(doc!.locate(["spec", "containers", 1, "ports", 0, "containerPort"]), {
        line: 8 + shift,
        column: 14,
      });
      assert.deepEqual(doc!.locate(["spec", "nope"]), { line: 3 + shift, column: 1 });
    }
  });

  it("reports syntax errors with line and column, and keeps the other documents", () => {
    const results = validateDocuments(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nmetadata:\n  name: [oops\nkind: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
      {},
      "s.yaml",
    );
    assert.equal(results.length, 3);
    const broken = results[1]!;
    assert.equal(broken.findings[0]!.rule, "yaml-syntax");
    assert.equal(broken.findings[0]!.location?.file, "s.yaml");
    assert.ok((broken.findings[0]!.location?.line ?? 0) >= 6);
    assert.equal(results[0]!.name, "a");
    assert.equal(results[2]!.name, "c");
  });

  it("reports duplicate keys where the second one is", () => {
    const [r] = validateDocuments(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
      {},
      "d.yaml",
    );
    const f = r!.findings.find((x) => x.rule === "yaml-duplicate-key")!;
    assert.equal(f.location?.line, 5);
    assert.match(f.message, /"name"/);
  });

  it("expands merge keys like go-yaml", () => {
    assert.deepEqual(values("base: &b {p: 1, q: 2}\nm:\n  <<: *b\n  q: 3\n")[0], {
      base: { p: 1, q: 2 },
      m: { p: 1, q: 3 },
    });
  });

  it("a __proto__ key is data, not a prototype", () => {
    const v = values('{"__proto__": {"polluted": true}, "a": 1}\n')[0] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v).sort(), ["__proto__", "a"]);
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
  });
});

describe("hostile input is refused quickly, never thrown", () => {
  it("billion laughs", () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) {
      const p = String.fromCharCode(96 + i);
      const n = String.fromCharCode(97 + i);
      levels.push(`${n}: &${n} [${Array(9).fill(`*${p}`).join(", ")}]`);
    }
    const found = quick(() => rules(levels.join("\n") + "\n", { maxAliasCount: 1000 }));
    assert.ok(found.includes("yaml-alias-limit"), JSON.stringify(found));
  });

  it("too many aliases", () => {
    const text = "a: &a x\nb: [" + Array(200).fill("*a").join(", ") + "]\n";
    assert.ok(quick(() => rules(text)).includes("yaml-alias-limit"));
  });

  it("oversized input", () => {
    const text = "a: " + "x".repeat(2000) + "\n";
    assert.deepEqual(
      quick(() => rules(text, { maxBytes: 1000 })),
      ["yaml-too-large"],
    );
  });

  it("deep nesting (flow and block)", () => {
    for (const text of [
      "a: " + "[".repeat(50_000) + "]".repeat(50_000) + "\n",
      "a:\n" + Array.from({ length: 1500 }, (_, i) => " ".repeat(i + 1) + "- ").join("\n") + "\n",
      "a: " + "{b: ".repeat(3000) + "1" + "}".repeat(3000) + "\n",
    ]) {
      const found = quick(() => rules(text), 5000);
      assert.ok(
        found.some((r) => r.startsWith("yaml-")),
        JSON.stringify(found).slice(0, 200),
      );
    }
  });

  it("too many documents", () => {
    assert.deepEqual(
      quick(() => rules("---\na: 1\n".repeat(50), { maxDocuments: 10 })),
      ["yaml-too-large"],
    );
  });

  it("binary garbage, NULs, lone surrogates and odd line endings", () => {
    const inputs = [
      "\u0000\u0001\u0002",
      "\ud800: x",
      "a: 1\r\nb: 2\r\n",
      "\ufeffa: 1\n",
      "%YAML 1.1\n---\na: 1\n",
      "--- |\n  text\n",
      "? [a, b]\n: c\n",
    ];
    for (const text of inputs)
      assert.doesNotThrow(() => validateDocuments(text, {}, "g"), JSON.stringify(text));
  });
});

describe("the line parser agrees with the event parser", () => {
  const samples = [
    "a: 1\nb:\n  c: [1, 2, {d: e}]\n  f: 'it''s'\n  g: \"tab\\tnew\\nline \\u00e9\"\n",
    "list:\n- a\n- b: 1\n  c: 2\n-   d: 3\n- [x, y]\n- {p: q}\n-\n  - nested\n",
    "s: |\n  line one\n\n  line three\n    indented\nt: |-\n  stripped\nu: |+\n  kept\n\nv: x\n",
    "k: v # comment\n# full comment\nurl: http://example.com/a#b\nempty:\nq: \"\"\nr: ''\n",
    "\"quoted key\": 1\n'single': 2\nweird key with spaces: 3\napp.kubernetes.io/name: x\n",
    'a:\n  - name: x\n    value: "1"\n  - name: y\n    valueFrom:\n      fieldRef: {fieldPath: metadata.name}\nb: end\n',
    "n: [1, -2, 0x10, 1e3, .5, yes, ~, 'q', \"r\", {a: [b, {c: d}]}]\nm: {a: 1, b: , c: [] , d: {}}\n",
    "a: 1\n---\nb: 2\n--- # comment\nc: 3\n",
  ];
  for (const [i, text] of samples.entries())
    it(`sample ${i}`, () => {
      const fast = parseFast(text);
      assert.ok(fast !== undefined, "the line parser should take this input");
      const events = parseStream(text, { maxAliases: 100, maxNodes: 1e6, maxDepth: 100 }).documents.map(
        (d) => d.value,
      );
      assert.deepEqual(
        fast.map((d) => (d.empty ? null : d.value)),
        events,
      );
    });

  it("positions: the line parser and the event parser locate every path alike", () => {
    const paths = (v: unknown, prefix: (string | number)[] = []): (string | number)[][] => {
      if (typeof v !== "object" || v === null) return [prefix];
      const entries: [string | number, unknown][] = Array.isArray(v)
        ? v.map((x, i) => [i, x])
        : Object.entries(v);
      return [prefix, ...entries.flatMap(([k, x]) => paths(x, [...prefix, k]))];
    };
    const texts = [...samples, readFileSync("test/validate/fixtures/manifests/valid/app.yaml", "utf8")];
    let compared = 0;
    for (const text of texts) {
      const segs = splitSegments(text)!;
      for (const seg of segs) {
        if (!seg.hasContent) continue;
        const parsed = parseSegment(text, seg);
        assert.ok(parsed !== undefined);
        const stream = parseStream(text.slice(seg.start, seg.end), {
          maxAliases: 100,
          maxNodes: 1e6,
          maxDepth: 100,
        });
        for (const path of paths(parsed.value)) {
          const fast = locateFast(text, seg, path);
          const slow = seg.start + locateOffset(stream, stream.documents[0]!, path);
          assert.equal(
            fast,
            slow,
            `${JSON.stringify(path)} in ${JSON.stringify(text.slice(seg.start, seg.end))}`,
          );
          compared++;
        }
      }
    }
    assert.ok(compared > 100);
  });

  it("bails out (rather than guessing) on what it does not handle", () => {
    for (const text of [
      "a: &x 1\nb: *x\n",
      "a: >\n  folded\n",
      "a: b\n  continued\n",
      'a: "multi\n  line"\n',
      "a:\tb\n",
      "a: 1\na: 2\n",
      "a: [1,\n  2]\n",
      "<<: {a: 1}\n",
      "- - a\n",
      "a: [1, , 2]\n",
      "a: b: c\n",
      "a: |2\n   x\n",
      "a: {b}\n",
    ])
      assert.equal(parseFast(text), undefined, JSON.stringify(text));
  });

  it("random block YAML: same values whenever the line parser answers", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const scalars = [
      "a",
      "1",
      "yes",
      "0755",
      "'q'",
      '"x\\ny"',
      "~",
      "-1.5",
      "foo bar",
      "x # c",
      "[1, 2]",
      "{k: v}",
      "http://h/p",
      "''",
      "100m",
    ];
    const gen = (depth: number, indent: string): string => {
      const lines: string[] = [];
      const n = 1 + Math.floor(rnd() * 4);
      const seq = rnd() < 0.4;
      for (let i = 0; i < n; i++) {
        const r = rnd();
        const head = seq ? `${indent}- ` : `${indent}k${i}: `;
        if (depth < 4 && r < 0.35) lines.push(`${head.trimEnd()}\n${gen(depth + 1, indent + "  ")}`);
        else if (r < 0.45) lines.push(`${head}|\n${indent}  text ${i}\n${indent}  more`);
        else lines.push(head + scalars[Math.floor(rnd() * scalars.length)]!);
      }
      return lines.join("\n");
    };
    let compared = 0;
    for (let i = 0; i < 400; i++) {
      const text = gen(0, "") + "\n";
      const fast = parseFast(text);
      let events: unknown[] | undefined;
      try {
        events = parseStream(text, { maxAliases: 100, maxNodes: 1e6, maxDepth: 100 }).documents.map(
          (d) => d.value,
        );
      } catch {
        events = undefined;
      }
      if (fast === undefined || events === undefined) continue;
      compared++;
      assert.ok(
        isDeepStrictEqual(
          fast.map((d) => (d.empty ? null : d.value)),
          events,
        ),
        text,
      );
    }
    assert.ok(compared > 200, `only ${compared} samples compared`);
  });
});

describe("the whole pipeline, with and without the line parser", () => {
  it("gives identical results (values, findings, lines and columns) on a generated corpus", async () => {
    const { generateCorpus } = await import("../../bench/validate-corpus.ts");
    const { mkdtempSync, readdirSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "gantry-corpus-"));
    generateCorpus(dir, 1500, 99, 0.4);
    let objects = 0;
    for (const f of readdirSync(dir).sort()) {
      const text = readFileSync(join(dir, f), "utf8");
      const fast = validateDocuments(text, { strict: true }, f);
      const slow = validateDocuments(text, { strict: true, lineParser: false }, f);
      assert.deepEqual(fast, slow, f);
      objects += fast.length;
    }
    assert.ok(objects >= 1500);
  });
});
