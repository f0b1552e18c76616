import assert from "node:assert/strict";
import { test } from "node:test";
import { prlimitArgs } from "./limits.ts";
import {
  bwrapArgv,
  envArgsData,
  envProblem,
  sandboxEnv,
  sandboxLaunchArgv,
  type SandboxLayout,
} from "./sandbox.ts";

const layout: SandboxLayout = {
  workDir: "/srv/work/run-1.1.abcd",
  rootSymlinks: [
    { name: "bin", target: "usr/bin" },
    { name: "lib", target: "usr/lib" },
  ],
  rootDirs: [],
  hostEtc: ["alternatives", "ld.so.cache"],
  etcDir: "/srv/work/.sandbox-etc",
  tmpBytes: 1 << 20,
  features: { disableUserns: true, tmpfsSize: true },
};

function pairs(argv: readonly string[], flag: string): string[][] {
  const out: string[][] = [];
  argv.forEach((a, i) => {
    if (a === flag) out.push(argv.slice(i + 1, i + 3));
  });
  return out;
}

test("bwrap argv: read-only system, private /work, no network, own namespaces, command last", () => {
  const argv = bwrapArgv(layout, ["python3", "-c", "print(1)"]);
  const sep = argv.indexOf("--");
  assert.deepEqual(argv.slice(sep + 1), ["python3", "-c", "print(1)"]);
  const opts = argv.slice(0, sep);
  assert.deepEqual(pairs(opts, "--ro-bind")[0], ["/usr", "/usr"]);
  assert.ok(
    pairs(opts, "--ro-bind").some(([s, d]) => s === "/etc/alternatives" && d === "/etc/alternatives"),
  );
  assert.ok(
    pairs(opts, "--ro-bind").some(([s, d]) => s === "/srv/work/.sandbox-etc/passwd" && d === "/etc/passwd"),
  );
  assert.deepEqual(
    pairs(opts, "--bind"),
    [["/srv/work/run-1.1.abcd", "/work"]],
    "the only writable bind is /work",
  );
  assert.deepEqual(pairs(opts, "--symlink")[0], ["usr/bin", "/bin"]);
  for (const flag of [
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
  ]) {
    assert.ok(opts.includes(flag), flag);
  }
  assert.ok(!opts.includes("--share-net"));
  assert.equal(opts[opts.indexOf("--tmpfs") + 1], "/tmp");
  assert.equal(opts[opts.indexOf("--tmpfs") - 1], String(1 << 20), "tmpfs size precedes --tmpfs");
  assert.deepEqual(
    pairs(opts, "--remount-ro").map(([d]) => d),
    ["/dev", "/"],
  );
  assert.equal(opts[opts.indexOf("/dev/shm") - 3], "--size");
  assert.deepEqual(pairs(opts, "--chdir")[0]?.[0], "/work");
  assert.deepEqual(pairs(opts, "--args")[0]?.[0], "3");
  assert.deepEqual(pairs(opts, "--json-status-fd")[0]?.[0], "4");
  // Nothing of the environment on the command line.
  assert.ok(!opts.includes("--setenv"));
});

test("older bubblewrap: no --disable-userns, no tmpfs size", () => {
  const argv = bwrapArgv({ ...layout, features: { disableUserns: false, tmpfsSize: false } }, ["true"]);
  assert.ok(!argv.includes("--disable-userns"));
  assert.ok(!argv.includes("--size"));
});

test("the internal API socket is bound read-only at /run/gantry/api.sock, before the root turns read-only", () => {
  assert.equal(bwrapArgv(layout, ["true"]).includes("/run/gantry/api.sock"), false, "only when configured");
  const argv = bwrapArgv({ ...layout, apiSocket: "/srv/work/.api/api.sock" }, ["true"]);
  assert.ok(
    pairs(argv, "--ro-bind").some(
      ([src, dst]) => src === "/srv/work/.api/api.sock" && dst === "/run/gantry/api.sock",
    ),
  );
  assert.ok(argv.indexOf("/run/gantry/api.sock") < argv.lastIndexOf("--remount-ro"));
});

