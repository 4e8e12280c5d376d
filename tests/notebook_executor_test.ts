import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  CellCollector,
  executeNotebook,
  MARKER_MIME,
  NotebookExecutionError,
} from "../lib/notebook/execute.ts";
import { CellOutputs } from "../lib/notebook/outputs.ts";
import type { KernelMessage } from "../lib/notebook/kernel.ts";
import {
  joinSource,
  type Output,
  parseNotebook,
  serializeNotebook,
  splitLines,
} from "../lib/notebook/nbformat.ts";

const FIXTURES = new URL("./fixtures/notebooks/", import.meta.url).pathname;

/** Copies a fixture into a fresh temporary folder, so runs never rewrite committed files. */
async function fixtureCopy(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nb-exec-test-" });
  const path = `${dir}/${name}`;
  await Deno.copyFile(`${FIXTURES}${name}`, path);
  return path;
}

function text(o: Output): string {
  return o.output_type === "stream" ? joinSource(o.text) : "";
}

function plain(o: Output): string {
  return o.output_type === "display_data" || o.output_type === "execute_result"
    ? joinSource(o.data["text/plain"] as string)
    : "";
}

/** Busy loops on every core, so the kernel's output queues run late as on a loaded machine. */
function loadMachine(): () => Promise<void> {
  const burners = Array.from(
    { length: navigator.hardwareConcurrency },
    () =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "for (;;) {}"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn(),
  );
  return async () => {
    for (const b of burners) b.kill("SIGKILL");
    await Promise.all(burners.map((b) => b.status));
  };
}

Deno.test("executor: every output of every output-heavy cell, on every run, loaded", async () => {
  const runs = 10;
  const unload = loadMachine();
  try {
    await stressRuns(runs);
  } finally {
    await unload();
  }
});

async function stressRuns(runs: number): Promise<void> {
  for (let run = 0; run < runs; run++) {
    const path = await fixtureCopy("stress.ipynb");
    await executeNotebook(path, { cellTimeoutMs: 120_000 });
    // Read back what was written, so the file on disk is what is checked.
    const nb = parseNotebook(await Deno.readTextFile(path), path);
    let expectedCount = 0;
    let emitCells = 0;
    for (const [i, cell] of nb.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      const source = joinSource(cell.source);
      if (source.trim() === "") {
        assertEquals(cell.outputs, [], `run ${run}: empty cell ${i} has outputs`);
        assertEquals(cell.execution_count, null);
        continue;
      }
      expectedCount++;
      assertEquals(cell.execution_count, expectedCount, `run ${run}: cell ${i} execution count`);
      const call = source.match(/^await emit\((\d+), (\d+)\)$/);
      if (!call) {
        assertEquals(cell.outputs, [], `run ${run}: definition cell ${i} shows nothing`);
        continue;
      }
      emitCells++;
      // What emit(k, n) must show, derived from its definition in the fixture's first cell.
      const k = Number(call[1]);
      const n = Number(call[2]);
      const stdout = Array.from({ length: n }, (_, j) => `cell ${k} line ${j}\n`).join("") +
        `cell ${k} tail\n`;
      const where = `run ${run}, cell ${i} (emit(${k}, ${n}))`;
      const outs = cell.outputs;
      const streamsOf = (name: string) =>
        outs.filter((o) => o.output_type === "stream" && o.name === name).map(text).join("");
      assertEquals(streamsOf("stdout"), stdout, `${where}: stdout`);
      assertEquals(streamsOf("stderr"), `cell ${k} warning\n`, `${where}: stderr`);
      const displays = outs.filter((o) => o.output_type === "display_data");
      assertEquals(displays.map(plain), [`display ${k}`], `${where}: display`);
      assertEquals(
        displays[0].output_type === "display_data" &&
          joinSource(displays[0].data["text/markdown"] as string[]),
        `**display ${k}**`,
      );
      const results = outs.filter((o) => o.output_type === "execute_result");
      assertEquals(results.map(plain), [`result ${k}`], `${where}: result`);
      assertEquals(
        results[0].output_type === "execute_result" && results[0].execution_count,
        expectedCount,
      );
      assertEquals(
        outs.filter((o) => !["stream", "display_data", "execute_result"].includes(o.output_type)),
        [],
        `${where}: no other outputs`,
      );
      outs.forEach((o, j) => {
        const prev = outs[j - 1];
        assert(
          !(o.output_type === "stream" && prev?.output_type === "stream" && prev.name === o.name),
          `${where}: adjacent ${o.output_type} outputs were not merged`,
        );
      });
    }
    assertEquals(emitCells, 32, "the fixture has 32 emit cells");
    await Deno.remove(path.replace(/\/stress\.ipynb$/, ""), { recursive: true });
  }
}

