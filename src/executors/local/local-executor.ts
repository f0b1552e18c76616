/**
 * LocalExecutor: runs each attempt of a `job` workload as a bubblewrap-sandboxed process tree on
 * this machine. See sandbox.ts (isolation), limits.ts (rlimits), cgroup.ts (cgroup v1 limits and
 * accounting), output.ts (log lines, output limit), outcome.ts (state and reason).
 *
 * Reporting contract (for the dispatcher):
 * - `launch` resolves once the process is spawned (or the attempt was refused with a final update);
 *   it does not wait for the sink. It rejects only for executor trouble, and then reports nothing:
 *   GANTRY_ERR_EXECUTOR_BUSY when it has no room (maxConcurrent reached, no free uid),
 *   GANTRY_ERR_EXECUTOR for a host error preparing the attempt or when not started / shut down.
 * - Per attempt, updates are delivered in order: `running` (reason `started`) once spawned, then
 *   exactly one final update (`succeeded` / `failed` / `timed_out`), sent after the attempt's
 *   processes are verified gone and its work directory and cgroups are removed.
 * - A spec the sandbox cannot run (hostile input path, invalid env name, empty command) gets a final
 *   `failed` update with reason `invalid_spec: …`, without a `running` update before it.
 * - `cancel()` and `shutdown()` resolve once the processes are gone and the resources released; they
 *   do not wait for the sink, so a sink may call `cancel()` from inside `update()`.
 * - After `cancel()` or `shutdown()` nothing more is reported for the attempts they stopped (the
 *   dispatcher owns the `cancelled` transition; after a shutdown the runs are reconciled). A final
 *   update already handed to the sink before the cancel still completes.
 * - Launching an attempt that is running, or that already ended in this process, does nothing.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { GantryError } from "../../core/errors.ts";
import {
  attemptKey,
  type Executor,
  type ExecutorSink,
  type LaunchRequest,
  type AttemptUpdate,
} from "../executor.ts";
import { AttemptCgroup, setUpCgroups, tearDownCgroups, type CgroupSetup } from "./cgroup.ts";
import { NPROC_SLACK_WITH_PIDS_CGROUP, prlimitArgs, SANDBOX_OVERHEAD_PROCESSES } from "./limits.ts";
import { mapOutcome, type KillCause } from "./outcome.ts";
import { OutputCollector, type OutputStream } from "./output.ts";
import { isLiveAs, killAllOfUid, killProcessesMentioning, pidsByUid, pidsOfUid } from "./procs.ts";
import {
  ARGS_FD,
  bwrapArgv,
  envArgsData,
  generatedEtcFiles,
  JOIN_SCRIPT,
  SANDBOX_API_SOCKET,
  SANDBOX_WORKDIR,
  sandboxEnv,
  sandboxLaunchArgv,
  STATUS_FD,
  type LaunchTools,
  type SandboxLayout,
} from "./sandbox.ts";
import { findTool, hostRootLayout, inspectBwrap, probeSandboxArgv, workRootProblem } from "./host.ts";
import { specProblem } from "./spec-check.ts";
import { UidLocks } from "./uid-lock.ts";
import { UidPool } from "./uid-pool.ts";
import { checkInputFiles, createWorkDir, InputFileError, removeWorkDir, writeInputFiles } from "./workdir.ts";

/** File in the work directory holding the run token when the spec asks for file delivery. */
const RUN_TOKEN_FILE = ".gantry-run-token";

/** A pino logger fits; so does anything with these three methods. */
export interface LocalExecutorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface LocalExecutorOptions {
  /**
   * Directory under which per-attempt work directories are created (created if missing, mode
   * 0711). It belongs to this executor alone: start() removes what a crashed predecessor left.
   */
  workRoot: string;
  sink: ExecutorSink;
  /** Attempts running at once; `launch` beyond it rejects. Default: number of CPUs. */
  maxConcurrent?: number;
  /** Run without bubblewrap (rlimits and cgroups only) when the sandbox does not work. Default false. */
  allowUnsandboxed?: boolean;
  /**
   * Host uids dedicated to sandboxes, one per running attempt; no other user may use them (every
   * process of a uid is killed when its attempt ends). Several Gantry processes on one machine may
   * share the range: a host-wide lock per uid (uid-lock.ts) keeps their attempts apart.
   * Default 61000–61999.
   */
  uidRange?: { first: number; last: number };
  logger?: LocalExecutorLogger;
  /** Use cgroup v1 controllers when available. Default true. */
  useCgroups?: boolean;
  /** RLIMIT_FSIZE: largest file an attempt may write. Default 1 GiB. */
  fileSizeBytes?: number;
  /** RLIMIT_NOFILE. Default 1024. */
  openFiles?: number;
  /** How often cgroup counters are polled, ms. Default 100. */
  pollIntervalMs?: number;
  /** bubblewrap binary. Default: `bwrap` from /usr/bin, /bin, …; a path that does not exist means "no bubblewrap". */
  bwrapPath?: string;
  /**
   * Host path of a unix socket serving Gantry's internal API, bound into each sandbox at
   * /run/gantry/api.sock and named by GANTRY_API_SOCKET (sandboxes have no network).
   */
  apiSocket?: string;
  /**
   * Host paths bound read-only into every sandbox at `target` (absolute, outside /work, /tmp,
   * /proc and /dev), e.g. Gantry's source tree for `gantry runner`. Not used without bubblewrap.
   */
  readOnlyBinds?: ReadonlyArray<{ source: string; target: string }>;
}

