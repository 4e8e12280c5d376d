/**
 * The protobuf wire format, as much of it as ONNX files use: varints, length-delimited fields
 * (strings, bytes, embedded messages, packed repeats), 32-bit floats, and the fixed 64-bit fields
 * skipped by length. {@linkcode ProtoReader} walks a message's fields without decoding what it
 * is not asked for (a model's weights are skipped, not copied); {@linkcode ProtoWriter} encodes
 * one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ProtoReader, ProtoWriter } from "./protobuf.ts";
 * const bytes = new ProtoWriter().int(1, 300).string(2, "ab").finish();
 * const seen: string[] = [];
 * const r = new ProtoReader(bytes);
 * r.fields((field, wire) => {
 *   seen.push(field === 1 ? `${r.varint()}` : r.string());
 *   return true;
 * });
 * assertEquals(seen, ["300", "ab"]);
 * ```
 * @module
 */

/** Reads the fields of one message, in place. */
export class ProtoReader {
  /** Offset of the next byte to read. */
  pos = 0;

  /** A reader of `bytes` up to `end` (default: all of it). */
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}

  /**
   * A varint (wire type 0), exact up to 2⁵³.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new ProtoReader(Uint8Array.of(0xac, 0x02)).varint(), 300);
   * ```
   */
  varint(): number {
    let result = 0, shift = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError("truncated varint");
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * shift;
      if ((b & 0x80) === 0) return result;
      shift *= 128;
    }
  }

  /**
   * A signed varint (`int64`: negatives as ten-byte two's complement), exact up to ±2⁵³.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const minusOne = Uint8Array.of(...new Array(9).fill(0xff), 0x01);
   * assertEquals(new ProtoReader(minusOne).int64(), -1);
   * ```
   */
  int64(): number {
    let result = 0n, shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError("truncated varint");
      const b = this.bytes[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return Number(BigInt.asIntN(64, result));
      shift += 7n;
    }
  }

  /**
   * A little-endian float (wire type 5).
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new ProtoReader(Uint8Array.of(0, 0, 0xc0, 0x3f)).float32(), 1.5);
   * ```
   */
  float32(): number {
    if (this.pos + 4 > this.end) throw new RangeError("truncated float");
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4);
    this.pos += 4;
    return view.getFloat32(0, true);
  }

  /**
   * Skips one field's value of wire type `wire`.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const r = new ProtoReader(Uint8Array.of(2, 7, 7, 5));
   * r.skip(2);
   * assertEquals(r.varint(), 5);
   * ```
   */
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      // Read the length first: `pos += varint()` would add it to the position before it.
      const length = this.varint();
      this.pos += length;
    } else if (wire === 5) this.pos += 4;
    else throw new RangeError(`unsupported protobuf wire type ${wire}`);
    if (this.pos > this.end) throw new RangeError("truncated field");
  }

  /**
   * Calls `on(field, wire, start)` for each field (`start`: the offset of its tag); `on`
   * consumes the value and returns true, or returns false to have it skipped.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const fields: number[] = [];
   * new ProtoReader(Uint8Array.of(8, 1, 16, 2)).fields((f) => (fields.push(f), false));
   * assertEquals(fields, [1, 2]);
   * ```
   */
  fields(on: (field: number, wire: number, start: number) => boolean): void {
    while (this.pos < this.end) {
      const start = this.pos;
      const tag = this.varint();
      const field = Math.floor(tag / 8), wire = tag % 8;
      if (!on(field, wire, start)) this.skip(wire);
    }
  }

  /**
   * A reader of the embedded message (or bytes) at the current length-delimited field.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * const inner = new ProtoReader(Uint8Array.of(2, 8, 5)).sub();
   * inner.varint();
   * assertEquals(inner.varint(), 5);
   * ```
   */
  sub(): ProtoReader {
    const length = this.varint();
    const r = new ProtoReader(this.bytes, this.pos + length);
    r.pos = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new RangeError("truncated message");
    return r;
  }

  /**
   * The UTF-8 string at the current length-delimited field.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new ProtoReader(Uint8Array.of(1, 0x41)).string(), "A");
   * ```
   */
  string(): string {
    const r = this.sub();
    return new TextDecoder().decode(this.bytes.subarray(r.pos, r.end));
  }
}

/**
 * The bytes of a varint: unsigned LEB128, seven bits per byte, low bits first (WebAssembly's
 * binary format encodes its integers the same way).
 * @throws {RangeError} unless `value` is a non-negative safe integer.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(varintBytes(300), [0xac, 0x02]);
 * assertEquals(varintBytes(0), [0]);
 * ```
 */
export function varintBytes(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`protobuf varint must be a non-negative safe integer, got ${value}`);
  }
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Encodes a message field by field. */
export class ProtoWriter {
  #parts: Uint8Array[] = [];
  #length = 0;

  #push(bytes: Uint8Array): void {
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  #varint(value: number): void {
    this.#push(Uint8Array.from(varintBytes(value)));
  }

  /**
   * Writes an integer field (wire type 0); negative values as two's-complement 64-bit, as
   * protobuf's `int64` does.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals([...new ProtoWriter().int(1, -1).finish()].length, 11);
   * ```
   */
  int(field: number, value: number): this {
    this.#varint(field * 8);
    if (value >= 0) this.#varint(value);
    else {
      let v = BigInt.asUintN(64, BigInt(value));
      const out: number[] = [];
      while (v >= 0x80n) {
        out.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      out.push(Number(v));
      this.#push(Uint8Array.from(out));
    }
    return this;
  }

  /**
   * Writes a float field (wire type 5, little-endian).
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals([...new ProtoWriter().float(2, 1.5).finish()], [21, 0, 0, 0xc0, 0x3f]);
   * ```
   */
  float(field: number, value: number): this {
    this.#varint(field * 8 + 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.#push(bytes);
    return this;
  }

  /**
   * Writes a bytes field (wire type 2).
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals([...new ProtoWriter().bytes(2, Uint8Array.of(9)).finish()], [18, 1, 9]);
   * ```
   */
  bytes(field: number, value: Uint8Array): this {
    this.#varint(field * 8 + 2);
    this.#varint(value.length);
    this.#push(value);
    return this;
  }

  /**
   * Writes a UTF-8 string field.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals([...new ProtoWriter().string(1, "A").finish()], [10, 1, 65]);
   * ```
   */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /**
   * Writes an embedded message field built by `build`.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals([...new ProtoWriter().message(1, (m) => m.int(1, 1)).finish()], [10, 2, 8, 1]);
   * ```
   */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /**
   * Appends bytes already encoded (whole fields copied from another message).
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals([...new ProtoWriter().raw(Uint8Array.of(8, 1)).finish()], [8, 1]);
   * ```
   */
  raw(encoded: Uint8Array): this {
    this.#push(encoded);
    return this;
  }

  /**
   * The encoded message.
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * assertEquals(new ProtoWriter().finish().length, 0);
   * ```
   */
  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}
