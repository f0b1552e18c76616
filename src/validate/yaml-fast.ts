/**
 * The fastest YAML path: a line-oriented parser for the block-style subset nearly every Kubernetes
 * manifest is written in (block mappings and sequences, plain and single-line quoted scalars,
 * single-line flow collections, literal `|` block scalars, comments). It builds values directly,
 * with the same scalar rules as the other paths (yaml-scalars.ts).
 *
 * It is deliberately conservative: on anything outside that subset — anchors, aliases, tags, merge
 * keys, folded scalars, multi-line plain or quoted scalars or flow collections, duplicate keys,
 * tabs, CR line endings, control characters, directives — it returns undefined and the caller
 * uses js-yaml's event parser instead. A differential test checks that whenever this parser
 * returns a value, it equals what the event path builds.
 */
import { resolvePlain } from "./yaml-scalars.ts";

class Bail extends Error {}
const BAIL = new Bail();

export interface FastDocument {
  value: unknown;
  empty: boolean;
  /** Offsets of the document's text in the stream (for locating findings later). */
  start: number;
  end: number;
  /** 0-based line of the document's first significant line. */
  firstLine: number;
}

interface Line {
  /** Offset of the first character after the indentation. */
  at: number;
  end: number;
  indent: number;
  /** 0-based line number. */
  no: number;
}

const SPACE = 32;

function isBlankOrComment(text: string, at: number, end: number): boolean {
  return at >= end || text.charCodeAt(at) === 35;
}

/** Index of " #" (a comment start) in [at, end), or -1. */
function commentAt(text: string, at: number, end: number): number {
  for (let i = at + 1; i < end; i++)
    if (text.charCodeAt(i) === 35 && text.charCodeAt(i - 1) === SPACE) return i - 1;
  return -1;
}

/** Strips a trailing ` # comment` from [at, end) of plain text; returns the new end (trimmed). */
function stripComment(text: string, at: number, end: number): number {
  let e = end;
  const hash = commentAt(text, at, end);
  if (hash >= 0) e = hash;
  while (e > at && text.charCodeAt(e - 1) === SPACE) e--;
  return e;
}

const DQ_ESCAPES: Record<string, string> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  t: "\t",
  "\t": "\t",
  n: "\n",
  v: "\v",
  f: "\f",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\x85",
  _: "\xa0",
  L: "\u2028",
  P: "\u2029",
};

/** Parses a quoted scalar starting at `at`; returns [value, index after the closing quote]. */
function quoted(text: string, at: number, end: number): [string, number] {
  const q = text.charCodeAt(at);
  if (q === 39) {
    let out = "";
    let i = at + 1;
    while (true) {
      const j = text.indexOf("'", i);
      if (j < 0 || j >= end) throw BAIL;
      out += text.slice(i, j);
      if (text.charCodeAt(j + 1) === 39 && j + 1 < end) {
        out += "'";
        i = j + 2;
      } else return [out, j + 1];
    }
  }
  let out = "";
  let i = at + 1;
  while (true) {
    let j = i;
    while (j < end) {
      const c = text.charCodeAt(j);
      if (c === 34 || c === 92) break;
      j++;
    }
    if (j >= end) throw BAIL;
    out += text.slice(i, j);
    if (text.charCodeAt(j) === 34) return [out, j + 1];
    const esc = text[j + 1];
    if (esc === undefined || j + 1 >= end) throw BAIL;
    if (esc === "x" || esc === "u" || esc === "U") {
      const n = esc === "x" ? 2 : esc === "u" ? 4 : 8;
      const hex = text.slice(j + 2, j + 2 + n);
      if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) throw BAIL;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw BAIL;
      out += String.fromCodePoint(cp);
      i = j + 2 + n;
    } else {
      const r = DQ_ESCAPES[esc];
      if (r === undefined) throw BAIL;
      out += r;
      i = j + 2;
    }
  }
}