/** How each limit is enforced on this machine, decided at start(). */
export interface Enforcement {
  sandbox: string;
  perAttemptUid: boolean;
  cpu: string;
  memory: string;
  processes: string;
  wall: string;
  output: string;
  cgroupsUnused: Record<string, string>;
}

const NOOP_LOGGER: LocalExecutorLogger = { info() {}, warn() {}, error() {} };
const ALLOCATION_FAILURE = /MemoryError|Cannot allocate memory|std::bad_alloc|out of memory/i;
const FORK_FAILURE =
  /Cannot fork|fork: (retry: )?Resource temporarily unavailable|can't fork|BlockingIOError: \[Errno 11\]/i;
const FINISHED_KEYS_KEPT = 10_000;
const REAP_ATTEMPTS = 100;

interface Attempt {
  key: string;
  request: LaunchRequest;
  uid: number | null;
  workDir: string | null;
  cgroup: AttemptCgroup | null;
  child: ChildProcess | null;
  sandboxed: boolean;
  spawned: boolean;
  started: boolean;
  setupError: string | undefined;
  killedFor: KillCause | null;
  /** cancel() or shutdown(): report nothing more. */
  stopped: boolean;
  allocationFailureSeen: boolean;
  forkFailureSeen: boolean;
  collector: OutputCollector | null;
  /** `kill -1` helpers running as the attempt's uid; awaited before the uid is reused. */
  killers: Promise<void>[];
  /** Host pid of the sandbox's pid-1 (bubblewrap's "child-pid"). */
  nsInitPid: number | null;
  updates: Promise<void>;
  timers: NodeJS.Timeout[];
  startedAt: number;
  finalized: boolean;
  done: Promise<void>;
  resolveDone: () => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class LocalExecutor implements Executor {
  readonly name = "local";
  private readonly sink: ExecutorSink;
  private readonly log: LocalExecutorLogger;
  private readonly workRoot: string;
  private readonly apiSocket: string | undefined;
  private readonly readOnlyBinds: ReadonlyArray<{ source: string; target: string }>;
  private readonly maxConcurrent: number;
  private readonly allowUnsandboxed: boolean;
  private readonly useCgroups: boolean;
  private readonly fileSizeBytes: number;
  private readonly openFiles: number;
  private readonly pollIntervalMs: number;
  private readonly bwrapPath: string | undefined;
  private readonly uids: UidPool;
  private readonly uidLocks = new UidLocks();
  private readonly isRoot = process.getuid?.() === 0;
  private readonly active = new Map<string, Attempt>();
  private readonly finished = new Set<string>();
  private tools: (LaunchTools & { kill: string }) | null = null;
  private layout: Omit<SandboxLayout, "workDir" | "tmpBytes"> | null = null;
  private sandboxed = false;
  private cgroups: CgroupSetup = { parents: new Map(), unusable: new Map() };
  private enforcement: Enforcement | null = null;
  private closed = false;

  constructor(options: LocalExecutorOptions) {
    this.sink = options.sink;
    this.log = options.logger ?? NOOP_LOGGER;
    this.workRoot = path.resolve(options.workRoot);
    this.apiSocket = options.apiSocket === undefined ? undefined : path.resolve(options.apiSocket);
    this.readOnlyBinds = (options.readOnlyBinds ?? []).map(({ source, target }) => {
      if (!path.isAbsolute(target) || /^\/(work|tmp|proc|dev)(\/|$)/.test(target) || target === "/")
        throw new RangeError(
          `readOnlyBinds target ${target} must be absolute and outside /work, /tmp, /proc, /dev`,
        );
      return { source: path.resolve(source), target };
    });
    this.maxConcurrent = options.maxConcurrent ?? availableParallelism();
    this.allowUnsandboxed = options.allowUnsandboxed ?? false;
    this.useCgroups = options.useCgroups ?? true;
    this.fileSizeBytes = options.fileSizeBytes ?? 1024 ** 3;
    this.openFiles = options.openFiles ?? 1024;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.bwrapPath = options.bwrapPath;
    const range = options.uidRange ?? { first: 61000, last: 61999 };
    this.uids = new UidPool(range.first, range.last);
    if (!(this.maxConcurrent >= 1)) throw new RangeError("maxConcurrent must be >= 1");
  }

  /** How limits are enforced here (after start()). */
  describe(): Enforcement | null {
    return this.enforcement;
  }

  /** Whether attempts run inside bubblewrap (after start()). */
  get isSandboxed(): boolean {
    return this.sandboxed;
  }

  async start(): Promise<void> {
    if (this.enforcement) return;
    const unavailable = (why: string) =>
      new GantryError("GANTRY_ERR_SANDBOX_UNAVAILABLE", [
        `${why}. Fix: install bubblewrap (apt-get install bubblewrap) and make sure unprivileged user ` +
          `namespaces are allowed (sysctl user.max_user_namespaces > 0; on Debian kernel.unprivileged_userns_clone=1; ` +
          `on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0). Or, accepting that workloads then run ` +
          `without isolation, allow unsandboxed execution (allowUnsandboxed, GANTRY_ALLOW_UNSANDBOXED=true)`,
      ]);
    if (process.platform !== "linux")
      throw unavailable(`the local sandbox needs Linux, this is ${process.platform}`);
    const sh = findTool("sh");
    const prlimit = findTool("prlimit");
    const setpriv = findTool("setpriv");
    const kill = findTool("kill");
    const bwrap =
      this.bwrapPath === undefined ? findTool("bwrap") : existsSync(this.bwrapPath) ? this.bwrapPath : null;
    if (!sh || !prlimit || !setpriv || !kill) {
      throw unavailable("sh, prlimit, setpriv and kill are needed (apt-get install util-linux procps)");
    }
    this.tools = { sh, prlimit, setpriv, kill, bwrap: bwrap ?? "bwrap" };

    await mkdir(this.workRoot, { recursive: true, mode: 0o711 });
    // Sandbox uids must traverse the root to reach their own (0700) work directory, nothing more.
    await chmod(this.workRoot, 0o711);
    if (this.isRoot) {
      const problem = await workRootProblem(this.workRoot);
      if (problem !== null) throw new GantryError("GANTRY_ERR_CONFIG", [problem]);
    }
    await this.removeLeftoverWorkDirs();
    const etcDir = path.join(this.workRoot, ".sandbox-etc");
    await mkdir(etcDir, { recursive: true, mode: 0o755 });
    await chmod(etcDir, 0o755);
    for (const [name, content] of Object.entries(generatedEtcFiles())) {
      await writeFile(path.join(etcDir, name), content, { mode: 0o644 });
    }

    // A Gantry killed mid-launch may leave its launch chain running; it would become a sandbox
    // blocked forever (see reclaimOrphanedUids). The work root is this Gantry's alone (leftover
    // work directories are removed at start too), so whatever names it is a leftover.
    const leftovers = await killProcessesMentioning([this.tools.bwrap, `${this.workRoot}/`]);
    if (leftovers.length > 0)
      this.log.warn({ pids: leftovers }, "local executor: killed the launch chains of a Gantry that died");
    if (this.isRoot) {
      await this.reclaimOrphanedUids();
    } else {
      this.log.warn(
        {},
        "local executor: not running as root, so attempts share Gantry's uid: no per-attempt uid, no RLIMIT_NPROC, no cgroups",
      );
    }
    // After the orphans are gone, so that set-up can also remove their (now empty) stale groups.
    this.cgroups = await setUpCgroups(
      `gantry-${process.pid}-${randomBytes(3).toString("hex")}`,
      this.useCgroups,
    );

    // Probe: the real launch path with `true`.
    let version = "";
    let probeError = "";
    if (bwrap) {
      const info = await inspectBwrap(bwrap);
      version = info.version;
      this.layout = { ...(await hostRootLayout()), etcDir, features: info.features };
      probeError = info.problem ?? (await this.probeSandbox());
    } else {
      probeError = "bubblewrap (bwrap) is not installed";
    }
    this.sandboxed = probeError === "";
    if (!this.sandboxed) {
      if (!this.allowUnsandboxed) throw unavailable(probeError);
      this.log.warn(
        { reason: probeError },
        "!!! LOCAL SANDBOX UNAVAILABLE — allowUnsandboxed is set, so workloads run WITHOUT isolation " +
          "(no namespaces: they see the host filesystem and network), limited only by rlimits" +
          (this.isRoot ? ", a dedicated uid" : "") +
          (this.cgroups.parents.size > 0 ? " and cgroups" : "") +
          ". Do not run untrusted workloads like this. !!!",
      );
    }
    const cg = this.cgroups.parents;
    this.enforcement = {
      sandbox: this.sandboxed
        ? `${version} (namespaces: user, pid, net, ipc, uts, cgroup, mount)`
        : "NONE (allowUnsandboxed)",
      perAttemptUid: this.isRoot,
      cpu: ["RLIMIT_CPU per process", cg.has("cpuacct") ? "cgroup cpuacct total (polled)" : null]
        .filter(Boolean)
        .join(" + "),
      memory: cg.has("memory")
        ? "cgroup v1 memory.limit_in_bytes (OOM kills from memory.oom_control)"
        : "RLIMIT_AS per process (allocation failures detected heuristically from stderr)",
      processes:
        [
          cg.has("pids") ? "cgroup pids.max (refused forks from pids.events)" : null,
          this.isRoot ? "RLIMIT_NPROC per uid" : null,
        ]
          .filter(Boolean)
          .join(" + ") || "NOT ENFORCED (not root, no pids cgroup)",
      wall: "timer, kills the attempt",
      output: "byte count of stdout+stderr, kills the attempt",
      cgroupsUnused: Object.fromEntries(this.cgroups.unusable),
    };
    this.log.info({ enforcement: this.enforcement }, "local executor started");
  }

  /**
   * Work directories left by a Gantry that crashed (its sandboxes died with it: --die-with-parent).
   * The work root belongs to one executor, so whatever is in it at start is stale.
   */
  private async removeLeftoverWorkDirs(): Promise<void> {
    const entries = await readdir(this.workRoot, { withFileTypes: true });
    const stale = entries.filter(
      (e) => e.isDirectory() && (!e.name.startsWith(".") || e.name.startsWith(".probe-")),
    );
    for (const e of stale) await removeWorkDir(path.join(this.workRoot, e.name));
    if (stale.length > 0) {
      this.log.warn(
        { workRoot: this.workRoot, removed: stale.length },
        "local executor: removed leftover work directories",
      );
    }
  }

  /**
   * Processes of a sandbox uid that no live Gantry owns (its lock is free) are orphans of a Gantry
   * that died — in practice only a sandbox's pid-1 caught by the crash while still being set up,
   * blocked forever (bubblewrap arms --die-with-parent only after set-up). Kill them; a uid that
   * cannot be cleaned is never handed out.
   */
  private async reclaimOrphanedUids(): Promise<void> {
    const range = new Set<number>();
    for (let u = this.uids.first; u <= this.uids.last; u++) range.add(u);
    const busy = await pidsByUid(range);
    for (const [uid, pids] of busy) {
      if (!(await this.uidLocks.tryLock(uid))) continue; // another live Gantry's attempt
      const kill = (this.tools as { kill: string }).kill;
      let left = pids;
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await killAllOfUid(kill, uid, uid);
        await sleep(20);
        left = await pidsOfUid(uid);
      }
      if (left.length === 0) {
        this.uidLocks.release(uid);
        this.log.warn({ uid, pids }, "local executor: killed orphaned processes of a sandbox uid");
      } else {
        this.uids.block(uid);
        this.log.error(
          { uid, pids: left },
          "local executor: processes of a sandbox uid survive SIGKILL; uid not used",
        );
      }
    }
  }

