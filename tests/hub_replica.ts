/**
 * A local replica of the Hugging Face Hub for tests (these machines reach no Hub): the endpoints
 * `@huggingface/hub` and the loader call, with the headers the Hub sends, over the small models
 * of `tests/fixtures/hub/`, laid out as the named repositories are (`repos.json`).
 *
 * - `GET /api/models/<id>/revision/<rev>`: model info with `sha` (404 `RepoNotFound`);
 * - `GET /api/models/<id>/tree/<rev>[/<path>]?recursive=`: the file list with Git oids and LFS
 *   pointers, paginated with a `Link: <…>; rel="next"` header as the Hub does;
 * - `GET|HEAD /<id>/resolve/<rev>/<path>`: small files answered directly (`ETag` = Git blob
 *   SHA-1), LFS files (`*.onnx`, `*.onnx_data*`) redirected (302) to a CDN path with
 *   `X-Linked-Etag`, `X-Linked-Size` and `X-Repo-Commit`; byte ranges (206) everywhere;
 *   404 `EntryNotFound`.
 *
 * Test knobs: `bytesPerSecond` throttles bodies, `cutAfterBytes` breaks each LFS body once after
 * that many bytes (an interrupted download), and `requests` records every request.
 *
 * Run by hand: `deno run -A tests/hub_replica.ts [--port 8080] [--bytes-per-second N]`, then
 * `HF_ENDPOINT=http://127.0.0.1:8080 deno task question3 --model Xenova/opt-350m`.
 * @module
 */
import { createHash } from "node:crypto";

const ROOT = new URL("./fixtures/hub/", import.meta.url);

/** One served repository: files taken from a fixture folder. */
interface RepoSpec {
  source: string;
  files: string[];
}

/** A file as served: bytes and hashes. */
interface ServedFile {
  path: string;
  data: Uint8Array;
  gitOid: string;
  sha256: string;
  lfs: boolean;
}

/** Options of {@linkcode startHubReplica}. */
export interface ReplicaOptions {
  /** Port (default 0: any free one). */
  port?: number;
  /** Body throttle for every download (default unlimited). */
  bytesPerSecond?: number;
  /** Break each LFS body once after this many bytes (default never). */
  cutAfterBytes?: number;
  /** Entries per page of a tree listing (default 5, so listings paginate). */
  pageSize?: number;
  /** A gated replica: every API and resolve request needs `Authorization: Bearer <token>`. */
  token?: string;
}

