/**
 * Arithmetic intensity of transformer inference: a model configuration becomes the operations
 * of one layer in the prefill and decode phases, each matrix multiplication with its FLOPs,
 * bytes and exact intensity; hardware presets and the roofline turn those into attainable
 * FLOP/s, the bound and a time estimate.
 *
 * @example
 * ```ts
 * import { decodeOps, hardwareRoof, loadHardware, modelConfig, opEstimate } from "./mod.ts";
 * const roof = hardwareRoof(loadHardware().v100, "fp16");
 * opEstimate(decodeOps(modelConfig())[0], roof).bound; // "memory"
 * ```
 * @module
 */
export * from "./config.ts";
export * from "./fraction.ts";
export * from "./hardware.ts";
export * from "./layer.ts";
export * from "./layer_cost.ts";
export * from "./model.ts";
export * from "./matmul.ts";
export * from "./roofline.ts";
export * from "./sweep.ts";
export * from "./report.ts";
