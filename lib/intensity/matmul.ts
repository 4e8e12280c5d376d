/**
 * Cost of one matrix multiplication C = A·B with A of M×K and B of K×N, as the course counts
 * it: 2·M·N·K floating-point operations (one multiply and one add per term), and every operand
 * and the result moved once between memory and the processor, b·(M·K + K·N + M·N) bytes for
 * b bytes per element. Arithmetic intensity is FLOPs per byte.
 *
 * @example
 * ```ts
 * import { matmulCost } from "./matmul.ts";
 * const q = matmulCost({ m: 4096, n: 4096, k: 4096 }, 2);
 * q.flops; // 137438953472n
 * q.intensity; // { numerator: 4096n, denominator: 3n }
 * ```
 * @module
 */
import { type Fraction, fraction } from "./fraction.ts";

/** Shape of C = A·B: A is `m`×`k`, B is `k`×`n`, C is `m`×`n`. */
export interface MatmulShape {
  /** Rows of A and C. */
  readonly m: number;
  /** Columns of B and C. */
  readonly n: number;
  /** Columns of A, rows of B (the reduced dimension). */
  readonly k: number;
}

/** FLOPs, bytes and arithmetic intensity of a matrix multiplication. */
export interface MatmulCost extends MatmulShape {
  /** 2·M·N·K. */
  readonly flops: bigint;
  /** b·(M·K + K·N + M·N). */
  readonly bytes: bigint;
  /** flops / bytes, exact. */
  readonly intensity: Fraction;
}

/**
 * 2·M·N·K floating-point operations.
 * @example
 * ```ts
 * matmulFlops({ m: 2, n: 3, k: 4 }); // 48n
 * ```
 */
export function matmulFlops(shape: MatmulShape): bigint {
  return 2n * BigInt(shape.m) * BigInt(shape.n) * BigInt(shape.k);
}

/** Bytes per element of each operand: A (M×K), B (K×N) and the result C (M×N). */
export interface OperandBytes {
  /** A's element size. */
  readonly a: number;
  /** B's element size (the weights of a projection, the KV cache of attention). */
  readonly b: number;
  /** C's element size. */
  readonly c: number;
}

function operandBits(elementBytes: number | OperandBytes): [bigint, bigint, bigint] {
  const sizes = typeof elementBytes === "number"
    ? { a: elementBytes, b: elementBytes, c: elementBytes }
    : elementBytes;
  return [sizes.a, sizes.b, sizes.c].map((v, i) => {
    const bits = v * 8;
    if (!Number.isSafeInteger(bits) || bits <= 0) {
      throw new RangeError(
        `matmul ${"abc"[i]} element size must be a positive whole number of bits, got ${v} bytes`,
      );
    }
    return BigInt(bits);
  }) as [bigint, bigint, bigint];
}

/**
 * Bytes moved: b·(M·K + K·N + M·N), each operand read once and the result written once; with
 * per-operand sizes b_A·M·K + b_B·K·N + b_C·M·N, rounded up to whole bytes (int4 is half a byte).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(matmulBytes({ m: 2, n: 3, k: 4 }, 2), 52n); // 2·(8 + 12 + 6)
 * assertEquals(matmulBytes({ m: 2, n: 3, k: 4 }, { a: 2, b: 0.5, c: 2 }), 34n); // 16 + 6 + 12
 * ```
 */
export function matmulBytes(shape: MatmulShape, elementBytes: number | OperandBytes): bigint {
  const m = BigInt(shape.m), n = BigInt(shape.n), k = BigInt(shape.k);
  const [a, b, c] = operandBits(elementBytes);
  return (a * m * k + b * k * n + c * m * n + 7n) / 8n;
}

/**
 * FLOPs, bytes and exact intensity of C = A·B.
 * @throws {RangeError} when a dimension is not a positive integer or an element size is not a
 * positive whole number of bits.
 * @example
 * ```ts
 * matmulCost({ m: 1, n: 4096, k: 4096 }, 2).intensity; // 2048/2049
 * ```
 */
export function matmulCost(shape: MatmulShape, elementBytes: number | OperandBytes): MatmulCost {
  for (const [name, v] of Object.entries(shape)) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`matmul ${name} must be a positive integer, got ${v}`);
    }
  }
  const flops = matmulFlops(shape);
  const bytes = matmulBytes(shape, elementBytes);
  return { m: shape.m, n: shape.n, k: shape.k, flops, bytes, intensity: fraction(flops, bytes) };
}
