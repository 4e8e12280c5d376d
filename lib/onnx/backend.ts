/**
 * Which runtime runs the model: onnxruntime-web on WebGPU when the runtime offers a GPU adapter,
 * else the native CPU runtime (onnxruntime-node, its own kernels and threads) when it loads,
 * else onnxruntime-web's WASM; or whichever the caller forces. The choice is returned so every
 * result can say which backend produced it. All three share one session interface (the
 * `onnxruntime-common` API); {@linkcode ortFor} hands out the module of a backend, whose
 * `Tensor` class its sessions accept.
 *
 * Two onnxruntime-web builds serve two backends. `webgpu` runs the JSEP build
 * (`onnxruntime-web/webgpu`), whose asyncified WebAssembly can wait on the GPU inside a kernel.
 * `wasm` runs the plain build (`onnxruntime-web`, which Deno resolves to the package's node
 * bundle): no asyncify, so each operator's dispatch costs about half as much, and its thread
 * pool starts under Deno. Threads (`wasm` and `cpu`) default to the cores not busy, from the
 * load average; the WASM build takes its count once per process, at its first session.
 *
 * @example
 * ```ts
 * import { chooseBackend } from "./backend.ts";
 * const backend = await chooseBackend("auto"); // "webgpu" on a machine with an adapter
 * ```
 * @module
 */
import * as ort from "onnxruntime-web/webgpu";
import * as ortWasm from "onnxruntime-web";

/** The backends a caller may ask for; `auto` picks WebGPU when an adapter exists. */
export type BackendRequest = "auto" | "webgpu" | "wasm" | "cpu";

/** A backend that actually runs a session. */
export type Backend = "webgpu" | "wasm" | "cpu";

/** Every accepted {@linkcode BackendRequest}, for flag validation and messages. */
export const BACKEND_REQUESTS: readonly BackendRequest[] = ["auto", "webgpu", "wasm", "cpu"];

/** The onnxruntime API every backend's module offers (`Tensor`, `InferenceSession`, `env`). */
export type OrtModule = typeof ort;

let nativeModule: Promise<OrtModule | undefined> | undefined;

/**
 * onnxruntime-node (the native CPU runtime), or `undefined` when it cannot load here (no
 * prebuilt binary for this platform). Loaded once.
 * @example
 * ```ts
 * const native = await nativeRuntime();
 * console.log(native ? "native CPU runtime" : "WASM only");
 * ```
 */
export function nativeRuntime(): Promise<OrtModule | undefined> {
  nativeModule ??= import("onnxruntime-node").then(
    (m) => m as unknown as OrtModule,
    () => undefined,
  );
  return nativeModule;
}

/**
 * The runtime module of a backend: onnxruntime-node for `cpu`, onnxruntime-web's plain build for
 * `wasm` (its thread pool sized `threads` at the process's first WASM session; see
 * {@linkcode wasmThreads}), its JSEP build (configured by {@linkcode configureRuntime}) for
 * `webgpu`.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * const wasm = await ortFor("wasm");
 * assert(new wasm.Tensor("float32", new Float32Array(2), [2]).dims[0] === 2);
 * ```
 */
export async function ortFor(backend: Backend, threads = 1): Promise<OrtModule> {
  if (backend === "webgpu") return configureRuntime();
  if (backend === "wasm") {
    prepareGpuEnvironment();
    wasmThreadCount ??= threads;
    ortWasm.env.wasm.numThreads = wasmThreadCount;
    ortWasm.env.logLevel = "error";
    return ortWasm as unknown as OrtModule;
  }
  const native = await nativeRuntime();
  if (!native) {
    throw new Error(
      "backend cpu needs onnxruntime-node, which did not load here (no prebuilt binary for " +
        `${Deno.build.os}-${Deno.build.arch}?); use --backend wasm`,
    );
  }
  return native;
}

let wasmThreadCount: number | undefined;

/**
 * The thread count of this process's WASM runtime: fixed by the first {@linkcode ortFor}
 * (`"wasm"`) call, `undefined` before it.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * await ortFor("wasm", 1);
 * assertEquals(wasmThreads(), 1);
 * ```
 */
export function wasmThreads(): number | undefined {
  return wasmThreadCount;
}

/**
 * Cores not busy right now: the processor count less the 1-minute load average, at least 1.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * assert(freeCores() >= 1 && freeCores() <= navigator.hardwareConcurrency);
 * ```
 */
