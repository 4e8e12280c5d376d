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

/**
 * Bytes moved: b·(M·K + K·N + M·N), each operand read once and the result written once.
 * @example
 * ```ts
 * matmulBytes({ m: 2, n: 3, k: 4 }, 2); // 2·(8 + 12 + 6) = 52n
 * ```
 */
export function matmulBytes(shape: MatmulShape, bytesPerElement: number): bigint {
  const m = BigInt(shape.m), n = BigInt(shape.n), k = BigInt(shape.k);
  return BigInt(bytesPerElement) * (m * k + k * n + m * n);
}

/**
 * FLOPs, bytes and exact intensity of C = A·B.
 * @throws {RangeError} when a dimension or the element size is not a positive integer.
 * @example
 * ```ts
 * matmulCost({ m: 1, n: 4096, k: 4096 }, 2).intensity; // 2048/2049
 * ```
 */
export function matmulCost(shape: MatmulShape, bytesPerElement: number): MatmulCost {
  for (const [name, v] of Object.entries({ ...shape, bytesPerElement })) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`matmul ${name} must be a positive integer, got ${v}`);
    }
  }
  const flops = matmulFlops(shape);
  const bytes = matmulBytes(shape, bytesPerElement);
  return { m: shape.m, n: shape.n, k: shape.k, flops, bytes, intensity: fraction(flops, bytes) };
}