function afterValue(text: string, i: number, end: number): void {
  // Only spaces, then nothing or a comment, may follow a complete value on its line.
  while (i < end && text.charCodeAt(i) === SPACE) i++;
  if (i < end && !(text.charCodeAt(i) === 35 && text.charCodeAt(i - 1) === SPACE)) throw BAIL;
}

/** Flow collections (`[...]`, `{...}`) that open and close on one line. */
class FlowReader {
  i = 0;
  constructor(
    private readonly text: string,
    private readonly end: number,
    private readonly pos?: Positions,
  ) {}

  skip(): void {
    const t = this.text;
    while (this.i < this.end && t.charCodeAt(this.i) === SPACE) this.i++;
  }

  item(inKey: boolean): unknown {
    const t = this.text;
    this.skip();
    const c = t.charCodeAt(this.i);
    if (c === 91 || c === 123) return this.collection();
    if (c === 34 || c === 39) {
      const [v, n] = quoted(t, this.i, this.end);
      this.i = n;
      return v;
    }
    // A plain scalar in flow context; indicators that start anything else are not handled here.
    if (
      c === 38 ||
      c === 42 ||
      c === 33 ||
      c === 124 ||
      c === 62 ||
      c === 37 ||
      c === 64 ||
      c === 96 ||
      c === 35 ||
      c === 63
    )
      throw BAIL;
    const s = this.i;
    let i = this.i;
    while (i < this.end) {
      const d = t.charCodeAt(i);
      if (d === 44 || d === 93 || d === 125 || d === 91 || d === 123) break;
      if (d === 58) {
        const n = t.charCodeAt(i + 1);
        if (i + 1 >= this.end || n === SPACE || n === 44 || n === 93 || n === 125) break;
      }
      if (d === 35 && t.charCodeAt(i - 1) === SPACE) throw BAIL;
      i++;
    }
    this.i = i;
    let e = i;
    while (e > s && t.charCodeAt(e - 1) === SPACE) e--;
    if (e === s) {
      if (inKey) throw BAIL;
      return null;
    }
    return resolvePlain(t.slice(s, e));
  }

  /** The collection opening at `this.i`; leaves `this.i` after its closing bracket. */
  collection(): unknown {
    const t = this.text;
    const open = t.charCodeAt(this.i);
    const close = open === 91 ? 93 : 125;
    const isMap = open === 123;
    const arr: unknown[] = [];
    const obj: Record<string, unknown> = {};
    this.i++;
    this.skip();
    if (t.charCodeAt(this.i) === close) {
      this.i++;
      return isMap ? obj : arr;
    }
    while (true) {
      this.skip();
      if (this.i >= this.end) throw BAIL;
      if (isMap) {
        const keyAt = this.i;
        const keyStart = t.charCodeAt(this.i);
        const k = this.item(true);
        if (typeof k === "object" && k !== null) throw BAIL;
        this.skip();
        if (t.charCodeAt(this.i) !== 58) throw BAIL; // `{a}` or `{a, b}`: keys without values
        const after = t.charCodeAt(this.i + 1);
        if (keyStart !== 34 && keyStart !== 39 && !(after === SPACE || after === 44 || after === 125))
          throw BAIL;
        this.i++;
        this.skip();
        const c = t.charCodeAt(this.i);
        const v = c === 44 || c === 125 ? null : this.item(false);
        const key = String(k);
        if (Object.hasOwn(obj, key) || key === "<<" || key === "__proto__") throw BAIL;
        record(this.pos, obj, key, keyAt);
        obj[key] = v;
      } else {
        record(this.pos, arr, arr.length, this.i);
        const c0 = t.charCodeAt(this.i);
        if (c0 === 44 || c0 === close) throw BAIL; // `[a, , b]`: an empty entry is not YAML
        const v = this.item(false);
        this.skip();
        if (t.charCodeAt(this.i) === 58) throw BAIL; // a single-pair mapping inside a sequence
        arr.push(v);
      }
      this.skip();
      const c = t.charCodeAt(this.i);
      if (c === 44) {
        this.i++;
        this.skip();
        if (t.charCodeAt(this.i) === close) {
          this.i++;
          return isMap ? obj : arr;
        }
        continue;
      }
      if (c === close) {
        this.i++;
        return isMap ? obj : arr;
      }
      throw BAIL;
    }
  }
}