  /** A uid free in this process and host-wide (see uid-lock.ts), or null when none is. */
  private async acquireUid(): Promise<number | null> {
    for (let i = 0; i < this.uids.size; i++) {
      const uid = this.uids.acquire();
      if (uid === null) return null;
      if (await this.uidLocks.tryLock(uid)) return uid;
      this.uids.release(uid);
    }
    return null;
  }

  private releaseUid(uid: number): void {
    this.uidLocks.release(uid);
    this.uids.release(uid);
  }

  /** Runs `true` through the full sandbox path; returns "" when it works, else why not. */
  private async probeSandbox(): Promise<string> {
    const uid = this.isRoot ? await this.acquireUid() : null;
    if (this.isRoot && uid === null) return "no free uid in the sandbox uid range";
    const workDir = path.join(this.workRoot, `.probe-${process.pid}-${randomBytes(4).toString("hex")}`);
    try {
      await createWorkDir(workDir, uid === null ? null : { uid, gid: uid });
      return await probeSandboxArgv(this.sandboxArgv(["true"], workDir, uid, [], 64));
    } catch (err) {
      return `bubblewrap probe failed: ${(err as Error).message}`;
    } finally {
      await removeWorkDir(workDir).catch(() => undefined);
      if (uid !== null) this.releaseUid(uid);
    }
  }

