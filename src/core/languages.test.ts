import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_LANGUAGES,
  expandCommand,
  languageProblem,
  mergeLanguages,
  resolveLanguageName,
} from "./languages.ts";

test("built-in languages: python, javascript, c, cpp, java, each valid", () => {
  assert.deepEqual(Object.keys(DEFAULT_LANGUAGES).sort(), ["c", "cpp", "java", "javascript", "python"]);
  for (const [name, row] of Object.entries(DEFAULT_LANGUAGES)) assert.equal(languageProblem(row), null, name);
});

test("names: case-insensitive, with aliases", () => {
  assert.equal(resolveLanguageName(DEFAULT_LANGUAGES, "Python"), "python");
  assert.equal(resolveLanguageName(DEFAULT_LANGUAGES, "py"), "python");
  assert.equal(resolveLanguageName(DEFAULT_LANGUAGES, "c++"), "cpp");
  assert.equal(resolveLanguageName(DEFAULT_LANGUAGES, "node"), "javascript");
  assert.equal(resolveLanguageName(DEFAULT_LANGUAGES, "cobol"), null);
  assert.equal(resolveLanguageName(DEFAULT_LANGUAGES, "constructor"), null);
});

test("a config file adds, replaces and removes rows; a bad row is refused by name", () => {
  const table = mergeLanguages(DEFAULT_LANGUAGES, {
    ruby: { sourceFile: "main.rb", extensions: [".rb"], run: ["/usr/bin/ruby", "{main}"], image: "ruby:3.3" },
    java: null,
    python: { ...DEFAULT_LANGUAGES.python, image: "python:3.12" },
  });
  assert.ok(table.ruby);
  assert.equal(table.java, undefined);
  assert.equal(table.python?.image, "python:3.12");
  assert.equal(DEFAULT_LANGUAGES.python?.image.includes("3.11"), true, "built-ins untouched");
  assert.throws(
    () => mergeLanguages(DEFAULT_LANGUAGES, { ruby: { sourceFile: "main.rb" } }),
    /language 'ruby': extensions/,
  );
  assert.throws(() => mergeLanguages(DEFAULT_LANGUAGES, { "Bad Name": null }), /language name/);
  assert.throws(() => mergeLanguages(DEFAULT_LANGUAGES, []), /JSON object/);
});

test("commands: placeholders filled, {sources} expands to one argument per file", () => {
  assert.deepEqual(
    expandCommand(["gcc", "-o", "prog", "{sources}", "-lm"], {
      main: "main.c",
      sources: ["main.c", "lib/x.c"],
      memoryMB: 64,
    }),
    ["gcc", "-o", "prog", "main.c", "lib/x.c", "-lm"],
  );
  assert.deepEqual(
    expandCommand(DEFAULT_LANGUAGES.java?.run ?? [], {
      main: "src/Main.java",
      sources: [],
      memoryMB: 256,
    }).slice(1, 2),
    ["-Xmx256m"],
  );
  assert.equal(
    expandCommand(DEFAULT_LANGUAGES.java?.run ?? [], {
      main: "src/Main.java",
      sources: [],
      memoryMB: 256,
    }).at(-1),
    "Main",
  );
});