/** A flow collection starting at `at`; returns it and the index after it. */
function flow(text: string, at: number, end: number, pos?: Positions): [unknown, number] {
  const r = new FlowReader(text, end, pos);
  r.i = at;
  const v = r.collection();
  return [v, r.i];
}

/** Deeper documents take the general path, which has its own limits. */
const MAX_DEPTH = 100;

/** Offsets of keys and items, recorded only when positions are asked for (see `locateFast`). */
export type Positions = Map<object, Map<string | number, number>>;

function record(pos: Positions | undefined, container: object, key: string | number, offset: number): void {
  if (pos === undefined) return;
  let m = pos.get(container);
  if (m === undefined) pos.set(container, (m = new Map()));
  m.set(key, offset);
}

class Parser {
  i = 0;
  depth = 0;
  constructor(
    readonly text: string,
    readonly lines: Line[],
    readonly pos?: Positions,
  ) {}

  /** The next significant line, skipping blank and comment lines. */
  peek(): Line | undefined {
    while (this.i < this.lines.length) {
      const l = this.lines[this.i]!;
      if (!isBlankOrComment(this.text, l.at, l.end)) return l;
      this.i++;
    }
    return undefined;
  }

  /** A block node whose first line is `l`. */
  block(l: Line): unknown {
    const t = this.text;
    if (t.charCodeAt(l.at) === 45 && (l.at + 1 === l.end || t.charCodeAt(l.at + 1) === SPACE))
      return this.sequence(l.indent, l);
    return this.mapping(l.indent, l, l.at);
  }

  /** Where a `key:` entry's key ends (index of the ':'), or -1 if the line is not a mapping entry. */
  keyEnd(at: number, end: number): number {
    const t = this.text;
    const c = t.charCodeAt(at);
    if (c === 34 || c === 39) {
      const [, n] = quoted(t, at, end);
      let j = n;
      while (j < end && t.charCodeAt(j) === SPACE) j++;
      return t.charCodeAt(j) === 58 && (j + 1 === end || t.charCodeAt(j + 1) === SPACE) ? j : -1;
    }
    // Plain keys may not start with an indicator.
    if (
      c === 91 ||
      c === 123 ||
      c === 38 ||
      c === 42 ||
      c === 33 ||
      c === 124 ||
      c === 62 ||
      c === 37 ||
      c === 64 ||
      c === 96 ||
      c === 35 ||
      c === 63 ||
      c === 44 ||
      c === 93 ||
      c === 125
    )
      return -1;
    for (let j = at; j < end; j++) {
      const d = t.charCodeAt(j);
      if (d === 58) {
        if (j + 1 === end || t.charCodeAt(j + 1) === SPACE) return j;
      } else if (d === 35 && j > at && t.charCodeAt(j - 1) === SPACE) return -1;
    }
    return -1;
  }

  key(at: number, colon: number): string {
    const t = this.text;
    const c = t.charCodeAt(at);
    if (c === 34 || c === 39) return quoted(t, at, colon)[0];
    let e = colon;
    while (e > at && t.charCodeAt(e - 1) === SPACE) e--;
    const k = resolvePlain(t.slice(at, e));
    return typeof k === "string" ? k : String(k);
  }

  mapping(col: number, first: Line, firstAt: number): Record<string, unknown> {
    if (++this.depth > MAX_DEPTH) throw BAIL;
    try {
      return this.mappingInner(col, first, firstAt);
    } finally {
      this.depth--;
    }
  }

