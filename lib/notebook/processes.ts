/**
 * What a report run owns and must leave nothing of: the process groups it started (headless
 * Chromium and all its helpers, the kernel bridge, the kernel), its temporary folders and its
 * partial files. Children start in their own session, so a Ctrl-C reaches only the report,
 * which then ends every group it owns, removes its temporary files and exits; Chromium also
 * dies with the report if the report is killed outright (`setpriv --pdeathsig` where it
 * exists). The report exits as well when its parent (`deno task`) dies. Leftovers of a run
 * that could not clean up (SIGKILL) carry its pid in their names and are swept by the next.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { ownedTempDir, releaseTemp } from "./processes.ts";
 * const dir = await ownedTempDir("example-");
 * assert(dir.includes(`example-${Deno.pid}-`));
 * await Deno.remove(dir);
 * releaseTemp(dir);
 * ```
 * @module
 */
import process from "node:process";

const groups = new Set<number>();
const temps = new Set<string>();

function executable(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const SETSID = Deno.build.os === "linux" && executable("/usr/bin/setsid") ? "/usr/bin/setsid" : "";
const SETPRIV = SETSID && executable("/usr/bin/setpriv") ? "/usr/bin/setpriv" : "";

/** Options of {@linkcode spawnOwned}. */
export interface SpawnOwnedOptions extends Deno.CommandOptions {
  /** Kill the child when this process dies, even by SIGKILL (Linux `setpriv`). */
  dieWithParent?: boolean;
}

/**
 * Spawns `command` as the leader of a new session and process group that
 * {@linkcode killOwned} ends (with everything it started); the group is forgotten when the
 * child exits.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const child = spawnOwned("true", { stdout: "null" });
 * assertEquals((await child.status).success, true);
 * ```
 */
export function spawnOwned(command: string, options: SpawnOwnedOptions = {}): Deno.ChildProcess {
  const { dieWithParent, ...rest } = options;
  const args = rest.args ?? [];
  let program = command, argv = [...args];
  if (SETSID) {
    argv = [command, ...args];
    program = SETSID;
    if (dieWithParent && SETPRIV) {
      argv = ["--pdeathsig", "KILL", SETSID, ...argv];
      program = SETPRIV;
    }
  }
  const child = new Deno.Command(program, { ...rest, args: argv }).spawn();
  // setsid(1) execs in place (a child of Deno is never a group leader): pid = group id.
  if (SETSID) {
    groups.add(child.pid);
    child.status.finally(() => groups.delete(child.pid));
  }
  return child;
}

/**
 * Adopts a process group started elsewhere (the kernel, started by the bridge in its own
 * session) so {@linkcode killOwned} ends it too.
 * @example
 * ```ts
 * ownGroup(12345);
 * disownGroup(12345);
 * ```
 */
export function ownGroup(pgid: number): void {
  if (Number.isSafeInteger(pgid) && pgid > 1) groups.add(pgid);
}

/**
 * Forgets a group adopted with {@linkcode ownGroup}.
 * @example
 * ```ts
 * disownGroup(12345);
 * ```
 */
export function disownGroup(pgid: number): void {
  groups.delete(pgid);
}

/**
 * Sends SIGKILL to every owned process group.
 * @example
 * ```ts
 * killOwned();
 * ```
 */
export function killOwned(): void {
  for (const pgid of groups) {
    try {
      Deno.kill(-pgid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  groups.clear();
}

/**
 * A temporary folder named `<prefix><pid>-<random>`, removed by {@linkcode cleanupOwned} and
 * swept by a later run if this one dies first.
 * @example
 * ```ts
 * const dir = await ownedTempDir("notebook-pdf-");
 * await Deno.remove(dir, { recursive: true });
 * releaseTemp(dir);
 * ```
 */
export async function ownedTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `${prefix}${Deno.pid}-` });
  temps.add(dir);
  return dir;
}

/**
 * Registers a file or folder to remove on exit (a partial output).
 * @example
 * ```ts
 * ownTemp("/tmp/x.partial");
 * releaseTemp("/tmp/x.partial");
 * ```
 */
export function ownTemp(path: string): void {
  temps.add(path);
}

/**
 * Forgets a temporary path (it was removed or renamed into place).
 * @example
 * ```ts
 * releaseTemp("/tmp/x.partial");
 * ```
 */
export function releaseTemp(path: string): void {
  temps.delete(path);
}

/**
 * Ends every owned group and removes every owned temporary path, synchronously (it runs from
 * signal handlers).
 * @example
 * ```ts
 * cleanupOwned();
 * ```
 */
export function cleanupOwned(): void {
  killOwned();
  for (const path of temps) {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch {
      // Already gone.
    }
  }
  temps.clear();
}

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/**
 * For the life of a command: on SIGINT, SIGTERM or SIGHUP, and when the parent process dies,
 * say so on stderr, clean up ({@linkcode cleanupOwned}) and exit (130, 143, 129; 129 for a
 * dead parent). Returns a function that removes the guards.
 * @example
 * ```ts
 * const remove = guardProcess("report");
 * remove();
 * ```
 */
export function guardProcess(name: string, parentPollMs = 500): () => void {
  const listeners: [Deno.Signal, () => void][] = [];
  for (const [signal, code] of Object.entries(EXIT_CODES) as [Deno.Signal, number][]) {
    const listener = () => {
      cleanupOwned();
      console.error(`\n${name}: interrupted by ${signal}; nothing half-written was kept`);
      Deno.exit(code);
    };
    Deno.addSignalListener(signal, listener);
    listeners.push([signal, listener]);
  }
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    cleanupOwned();
    console.error(`${name}: its parent process (${parent}) exited; stopping`);
    Deno.exit(129);
  }, parentPollMs);
  Deno.unrefTimer(watch);
  return () => {
    clearInterval(watch);
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}

