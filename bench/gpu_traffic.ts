/**
 * Counts the bytes that cross between the CPU and the GPU through WebGPU, whoever moves them
 * (onnxruntime-web's own downloads, `Tensor.getData()`, cache code): every readback must map a
 * buffer for reading (`GPUBuffer.mapAsync(GPUMapMode.READ)`) and every upload here goes through
 * `GPUQueue.writeBuffer`, a buffer mapped for writing or one mapped at creation. Installing the counter wraps those
 * prototype methods once per realm; the wrappers only add to counters.
 *
 * @example
 * ```ts
 * import { gpuTraffic } from "./gpu_traffic.ts";
 * const traffic = gpuTraffic();
 * const before = traffic.snapshot();
 * // … run a WebGPU session …
 * const moved = traffic.since(before); // { readbackBytes, readbacks, uploadBytes, uploads }
 * ```
 * @module
 */
import type { GpuTrafficCounts } from "../lib/bench/results.ts";

/** A live counter of WebGPU transfers. */
export interface GpuTraffic {
  /** Totals since installation. */
  snapshot(): GpuTrafficCounts;
  /** Transfers since an earlier snapshot. */
  since(before: GpuTrafficCounts): GpuTrafficCounts;
}

const totals: GpuTrafficCounts = { readbackBytes: 0, readbacks: 0, uploadBytes: 0, uploads: 0 };
let installed = false;

/** Byte size of `writeBuffer`'s data argument, honouring its optional offset and size. */
function writtenBytes(data: unknown, dataOffset?: number, size?: number): number {
  const view = data as ArrayBufferView | ArrayBuffer;
  const elementBytes = ArrayBuffer.isView(view) && "BYTES_PER_ELEMENT" in view
    ? (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
    : 1;
  if (size !== undefined) return size * elementBytes;
  const total = view.byteLength;
  return total - (dataOffset ?? 0) * elementBytes;
}

/**
 * Installs (once) and returns the WebGPU transfer counter; throws when this runtime has no
 * WebGPU classes to instrument.
 * @example
 * ```ts
 * if ("GPUBuffer" in globalThis) gpuTraffic().snapshot().readbacks >= 0;
 * ```
 */
export function gpuTraffic(): GpuTraffic {
  if (!installed) {
    const g = globalThis as unknown as {
      GPUBuffer?: { prototype: GPUBuffer };
      GPUQueue?: { prototype: GPUQueue };
      GPUDevice?: { prototype: GPUDevice };
    };
    if (!g.GPUBuffer || !g.GPUQueue || !g.GPUDevice) {
      throw new Error(
        "this runtime exposes no WebGPU (GPUBuffer/GPUQueue/GPUDevice) to instrument",
      );
    }
    const device = g.GPUDevice.prototype;
    const createBuffer = device.createBuffer;
    // onnxruntime-web uploads inputs through buffers mapped at creation.
    device.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor) {
      if (descriptor.mappedAtCreation) {
        totals.uploadBytes += descriptor.size;
        totals.uploads++;
      }
      return createBuffer.call(this, descriptor);
    };
    const buffer = g.GPUBuffer.prototype;
    const mapAsync = buffer.mapAsync;
    buffer.mapAsync = function (
      this: GPUBuffer,
      mode: number,
      offset?: number,
      size?: number,
    ): Promise<undefined> {
      const bytes = size ?? this.size - (offset ?? 0);
      if (mode & GPUMapMode.READ) {
        totals.readbackBytes += bytes;
        totals.readbacks++;
      } else if (mode & GPUMapMode.WRITE) {
        totals.uploadBytes += bytes;
        totals.uploads++;
      }
      return mapAsync.call(this, mode, offset, size);
    };
    const queue = g.GPUQueue.prototype;
    const writeBuffer = queue.writeBuffer as (...args: unknown[]) => undefined;
    (queue as unknown as { writeBuffer: (...args: unknown[]) => undefined }).writeBuffer =
      function (this: GPUQueue, ...args: unknown[]) {
        totals.uploadBytes += writtenBytes(args[2], args[3] as number, args[4] as number);
        totals.uploads++;
        return writeBuffer.apply(this, args);
      };
    installed = true;
  }
  return {
    snapshot: () => ({ ...totals }),
    since: (before) => ({
      readbackBytes: totals.readbackBytes - before.readbackBytes,
      readbacks: totals.readbacks - before.readbacks,
      uploadBytes: totals.uploadBytes - before.uploadBytes,
      uploads: totals.uploads - before.uploads,
    }),
  };
}
