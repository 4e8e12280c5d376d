/**
 * Which onnxruntime-web execution provider runs the model: WebGPU when the runtime offers a
 * GPU adapter, WASM (CPU) otherwise, or whichever the caller forces. The choice is returned so
 * every result can say which backend produced it.
 *
 * Under Deno the bundled onnxruntime-web builds load their WebAssembly from the installed npm
 * package (no network) but cannot start their thread pool: the pool's workers are `blob:` URLs,
 * which Deno refuses. {@linkcode configureRuntime} therefore pins `numThreads` to 1.
 *
 * @example
 * ```ts
 * import { chooseBackend } from "./backend.ts";
 * const backend = await chooseBackend("auto"); // "webgpu" on a machine with an adapter
 * ```
 * @module
 */
import * as ort from "onnxruntime-web/webgpu";

/** The backends a caller may ask for; `auto` picks WebGPU when an adapter exists. */
export type BackendRequest = "auto" | "webgpu" | "wasm";

/** A backend that actually runs a session. */
export type Backend = "webgpu" | "wasm";

/** Every accepted {@linkcode BackendRequest}, for flag validation and messages. */
export const BACKEND_REQUESTS: readonly BackendRequest[] = ["auto", "webgpu", "wasm"];

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
 * else WASM; `webgpu` without an adapter is an error rather than a silent fallback.
 * @example
 * ```ts
 * const backend = await chooseBackend("wasm"); // "wasm"
 * ```
 */
export async function chooseBackend(request: BackendRequest): Promise<Backend> {
  parseBackendRequest(request);
  if (request === "wasm") return "wasm";
  const adapter = await webGpuAdapter();
  if (adapter) return "webgpu";
  if (request === "webgpu") {
    throw new Error(
      "backend webgpu was requested but this runtime offers no WebGPU adapter " +
        "(navigator.gpu.requestAdapter() returned nothing); use --backend wasm or auto",
    );
  }
  return "wasm";
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
 * Sets onnxruntime-web's global options for Deno: one WASM thread (the bundled builds' worker
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
 * The onnxruntime-web session options for a backend: execution provider, full graph
 * optimisation, and, on WebGPU, which outputs stay on the GPU (`gpuOutputs`) instead of being
 * downloaded after every run.
 * @example
 * ```ts
 * sessionOptions("webgpu", ["present.0.key"]).preferredOutputLocation; // { "present.0.key": "gpu-buffer" }
 * ```
 */
export function sessionOptions(
  backend: Backend,
  gpuOutputs: readonly string[] = [],
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [backend],
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