  /** argv for one sandboxed attempt (the full chain, see sandboxLaunchArgv). */
  sandboxArgv(
    command: readonly string[],
    workDir: string,
    uid: number | null,
    procsFiles: readonly string[],
    memoryMB: number,
  ): string[] {
    if (!this.tools || !this.layout) throw new Error("local executor is not started");
    const rl = prlimitArgs(
      { cpuSeconds: 3600, wallSeconds: 0, memoryMB, processes: 16, outputBytes: 0 },
      {
        memoryViaAddressSpace: false,
        nproc: false,
        overheadProcesses: SANDBOX_OVERHEAD_PROCESSES,
        fileSizeBytes: this.fileSizeBytes,
        openFiles: this.openFiles,
      },
    );
    const layout: SandboxLayout = { ...this.layout, workDir, tmpBytes: memoryMB * 1024 * 1024 };
    return sandboxLaunchArgv(this.tools, procsFiles, rl, uid, bwrapArgv(layout, command));
  }

  async launch(request: LaunchRequest): Promise<void> {
    if (this.closed) throw new GantryError("GANTRY_ERR_EXECUTOR", ["the local executor is shut down"]);
    if (!this.enforcement || !this.tools)
      throw new GantryError("GANTRY_ERR_EXECUTOR", ["the local executor is not started"]);
    const key = attemptKey(request.runId, request.attempt);
    if (this.active.has(key) || this.finished.has(key)) return;
    if (this.active.size >= this.maxConcurrent) {
      throw new GantryError("GANTRY_ERR_EXECUTOR_BUSY", [
        `the local executor is at capacity (${this.maxConcurrent} attempts running)`,
      ]);
    }
    let resolveDone = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const a: Attempt = {
      key,
      request,
      uid: null,
      workDir: null,
      cgroup: null,
      child: null,
      sandboxed: this.sandboxed,
      spawned: false,
      started: false,
      setupError: undefined,
      killedFor: null,
      stopped: false,
      allocationFailureSeen: false,
      forkFailureSeen: false,
      collector: null,
      killers: [],
      nsInitPid: null,
      updates: Promise.resolve(),
      timers: [],
      startedAt: 0,
      finalized: false,
      done,
      resolveDone,
    };
    this.active.set(key, a);

    const problem = specProblem(request.spec);
    if (problem !== null) {
      this.report(a, { state: "failed", reason: `invalid_spec: ${problem}`, exitCode: null });
      this.forget(a);
      return;
    }
    try {
      await this.prepare(a);
    } catch (err) {
      await this.release(a, true);
      this.active.delete(key);
      a.resolveDone();
      if (err instanceof InputFileError) {
        this.rememberFinished(key);
        this.report(a, { state: "failed", reason: `invalid_spec: ${err.message}`, exitCode: null });
        return;
      }
      if (err instanceof GantryError) throw err;
      throw new GantryError("GANTRY_ERR_EXECUTOR", [`preparing attempt ${key}: ${(err as Error).message}`]);
    }
    if (a.stopped) {
      await this.release(a, true);
      this.forget(a);
      return;
    }
    await this.spawnAttempt(a);
  }

