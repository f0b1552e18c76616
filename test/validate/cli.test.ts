/** `gantry validate` end to end: plans against expected text, formats, inputs and exit codes. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, it } from "node:test";
import { validateCommand } from "../../src/cli/validate-command.ts";

const FIX = "test/validate/fixtures";

async function run(args: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await validateCommand(args, { stdout, stderr, stdin: Readable.from([stdin]), env: {} });
  return { code, out, err };
}

describe("D30 compatibility", () => {
  it("the seed's two-job example prints the seed's plan (D30 rules only)", async () => {
    const r = await run(["--jobs-dir", `${FIX}/d30-seed/jobs`, "--config", `${FIX}/d30-seed/config.yaml`]);
    assert.equal(r.code, 0);
    assert.equal(r.out, readFileSync(`${FIX}/d30-seed/plan.txt`, "utf8"));
    // The seed's own example, line for line, for Job 1 (the seed elides Job 2).
    for (const line of [
      "[D30_K8S_EXEC] KUBERNETES EXECUTION PLAN",
      "Total Jobs:              2",
      "Namespaces:              trading-bots",
      "  ✓ arb-tuning-d29-k8s--worker-2-1",
      "  Args:                  scripts/run_d24_tuning_session.py --config ...",
      "  Environment Variables: (6 total)",
      "    ... and 1 more",
      "  Resources (requests):  CPU=500m, Memory=512Mi",
      "  Resources (limits):    CPU=1, Memory=1Gi",
    ])
      assert.ok(r.out.includes(line + "\n"), line);
  });

  it("with Gantry's default policy the same jobs stay valid, with warnings", async () => {
    const r = await run(["--jobs-dir", `${FIX}/d30-seed/jobs`]);
    assert.equal(r.code, 0);
    assert.equal(r.out, readFileSync(`${FIX}/d30-seed/plan-default.txt`, "utf8"));
  });

  it("--strict turns the warnings into errors: exit 1", async () => {
    const r = await run(["--jobs-dir", `${FIX}/d30-seed/jobs`, "--strict"]);
    assert.equal(r.code, 1);
    assert.match(r.out, /Invalid Jobs: {12}2/);
  });

  it("invalid jobs are listed with their errors and how to fix them", async () => {
    const r = await run(["--jobs-dir", `${FIX}/d30-invalid/jobs`, "--config", `${FIX}/d30-seed/config.yaml`]);
    assert.equal(r.code, 1);
    assert.equal(r.out, readFileSync(`${FIX}/d30-invalid/plan.txt`, "utf8"));
  });

  it("--output-plan writes the plan to a file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-validate-"));
    const file = join(dir, "plan.txt");
    const r = await run([
      "--jobs-dir",
      `${FIX}/d30-seed/jobs`,
      "--config",
      `${FIX}/d30-seed/config.yaml`,
      "--output-plan",
      file,
      "-q",
    ]);
    assert.equal(r.code, 0);
    assert.equal(r.out, "");
    assert.equal(readFileSync(file, "utf8"), readFileSync(`${FIX}/d30-seed/plan.txt`, "utf8"));
  });
});

describe("inputs", () => {
  it("directories are walked recursively; multi-document files and JSON are read", async () => {
    const r = await run([`${FIX}/manifests/valid`, "--format", "json"]);
    assert.equal(r.code, 0, r.out);
    const report = JSON.parse(r.out) as {
      summary: { total: number; valid: number };
      results: { kind: string }[];
    };
    assert.deepEqual(
      report.results.map((x) => x.kind),
      ["Deployment", "Service", "ConfigMap", "Job"],
    );
    assert.equal(report.summary.valid, 4);
  });

  it("globs", async () => {
    const r = await run([`${FIX}/manifests/**/*.json`, "--format", "json"]);
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.out) as { summary: { total: number } }).summary.total, 1);
  });

  it("'-' reads standard input", async () => {
    const r = await run(["-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ns}\n");
    assert.equal(r.code, 0);
    assert.match(r.out, /✓ ConfigMap\/x/);
    const bad = await run(["-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\n");
    assert.equal(bad.code, 1);
    assert.match(bad.out, /\[schema-type\] \/data\/a: expected string, got integer 1 \(<stdin>:4:/);
  });

  it("oversized standard input is refused with a clear error", async () => {
    const r = await run(["-", "--max-bytes", "100"], "a: " + "x".repeat(500) + "\n");
    assert.equal(r.code, 1);
    assert.match(r.out, /\[yaml-too-large\] standard input is larger than the limit of 100 bytes/);
  });

  it("--kinds restricts; --schema-dir adds CRDs", async () => {
    const r = await run([`${FIX}/manifests/invalid`, "--kinds", "Deployment", "--format", "json"]);
    const report = JSON.parse(r.out) as { summary: { total: number; skipped: number } };
    assert.equal(report.summary.total, 1);
    assert.equal(report.summary.skipped, 1);
    const crd = await run([`${FIX}/manifests/widget.yaml`, "--schema-dir", `${FIX}/crds`]);
    assert.equal(crd.code, 1);
    assert.match(crd.out, /"huge" is not one of "small", "large"/);
    const unknown = await run([`${FIX}/manifests/widget.yaml`]);
    assert.match(unknown.out, /schema-unknown-kind/);
    const skipped = await run([`${FIX}/manifests/widget.yaml`, "--skip-unknown-kinds"]);
    assert.equal(skipped.code, 0);
  });

  it("worker threads give the same results as in-process validation", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-validate-"));
    mkdirSync(join(dir, "m"));
    // Over the in-process threshold (512 KiB), in one big file and many small ones, with errors
    // whose line numbers must survive the split into chunks.
    const docs = Array.from(
      { length: 6000 },
      (_, i) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c${i}\n  namespace: n\n  labels: {team: platform, tier: backend}\ndata:\n  k: ${i % 7 === 0 ? "[1]" : `"v${i}"`}\n  description: "${"x".repeat(40)}"\n`,
    );
    writeFileSync(join(dir, "m", "big.yaml"), docs.join("---\n"));
    for (let f = 0; f < 40; f++)
      writeFileSync(join(dir, "m", `small-${f}.yaml`), docs.slice(f * 50, f * 50 + 50).join("---\n"));
    const one = await run([join(dir, "m"), "--format", "json", "--workers", "1"]);
    const three = await run([join(dir, "m"), "--format", "json", "--workers", "3"]);
    assert.equal(one.code, 1);
    assert.equal(three.out, one.out);
    const report = JSON.parse(one.out) as { results: { line: number; documentIndex: number }[] };
    assert.equal(report.results.length, 8000);
    assert.deepEqual(
      report.results.slice(0, 3).map((r) => [r.documentIndex, r.line]),
      [
        [0, 1],
        [1, 11],
        [2, 21],
      ],
    );
    assert.deepEqual([report.results[5999]!.documentIndex, report.results[5999]!.line], [5999, 59991]);
  });

  it("workers also start without the bundled entry (tsx bootstrap)", async () => {
    const { Worker } = await import("node:worker_threads");
    const { schemaBundleUrl } = await import("../../src/validate/schema-set.ts");
    const worker = new Worker(new URL("../../src/validate/validate-worker-bootstrap.mjs", import.meta.url), {
      workerData: { options: {}, schemaBundleUrl: schemaBundleUrl() },
    });
    const reply = await new Promise<{ results: { status: string }[] }>((resolve, reject) => {
      worker.on("message", resolve);
      worker.on("error", reject);
      worker.postMessage({
        id: 0,
        chunks: [
          {
            file: "x.yaml",
            text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n",
            docOffset: 0,
            lineOffset: 0,
          },
        ],
      });
    });
    await worker.terminate();
    assert.deepEqual(
      reply.results.map((r) => r.status),
      ["valid"],
    );
  });
});

