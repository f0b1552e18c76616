/**
 * Validates many files on a pool of worker threads. The main thread reads files and cuts large
 * multi-document files at `---` lines into chunks; workers parse and validate chunks as they free
 * up. Results come back in input order. Small inputs are validated in-process (a worker costs tens
 * of milliseconds to start).
 */
import { readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ValidateOptions } from "./config.ts";
import { DEFAULT_MAX_BYTES } from "./config.ts";
import type { ObjectResult } from "./findings.ts";
import { ruleDefinition } from "./rules.ts";
import { validateDocuments } from "./validate.ts";
import { schemaBundleUrl } from "./schema-set.ts";
import { workerEntry } from "./worker-entry.ts";

export interface Chunk {
  file: string;
  text: string;
  /** Documents and lines before this chunk in its file. */
  docOffset: number;
  lineOffset: number;
}

export interface WorkerTask {
  id: number;
  chunks: Chunk[];
}

export interface WorkerReply {
  id: number;
  results: ObjectResult[];
}

export interface InputText {
  file: string;
  text: string;
}

export function shiftResults(results: ObjectResult[], docOffset: number, lineOffset: number): ObjectResult[] {
  if (docOffset === 0 && lineOffset === 0) return results;
  for (const r of results) {
    r.documentIndex += docOffset;
    r.line += lineOffset;
    for (const f of r.findings)
      if (f.location?.line !== undefined && f.location.line > 0) f.location.line += lineOffset;
  }
  return results;
}

/** Cuts a YAML stream into pieces of about `target` bytes at `---` document markers. */
export function splitStream(file: string, text: string, target: number): Chunk[] {
  if (text.length <= target) return [{ file, text, docOffset: 0, lineOffset: 0 }];
  const chunks: Chunk[] = [];
  let start = 0;
  let docOffset = 0;
  let lineOffset = 0;
  while (start < text.length) {
    let cut = text.length;
    if (text.length - start > target) {
      const idx = text.indexOf("\n---", start + target);
      if (idx >= 0) {
        const after = text.charCodeAt(idx + 4);
        // `---` must be the whole marker: followed by a newline, space, or the end.
        cut =
          Number.isNaN(after) || after === 10 || after === 32 || after === 13 || after === 9
            ? idx + 1
            : text.length;
      }
    }
    const piece = text.slice(start, cut);
    chunks.push({ file, text: piece, docOffset, lineOffset });
    // Documents in this piece: markers at line starts, plus one if the piece does not begin with one.
    const markers = (piece.match(/^---(?=[\s]|$)/gm) ?? []).length;
    const docs = piece.startsWith("---") ? markers : markers + 1;
    docOffset += docs;
    lineOffset += (piece.match(/\n/g) ?? []).length;
    start = cut;
  }
  return chunks;
}

export interface ParallelOptions {
  /** Worker threads; 0 or 1 validates in-process. Default: available cores, at most 8. */
  workers?: number;
  /** Inputs smaller than this (total bytes) are validated in-process. */
  inProcessBelow?: number;
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** Reads a file, refusing oversized ones before reading them. */
export function readInput(file: string, maxBytes = DEFAULT_MAX_BYTES): InputText | ObjectResult {
  try {
    const size = statSync(file).size;
    if (size > maxBytes)
      return fileProblem(file, "yaml-too-large", `file is ${size} bytes, more than the limit of ${maxBytes}`);
    const buf = readFileSync(file);
    return { file, text: buf.toString("utf8") };
  } catch (err) {
    return fileProblem(file, "yaml-syntax", `cannot read ${file}: ${(err as Error).message}`);
  }
}

export function fileProblem(file: string, rule: string, message: string): ObjectResult {
  const def = ruleDefinition(rule);
  return {
    file,
    documentIndex: 0,
    line: 0,
    status: "invalid",
    findings: [{ rule, severity: "error", message, fix: def.fix, location: { file } }],
  };
}

const CHUNK_BYTES = 256 * 1024;

/** Validates texts in parallel; results are in input order (by text, then by document). */
export async function validateTexts(
  inputs: readonly InputText[],
  options: ValidateOptions,
  par: ParallelOptions = {},
): Promise<ObjectResult[]> {
  const workers = par.workers ?? defaultWorkers();
  const total = inputs.reduce((n, i) => n + i.text.length, 0);
  if (workers <= 1 || total < (par.inProcessBelow ?? 512 * 1024)) {
    return inputs.flatMap((i) => validateDocuments(i.text, options, i.file));
  }
  // Batch small files together and split big ones, so every task is about CHUNK_BYTES.
  const tasks: WorkerTask[] = [];
  let current: Chunk[] = [];
  let size = 0;
  const flush = () => {
    if (current.length > 0) tasks.push({ id: tasks.length, chunks: current });
    current = [];
    size = 0;
  };
  const target = Math.min(CHUNK_BYTES, Math.max(16 * 1024, Math.ceil(total / (workers * 4))));
  for (const input of inputs) {
    for (const chunk of splitStream(input.file, input.text, target)) {
      current.push(chunk);
      size += chunk.text.length;
      if (size >= target) flush();
    }
  }
  flush();
  const replies: ObjectResult[][] = new Array<ObjectResult[]>(tasks.length);
  // The main thread validates too, so `workers` is the number of threads validating; the extra
  // threads start first and pick up tasks as soon as they are ready.
  const poolSize = Math.min(workers - 1, tasks.length - 1);
  let next = 0;
  const threads: Promise<void>[] = [];
  const entry = poolSize > 0 ? await workerEntry() : undefined;
  for (let w = 0; w < poolSize; w++) {
    threads.push(
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(entry!, { workerData: { options, schemaBundleUrl: schemaBundleUrl() } });
        const feed = () => {
          if (next < tasks.length) worker.postMessage(tasks[next++]);
          else void worker.terminate();
        };
        worker.on("message", (reply: WorkerReply) => {
          replies[reply.id] = reply.results;
          feed();
        });
        worker.on("error", reject);
        worker.on("exit", () => resolve());
        worker.on("online", feed);
      }),
    );
  }
  while (next < tasks.length) {
    const task = tasks[next++]!;
    replies[task.id] = task.chunks.flatMap((chunk) =>
      shiftResults(validateDocuments(chunk.text, options, chunk.file), chunk.docOffset, chunk.lineOffset),
    );
    // Let worker replies in, so they get their next task without waiting for the main thread.
    await new Promise<void>((r) => setImmediate(r));
  }
  await Promise.all(threads);
  return replies.flat();
}
