import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadLanguageTable } from "./languages-config.ts";

test("GANTRY_LANGUAGES_FILE adds and removes languages; a bad file is a config error naming it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gantry-lang-"));
  try {
    assert.deepEqual(Object.keys(loadLanguageTable({})).sort(), ["c", "cpp", "java", "javascript", "python"]);
    const file = join(dir, "languages.json");
    await writeFile(
      file,
      JSON.stringify({
        sh: { sourceFile: "main.sh", extensions: [".sh"], run: ["/bin/sh", "{main}"], image: "busybox" },
        java: null,
      }),
    );
    assert.deepEqual(Object.keys(loadLanguageTable({ GANTRY_LANGUAGES_FILE: file })).sort(), [
      "c",
      "cpp",
      "javascript",
      "python",
      "sh",
    ]);
    await writeFile(file, JSON.stringify({ sh: { run: [] } }));
    assert.throws(
      () => loadLanguageTable({ GANTRY_LANGUAGES_FILE: file }),
      /GANTRY_ERR_CONFIG|invalid configuration: GANTRY_LANGUAGES_FILE .*language 'sh'/,
    );
    await writeFile(file, "{not json");
    assert.throws(
      () => loadLanguageTable({ GANTRY_LANGUAGES_FILE: file }),
      /GANTRY_LANGUAGES_FILE .*languages\.json/,
    );
    assert.throws(
      () => loadLanguageTable({ GANTRY_LANGUAGES_FILE: join(dir, "missing.json") }),
      /missing\.json/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
