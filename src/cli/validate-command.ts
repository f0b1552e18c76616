/**
 * `gantry validate`: a thin shell over src/validate. D30-compatible
 * (`--jobs-dir DIR [--strict] [--output-plan FILE]`), plus paths, directories, globs and `-`.
 * Exit codes: 0 every object valid, 1 something invalid (or the server could not be asked),
 * 2 usage error.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Command, CommandIO } from "./main.ts";
import type { ObjectResult, ValidateOptions, ValidationReport } from "../validate/index.ts";
import {
  ConfigError,
  InputError,
  KUBERNETES_VERSION,
  RULES,
  SchemaSet,
  SchemaSetError,
  applyServerDryRun,
  collectInputs,
  createDryRunClient,
  defaultWorkers,
  parseConfig,
  readInput,
  renderJson,
  renderJunit,
  renderPlanText,
  renderSarif,
  validateDocuments,
  validateTexts,
} from "../validate/index.ts";
import { DEFAULT_MAX_BYTES } from "../validate/config.ts";
import { fileProblem } from "../validate/parallel.ts";
import type { InputText } from "../validate/parallel.ts";
import { readFileSync } from "node:fs";

const USAGE = `usage: gantry validate [options] [PATH | GLOB | -]...
       gantry validate --jobs-dir DIR [--strict] [--output-plan FILE]

Validates Kubernetes manifests (YAML or JSON, many documents per file) against the schemas of
Kubernetes ${KUBERNETES_VERSION}, the D30 Job rules and Gantry's security policy, and prints an
execution plan. PATHs may be files or directories (searched recursively for *.yaml, *.yml, *.json);
GLOBs may use *, ** and ?; '-' reads standard input.

options:
  --jobs-dir DIR          D30 job mode: every *.yaml/*.yml in DIR must be a batch/v1 Job; turns on
                          the D30 recommendations (labels, args, env, resources, name pattern)
  --strict                warnings are errors (unknown fields included)
  --output-plan FILE      also write the output to FILE
  --format FORMAT         text (the D30 plan, default), json, junit or sarif
  --kinds LIST            only validate these kinds (comma-separated; Kind or apiVersion/Kind)
  --skip-unknown-kinds    skip objects whose kind has no schema instead of reporting them
  --schema-dir DIR        extra schemas: CRD manifests or kubeconform-style JSON schemas (repeatable)
  --config FILE           rule settings (YAML/JSON): rules: {<id>: off|warning|error},
                          recommendedLabels, jobNamePattern, jobProfile
  --job-profile           apply the D30 recommendations outside --jobs-dir too
  --server-dry-run        also send each object to the API server (dryRun=All, fieldValidation=Strict)
  --kubeconfig FILE       kubeconfig for --server-dry-run (default: $KUBECONFIG, ~/.kube/config)
  --context NAME          kubeconfig context for --server-dry-run
  --workers N             worker threads (default: ${defaultWorkers()}; 1 = in-process)
  --max-bytes N           refuse inputs larger than N bytes (default ${DEFAULT_MAX_BYTES})
  --list-rules            print every rule id with its severity and exit
  -q, --quiet             print nothing; only the exit code tells
  -h, --help              show this help

exit status: 0 all valid, 1 invalid manifests (or the server could not be asked), 2 usage error
`;

class UsageError extends Error {}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1)
    throw new UsageError(`${name} must be a positive integer, not '${v}'`);
  return Number(v);
}

async function readStdin(stdin: NodeJS.ReadableStream, maxBytes: number): Promise<InputText | ObjectResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > maxBytes) {
      if ("destroy" in stdin && typeof stdin.destroy === "function") stdin.destroy();
      return fileProblem(
        "<stdin>",
        "yaml-too-large",
        `standard input is larger than the limit of ${maxBytes} bytes`,
      );
    }
    chunks.push(b);
  }
  return { file: "<stdin>", text: Buffer.concat(chunks).toString("utf8") };
}

function listRules(): string {
  const rows = [...RULES.values()].map((r) => [
    r.id,
    r.severity,
    r.category + (r.jobProfile === true ? " (job profile)" : ""),
    r.description,
  ]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w2 = Math.max(...rows.map((r) => r[2]!.length));
  return (
    rows.map((r) => `${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(7)}  ${r[2]!.padEnd(w2)}  ${r[3]}`).join("\n") + "\n"
  );
}

export const validateCommand: Command = async (argv: string[], io: CommandIO): Promise<number> => {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        "jobs-dir": { type: "string" },
        strict: { type: "boolean" },
        "output-plan": { type: "string" },
        format: { type: "string" },
        kinds: { type: "string" },
        "skip-unknown-kinds": { type: "boolean" },
        "schema-dir": { type: "string", multiple: true },
        config: { type: "string" },
        "job-profile": { type: "boolean" },
        "server-dry-run": { type: "boolean" },
        kubeconfig: { type: "string" },
        context: { type: "string" },
        workers: { type: "string" },
        "max-bytes": { type: "string" },
        "list-rules": { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    io.stderr.write(`gantry validate: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (v["list-rules"] === true) {
    io.stdout.write(listRules());
    return 0;
  }
  let options: ValidateOptions;
  let files: string[];
  let workers: number;
  const format = v.format ?? "text";
  try {
    if (!["text", "json", "junit", "sarif"].includes(format))
      throw new UsageError(`--format must be text, json, junit or sarif, not '${format}'`);
    options = {};
    if (v.config !== undefined) {
      let text: string;
      try {
        text = readFileSync(v.config, "utf8");
      } catch (err) {
        throw new UsageError(`cannot read --config ${v.config}: ${(err as Error).message}`);
      }
      options = parseConfig(text, v.config);
    }
    if (v.strict === true) options.strict = true;
    if (v["job-profile"] === true) options.jobProfile = true;
    if (v["skip-unknown-kinds"] === true) options.skipUnknownKinds = true;
    if (v.kinds !== undefined)
      options.kinds = v.kinds
        .split(",")
        .map((k) => k.trim())
        .filter(Boolean);
    if (v["schema-dir"] !== undefined) options.schemaDirs = v["schema-dir"];
    const maxBytes = positiveInt("--max-bytes", v["max-bytes"]);
    if (maxBytes !== undefined) options.maxBytes = maxBytes;
    workers = positiveInt("--workers", v.workers) ?? defaultWorkers();
    files = [];
    if (v["jobs-dir"] !== undefined) {
      options.jobMode = true;
      const dir = v["jobs-dir"];
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (err) {
        throw new UsageError(`--jobs-dir ${dir}: ${(err as Error).message}`);
      }
      files.push(
        ...names
          .filter((n) => /\.ya?ml$/i.test(n))
          .sort()
          .map((n) => join(dir, n)),
      );
    }
    if (parsed.positionals.length > 0) files.push(...collectInputs(parsed.positionals));
    if (files.length === 0 && v["jobs-dir"] === undefined)
      throw new UsageError("nothing to validate: give files, directories, globs, '-' or --jobs-dir DIR");
    if (options.schemaDirs !== undefined) new SchemaSet(options.schemaDirs); // fail early on a bad dir
  } catch (err) {
    if (
      err instanceof UsageError ||
      err instanceof InputError ||
      err instanceof ConfigError ||
      err instanceof SchemaSetError
    ) {
      io.stderr.write(`gantry validate: ${err.message}\n(run 'gantry validate --help' for usage)\n`);
      return 2;
    }
    throw err;
  }

  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const texts: InputText[] = [];
  const problems: ObjectResult[] = [];
  for (const f of files) {
    const input = f === "-" ? await readStdin(io.stdin, maxBytes) : readInput(f, maxBytes);
    if ("status" in input) problems.push(input);
    else texts.push(input);
  }

  let results: ObjectResult[];
  let serverFailed = false;
  if (v["server-dry-run"] === true) {
    const objects: unknown[] = [];
    results = texts.flatMap((t) => validateDocuments(t.text, options, t.file, objects));
    try {
      const clients = await Promise.all(
        Array.from({ length: 4 }, () =>
          createDryRunClient({
            ...(v.kubeconfig !== undefined ? { kubeconfig: v.kubeconfig } : {}),
            ...(v.context !== undefined ? { context: v.context } : {}),
          }),
        ),
      );
      await applyServerDryRun(results, objects, clients, options);
      const unreachable = results.filter((r) => r.server?.status === "error");
      if (unreachable.length > 0) {
        serverFailed = true;
        io.stderr.write(
          `gantry validate: could not get a verdict from ${clients[0]!.server} for ${unreachable.length} object(s): ${unreachable[0]!.server!.message ?? ""}\n`,
        );
      }
    } catch (err) {
      io.stderr.write(`gantry validate: --server-dry-run: ${(err as Error).message}\n`);
      return 2;
    }
  } else {
    results = await validateTexts(texts, options, { workers });
  }
  results = [...problems, ...results];
  const report: ValidationReport = {
    results,
    jobMode: options.jobMode === true,
    kubernetesVersion: KUBERNETES_VERSION,
  };
  const out =
    format === "json"
      ? renderJson(report)
      : format === "junit"
        ? renderJunit(report)
        : format === "sarif"
          ? renderSarif(report)
          : renderPlanText(report);
  if (v["output-plan"] !== undefined) {
    try {
      writeFileSync(v["output-plan"], out);
    } catch (err) {
      io.stderr.write(
        `gantry validate: cannot write --output-plan ${v["output-plan"]}: ${(err as Error).message}\n`,
      );
      return 2;
    }
  }
  if (v.quiet !== true) io.stdout.write(out);
  if (files.length === 0)
    io.stderr.write(`gantry validate: no *.yaml or *.yml files in ${v["jobs-dir"] ?? "the input"}\n`);
  return results.some((r) => r.status === "invalid") || serverFailed ? 1 : 0;
};
