/**
 * The runner images of deploy/runner/ (no Docker engine here, so they are not built): one Dockerfile
 * for every image the default language table names, with pinned base images, a non-root numeric
 * USER, the runner bundle and the execute-only Node at the paths the Job template of kind
 * `submission` runs, the toolchain each language row calls, and COPY sources that exist and pass
 * the build's dockerignore. The bundle step itself is run here: the script the Dockerfiles call
 * builds a runner that starts and takes (and deletes) its token file.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_LANGUAGES } from "../../src/core/languages.ts";
import { SANDBOX_RUNNER_NODE, SANDBOX_RUNNER_PATH, runnerCommand } from "../../src/core/submission-spec.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DIR = path.join(ROOT, "deploy/runner");

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    pending += (pending === "" ? "" : " ") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) continue;
    const [op = "", ...rest] = pending.split(/\s+/);
    out.push({ op: op.toUpperCase(), args: rest.join(" ") });
    pending = "";
  }
  return out;
}

/** The Dockerfile of each image: `…/runner-<name>:<tag>` is built by `deploy/runner/<name>.Dockerfile`. */
function dockerfileOf(image: string): string {
  const m = /\/runner-([a-z0-9]+):[A-Za-z0-9._-]+$/.exec(image);
  assert.ok(m, `image ${image} does not follow the runner-<name>:<tag> scheme`);
  return path.join(DIR, `${m[1]}.Dockerfile`);
}

const images = [...new Set(Object.values(DEFAULT_LANGUAGES).map((l) => l.image))];
const dockerfiles = async () => (await readdir(DIR)).filter((f) => f.endsWith(".Dockerfile")).sort();

test("one Dockerfile per image of the default language table, labelled with that image; none unused", async () => {
  const used = new Set<string>();
  for (const image of images) {
    const file = dockerfileOf(image);
    assert.ok(existsSync(file), `${image}: ${path.relative(ROOT, file)} is missing`);
    const label = instructions(await readFile(file, "utf8")).find((i) => i.op === "LABEL");
    assert.match(label?.args ?? "", new RegExp(`dev\\.gantry\\.image="${image.replace(/[.]/g, "\\.")}"`));
    used.add(path.basename(file));
  }
  assert.deepEqual(
    await dockerfiles(),
    [...used].sort(),
    "every runner Dockerfile builds a language's image",
  );
  assert.deepEqual([...used].sort(), [
    "gcc.Dockerfile",
    "java.Dockerfile",
    "node.Dockerfile",
    "python.Dockerfile",
  ]);
});

test("base images are pinned, the image runs as a non-root numeric user and starts the runner", async () => {
  for (const name of await dockerfiles()) {
    const text = await readFile(path.join(DIR, name), "utf8");
    assert.ok(
      text.startsWith("# syntax=docker/dockerfile:1."),
      `${name}: BuildKit syntax line first (COPY --chmod)`,
    );
    const ins = instructions(text);
    const froms = ins.filter((i) => i.op === "FROM").map((i) => i.args.split(/\s+/)[0] ?? "");
    assert.ok(froms.length >= 2, name);
    for (const from of froms) {
      // A full version tag (x.y.z) or a digest; never a floating `latest`, bare major or no tag.
      assert.match(
        from,
        /^[a-z0-9./-]+(:\d+\.\d+\.\d+[A-Za-z0-9._-]*)?(@sha256:[0-9a-f]{64})?$/,
        `${name}: ${from}`,
      );
      assert.ok(/:\d+\.\d+\.\d+/.test(from) || from.includes("@sha256:"), `${name}: ${from} is not pinned`);
    }
    const final = ins.slice(ins.map((i) => i.op).lastIndexOf("FROM"));
    const users = final.filter((i) => i.op === "USER").map((i) => i.args);
    assert.deepEqual(users, ["65532:65532"], `${name}: the last stage's USER`);
    const entrypoint = final.find((i) => i.op === "ENTRYPOINT");
    assert.deepEqual(JSON.parse(entrypoint?.args ?? "null"), runnerCommand(), name);
    const runs = final.filter((i) => i.op === "RUN").map((i) => i.args);
    assert.ok(
      runs.some((r) => r.includes(`install -o 0 -g 0 -m 0711 /usr/local/bin/node ${SANDBOX_RUNNER_NODE}`)),
      `${name}: an execute-only, root-owned Node at ${SANDBOX_RUNNER_NODE}`,
    );
    const copies = final.filter((i) => i.op === "COPY").map((i) => i.args);
    assert.ok(
      copies.some(
        (c) =>
          c.includes("--from=bundle") && c.includes("--chown=0:0") && c.endsWith(` ${SANDBOX_RUNNER_PATH}`),
      ),
      `${name}: the bundle, root's, at ${SANDBOX_RUNNER_PATH}`,
    );
    // The final stage runs no package manager after the user switch (it could not, as non-root).
    const userAt = final.findIndex((i) => i.op === "USER");
    assert.ok(
      final.slice(userAt).every((i) => i.op !== "RUN"),
      name,
    );
  }
});

