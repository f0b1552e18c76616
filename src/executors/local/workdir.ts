/**
 * Per-attempt work directories: created fresh (mode 0700, owned by the attempt's uid), filled with
 * the spec's input files, removed after the attempt. Input paths are checked before anything is
 * written: relative, no `.`/`..`/empty segments, no NUL, bounded length; files are created with
 * O_EXCL|O_NOFOLLOW and parent directories are checked with lstat, so no path can leave the
 * directory or go through a symlink.
 */

import { constants as fsConstants } from "node:fs";
import { chown, lstat, mkdir, open, rm } from "node:fs/promises";
import path from "node:path";
import type { InputFile } from "../../core/workload.ts";

export const MAX_INPUT_PATH_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;

export class InputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputFileError";
  }
}

/** Splits a relative input path into safe segments, or throws InputFileError explaining why not. */
export function inputPathSegments(p: string): string[] {
  const shown = JSON.stringify(p.length > 80 ? `${p.slice(0, 80)}…` : p);
  if (typeof p !== "string" || p.length === 0) throw new InputFileError("input file path is empty");
  if (Buffer.byteLength(p) > MAX_INPUT_PATH_BYTES) {
    throw new InputFileError(`input file path ${shown} is longer than ${MAX_INPUT_PATH_BYTES} bytes`);
  }
  if (p.includes("\0")) throw new InputFileError(`input file path ${shown} contains a NUL byte`);
  if (p.startsWith("/")) throw new InputFileError(`input file path ${shown} is absolute`);
  const segments = p.split("/");
  for (const seg of segments) {
    if (seg === "" || seg === ".") {
      throw new InputFileError(`input file path ${shown} has an empty or "." segment`);
    }
    if (seg === "..") throw new InputFileError(`input file path ${shown} contains ".."`);
    if (Buffer.byteLength(seg) > MAX_SEGMENT_BYTES) {
      throw new InputFileError(
        `input file path ${shown} has a segment longer than ${MAX_SEGMENT_BYTES} bytes`,
      );
    }
  }
  return segments;
}

/** Checks every path of `files` (and that none repeats or nests under another file) without writing. */
export function checkInputFiles(files: readonly InputFile[]): void {
  const seen = new Set<string>();
  const dirs = new Set<string>();
  for (const f of files) {
    const segs = inputPathSegments(f.path);
    const key = segs.join("/");
    if (seen.has(key) || dirs.has(key))
      throw new InputFileError(`input file path ${JSON.stringify(f.path)} is given twice`);
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join("/");
      if (seen.has(dir)) {
        throw new InputFileError(
          `input file path ${JSON.stringify(f.path)} lies under the file ${JSON.stringify(dir)}`,
        );
      }
      dirs.add(dir);
    }
    seen.add(key);
    if (f.encoding !== undefined && f.encoding !== "utf8" && f.encoding !== "base64") {
      throw new InputFileError(`input file ${JSON.stringify(f.path)} has an unknown encoding`);
    }
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

/** Creates `dir` (must not exist) as a private directory of `owner`. */
export async function createWorkDir(dir: string, owner: Owner | null): Promise<void> {
  await mkdir(dir, { mode: 0o700 });
  if (owner) await chown(dir, owner.uid, owner.gid);
}

/** Writes the input files into a fresh work directory. Call `checkInputFiles` first. */
export async function writeInputFiles(
  dir: string,
  files: readonly InputFile[],
  owner: Owner | null,
): Promise<void> {
  for (const f of files) {
    const segs = inputPathSegments(f.path);
    let parent = dir;
    for (const seg of segs.slice(0, -1)) {
      parent = path.join(parent, seg);
      const st = await lstat(parent).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return null;
        throw err;
      });
      if (st === null) {
        await mkdir(parent, { mode: 0o755 });
        if (owner) await chown(parent, owner.uid, owner.gid);
      } else if (!st.isDirectory() || st.isSymbolicLink()) {
        throw new InputFileError(`input file path ${JSON.stringify(f.path)}: ${seg} is not a directory`);
      }
    }
    const target = path.join(parent, segs[segs.length - 1] as string);
    const mode = f.executable ? 0o755 : 0o644;
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    const handle = await open(target, flags, mode);
    try {
      await handle.writeFile(Buffer.from(f.content, f.encoding === "base64" ? "base64" : "utf8"));
      await handle.chmod(mode);
      if (owner) await handle.chown(owner.uid, owner.gid);
    } finally {
      await handle.close();
    }
  }
}

/** Removes a work directory and everything in it (symlinks inside are removed, not followed). */
export async function removeWorkDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
