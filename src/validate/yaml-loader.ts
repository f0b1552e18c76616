/**
 * Splits a YAML stream into documents and turns each into plain JSON-like values the way kubectl
 * reads manifests (sigs.k8s.io/yaml, YAML 1.1: `yes`/`on` are booleans, `0755` is octal, timestamps
 * stay strings, `<<` merges), with limits so hostile input is refused instead of hanging or crashing:
 * input size, document count, nesting depth and alias expansions.
 *
 * Three paths, fastest first, each document taking the first that handles it:
 * 1. the line parser (yaml-fast.ts) for the block-style YAML nearly every manifest is written in;
 * 2. js-yaml's event parser (yaml-events.ts) for everything else, and for syntax errors;
 * 3. the `yaml` package ("careful"), for streams the others refuse (deep nesting, directives mixed
 *    with errors), behind a pre-scan that refuses nesting deep enough to exhaust it.
 * All three read scalars with the same rules (yaml-scalars.ts); differential tests hold 1 and 2 equal.
 *
 * Positions are kept: `locate(path)` maps a finding's path back to a line and column, computed only
 * when a finding asks.
 */
import type { Document, LineCounter, Node as YamlNode, ParsedNode } from "yaml";
import { yamlLib } from "./yaml-lib.ts";
import { DEFAULT_MAX_ALIAS_COUNT, DEFAULT_MAX_BYTES, DEFAULT_MAX_DOCUMENTS } from "./config.ts";
import type { Finding } from "./findings.ts";
import { ruleDefinition } from "./rules.ts";
import { YAMLException } from "js-yaml";
import { locateOffset, parseStream } from "./yaml-events.ts";
import type { EventStream } from "./yaml-events.ts";
import { isCleanText, locateFast, parseSegment, splitSegments } from "./yaml-fast.ts";
import type { Segment } from "./yaml-fast.ts";
import { resolvePlain } from "./yaml-scalars.ts";

export interface LoadLimits {
  maxBytes?: number;
  maxDocuments?: number;
  maxAliasCount?: number;
  /** False skips the line parser (only js-yaml's event parser); for differential tests. */
  lineParser?: boolean;
}

/** Deepest nesting (block indentation columns or flow brackets) accepted before parsing. */
export const MAX_NESTING = 1000;

export interface LoadedDocument {
  file: string;
  index: number;
  /** 1-based line where the document starts. */
  line: number;
  /** The document's value; undefined when it failed to load or was empty. */
  value: unknown;
  /** True for a document with no content (e.g. a leading `---`); such documents are ignored. */
  empty: boolean;
  /** YAML-level findings (syntax, duplicate keys, limits). */
  findings: Finding[];
  /** Line and column of the node at `path` (segments of keys and indexes), or of its nearest parent. */
  locate(path: readonly (string | number)[]): { line: number; column: number };
}

class LimitError extends Error {
  constructor(
    readonly rule: "yaml-alias-limit" | "yaml-too-large",
    message: string,
  ) {
    super(message);
  }
}

function finding(rule: string, message: string, file: string, line?: number, column?: number): Finding {
  const def = ruleDefinition(rule);
  const location =
    line === undefined ? { file } : { file, line, ...(column === undefined ? {} : { column }) };
  return { rule, severity: def.severity, message, fix: def.fix, location };
}

/** Refuses input whose nesting would exhaust the parser (it recurses and builds per-indent regexps). */
function checkNesting(text: string): string | undefined {
  let depth = 0;
  let maxDepth = 0;
  let indent = 0;
  let atLineStart = true;
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      atLineStart = true;
      indent = 0;
      if (quote === "'" || quote === '"') continue;
      quote = "";
      continue;
    }
    if (atLineStart) {
      if (c === 32 || c === 9) {
        if (++indent > MAX_NESTING) return `a line is indented more than ${MAX_NESTING} columns`;
        continue;
      }
      atLineStart = false;
    }
    if (quote === "#") continue;
    if (quote !== "") {
      if (quote === '"' && c === 92) i++;
      else if (String.fromCharCode(c) === quote) quote = "";
      continue;
    }
    if (c === 35 /* # */ && (i === 0 || text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9))
      quote = "#";
    else if (c === 34 || c === 39) {
      const prev = i === 0 ? 32 : text.charCodeAt(i - 1);
      if (
        prev === 32 ||
        prev === 9 ||
        prev === 10 ||
        prev === 91 ||
        prev === 123 ||
        prev === 44 ||
        prev === 58
      )
        quote = String.fromCharCode(c);
    } else if (c === 91 || c === 123) {
      if (++depth > maxDepth) maxDepth = depth;
      if (maxDepth > MAX_NESTING) return `flow collections are nested more than ${MAX_NESTING} deep`;
    } else if ((c === 93 || c === 125) && depth > 0) depth--;
  }
  return undefined;
}

