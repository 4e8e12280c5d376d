/**
 * The Hugging Face Hub through `@huggingface/hub`: a repository's commit (`modelInfo`) and file
 * list (`listFiles`), and downloads into the standard Hugging Face cache (`$HF_HUB_CACHE`, else
 * `$HF_HOME/hub`, else `~/.cache/huggingface/hub`: `models--owner--name/blobs/<etag>`,
 * `snapshots/<commit>/<path>` symlinks, `refs/<revision>`), so files are shared with Python's
 * `huggingface_hub` and other HF tools. Around the library's calls this adds what it lacks:
 *
 * - `$HF_ENDPOINT` and `$HF_TOKEN` honoured, revisions (branch, tag or commit);
 * - resume: a file is fetched into `blobs/<etag>.incomplete` and an interrupted download
 *   continues with an HTTP range request; the finished blob is checked against its Git or LFS
 *   hash before it is renamed into place, so the cache never holds a wrong or partial file;
 * - timeouts that fit large files: the server must answer within `connectTimeoutMs`, and a body
 *   fails only when no byte arrives for `stallTimeoutMs` (a slow download never times out);
 * - offline use: with `$HF_HUB_OFFLINE=1` (or when the Hub cannot be reached) a cached snapshot
 *   is used; a cold cache fails at once naming the cache folder;
 * - clear one-line errors (no network, repository not found or gated).
 *
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * import { repoSnapshot } from "./hub.ts";
 * // No server on port 9: fails at once, naming the model and what to do.
 * await assertRejects(
 *   () => repoSnapshot("Xenova/opt-350m", { endpoint: "http://127.0.0.1:9", cacheDir: Deno.makeTempDirSync() }),
 *   Error,
 *   'cannot reach the Hugging Face Hub for "Xenova/opt-350m"',
 * );
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import {
  getHFHubCachePath,
  getRepoFolderName,
  HubApiError,
  listFiles,
  modelInfo,
} from "@huggingface/hub";
import { type DownloadProgress, downloadProgress } from "./download_progress.ts";

/** Where and how the Hub is reached; every field defaults from the environment. */
export interface HubOptions {
  /** Hub root URL (default `$HF_ENDPOINT`, else `https://huggingface.co`). */
  endpoint?: string;
  /** Access token for private or gated repositories (default `$HF_TOKEN`). */
  token?: string;
  /** Cache root (default `$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /** Use only the cache (default: `$HF_HUB_OFFLINE` is `1` or `true`). */
  offline?: boolean;
  /** Milliseconds for a server to answer a request (default 10000). */
  connectTimeoutMs?: number;
  /** Milliseconds a download may go without receiving a byte (default 60000). */
  stallTimeoutMs?: number;
  /** Where notes go (default stderr). */
  log?: (line: string) => void;
  /** Progress display factory (default: a bar on a terminal, lines otherwise). */
  progress?: (label: string, totalBytes: number) => DownloadProgress;
}

/** One file of a repository revision. */
export interface RepoFile {
  /** Path inside the repository. */
  path: string;
  /** Bytes. */
  size: number;
  /** The cache's blob name: the LFS SHA-256 for LFS files, else the Git blob SHA-1. */
  etag: string;
  /** Whether the file is stored with LFS (its etag is the content's SHA-256). */
  lfs: boolean;
}

/** A repository at one commit: its files, and where its snapshot lives in the cache. */
export interface RepoSnapshot {
  /** `owner/name`. */
  id: string;
  /** The revision asked for. */
  revision: string;
  /** The commit it resolved to. */
  commit: string;
  /** Every file of the commit. */
  files: RepoFile[];
  /** `<cache>/models--owner--name/snapshots/<commit>`. */
  folder: string;
  /** `true` when the listing came from the cache rather than the Hub. */
  fromCache: boolean;
}

/** Settings resolved from options and environment. */
export interface HubSettings {
  endpoint: string;
  token: string | undefined;
  cacheDir: string;
  revision: string;
  offline: boolean;
  connectTimeoutMs: number;
  stallTimeoutMs: number;
  log: (line: string) => void;
  progress: (label: string, totalBytes: number) => DownloadProgress;
}

const COMMIT = /^[0-9a-f]{40}$/;

