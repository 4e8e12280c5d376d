/**
 * The key/value cache of a decoder run by onnxruntime-web: one key and one value tensor per
 * layer, each `[rows, kvHeads, pastLength, headDim]`, fed back as `past_key_values.*` inputs.
 *
 * On WebGPU the tensors never leave the GPU: they are the sessions's `present.*` outputs kept
 * as GPU buffers, and reordering rows for beam search (each new beam continues some parent
 * beam) is a gather done by GPU buffer-to-buffer copies of whole rows, skipped entirely when
 * every row continues itself. Tensors in CPU memory (WASM, onnxruntime-node) are permuted in
 * place when the row count stays, copying only the rows that change; {@linkcode cacheSlots}
 * places a beam step's rows so that only the extra continuations of a parent change (a parent
 * row's first continuation stays where it is). On a runtime that writes
 * into outputs it is given (onnxruntime-node), each step's `present.*` outputs go into the
 * buffers of the step before ({@linkcode KvCache.outputBuffers}): the decoding loop itself
 * allocates nothing cache-sized per step.
 *
 * @example
 * ```ts
 * import { KvCache } from "./kv_cache.ts";
 * const cache = KvCache.empty([{ key: "past_key_values.0.key", value: "past_key_values.0.value" }],
 *   { kvHeads: 2, headDim: 4, dataType: "float32" });
 * cache.pastLength; // 0
 * ```
 * @module
 */
import * as webOrt from "onnxruntime-web/webgpu";
import type { OrtModule } from "./backend.ts";

type Tensor = webOrt.Tensor;

/** The input names of one layer's cache. */
export interface CacheNames {
  /** Input name of the layer's past keys, e.g. `past_key_values.0.key`. */
  key: string;
  /** Input name of the layer's past values, e.g. `past_key_values.0.value`. */
  value: string;
}

/** What the cache tensors look like apart from rows and length. */
export interface CacheShape {
  /** Key/value heads. */
  kvHeads: number;
  /** Head dimension. */
  headDim: number;
  /** Element type of the cache inputs. */
  dataType: "float32" | "float16";
}

/** Bytes per element of the cache's element types. */
const BYTES: Record<CacheShape["dataType"], number> = { float32: 4, float16: 2 };

/** A model's KV cache for some rows; owns its tensors until {@linkcode KvCache.dispose}. */
export class KvCache {
  #tensors: Map<string, Tensor>;
  #spare: Map<string, Float32Array | Uint16Array>;
  #disposed = false;

  private constructor(
    /** Input names, one entry per layer. */
    readonly names: readonly CacheNames[],
    /** Shape apart from rows and length. */
    readonly shape: CacheShape,
    /** Rows (beams) in the cache. */
    readonly rows: number,
    /** Tokens cached per row. */
    readonly pastLength: number,
    tensors: Map<string, Tensor>,
    /** The runtime whose tensors these are (a session takes only its own runtime's). */
    readonly ort: OrtModule,
    spare = new Map<string, Float32Array | Uint16Array>(),
  ) {
    this.#tensors = tensors;
    this.#spare = spare;
  }

  /**
   * A cache holding nothing yet (past length 0), for a prefill.
   * @example
   * ```ts
   * KvCache.empty([{ key: "k", value: "v" }], { kvHeads: 1, headDim: 2, dataType: "float32" }, 3).rows; // 3
   * ```
   */
  static empty(
    names: readonly CacheNames[],
    shape: CacheShape,
    rows = 1,
    ort: OrtModule = webOrt,
  ): KvCache {
    const tensors = new Map<string, Tensor>();
    const dims = [rows, shape.kvHeads, 0, shape.headDim];
    for (const { key, value } of names) {
      for (const name of [key, value]) {
        tensors.set(
          name,
          shape.dataType === "float32"
            ? new ort.Tensor("float32", new Float32Array(0), dims)
            : forRuntime(new ort.Tensor("float16", new Uint16Array(0), dims), ort),
        );
      }
    }
    return new KvCache(names, shape, rows, 0, tensors, ort);
  }

