"""The dtype variants and legacy layouts of an exported decoder, with Debian's python3-onnx
(no onnxruntime tools here), named as transformers.js expects them:

- `quantize_q8`: dynamic 8-bit quantization of every MatMul with a constant weight, the
  `DynamicQuantizeLinear` + `MatMulInteger` pattern of onnxruntime's `quantize_dynamic`
  (per-tensor, symmetric int8 weights, uint8 activations) -> `model_quantized.onnx`;
- `to_fp16`: fp16 weights, KV cache and logits -> `model_fp16.onnx`. Arithmetic stays fp32
  between Casts (Debian's torch 1.13 cannot trace fp16 on the CPU), so the file, the cache and
  the logits are what a fp16 export hands the runtime, and the numbers carry fp16 rounding;
- `merge`: optimum's legacy `decoder_model_merged.onnx`, an `If` on `use_cache_branch` over the
  graph without past (prefill) and the graph with past (decode), initializers shared;
- `keep_last_logits`: the `num_logits_to_keep` input of newer exports (onnx-community): logits
  for the last k positions only, all of them for 0;
- `save`: one file, or the tensors in `<name>_data` beside it (external data).
"""

import hashlib
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _initializers(graph):
    return {t.name: t for t in graph.initializer}


def _rename_inputs(graph, old, new):
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def quantize_q8(model):
    """MatMul(A, W) with W a float initializer -> dynamic uint8 x int8 MatMulInteger."""
    model = _copy(model)
    graph = model.graph
    inits = _initializers(graph)
    # An unfolded export feeds MatMul through Transpose(W): quantize W transposed.
    transposed = {n.output[0]: inits[n.input[0]] for n in graph.node
                  if n.op_type == "Transpose" and n.input[0] in inits
                  and [list(a.ints) for a in n.attribute if a.name == "perm"] in ([[1, 0]], [])}
    nodes, made = [], set()
    for node in graph.node:
        w = None
        if node.op_type == "MatMul":
            w = inits.get(node.input[1]) or transposed.get(node.input[1])
        if w is None or w.data_type != TensorProto.FLOAT or len(w.dims) != 2:
            nodes.append(node)
            continue
        weights = numpy_helper.to_array(w)
        if node.input[1] in transposed:
            weights = weights.T
            w = onnx.TensorProto(name=f"{w.name}_t")
        scale = max(float(np.abs(weights).max()), 1e-12) / 127.0
        q = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
        base = node.output[0]
        if f"{w.name}_quantized" not in made:
            made.add(f"{w.name}_quantized")
            graph.initializer.extend([
                numpy_helper.from_array(q, f"{w.name}_quantized"),
                numpy_helper.from_array(np.array(scale, dtype=np.float32), f"{w.name}_scale"),
                numpy_helper.from_array(np.array(0, dtype=np.int8), f"{w.name}_zero_point"),
            ])
        nodes += [
            helper.make_node("DynamicQuantizeLinear", [node.input[0]],
                             [f"{base}_a_q", f"{base}_a_scale", f"{base}_a_zp"]),
            helper.make_node("MatMulInteger", [f"{base}_a_q", f"{w.name}_quantized",
                                               f"{base}_a_zp", f"{w.name}_zero_point"],
                             [f"{base}_int32"]),
            helper.make_node("Cast", [f"{base}_int32"], [f"{base}_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{base}_a_scale", f"{w.name}_scale"], [f"{base}_scale"]),
            helper.make_node("Mul", [f"{base}_float", f"{base}_scale"], [base]),
        ]
    used = {name for n in nodes for name in n.input} | {o.name for o in graph.output}
    nodes = [n for n in nodes if n.op_type != "Transpose" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)
    return model


def to_fp16(model, io_names=("past_key_values.", "present.", "logits")):
    """fp16 initializers (Cast back to fp32 in the graph) and fp16 cache/logits at the edges."""
    model = _copy(model)
    graph = model.graph
    casts = []
    for t in list(graph.initializer):
        if t.data_type != TensorProto.FLOAT or not t.dims:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), f"{t.name}_fp16")
        graph.initializer.remove(t)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [t.name], to=TensorProto.FLOAT))
    wanted = lambda name: any(name.startswith(p) for p in io_names)  # noqa: E731
    for vi in graph.input:
        if wanted(vi.name) and vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            _rename_inputs(graph, vi.name, f"{vi.name}_fp32")
            casts.append(helper.make_node("Cast", [vi.name], [f"{vi.name}_fp32"],
                                          to=TensorProto.FLOAT))
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    tail = []
    for vi in graph.output:
        if wanted(vi.name) and vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            for node in graph.node:
                for i, name in enumerate(node.output):
                    if name == vi.name:
                        node.output[i] = f"{vi.name}_fp32"
            _rename_inputs(graph, vi.name, f"{vi.name}_fp32")
            tail.append(helper.make_node("Cast", [f"{vi.name}_fp32"], [vi.name],
                                         to=TensorProto.FLOAT16))
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    nodes = casts + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model


