/**
 * The bubblewrap sandbox of one attempt, as argv. Pure (no I/O): the executor decides which host
 * paths exist and passes them in.
 *
 * Inside: a fresh root (read-only at the end) with read-only binds of /usr (and the merged-/usr
 * symlinks /bin, /lib, …), a minimal /etc (a few host entries plus generated passwd/group/hosts),
 * /dev (read-only, but for a size-capped tmpfs /dev/shm) and /proc of its own, a size-capped
 * tmpfs /tmp (tmpfs pages count against the memory cgroup too), the attempt's work directory at /work
 * (read-write), and no network (own, empty network namespace), IPC, UTS, cgroup and PID
 * namespaces. The workload runs as uid/gid 1000 inside (its dedicated host uid outside), may not
 * create further user namespaces, starts a new session (no TIOCSTI into ours) and dies with its
 * parent. The environment is cleared and rebuilt from the spec.
 *
 * Environment variables travel through `--args FD` (a pipe), not argv, so the run token and user
 * values never show up in `ps` on the host, and no user-controlled variable (LD_PRELOAD, …) ever
 * reaches a process that runs as root.
 */

export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;
export const SANDBOX_WORKDIR = "/work";
export const SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin";
export const SANDBOX_HOSTNAME = "gantry";

/** Host /etc entries bound read-only into the sandbox when they exist. */
export const HOST_ETC_ENTRIES: readonly string[] = [
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "nsswitch.conf",
  "protocols",
  "services",
  "mime.types",
  "ssl",
  "ca-certificates",
  "os-release",
];

/** Generated /etc files, written once at start into `etcDir`. */
export function generatedEtcFiles(): Record<string, string> {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\ngantry:x:${SANDBOX_UID}:${SANDBOX_GID}:gantry:${SANDBOX_WORKDIR}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\ngantry:x:${SANDBOX_GID}:\nnogroup:x:65534:\n`,
    hosts: `127.0.0.1\tlocalhost ${SANDBOX_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    hostname: `${SANDBOX_HOSTNAME}\n`,
  };
}

export interface BwrapFeatures {
  /** --disable-userns (bubblewrap >= 0.8). */
  disableUserns: boolean;
  /** --size for tmpfs (bubblewrap >= 0.7). */
  tmpfsSize: boolean;
}

export interface SandboxLayout {
  /** Host directory mounted read-write at /work. */
  workDir: string;
  /** Top-level host entries that are symlinks into /usr on merged-/usr systems, e.g. bin -> usr/bin. */
  rootSymlinks: ReadonlyArray<{ name: string; target: string }>;
  /** Top-level host directories to bind read-only besides /usr (e.g. lib64 on a split-/usr system). */
  rootDirs: readonly string[];
  /** Host /etc entries that exist, from HOST_ETC_ENTRIES. */
  hostEtc: readonly string[];
  /** Host directory holding the generated /etc files. */
  etcDir: string;
  /** Bytes of each of the /tmp and /dev/shm tmpfs. */
  tmpBytes: number;
  /** Host unix socket of Gantry's internal API, bound at SANDBOX_API_SOCKET when set. */
  apiSocket?: string | undefined;
  /** Further host paths bound read-only (e.g. Gantry's own source at /opt/gantry for its runner). */
  readOnlyBinds?: ReadonlyArray<{ source: string; target: string }>;
  features: BwrapFeatures;
}

/**
 * bubblewrap options (before `--`) that build the filesystem and namespaces. The command and the
 * `--args FD` option are added by `bwrapArgv`.
 */
