/**
 * A running Jupyter kernel, reached through Python's `jupyter_client` (the ecosystem's own
 * client) by a small bridge process (`kernel_bridge.py`) that relays messages as JSON lines.
 * This module only moves messages; deciding which output belongs to which cell is
 * `execute.ts`'s job.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KernelSession } from "./kernel.ts";
 * const kernel = await KernelSession.start({ cwd: "." });
 * const id = kernel.execute("1 + 1");
 * let status = "";
 * for (let m = await kernel.next(20000); m.kind === "message"; m = await kernel.next(20000)) {
 *   if (m.message.msg_type === "execute_reply" && m.message.parent_msg_id === id) {
 *     status = String((m.message.content as { status: string }).status);
 *     break;
 *   }
 * }
 * assertEquals(status, "ok");
 * await kernel.close();
 * ```
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  disownGroup,
  ownedTempDir,
  ownGroup,
  readLines,
  releaseTemp,
  spawnOwned,
} from "./processes.ts";

/** One kernel message as the bridge relays it. */
export interface KernelMessage {
  /** `iopub` (outputs, status) or `shell` (replies). */
  channel: "iopub" | "shell";
  /** Jupyter message type, e.g. `stream`, `execute_reply`. */
  msg_type: string;
  /** This message's id. */
  msg_id: string;
  /** The id of the request this message answers or belongs to. */
  parent_msg_id: string | null;
  /** Message content. */
  content: Record<string, unknown>;
}

/** What {@linkcode KernelSession.next} yields. */
export type KernelEvent =
  | { kind: "message"; message: KernelMessage }
  | { kind: "timeout" }
  | { kind: "dead"; stderr: string };

/** Options of {@linkcode KernelSession.start}. */
export interface KernelOptions {
  /** Working directory of the kernel (a notebook's folder). */
  cwd: string;
  /** Kernelspec name (default `deno`). */
  kernelName?: string;
  /** How long the kernel may take to answer its first `kernel_info` (default 60 s). */
  startupTimeoutMs?: number;
  /** Python with `jupyter_client` (default `$NOTEBOOK_PYTHON`, else Debian's `/usr/bin/python3`). */
  python?: string;
  /** Extra environment for the kernel (`NO_COLOR=1` is always set). */
  env?: Record<string, string>;
}

const BRIDGE = fileURLToPath(new URL("./kernel_bridge.py", import.meta.url));
const STDERR_TAIL_CHARS = 4000;

/**
 * The Python interpreter that runs the bridge.
 * @example
 * ```ts
 * defaultPython(); // "/usr/bin/python3" on Debian
 * ```
 */
export function defaultPython(): string {
  const fromEnv = Deno.env.get("NOTEBOOK_PYTHON");
  if (fromEnv) return fromEnv;
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
}

