/**
 * Kind `submission` end to end with real programs in every built-in language: API → dispatcher →
 * local sandbox → `gantry runner` (compile once, run each case under limits) → result. Correct,
 * wrong, looping, memory-hungry, non-compiling and crashing programs in each language; fork bombs,
 * network attempts, writes outside /work and floods of output; and submissions refused with 4xx.
 * Afterwards no process of a sandbox uid is left.
 */

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { startTestGantry, type TestGantry } from "../helpers/test-gantry.ts";
import { testBackends } from "../helpers/test-databases.ts";

interface Result {
  status: string;
  score: number;
  failTags: string[];
  feedback: { case: string; message: string }[];
  metrics: Record<string, number>;
  artifacts: { cases?: { name: string; verdict: string }[] };
}
interface RunBody {
  id: string;
  state: string;
  reason: string | null;
  result: Result | null;
}

const ADD = [
  { name: "small", stdin: "2 3\n", expectedStdout: "5\n" },
  { name: "large", stdin: "40000 2000\n", expectedStdout: "42000\n" },
];

/** The same behaviours in each language: [correct, wrong, loop, 1 GiB, compile error, crash]. */
const PROGRAMS: Record<
  string,
  { file: string; timeLimitMs: number; memoryMB: number; code: Record<string, string> }
> = {
  python: {
    file: "main.py",
    timeLimitMs: 1000,
    memoryMB: 128,
    code: {
      correct: "a, b = map(int, input().split())\nprint(a + b)\n",
      wrong: "a, b = map(int, input().split())\nprint(a - b)\n",
      loop: "while True:\n    pass\n",
      memory: "x = b'a' * (1 << 30)\nprint(len(x))\n",
      compile: "def f(:\n  pass\n",
      crash: "raise ValueError('boom')\n",
    },
  },
  javascript: {
    file: "main.js",
    timeLimitMs: 1000,
    memoryMB: 128,
    code: {
      correct:
        'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n',
      wrong:
        'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\nconsole.log(a * b);\n',
      loop: "for (;;) {}\n",
      memory:
        "const parts = [];\nfor (let i = 0; i < 1024; i++) parts.push(Buffer.alloc(1 << 20, 1));\nconsole.log(parts.length);\n",
      compile: "function f( {\n",
      crash: "null.boom();\n",
    },
  },
  c: {
    file: "main.c",
    timeLimitMs: 1000,
    memoryMB: 64,
    code: {
      correct:
        '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}\n',
      wrong:
        '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b+1);return 0;}\n',
      loop: "int main(void){volatile unsigned long i=0;for(;;)i++;}\n",
      memory:
        '#include <stdio.h>\n#include <stdlib.h>\nint main(void){size_t n=(size_t)1<<30;volatile char*p=malloc(n);if(!p){fputs("malloc failed\\n",stderr);return 3;}for(size_t i=0;i<n;i+=4096)p[i]=1;printf("%d\\n",p[n-4096]);return 0;}\n',
      compile: "int main(void){ return undefined_name; }\n",
      crash: "#include <stddef.h>\nint main(void){volatile int*p=NULL;return *p;}\n",
    },
  },
  cpp: {
    file: "main.cpp",
    timeLimitMs: 1000,
    memoryMB: 64,
    code: {
      correct: '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n',
      wrong: '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a<<"\\n";}\n',
      loop: "int main(){volatile unsigned long i=0;for(;;)i++;}\n",
      memory:
        '#include <vector>\n#include <iostream>\nint main(){std::vector<char> v((size_t)1<<30, 1);std::cout<<(int)v.back()<<"\\n";}\n',
      compile: "int main(){ std::string s; }\n",
      crash: '#include <stdexcept>\nint main(){throw std::runtime_error("boom");}\n',
    },
  },
  java: {
    file: "Main.java",
    timeLimitMs: 2000,
    memoryMB: 256,
    code: {
      correct:
        "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);long a=s.nextLong(),b=s.nextLong();System.out.println(a+b);}}\n",
      wrong:
        "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);long a=s.nextLong(),b=s.nextLong();System.out.println(b);}}\n",
      loop: "public class Main{public static void main(String[] x){long i=0;while(true){i++;}}}\n",
      memory:
        "public class Main{public static void main(String[] x){byte[] b=new byte[1<<30];b[5]=1;System.out.println(b.length);}}\n",
      compile: 'public class Main{public static void main(String[] x){int y = "nope";}}\n',
      crash:
        'public class Main{public static void main(String[] x){throw new IllegalStateException("boom");}}\n',
    },
  },
};