export function bwrapOptions(layout: SandboxLayout): string[] {
  const a: string[] = [];
  a.push("--ro-bind", "/usr", "/usr");
  for (const dir of layout.rootDirs) a.push("--ro-bind", `/${dir}`, `/${dir}`);
  for (const { name, target } of layout.rootSymlinks) a.push("--symlink", target, `/${name}`);
  for (const entry of layout.hostEtc) a.push("--ro-bind", `/etc/${entry}`, `/etc/${entry}`);
  for (const name of Object.keys(generatedEtcFiles())) {
    a.push("--ro-bind", `${layout.etcDir}/${name}`, `/etc/${name}`);
  }
  a.push("--dev", "/dev", "--proc", "/proc");
  for (const dir of ["/tmp", "/dev/shm"]) {
    if (layout.features.tmpfsSize) a.push("--size", String(layout.tmpBytes));
    a.push("--tmpfs", dir);
  }
  a.push("--bind", layout.workDir, SANDBOX_WORKDIR);
  if (layout.apiSocket !== undefined) a.push("--ro-bind", layout.apiSocket, SANDBOX_API_SOCKET);
  for (const { source, target } of layout.readOnlyBinds ?? []) a.push("--ro-bind", source, target);
  // bubblewrap's /dev is a writable tmpfs (unbounded without a memory cgroup): only /dev/shm,
  // size-capped, stays writable; device nodes keep working on a read-only mount.
  a.push("--remount-ro", "/dev", "--remount-ro", "/");
  a.push("--unshare-all", "--unshare-user");
  if (layout.features.disableUserns) a.push("--disable-userns");
  a.push("--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_GID));
  a.push("--hostname", SANDBOX_HOSTNAME);
  a.push("--die-with-parent", "--new-session", "--chdir", SANDBOX_WORKDIR);
  return a;
}

/** Environment of the workload: a sane base, then the spec's variables, then Gantry's own. */
export function sandboxEnv(
  specEnv: Readonly<Record<string, string>>,
  gantryEnv: Readonly<Record<string, string>>,
  home: string,
): Record<string, string> {
  return {
    PATH: SANDBOX_PATH,
    HOME: home,
    LANG: "C.UTF-8",
    TMPDIR: "/tmp",
    ...specEnv,
    ...gantryEnv,
  };
}

/** Why an environment variable cannot be passed, or null when it can. */
export function envProblem(name: string, value: string): string | null {
  if (name === "" || name.includes("=") || name.includes("\0"))
    return `environment variable name ${JSON.stringify(name)} is invalid`;
  if (value.includes("\0")) return `environment variable ${name} contains a NUL byte`;
  return null;
}

/** NUL-separated data for `--args FD`: clear the environment, then set each variable. */
export function envArgsData(env: Readonly<Record<string, string>>): Buffer {
  const parts = ["--clearenv"];
  for (const [k, v] of Object.entries(env)) parts.push("--setenv", k, v);
  return Buffer.from(parts.map((p) => `${p}\0`).join(""), "utf8");
}

/** Where a sandbox finds Gantry's internal API (see src/server/internal-socket.ts). */
export const SANDBOX_API_SOCKET = "/run/gantry/api.sock";

export const ARGS_FD = 3;
export const STATUS_FD = 4;

/** Full bubblewrap argv (without the binary): options, `--args`, `--json-status-fd`, command. */
export function bwrapArgv(layout: SandboxLayout, command: readonly string[]): string[] {
  return [
    ...bwrapOptions(layout),
    "--args",
    String(ARGS_FD),
    "--json-status-fd",
    String(STATUS_FD),
    "--",
    ...command,
  ];
}

/**
 * /bin/sh script run as root first: it moves itself into the attempt's cgroups (so every process
 * of the workload is accounted from its first instruction), then execs the rest of its argv.
 * Usage: sh -c JOIN_SCRIPT gantry-join <cgroup.procs files…> -- <command…>
 */
export const JOIN_SCRIPT =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export interface LaunchTools {
  sh: string;
  prlimit: string;
  setpriv: string;
  bwrap: string;
}

/**
 * The whole chain spawned for a sandboxed attempt:
 *   sh (joins cgroups) → prlimit (rlimits) → setpriv (drop to the attempt's uid) → bwrap → command
 * All but the command are exec'd in place, so the spawned pid is bubblewrap's monitor process.
 * With `uid` null (Gantry not root) setpriv is skipped.
 */
export function sandboxLaunchArgv(
  tools: LaunchTools,
  procsFiles: readonly string[],
  rlimits: readonly string[],
  uid: number | null,
  bwrap: readonly string[],
): string[] {
  const argv = [
    tools.sh,
    "-c",
    JOIN_SCRIPT,
    "gantry-join",
    ...procsFiles,
    "--",
    tools.prlimit,
    ...rlimits,
    "--",
  ];
  if (uid !== null) {
    argv.push(tools.setpriv, `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--no-new-privs", "--");
  }
  argv.push(tools.bwrap, ...bwrap);
  return argv;
}
