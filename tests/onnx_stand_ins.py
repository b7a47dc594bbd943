"""Tiny ONNX stand-ins for the pose-model tests (no downloads, no GPU), and the data they emit.

Stand-in models either emit constant tensors (post-processing checked to the pixel) or compute simple functions of
the input (a bright-dot locator for RTMPose, so that the crop warp and its inverse are checked end to end), plus
random-weight Conv models with the real signatures. Importing this module skips the importing test module when
onnx, onnxruntime or OpenCV is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

J = 17
RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------------------------ model builders

def save_model(path, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=list(inits))
    # IR 8 / opset 17: the newest onnx writes an IR version that ONNX Runtime 1.31 refuses.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def value_info(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def const_tensor(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def constant_model(path, input_name, input_shape, outputs, declared=None):
    """A model whose outputs are the given constants, broadcast over the input's batch.

    Each output is value[0] repeated for every batch entry: const (1, ...) + zeros (B, 1, ...), the zeros being
    0 x mean(input) so that the input is genuinely consumed.
    """
    declared = declared or {}
    nodes = [
        helper.make_node("Reshape", [input_name, "flat_shape"], ["flat"]),
        helper.make_node("ReduceMean", ["flat"], ["mean_b1"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean_b1", "zero"], ["zero_b1"]),
    ]
    inits = [const_tensor("flat_shape", [0, -1], np.int64), const_tensor("zero", 0.0)]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        rank = value.ndim
        nodes += [
            helper.make_node("Unsqueeze", ["zero_b1", f"{name}_axes"], [f"{name}_zero"]),
            helper.make_node("Add", [f"{name}_value", f"{name}_zero"], [name]),
        ]
        inits += [const_tensor(f"{name}_axes", list(range(2, rank)), np.int64), const_tensor(f"{name}_value", value)]
        outs.append(value_info(name, declared.get(name, [input_shape[0], *value.shape[1:]])))
    return save_model(path, nodes, [value_info(input_name, input_shape)], outs, inits)


def yolo_random_model(path, size=640):
    weight = RNG.normal(0, 0.02, (5 + 3 * J, 3, 32, 32))
    scale = np.ones(5 + 3 * J, np.float32)
    scale[[0, 1]] = size
    scale[[2, 3]] = 200
    scale[5::3] = size
    scale[6::3] = size
    n = (size // 32) ** 2
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["feat"], strides=[32, 32]),
        helper.make_node("Reshape", ["feat", "shape"], ["flat"]),
        helper.make_node("Sigmoid", ["flat"], ["prob"]),
        helper.make_node("Mul", ["prob", "scale"], ["output0"]),
    ]
    inits = [const_tensor("w", weight), const_tensor("shape", [1, 5 + 3 * J, n], np.int64),
             const_tensor("scale", scale.reshape(1, -1, 1))]
    return save_model(path, nodes, [value_info("images", [1, 3, size, size])],
                      [value_info("output0", [1, 5 + 3 * J, n])], inits)


def rtmpose_random_model(path, height=256, width=192):
    nodes = [
        helper.make_node("Conv", ["input", "wx"], ["fx"]),          # [1, J, 1, W]
        helper.make_node("Reshape", ["fx", "shape_x"], ["rx"]),
        helper.make_node("Concat", ["rx", "rx"], ["simcc_x"], axis=2),
        helper.make_node("Conv", ["input", "wy"], ["fy"]),          # [1, J, H, 1]
        helper.make_node("Reshape", ["fy", "shape_y"], ["ry"]),
        helper.make_node("Concat", ["ry", "ry"], ["simcc_y"], axis=2),
    ]
    inits = [const_tensor("wx", RNG.normal(0, 0.01, (J, 3, height, 1))),
             const_tensor("wy", RNG.normal(0, 0.01, (J, 3, 1, width))),
             const_tensor("shape_x", [1, J, width], np.int64), const_tensor("shape_y", [1, J, height], np.int64)]
    return save_model(path, nodes, [value_info("input", [1, 3, height, width])],
                      [value_info("simcc_x", [1, J, 2 * width]), value_info("simcc_y", [1, J, 2 * height])], inits)


def rtmpose_dot_model(path, batch=1, height=256, width=192):
    """SimCC stand-in that locates the brightest input pixel: simcc_x peaks at 2 x its column, simcc_y at 2 x row."""
    nodes = [
        helper.make_node("ReduceMax", ["input"], ["m"], axes=[1], keepdims=0),     # [B, H, W]
        helper.make_node("ReduceMax", ["m"], ["col"], axes=[1], keepdims=0),       # [B, W]
        helper.make_node("ReduceMax", ["m"], ["row"], axes=[2], keepdims=0),       # [B, H]
    ]
    inits = [const_tensor("ax2", [2], np.int64), const_tensor("ax1", [1], np.int64),
             const_tensor("flat", [0, -1], np.int64), const_tensor("reps", [1, J, 1], np.int64)]
    for src, out in (("col", "simcc_x"), ("row", "simcc_y")):
        nodes += [
            helper.make_node("Unsqueeze", [src, "ax2"], [f"{src}_u"]),
            helper.make_node("Concat", [f"{src}_u", f"{src}_u"], [f"{src}_2"], axis=2),  # each bin twice
            helper.make_node("Reshape", [f"{src}_2", "flat"], [f"{src}_f"]),
            helper.make_node("Unsqueeze", [f"{src}_f", "ax1"], [f"{src}_k"]),
            helper.make_node("Tile", [f"{src}_k", "reps"], [out]),
        ]
    outputs = [value_info("simcc_x", [batch, J, 2 * width]), value_info("simcc_y", [batch, J, 2 * height])]
    return save_model(path, nodes, [value_info("input", [batch, 3, height, width])], outputs, inits)


def rtmo_random_model(path, n_grid=20):
    n = n_grid * n_grid
    nodes = [
        helper.make_node("Conv", ["input", "wd"], ["fd"], strides=[32, 32]),
        helper.make_node("Reshape", ["fd", "sd"], ["rd"]),
        helper.make_node("Transpose", ["rd"], ["td"], perm=[0, 2, 1]),
        helper.make_node("Sigmoid", ["td"], ["pd"]),
        helper.make_node("Mul", ["pd", "scale_d"], ["dets"]),
        helper.make_node("Conv", ["input", "wk"], ["fk"], strides=[32, 32]),
        helper.make_node("Reshape", ["fk", "sk"], ["rk"]),
        helper.make_node("Transpose", ["rk"], ["tk"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["tk", "sk4"], ["qk"]),
        helper.make_node("Sigmoid", ["qk"], ["pk"]),
        helper.make_node("Mul", ["pk", "scale_k"], ["keypoints"]),
    ]
    inits = [const_tensor("wd", RNG.normal(0, 1e-4, (5, 3, 32, 32))),
             const_tensor("wk", RNG.normal(0, 1e-4, (3 * J, 3, 32, 32))),
             const_tensor("sd", [1, 5, n], np.int64), const_tensor("sk", [1, 3 * J, n], np.int64),
             const_tensor("sk4", [1, n, J, 3], np.int64), const_tensor("scale_d", [640, 640, 640, 640, 1]),
             const_tensor("scale_k", [640, 640, 1])]
    return save_model(path, nodes, [value_info("input", [1, 3, 640, 640])],
                      [value_info("dets", [1, n, 5]), value_info("keypoints", [1, n, J, 3])], inits)


class Recording:
    """Backend wrapper that keeps every input it was given."""

    def __init__(self, inner):
        self.inner = inner
        self.input_specs = inner.input_specs
        self.output_specs = inner.output_specs
        self.output_names = inner.output_names
        self.calls = []

    def infer(self, inputs):
        self.calls.append({k: np.array(v) for k, v in inputs.items()})
        return self.inner.infer(inputs)


def frame(h, w, bgr=(0, 0, 0)):
    return np.full((h, w, 3), bgr, np.uint8)


# ------------------------------------------------------------------------------------------------ emitted data

def keypoint_line(x0, y0, dx, dy, conf):
    """J keypoints (x, y, conf) on a line from (x0, y0) in steps (dx, dy), confidence rising by 0.01 a joint."""
    j = np.arange(J, dtype=np.float32)
    return np.stack([x0 + dx * j, y0 + dy * j, np.full(J, conf, np.float32) + 0.01 * j], axis=1)


YOLO_PEOPLE = {   # input pixels of a 640x640 model: cx, cy, w, h, score, keypoints
    "a": (200, 300, 100, 200, 0.90, keypoint_line(160, 40, 4, 16, 0.50)),      # keypoint 0 in the top pad: y -> 0
    "a_dup": (205, 305, 100, 200, 0.85, keypoint_line(161, 41, 4, 16, 0.50)),  # IoU with a: 0.86 -> suppressed
    "b": (450, 320, 120, 220, 0.80, keypoint_line(400, 230, 5, 9, 0.70)),
    "c": (100, 100, 50, 50, 0.10, keypoint_line(90, 90, 1, 1, 0.90)),          # below the score threshold
}


def yolo_rows():
    """The eight candidate rows ([8, 56]) a YOLO-pose stand-in emits: YOLO_PEOPLE, then empty rows."""
    rows = np.zeros((8, 5 + 3 * J), np.float32)
    for i, (cx, cy, w, h, s, k) in enumerate(YOLO_PEOPLE.values()):
        rows[i, :5] = cx, cy, w, h, s
        rows[i, 5:] = k.reshape(-1)
    rows[2, 5 + 3 * 16] = 700      # b's last keypoint right of the input: clipped to the frame's width
    return rows


def yolo_constant_model(tmp_path):
    """A 640x640 YOLO-pose stand-in that emits `yolo_rows()` ([1, 56, 8]) for any input."""
    return constant_model(tmp_path / "yolo.onnx", "images", [1, 3, 640, 640], {"output0": yolo_rows().T[None]})
