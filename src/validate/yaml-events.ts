/**
 * The fast YAML path: js-yaml's event parser (a flat list of events pointing into the text, no
 * syntax tree) and a small constructor that builds plain values from the events the way kubectl
 * reads YAML (see yaml-scalars.ts), detects duplicate keys, expands `<<` merges, and bounds alias
 * expansion. Positions are recovered from the same events when a finding needs one.
 *
 * Any syntax error throws; the caller then falls back to the `yaml` package, whose per-document
 * error reporting is better. Valid input never needs that path.
 */
import { EVENT_ID, getScalarValue, parseEvents } from "js-yaml";
import type { Event, ScalarEvent } from "js-yaml";
import { resolvePlain, resolveTagged } from "./yaml-scalars.ts";

const { DOCUMENT, SEQUENCE, MAPPING, SCALAR, ALIAS, POP } = EVENT_ID;
const PLAIN = 1;

export class ExpansionLimitError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface EventDocument {
  /** Index of this document's DOCUMENT event and of the event after its last one. */
  first: number;
  end: number;
  value: unknown;
  empty: boolean;
  /** Offset of the document's first node (or of the previous document's end for an empty one). */
  offset: number;
  /** Duplicate keys: their text and offset. */
  duplicates: { key: string; offset: number }[];
  /** Set when the document was refused (alias expansion limit). */
  limit?: { message: string; offset: number };
}

export interface EventStream {
  text: string;
  events: Event[];
  documents: EventDocument[];
}

function startOf(e: Event): number {
  switch (e.type) {
    case SCALAR: {
      const se = e as ScalarEvent;
      // Point at the opening quote of a quoted scalar, not inside it.
      const value = se.style === 2 || se.style === 3 ? se.valueStart - 1 : se.valueStart;
      return se.anchorStart >= 0 ? Math.min(se.anchorStart, value) : value;
    }
    case MAPPING:
    case SEQUENCE:
      return (e as { start: number }).start;
    case ALIAS:
      return (e as { anchorStart: number }).anchorStart - 1;
    default:
      return -1;
  }
}

/** Skips one node starting at events[i]; returns the index after it. */
export function skipNode(events: Event[], i: number): number {
  const t = events[i]!.type;
  if (t !== MAPPING && t !== SEQUENCE) return i + 1;
  let depth = 0;
  for (; i < events.length; i++) {
    const tt = events[i]!.type;
    if (tt === MAPPING || tt === SEQUENCE) depth++;
    else if (tt === POP && --depth === 0) return i + 1;
  }
  return i;
}

class Builder {
  readonly anchors = new Map<string, { value: unknown; size: number }>();
  duplicates: { key: string; offset: number }[] = [];
  nodes = 0;
  aliases = 0;
  constructor(
    private readonly text: string,
    private readonly events: Event[],
    private readonly maxAliases: number,
    private readonly maxNodes: number,
  ) {}

  scalar(e: ScalarEvent): unknown {
    const raw = e.fast ? this.text.slice(e.valueStart, e.valueEnd) : getScalarValue(this.text, e);
    if (e.tagStart >= 0) {
      const tagged = resolveTagged(this.text.slice(e.tagStart, e.tagEnd), raw);
      if (tagged !== undefined) return tagged.value;
    }
    return e.style === PLAIN ? resolvePlain(raw) : raw;
  }

