/**
 * The `gantry` command as a user runs it (bin/gantry, a real process) against a real Gantry:
 * submit --wait, runs, logs, cancel, token — and bad flags, bad ids, wrong tokens, no server.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGantry } from "../helpers/run-gantry.ts";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";

const gantry = runGantry;

describe("gantry CLI", () => {
  let t: TestGantry;
  let env: Record<string, string>;
  before(async () => {
    t = await startTestGantry("pglite");
    // A data dir without credentials, so only GANTRY_URL/GANTRY_TOKEN count.
    env = { GANTRY_URL: t.url, GANTRY_TOKEN: t.adminToken, GANTRY_DATA_DIR: join(t.dataDir, "cli-home") };
  });
  after(() => t.stop());

  test("submit --wait streams output and exits 0 on success", async () => {
    const r = await gantry(["submit", "--wait", "--", "sh", "-c", "echo hello"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\n");
    assert.match(r.stderr, /run [0-9a-f-]{36} queued/);
  });

  test("submit --wait exits 1 with the state and reason when the run fails", async () => {
    const r = await gantry(["submit", "--wait", "--", "sh", "-c", "echo bad >&2; exit 4"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad/);
    assert.match(r.stderr, /failed: exit_code 4/);
    const timedOut = await gantry(["submit", "--wait", "--timeout", "1", "--", "sleep", "20"], env);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /timed_out: wall_time_limit/);
  });

  test("submit passes env, files and limits", async () => {
    const local = join(t.dataDir, "input.txt");
    await writeFile(local, "from a file\n");
    const r = await gantry(
      [
        "submit",
        "--wait",
        "--env",
        "GREETING=hi there",
        "--file",
        `in.txt=${local}`,
        "--memory",
        "256",
        "--json",
        "--",
        "sh",
        "-c",
        'echo "$GREETING"; cat in.txt',
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hi there\nfrom a file\n/);
    const run = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { id: string; state: string };
    assert.equal(run.state, "succeeded");
    const shown = await gantry(["runs", run.id, "--json"], env);
    const full = JSON.parse(shown.stdout) as {
      spec: { limits: { memoryMB: number }; env: Record<string, string> };
    };
    assert.equal(full.spec.limits.memoryMB, 256);
    assert.equal(full.spec.env.GREETING, "hi there");
  });

  test("runs, logs and cancel", async () => {
    const submitted = await gantry(["submit", "--", "sh", "-c", "echo one; echo two; sleep 30"], env);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    for (let i = 0; i < 100; i++) {
      const logs = await gantry(["logs", id], env);
      if (logs.stdout.includes("two")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const logs = await gantry(["logs", id, "--tail", "1"], env);
    assert.equal(logs.stdout, "two\n");
    const list = await gantry(["runs", "--state", "running"], env);
    assert.match(list.stdout, new RegExp(id));
    const cancelled = await gantry(["cancel", id], env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout, `${id} cancelled\n`);
    const again = await gantry(["cancel", id], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already ended \(cancelled\) \[GANTRY_ERR_RUN_TERMINAL\]/);
    const follow = await gantry(["logs", "-f", id], env);
    assert.equal(follow.code, 0);
    assert.match(follow.stdout, /one\ntwo\n/);
  });

  test("tokens: create a submitter, use it, list, revoke", async () => {
    const created = await gantry(["token", "create", "--name", "ci", "--role", "submitter"], env);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^gty_/);
    const asCi = { ...env, GANTRY_TOKEN: secret };
    assert.equal((await gantry(["submit", "--", "true"], asCi)).code, 0);
    const forbidden = await gantry(["token", "list"], asCi);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /GANTRY_ERR_FORBIDDEN/);
    const list = await gantry(["token", "list", "--json"], env);
    const tokens = JSON.parse(list.stdout) as { id: string; name: string }[];
    const ci = tokens.find((x) => x.name === "ci");
    assert.ok(ci);
    assert.equal((await gantry(["token", "revoke", ci.id], env)).code, 0);
    const revoked = await gantry(["runs"], asCi);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /GANTRY_ERR_UNAUTHENTICATED/);
  });

  test("usage errors exit 2 and say what is wrong", async () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["submit"], /give the command to run after --/],
      [["submit", "--cpu", "lots", "--", "true"], /--cpu must be an integer/],
      [["submit", "--env", "NOEQUALS", "--", "true"], /--env takes NAME=VALUE/],
      [["submit", "--file", "/nonexistent/file", "--", "true"], /is not a readable file/],
      [["submit", "--bogus", "--", "true"], /Unknown option '--bogus'/],
      [["logs"], /give exactly one run id/],
      [["token", "create", "--name", "x"], /create needs --name and --role/],
      [["token", "dance"], /unknown action 'dance'/],
    ];
    for (const [args, message] of cases) {
      const r = await gantry(args, env);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.equal((await gantry([], env)).code, 2);
    const help = await gantry(["submit", "--help"], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: gantry submit/);
  });

  test("bad ids, wrong tokens and an unreachable server get clear errors", async () => {
    const badId = await gantry(["runs", "../../etc/passwd"], env);
    assert.equal(badId.code, 1);
    assert.match(badId.stderr, /GANTRY_ERR_(INVALID_ID|ROUTE_NOT_FOUND)/);
    const wrong = await gantry(["runs"], { ...env, GANTRY_TOKEN: "gty_nope" });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /GANTRY_ERR_UNAUTHENTICATED/);
    const noServer = await gantry(["runs"], { ...env, GANTRY_URL: "http://127.0.0.1:9" });
    assert.equal(noServer.code, 1);
    assert.match(noServer.stderr, /cannot reach Gantry at http:\/\/127\.0\.0\.1:9/);
  });
});