Deno.test("executor: a failing cell names notebook, cell and error, and writes nothing", async () => {
  const path = await fixtureCopy("failing.ipynb");
  const before = await Deno.readTextFile(path);
  const error = await assertRejects(() => executeNotebook(path, { cellTimeoutMs: 60_000 }));
  assertInstanceOf(error, NotebookExecutionError);
  assertEquals(error.cellIndex, 2);
  assertEquals(error.ename, "RangeError");
  assertEquals(error.evalue, "limit 3 exceeded");
  assertStringIncludes(error.message, path);
  assertStringIncludes(error.message, "cell 3 of 4");
  assertStringIncludes(error.message, "const limit = 3;");
  assertStringIncludes(error.message, "RangeError: limit 3 exceeded");
  assertEquals(await Deno.readTextFile(path), before, "the notebook must be left as it was");
});

Deno.test("executor: a syntax error says what and where, not just 'Execution failed'", async () => {
  const path = await fixtureCopy("syntax.ipynb");
  const error = await assertRejects(() => executeNotebook(path, { cellTimeoutMs: 60_000 }));
  assertInstanceOf(error, NotebookExecutionError);
  assertEquals(error.cellIndex, 1);
  assertEquals(error.ename, "SyntaxError");
  // The stray comma after `+`, located from the fixture's own source.
  const nb = parseNotebook(await Deno.readTextFile(path), path);
  const lines = joinSource(nb.cells[1].source).split("\n");
  const line = lines.findIndex((l) => l.includes("+,"));
  const column = lines[line].indexOf("+,") + 2;
  assertStringIncludes(error.evalue, `(line ${line + 1}, column ${column})`);
  assertStringIncludes(error.message, "cell 2 of 2 (const total = [1, 2, 3])");
});

Deno.test("executor: a cell that never finishes times out, naming the cell", async () => {
  const path = await fixtureCopy("hanging.ipynb");
  const error = await assertRejects(() => executeNotebook(path, { cellTimeoutMs: 3_000 }));
  assertInstanceOf(error, NotebookExecutionError);
  assertEquals(error.cellIndex, 1);
  assertEquals(error.ename, "Timeout");
  assertStringIncludes(error.message, "await new Promise(() => {})");
});

Deno.test("executor: a bad timeout is refused, naming the value", async () => {
  const path = await fixtureCopy("failing.ipynb");
  const error = await assertRejects(() => executeNotebook(path, { cellTimeoutMs: -5 }));
  assertStringIncludes(error.message, "-5");
});

function message(
  channel: "iopub" | "shell",
  msg_type: string,
  parent: string,
  content: Record<string, unknown>,
): KernelMessage {
  return { channel, msg_type, msg_id: crypto.randomUUID(), parent_msg_id: parent, content };
}

