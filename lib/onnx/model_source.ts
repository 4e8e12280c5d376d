/**
 * A model name to the local files that run it: an existing folder as is, or a Hub id through
 * the cache ({@linkcode repoSnapshot}, {@linkcode downloadFiles}). A Hub id whose repository has
 * no ONNX files (the handout's `facebook/opt-350m`) goes to its documented ONNX export
 * ({@linkcode onnxExportOf}), said as `facebook/opt-350m -> Xenova/opt-350m (ONNX export)`.
 * The graph and its external data are chosen by dtype and backend as transformers.js does
 * ({@linkcode chooseModelFiles}); before anything large is downloaded the files and their size
 * are printed, and a model too large for onnxruntime-web's 32-bit WebAssembly memory is refused
 * naming a smaller dtype.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveModel } from "./model_source.ts";
 * const source = await resolveModel("data/models/brown-gpt2", { backend: "wasm" });
 * assertEquals([source.files.graph, source.files.dtype], ["onnx/model.onnx", "fp32"]);
 * ```
 * @module
 */
import type { Backend } from "./backend.ts";
import { type Json, readJsonFile } from "./config.ts";
import { downloadFiles, HUB_ID, type HubOptions, hubSettings, repoSnapshot } from "./hub.ts";
import {
  availableDtypes,
  chooseModelFiles,
  type DtypeRequest,
  type ModelFiles,
} from "./model_files.ts";
import { noExportAdvice, onnxExportOf } from "./onnx_exports.ts";

/** Files every model folder needs besides its graph. */
export const REQUIRED_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"] as const;

/** Files used when present. */
export const OPTIONAL_FILES = ["generation_config.json"] as const;

/**
 * The most model bytes (graph and external data) onnxruntime-web is given: its WebAssembly
 * memory is 32-bit (4 GiB), and the KV cache, activations and the runtime need room too.
 */
export const WASM_MODEL_LIMIT_BYTES = 3.5 * 2 ** 30;

/** Options of {@linkcode resolveModel}. */
export interface ResolveOptions extends HubOptions {
  /** The dtype asked for (default `auto`). */
  dtype?: DtypeRequest;
  /** The backend that will run the model. */
  backend: Backend;
  /** Whether the WebGPU adapter has `shader-f16` (default true). */
  fp16Supported?: boolean;
}

/** Where a model's files are and which of them run it. */
export interface ModelSource {
  /** Local folder holding config.json, the tokenizer and the chosen graph. */
  folder: string;
  /** The chosen graph, external data and dtype. */
  files: ModelFiles;
  /** The Hub repository that served it, when it came from the Hub. */
  repo?: string;
  /** The commit of that repository. */
  commit?: string;
  /** Bytes of the graph and its external data. */
  modelBytes: number;
}

/**
 * Resolves `name` (a folder or a Hub id) to local files, downloading what the cache lacks.
 * @example
 * ```ts
 * const source = await resolveModel("data/models/brown-gpt2", { backend: "webgpu" });
 * source.folder; // "data/models/brown-gpt2"
 * ```
 */