export function freeCores(): number {
  const cores = navigator.hardwareConcurrency || 1;
  const load = Deno.loadavg()[0];
  return Math.max(1, Math.min(cores, Math.round(cores - load)));
}

/**
 * Checks that `value` names a backend request, with an error listing the allowed values.
 * @example
 * ```ts
 * parseBackendRequest("wasm"); // "wasm"
 * ```
 */
export function parseBackendRequest(value: string): BackendRequest {
  if ((BACKEND_REQUESTS as readonly string[]).includes(value)) return value as BackendRequest;
  throw new RangeError(
    `backend must be one of ${BACKEND_REQUESTS.join(", ")}; got ${JSON.stringify(value)}`,
  );
}

/**
 * The GPU adapter's description, or `undefined` when the runtime offers no WebGPU adapter.
 * @example
 * ```ts
 * const adapter = await webGpuAdapter();
 * console.log(adapter ? adapter.description : "no WebGPU");
 * ```
 */
export async function webGpuAdapter(): Promise<
  {
    vendor: string;
    architecture: string;
    description: string;
    isFallback: boolean;
    /** Whether the adapter offers `shader-f16` (fp16 arithmetic in shaders). */
    fp16: boolean;
  } | undefined
> {
  prepareGpuEnvironment();
  const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return undefined;
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    isFallback: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      false,
    fp16: adapter.features.has("shader-f16"),
  };
}

/**
 * Resolves a request to the backend that will run: `auto` is WebGPU when an adapter exists,
 * else the native CPU runtime when it loads, else WASM; `webgpu` without an adapter is an error
 * rather than a silent fallback.
 * @example
 * ```ts
 * const backend = await chooseBackend("wasm"); // "wasm"
 * ```
 */
export async function chooseBackend(request: BackendRequest): Promise<Backend> {
  parseBackendRequest(request);
  if (request === "wasm" || request === "cpu") return request;
  const adapter = await webGpuAdapter();
  if (adapter) return "webgpu";
  if (request === "webgpu") {
    throw new Error(
      "backend webgpu was requested but this runtime offers no WebGPU adapter " +
        "(navigator.gpu.requestAdapter() returned nothing); use --backend cpu, wasm or auto",
    );
  }
  return await nativeRuntime() ? "cpu" : "wasm";
}

/**
 * Gives Mesa's Vulkan window-system code the per-user runtime folder it expects when the session
 * has none (a container, a CI job): without `XDG_RUNTIME_DIR` every adapter request prints
 * "error: XDG_RUNTIME_DIR is invalid or not set". A private folder under the temporary folder
 * stands in (mode 0700, as the XDG spec asks). Idempotent; does nothing when it is set.
 * @example
 * ```ts
 * prepareGpuEnvironment();
 * ```
 */
export function prepareGpuEnvironment(): void {
  if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
  const dir = `${Deno.env.get("TMPDIR") || "/tmp"}/xdg-runtime-${Deno.uid() ?? "user"}`;
  try {
    Deno.mkdirSync(dir, { mode: 0o700, recursive: true });
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // A folder we cannot make: Mesa prints its warning, nothing else changes.
  }
}

/**
 * Sets the JSEP (WebGPU) build's global options for Deno: one WASM thread (its bundled worker
 * pool uses `blob:` URLs Deno cannot load) and quiet logging. Idempotent.
 * @example
 * ```ts
 * configureRuntime();
 * ```
 */
export function configureRuntime(): typeof ort {
  prepareGpuEnvironment();
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = "error";
  return ort;
}

/**
 * The session options for a backend: execution provider, full graph optimisation, on WebGPU
 * which outputs stay on the GPU (`gpuOutputs`) instead of being downloaded after every run, and
 * on the native CPU runtime its intra-op threads.
 * @example
 * ```ts
 * sessionOptions("webgpu", ["present.0.key"]).preferredOutputLocation; // { "present.0.key": "gpu-buffer" }
 * ```
 */
export function sessionOptions(
  backend: Backend,
  gpuOutputs: readonly string[] = [],
  threads = 1,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [backend],
    ...(backend === "cpu" ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    graphOptimizationLevel: "all",
    // Quiet the native "some nodes were not assigned to the preferred EP" warning: onnxruntime
    // deliberately keeps shape arithmetic on the CPU.
    logSeverityLevel: 3,
    ...(backend === "webgpu" && gpuOutputs.length > 0
      ? {
        preferredOutputLocation: Object.fromEntries(
          gpuOutputs.map((name) => [name, "gpu-buffer" as const]),
        ),
      }
      : {}),
  };
}
