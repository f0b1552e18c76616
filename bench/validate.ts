/**
 * Benchmark: `gantry validate` against kubeconform on the same generated corpus, the same schemas
 * (Gantry's bundle written out in kubeconform's layout), strict unknown-field checking on both, and
 * the same number of workers. Prints resources/second for both, the ratio, and every object the two
 * disagree on (schema and YAML verdicts only: kubeconform has no policy or D30 rules).
 *
 *   bash bench/build-kubeconform.sh          # once: go install kubeconform into ~/.cache/gantry/bin
 *   node --import tsx bench/validate.ts [--resources 12000] [--workers 2] [--runs 3]
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, homedir, loadavg } from "node:os";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { KNOWN_DIFFERENCES, generateCorpus } from "./validate-corpus.ts";
import type { CorpusEntry } from "./validate-corpus.ts";
import { writeKubeconformSchemas } from "./validate-kubeconform-schemas.ts";

const { values } = parseArgs({
  options: {
    resources: { type: "string", default: "12000" },
    workers: { type: "string", default: String(Math.min(4, availableParallelism())) },
    runs: { type: "string", default: "5" },
    seed: { type: "string", default: "42" },
  },
});
const resources = Number(values.resources);
const workers = Number(values.workers);
const runs = Number(values.runs);
const root = new URL("..", import.meta.url).pathname;
const cache = join(process.env["GANTRY_CACHE_DIR"] ?? join(homedir(), ".cache/gantry"), "validate-bench");
const kubeconform = join(
  process.env["GANTRY_CACHE_DIR"] ?? join(homedir(), ".cache/gantry"),
  "bin/kubeconform",
);
if (!existsSync(kubeconform)) {
  process.stderr.write(`kubeconform not found at ${kubeconform}; run: bash bench/build-kubeconform.sh\n`);
  process.exit(2);
}
mkdirSync(cache, { recursive: true });
const schemaDir = join(cache, "schemas");
const corpusDir = join(cache, "corpus");
const nSchemas = writeKubeconformSchemas(schemaDir);
const corpus = generateCorpus(corpusDir, resources, Number(values.seed));
const configFile = join(cache, "gantry-bench.yaml");
// kubeconform -strict rejects unknown fields; make Gantry do the same without its other --strict effects.
writeFileSync(configFile, "rules:\n  schema-unknown-field: error\n");
const kcVersion = spawnSync(kubeconform, ["-v"], { encoding: "utf8" }).stdout.trim();

const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const timeFile = join(cache, "time.txt");

/** Runs a command; wall time, and CPU time (user + system, via /usr/bin/time) when available. */
function timeRun(cmd: string, args: string[]): { ms: number; cpuMs: number | undefined; stdout: string } {
  const t = process.hrtime.bigint();
  const r =
    timeBin === undefined
      ? spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30 })
      : spawnSync(timeBin, ["-f", "%U %S", "-o", timeFile, cmd, ...args], {
          encoding: "utf8",
          maxBuffer: 1 << 30,
        });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.error !== undefined) throw r.error;
  let cpuMs: number | undefined;
  if (timeBin !== undefined) {
    const [u, sys] = readFileSync(timeFile, "utf8").trim().split(/\s+/).slice(-2).map(Number);
    cpuMs = ((u ?? 0) + (sys ?? 0)) * 1000;
  }
  return { ms, cpuMs, stdout: r.stdout };
}