export async function resolveModel(name: string, options: ResolveOptions): Promise<ModelSource> {
  if (await isFolder(name)) return await localModel(name, options);
  if (!HUB_ID.test(name) || name.includes("..")) {
    throw new Error(
      `model ${JSON.stringify(name)} is neither an existing folder nor a Hugging Face Hub id ` +
        `(owner/name); pass a folder holding config.json, tokenizer.json and onnx/model.onnx`,
    );
  }
  const settings = hubSettings(options);
  let snapshot = await repoSnapshot(name, options);
  if (!hasGraph(snapshot.files.map((f) => f.path))) {
    const target = onnxExportOf(name);
    if (!target) throw new Error(noExportAdvice(name));
    settings.log(`${name} -> ${target} (ONNX export)`);
    snapshot = await repoSnapshot(target, options);
  }
  const paths = snapshot.files.map((f) => f.path);
  const absent = REQUIRED_FILES.filter((f) => !paths.includes(f));
  if (absent.length > 0) {
    throw new Error(
      `${snapshot.id} has no ${absent.join(", ")}; a model needs ${REQUIRED_FILES.join(", ")} ` +
        `beside its ONNX graph`,
    );
  }
  await downloadFiles(snapshot, ["config.json"], options);
  const config = await readJsonFile(`${snapshot.folder}/config.json`);
  const where = snapshot.fromCache ? `${snapshot.id} (the cached files; offline)` : snapshot.id;
  const files = chooseModelFiles(paths, { ...options, config, where });
  if (files.note) settings.log(files.note);
  const sizes = new Map(snapshot.files.map((f) => [f.path, f.size]));
  const modelBytes = checkFits(paths, sizes, files, snapshot.id, options.backend);
  const wanted = [
    ...REQUIRED_FILES,
    ...OPTIONAL_FILES.filter((f) => paths.includes(f)),
    files.graph,
    ...files.externalData,
  ];
  const toFetch = [];
  for (const path of wanted) {
    if (!await isFile(`${snapshot.folder}/${path}`)) toFetch.push(path);
  }
  if (toFetch.length > 0) {
    const bytes = toFetch.reduce((n, p) => n + sizes.get(p)!, 0);
    settings.log(
      `${snapshot.id} @ ${snapshot.commit.slice(0, 7)}: downloading ${toFetch.length} files, ` +
        `${megabytes(bytes)} MB, into ${settings.cacheDir}: ` +
        toFetch.map((p) => `${p} (${megabytes(sizes.get(p)!)} MB)`).join(", "),
    );
  }
  await downloadFiles(snapshot, wanted, options);
  return { folder: snapshot.folder, files, repo: snapshot.id, commit: snapshot.commit, modelBytes };
}

async function localModel(folder: string, options: ResolveOptions): Promise<ModelSource> {
  const paths: string[] = [];
  for (const file of REQUIRED_FILES) if (await isFile(`${folder}/${file}`)) paths.push(file);
  try {
    for await (const entry of Deno.readDir(`${folder}/onnx`)) paths.push(`onnx/${entry.name}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  let config: Json = {};
  try {
    config = await readJsonFile(`${folder}/config.json`);
  } catch {
    // A missing or broken config.json is reported by the loader, naming the file.
  }
  const files = chooseModelFiles(paths, { ...options, config, where: folder });
  if (files.note) hubSettings(options).log(files.note);
  const sizes = new Map<string, number>();
  for (const p of paths) sizes.set(p, (await Deno.stat(`${folder}/${p}`)).size);
  const modelBytes = checkFits(paths, sizes, files, folder, options.backend);
  return { folder, files, modelBytes };
}

/**
 * The bytes of the chosen graph and its external data; on onnxruntime-web (WASM, WebGPU) refuses
 * them above {@linkcode WASM_MODEL_LIMIT_BYTES}, naming the largest dtype of the same model that
 * fits. The native CPU runtime has no such limit.
 */
function checkFits(
  paths: readonly string[],
  sizes: ReadonlyMap<string, number>,
  files: ModelFiles,
  where: string,
  backend: Backend,
): number {
  const bytesOf = (f: ModelFiles) =>
    [f.graph, ...f.externalData].reduce((n, p) => n + sizes.get(p)!, 0);
  const bytes = bytesOf(files);
  if (backend === "cpu" || bytes <= WASM_MODEL_LIMIT_BYTES) return bytes;
  const smaller = availableDtypes(paths)
    .map((dtype) => [dtype, bytesOf(chooseModelFiles(paths, { backend, dtype }))] as const)
    .filter(([, n]) => n <= WASM_MODEL_LIMIT_BYTES)
    .sort((a, b) => b[1] - a[1])[0];
  throw new Error(
    `${where} ${files.graph} (${files.dtype}) is ${gigabytes(bytes)} GB, more than the ` +
      `${gigabytes(WASM_MODEL_LIMIT_BYTES)} GB onnxruntime-web can hold (its WebAssembly memory ` +
      `is 32-bit, 4 GiB, shared with the KV cache); ` +
      (smaller
        ? `use --dtype ${smaller[0]} (${gigabytes(smaller[1])} GB), or --backend cpu`
        : "no dtype of this model fits; use --backend cpu or a smaller model"),
  );
}

function hasGraph(paths: readonly string[]): boolean {
  return availableDtypes(paths).length > 0;
}

/**
 * Whether `path` is an existing directory.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * assert(await isFolder("data/models/brown-gpt2"));
 * ```
 */
export async function isFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function gigabytes(bytes: number): string {
  return (bytes / 1e9).toFixed(2);
}