/** Converts a composed YAML node to a plain value, counting alias expansions. */
class Converter {
  aliases = 0;
  constructor(
    private readonly doc: Document.Parsed,
    private readonly maxAliasCount: number,
  ) {}

  value(node: YamlNode | null | undefined, depth: number): unknown {
    if (node === null || node === undefined) return null;
    if (depth > MAX_NESTING)
      throw new LimitError("yaml-too-large", `values are nested more than ${MAX_NESTING} deep`);
    if (yamlLib().isScalar(node)) {
      if (node.type === "PLAIN" && node.tag === undefined && typeof node.source === "string")
        return resolvePlain(node.source);
      const v = node.value;
      if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
      if (typeof v === "bigint") return Number(v);
      return v;
    }
    if (yamlLib().isAlias(node)) {
      if (++this.aliases > this.maxAliasCount)
        throw new LimitError(
          "yaml-alias-limit",
          `more than ${this.maxAliasCount} alias expansions (an alias bomb, or very repetitive YAML)`,
        );
      const target = node.resolve(this.doc);
      if (target === undefined) return null;
      return this.value(target, depth + 1);
    }
    if (yamlLib().isSeq(node)) return node.items.map((item) => this.value(item as YamlNode, depth + 1));
    if (yamlLib().isMap(node)) {
      const out: Record<string, unknown> = {};
      const merges: YamlNode[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        if (yamlLib().isScalar(keyNode) && keyNode.value === "<<" && keyNode.type === "PLAIN") {
          merges.push(pair.value as YamlNode);
          continue;
        }
        const key = yamlLib().isScalar(keyNode)
          ? String(keyNode.value)
          : JSON.stringify(this.value(keyNode, depth + 1));
        setOwn(out, key, this.value(pair.value as YamlNode | null, depth + 1));
      }
      for (const m of merges) {
        const merged = this.value(m, depth + 1);
        for (const src of Array.isArray(merged) ? merged : [merged])
          if (src !== null && typeof src === "object" && !Array.isArray(src))
            for (const [k, v] of Object.entries(src)) if (!Object.hasOwn(out, k)) setOwn(out, k, v);
      }
      return out;
    }
    return null;
  }
}

/** Assigns without letting a `__proto__` key change the object's prototype. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

const YAML_OPTIONS = {
  version: "1.1" as const,
  merge: false,
  uniqueKeys: true,
  prettyErrors: false,
  strict: false,
  // sigs.k8s.io/yaml keeps timestamps as strings; drop the 1.1 timestamp tag so they stay strings.
  customTags: (tags: unknown[]) =>
    tags.filter((t) => (t as { tag?: string }).tag !== "tag:yaml.org,2002:timestamp") as never,
};

function locateIn(doc: Document.Parsed, lc: LineCounter, path: readonly (string | number)[]) {
  let node: YamlNode | null | undefined = doc.contents as YamlNode | null;
  let offset = node?.range?.[0] ?? doc.range[0];
  let guard = 0;
  for (const seg of path) {
    if (yamlLib().isAlias(node) && guard++ < 100) node = node.resolve(doc);
    if (yamlLib().isMap(node)) {
      const pair = node.items.find((p) => yamlLib().isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) break;
      const keyNode = pair.key as YamlNode;
      offset = keyNode.range?.[0] ?? offset;
      node = pair.value as YamlNode | null;
      if (node?.range !== undefined && typeof seg === "string") {
        // Point at the key for scalars on the same line; the value's own position is used for the
        // next path segment.
      }
    } else if (yamlLib().isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as YamlNode | undefined;
      if (item === undefined) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else break;
  }
  const pos = lc.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** Maps offsets to 1-based lines and columns; the line table is built on first use. */
class LineIndex {
  private starts: number[] | undefined;
  constructor(private readonly text: string) {}
  pos(offset: number): { line: number; column: number } {
    if (this.starts === undefined) {
      const starts = [0];
      for (let i = this.text.indexOf("\n"); i >= 0; i = this.text.indexOf("\n", i + 1)) starts.push(i + 1);
      this.starts = starts;
    }
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  }
}

/** Deepest nesting the fast path takes; deeper input goes to the careful path. */
const FAST_MAX_DEPTH = 200;
/** Most values one document may expand to through aliases. */
export const MAX_EXPANDED_VALUES = 1_000_000;