describe("formats and exit codes", () => {
  it("junit and sarif are well-formed and carry the findings", async () => {
    const junit = await run([`${FIX}/manifests/invalid`, "--format", "junit"]);
    assert.equal(junit.code, 1);
    assert.match(
      junit.out,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="gantry validate" tests="2" failures="2"/,
    );
    assert.match(junit.out, /<failure message="[^"]*" type="schema-type">/);
    const sarif = await run([`${FIX}/manifests/invalid`, "--format", "sarif"]);
    const log = JSON.parse(sarif.out) as {
      version: string;
      runs: {
        tool: { driver: { rules: { id: string }[] } };
        results: {
          ruleId: string;
          level: string;
          locations: { physicalLocation: { region: { startLine: number } } }[];
        }[];
      }[];
    };
    assert.equal(log.version, "2.1.0");
    const results = log.runs[0]!.results;
    assert.ok(results.some((x) => x.ruleId === "policy-privileged" && x.level === "error"));
    assert.ok(results.every((x) => x.locations[0]!.physicalLocation.region.startLine >= 1));
    assert.ok(log.runs[0]!.tool.driver.rules.some((x) => x.id === "policy-host-path"));
  });

  it("usage errors exit 2 and say what was wrong", async () => {
    for (const args of [
      [],
      ["--format", "yaml", "x"],
      ["--bogus"],
      ["does/not/exist.yaml"],
      ["--jobs-dir"],
      ["--workers", "0", "x"],
      ["--config", "nope.yaml", "x"],
      ["--jobs-dir", "/nonexistent-dir"],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 2, JSON.stringify(args));
      assert.match(r.err, /^gantry validate: /, JSON.stringify(args));
    }
  });

  it("a bad config file is a usage error naming the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-validate-"));
    const cfg = join(dir, "c.yaml");
    writeFileSync(cfg, "rules:\n  policy-imagetag: off\n");
    const r = await run(["--config", cfg, `${FIX}/manifests/valid`]);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown rule 'policy-imagetag'/);
  });

  it("--help and --list-rules exit 0", async () => {
    assert.match((await run(["--help"])).out, /--jobs-dir DIR/);
    const rules = await run(["--list-rules"]);
    assert.equal(rules.code, 0);
    assert.match(rules.out, /policy-privileged +error +policy/);
  });
});