  private forget(a: Attempt): void {
    this.active.delete(a.key);
    this.rememberFinished(a.key);
    a.resolveDone();
  }

  private rememberFinished(key: string): void {
    this.finished.add(key);
    if (this.finished.size > FINISHED_KEYS_KEPT) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }

  private async prepare(a: Attempt): Promise<void> {
    const { spec, runId, attempt } = a.request;
    checkInputFiles(spec.files);
    if (this.isRoot) {
      a.uid = await this.acquireUid();
      if (a.uid === null)
        throw new GantryError("GANTRY_ERR_EXECUTOR_BUSY", ["no free sandbox uid (uid range exhausted)"]);
    }
    const owner = a.uid === null ? null : { uid: a.uid, gid: a.uid };
    const safeRun = runId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
    const name = `${safeRun}.${attempt}.${randomBytes(4).toString("hex")}`;
    a.workDir = path.join(this.workRoot, name);
    await createWorkDir(a.workDir, owner);
    await writeInputFiles(a.workDir, spec.files, owner);
    if (spec.runTokenDelivery === "file") {
      const tokenFile = path.join(a.workDir, RUN_TOKEN_FILE);
      await writeFile(tokenFile, a.request.runToken, { mode: 0o600, flag: "wx" });
      if (owner !== null) await chown(tokenFile, owner.uid, owner.gid);
    }
    if (this.cgroups.parents.size > 0) {
      a.cgroup = await AttemptCgroup.create(this.cgroups, name, {
        memoryBytes: spec.limits.memoryMB * 1024 * 1024,
        processes: spec.limits.processes + SANDBOX_OVERHEAD_PROCESSES,
      });
    }
  }

