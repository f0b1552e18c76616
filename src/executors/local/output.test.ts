import assert from "node:assert/strict";
import { test } from "node:test";
import { OutputCollector, utf8Boundary, type OutputStream } from "./output.ts";

function collector(limitBytes: number, maxLineBytes?: number) {
  const lines: [OutputStream, string][] = [];
  const at = new Date("2026-01-01T00:00:00Z");
  const c = new OutputCollector({
    limitBytes,
    ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
    emit: (s, t, when) => {
      assert.equal(when, at);
      lines.push([s, t]);
    },
    now: () => at,
  });
  return { c, lines };
}

test("splits lines across chunks, per stream, and flushes the unterminated tail", () => {
  const { c, lines } = collector(1000);
  assert.equal(c.push("stdout", Buffer.from("hel")), true);
  c.push("stderr", Buffer.from("err1\nerr"));
  c.push("stdout", Buffer.from("lo\nworld\r\n\nlast"));
  c.flush();
  assert.deepEqual(lines, [
    ["stderr", "err1"],
    ["stdout", "hello"],
    ["stdout", "world"],
    ["stdout", ""],
    ["stdout", "last"],
    ["stderr", "err"],
  ]);
  assert.equal(c.bytes, 3 + 8 + 15);
});

test("splits long lines without cutting a UTF-8 character", () => {
  const { c, lines } = collector(1 << 20, 8);
  c.push("stdout", Buffer.from("abcdefghijkl\n"));
  c.push("stdout", Buffer.from("ééééé\n")); // 10 bytes
  c.push("stdout", Buffer.from("0123456789abcdefXYZ")); // tail longer than a line, no newline
  c.flush();
  assert.deepEqual(
    lines.map(([, t]) => t),
    ["abcdefgh", "ijkl", "éééé", "é", "01234567", "89abcdef", "XYZ"],
  );
});

test("a multi-byte character split across chunks decodes whole", () => {
  const { c, lines } = collector(100);
  const bytes = Buffer.from("→x\n");
  c.push("stdout", bytes.subarray(0, 1));
  c.push("stdout", bytes.subarray(1));
  assert.deepEqual(lines, [["stdout", "→x"]]);
});

test("stops at the output limit: keeps bytes up to it, refuses the rest", () => {
  const { c, lines } = collector(10);
  assert.equal(c.push("stdout", Buffer.from("12345\n")), true);
  assert.equal(c.push("stderr", Buffer.from("abcdefgh\n")), false);
  assert.equal(c.exceeded, true);
  assert.equal(c.push("stdout", Buffer.from("more\n")), false);
  c.flush();
  assert.deepEqual(lines, [
    ["stdout", "12345"],
    ["stderr", "abcd"],
  ]);
  assert.equal(c.bytes, 10);
});

test("exactly at the limit is still fine", () => {
  const { c } = collector(6);
  assert.equal(c.push("stdout", Buffer.from("12345\n")), true);
  assert.equal(c.exceeded, false);
  assert.equal(c.push("stdout", Buffer.from("x")), false);
});

test("utf8Boundary", () => {
  const b = Buffer.from("aé"); // 61 c3 a9
  assert.equal(utf8Boundary(b, 2), 1);
  assert.equal(utf8Boundary(b, 3), 3);
  assert.equal(utf8Boundary(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]), 4), 4);
});
