/**
 * `gantry` — one program: the server (`up`), the client commands, the validator and the runner.
 * Each command lives in its own module, loaded only when called.
 */

export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/** A command takes its arguments (after the command name) and returns the process exit code. */
export type Command = (argv: string[], io: CommandIO) => Promise<number>;

interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

const COMMANDS: Record<string, CommandEntry> = {
  up: {
    summary: "start Gantry (API, dispatcher, local sandbox) in one process",
    load: async () => (await import("./up-command.ts")).upCommand,
  },
  submit: {
    summary: "queue a command as a run; --wait streams its logs",
    load: async () => (await import("./submit-command.ts")).submitCommand,
  },
  runs: {
    summary: "list runs, or show one",
    load: async () => (await import("./runs-command.ts")).runsCommand,
  },
  logs: {
    summary: "print a run's logs; -f follows them",
    load: async () => (await import("./runs-command.ts")).logsCommand,
  },
  cancel: {
    summary: "cancel a queued or running run",
    load: async () => (await import("./runs-command.ts")).cancelCommand,
  },
  token: {
    summary: "create, list or revoke API tokens",
    load: async () => (await import("./token-command.ts")).tokenCommand,
  },
  grade: {
    summary: "grade source code against test cases (kind submission); --wait prints the verdicts",
    load: async () => (await import("./grade-command.ts")).gradeCommand,
  },
  runner: {
    summary: "inside a submission's sandbox: fetch it, compile, run the cases, report (internal)",
    load: async () => (await import("../runner/runner.ts")).runnerCommand,
  },
  validate: {
    summary: "validate Kubernetes manifests and print an execution plan",
    load: async () => (await import("./validate-command.ts")).validateCommand,
  },
};

export const USAGE_EXIT = 2;

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: gantry <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nRun 'gantry <command> --help' for a command's options.\n`;
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? USAGE_EXIT : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    io.stderr.write(`gantry: unknown command '${name}'\n\n${usage()}`);
    return USAGE_EXIT;
  }
  const command = await entry.load();
  return command(rest, io);
}

const isEntryPoint = import.meta.url === `file://${process.argv[1]}`;
if (isEntryPoint) {
  main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`gantry: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