  mappingInner(col: number, first: Line, firstAt: number): Record<string, unknown> {
    const t = this.text;
    const obj: Record<string, unknown> = {};
    let l: Line | undefined = first;
    let at = firstAt;
    while (true) {
      const colon = this.keyEnd(at, l.end);
      if (colon < 0) throw BAIL;
      const key = this.key(at, colon);
      if (key === "<<" || key === "__proto__" || Object.hasOwn(obj, key)) throw BAIL;
      record(this.pos, obj, key, at);
      this.i++;
      obj[key] = this.value(col, colon + 1, l);
      l = this.peek();
      if (l === undefined || l.indent < col) return obj;
      if (l.indent > col) throw BAIL;
      at = l.at;
      if (t.charCodeAt(at) === 45 && (at + 1 === l.end || t.charCodeAt(at + 1) === SPACE)) throw BAIL;
    }
  }

  sequence(col: number, first: Line): unknown[] {
    if (++this.depth > MAX_DEPTH) throw BAIL;
    try {
      return this.sequenceInner(col, first);
    } finally {
      this.depth--;
    }
  }

  sequenceInner(col: number, first: Line): unknown[] {
    const t = this.text;
    const arr: unknown[] = [];
    let l: Line | undefined = first;
    let dash = first.at;
    while (true) {
      // Item content after "- ".
      let c = dash + 1;
      while (c < l.end && t.charCodeAt(c) === SPACE) c++;
      if (c >= l.end || (t.charCodeAt(c) === 35 && t.charCodeAt(c - 1) === SPACE)) {
        this.i++;
        if (this.pos !== undefined) {
          const next = this.peek();
          record(this.pos, arr, arr.length, next !== undefined && next.indent > col ? next.at : dash);
        }
        arr.push(this.nested(col, false));
      } else if (t.charCodeAt(c) === 45 && (c + 1 === l.end || t.charCodeAt(c + 1) === SPACE)) {
        throw BAIL; // "- - x"
      } else if ((record(this.pos, arr, arr.length, c), this.keyEnd(c, l.end) >= 0)) {
        // A compact mapping: "- key: value" continues on lines indented to `c`.
        arr.push(this.mapping(c - l.at + l.indent, l, c));
      } else {
        this.i++;
        arr.push(this.inline(col, c, l));
      }
      l = this.peek();
      if (l === undefined || l.indent < col) return arr;
      if (l.indent > col) throw BAIL;
      dash = l.at;
      if (!(t.charCodeAt(dash) === 45 && (dash + 1 === l.end || t.charCodeAt(dash + 1) === SPACE))) {
        return arr; // back to a mapping at the same indent (an indentless sequence ended)
      }
    }
  }

  /** The node on the lines after a `key:` or `-` with nothing inline; null if there is none. */
  nested(parentCol: number, allowIndentless: boolean): unknown {
    const l = this.peek();
    if (l === undefined) return null;
    if (l.indent > parentCol) return this.block(l);
    if (
      allowIndentless &&
      l.indent === parentCol &&
      this.text.charCodeAt(l.at) === 45 &&
      (l.at + 1 === l.end || this.text.charCodeAt(l.at + 1) === SPACE)
    )
      return this.sequence(l.indent, l);
    return null;
  }

  /** The value after `key:` (position `from` is just after the colon). */
  value(col: number, from: number, l: Line): unknown {
    const t = this.text;
    let c = from;
    while (c < l.end && t.charCodeAt(c) === SPACE) c++;
    if (c >= l.end || (t.charCodeAt(c) === 35 && c > from)) return this.nested(col, true);
    return this.inline(col, c, l);
  }