/** A kernel started for one notebook run. */
export class KernelSession {
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  #pending: Promise<IteratorResult<string>> | undefined;
  #stderr = "";
  #stderrDone: Promise<void>;
  #closed = false;
  #kernelPgid: number | undefined;
  #scratch: string | undefined;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#lines = readLines(child.stdout)[Symbol.asyncIterator]();
    this.#stderrDone = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS);
      }
    })();
  }

  /**
   * Starts the kernel and waits until it answers.
   * @example
   * ```ts
   * const kernel = await KernelSession.start({ cwd: "." });
   * await kernel.close();
   * ```
   */
  static async start(options: KernelOptions): Promise<KernelSession> {
    const python = options.python ?? defaultPython();
    const startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
    // The connection file and any scratch file of bridge and kernel live in a folder the run
    // owns, so nothing stays behind when the run is killed.
    const scratch = await ownedTempDir("jupyter-kernel-");
    let child: Deno.ChildProcess;
    try {
      // Its own session: a Ctrl-C reaches the report, which ends bridge and kernel together.
      child = spawnOwned(python, {
        args: [BRIDGE, options.kernelName ?? "deno", options.cwd, String(startupTimeoutMs / 1000)],
        cwd: options.cwd,
        env: {
          ...options.env,
          NO_COLOR: "1",
          PYDEVD_DISABLE_FILE_VALIDATION: "1",
          JUPYTER_RUNTIME_DIR: scratch,
          TMPDIR: scratch,
        },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      });
    } catch (e) {
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
      releaseTemp(scratch);
      throw new Error(
        `cannot run ${python} (${(e as Error).message}); install Python 3 with jupyter_client ` +
          `(Debian: sudo apt-get install python3-nbclient python3-ipykernel) or set NOTEBOOK_PYTHON`,
      );
    }
    const session = new KernelSession(child);
    session.#scratch = scratch;
    const first = await session.next(startupTimeoutMs + 5_000);
    if (first.kind === "ready") {
      // The kernel runs in a session of its own (jupyter_client's launcher): own it too.
      if (first.kernelPgid !== undefined) ownGroup(session.#kernelPgid = first.kernelPgid);
      return session;
    }
    await session.close();
    const stderr = session.#stderr;
    const hint = /No module named '?(jupyter_client|zmq)/.test(stderr)
      ? `\nInstall Jupyter's client: sudo apt-get install python3-nbclient python3-ipykernel`
      : /NoSuchKernel|No such kernel/.test(stderr)
      ? `\nInstall the Deno kernelspec: deno jupyter --install (or run deno task setup)`
      : "";
    throw new Error(
      `kernel "${options.kernelName ?? "deno"}" did not start ` +
        `(${first.kind === "timeout" ? `no answer in ${startupTimeoutMs} ms` : "bridge exited"})` +
        `${hint}\n${stderr.trim()}`,
    );
  }

  /**
   * Sends an `execute_request`; returns its message id, which replies and outputs carry as
   * their parent id.
   * @example
   * ```ts
   * const kernel = await KernelSession.start({ cwd: "." });
   * kernel.execute("console.log(1)");
   * await kernel.close();
   * ```
   */
  execute(code: string, options: { silent?: boolean; storeHistory?: boolean } = {}): string {
    const msgId = crypto.randomUUID();
    this.#send({
      op: "execute",
      msg_id: msgId,
      code,
      silent: options.silent ?? false,
      store_history: options.storeHistory ?? !options.silent,
    });
    return msgId;
  }

  /**
   * The next kernel message, or `timeout` if none arrives within `timeoutMs`, or `dead` if
   * the kernel or its bridge exited.
   * @example
   * ```ts
   * const kernel = await KernelSession.start({ cwd: "." });
   * await kernel.next(1000);
   * await kernel.close();
   * ```
   */
  async next(
    timeoutMs: number,
  ): Promise<KernelEvent | { kind: "ready"; kernelPgid?: number }> {
    this.#pending ??= this.#lines.next();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, timeoutMs));
    });
    const r = await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
    if (r === "timeout") return { kind: "timeout" };
    this.#pending = undefined;
    if (r.done) {
      await this.#stderrDone;
      return { kind: "dead", stderr: this.#stderr.trim() };
    }
    const parsed = JSON.parse(r.value);
    if (parsed.event === "ready") {
      return typeof parsed.kernel_pgid === "number"
        ? { kind: "ready", kernelPgid: parsed.kernel_pgid }
        : { kind: "ready" };
    }
    if (parsed.event === "dead") {
      return { kind: "dead", stderr: this.#stderr.trim() };
    }
    return { kind: "message", message: parsed as KernelMessage };
  }

  /**
   * The last few kilobytes the kernel and bridge wrote to stderr.
   * @example
   * ```ts
   * const kernel = await KernelSession.start({ cwd: "." });
   * kernel.stderrTail();
   * await kernel.close();
   * ```
   */
  stderrTail(): string {
    return this.#stderr.trim();
  }

  /**
   * Shuts the kernel down (politely, then by force after 5 s) and waits for the bridge.
   * @example
   * ```ts
   * const kernel = await KernelSession.start({ cwd: "." });
   * await kernel.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#send({ op: "shutdown" });
      await this.#stdin.close();
    } catch {
      // The bridge already exited; nothing to tell it.
    }
    const forced = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 5_000);
    await this.#child.status;
    clearTimeout(forced);
    if (this.#kernelPgid !== undefined) {
      // The bridge shut the kernel down; anything left of its group goes now.
      try {
        Deno.kill(-this.#kernelPgid, "SIGKILL");
      } catch {
        // Gone, as it should be.
      }
      disownGroup(this.#kernelPgid);
    }
    if (this.#scratch !== undefined) {
      await Deno.remove(this.#scratch, { recursive: true }).catch(() => {});
      releaseTemp(this.#scratch);
    }
    await this.#stderrDone.catch(() => {});
    // Drain stdout so the stream's resources are released.
    while (!(await (this.#pending ?? this.#lines.next())).done) this.#pending = undefined;
  }

  #send(request: Record<string, unknown>): void {
    this.#stdin.write(new TextEncoder().encode(JSON.stringify(request) + "\n")).catch(() => {});
  }
}