function documentsOf(
  stream: EventStream,
  pieceStart: number,
  lines: LineIndex,
  file: string,
  indexBase: number,
): LoadedDocument[] {
  return stream.documents.map((doc, i) => {
    const start = lines.pos(pieceStart + doc.offset);
    const findings: Finding[] = [];
    for (const d of doc.duplicates) {
      const p = lines.pos(pieceStart + d.offset);
      findings.push(
        finding("yaml-duplicate-key", `duplicate key ${JSON.stringify(d.key)}`, file, p.line, p.column),
      );
    }
    if (doc.limit !== undefined) {
      const p = lines.pos(pieceStart + doc.limit.offset);
      findings.push(finding("yaml-alias-limit", doc.limit.message, file, p.line, p.column));
    }
    return {
      file,
      index: indexBase + i,
      line: start.line,
      value: doc.value,
      empty: (doc.empty || doc.value === null) && findings.length === 0,
      findings,
      locate: (path) => lines.pos(pieceStart + locateOffset(stream, doc, path)),
    };
  });
}

/** Start offsets of the pieces of a stream, cut before each `---` document marker. */
function pieceStarts(text: string): number[] {
  const starts = [0];
  const re = /^---(?=[ \t\r\n]|$)/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) if (m.index > 0) starts.push(m.index);
  return starts;
}

class NeedsCarefulPath extends Error {}

/**
 * The event path: js-yaml's event parser over the whole stream; if that fails, over each `---`
 * piece on its own, so one broken document does not hide the others. A piece that fails becomes a
 * `yaml-syntax` finding with js-yaml's line and column.
 */
function eventLoad(text: string, file: string, maxAliasCount: number): LoadedDocument[] {
  const limits = { maxAliases: maxAliasCount, maxNodes: MAX_EXPANDED_VALUES, maxDepth: FAST_MAX_DEPTH };
  const lines = new LineIndex(text);
  try {
    return documentsOf(parseStream(text, limits), 0, lines, file, 0);
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
  }
  if (/^%/m.test(text)) throw new NeedsCarefulPath();
  const starts = pieceStarts(text);
  const out: LoadedDocument[] = [];
  starts.forEach((pieceStart, k) => {
    const piece = text.slice(pieceStart, starts[k + 1] ?? text.length);
    try {
      out.push(...documentsOf(parseStream(piece, limits), pieceStart, lines, file, out.length));
    } catch (err) {
      if (!(err instanceof YAMLException) || /maxDepth/.test(err.reason)) throw new NeedsCarefulPath();
      const at = lines.pos(pieceStart + (err.mark?.position ?? 0));
      const docStart = lines.pos(pieceStart + (piece.startsWith("---") ? 4 : 0));
      out.push({
        file,
        index: out.length,
        line: docStart.line,
        value: undefined,
        empty: false,
        findings: [finding("yaml-syntax", `YAML syntax error: ${err.reason}`, file, at.line, at.column)],
        locate: () => at,
      });
    }
  });
  return out;
}

/**
 * The usual path: each `---` segment through the line parser (yaml-fast.ts); a segment it does not
 * handle goes through js-yaml's event parser, and one that does not parse becomes a `yaml-syntax`
 * finding. Returns undefined when a segment needs the careful path (very deep nesting).
 */
function segmentedLoad(
  text: string,
  file: string,
  segments: Segment[],
  maxAliasCount: number,
): LoadedDocument[] | undefined {
  const lines = new LineIndex(text);
  const eventLimits = { maxAliases: maxAliasCount, maxNodes: MAX_EXPANDED_VALUES, maxDepth: FAST_MAX_DEPTH };
  const out: LoadedDocument[] = [];
  const clean = isCleanText(text);
  for (const seg of segments) {
    if (!seg.marked && !seg.hasContent) continue;
    const fast = parseSegment(text, seg, undefined, clean);
    if (fast !== undefined) {
      let stream: EventStream | undefined;
      const line = seg.firstLine + 1;
      const locate = (path: readonly (string | number)[]) => {
        // Positions are recorded by parsing this document again, only when a finding needs one.
        const offset = locateFast(text, seg, path);
        if (offset !== undefined) return lines.pos(offset);
        try {
          stream ??= parseStream(text.slice(seg.start, seg.end), { ...eventLimits, maxAliases: 10_000 });
        } catch {
          return { line, column: 1 };
        }
        const doc = stream.documents[0];
        return doc === undefined
          ? { line, column: 1 }
          : lines.pos(seg.start + locateOffset(stream, doc, path));
      };
      out.push({
        file,
        index: out.length,
        line,
        value: fast.value,
        empty: fast.value === null,
        findings: [],
        locate,
      });
      continue;
    }
    const piece = text.slice(seg.start, seg.end);
    try {
      const docs = documentsOf(parseStream(piece, eventLimits), seg.start, lines, file, out.length);
      out.push(...docs);
    } catch (err) {
      if (!(err instanceof YAMLException) || /maxDepth/.test(err.reason)) return undefined;
      const at = lines.pos(seg.start + (err.mark?.position ?? 0));
      out.push({
        file,
        index: out.length,
        line: seg.firstLine + 1,
        value: undefined,
        empty: false,
        findings: [finding("yaml-syntax", `YAML syntax error: ${err.reason}`, file, at.line, at.column)],
        locate: () => at,
      });
    }
  }
  return out;
}

