/**
 * The file choice against transformers.js's own code: its `dtypes.js` (the installed
 * `@huggingface/transformers`, imported from node_modules) is the second implementation.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  autoDtype,
  chooseModelFiles,
  type Dtype,
  DTYPE_REQUESTS,
  DTYPE_SUFFIX,
} from "../lib/onnx/model_files.ts";

// deno-lint-ignore no-explicit-any
const tjs: any = await import(
  "../node_modules/@huggingface/transformers/src/utils/dtypes.js"
);

Deno.test("every dtype maps to the file suffix transformers.js uses", () => {
  for (const dtype of DTYPE_REQUESTS.filter((d) => d !== "auto")) {
    assertEquals(DTYPE_SUFFIX[dtype as Dtype], tjs.DEFAULT_DTYPE_SUFFIX_MAPPING[dtype], dtype);
  }
});

Deno.test("auto resolves as transformers.js's selectDtype does, per backend and config", () => {
  const configs = [
    {},
    { "transformers.js_config": { dtype: "q4f16" } },
    { "transformers.js_config": { dtype: { model: "fp16" } } },
    { "transformers.js_config": { dtype: { encoder_model: "q4" } } },
    { "transformers.js_config": { dtype: "fp32", device_config: { webgpu: { dtype: "q4f16" } } } },
  ];
  for (const backend of ["wasm", "webgpu", "cpu"] as const) {
    for (const config of configs) {
      // session.js: the device_config of the selected device overlays the config first.
      // deno-lint-ignore no-explicit-any
      let custom: any = config["transformers.js_config" as keyof typeof config] ?? {};
      if (custom.device_config?.[backend]) custom = { ...custom, ...custom.device_config[backend] };
      const theirs = tjs.selectDtype(custom.dtype ?? "auto", "model", backend, {
        configDtype: custom.dtype,
      });
      assertEquals(autoDtype(backend, config), theirs, `${backend} ${JSON.stringify(config)}`);
    }
  }
});

Deno.test("a repository's files: layouts, fallbacks, external data and refusals", () => {
  const onnxCommunity = [
    "config.json",
    "onnx/model.onnx",
    "onnx/model.onnx_data",
    "onnx/model_fp16.onnx",
    "onnx/model_q4f16.onnx",
    "onnx/model_quantized.onnx",
  ];
  const wasm = chooseModelFiles(onnxCommunity, { backend: "wasm" });
  assertEquals([wasm.graph, wasm.dtype, wasm.externalData], [
    "onnx/model_quantized.onnx",
    "q8",
    [],
  ]);
  const gpu = chooseModelFiles(onnxCommunity, { backend: "webgpu" });
  assertEquals([gpu.graph, gpu.externalData], ["onnx/model.onnx", ["onnx/model.onnx_data"]]);
  const fp32Only = chooseModelFiles(["onnx/model.onnx", "onnx/model_fp16.onnx"], {
    backend: "wasm",
  });
  assertEquals(fp32Only.dtype, "fp32");
  assertStringIncludes(fp32Only.note!, "has no q8 file for wasm; using fp32");
  assertEquals(
    chooseModelFiles(["onnx/model_fp16.onnx", "onnx/model_q4.onnx"], {
      backend: "webgpu",
      fp16Supported: false,
    }).dtype,
    "q4",
    "an adapter without shader-f16 never gets an fp16 variant from auto",
  );
  assertThrows(
    () =>
      chooseModelFiles(["onnx/model_fp16.onnx"], {
        backend: "webgpu",
        dtype: "fp16",
        fp16Supported: false,
      }),
    Error,
    "lacks shader-f16",
  );
  assertThrows(
    () =>
      chooseModelFiles(["onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx"], {
        backend: "wasm",
        where: "acme/old",
      }),
    Error,
    "acme/old has no usable ONNX decoder",
  );
  assertThrows(
    () => chooseModelFiles(["config.json"], { backend: "wasm", where: "acme/none" }),
    Error,
    "it has no .onnx file at all",
  );
});