  private async spawnAttempt(a: Attempt): Promise<void> {
    const tools = this.tools as LaunchTools & { kill: string };
    const { spec, runId, attempt } = a.request;
    const limits = spec.limits;
    const gantryEnv: Record<string, string> = {
      GANTRY_RUN_ID: runId,
      GANTRY_ATTEMPT: String(attempt),
      GANTRY_API_URL: a.request.apiUrl,
    };
    if (spec.runTokenDelivery === "file") {
      gantryEnv.GANTRY_RUN_TOKEN_FILE = path.join(
        a.sandboxed ? SANDBOX_WORKDIR : (a.workDir as string),
        RUN_TOKEN_FILE,
      );
    } else {
      gantryEnv.GANTRY_RUN_TOKEN = a.request.runToken;
    }
    if (spec.runTokenEnv !== undefined) gantryEnv[spec.runTokenEnv] = a.request.runToken;
    if (this.apiSocket !== undefined) {
      gantryEnv.GANTRY_API_SOCKET = a.sandboxed ? SANDBOX_API_SOCKET : this.apiSocket;
    }
    const rl = prlimitArgs(limits, {
      memoryViaAddressSpace: !a.cgroup?.has("memory"),
      nproc: a.uid !== null,
      overheadProcesses:
        (a.sandboxed ? SANDBOX_OVERHEAD_PROCESSES : 0) +
        (a.cgroup?.has("pids") ? NPROC_SLACK_WITH_PIDS_CGROUP : 0),
      fileSizeBytes: this.fileSizeBytes,
      openFiles: this.openFiles,
    });
    const workDir = a.workDir as string;
    let child: ChildProcess;
    if (a.sandboxed) {
      const layout: SandboxLayout = {
        ...(this.layout as SandboxLayout),
        workDir,
        tmpBytes: limits.memoryMB * 1024 * 1024,
        apiSocket: this.apiSocket,
        readOnlyBinds: this.readOnlyBinds,
      };
      const argv = sandboxLaunchArgv(
        tools,
        a.cgroup?.procsFiles() ?? [],
        rl,
        a.uid,
        bwrapArgv(layout, spec.command),
      );
      child = spawn(argv[0] as string, argv.slice(1), {
        stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
        detached: true,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
      const argsPipe = child.stdio[ARGS_FD] as NodeJS.WritableStream | null;
      argsPipe?.on("error", () => undefined);
      argsPipe?.end(envArgsData(sandboxEnv(spec.env, gantryEnv, SANDBOX_WORKDIR)));
      let status = "";
      const statusPipe = child.stdio[STATUS_FD] as NodeJS.ReadableStream | null;
      statusPipe?.on("data", (d: Buffer) => {
        status += d.toString();
        if (!a.started) {
          const m = /"child-pid":\s*(\d+)/.exec(status);
          if (m) {
            a.started = true;
            a.nsInitPid = Number(m[1]);
          }
        }
      });
      statusPipe?.on("error", () => undefined);
    } else {
      // Unsandboxed: the same join-then-exec wrapper, but started directly as the attempt's uid
      // (so no user-controlled environment ever reaches a root process), in the work directory.
      if (a.uid !== null) await a.cgroup?.allowJoinBy(a.uid, a.uid);
      const argv = [
        tools.sh,
        "-c",
        JOIN_SCRIPT,
        "gantry-join",
        ...(a.cgroup?.procsFiles() ?? []),
        "--",
        tools.prlimit,
        ...rl,
        "--",
        ...spec.command,
      ];
      child = spawn(argv[0] as string, argv.slice(1), {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        cwd: workDir,
        env: sandboxEnv(spec.env, gantryEnv, workDir),
        ...(a.uid === null ? {} : { uid: a.uid, gid: a.uid }),
      });
      a.started = true;
    }
    a.child = child;
    a.collector = new OutputCollector({
      limitBytes: limits.outputBytes,
      emit: (stream, text, at) => this.emitLine(a, stream, text, at),
    });
    const onData = (stream: OutputStream) => (chunk: Buffer) => {
      if (!a.collector?.push(stream, chunk))
        this.limitKill(a, "output_limit", `output limit of ${limits.outputBytes} bytes exceeded`);
    };
    child.stdout?.on("data", onData("stdout"));
    child.stderr?.on("data", onData("stderr"));

    child.once("exit", () => {
      // Outside a sandbox, leftovers of the workload would keep our pipes open: end them now.
      if (!a.sandboxed) this.killTree(a);
      a.timers.push(
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          (
            child.stdio[STATUS_FD] as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined
          )?.destroy?.();
        }, 5000),
      );
    });
    child.once("close", (code, signal) => void this.finalize(a, code, signal));
    await new Promise<void>((resolve) => {
      child.once("spawn", () => {
        a.spawned = true;
        a.startedAt = performance.now();
        this.report(a, { state: "running", reason: "started" });
        this.startWatching(a);
        resolve();
      });
      child.on("error", (err) => {
        if (a.spawned) {
          this.log.warn({ attempt: a.key, err: err.message }, "local executor: child process error");
          return;
        }
        a.started = false;
        a.setupError = `spawn failed: ${err.message}`;
        resolve();
        void this.finalize(a, null, null);
      });
    });
    if (a.stopped) this.killTree(a);
  }