  /**
   * The cache a run returned: `present.*` outputs, renamed to the `past_key_values.*` inputs
   * they feed (`presentName` maps an input name to its output name). Given the cache the run
   * continued (`previous`), disposes it and keeps its buffers for the next step's
   * {@linkcode KvCache.outputBuffers}.
   * @example
   * ```ts
   * // const next = KvCache.fromOutputs(names, shape, outputs, (n) => n.replace("past_key_values", "present"));
   * ```
   */
  static fromOutputs(
    names: readonly CacheNames[],
    shape: CacheShape,
    outputs: Record<string, Tensor>,
    presentName: (input: string) => string,
    ort: OrtModule = webOrt,
    previous?: KvCache,
  ): KvCache {
    const tensors = new Map<string, Tensor>();
    let rows = -1;
    let pastLength = -1;
    for (const { key, value } of names) {
      for (const name of [key, value]) {
        const t = outputs[presentName(name)];
        if (!t) throw new Error(`the model returned no ${presentName(name)} for ${name}`);
        if (t.dims.length !== 4 || t.dims[1] !== shape.kvHeads || t.dims[3] !== shape.headDim) {
          throw new Error(
            `${presentName(name)} has shape [${t.dims}], expected [rows, ${shape.kvHeads}, ` +
              `length, ${shape.headDim}]`,
          );
        }
        rows = t.dims[0];
        pastLength = t.dims[2];
        tensors.set(name, forRuntime(t, ort));
      }
    }
    const spare = new Map<string, Float32Array | Uint16Array>();
    if (previous && previous.location === "cpu") {
      const own = new Set([...tensors.values()].map((t) => (t.data as ArrayBufferView).buffer));
      for (const [name, t] of previous.#tensors) {
        // The whole buffer the tensor views: its capacity, not just its past length.
        const data = t.data as Float32Array | Uint16Array;
        if (!own.has(data.buffer)) {
          spare.set(name, new (data.constructor as Float32ArrayConstructor)(data.buffer));
        }
      }
    }
    previous?.dispose();
    return new KvCache(names, shape, rows, pastLength, tensors, ort, spare);
  }

