/**
 * The embedded database may be opened by one process only (PGlite has no locking of its own, and
 * two writers would corrupt it). A pid file in the data directory guards it; a pid file left by a
 * killed process is taken over.
 */

import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GantryError } from "../core/errors.ts";

export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, "gantry.pid");
  for (let tries = 0; tries < 3; tries++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return async () => {
        const owner = await readFile(path, "utf8").catch(() => "");
        if (owner.trim() === String(process.pid)) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new GantryError("GANTRY_ERR_CONFIG", [
        `data directory ${dataDir} is in use by another Gantry (pid ${pid}); stop it, or set GANTRY_DATA_DIR to another directory`,
      ]);
    }
    await rm(path, { force: true });
  }
  throw new GantryError("GANTRY_ERR_CONFIG", [`could not lock data directory ${dataDir}`]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
