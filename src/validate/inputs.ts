/**
 * Turns command-line operands into the list of inputs to read: files, directories (walked
 * recursively for `*.yaml`, `*.yml` and `*.json`), glob patterns (`*`, `**`, `?`, `[...]`) and `-`
 * for standard input.
 */
import { readdirSync, statSync } from "node:fs";
import { join, sep } from "node:path";

export class InputError extends Error {
  override name = "InputError";
}

const MANIFEST = /\.(ya?ml|json)$/i;

function walk(dir: string, out: string[], onlyYaml: boolean): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new InputError(`cannot read directory ${dir}: ${(err as Error).message}`);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      walk(path, out, onlyYaml);
    } else if (e.isFile() && (onlyYaml ? /\.ya?ml$/i : MANIFEST).test(e.name)) out.push(path);
  }
}

export function globToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        const body = pattern
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

const isGlob = (s: string) => /[*?[]/.test(s);

/** Expands operands into an ordered, de-duplicated list of files (`-` stays as is). */
export function collectInputs(operands: readonly string[], opts: { onlyYaml?: boolean } = {}): string[] {
  const out: string[] = [];
  for (const op of operands) {
    if (op === "-") {
      out.push("-");
      continue;
    }
    if (isGlob(op)) {
      const parts = op.split("/");
      const firstGlob = parts.findIndex(isGlob);
      const base = parts.slice(0, firstGlob).join("/") || (op.startsWith("/") ? "/" : ".");
      const re = globToRegExp(op.startsWith("./") ? op.slice(2) : op);
      const files: string[] = [];
      try {
        walk(base, files, false);
      } catch {
        // a glob whose base does not exist matches nothing
      }
      const matched = files.filter((f) => re.test(f.split(sep).join("/").replace(/^\.\//, "")));
      if (matched.length === 0) throw new InputError(`no files match ${op}`);
      out.push(...matched);
      continue;
    }
    let st;
    try {
      st = statSync(op);
    } catch {
      throw new InputError(`${op}: no such file or directory`);
    }
    if (st.isDirectory()) walk(op, out, opts.onlyYaml === true);
    else out.push(op);
  }
  return [...new Set(out)];
}
