/**
 * A model name to a local folder in Hugging Face's layout. A name that is an existing folder is
 * used as is; any other `owner/name` is a Hub id whose files are downloaded once into a cache
 * folder (`$LLM_NOTEBOOKS_CACHE`, else `$XDG_CACHE_HOME/llm-notebooks`, else
 * `~/.cache/llm-notebooks`) from `https://huggingface.co/<id>/resolve/main/<file>` (the host
 * can be changed with `$HF_ENDPOINT`, as in Hugging Face's own tools). Each file is written
 * beside its final name and renamed into place, so a cache never holds half a file; progress
 * goes to stderr. Without a network the first request fails within a short timeout and the
 * error says what to do instead.
 *
 * @example
 * ```ts
 * import { resolveModelFolder } from "./hub.ts";
 * const folder = await resolveModelFolder("data/models/brown-gpt2");
 * ```
 * @module
 */

/** The files of a model folder: required ones first, then those a model may lack. */
export const MODEL_FILES = {
  required: ["config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"],
  optional: ["generation_config.json", "onnx/model.onnx_data"],
} as const;

/** Options of {@linkcode resolveModelFolder} and {@linkcode downloadModel}. */
export interface HubOptions {
  /** Hub root URL (default `$HF_ENDPOINT` or `https://huggingface.co`). */
  endpoint?: string;
  /** Cache root (default `$LLM_NOTEBOOKS_CACHE`, `$XDG_CACHE_HOME/llm-notebooks`, `~/.cache/llm-notebooks`). */
  cacheDir?: string;
  /** Revision (branch, tag or commit) to download (default `main`). */
  revision?: string;
  /** Milliseconds to wait for a server's response headers before giving up (default 10000). */
  connectTimeoutMs?: number;
  /** Where progress lines go (default stderr). */
  progress?: (line: string) => void;
}

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Whether `path` is an existing directory.
 * @example
 * ```ts
 * await isFolder("data/models/brown-gpt2");
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

/**
 * The cache root for downloaded models, from the environment.
 * @example
 * ```ts
 * defaultCacheDir(); // e.g. "/home/me/.cache/llm-notebooks"
 * ```
 */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("LLM_NOTEBOOKS_CACHE");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/llm-notebooks`;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!home) throw new Error("cannot place the model cache: set LLM_NOTEBOOKS_CACHE or HOME");
  return `${home}/.cache/llm-notebooks`;
}

/**
 * Returns a local model folder for `name`: the folder itself when it exists, else the cached
 * download of the Hub id `name` (downloading what is missing).
 * @example
 * ```ts
 * const folder = await resolveModelFolder("data/models/brown-gpt2"); // "data/models/brown-gpt2"
 * ```
 */
export async function resolveModelFolder(name: string, options: HubOptions = {}): Promise<string> {
  if (await isFolder(name)) return name;
  if (!HUB_ID.test(name) || name.startsWith(".") || name.includes("..")) {
    throw new Error(
      `model ${JSON.stringify(name)} is neither an existing folder nor a Hugging Face Hub id ` +
        `(owner/name); pass a folder holding config.json, tokenizer.json and onnx/model.onnx`,
    );
  }
  return await downloadModel(name, options);
}

/**
 * Downloads the files of Hub model `id` into the cache (skipping files already there) and
 * returns the cache folder. Fails fast with a clear message when the Hub is unreachable.
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * // No server on port 9: the download fails at once, naming the model and what to do.
 * await assertRejects(
 *   () => downloadModel("onnx-community/gpt2", { endpoint: "http://127.0.0.1:9", cacheDir: Deno.makeTempDirSync(), progress: () => {} }),
 *   Error,
 *   'cannot download model "onnx-community/gpt2"',
 * );
 * ```
 */
export async function downloadModel(id: string, options: HubOptions = {}): Promise<string> {
  const endpoint = (options.endpoint ?? Deno.env.get("HF_ENDPOINT") ?? "https://huggingface.co")
    .replace(/\/+$/, "");
  const revision = options.revision ?? "main";
  const folder = `${options.cacheDir ?? defaultCacheDir()}/${id}`;
  const progress = options.progress ?? ((line: string) => console.error(line));
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  // Ask for every missing required file first (HEAD), so a repository without an ONNX export
  // or a tokenizer.json fails before anything large is downloaded.
  const absent: string[] = [];
  for (const file of MODEL_FILES.required) {
    if (await exists(`${folder}/${file}`)) continue;
    const url = `${endpoint}/${id}/resolve/${revision}/${file}`;
    const head = await request(url, id, timeoutMs, "HEAD");
    await head.body?.cancel();
    if (head.status === 404) absent.push(file);
    else if (!head.ok) {
      throw new Error(`downloading ${id}: ${url} answered ${head.status} ${head.statusText}`);
    }
  }
  if (absent.length > 0) {
    throw new Error(
      `downloading ${id}: the repository has no ${absent.join(", ")} (404); it must hold ` +
        `${MODEL_FILES.required.join(", ")} (an ONNX export, e.g. an onnx-community/* model)`,
    );
  }
  for (const file of [...MODEL_FILES.required, ...MODEL_FILES.optional]) {
    const target = `${folder}/${file}`;
    if (await exists(target) || await exists(`${target}.absent`)) continue;
    const url = `${endpoint}/${id}/resolve/${revision}/${file}`;
    const response = await request(url, id, timeoutMs);
    if (response.status === 404 && (MODEL_FILES.optional as readonly string[]).includes(file)) {
      await response.body?.cancel();
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.writeTextFile(`${target}.absent`, `${url} answered 404\n`);
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(
        `downloading ${id}: ${url} answered ${response.status} ${response.statusText}`,
      );
    }
    await Deno.mkdir(dirname(target), { recursive: true });
    await saveBody(response, target, (done, total) =>
      progress(
        `${id}/${file}: ${megabytes(done)}${total ? ` of ${megabytes(total)}` : ""} MB`,
      ));
  }
  return folder;
}

async function request(
  url: string,
  id: string,
  timeoutMs: number,
  method: "GET" | "HEAD" = "GET",
): Promise<Response> {
  try {
    return await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const reason = e instanceof Error && e.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : String((e as Error).message ?? e);
    throw new Error(
      `cannot download model ${JSON.stringify(id)} from ${new URL(url).origin}: ${reason}. ` +
        `This machine may have no network; use a local model folder instead ` +
        `(e.g. --hf_model_name data/models/brown-gpt2), or copy the model's files there.`,
    );
  }
}

async function saveBody(
  response: Response,
  target: string,
  report: (done: number, total: number | undefined) => void,
): Promise<void> {
  const length = Number(response.headers.get("content-length"));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  const partial = `${target}.partial-${crypto.randomUUID()}`;
  const file = await Deno.open(partial, { write: true, createNew: true });
  let done = 0;
  let reported = 0;
  try {
    for await (const chunk of response.body!) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
      done += chunk.length;
      if (done - reported >= 16 << 20) {
        report(done, total);
        reported = done;
      }
    }
    if (total !== undefined && done !== total) {
      throw new Error(`${target}: received ${done} bytes, expected ${total}`);
    }
    file.close();
    await Deno.rename(partial, target);
    report(done, total);
  } catch (e) {
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(partial).catch(() => {});
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "." : path.slice(0, i);
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