const EXPECTED: Record<string, { status: string; score: number }> = {
  correct: { status: "accepted", score: 100 },
  wrong: { status: "wrong_answer", score: 0 },
  loop: { status: "time_limit", score: 0 },
  memory: { status: "memory_limit", score: 0 },
  compile: { status: "compile_error", score: 0 },
  crash: { status: "runtime_error", score: 0 },
};

/** Live processes in this process's sandbox cgroups (named gantry-<pid>-…): none once runs end. */
async function leftoverSandboxProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cgroups = await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "");
    if (!cgroups.includes(`gantry-${process.pid}-`)) continue;
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    if (/^State:\s+Z/m.test(status)) continue;
    found.push(
      `${pid}: ${(await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replace(/\0/g, " ")}`,
    );
  }
  return found;
}

describe("submissions end to end (pglite)", () => {
  let t: TestGantry;
  before(async () => {
    t = await startTestGantry("pglite", {}, { GANTRY_MAX_ACTIVE_RUNS: "4" });
  });
  after(() => t.stop());

  async function grade(body: Record<string, unknown>): Promise<RunBody> {
    const res = await t.api("POST", "/v1/runs", { body: { kind: "submission", ...body } });
    assert.equal(res.status, 201, res.text);
    return (await t.waitForRun((res.body as { id: string }).id, 120_000)) as unknown as RunBody;
  }

  test("every language: correct, wrong answer, infinite loop, 1 GiB, compile error, crash", async () => {
    const jobs = Object.entries(PROGRAMS).flatMap(([language, p]) =>
      Object.entries(p.code).map(async ([kind, code]) => {
        const done = await grade({
          language,
          files: [{ path: p.file, content: code }],
          cases: ADD.map((c) => ({ ...c, timeLimitMs: p.timeLimitMs, memoryMB: p.memoryMB })),
          compare: { mode: "tokens" },
        });
        return { language, kind, done };
      }),
    );
    const problems: string[] = [];
    for (const { language, kind, done } of await Promise.all(jobs)) {
      const want = EXPECTED[kind] as { status: string; score: number };
      const r = done.result;
      const summary = `${language}/${kind}: run ${done.state} (${done.reason}), result ${JSON.stringify(r)}`;
      if (done.state !== "succeeded" || r === null || r.status !== want.status || r.score !== want.score) {
        problems.push(summary);
        continue;
      }
      const verdicts = (r.artifacts.cases ?? []).map((c) => c.verdict);
      const wantVerdicts =
        kind === "compile" ? [] : ADD.map(() => (kind === "correct" ? "accepted" : want.status));
      if (JSON.stringify(verdicts) !== JSON.stringify(wantVerdicts))
        problems.push(`${summary}: case verdicts`);
      if (kind === "wrong" && !/wrong_answer: token 1: expected "5", got/.test(r.feedback[0]?.message ?? ""))
        problems.push(`${summary}: no diff in the feedback`);
      if (
        kind === "compile" &&
        (r.feedback[0]?.case !== "compile" || (r.feedback[0]?.message ?? "").length < 10)
      )
        problems.push(`${summary}: no compiler output`);
      if (kind === "correct" && !((r.metrics.memoryMB ?? 0) > 0))
        problems.push(`${summary}: no memory measured`);
    }
    assert.deepEqual(problems, []);
  });

  test("hostile programs: fork bomb, network, writes outside /work, 100 MB of output, stray processes", async () => {
    const one = { stdin: "", timeLimitMs: 1000, memoryMB: 64 };
    const [pyBomb, cBomb, network, outside, flood, cFlood, strays] = await Promise.all([
      grade({
        language: "python",
        files: [
          {
            path: "main.py",
            content:
              "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
          },
        ],
        cases: [{ ...one, expectedStdout: "" }],
      }),
      grade({
        language: "c",
        files: [{ path: "main.c", content: "#include <unistd.h>\nint main(void){for(;;)fork();}\n" }],
        cases: [{ ...one, expectedStdout: "" }],
      }),
      grade({
        language: "python",
        files: [
          {
            path: "main.py",
            content: [
              "import socket",
              "for host, port in [('1.1.1.1', 53), ('127.0.0.1', 8080), ('example.com', 80)]:",
              "    try:",
              "        socket.create_connection((host, port), timeout=1)",
              "        print('connected')",
              "    except OSError:",
              "        print('blocked')",
            ].join("\n"),
          },
        ],
        cases: [{ ...one, expectedStdout: "blocked\nblocked\nblocked\n" }],
      }),
      grade({
        language: "python",
        files: [
          {
            path: "main.py",
            content: [
              "import os",
              "for path in ['/usr/evil', '/etc/evil', '/opt/gantry/src/evil.ts', '/evil', '/work/../evil']:",
              "    try:",
              "        open(path, 'w').write('x')",
              "        print('wrote', path)",
              "    except OSError:",
              "        print('denied')",
              "open('/work/inside.txt', 'w').write('fine')",
              "print(open('/work/inside.txt').read())",
            ].join("\n"),
          },
        ],
        cases: [{ ...one, expectedStdout: "denied\ndenied\ndenied\ndenied\ndenied\nfine\n" }],
      }),
      grade({
        language: "python",
        files: [
          {
            path: "main.py",
            content: "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\n",
          },
        ],
        cases: [{ ...one, expectedStdout: "" }],
      }),
      grade({
        language: "c",
        files: [
          {
            path: "main.c",
            content:
              "#include <stdio.h>\n#include <string.h>\nint main(void){static char b[1<<20];memset(b,120,sizeof b);for(int i=0;i<100;i++)fwrite(b,1,sizeof b,stdout);return 0;}\n",
          },
        ],
        cases: [{ ...one, expectedStdout: "" }],
      }),
      // Case 1 leaves a detached process behind; case 2 must not see it.
      grade({
        language: "python",
        files: [
          {
            path: "main.py",
            content: [
              "import os, sys, time",
              "if sys.stdin.read().strip() == 'spawn':",
              "    if os.fork() == 0:",
              "        os.setsid()",
              "        time.sleep(30)",
              "        os._exit(0)",
              "    print('spawned')",
              "else:",
              "    others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]",
              "    print(len([p for p in others if 'python' in open(f'/proc/{p}/cmdline').read()]))",
            ].join("\n"),
          },
        ],
        cases: [
          { ...one, name: "spawn", stdin: "spawn", expectedStdout: "spawned\n" },
          { ...one, name: "look", stdin: "look", expectedStdout: "0\n" },
        ],
      }),
    ]);
    for (const bomb of [pyBomb, cBomb]) {
      assert.equal(bomb.state, "succeeded", JSON.stringify(bomb));
      // Forks beyond the process limit fail; the survivors spin (time) or add up (memory).
      assert.ok(
        ["time_limit", "memory_limit", "runtime_error"].includes(bomb.result?.status ?? ""),
        JSON.stringify(bomb.result),
      );
    }
    for (const [what, ok] of [
      ["network", network],
      ["outside", outside],
      ["strays", strays],
    ] as const) {
      assert.equal(ok.result?.status, "accepted", `${what}: ${JSON.stringify(ok.result)}`);
    }
    for (const f of [flood, cFlood]) {
      assert.equal(f.result?.status, "output_limit", JSON.stringify(f.result));
    }
    // The machine is fine: a normal submission still passes, and no sandbox process is left.
    const fine = await grade({
      language: "python",
      files: [{ path: "main.py", content: "print(sum(map(int, input().split())))\n" }],
      cases: ADD,
    });
    assert.equal(fine.result?.status, "accepted");
    assert.deepEqual(await t.gantry.executor?.activeAttempts(), new Set());
    assert.deepEqual(await leftoverSandboxProcesses(), []);
  });

  test("hostile programs in JavaScript, C++ and Java: fork bomb, network, writes outside /work, 100 MB of output", async () => {
    const PATHS = ["/usr/evil", "/etc/evil", "/opt/gantry/evil", "/evil", "/work/../evil"];
    const hostile: Record<
      string,
      { file: string; timeLimitMs: number; memoryMB: number; code: Record<string, string> }
    > = {
      javascript: {
        file: "main.js",
        timeLimitMs: 1000,
        memoryMB: 128,
        code: {
          bomb: 'const { spawn } = require("child_process");\nfor (;;) { try { spawn("/usr/bin/sleep", ["60"]); } catch {} }\n',
          network: [
            'const net = require("net");',
            "const tryOne = (host, port) => new Promise((done) => {",
            "  const s = net.connect({ host, port, timeout: 1000 });",
            '  s.on("connect", () => { console.log("connected"); s.destroy(); done(); });',
            '  s.on("error", () => { console.log("blocked"); done(); });',
            '  s.on("timeout", () => { console.log("blocked"); s.destroy(); done(); });',
            "});",
            '(async () => { for (const [h, p] of [["1.1.1.1", 53], ["127.0.0.1", 8080], ["example.com", 80]]) await tryOne(h, p); })();',
          ].join("\n"),
          outside: [
            'const fs = require("fs");',
            `for (const p of ${JSON.stringify(PATHS)}) { try { fs.writeFileSync(p, "x"); console.log("wrote", p); } catch { console.log("denied"); } }`,
          ].join("\n"),
          flood:
            "const b = Buffer.alloc(1 << 20, 120);\nfor (let i = 0; i < 100; i++) process.stdout.write(b);\n",
        },
      },
      cpp: {
        file: "main.cpp",
        timeLimitMs: 1000,
        memoryMB: 64,
        code: {
          bomb: "#include <unistd.h>\nint main(){for(;;)fork();}\n",
          network: [
            "#include <cstdio>\n#include <cstring>\n#include <netdb.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\n#include <unistd.h>",
            "static void tryOne(const char*ip,int port){int s=socket(AF_INET,SOCK_STREAM,0);sockaddr_in a{};a.sin_family=AF_INET;a.sin_port=htons(port);inet_pton(AF_INET,ip,&a.sin_addr);",
            ' if(s>=0&&connect(s,(sockaddr*)&a,sizeof a)==0)puts("connected");else puts("blocked");if(s>=0)close(s);}',
            'int main(){tryOne("1.1.1.1",53);tryOne("127.0.0.1",8080);addrinfo*r=nullptr;puts(getaddrinfo("example.com","80",nullptr,&r)==0?"connected":"blocked");}',
          ].join("\n"),
          outside: [
            "#include <cstdio>",
            `int main(){const char*p[]={${PATHS.map((x) => JSON.stringify(x)).join(",")}};for(auto q:p){FILE*f=fopen(q,"w");if(f){puts("wrote");fclose(f);}else puts("denied");}}`,
          ].join("\n"),
          flood:
            "#include <cstdio>\n#include <vector>\nint main(){std::vector<char> b(1<<20,'x');for(int i=0;i<100;i++)fwrite(b.data(),1,b.size(),stdout);}\n",
        },
      },
      java: {
        file: "Main.java",
        timeLimitMs: 2000,
        memoryMB: 256,
        code: {
          bomb: 'public class Main{public static void main(String[] a){for(;;){try{new ProcessBuilder("/usr/bin/sleep","60").start();}catch(Exception e){}}}}\n',
          network: [
            "import java.net.*;",
            'public class Main{static void t(String h,int p){try(Socket s=new Socket()){s.connect(new InetSocketAddress(h,p),1000);System.out.println("connected");}catch(Exception e){System.out.println("blocked");}}',
            'public static void main(String[] a){t("1.1.1.1",53);t("127.0.0.1",8080);t("example.com",80);}}',
          ].join("\n"),
          outside: [
            "import java.io.*;",
            `public class Main{public static void main(String[] a){for(String p:new String[]{${PATHS.map((x) => JSON.stringify(x)).join(",")}}){try(FileWriter w=new FileWriter(p)){w.write("x");System.out.println("wrote "+p);}catch(IOException e){System.out.println("denied");}}}}`,
          ].join("\n"),
          flood:
            "import java.io.*;\npublic class Main{public static void main(String[] a)throws IOException{byte[] b=new byte[1<<20];java.util.Arrays.fill(b,(byte)'x');OutputStream o=new BufferedOutputStream(System.out);for(int i=0;i<100;i++)o.write(b);o.flush();}}\n",
        },
      },
    };
    const want: Record<string, { expectedStdout: string; statuses: string[] }> = {
      bomb: { expectedStdout: "", statuses: ["time_limit", "memory_limit", "runtime_error"] },
      network: { expectedStdout: "blocked\nblocked\nblocked\n", statuses: ["accepted"] },
      outside: { expectedStdout: "denied\n".repeat(PATHS.length), statuses: ["accepted"] },
      flood: { expectedStdout: "", statuses: ["output_limit"] },
    };
    const runs = Object.entries(hostile).flatMap(([language, p]) =>
      Object.entries(p.code).map(async ([kind, code]) => {
        const w = want[kind] as { expectedStdout: string; statuses: string[] };
        const done = await grade({
          language,
          files: [{ path: p.file, content: code }],
          cases: [
            { stdin: "", expectedStdout: w.expectedStdout, timeLimitMs: p.timeLimitMs, memoryMB: p.memoryMB },
          ],
        });
        const ok = done.state === "succeeded" && w.statuses.includes(done.result?.status ?? "");
        return ok ? null : `${language}/${kind}: ${done.state} ${JSON.stringify(done.result)}`;
      }),
    );
    assert.deepEqual(
      (await Promise.all(runs)).filter((p) => p !== null),
      [],
    );
    assert.deepEqual(await t.gantry.executor?.activeAttempts(), new Set());
    assert.deepEqual(await leftoverSandboxProcesses(), []);
  });

  test("a submission cannot read the runner's token or memory, nor forge its own result", async () => {
    // Hunts every process it can see for the run token (environ) and the expected output (mem),
    // and forges a full-marks result over the API socket with whatever token it finds.
    const hunter = [
      "import os, re, socket, json",
      "token = rb'gtr_[A-Za-z0-9_-]{20,}'",
      "found = None",
      "pids = [p for p in os.listdir('/proc') if p.isdigit() and p != str(os.getpid())]",
      "for pid in pids:",
      "    try:",
      "        m = re.search(rb'GANTRY_RUN_TOKEN=(' + token + rb')', open(f'/proc/{pid}/environ', 'rb').read())",
      "        found = found or (m and m.group(1).decode())",
      "    except OSError:",
      "        pass",
      "    try:",
      "        maps = open(f'/proc/{pid}/maps').read().splitlines()",
      "        mem = open(f'/proc/{pid}/mem', 'rb')",
      "    except OSError:",
      "        continue",
      "    for line in maps:",
      "        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))",
      "        if 'r' not in line.split()[1] or hi - lo > 1 << 28: continue",
      "        try:",
      "            mem.seek(lo); chunk = mem.read(hi - lo)",
      "        except (OSError, ValueError, OverflowError):",
      "            continue",
      "        m = re.search(token, chunk)",
      "        found = found or (m and m.group(0).decode())",
      "        if b'SECRET-EXPECTED-OUTPUT' in chunk: found = found or 'expected-output'",
      "if found:",
      "    body = json.dumps({'status': 'accepted', 'score': 100}).encode()",
      "    s = socket.socket(socket.AF_UNIX); s.connect(os.environ.get('GANTRY_API_SOCKET', '/run/gantry/api.sock'))",
      "    rid = os.environ.get('GANTRY_RUN_ID', '')",
      "    s.sendall(f'POST /v1/internal/runs/{rid}/result HTTP/1.1\\r\\nHost: g\\r\\nX-Run-Token: {found}\\r\\nContent-Type: application/json\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n'.encode() + body)",
      "    print('LEAKED ' + found[:12])",
      "else:",
      "    print('no leak')",
    ].join("\n");
    const done = await grade({
      language: "python",
      files: [{ path: "main.py", content: hunter + "\n" }],
      cases: [
        { name: "hunt", stdin: "", expectedStdout: "no leak\n", timeLimitMs: 4000, memoryMB: 128 },
        // An expected output the program must not find in the runner's memory.
        {
          name: "secret",
          stdin: "",
          expectedStdout: "SECRET-EXPECTED-OUTPUT\n",
          timeLimitMs: 4000,
          memoryMB: 128,
        },
      ],
    });
    assert.equal(done.state, "succeeded", JSON.stringify(done));
    assert.equal(done.result?.artifacts.cases?.[0]?.verdict, "accepted", JSON.stringify(done.result));
    assert.notEqual(
      done.result?.status,
      "accepted",
      "the forged full-marks result must not be the one recorded",
    );
  });

  test("several files, weights, a numeric comparison and a checker program", async () => {
    const multi = await grade({
      language: "c",
      files: [
        {
          path: "main.c",
          content:
            '#include <stdio.h>\nlong add(long,long);\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",add(a,b));}\n',
        },
        { path: "lib/add.c", content: "long add(long a,long b){return a+b;}\n" },
      ],
      cases: ADD,
    });
    assert.equal(multi.result?.status, "accepted", JSON.stringify(multi.result));

    const weighted = await grade({
      language: "python",
      files: [
        { path: "main.py", content: "from helper import half\nprint(half(float(input())))\n" },
        { path: "helper.py", content: "def half(x):\n    return round(x / 2, 3) if x < 100 else -1\n" },
      ],
      cases: [
        { name: "a", stdin: "1", expectedStdout: "0.5000001", weight: 1 },
        { name: "b", stdin: "3", expectedStdout: "1.5", weight: 2 },
        { name: "c", stdin: "1000", expectedStdout: "500", weight: 1 },
      ],
      compare: { mode: "numeric", tolerance: 0.001 },
    });
    assert.equal(weighted.result?.status, "wrong_answer");
    assert.equal(weighted.result?.score, 75);
    assert.deepEqual(
      weighted.result?.feedback.map((f) => f.case),
      ["c"],
    );

    const checked = await grade({
      language: "python",
      files: [{ path: "main.py", content: "n = int(input())\nprint(n, 0) if n % 2 == 0 else print(0, n)\n" }],
      cases: [
        { name: "even", stdin: "4", expectedStdout: "any pair summing to 4" },
        { name: "odd", stdin: "5", expectedStdout: "any pair summing to 5" },
      ],
      compare: {
        mode: "checker",
        files: [
          {
            path: "check.py",
            content: [
              "import sys",
              "n = int(open(sys.argv[1]).read())",
              "a, b = map(int, open(sys.argv[3]).read().split())",
              "if a + b == n and a >= b:",
              "    sys.exit(0)",
              "print(f'{a} + {b} is not a valid answer for {n}')",
              "sys.exit(1)",
            ].join("\n"),
          },
        ],
        command: ["/usr/bin/python3", "check.py"],
      },
    });
    assert.equal(checked.result?.status, "wrong_answer", JSON.stringify(checked.result));
    assert.equal(checked.result?.score, 50);
    assert.match(checked.result?.feedback[0]?.message ?? "", /0 \+ 5 is not a valid answer for 5/);
  });

  test("when the run's time runs out, the runner reports what it has: status timeout, the rest skipped", async () => {
    const loop = { expectedStdout: "", memoryMB: 64 };
    const done = await grade({
      language: "python",
      files: [{ path: "main.py", content: "while True:\n    pass\n" }],
      // 12 s in all, 5 s of it kept back for reporting: case a (3 s of wall at most) fits, then
      // b and c (7 s each) no longer do.
      cases: [
        { ...loop, name: "a", timeLimitMs: 1000 },
        { ...loop, name: "b", timeLimitMs: 3000 },
        { ...loop, name: "c", timeLimitMs: 3000 },
      ],
      limits: { wallSeconds: 12 },
    });
    assert.equal(done.state, "succeeded", JSON.stringify(done));
    assert.equal(done.result?.status, "timeout", JSON.stringify(done.result));
    assert.deepEqual(done.result?.failTags, ["skipped", "time_limit", "timeout"]);
    assert.deepEqual(
      done.result?.artifacts.cases?.map((c) => c.verdict),
      ["time_limit", "skipped", "skipped"],
    );
  });

  test("bad submissions get clear 4xx errors and create no run", async () => {
    const base = {
      kind: "submission",
      language: "python",
      files: [{ path: "main.py", content: "print(1)" }],
      cases: [{ expectedStdout: "1" }],
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...base, language: "cobol" }, /unknown language 'cobol'; known: c, cpp, java, javascript, python/],
      [{ ...base, files: [{ path: "main.py", content: "  \n" }] }, /code is empty/],
      [{ ...base, files: [] }, /files/],
      [
        { ...base, files: [{ path: "main.py", content: "#".repeat(600 * 1024) }] },
        /source files total \d+ bytes; the limit is 524288/,
      ],
      [{ ...base, cases: Array.from({ length: 201 }, () => ({ expectedStdout: "1" })) }, /cases/],
      [{ ...base, cases: [] }, /cases/],
      [{ ...base, files: [{ path: "../../etc/passwd", content: "x" }] }, /etc\/passwd' must not contain/],
      [{ ...base, files: [{ path: "/etc/cron.d/x", content: "x" }] }, /must be relative/],
      [{ ...base, files: [{ path: "a/../../b.py", content: "x" }] }, /must not contain/],
      [{ ...base, files: [{ path: ".checker/x.py", content: "x" }] }, /reserved/],
      [{ ...base, cases: [{ expectedStdout: "1", timeLimitMs: 10 ** 6 }] }, /timeLimitMs/],
      [{ ...base, cases: [{ expectedStdout: "1", memoryMB: 10 ** 6 }] }, /memoryMB/],
      [{ ...base, compare: { mode: "fuzzy" } }, /mode/],
      [{ ...base, command: ["sh"] }, /command/],
      [{ ...base, limits: { memoryMB: 10 ** 9 } }, /memoryMB/],
    ];
    const before = ((await t.api("GET", "/v1/runs?limit=500")).body as { runs: unknown[] }).runs.length;
    for (const [body, message] of cases) {
      const res = await t.api("POST", "/v1/runs", { body });
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.text}`);
      assert.match(res.text, message);
    }
    const afterCount = ((await t.api("GET", "/v1/runs?limit=500")).body as { runs: unknown[] }).runs.length;
    assert.equal(afterCount, before);
  });
});

for (const backend of testBackends()) {
  describe(`a submission is graded and its result shown (${backend})`, () => {
    let t: TestGantry;
    before(async () => {
      t = await startTestGantry(backend);
    });
    after(() => t.stop());

    test("GET /v1/runs/{id} shows the verdicts; the sources and cases are in its spec", async () => {
      const res = await t.api("POST", "/v1/runs", {
        body: {
          kind: "submission",
          language: "py",
          files: [{ path: "main.py", content: "print(sum(map(int, input().split())))\n" }],
          cases: ADD,
        },
      });
      assert.equal(res.status, 201, res.text);
      const created = res.body as { id: string; kind: string };
      assert.equal(created.kind, "submission");
      await t.waitForRun(created.id, 60_000);
      const shown = (await t.api("GET", `/v1/runs/${created.id}`)).body as RunBody & {
        spec: { submission: { language: string; cases: unknown[] }; image: string };
      };
      assert.equal(shown.state, "succeeded");
      assert.equal(shown.result?.status, "accepted");
      assert.equal(shown.result?.score, 100);
      assert.deepEqual(
        shown.result?.artifacts.cases?.map((c) => c.verdict),
        ["accepted", "accepted"],
      );
      assert.equal(shown.spec.submission.language, "python");
      assert.equal(shown.spec.submission.cases.length, 2);
      assert.match(shown.spec.image, /python/);
    });
  });
}