  private emitLine(a: Attempt, stream: OutputStream | "system", text: string, at: Date): void {
    if (stream === "stderr") {
      if (!a.allocationFailureSeen && ALLOCATION_FAILURE.test(text)) a.allocationFailureSeen = true;
      if (!a.forkFailureSeen && FORK_FAILURE.test(text)) a.forkFailureSeen = true;
      if (a.sandboxed && text.startsWith("bwrap: ")) a.setupError = text;
    }
    if (a.stopped) return;
    try {
      this.sink.log({ runId: a.request.runId, attempt: a.request.attempt, stream, at, text });
    } catch (err) {
      this.log.error({ err: (err as Error).message, attempt: a.key }, "sink.log threw");
    }
  }

  private startWatching(a: Attempt): void {
    const limits = a.request.spec.limits;
    a.timers.push(
      setTimeout(
        () => this.limitKill(a, "wall_time_limit", `wall time limit of ${limits.wallSeconds} s exceeded`),
        limits.wallSeconds * 1000,
      ),
    );
    const cg = a.cgroup;
    if (cg) {
      let polling = false;
      a.timers.push(
        setInterval(() => {
          if (polling || a.finalized) return;
          polling = true;
          void cg
            .stats()
            .then((s) => {
              if (s.oomKills > 0)
                this.limitKill(a, "memory_limit", `memory limit of ${limits.memoryMB} MiB exceeded`);
              else if (s.refusedForks > 0)
                this.limitKill(a, "process_limit", `process limit of ${limits.processes} reached`);
              else if (s.cpuSeconds !== null && s.cpuSeconds >= limits.cpuSeconds) {
                this.limitKill(a, "cpu_time_limit", `CPU time limit of ${limits.cpuSeconds} s exceeded`);
              }
            })
            .finally(() => (polling = false));
        }, this.pollIntervalMs),
      );
    }
    if (!cg?.has("pids") && a.uid !== null && a.sandboxed) {
      // No pids cgroup: RLIMIT_NPROC refuses forks silently; notice a tree sitting at the limit.
      const uid = a.uid;
      const max = limits.processes + SANDBOX_OVERHEAD_PROCESSES;
      let polling = false;
      a.timers.push(
        setInterval(
          () => {
            if (polling || a.finalized) return;
            polling = true;
            void pidsOfUid(uid, true)
              .then((pids) => {
                if (pids.length >= max)
                  this.limitKill(a, "process_limit", `process limit of ${limits.processes} reached`);
              })
              .finally(() => (polling = false));
          },
          Math.max(this.pollIntervalMs, 500),
        ),
      );
    }
  }

  private limitKill(a: Attempt, cause: KillCause, message: string): void {
    if (a.finalized || a.killedFor !== null || a.stopped) return;
    a.killedFor = cause;
    this.emitLine(a, "system", `[gantry] killed: ${message}`, new Date());
    this.killTree(a);
  }

  /** SIGKILL to the whole attempt: the process group of the sandbox and every process of its uid. */
  private killTree(a: Attempt): void {
    const pid = a.child?.pid;
    if (pid !== undefined && a.child?.exitCode === null && a.child.signalCode === null) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (a.uid !== null && this.tools) a.killers.push(killAllOfUid(this.tools.kill, a.uid, a.uid));
  }

  /**
   * Processes of the attempt still alive. With a cgroup: its members, plus the sandbox's pid-1,
   * which leaves the cgroup early in its exit and then waits, alive, for the rest of its namespace
   * to die. Without one: the live (non-zombie) processes of the attempt's uid (one /proc scan).
   */
  private async remaining(a: Attempt): Promise<number[]> {
    if (a.cgroup) {
      const pids = await a.cgroup.pids();
      const init = a.nsInitPid;
      if (init !== null && a.uid !== null && !pids.includes(init) && (await isLiveAs(init, a.uid)))
        pids.push(init);
      return pids;
    }
    return a.uid !== null ? pidsOfUid(a.uid) : [];
  }

  /**
   * Waits until no process of the attempt is left, killing what lingers; false if some survived.
   * Right after bubblewrap's monitor exits, the sandbox's pid-1 is usually still tearing the
   * namespace down, so the first checks only wait.
   */
  private async reap(a: Attempt): Promise<boolean> {
    const started = performance.now();
    for (let i = 0; i < REAP_ATTEMPTS; i++) {
      const left = await this.remaining(a);
      if (left.length === 0) return true;
      const waited = performance.now() - started;
      if (waited > 50) {
        if (a.uid !== null && this.tools) await killAllOfUid(this.tools.kill, a.uid, a.uid);
        for (const pid of left) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      }
      await sleep(waited < 20 ? 1 : 20);
    }
    return (await this.remaining(a)).length === 0;
  }