  /** A value written on the line (its first line for block scalars). The line is already consumed. */
  inline(col: number, c: number, l: Line): unknown {
    const t = this.text;
    const ch = t.charCodeAt(c);
    if (ch === 34 || ch === 39) {
      const [v, n] = quoted(t, c, l.end);
      afterValue(t, n, l.end);
      return v;
    }
    if (ch === 91 || ch === 123) {
      const [v, n] = flow(t, c, l.end, this.pos);
      afterValue(t, n, l.end);
      return v;
    }
    if (ch === 124) return this.literal(col, c, l);
    if (
      ch === 62 ||
      ch === 38 ||
      ch === 42 ||
      ch === 33 ||
      ch === 37 ||
      ch === 64 ||
      ch === 96 ||
      ch === 63 ||
      ch === 44 ||
      ch === 93 ||
      ch === 125
    )
      throw BAIL;
    if (ch === 45 && (c + 1 === l.end || t.charCodeAt(c + 1) === SPACE)) throw BAIL;
    const e = stripComment(t, c, l.end);
    const s = t.slice(c, e);
    if (s.includes(": ") || s.endsWith(":")) throw BAIL;
    // A more-indented line after a plain scalar would continue it (a multi-line scalar).
    const next = this.peek();
    if (next !== undefined && next.indent > col) throw BAIL;
    return resolvePlain(s);
  }

  /** A literal block scalar `|`, `|-` or `|+`; content lines are taken raw. */
  literal(col: number, c: number, l: Line): string {
    const t = this.text;
    let h = c + 1;
    let chomp = "clip";
    if (t.charCodeAt(h) === 45) {
      chomp = "strip";
      h++;
    } else if (t.charCodeAt(h) === 43) {
      chomp = "keep";
      h++;
    }
    afterValue(t, h, l.end);
    // Raw lines follow; blank lines count, comments do not end the scalar.
    let contentIndent = -1;
    const parts: string[] = [];
    let trailing = 0;
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      const blank = line.at >= line.end;
      if (blank) {
        if (contentIndent < 0 && line.indent > col + 0 && line.indent > 0) {
          // A leading blank line with spaces: fine unless it is deeper than the content turns out to be.
          parts.push("\u0000" + String(line.indent));
        } else parts.push("");
        this.i++;
        trailing++;
        continue;
      }
      if (contentIndent < 0) {
        if (line.indent <= col) break;
        contentIndent = line.indent;
      }
      if (line.indent < contentIndent) break;
      parts.push(t.slice(line.at - (line.indent - contentIndent), line.end));
      trailing = 0;
      this.i++;
    }
    if (contentIndent < 0) {
      // No content lines: the value is empty (keep keeps the line breaks).
      this.i -= trailing;
      return "";
    }
    // Leading blank lines deeper than the content indentation are an error in YAML; leave them to js-yaml.
    for (const p of parts) if (p.startsWith("\u0000") && Number(p.slice(1)) > contentIndent) throw BAIL;
    const clean = parts.map((p) => (p.startsWith("\u0000") ? "" : p));
    // Trailing blank lines belong to the scalar only for chomping; give them back to the stream.
    const body = clean.slice(0, clean.length - trailing);
    this.i -= trailing;
    let s = body.join("\n");
    if (chomp === "clip") s += "\n";
    else if (chomp === "keep") s += "\n" + "\n".repeat(trailing);
    return s;
  }
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const UNSUPPORTED = /[\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]|^(%|\.\.\.)/m;

/** Whether the whole stream is free of what the line parser never handles (one scan for all segments). */
export function isCleanText(text: string): boolean {
  return !UNSUPPORTED.test(text);
}

/** One `---`-separated piece of a stream. */
export interface Segment {
  start: number;
  end: number;
  /** Whether a `---` marker opened it (the part before the first marker is not a document unless it has content). */
  marked: boolean;
  lines: Line[];
  /** 0-based line of the first significant line (or of the segment's start). */
  firstLine: number;
  hasContent: boolean;
}

/**
 * Cuts a stream into segments at `---` lines. Returns undefined for streams whose markers carry
 * content (`--- |`, `--- {}`) or that use directives; those take the general path whole.
 */