/** A Hub model id: `owner/name` (or a bare legacy name such as `gpt2`). */
export const HUB_ID = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Options completed from the environment (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`,
 * `HF_HUB_CACHE`, `HF_HOME`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(hubSettings({ endpoint: "http://127.0.0.1:8080/" }).endpoint, "http://127.0.0.1:8080");
 * ```
 */
export function hubSettings(options: HubOptions = {}): HubSettings {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const offlineEnv = (env("HF_HUB_OFFLINE") ?? "").toLowerCase();
  return {
    endpoint: (options.endpoint ?? env("HF_ENDPOINT") ?? "https://huggingface.co").replace(
      /\/+$/,
      "",
    ),
    token: options.token ?? env("HF_TOKEN") ?? env("HUGGING_FACE_HUB_TOKEN"),
    cacheDir: options.cacheDir ?? getHFHubCachePath(),
    revision: options.revision ?? "main",
    offline: options.offline ?? ["1", "true", "yes", "on"].includes(offlineEnv),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    stallTimeoutMs: options.stallTimeoutMs ?? 60_000,
    log: options.log ?? ((line) => console.error(line)),
    progress: options.progress ?? downloadProgress,
  };
}

/**
 * The cache folder of repository `id`: `<cache>/models--owner--name`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(repoCacheFolder("Xenova/opt-350m", "/c"), "/c/models--Xenova--opt-350m");
 * ```
 */
export function repoCacheFolder(id: string, cacheDir: string): string {
  return `${cacheDir}/${getRepoFolderName({ type: "model", name: id })}`;
}

/**
 * The files of `id` at the revision: from the Hub, or from the cache when offline (or when the
 * Hub cannot be reached and the cache has the revision).
 * @example
 * ```ts
 * // const snapshot = await repoSnapshot("Xenova/opt-350m");
 * // snapshot.files.map((f) => f.path); // ["config.json", "onnx/model.onnx", …]
 * ```
 */
export async function repoSnapshot(id: string, options: HubOptions = {}): Promise<RepoSnapshot> {
  const s = hubSettings(options);
  if (s.offline) {
    const cached = await cachedSnapshot(id, s);
    if (cached) return cached;
    throw new Error(
      `HF_HUB_OFFLINE is set and ${id} (revision ${s.revision}) is not in the Hugging Face ` +
        `cache ${s.cacheDir}; run once with a network to download it, or unset HF_HUB_OFFLINE`,
    );
  }
  const fetch = hubFetch(id, s);
  let commit: string, files: RepoFile[];
  try {
    const info = await modelInfo({
      name: id,
      revision: s.revision,
      hubUrl: s.endpoint,
      accessToken: s.token,
      fetch,
      additionalFields: ["sha"],
    });
    commit = String((info as { sha?: string }).sha ?? "");
    if (!COMMIT.test(commit)) {
      throw new Error(`${s.endpoint} gave ${id} no commit for ${s.revision}`);
    }
    files = [];
    for await (
      const entry of listFiles({
        repo: { type: "model", name: id },
        revision: commit,
        recursive: true,
        hubUrl: s.endpoint,
        accessToken: s.token,
        fetch,
      })
    ) {
      if (entry.type !== "file") continue;
      const etag = entry.lfs?.oid ?? entry.oid;
      if (!etag) throw new Error(`${s.endpoint} listed ${id}/${entry.path} without a hash`);
      files.push({ path: entry.path, size: entry.size, etag, lfs: entry.lfs !== undefined });
    }
  } catch (e) {
    if (e instanceof HubApiError) throw hubError(id, s, e);
    if (e instanceof UnreachableError) {
      const cached = await cachedSnapshot(id, s);
      if (cached) {
        s.log(`${e.message}; using the cached snapshot ${cached.commit.slice(0, 7)}`);
        return cached;
      }
    }
    throw e;
  }
  const folder = `${repoCacheFolder(id, s.cacheDir)}/snapshots/${commit}`;
  return { id, revision: s.revision, commit, files, folder, fromCache: false };
}

/**
 * Makes `paths` of a snapshot present in its cache folder (downloading what is missing, with
 * resume and progress) and returns the folder.
 * @example
 * ```ts
 * // const folder = await downloadFiles(snapshot, ["config.json", "onnx/model.onnx"]);
 * ```
 */
export async function downloadFiles(
  snapshot: RepoSnapshot,
  paths: readonly string[],
  options: HubOptions = {},
): Promise<string> {
  const s = hubSettings(options);
  const byPath = new Map(snapshot.files.map((f) => [f.path, f]));
  const wanted = paths.map((p) => {
    const file = byPath.get(p);
    if (!file) throw new Error(`${snapshot.id} has no file ${p}`);
    // Paths come from the server and are joined onto the cache: none may leave it.
    if (p.startsWith("/") || p.split("/").some((part) => part === ".." || part === "")) {
      throw new Error(`${snapshot.id} lists an unsafe path ${JSON.stringify(p)}`);
    }
    return file;
  });
  const missing: RepoFile[] = [];
  for (const file of wanted) {
    if (!await exists(`${snapshot.folder}/${file.path}`)) missing.push(file);
  }
  if (missing.length === 0) return snapshot.folder;
  if (snapshot.fromCache) {
    throw new Error(
      `${snapshot.id}: ${missing.map((f) => f.path).join(", ")} not in the cache ` +
        `${snapshot.folder} and the Hub is not used (offline)`,
    );
  }
  const repoFolder = repoCacheFolder(snapshot.id, s.cacheDir);
  await Deno.mkdir(`${repoFolder}/blobs`, { recursive: true });
  if (snapshot.revision !== snapshot.commit) {
    await Deno.mkdir(`${repoFolder}/refs`, { recursive: true });
    await writeAtomically(`${repoFolder}/refs/${snapshot.revision}`, snapshot.commit);
  }
  const total = missing.reduce((n, f) => n + f.size, 0);
  // Under a megabyte is over before a bar could say anything.
  const progress = total >= 1e6 ? s.progress(snapshot.id, total) : { update() {}, stop() {} };
  let before = 0;
  try {
    for (const file of missing) {
      const blob = `${repoFolder}/blobs/${file.etag}`;
      if (!await exists(blob)) {
        const url = `${s.endpoint}/${snapshot.id}/resolve/${snapshot.commit}/${file.path}`;
        await downloadBlob(url, blob, file, s, (done) => progress.update(before + done, file.path));
      }
      before += file.size;
      progress.update(before, file.path);
      await linkSnapshot(snapshot.folder, file.path, blob);
    }
  } finally {
    progress.stop();
  }
  return snapshot.folder;
}

/** A request that got no answer: no network, refused, or too slow to answer. */
class UnreachableError extends Error {}

function hubFetch(id: string, s: HubSettings): typeof fetch {
  return async (input, init) => {
    try {
      return await connect(input, init ?? {}, s.connectTimeoutMs);
    } catch (e) {
      throw new UnreachableError(
        `cannot reach the Hugging Face Hub for ${JSON.stringify(id)} at ${s.endpoint}: ` +
          `${reason(e, s.connectTimeoutMs)}. This machine may have no network: use a local ` +
          `model folder (e.g. --model data/models/brown-gpt2), or HF_HUB_OFFLINE=1 with a ` +
          `model already in the cache ${s.cacheDir}`,
      );
    }
  };
}

/** fetch whose timeout covers the response's headers only, never its body. */
async function connect(
  input: RequestInfo | URL,
  init: RequestInit,
  timeoutMs: number,
): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException("no answer", "TimeoutError")),
    timeoutMs,
  );
  init.signal?.addEventListener("abort", () => controller.abort(init.signal!.reason));
  try {
    return await fetch(input, { ...init, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

function reason(e: unknown, timeoutMs: number): string {
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return `no answer within ${timeoutMs} ms`;
  }
  if (e instanceof Error && e.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  return e instanceof Error ? e.message : String(e);
}

function hubError(id: string, s: HubSettings, e: HubApiError): Error {
  if (e.statusCode === 401 || e.statusCode === 403 || e.statusCode === 404) {
    return new Error(
      `${s.endpoint} has no model ${JSON.stringify(id)} at revision ${s.revision} that this ` +
        `request may read (HTTP ${e.statusCode}); check the name and revision` +
        (s.token ? "" : ", or set HF_TOKEN for a private or gated model"),
    );
  }
  return new Error(`${s.endpoint}: ${id}: HTTP ${e.statusCode}: ${e.message}`);
}

async function cachedSnapshot(id: string, s: HubSettings): Promise<RepoSnapshot | undefined> {
  const repoFolder = repoCacheFolder(id, s.cacheDir);
  let commit = s.revision;
  if (!COMMIT.test(commit)) {
    try {
      commit = (await Deno.readTextFile(`${repoFolder}/refs/${s.revision}`)).trim();
    } catch {
      return undefined;
    }
  }
  const folder = `${repoFolder}/snapshots/${commit}`;
  const files: RepoFile[] = [];
  const walk = async (dir: string, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${prefix}${entry.name}`;
      const info = await Deno.stat(`${dir}/${entry.name}`).catch(() => undefined);
      if (!info) continue; // a dangling link: its blob was removed
      if (info.isDirectory) await walk(`${dir}/${entry.name}`, `${path}/`);
      else {
        const target = await Deno.readLink(`${dir}/${entry.name}`).catch(() => "");
        const etag = target.slice(target.lastIndexOf("/") + 1);
        files.push({ path, size: info.size, etag, lfs: etag.length === 64 });
      }
    }
  };
  try {
    await walk(folder, "");
  } catch {
    return undefined;
  }
  return { id, revision: s.revision, commit, files, folder, fromCache: true };
}

async function downloadBlob(
  url: string,
  blob: string,
  file: RepoFile,
  s: HubSettings,
  onBytes: (done: number) => void,
): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  const lock = await takeLock(`${blob}.lock`, file.path);
  try {
    let have = (await Deno.stat(incomplete).catch(() => undefined))?.size ?? 0;
    if (have > file.size) {
      await Deno.remove(incomplete);
      have = 0;
    }
    const headers: Record<string, string> = s.token ? { Authorization: `Bearer ${s.token}` } : {};
    if (have > 0) headers.Range = `bytes=${have}-`;
    let response: Response;
    try {
      response = await connect(url, { headers }, s.connectTimeoutMs);
    } catch (e) {
      throw new Error(
        `downloading ${file.path}: ${reason(e, s.connectTimeoutMs)} from ${new URL(url).origin}` +
          (have > 0 ? `; ${have} bytes are kept and the next run resumes` : ""),
      );
    }
    if (!(response.status === 200 || (have > 0 && response.status === 206))) {
      await response.body?.cancel();
      throw new Error(`downloading ${file.path}: ${url} answered ${response.status}`);
    }
    if (response.status === 200) have = 0; // the server ignored the range: start over
    const out = await Deno.open(incomplete, { write: true, create: true, truncate: have === 0 });
    let done = have;
    try {
      await out.seek(have, Deno.SeekMode.Start);
      const reader = response.body!.getReader();
      for (;;) {
        const chunk = await readWithin(reader, s.stallTimeoutMs, file.path, () => done);
        if (!chunk) break;
        let written = 0;
        while (written < chunk.length) written += await out.write(chunk.subarray(written));
        done += chunk.length;
        onBytes(done);
      }
    } finally {
      out.close();
    }
    if (done !== file.size) {
      throw new Error(
        `downloading ${file.path}: received ${done} of ${file.size} bytes; ` +
          `the next run resumes from byte ${done}`,
      );
    }
    const actual = await fileHash(incomplete, file);
    if (actual !== file.etag) {
      await Deno.remove(incomplete);
      throw new Error(
        `downloading ${file.path}: its ${file.lfs ? "SHA-256" : "Git SHA-1"} is ${actual}, ` +
          `not ${file.etag} as the Hub lists it; the file was discarded`,
      );
    }
    await Deno.rename(incomplete, blob);
  } finally {
    await lock.release();
  }
}

async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
  path: string,
  done: () => number,
): Promise<Uint8Array | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Reject before cancelling: the cancel ends the pending read, which must not win the race.
      reject(
        new Error(
          `downloading ${path}: no data for ${ms / 1000} s after ${done()} bytes; ` +
            `the next run resumes from there`,
        ),
      );
      reader.cancel().catch(() => {});
    }, ms);
  });
  try {
    const { value, done: ended } = await Promise.race([reader.read(), stalled]);
    return ended ? undefined : value;
  } catch (e) {
    if (e instanceof Error && e.message.startsWith("downloading ")) throw e;
    throw new Error(
      `downloading ${path}: the connection broke after ${done()} bytes (${reason(e, ms)}); ` +
        `the next run resumes from there`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** The hash the Hub names a blob by: SHA-256 of an LFS file, Git's blob SHA-1 otherwise. */
async function fileHash(path: string, file: RepoFile): Promise<string> {
  const hash = createHash(file.lfs ? "sha256" : "sha1");
  if (!file.lfs) hash.update(`blob ${file.size}\0`);
  using f = await Deno.open(path);
  for await (const chunk of f.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function linkSnapshot(folder: string, path: string, blob: string): Promise<void> {
  const pointer = `${folder}/${path}`;
  await Deno.mkdir(pointer.slice(0, pointer.lastIndexOf("/")), { recursive: true });
  // Relative, as huggingface_hub links them: ../../blobs/<etag> from snapshots/<commit>/.
  const depth = path.split("/").length + 1;
  const target = `${"../".repeat(depth)}blobs/${blob.slice(blob.lastIndexOf("/") + 1)}`;
  await Deno.remove(pointer).catch(() => {});
  await Deno.symlink(target, pointer);
}

async function takeLock(path: string, what: string): Promise<{ release(): Promise<void> }> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const f = await Deno.open(path, { write: true, createNew: true });
      await f.write(new TextEncoder().encode(`${Deno.pid}\n`));
      f.close();
      return { release: () => Deno.remove(path).catch(() => {}) };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
      if (pid > 0 && pid !== Deno.pid && await exists(`/proc/${pid}`)) {
        throw new Error(
          `another process (pid ${pid}) is downloading ${what} into the cache; let it finish`,
        );
      }
      await Deno.remove(path).catch(() => {}); // its owner died: the lock is stale
    }
  }
  throw new Error(`cannot lock ${path}`);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
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
