/**
 * How kubectl reads an untagged plain YAML scalar: sigs.k8s.io/yaml decodes with go-yaml v2
 * (`resolve()` in go.yaml.in/yaml/v2 resolve.go), i.e. YAML 1.1 booleans (y, yes, on, …), `~`/null,
 * Go's ParseInt with base prefixes (0x, 0o, 0b, leading 0 = octal, underscores dropped), YAML-style
 * floats, and timestamps kept as strings. Both YAML paths of the loader use this one function, so
 * they agree with each other and with kubectl.
 */

const CONSTANTS = new Map<string, unknown>([
  ...["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"].map((s) => [s, true] as const),
  ...["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"].map(
    (s) => [s, false] as const,
  ),
  ...["", "~", "null", "Null", "NULL"].map((s) => [s, null] as const),
  ...[".nan", ".NaN", ".NAN"].map((s) => [s, NaN] as const),
  ...[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].map((s) => [s, Infinity] as const),
  ...["-.inf", "-.Inf", "-.INF"].map((s) => [s, -Infinity] as const),
]);

/** First letters of the YAML 1.1 constants (y, yes, n, no, true, false, on, off, null). */
const MAY_BE_CONSTANT: boolean[] = [];
for (const ch of "yYnNtTfFoO") MAY_BE_CONSTANT[ch.charCodeAt(0)] = true;

const GO_INT = /^([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|0([0-7]*)|([1-9][0-9]*))$/;
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const GO_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?(inf|infinity|nan)$/i;

function goInt(s: string): number | undefined {
  const m = GO_INT.exec(s);
  if (m === null) return undefined;
  const sign = m[1] === "-" ? -1 : 1;
  let v: number;
  if (m[2] !== undefined) v = parseInt(m[2], 16);
  else if (m[3] !== undefined) v = parseInt(m[3], 8);
  else if (m[4] !== undefined) v = parseInt(m[4], 2);
  else if (m[5] !== undefined) v = m[5] === "" ? 0 : parseInt(m[5], 8);
  else v = parseInt(m[6]!, 10);
  return sign * v;
}

/** The value of an untagged plain scalar. */
export function resolvePlain(s: string): unknown {
  const c0 = s.charCodeAt(0);
  // Most scalars (names, images, keys) start with a letter no constant starts with: done.
  if (((c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90)) && !MAY_BE_CONSTANT[c0]) return s;
  const known = CONSTANTS.get(s);
  if (known !== undefined || CONSTANTS.has(s)) return known;
  const c = s.charCodeAt(0);
  const isDigit = c >= 48 && c <= 57;
  if (c === 46 /* . */) {
    return GO_FLOAT.test(s) ? Number(s) : s;
  }
  if (!isDigit && c !== 43 && c !== 45) return s;
  const plain = s.includes("_") ? s.replace(/_/g, "") : s;
  const i = goInt(plain);
  if (i !== undefined) return i;
  if (YAML_FLOAT.test(plain)) return Number(plain);
  return s;
}

/** The value of a scalar with an explicit core tag (`!!str`, `!!int`, …); undefined if the tag is not one. */
export function resolveTagged(tag: string, s: string): { value: unknown } | undefined {
  switch (tag) {
    case "!!str":
    case "tag:yaml.org,2002:str":
    case "!!binary":
    case "tag:yaml.org,2002:binary":
    case "!!timestamp":
    case "tag:yaml.org,2002:timestamp":
      return { value: s };
    case "!!int":
    case "tag:yaml.org,2002:int":
    case "!!float":
    case "tag:yaml.org,2002:float": {
      const v = resolvePlain(s);
      return { value: typeof v === "number" ? v : s };
    }
    case "!!bool":
    case "tag:yaml.org,2002:bool": {
      const v = resolvePlain(s);
      return { value: typeof v === "boolean" ? v : s };
    }
    case "!!null":
    case "tag:yaml.org,2002:null":
      return { value: null };
    default:
      return undefined;
  }
}