test("extra read-only binds (Gantry's source for its runner) come after /work, before the root turns read-only", () => {
  const argv = bwrapArgv(
    { ...layout, readOnlyBinds: [{ source: "/srv/gantry/src", target: "/opt/gantry/src" }] },
    ["true"],
  );
  const binds = pairs(argv, "--ro-bind");
  assert.ok(binds.some(([src, dst]) => src === "/srv/gantry/src" && dst === "/opt/gantry/src"));
  assert.ok(argv.lastIndexOf("/opt/gantry/src") > argv.indexOf("/work"));
  assert.ok(argv.lastIndexOf("/opt/gantry/src") < argv.lastIndexOf("--remount-ro"));
  assert.ok(!pairs(bwrapArgv(layout, ["true"]), "--ro-bind").some(([, dst]) => dst === "/opt/gantry/src"));
});

test("environment: base, then spec, then Gantry's own; passed NUL-separated after --clearenv", () => {
  const env = sandboxEnv(
    { PATH: "/custom", GANTRY_RUN_TOKEN: "spoofed", X: "1" },
    { GANTRY_RUN_TOKEN: "real" },
    "/work",
  );
  assert.equal(env.PATH, "/custom");
  assert.equal(env.HOME, "/work");
  assert.equal(env.GANTRY_RUN_TOKEN, "real");
  const data = envArgsData({ A: "x y", B: "" }).toString();
  assert.deepEqual(data.split("\0"), ["--clearenv", "--setenv", "A", "x y", "--setenv", "B", "", ""]);
  assert.equal(envProblem("GOOD_NAME", "v"), null);
  assert.notEqual(envProblem("A=B", "v"), null);
  assert.notEqual(envProblem("", "v"), null);
  assert.notEqual(envProblem("A", "a\0b"), null);
});

test("launch chain: join cgroups as root, rlimits, drop to the attempt uid, then bwrap", () => {
  const tools = {
    sh: "/bin/sh",
    prlimit: "/usr/bin/prlimit",
    setpriv: "/usr/bin/setpriv",
    bwrap: "/usr/bin/bwrap",
  };
  const argv = sandboxLaunchArgv(tools, ["/cg/pids/a/cgroup.procs"], ["--cpu=1:2"], 61000, [
    "--unshare-all",
    "--",
    "true",
  ]);
  assert.deepEqual(argv.slice(0, 2), ["/bin/sh", "-c"]);
  assert.deepEqual(argv.slice(3), [
    "gantry-join",
    "/cg/pids/a/cgroup.procs",
    "--",
    "/usr/bin/prlimit",
    "--cpu=1:2",
    "--",
    "/usr/bin/setpriv",
    "--reuid=61000",
    "--regid=61000",
    "--clear-groups",
    "--no-new-privs",
    "--",
    "/usr/bin/bwrap",
    "--unshare-all",
    "--",
    "true",
  ]);
  const unprivileged = sandboxLaunchArgv(tools, [], [], null, ["--", "true"]);
  assert.ok(!unprivileged.includes("/usr/bin/setpriv"));
});

test("rlimits: CPU soft/hard, memory via RLIMIT_AS only without a memory cgroup, NPROC with overhead", () => {
  const limits = { cpuSeconds: 5, wallSeconds: 60, memoryMB: 256, processes: 10, outputBytes: 1000 };
  const opts = {
    memoryViaAddressSpace: true,
    nproc: true,
    overheadProcesses: 2,
    fileSizeBytes: 1024,
    openFiles: 64,
  };
  assert.deepEqual(prlimitArgs(limits, opts), [
    "--cpu=5:6",
    "--core=0",
    "--fsize=1024",
    "--nofile=64",
    `--as=${256 * 1024 * 1024}`,
    "--nproc=12",
  ]);
  const withCgroups = prlimitArgs(limits, { ...opts, memoryViaAddressSpace: false, nproc: false });
  assert.ok(!withCgroups.some((a) => a.startsWith("--as") || a.startsWith("--nproc")));
  assert.equal(prlimitArgs({ ...limits, cpuSeconds: 0.2 }, opts)[0], "--cpu=1:2");
});
