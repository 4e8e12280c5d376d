/**
 * Turns a cell's Jupyter iopub messages into nbformat outputs the way Jupyter front ends do:
 * consecutive stream chunks of the same name merge into one output, `clear_output` (with or
 * without `wait`) clears, `update_display_data` replaces the output with the same display id.
 *
 * @example
 * ```ts
 * import { CellOutputs } from "./outputs.ts";
 * const outputs = new CellOutputs();
 * outputs.add("stream", { name: "stdout", text: "a\n" });
 * outputs.add("stream", { name: "stdout", text: "b\n" });
 * outputs.list(); // [{ output_type: "stream", name: "stdout", text: "a\nb\n" }]
 * ```
 * @module
 */
import type { Output, OutputData } from "./nbformat.ts";

/** Message types that carry or change outputs; others are ignored by {@linkcode CellOutputs}. */
export const OUTPUT_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  "stream",
  "display_data",
  "execute_result",
  "error",
  "clear_output",
  "update_display_data",
]);

interface Transient {
  display_id?: string;
}

/** The outputs of one cell, built message by message. */
export class CellOutputs {
  #outputs: Output[] = [];
  #displayIds = new Map<Output, string>();
  #clearOnNext = false;

  /**
   * Applies one iopub message's content to the outputs.
   * @example
   * ```ts
   * const outputs = new CellOutputs();
   * outputs.add("execute_result", { execution_count: 1, data: { "text/plain": "2" }, metadata: {} });
   * ```
   */
  add(msgType: string, content: Record<string, unknown>): void {
    if (!OUTPUT_MESSAGE_TYPES.has(msgType)) return;
    if (msgType === "clear_output") {
      if (content.wait) this.#clearOnNext = true;
      else this.#clear();
      return;
    }
    const displayId = (content.transient as Transient | undefined)?.display_id;
    if (msgType === "update_display_data") {
      for (const [output, id] of this.#displayIds) {
        if (id === displayId && output.output_type !== "stream" && output.output_type !== "error") {
          output.data = content.data as OutputData;
          output.metadata = (content.metadata ?? {}) as Record<string, unknown>;
        }
      }
      return;
    }
    if (this.#clearOnNext) this.#clear();
    const output = toOutput(msgType, content);
    const last = this.#outputs.at(-1);
    if (
      output.output_type === "stream" && last?.output_type === "stream" && last.name === output.name
    ) {
      last.text = `${last.text}${output.text}`;
      return;
    }
    this.#outputs.push(output);
    if (displayId !== undefined) this.#displayIds.set(output, displayId);
  }

  /**
   * The outputs so far, in arrival order.
   * @example
   * ```ts
   * new CellOutputs().list(); // []
   * ```
   */
  list(): Output[] {
    return [...this.#outputs];
  }

  #clear(): void {
    this.#outputs = [];
    this.#displayIds.clear();
    this.#clearOnNext = false;
  }
}

function toOutput(msgType: string, c: Record<string, unknown>): Output {
  switch (msgType) {
    case "stream":
      return { output_type: "stream", name: String(c.name), text: String(c.text) };
    case "display_data":
      return {
        output_type: "display_data",
        data: (c.data ?? {}) as OutputData,
        metadata: (c.metadata ?? {}) as Record<string, unknown>,
      };
    case "execute_result":
      return {
        output_type: "execute_result",
        execution_count: (c.execution_count ?? null) as number | null,
        data: (c.data ?? {}) as OutputData,
        metadata: (c.metadata ?? {}) as Record<string, unknown>,
      };
    default:
      return {
        output_type: "error",
        ename: String(c.ename ?? ""),
        evalue: String(c.evalue ?? ""),
        traceback: (c.traceback ?? []) as string[],
      };
  }
}