const gantryArgs = [
  join(root, "bin/gantry"),
  "validate",
  "--format",
  "json",
  "--workers",
  String(workers),
  "--config",
  configFile,
  corpusDir,
];
const kcArgs = [
  "-strict",
  "-summary",
  "-output",
  "json",
  "-n",
  String(workers),
  "-schema-location",
  `${schemaDir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
  corpusDir,
];

interface GantryJson {
  summary: { total: number; valid: number; invalid: number };
  results: {
    file: string;
    kind?: string;
    name?: string;
    status: string;
    findings: { rule: string; severity: string; message: string }[];
  }[];
}
interface KcJson {
  resources: { filename: string; kind: string; name: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

let gantryBest = Infinity;
let kcBest = Infinity;
let gantryCpu = Infinity;
let kcCpu = Infinity;
let gantryOut: GantryJson | undefined;
let kcOut: KcJson | undefined;
// Alternate the two so both see the same machine load; keep each one's best run.
for (let i = 0; i < runs; i++) {
  const g = timeRun("bash", gantryArgs);
  gantryBest = Math.min(gantryBest, g.ms);
  gantryCpu = Math.min(gantryCpu, g.cpuMs ?? Infinity);
  gantryOut = JSON.parse(g.stdout) as GantryJson;
  const k = timeRun(kubeconform, kcArgs);
  kcBest = Math.min(kcBest, k.ms);
  kcCpu = Math.min(kcCpu, k.cpuMs ?? Infinity);
  kcOut = JSON.parse(k.stdout) as KcJson;
}

const keyOf = (file: string, name: string | undefined) => `${basename(file)}|${name ?? ""}`;
const byKey = new Map<string, CorpusEntry>();
for (const e of corpus)
  byKey.set(e.mutation === "yaml-syntax" ? keyOf(e.file, "") : keyOf(e.file, e.name), e);

// Gantry's verdict on what kubeconform checks: YAML and schema rules at error level.
const gantryInvalid = new Map<string, string>();
let gantryTotal = 0;
for (const r of gantryOut!.results) {
  gantryTotal++;
  const errs = r.findings.filter(
    (f) => f.severity === "error" && (f.rule.startsWith("schema-") || f.rule.startsWith("yaml-")),
  );
  if (errs.length === 0) continue;
  const broken = errs.some((f) => f.rule === "yaml-syntax");
  gantryInvalid.set(
    keyOf(r.file, broken ? "" : r.name),
    errs.map((f) => `${f.rule}: ${f.message}`).join("; "),
  );
}
const kcInvalid = new Map<string, string>();
for (const r of kcOut!.resources) {
  if (r.status !== "statusInvalid" && r.status !== "statusError") continue;
  kcInvalid.set(keyOf(r.filename, r.name === "" ? "" : r.name), r.msg);
}
const kcTotal =
  kcOut!.summary.valid + kcOut!.summary.invalid + kcOut!.summary.errors + kcOut!.summary.skipped;

// Disagreements, grouped by the mutation that produced them, with the reason where it is known.
const groups = new Map<string, string[]>();
let disagreementCount = 0;
for (const key of new Set([...gantryInvalid.keys(), ...kcInvalid.keys()])) {
  const g = gantryInvalid.get(key);
  const k = kcInvalid.get(key);
  if ((g === undefined) === (k === undefined)) continue;
  disagreementCount++;
  const e = byKey.get(key);
  const group = `${g !== undefined ? "only Gantry" : "only kubeconform"} says invalid, mutation ${e?.mutation ?? "?"}`;
  const line = `    ${key} (${e?.kind ?? "?"}): ${g !== undefined ? g : k!.slice(0, 300)}`;
  groups.set(group, [...(groups.get(group) ?? []), line]);
}
const disagreements: string[] = [];
for (const [group, list] of groups) {
  const mutation = group.replace(/.*mutation /, "");
  disagreements.push(`  ${group}: ${list.length} — ${KNOWN_DIFFERENCES[mutation] ?? "UNEXPLAINED"}`);
  disagreements.push(...list.slice(0, 3));
  if (list.length > 3) disagreements.push(`    ... and ${list.length - 3} more like these`);
}
const expectedInvalid = corpus.filter((e) => e.mutation !== "valid").length;
const gRate = (resources / gantryBest) * 1000;
const kRate = (resources / kcBest) * 1000;
const nodeVersion = process.version;
const goVersion = execFileSync("go", ["version"], { encoding: "utf8" }).trim();
process.stdout
  .write(`gantry validate vs kubeconform (${kcVersion || "development build"}, built with ${goVersion})
corpus: ${resources} resources in ${new Set(corpus.map((e) => e.file)).size} files, ${new Set(corpus.map((e) => e.kind)).size} kinds, ${expectedInvalid} mutated to be invalid (seed ${values.seed})
schemas: Gantry bundle for Kubernetes ${"v1.36.3"} (${nSchemas} kinds, also written as kubeconform JSON schemas)
workers: ${workers} (kubeconform -n ${workers}, gantry --workers ${workers}); best of ${runs} runs, wall time of the whole CLI; node ${nodeVersion}
gantry:      ${gantryBest.toFixed(0)} ms, ${gRate.toFixed(0)} resources/s (${gantryTotal} results, ${gantryInvalid.size} invalid by YAML/schema rules)
kubeconform: ${kcBest.toFixed(0)} ms, ${kRate.toFixed(0)} resources/s (${kcTotal} results, ${kcInvalid.size} invalid or errors)
ratio gantry/kubeconform: ${(gRate / kRate).toFixed(2)}x
CPU time (user + system, best run): gantry ${gantryCpu.toFixed(0)} ms, kubeconform ${kcCpu.toFixed(0)} ms; resources per CPU-second: gantry ${((resources / gantryCpu) * 1000).toFixed(0)}, kubeconform ${((resources / kcCpu) * 1000).toFixed(0)}, ratio ${(kcCpu / gantryCpu).toFixed(2)}x
machine: ${availableParallelism()} cores, load average ${loadavg()
  .map((x) => x.toFixed(2))
  .join(" ")} at the end
disagreements on which resources are invalid: ${disagreementCount}
${disagreements.join("\n")}
`);

// Second scenario: kubeconform's own large fixture (one `kind: List` of 100,000 ConfigMaps), from
// the kubeconform module in the Go module cache, when it is there.
const kcModuleDir = spawnSync("go", ["list", "-m", "-f", "{{.Dir}}", "github.com/yannh/kubeconform@v0.8.0"], {
  encoding: "utf8",
  env: { ...process.env, GOFLAGS: "-mod=mod" },
  cwd: cache,
}).stdout.trim();
const large = join(kcModuleDir, "fixtures/valid_large.yaml");
if (kcModuleDir !== "" && existsSync(large)) {
  let g = Infinity;
  let k = Infinity;
  for (let i = 0; i < Math.min(runs, 3); i++) {
    g = Math.min(
      g,
      timeRun("bash", [join(root, "bin/gantry"), "validate", "-q", "--workers", String(workers), large]).ms,
    );
    k = Math.min(
      k,
      timeRun(kubeconform, [
        "-strict",
        "-summary",
        "-n",
        String(workers),
        "-schema-location",
        `${schemaDir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
        large,
      ]).ms,
    );
  }
  process.stdout.write(
    `\nkubeconform's fixtures/valid_large.yaml (100,000 ConfigMaps in one List): gantry ${g.toFixed(0)} ms (${((100_000 / g) * 1000).toFixed(0)}/s), kubeconform ${k.toFixed(0)} ms (${((100_000 / k) * 1000).toFixed(0)}/s), ratio ${(k / g).toFixed(2)}x\n`,
  );
}