def keep_last_logits(model):
    """Adds `num_logits_to_keep` (int64 scalar): `logits` becomes the last k positions."""
    model = _copy(model)
    graph = model.graph
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == "logits":
                node.output[i] = "logits_all"
    graph.input.append(helper.make_tensor_value_info("num_logits_to_keep", TensorProto.INT64, []))
    graph.initializer.extend([
        numpy_helper.from_array(np.array([0], dtype=np.int64), "keep_axes"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "keep_end"),
    ])
    graph.node.extend([
        helper.make_node("Neg", ["num_logits_to_keep"], ["keep_start_scalar"]),
        helper.make_node("Unsqueeze", ["keep_start_scalar", "keep_axes"], ["keep_start"]),
        helper.make_node("Constant", [], ["keep_axis"],
                         value=numpy_helper.from_array(np.array([1], dtype=np.int64))),
        helper.make_node("Slice", ["logits_all", "keep_start", "keep_end", "keep_axis"],
                         ["logits"]),
    ])
    return model


def merge(no_past, with_past):
    """optimum's merged decoder: If(use_cache_branch) over the two graphs, sharing weights."""
    shared, by_key, taken = [], {}, set()

    def share(graph):
        """Moves initializers to the outer graph (deduplicated by content); returns renames."""
        renames = {}
        for t in graph.initializer:
            data = numpy_helper.to_array(t)
            key = (t.data_type, tuple(t.dims), hashlib.sha256(data.tobytes()).hexdigest())
            if key not in by_key:
                name = t.name if t.name not in taken else f"{t.name}__{len(shared)}"
                taken.add(name)
                by_key[key] = name
                shared.append(numpy_helper.from_array(data, name))
            renames[t.name] = by_key[key]
        return renames

    outer_inputs = {vi.name for vi in with_past.graph.input}

    def branch(model, prefix):
        graph = model.graph
        renames = share(graph)
        for node in graph.node:
            for i, name in enumerate(node.output):
                node.output[i] = f"{prefix}/{name}"
            renames.update({name[len(prefix) + 1:]: name for name in node.output})
        for node in graph.node:
            node.name = f"{prefix}/{node.name}" if node.name else ""
            for i, name in enumerate(node.input):
                if name and name not in outer_inputs:
                    node.input[i] = renames.get(name, name)
        outputs = [helper.make_tensor_value_info(renames[vi.name], vi.type.tensor_type.elem_type,
                                                 None) for vi in graph.output]
        return helper.make_graph(list(graph.node), prefix, [], outputs)

    no_past, with_past = _copy(no_past), _copy(with_past)
    else_branch = branch(no_past, "no_past")
    then_branch = branch(with_past, "with_past")
    names = [vi.name for vi in with_past.graph.output]
    node = helper.make_node("If", ["use_cache_branch"], names, name="optimum::if",
                            then_branch=then_branch, else_branch=else_branch)
    inputs = list(with_past.graph.input) + [
        helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])]
    outputs = [helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type,
                                             [d.dim_param or d.dim_value for d in
                                              vi.type.tensor_type.shape.dim])
               for vi in with_past.graph.output]
    graph = helper.make_graph([node], "merged_decoder", inputs, outputs, shared)
    merged = helper.make_model(graph, opset_imports=with_past.opset_import,
                               producer_name="llm-notebooks hub fixtures")
    merged.ir_version = with_past.ir_version
    onnx.checker.check_model(merged)
    return merged


def save(model, path, external=False):
    """Writes `path`; with `external`, every tensor over 1 KB goes to `<basename>_data`."""
    onnx.checker.check_model(model)
    if not external:
        onnx.save_model(model, path)
        return
    location = os.path.basename(path) + "_data"
    onnx.save_model(_copy(model), path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=1024)


def _copy(model):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _drop_unused_initializers(graph):
    used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
