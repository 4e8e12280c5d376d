/**
 * The benchmark's JSON results (`data/bench/results.json`): one object per part that ran, each
 * with its own measurement time, plus a description of the machine. Files are written beside
 * their target and renamed into place, so a reader never sees a partial file.
 *
 * @example
 * ```ts
 * import { commitFiles } from "./results_io.ts";
 * await commitFiles([{ path: await Deno.makeTempFile({ suffix: ".json" }), value: { ok: true } }]);
 * ```
 * @module
 */
import { ownTemp, partialPath, releaseTemp } from "../lib/notebook/processes.ts";
import * as ort from "onnxruntime-web/webgpu";
import { webGpuAdapter } from "../lib/onnx/backend.ts";
import type { MachineInfo } from "../lib/bench/results.ts";

/**
 * Describes this machine.
 * @example
 * ```ts
 * (await machineInfo()).cores >= 1;
 * ```
 */
export async function machineInfo(): Promise<MachineInfo> {
  let cpu = "unknown CPU";
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: the CPU model is only informative.
  }
  const adapter = await webGpuAdapter();
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    onnxruntimeWeb: ort.env.versions.web ?? "unknown",
    webgpuAdapter: adapter
      ? `${adapter.description || adapter.vendor}${adapter.isFallback ? " (fallback)" : ""}`
      : null,
    loadAverage: Deno.loadavg().map((x) => Math.round(x * 100) / 100),
    note: "shared machine: other engineers' jobs may run at the same time; ratios are " +
      "measured side by side in one run, absolute figures are this machine's",
  };
}

/**
 * Writes several files as one commit, JSON values (`files`) and texts (`texts`): every file is
 * written to a temporary file beside its target first, and only when all are complete are they
 * renamed into place, so an interrupted run leaves the old set whole (the pid-named
 * temporaries are removed on exit or swept by a later run).
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * await commitFiles([{ path: `${dir}/a.json`, value: 1 }], [{ path: `${dir}/b.md`, text: "b" }]);
 * ```
 */
export async function commitFiles(
  files: readonly { path: string; value: unknown }[],
  texts: readonly { path: string; text: string }[] = [],
): Promise<void> {
  const staged: [string, string][] = [];
  const all = [
    ...files.map(({ path, value }) => ({ path, text: JSON.stringify(value, null, 2) + "\n" })),
    ...texts,
  ];
  try {
    for (const { path, text } of all) {
      const slash = path.lastIndexOf("/");
      await Deno.mkdir(slash >= 0 ? path.slice(0, slash) || "/" : ".", { recursive: true });
      const tmp = partialPath(path);
      ownTemp(tmp);
      staged.push([tmp, path]);
      await Deno.writeTextFile(tmp, text);
      await Deno.chmod(tmp, 0o644);
    }
    for (const [tmp, path] of staged) await Deno.rename(tmp, path);
  } finally {
    for (const [tmp] of staged) {
      await Deno.remove(tmp).catch(() => {});
      releaseTemp(tmp);
    }
  }
}

/**
 * Reads a JSON object file, or returns `undefined` when it does not exist; a file that exists
 * but is not a JSON object is an error naming it.
 * @example
 * ```ts
 * await readJsonObject("does/not/exist.json"); // undefined
 * ```
 */
export async function readJsonObject(
  path: string,
): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${path} must hold a JSON object`);
  }
  return value;
}