  /** Builds the node at events[i]; returns its value and the index after it. */
  node(i: number): [unknown, number] {
    const e = this.events[i]!;
    this.nodes++;
    if (this.nodes > this.maxNodes)
      throw new ExpansionLimitError(`more than ${this.maxNodes} values in one document`, startOf(e));
    let value: unknown;
    let next: number;
    const startNodes = this.nodes;
    switch (e.type) {
      case SCALAR:
        value = this.scalar(e as ScalarEvent);
        next = i + 1;
        break;
      case ALIAS: {
        const a = e as { anchorStart: number; anchorEnd: number };
        const name = this.text.slice(a.anchorStart, a.anchorEnd);
        const target = this.anchors.get(name);
        this.aliases++;
        if (this.aliases > this.maxAliases)
          throw new ExpansionLimitError(
            `more than ${this.maxAliases} aliases in one document`,
            a.anchorStart,
          );
        if (target === undefined)
          throw new ExpansionLimitError(`alias *${name} refers to no anchor`, a.anchorStart);
        // An alias stands for a copy of its target: count the target's size so nested aliases
        // (a "billion laughs" bomb) hit the limit long before anything is expanded.
        this.nodes += target.size;
        if (this.nodes > this.maxNodes)
          throw new ExpansionLimitError(
            `aliases expand to more than ${this.maxNodes} values (an alias bomb?)`,
            a.anchorStart,
          );
        return [target.value, i + 1];
      }
      case SEQUENCE: {
        const arr: unknown[] = [];
        let j = i + 1;
        while (this.events[j]!.type !== POP) {
          const [v, n] = this.node(j);
          arr.push(v);
          j = n;
        }
        value = arr;
        next = j + 1;
        break;
      }
      case MAPPING: {
        const obj: Record<string, unknown> = {};
        let merges: unknown[] | undefined;
        let j = i + 1;
        while (this.events[j]!.type !== POP) {
          const keyEvent = this.events[j]!;
          if (
            keyEvent.type === SCALAR &&
            (keyEvent as ScalarEvent).style === PLAIN &&
            (keyEvent as ScalarEvent).tagStart < 0
          ) {
            const ke = keyEvent as ScalarEvent;
            if (ke.valueEnd - ke.valueStart === 2 && this.text.startsWith("<<", ke.valueStart)) {
              const [mv, n] = this.node(j + 1);
              (merges ??= []).push(mv);
              j = n;
              continue;
            }
          }
          const [k, afterKey] = this.node(j);
          const key =
            typeof k === "string" ? k : k !== null && typeof k === "object" ? JSON.stringify(k) : String(k);
          const [v, n] = this.node(afterKey);
          if (Object.hasOwn(obj, key)) this.duplicates.push({ key, offset: startOf(keyEvent) });
          if (key === "__proto__")
            Object.defineProperty(obj, key, {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          else obj[key] = v;
          j = n;
        }
        if (merges !== undefined)
          for (const m of merges)
            for (const src of Array.isArray(m) ? m : [m])
              if (src !== null && typeof src === "object" && !Array.isArray(src))
                for (const [k, v] of Object.entries(src)) if (!Object.hasOwn(obj, k)) obj[k] = v;
        value = obj;
        next = j + 1;
        break;
      }
      default:
        throw new Error(`unexpected YAML event ${e.type}`);
    }
    const anchorStart = (e as { anchorStart: number }).anchorStart;
    if (anchorStart >= 0) {
      const anchorEnd = (e as { anchorEnd: number }).anchorEnd;
      this.anchors.set(this.text.slice(anchorStart, anchorEnd), { value, size: this.nodes - startNodes + 1 });
    }
    return [value, next];
  }
}

export interface EventLimits {
  maxAliases: number;
  maxNodes: number;
  maxDepth: number;
}

/** Parses a YAML stream. Throws js-yaml's YAMLException on a syntax error anywhere in the text. */
export function parseStream(text: string, limits: EventLimits): EventStream {
  const events = parseEvents(text, { maxDepth: limits.maxDepth });
  const documents: EventDocument[] = [];
  let i = 0;
  let lastOffset = 0;
  while (i < events.length) {
    if (events[i]!.type !== DOCUMENT) {
      i++;
      continue;
    }
    const first = i;
    i++;
    if (i >= events.length || events[i]!.type === POP || events[i]!.type === DOCUMENT) {
      // Empty document.
      const end = i < events.length && events[i]!.type === POP ? i + 1 : i;
      documents.push({ first, end, value: null, empty: true, offset: lastOffset, duplicates: [] });
      i = end;
      continue;
    }
    const b = new Builder(text, events, limits.maxAliases, limits.maxNodes);
    const offset = startOf(events[i]!);
    let value: unknown;
    let limit: { message: string; offset: number } | undefined;
    let after: number;
    try {
      [value, after] = b.node(i);
    } catch (err) {
      if (!(err instanceof ExpansionLimitError)) throw err;
      limit = { message: err.message, offset: err.offset };
      value = undefined;
      after = skipNode(events, i);
    }
    const end = after < events.length && events[after]!.type === POP ? after + 1 : after;
    const doc: EventDocument = { first, end, value, empty: false, offset, duplicates: b.duplicates };
    if (limit !== undefined) doc.limit = limit;
    documents.push(doc);
    lastOffset = offset;
    i = end;
  }
  return { text, events, documents };
}

/** A mapping key as the constructor turns it into a property name. */
function keyText(text: string, e: ScalarEvent): string {
  const raw = getScalarValue(text, e);
  if (e.tagStart >= 0) {
    const tagged = resolveTagged(text.slice(e.tagStart, e.tagEnd), raw);
    if (tagged !== undefined) return String(tagged.value);
  }
  return e.style === PLAIN ? String(resolvePlain(raw)) : raw;
}

/** Offset of the node at `path` inside a document (or of its deepest existing ancestor). */
export function locateOffset(
  stream: EventStream,
  doc: EventDocument,
  path: readonly (string | number)[],
): number {
  const { events, text } = stream;
  let i = doc.first + 1;
  let offset = doc.offset;
  for (const seg of path) {
    const e = events[i];
    if (e === undefined) break;
    if (e.type === MAPPING) {
      let j = i + 1;
      let found = -1;
      while (j < events.length && events[j]!.type !== POP) {
        const k = events[j]!;
        const afterKey = skipNode(events, j);
        if (k.type === SCALAR && keyText(text, k as ScalarEvent) === String(seg)) {
          found = afterKey;
          offset = startOf(k);
          break;
        }
        j = skipNode(events, afterKey);
      }
      if (found < 0) break;
      i = found;
    } else if (e.type === SEQUENCE && typeof seg === "number") {
      let j = i + 1;
      for (let n = 0; n < seg && j < events.length && events[j]!.type !== POP; n++) j = skipNode(events, j);
      if (j >= events.length || events[j]!.type === POP) break;
      i = j;
      const s = startOf(events[j]!);
      if (s >= 0) offset = s;
    } else break;
  }
  return offset;
}