  /**
   * Tensors a run that grows this cache to `length` positions over `rows` rows can write its
   * `present.*` outputs into, keyed by output name (`presentName` maps an input name to it):
   * views of the buffers the cache before this one held (see `previous` in
   * {@linkcode KvCache.fromOutputs}), replaced by one twice the size when too small. Never the
   * buffers of this cache's own tensors, which the same run reads.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const cache = KvCache.empty([{ key: "k", value: "v" }], { kvHeads: 2, headDim: 4, dataType: "float32" });
   * const out = cache.outputBuffers(1, 3, (n) => `present.${n}`);
   * assertEquals(out["present.k"].dims, [1, 2, 3, 4]);
   * ```
   */
  outputBuffers(
    rows: number,
    length: number,
    presentName: (input: string) => string,
  ): Record<string, Tensor> {
    if (this.#disposed) throw new Error("KvCache used after dispose()");
    const { kvHeads, headDim, dataType } = this.shape;
    const size = rows * kvHeads * length * headDim;
    const out: Record<string, Tensor> = {};
    for (const { key, value } of this.names) {
      for (const name of [key, value]) {
        let buffer = this.#spare.get(name);
        if (!buffer || buffer.length < size) {
          // Whole powers of two of positions: a generation of n tokens allocates log2(n) times.
          const capacity = rows * kvHeads * headDim *
            2 ** Math.ceil(Math.log2(Math.max(length, 16)));
          buffer = dataType === "float32" ? new Float32Array(capacity) : new Uint16Array(capacity);
          this.#spare.set(name, buffer);
        }
        const dims = [rows, kvHeads, length, headDim];
        out[presentName(name)] = forRuntime(
          new this.ort.Tensor(dataType, buffer.subarray(0, size), dims),
          this.ort,
        );
      }
    }
    return out;
  }

  /** Where the tensors live: `gpu-buffer` on WebGPU, `cpu` on WASM or while empty. */
  get location(): webOrt.Tensor.DataLocation {
    return this.#tensors.values().next().value?.location ?? "cpu";
  }

  /**
   * The `past_key_values.*` feeds of the next run.
   * @example
   * ```ts
   * // await session.run({ ...cache.feeds(), input_ids, attention_mask, position_ids });
   * ```
   */
  feeds(): Record<string, Tensor> {
    if (this.#disposed) throw new Error("KvCache used after dispose()");
    return Object.fromEntries(this.#tensors);
  }

  /**
   * The cache for the next step's rows: row `i` copies row `parents[i]` of this cache. Returns
   * this cache unchanged when `parents` is the identity, and this cache permuted in place when
   * the row count stays (CPU tensors: only the rows that change are copied, nothing cache-sized
   * is allocated); otherwise returns a new cache and disposes this one. Runs on the GPU when the
   * tensors are GPU buffers.
   * @example
   * ```ts
   * // const next = await cache.reorder([0, 0, 1]); // three beams from two parents
   * ```
   */
  async reorder(parents: readonly number[]): Promise<KvCache> {
    if (this.#disposed) throw new Error("KvCache used after dispose()");
    for (const p of parents) {
      if (!Number.isInteger(p) || p < 0 || p >= this.rows) {
        throw new RangeError(`parent row ${p} is outside the cache's rows 0..${this.rows - 1}`);
      }
    }
    if (parents.length === this.rows && parents.every((p, i) => p === i)) return this;
    const dims = [parents.length, this.shape.kvHeads, this.pastLength, this.shape.headDim];
    const rowElements = this.shape.kvHeads * this.pastLength * this.shape.headDim;
    const tensors = new Map<string, Tensor>();
    const ort = this.ort;
    if (this.location === "gpu-buffer") {
      const device = (await ort.env.webgpu.device) as GPUDevice;
      const rowBytes = rowElements * BYTES[this.shape.dataType];
      if (rowBytes % 4 !== 0) {
        throw new Error(
          `cannot copy cache rows of ${rowBytes} bytes on the GPU (not a multiple of 4)`,
        );
      }
      const dataType = this.shape.dataType;
      const encoder = device.createCommandEncoder();
      for (const [name, t] of this.#tensors) {
        const buffer = device.createBuffer({
          size: Math.max(16, Math.ceil((rowBytes * parents.length) / 16) * 16),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        parents.forEach((p, i) =>
          encoder.copyBufferToBuffer(
            t.gpuBuffer as GPUBuffer,
            p * rowBytes,
            buffer,
            i * rowBytes,
            rowBytes,
          )
        );
        tensors.set(
          name,
          ort.Tensor.fromGpuBuffer(buffer, {
            dataType,
            dims,
            download: () => downloadBuffer(device, buffer, rowBytes * parents.length, dataType),
            dispose: () => buffer.destroy(),
          }) as Tensor,
        );
      }
      device.queue.submit([encoder.finish()]);
    } else if (parents.length === this.rows) {
      // Same rows: permute each tensor's rows where it lies (its data is ours: a run's output,
      // copied out of the runtime), copying only the rows that change.
      const saved = rowsToSave(parents);
      for (const t of this.#tensors.values()) {
        const data = this.shape.dataType === "float16"
          ? halves(t.data as ArrayBufferView)
          : t.data as Float32Array;
        permuteRows(data, rowElements, parents, saved);
      }
      return this;
    } else {
      for (const [name, t] of this.#tensors) {
        const half = this.shape.dataType === "float16";
        const source = half ? halves(t.data as ArrayBufferView) : t.data as Float32Array;
        const size = rowElements * parents.length;
        const data = half ? new Uint16Array(size) : new Float32Array(size);
        parents.forEach((p, i) =>
          data.set(source.subarray(p * rowElements, (p + 1) * rowElements), i * rowElements)
        );
        tensors.set(name, forRuntime(new ort.Tensor(this.shape.dataType, data, dims), ort));
      }
    }
    const next = new KvCache(
      this.names,
      this.shape,
      parents.length,
      this.pastLength,
      tensors,
      ort,
    );
    this.dispose();
    return next;
  }

  /**
   * A copy of the cache's contents as CPU arrays keyed by input name (downloads GPU buffers);
   * for tests and inspection, not for the decoding loop.
   * @example
   * ```ts
   * // const host = await cache.download(); host["past_key_values.0.key"].length;
   * ```
   */
  async download(): Promise<Record<string, Float32Array | Uint16Array>> {
    const out: Record<string, Float32Array | Uint16Array> = {};
    for (const [name, t] of this.#tensors) {
      // A copy: CPU tensors' data is the cache itself, which a later reorder permutes.
      out[name] = ((await t.getData()) as Float32Array | Uint16Array).slice();
    }
    return out;
  }

  /** Releases the tensors (GPU buffers go back to onnxruntime or are destroyed). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#tensors.values()) t.dispose();
    this.#tensors.clear();
    this.#spare.clear();
  }
}

async function downloadBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  bytes: number,
  dataType: CacheShape["dataType"],
): Promise<Float32Array | Uint16Array> {
  const staging = device.createBuffer({
    size: buffer.size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0, bytes);
  const data = dataType === "float32" ? new Float32Array(copy) : new Uint16Array(copy);
  staging.unmap();
  staging.destroy();
  return data;
}

/**
 * Where each next row of a same-rows beam step lives in the cache so that as few cache rows as
 * possible are copied: the first row continuing a source row keeps that row where it is; the
 * further rows continuing it take the rows that no next row continues. `sources[i]` is the
 * cache row next row `i` continues; returns `slots` (cache row of next row `i`) and `parents`
 * (for {@linkcode KvCache.reorder}: cache row `s` becomes row `parents[s]`). Only rows beyond a
 * source's first continuation are copied: `rows − distinct sources`, where reordering into
 * `sources`' own order copies every row with `sources[i] ≠ i`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cacheSlots } from "./kv_cache.ts";
 * // beams sorted by score: two continue row 0, one row 1, one row 2; row 3 is dropped
 * const { slots, parents } = cacheSlots([0, 0, 1, 2]);
 * assertEquals(slots, [0, 3, 1, 2]);
 * assertEquals(parents, [0, 1, 2, 0]); // one row copied (0 into 3) instead of three
 * ```
 */
export function cacheSlots(sources: readonly number[]): { slots: number[]; parents: number[] } {
  const rows = sources.length;
  const slots = new Array<number>(rows).fill(-1);
  const kept = new Array<boolean>(rows).fill(false);
  sources.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s >= rows) {
      throw new RangeError(`source row ${s} is outside the rows 0..${rows - 1}`);
    }
    if (!kept[s]) {
      kept[s] = true;
      slots[i] = s;
    }
  });
  const free = kept.flatMap((k, r) => k ? [] : [r]);
  const parents = new Array<number>(rows);
  sources.forEach((s, i) => {
    if (slots[i] < 0) slots[i] = free.shift()!;
    parents[slots[i]] = s;
  });
  return { slots, parents };
}

/** Rows a permutation reads after overwriting them: sources of a changed row that change too. */
function rowsToSave(parents: readonly number[]): number[] {
  const saved = new Set<number>();
  parents.forEach((p, i) => {
    if (p !== i && parents[p] !== p) saved.add(p);
  });
  return [...saved];
}

/** Scratch rows for {@linkcode permuteRows}, grown as needed and reused across steps. */
let scratch = new ArrayBuffer(0);

/**
 * Row `i` of `data` becomes row `parents[i]` of it, in place: the sources that are themselves
 * overwritten (`saved`) are copied aside first; every other changed row reads its source row
 * directly, which no write touches.
 */
function permuteRows(
  data: Float32Array | Uint16Array,
  rowElements: number,
  parents: readonly number[],
  saved: readonly number[],
): void {
  const bytes = saved.length * rowElements * data.BYTES_PER_ELEMENT;
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(bytes);
  const aside = data instanceof Float32Array
    ? new Float32Array(scratch, 0, saved.length * rowElements)
    : new Uint16Array(scratch, 0, saved.length * rowElements);
  const row = (r: number) => data.subarray(r * rowElements, (r + 1) * rowElements);
  saved.forEach((r, slot) => aside.set(row(r), slot * rowElements));
  parents.forEach((p, i) => {
    if (p === i) return;
    const slot = saved.indexOf(p);
    data.set(
      slot < 0 ? row(p) : aside.subarray(slot * rowElements, (slot + 1) * rowElements),
      i * rowElements,
    );
  });
}

/** The raw 16-bit halves of a float16 array, whatever its JS type (no copy). */
function halves(data: ArrayBufferView): Uint16Array {
  return data instanceof Uint16Array
    ? data
    : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
}

/**
 * A float16 tensor as its runtime takes it: onnxruntime-common stores float16 data as a
 * `Float16Array` where one exists, which onnxruntime-node reads as empty ("not enough space:
 * expected N, got 0"); it takes the same bytes as `Uint16Array` (transformers.js swaps them
 * the same way before every native run).
 */
function forRuntime(t: Tensor, ort: OrtModule): Tensor {
  const raw = t as unknown as { cpuData?: unknown };
  if (
    ort !== webOrt && t.type === "float16" && typeof Float16Array !== "undefined" &&
    raw.cpuData instanceof Float16Array
  ) {
    raw.cpuData = halves(raw.cpuData);
  }
  return t;
}