  /** Removes what the attempt held: processes, cgroups, work directory, uid. */
  private async release(a: Attempt, neverSpawned = false): Promise<void> {
    const gone = neverSpawned ? true : await this.reap(a);
    // The helpers run as the uid themselves (and could kill its next owner's processes).
    await Promise.all(a.killers);
    if (a.cgroup) {
      if (gone) await a.cgroup.remove();
      else this.log.error({ attempt: a.key }, "local executor: processes survived SIGKILL; cgroup kept");
    }
    if (a.workDir) {
      await removeWorkDir(a.workDir).catch((err: Error) =>
        this.log.error(
          { attempt: a.key, dir: a.workDir, err: err.message },
          "local executor: removing the work directory failed",
        ),
      );
    }
    if (a.uid !== null) {
      if (gone) this.releaseUid(a.uid);
      else {
        // Keep its host-wide lock too: nobody may use this uid while these processes live.
        this.uids.block(a.uid);
        this.uids.release(a.uid);
        this.log.error(
          { attempt: a.key, uid: a.uid },
          "local executor: processes of uid survived; uid taken out of the pool",
        );
      }
    }
  }

  private async finalize(a: Attempt, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (a.finalized) return;
    a.finalized = true;
    for (const t of a.timers) clearTimeout(t);
    a.collector?.flush();
    const wallSeconds = a.spawned ? (performance.now() - a.startedAt) / 1000 : 0;
    const stats = a.cgroup ? await a.cgroup.stats() : null;
    try {
      await this.release(a);
    } catch (err) {
      this.log.error({ attempt: a.key, err: (err as Error).message }, "local executor: cleanup failed");
    }
    this.active.delete(a.key);
    this.rememberFinished(a.key);
    if (!a.stopped) {
      const outcome = mapOutcome({
        started: a.started,
        setupError: a.setupError,
        exitCode: code,
        signal,
        viaSandbox: a.sandboxed,
        killedFor: a.killedFor,
        oomKilled: (stats?.oomKills ?? 0) > 0,
        processLimitHit: (stats?.refusedForks ?? 0) > 0,
        cpuSecondsUsed: stats?.cpuSeconds ?? null,
        cpuLimitSeconds: a.request.spec.limits.cpuSeconds,
        allocationFailureSeen: !a.cgroup?.has("memory") && a.allocationFailureSeen,
        forkFailureSeen: !a.cgroup?.has("pids") && a.forkFailureSeen,
      });
      const parts = [`[gantry] ${outcome.state}: ${outcome.reason}`, `wall ${wallSeconds.toFixed(2)} s`];
      if (stats?.cpuSeconds != null) parts.push(`cpu ${stats.cpuSeconds.toFixed(2)} s`);
      if (stats?.peakMemoryBytes != null)
        parts.push(`peak memory ${(stats.peakMemoryBytes / 1024 / 1024).toFixed(1)} MiB`);
      parts.push(`output ${a.collector?.bytes ?? 0} B`);
      this.emitLine(a, "system", parts.join(" · "), new Date());
      this.report(a, { state: outcome.state, reason: outcome.reason, exitCode: outcome.exitCode });
    }
    // Not waiting for the sink here: a sink may cancel this very attempt from inside update()
    // (the dispatcher does when a `running` update is refused), and cancel waits for `done`.
    a.resolveDone();
  }

  /** Queues an update for the attempt, after its earlier ones. */
  private report(a: Attempt, u: Omit<AttemptUpdate, "runId" | "attempt">): void {
    const update: AttemptUpdate = { runId: a.request.runId, attempt: a.request.attempt, ...u };
    a.updates = a.updates
      .then(() => this.sink.update(update))
      .catch((err: unknown) => {
        this.log.error(
          { attempt: a.key, update, err: err instanceof Error ? err.message : String(err) },
          "sink.update failed",
        );
      });
  }

  async cancel(runId: string, attempt: number): Promise<void> {
    const a = this.active.get(attemptKey(runId, attempt));
    if (!a) return;
    if (!a.finalized) {
      a.stopped = true;
      this.killTree(a);
    }
    await a.done;
  }

  async activeAttempts(): Promise<Set<string>> {
    return new Set(this.active.keys());
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.active.values()].map((a) => this.cancel(a.request.runId, a.request.attempt)));
    await tearDownCgroups(this.cgroups);
    this.uidLocks.releaseAll();
  }
}