/** Whether a process with this pid is alive (Linux `/proc`; elsewhere assumed alive). */
export function processAlive(pid: number): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes entries of `dir` named by `pattern` (its first group is the owner's pid) whose owner
 * is no longer running; returns what it removed.
 * @example
 * ```ts
 * sweepStale(Deno.makeTempDirSync(), /^chromium-profile-(\d+)-/);
 * ```
 */
export function sweepStale(dir: string, pattern: RegExp): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const owner = entry.name.match(pattern)?.[1];
    if (owner === undefined || Number(owner) === Deno.pid || processAlive(Number(owner))) continue;
    try {
      Deno.removeSync(`${dir}/${entry.name}`, { recursive: true });
      removed.push(entry.name);
    } catch {
      // Another run swept it first.
    }
  }
  return removed;
}

/**
 * Where a file is staged before it is renamed over `path`: beside it, hidden, named with this
 * process's pid (so a later run can tell a dead run's leftovers) and a random id.
 * @example
 * ```ts
 * import { assertMatch } from "@std/assert";
 * const path = partialPath("out/q.pdf");
 * assertMatch(path, /^out\//);
 * assertMatch(path.slice("out/".length), PARTIAL_FILE);
 * ```
 */
export function partialPath(path: string): string {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const id = crypto.randomUUID().slice(0, 8);
  return `${dir}/.${path.slice(slash + 1)}.${Deno.pid}-${id}.partial`;
}

/**
 * The name of a staged file ({@linkcode partialPath}); its group is the owner's pid.
 * @example
 * ```ts
 * PARTIAL_FILE.test(".q.pdf.123-abcd1234.partial"); // true
 * ```
 */
export const PARTIAL_FILE = /^\..+\.(\d+)-[^.]+\.partial$/;

/** The temporary folder's prefixes a report run uses. */
export const TEMP_PREFIXES: readonly string[] = [
  "chromium-profile-",
  "notebook-pdf-",
  "plotly-svg-",
  "jupyter-kernel-",
  "cr-",
];

/**
 * The system's temporary folder (`$TMPDIR`, else `/tmp`).
 * @example
 * ```ts
 * tempRoot(); // "/tmp"
 * ```
 */
export function tempRoot(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/**
 * Sweeps what dead report runs left: temporary folders in {@linkcode tempRoot} and partial
 * files in `outDirs` (`.<name>.<pid>-<id>.partial`).
 * @example
 * ```ts
 * sweepReportLeftovers(["out"]);
 * ```
 */
export function sweepReportLeftovers(outDirs: readonly string[]): string[] {
  const removed = TEMP_PREFIXES.flatMap((prefix) =>
    sweepStale(tempRoot(), new RegExp(`^${prefix}(\\d+)-`))
  );
  for (const dir of outDirs) removed.push(...sweepStale(dir, PARTIAL_FILE));
  return removed;
}

/**
 * The lines of a child's output stream, without their newlines (a last line without one too).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const stream = new Blob(["a\nb\nc"]).stream();
 * assertEquals(await Array.fromAsync(readLines(stream)), ["a", "b", "c"]);
 * ```
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) yield buffer;
}