/** Parses a YAML stream (one file or stdin) into documents. Never throws on bad input. */
export function loadDocuments(text: string, file: string, limits: LoadLimits = {}): LoadedDocument[] {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (text.length > maxBytes || Buffer.byteLength(text) > maxBytes) return carefulLoad(text, file, limits);
  const segments = limits.lineParser === false ? undefined : splitSegments(text);
  if (segments !== undefined) {
    const docs = segmentedLoad(text, file, segments, limits.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT);
    if (docs !== undefined && docs.length <= (limits.maxDocuments ?? DEFAULT_MAX_DOCUMENTS)) return docs;
    if (docs !== undefined) return carefulLoad(text, file, limits);
  }
  try {
    const docs = eventLoad(text, file, limits.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT);
    if (docs.length <= (limits.maxDocuments ?? DEFAULT_MAX_DOCUMENTS)) return docs;
  } catch {
    // Deep nesting, directives or anything unusual: the careful path handles it.
  }
  return carefulLoad(text, file, limits);
}

/** The careful path: the `yaml` package, with per-document errors and positions. */
function carefulLoad(text: string, file: string, limits: LoadLimits): LoadedDocument[] {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const refuse = (rule: string, message: string, line?: number, column?: number): LoadedDocument[] => [
    {
      file,
      index: 0,
      line: line ?? 1,
      value: undefined,
      empty: false,
      findings: [finding(rule, message, file, line ?? 1, column)],
      locate: () => ({ line: line ?? 1, column: column ?? 1 }),
    },
  ];
  if (text.length > maxBytes || Buffer.byteLength(text) > maxBytes)
    return refuse("yaml-too-large", `input is larger than ${maxBytes} bytes`);
  const nesting = checkNesting(text);
  if (nesting !== undefined) return refuse("yaml-too-large", `input refused: ${nesting}`);

  const lc = new (yamlLib().LineCounter)();
  let docs;
  try {
    docs = yamlLib().parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter: lc });
  } catch (err) {
    return refuse("yaml-syntax", `could not parse YAML: ${(err as Error).message}`);
  }
  if (!Array.isArray(docs)) return [];
  const maxDocuments = limits.maxDocuments ?? DEFAULT_MAX_DOCUMENTS;
  if (docs.length > maxDocuments)
    return refuse("yaml-too-large", `more than ${maxDocuments} YAML documents in one input`);
  const maxAliasCount = limits.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT;
  const out: LoadedDocument[] = [];
  docs.forEach((doc, index) => {
    const startPos = lc.linePos(doc.contents?.range?.[0] ?? doc.range[0]);
    const findings: Finding[] = [];
    for (const e of doc.errors) {
      const pos = lc.linePos(e.pos[0]);
      const rule = e.code === "DUPLICATE_KEY" ? "yaml-duplicate-key" : "yaml-syntax";
      const msg =
        rule === "yaml-duplicate-key"
          ? `duplicate key ${JSON.stringify(text.slice(e.pos[0], Math.min(e.pos[1], e.pos[0] + 80)).trim())}`
          : (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+.*$/, "");
      findings.push(finding(rule, msg, file, pos.line, pos.col));
    }
    let value: unknown = undefined;
    let empty = false;
    if (findings.every((f) => f.rule === "yaml-duplicate-key")) {
      try {
        value = new Converter(doc, maxAliasCount).value(doc.contents as YamlNode | null, 0);
        empty = value === null || value === undefined;
      } catch (err) {
        if (err instanceof LimitError)
          findings.push(finding(err.rule, err.message, file, startPos.line, startPos.col));
        else if (err instanceof RangeError)
          findings.push(
            finding("yaml-too-large", "input is nested too deeply to process", file, startPos.line),
          );
        else
          findings.push(
            finding("yaml-syntax", `could not read document: ${(err as Error).message}`, file, startPos.line),
          );
        value = undefined;
      }
    }
    out.push({
      file,
      index,
      line: startPos.line,
      value,
      empty: empty && findings.length === 0,
      findings,
      locate: (path) => locateIn(doc as Document.Parsed<ParsedNode>, lc, path),
    });
  });
  return out;
}