export function splitSegments(text: string): Segment[] | undefined {
  const segments: Segment[] = [];
  let cur: Segment = { lines: [], start: 0, end: 0, marked: false, firstLine: -1, hasContent: false };
  let lineNo = 0;
  let pos = 0;
  while (true) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    const c0 = text.charCodeAt(pos);
    if (
      c0 === 45 &&
      text.startsWith("---", pos) &&
      (nl === pos + 3 ||
        text.charCodeAt(pos + 3) === SPACE ||
        text.charCodeAt(pos + 3) === 13 ||
        text.charCodeAt(pos + 3) === 9)
    ) {
      let k = pos + 3;
      while (
        k < nl &&
        (text.charCodeAt(k) === SPACE || text.charCodeAt(k) === 13 || text.charCodeAt(k) === 9)
      )
        k++;
      if (k < nl && text.charCodeAt(k) !== 35) return undefined; // content after "---"
      cur.end = pos;
      segments.push(cur);
      cur = {
        lines: [],
        start: Math.min(nl + 1, text.length),
        end: 0,
        marked: true,
        firstLine: lineNo + 1,
        hasContent: false,
      };
    } else if (c0 === 37 /* % */) {
      return undefined;
    } else {
      let at = pos;
      while (at < nl && text.charCodeAt(at) === SPACE) at++;
      if (at < nl && text.charCodeAt(at) !== 35) {
        if (!cur.hasContent) cur.firstLine = lineNo;
        cur.hasContent = true;
      }
      cur.lines.push({ at, end: nl, indent: at - pos, no: lineNo });
    }
    lineNo++;
    if (nl >= text.length) break;
    pos = nl + 1;
  }
  cur.end = text.length;
  segments.push(cur);
  for (const seg of segments) if (seg.firstLine < 0) seg.firstLine = 0;
  return segments;
}

/**
 * Parses one segment. Returns `{ value }`, or undefined when the segment uses anything this parser
 * does not handle (the caller then parses it with js-yaml's event parser).
 */
export function parseSegment(
  text: string,
  seg: Segment,
  pos?: Positions,
  textIsClean = false,
): { value: unknown } | undefined {
  if (!seg.hasContent) return { value: null };
  if (
    !textIsClean &&
    UNSUPPORTED.test(seg.end - seg.start < text.length ? text.slice(seg.start, seg.end) : text)
  )
    return undefined;
  const p = new Parser(text, seg.lines, pos);
  const first = p.peek();
  if (first === undefined) return { value: null };
  try {
    const value = p.block(first);
    if (p.peek() !== undefined) return undefined;
    return { value };
  } catch (err) {
    if (err === BAIL) return undefined;
    // A stack overflow on absurd nesting, or anything unforeseen: let the general path decide.
    return undefined;
  }
}

/**
 * Offset of the node at `path` in a segment the line parser handles: the segment is parsed again,
 * this time recording positions (done only for documents with findings). Mapping entries point at
 * their key, sequence items at the item. Undefined if the segment cannot be parsed this way.
 */
export function locateFast(
  text: string,
  seg: Segment,
  path: readonly (string | number)[],
): number | undefined {
  const pos: Positions = new Map();
  const parsed = parseSegment(text, seg, pos);
  if (parsed === undefined) return undefined;
  const first = seg.lines.find((l) => l.at < l.end && text.charCodeAt(l.at) !== 35);
  let offset = first?.at ?? seg.start;
  let cur: unknown = parsed.value;
  for (const step of path) {
    if (typeof cur !== "object" || cur === null) break;
    const at = pos.get(cur)?.get(Array.isArray(cur) ? Number(step) : String(step));
    if (at === undefined) break;
    offset = at;
    cur = (cur as Record<string | number, unknown>)[step];
  }
  return offset;
}

/** Convenience for tests: all documents of a stream, or undefined if any segment needs the general path. */
export function parseFast(text: string): FastDocument[] | undefined {
  const segs = splitSegments(text);
  if (segs === undefined) return undefined;
  const docs: FastDocument[] = [];
  for (const seg of segs) {
    if (!seg.marked && !seg.hasContent) continue;
    const r = parseSegment(text, seg);
    if (r === undefined) return undefined;
    docs.push({
      value: r.value,
      empty: !seg.hasContent,
      start: seg.start,
      end: seg.end,
      firstLine: seg.firstLine,
    });
  }
  return docs;
}