// Third check: agreement on every file of kubeconform's own test fixtures (counts of valid and
// invalid resources per file; kubeconform's "errors" count as invalid).
if (kcModuleDir !== "" && existsSync(join(kcModuleDir, "fixtures"))) {
  const dir = join(kcModuleDir, "fixtures");
  const files = readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f) && f !== "valid_large.yaml")
    .sort();
  const differing: string[] = [];
  for (const f of files) {
    const path = join(dir, f);
    const g = JSON.parse(
      timeRun("bash", [
        join(root, "bin/gantry"),
        "validate",
        "--format",
        "json",
        "--config",
        configFile,
        path,
      ]).stdout,
    ) as GantryJson;
    const gInvalid = g.results.filter((r) =>
      r.findings.some((x) => x.severity === "error" && /^(schema|yaml)-/.test(x.rule)),
    ).length;
    const gValid = g.results.length - gInvalid;
    const k = JSON.parse(
      timeRun(kubeconform, [
        "-strict",
        "-summary",
        "-output",
        "json",
        "-schema-location",
        `${schemaDir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
        path,
      ]).stdout,
    ) as KcJson;
    const kInvalid = k.summary.invalid + k.summary.errors;
    if (gValid !== k.summary.valid || gInvalid !== kInvalid)
      differing.push(
        `  ${f}: gantry ${gValid} valid / ${gInvalid} invalid, kubeconform ${k.summary.valid} valid / ${kInvalid} invalid`,
      );
  }
  process.stdout.write(
    `kubeconform's test fixtures: ${files.length} files, ${differing.length} with different verdicts\n${differing.join("\n")}${differing.length > 0 ? "\n" : ""}`,
  );
}