test("the shared parts are the same in every runner Dockerfile", async () => {
  const shared = async (name: string) => {
    const text = await readFile(path.join(DIR, name), "utf8");
    const blocks = [...text.matchAll(/# ---- shared:[\s\S]*?# ---- end shared ----/g)].map((m) => m[0]);
    assert.equal(blocks.length, 2, `${name}: two shared blocks`);
    return blocks;
  };
  const [first, ...rest] = await dockerfiles();
  const want = await shared(first as string);
  for (const name of rest) assert.deepEqual(await shared(name), want, `${name} differs from ${first}`);
  // …and each file's dockerignore is the same, its own name aside.
  const ignore = async (name: string) =>
    (await readFile(path.join(DIR, `${name}.dockerignore`), "utf8")).replace(name, "<file>");
  for (const name of rest) assert.equal(await ignore(name), await ignore(first as string), name);
});

test("the toolchain every language row calls is installed by its image", async () => {
  // Debian bookworm's package for each absolute path the rows run (node: the base image's own).
  const PROVIDES: Record<string, string> = {
    "/usr/bin/python3": "python3",
    "/usr/bin/gcc": "gcc",
    "/usr/bin/g++": "g++",
    "/usr/bin/javac": "openjdk-17-jdk-headless",
    "/usr/bin/java": "openjdk-17-jdk-headless",
    "/usr/bin/node": "ln -s /usr/local/bin/node /usr/bin/node",
  };
  for (const [language, row] of Object.entries(DEFAULT_LANGUAGES)) {
    const text = await readFile(dockerfileOf(row.image), "utf8");
    const final = instructions(text).slice(
      instructions(text)
        .map((i) => i.op)
        .lastIndexOf("FROM"),
    );
    const runs = final
      .filter((i) => i.op === "RUN")
      .map((i) => i.args)
      .join(" && ");
    const installed =
      /apt-get install -y --no-install-recommends ([^&]+)/.exec(runs)?.[1]?.trim().split(/\s+/) ?? [];
    assert.ok(installed.includes("time"), `${language}: GNU time (/usr/bin/time) for the measurements`);
    for (const argv of [row.compile, row.run]) {
      const exe = argv?.[0];
      if (exe === undefined || !exe.startsWith("/")) continue; // ./prog: built by the compile step
      const from = PROVIDES[exe];
      assert.ok(from !== undefined, `${language}: no known package for ${exe}`);
      assert.ok(installed.includes(from) || runs.includes(from), `${language}: ${exe} needs ${from}`);
    }
  }
});

test("every COPY source exists and passes the Dockerfile's dockerignore", async () => {
  for (const name of await dockerfiles()) {
    const ins = instructions(await readFile(path.join(DIR, name), "utf8"));
    const allowed = (await readFile(path.join(DIR, `${name}.dockerignore`), "utf8"))
      .split("\n")
      .filter((l) => l.startsWith("!"))
      .map((l) => l.slice(1));
    for (const copy of ins.filter((i) => i.op === "COPY" && !i.args.includes("--from="))) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith("--"));
      for (const source of parts.slice(0, -1)) {
        assert.ok(existsSync(path.join(ROOT, source)), `${name}: COPY ${source} does not exist`);
        const clean = source.replace(/\/$/, "");
        assert.ok(
          allowed.some((a) => a === clean || (a.endsWith("/**") && clean === a.slice(0, -3))),
          `${name}: COPY ${source} is excluded by ${name}.dockerignore`,
        );
      }
    }
  }
});

test("deploy/README.md gives the build command of every runner image", async () => {
  const readme = await readFile(path.join(ROOT, "deploy/README.md"), "utf8");
  for (const image of images) {
    const file = path.relative(ROOT, dockerfileOf(image));
    assert.ok(readme.includes(`docker build -f ${file} -t ${image} .`), `${file} → ${image}`);
  }
});

test("the Dockerfiles' bundle step builds a runner that starts, and takes and deletes its token file", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "gantry-runner-image-"));
  try {
    const built = spawnSync(process.execPath, ["--import", "tsx", "scripts/build-runner-bundle.ts", dir], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(built.status, 0, built.stderr);
    const bundle = path.join(dir, "gantry-runner.mjs");
    assert.equal(built.stdout.trim(), bundle);
    // Outside a run it refuses, as it should.
    const bare = spawnSync(process.execPath, [bundle], { env: {}, encoding: "utf8" });
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, /GANTRY_RUN_ID and GANTRY_RUN_TOKEN \(or GANTRY_RUN_TOKEN_FILE\) must be set/);
    // As the pod starts it: the token file the init container wrote is gone before anything else
    // happens (here the API is unreachable, so the runner stops there, having graded nothing).
    const tokenFile = path.join(dir, ".gantry-run-token");
    await writeFile(tokenFile, "gtr_image-test-token", { mode: 0o600 });
    const run = spawnSync(process.execPath, [bundle], {
      env: {
        GANTRY_RUN_ID: "0b7c2a55-3f4e-4a1b-9c1d-1234567890ab",
        GANTRY_RUN_TOKEN_FILE: tokenFile,
        GANTRY_API_URL: "http://127.0.0.1:9",
      },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /could not fetch the payload/);
    assert.ok(!existsSync(tokenFile), "the runner deleted its token file");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