/** A running replica. */
export interface HubReplica {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Every request as `METHOD path`. */
  requests: string[];
  /** The commit each repository is at. */
  commits: Record<string, string>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** LFS-tracked names, as the Hub's default `.gitattributes` tracks them. */
const isLfs = (path: string) => /\.onnx$|\.onnx_data(_\d+)?$/.test(path);

async function loadRepos(): Promise<Map<string, { commit: string; files: ServedFile[] }>> {
  const specs: Record<string, RepoSpec> = JSON.parse(
    await Deno.readTextFile(new URL("repos.json", ROOT)),
  );
  const repos = new Map<string, { commit: string; files: ServedFile[] }>();
  for (const [id, spec] of Object.entries(specs)) {
    const files: ServedFile[] = [];
    for (const path of spec.files) {
      const data = await Deno.readFile(new URL(`${spec.source}/${path}`, ROOT));
      const git = createHash("sha1");
      git.update(`blob ${data.length}\0`);
      git.update(data);
      files.push({
        path,
        data,
        gitOid: git.digest("hex"),
        sha256: createHash("sha256").update(data).digest("hex"),
        lfs: isLfs(path),
      });
    }
    const commit = createHash("sha1").update(id + files.map((f) => f.gitOid).join()).digest(
      "hex",
    );
    repos.set(id, { commit, files });
  }
  return repos;
}

/**
 * Starts a replica on 127.0.0.1.
 * @example
 * ```ts
 * const hub = await startHubReplica();
 * // HF_ENDPOINT = hub.endpoint
 * await hub.close();
 * ```
 */
export async function startHubReplica(options: ReplicaOptions = {}): Promise<HubReplica> {
  const repos = await loadRepos();
  const requests: string[] = [];
  const cut = new Set<string>();
  const pageSize = options.pageSize ?? 5;
  const json = (body: unknown, init: ResponseInit = {}) =>
    new Response(JSON.stringify(body), {
      ...init,
      headers: { "Content-Type": "application/json", ...init.headers },
    });
  const notFound = (code: string, message: string) =>
    json({ error: message }, { status: 404, headers: { "X-Error-Code": code } });
  const repoAt = (id: string, rev: string) => {
    const repo = repos.get(id);
    return repo && (rev === "main" || rev === repo.commit) ? repo : undefined;
  };

  const body = (file: ServedFile, req: Request, extra: Record<string, string>): Response => {
    const total = file.data.length;
    const range = req.headers.get("range")?.match(/^bytes=(\d+)-(\d*)$/);
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
    if (range && start >= total) {
      return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${total}` } });
    }
    const headers: Record<string, string> = {
      ...extra,
      "Accept-Ranges": "bytes",
      "Content-Length": String(end - start + 1),
      ...(range ? { "Content-Range": `bytes ${start}-${end}/${total}` } : {}),
    };
    if (req.method === "HEAD") return new Response(null, { status: range ? 206 : 200, headers });
    const slice = file.data.subarray(start, end + 1);
    const cutAt = options.cutAfterBytes !== undefined && file.lfs && !cut.has(file.sha256)
      ? options.cutAfterBytes
      : undefined;
    if (cutAt !== undefined) cut.add(file.sha256);
    const chunk = 16 * 1024;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (cutAt !== undefined && sent >= cutAt) {
          controller.close(); // short of Content-Length: the client sees a broken body
          return;
        }
        if (sent >= slice.length) {
          controller.close();
          return;
        }
        const n = Math.min(chunk, slice.length - sent, cutAt !== undefined ? cutAt - sent : chunk);
        if (options.bytesPerSecond) {
          await new Promise((r) => setTimeout(r, (n / options.bytesPerSecond!) * 1000));
        }
        controller.enqueue(slice.subarray(sent, sent + n));
        sent += n;
      },
    });
    return new Response(stream, { status: range ? 206 : 200, headers });
  };

  const server = Deno.serve(
    { port: options.port ?? 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => {
      const url = new URL(req.url);
      const path = decodeURIComponent(url.pathname);
      requests.push(`${req.method} ${path}`);
      if (
        options.token && !path.startsWith("/cdn/") &&
        req.headers.get("authorization") !== `Bearer ${options.token}`
      ) {
        return json({ error: "Invalid credentials in Authorization header" }, { status: 401 });
      }
      let m = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/);
      if (m) {
        const repo = repoAt(m[1], m[2]);
        if (!repo) return notFound("RepoNotFound", "Repository not found");
        return json({
          _id: createHash("sha1").update(m[1]).digest("hex").slice(0, 24),
          id: m[1],
          sha: repo.commit,
          private: false,
          gated: false,
          downloads: 0,
          likes: 0,
          lastModified: "2026-11-30T00:00:00.000Z",
          pipeline_tag: "text-generation",
          siblings: repo.files.map((f) => ({ rfilename: f.path })),
        });
      }
      m = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/);
      if (m) {
        const repo = repoAt(m[1], m[2]);
        if (!repo) return notFound("RepoNotFound", "Repository not found");
        const prefix = m[3] ? `${m[3]}/` : "";
        const recursive = url.searchParams.get("recursive") === "true";
        const entries: unknown[] = [];
        const dirs = new Set<string>();
        for (const f of repo.files) {
          if (!f.path.startsWith(prefix)) continue;
          const rest = f.path.slice(prefix.length);
          const dir = rest.includes("/") ? prefix + rest.slice(0, rest.indexOf("/")) : undefined;
          if (dir && !dirs.has(dir)) {
            dirs.add(dir);
            entries.push({ type: "directory", oid: "0".repeat(40), size: 0, path: dir });
          }
          if (dir && !recursive) continue;
          entries.push({
            type: "file",
            oid: f.lfs ? createHash("sha1").update(f.sha256).digest("hex") : f.gitOid,
            size: f.data.length,
            path: f.path,
            ...(f.lfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: 134 } } : {}),
          });
        }
        const cursor = Number(url.searchParams.get("cursor") ?? 0);
        const page = entries.slice(cursor, cursor + pageSize);
        const headers: Record<string, string> = {};
        if (cursor + pageSize < entries.length) {
          const next = new URL(url);
          next.searchParams.set("cursor", String(cursor + pageSize));
          headers.Link = `<${next}>; rel="next"`;
        }
        return json(page, { headers });
      }
      m = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
      if (m) {
        const repo = repoAt(m[1], m[2]);
        if (!repo) return notFound("RepoNotFound", "Repository not found");
        const file = repo.files.find((f) => f.path === m![3]);
        if (!file) return notFound("EntryNotFound", "Entry not found");
        const common = { "X-Repo-Commit": repo.commit };
        if (file.lfs) {
          return new Response(null, {
            status: 302,
            headers: {
              ...common,
              Location: `/cdn/${file.sha256}`,
              "X-Linked-Etag": `"${file.sha256}"`,
              "X-Linked-Size": String(file.data.length),
              ETag: `"${file.gitOid}"`,
            },
          });
        }
        return body(file, req, { ...common, ETag: `"${file.gitOid}"` });
      }
      m = path.match(/^\/cdn\/([0-9a-f]{64})$/);
      if (m) {
        for (const repo of repos.values()) {
          const file = repo.files.find((f) => f.sha256 === m![1]);
          if (file) return body(file, req, { ETag: `"${file.sha256}"` });
        }
      }
      return new Response("not found", { status: 404 });
    },
  );
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    requests,
    commits: Object.fromEntries([...repos].map(([id, r]) => [id, r.commit])),
    close: () => server.shutdown(),
  };
}

if (import.meta.main) {
  const value = (flag: string, fallback: number, max: number) => {
    const i = Deno.args.indexOf(flag);
    const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
    if (!Number.isInteger(v) || v < 0 || v > max) {
      console.error(`hub_replica: ${flag} must be an integer 0..${max}; got ${Deno.args[i + 1]}`);
      Deno.exit(2);
    }
    return v;
  };
  const port = value("--port", 8080, 65535);
  const bytesPerSecond = value("--bytes-per-second", 0, 1e12) || undefined;
  const hub = await startHubReplica({ port, pageSize: 1000, bytesPerSecond });
  console.error(`Hub replica at ${hub.endpoint} serving ${Object.keys(hub.commits).join(", ")}`);
}