Deno.test("CellCollector: late outputs carrying the sentinel's id go back to the cell", () => {
  const marker = "M";
  const c = new CellCollector("cell", marker);
  const stream = (parent: string, t: string) =>
    message("iopub", "stream", parent, { name: "stdout", text: t });
  c.accept(stream("cell", "a\n"));
  c.accept(message("shell", "execute_reply", "cell", { status: "ok", execution_count: 7 }));
  c.accept(message("iopub", "status", "cell", { execution_state: "idle" }));
  assert(c.replied && !c.done);
  c.sentinelId = "sentinel";
  // Late: sent by the kernel after the sentinel became its current request.
  c.accept(stream("sentinel", "b\n"));
  c.accept(message("iopub", "execute_result", "sentinel", { data: { "text/plain": "r" } }));
  c.accept(stream("sentinel", "c\nM\n"));
  c.accept(stream("someone-else", "x\n"));
  assert(!c.done, "the display marker is still missing");
  c.accept(message("iopub", "display_data", "sentinel", { data: { [MARKER_MIME]: marker } }));
  assert(!c.done, "the sentinel's reply is still missing");
  c.accept(message("shell", "execute_reply", "sentinel", { status: "ok" }));
  assert(c.done);
  assertEquals(c.outputs.list().map((o) => text(o) || plain(o)), ["a\nb\n", "r", "c\n"]);
  assertEquals(c.reply?.execution_count, 7);
});

Deno.test("CellOutputs: stream merging, clear_output and update_display_data", () => {
  const o = new CellOutputs();
  o.add("stream", { name: "stdout", text: "1" });
  o.add("stream", { name: "stdout", text: "2\n" });
  o.add("stream", { name: "stderr", text: "e\n" });
  o.add("stream", { name: "stdout", text: "3\n" });
  assertEquals(o.list().map(text), ["12\n", "e\n", "3\n"]);
  o.add("clear_output", { wait: true });
  assertEquals(o.list().length, 3, "wait=true clears only when the next output comes");
  o.add("display_data", { data: { "text/plain": "v1" }, transient: { display_id: "d" } });
  o.add("display_data", { data: { "text/plain": "other" } });
  o.add("update_display_data", { data: { "text/plain": "v2" }, transient: { display_id: "d" } });
  assertEquals(o.list().map(plain), ["v2", "other"]);
  assertEquals(o.list()[0], {
    output_type: "display_data",
    data: { "text/plain": "v2" },
    metadata: {},
  });
  o.add("clear_output", { wait: false });
  assertEquals(o.list(), []);
});

Deno.test("nbformat: lines round-trip and text is stored as lists of lines", () => {
  // A seeded generator, so a failure reproduces.
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 200; i++) {
    const s = Array.from(
      { length: Math.floor(next() * 30) },
      () => "ab\n$ "[Math.floor(next() * 5)],
    )
      .join("");
    const lines = splitLines(s);
    assertEquals(lines.join(""), s);
    assert(lines.every((l, j) => j === lines.length - 1 || l.endsWith("\n")));
    assert(lines.every((l) => l.indexOf("\n") === -1 || l.indexOf("\n") === l.length - 1));
  }
  const nb = parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [{
        cell_type: "code",
        source: "a\nb",
        metadata: {},
        outputs: [{
          output_type: "display_data",
          data: { "text/plain": "x\ny", "application/vnd.plotly.v1+json": { data: [] } },
          metadata: {},
        }],
        execution_count: 1,
      }],
    }),
    "t.ipynb",
  );
  const written = JSON.parse(serializeNotebook(nb));
  assertEquals(written.cells[0].source, ["a\n", "b"]);
  assertEquals(written.cells[0].outputs[0].data["text/plain"], ["x\n", "y"]);
  assertEquals(written.cells[0].outputs[0].data["application/vnd.plotly.v1+json"], { data: [] });
});

Deno.test("nbformat: a notebook that is not nbformat 4 is refused, naming the version", () => {
  let error: Error | undefined;
  try {
    parseNotebook('{"nbformat": 3, "cells": []}', "old.ipynb");
  } catch (e) {
    error = e as Error;
  }
  assertStringIncludes(error?.message ?? "", "old.ipynb");
  assertStringIncludes(error?.message ?? "", "nbformat 3");
});
