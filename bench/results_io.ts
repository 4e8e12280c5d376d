/**
 * The benchmark's JSON results (`data/bench/results.json`): one object per part that ran, each
 * with its own measurement time, plus a description of the machine. Files are written beside
 * their target and renamed into place, so a reader never sees a partial file.
 *
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./results.ts";
 * await writeJsonAtomic(await Deno.makeTempFile({ suffix: ".json" }), { ok: true });
 * ```
 * @module
 */
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
 * Writes `value` as indented JSON to `path` via a temporary file in the same folder and a
 * rename, creating the folder when missing.
 * @example
 * ```ts
 * await writeJsonAtomic(await Deno.makeTempFile({ suffix: ".json" }), [1, 2]);
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempFile({ dir, prefix: ".tmp-", suffix: ".json" });
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
    // Temporary files are private (0600); results are ordinary readable data files.
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
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
