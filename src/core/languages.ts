/**
 * The languages a `submission` may be written in, Judge0-style: one row per language with the
 * source file name, an optional compile command, the run command and the container image used on
 * Kubernetes. Commands are argv arrays (no shell) with placeholders the runner fills in:
 *
 *   {main}      the entry file (the submission's first file), e.g. `main.py`
 *   {mainBase}  the entry file's name without directory and extension, e.g. `Main`
 *   {sources}   every submitted file whose name ends with one of `extensions` (one argv entry each)
 *   {memoryMB}  the case's memory limit, MiB (for runtimes with their own heap cap: Java, Node)
 *
 * The table is data: operators add or replace rows with a JSON file named by
 * GANTRY_LANGUAGES_FILE (see src/server/languages-config.ts and the README); `mergeLanguages`
 * checks each row. A submission stores the row it was accepted with, so a queued submission is
 * not changed by a later table edit.
 */

export interface LanguageDefinition {
  /** Default name of the single source file (used when a client sends bare code). */
  sourceFile: string;
  /** File name endings that count as sources for `{sources}`. */
  extensions: string[];
  /** argv run once before the cases; a non-zero exit is a compile error. */
  compile?: string[];
  /** argv of each case. */
  run: string[];
  /** Container image with the toolchain (Kubernetes executor). */
  image: string;
  /** Processes/threads one case may have besides the runner (RLIMIT_NPROC headroom). */
  processes?: number;
  /** Added to every case's CPU-time limit, ms: the runtime's own start-up (JVM, Node). */
  startupMs?: number;
  /** Memory a compile may use, MiB. */
  compileMemoryMB?: number;
}

export type LanguageTable = Record<string, LanguageDefinition>;

export const DEFAULT_LANGUAGES: Readonly<LanguageTable> = {
  python: {
    sourceFile: "main.py",
    extensions: [".py"],
    // Syntax errors become compile errors; the bytecode is cached in __pycache__ for the cases.
    compile: ["/usr/bin/python3", "-S", "-m", "py_compile", "{sources}"],
    compileMemoryMB: 128,
    run: ["/usr/bin/python3", "-S", "{main}"],
    image: "ghcr.io/gantry-dev/runner-python:3.11",
  },
  javascript: {
    sourceFile: "main.js",
    extensions: [".js", ".mjs", ".cjs"],
    compile: ["/usr/bin/node", "--check", "{main}"],
    compileMemoryMB: 256,
    run: ["/usr/bin/node", "--max-old-space-size={memoryMB}", "--stack-size=65500", "{main}"],
    image: "ghcr.io/gantry-dev/runner-node:20",
    processes: 32,
    startupMs: 200,
  },
  c: {
    sourceFile: "main.c",
    extensions: [".c"],
    compile: ["/usr/bin/gcc", "-O2", "-std=gnu17", "-pipe", "-o", "prog", "{sources}", "-lm"],
    run: ["./prog"],
    image: "ghcr.io/gantry-dev/runner-gcc:12",
  },
  cpp: {
    sourceFile: "main.cpp",
    extensions: [".cpp", ".cc", ".cxx"],
    compile: ["/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe", "-o", "prog", "{sources}"],
    run: ["./prog"],
    image: "ghcr.io/gantry-dev/runner-gcc:12",
  },
  java: {
    sourceFile: "Main.java",
    extensions: [".java"],
    compile: [
      "/usr/bin/javac",
      "-J-Xmx384m",
      "-J-XX:+UseSerialGC",
      "-encoding",
      "UTF-8",
      "-d",
      ".",
      "{sources}",
    ],
    run: [
      "/usr/bin/java",
      "-Xmx{memoryMB}m",
      "-Xss64m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-XX:CICompilerCount=1",
      "-XX:ReservedCodeCacheSize=32m",
      "-Xshare:auto",
      "-cp",
      ".",
      "{mainBase}",
    ],
    image: "ghcr.io/gantry-dev/runner-java:17",
    processes: 64,
    startupMs: 700,
    compileMemoryMB: 768,
  },
};

/** Aliases accepted for a language name. */
export const LANGUAGE_ALIASES: Readonly<Record<string, string>> = {
  py: "python",
  python3: "python",
  js: "javascript",
  node: "javascript",
  "c++": "cpp",
  cxx: "cpp",
};

const NAME = /^[a-z][a-z0-9+._-]{0,31}$/;

export function resolveLanguageName(table: Readonly<LanguageTable>, name: string): string | null {
  const lower = name.toLowerCase();
  if (Object.hasOwn(table, lower)) return lower;
  const alias = LANGUAGE_ALIASES[lower];
  return alias !== undefined && Object.hasOwn(table, alias) ? alias : null;
}

/** Why `row` is not a usable language definition, or null when it is. */
export function languageProblem(row: unknown): string | null {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return "must be an object";
  const r = row as Record<string, unknown>;
  const argv = (v: unknown) =>
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((x) => typeof x === "string" && x !== "" && !x.includes("\0"));
  if (typeof r.sourceFile !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(r.sourceFile))
    return "sourceFile must be a plain file name";
  if (!Array.isArray(r.extensions) || !r.extensions.every((e) => typeof e === "string" && e.startsWith(".")))
    return 'extensions must be a list like [".py"]';
  if (r.compile !== undefined && !argv(r.compile)) return "compile must be a non-empty argv array of strings";
  if (!argv(r.run)) return "run must be a non-empty argv array of strings";
  if (typeof r.image !== "string" || r.image === "") return "image must name a container image";
  for (const key of ["processes", "startupMs", "compileMemoryMB"]) {
    const v = r[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 100_000))
      return `${key} must be a non-negative integer`;
  }
  return null;
}

/**
 * The built-in table with `extra` rows added or replacing built-in ones (`null` removes a row).
 * Throws an Error naming the bad row.
 */
export function mergeLanguages(base: Readonly<LanguageTable>, extra: unknown): LanguageTable {
  if (typeof extra !== "object" || extra === null || Array.isArray(extra))
    throw new Error('the language table must be a JSON object {"name": {sourceFile, run, …}}');
  const table: LanguageTable = { ...base };
  for (const [name, row] of Object.entries(extra as Record<string, unknown>)) {
    if (!NAME.test(name)) throw new Error(`language name '${name}' must match ${NAME.source}`);
    if (row === null) {
      delete table[name];
      continue;
    }
    const problem = languageProblem(row);
    if (problem !== null) throw new Error(`language '${name}': ${problem}`);
    table[name] = structuredClone(row) as LanguageDefinition;
  }
  return table;
}

/** argv with the placeholders filled in; `{sources}` expands to several entries. */
export function expandCommand(
  argv: readonly string[],
  vars: { main: string; sources: readonly string[]; memoryMB: number },
): string[] {
  const base = vars.main.split("/").pop() ?? vars.main;
  const mainBase = base.includes(".") ? base.slice(0, base.lastIndexOf(".")) : base;
  const out: string[] = [];
  for (const arg of argv) {
    if (arg === "{sources}") {
      out.push(...vars.sources);
      continue;
    }
    out.push(
      arg
        .replaceAll("{mainBase}", mainBase)
        .replaceAll("{main}", vars.main)
        .replaceAll("{memoryMB}", String(vars.memoryMB)),
    );
  }
  return out;
}
