"""`ergoedge export RUN --out DIR` (export/onnx_model.py): every registry model's whole-sequence forward as ONNX with
dynamic batch and time axes, checked, simplified and shape-inferred; a real ONNX Runtime session gives what torch
gives at lengths other than the export's, padded sequences included; the manifest records the graph and how it was
made; bad input is one line and writes nothing."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the export stage needs torch (the train extra)")

from edge.cli import main  # noqa: E402
from edge.errors import InputError  # noqa: E402
from edge.models.base import DataSpec  # noqa: E402
from edge.models.registry import MODELS  # noqa: E402
from edge.skeletons import get_layout  # noqa: E402
from edge.train.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from edge.train.config import NormConfig  # noqa: E402
from export.onnx_model import KIND, OUTPUTS, PARITY_ATOL, example_inputs, export_model  # noqa: E402

CLASSES = ("walk", "stand", "bend")
# Small versions of each model (the defaults are bigger than a test needs; the graph's structure is the same).
SMALL = {
    "mtl_gcn_edtcn": {"gcn_channels": (8, 8), "edtcn_channels": (8, 8), "lstm_hidden": 8},
    "vae_reba": {},
    "mstcn_heatmap": {},
    "edge_stream": {"channels": 8, "layers": 3},
    "lifter_2d3d": {},
    "d2sta_aqa": {},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def checkpoint(tmp_path, name: str, **changes):
    entry = MODELS[name]
    fields = {f.name for f in dataclasses.fields(entry.config)}
    small = {k: v for k, v in {**SMALL[name], **changes}.items() if k in fields}
    config = entry.config(data=DataSpec(layout="uwiom15", classes=CLASSES, fps=10.0), **small)
    torch.manual_seed(0)
    model = entry.build(config).eval()
    with torch.no_grad():  # weights away from their initialisation (zero biases, unit norms), at their own scale
        for p in model.parameters():
            p.mul_(1 + 0.2 * torch.randn_like(p)).add_(0.01 * torch.randn_like(p))
    return save_checkpoint(tmp_path / f"{name}.pt", name, config, model, NormConfig(), 1, {"command": ["test"]})


def test_the_lookahead_edge_stream_exports_whole_sequences_with_their_mask(tmp_path):
    artifact = export_model(checkpoint(tmp_path, "edge_stream", causal=False), tmp_path / "out")
    manifest = json.loads(artifact.manifest.read_text())
    assert manifest["input_keys"] == ["joints", "mask"]
    assert [row["name"] for row in manifest["inputs"]] == ["joints", "mask"]
    assert max(manifest["parity"]["max_rel_diff"].values()) <= PARITY_ATOL


def test_small_configs_name_real_fields():
    for name, small in SMALL.items():
        fields = {f.name for f in dataclasses.fields(MODELS[name].config)}
        assert set(small) <= fields, name
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_exports_with_parity_at_other_lengths(tmp_path, name):
    import onnx
    import onnxruntime as ort

    ckpt_path = checkpoint(tmp_path, name)
    artifact = export_model(ckpt_path, tmp_path / "out")
    assert artifact.onnx.name == f"{name}.onnx" and artifact.manifest.name == f"{name}.json"
    graph = onnx.load(str(artifact.onnx))
    onnx.checker.check_model(graph, full_check=True)
    assert graph.graph.value_info, "inferred shapes are stored in the file"
    manifest = json.loads(artifact.manifest.read_text())
    assert manifest["kind"] == KIND and manifest["precision"] == "fp32" and manifest["model"] == name
    model = load_checkpoint(ckpt_path).build()
    keys = model.input_keys()
    assert manifest["input_keys"] == list(keys)
    inputs = {row["name"]: row for row in manifest["inputs"]}
    assert set(inputs) <= set(keys) and "mask" not in inputs or inputs["mask"]["dtype"] == "bool"
    for key in set(inputs) - {"mask"}:
        assert inputs[key]["shape"] == ["batch", "time", 15, 3] and inputs[key]["dtype"] == "float32"
    assert manifest["parity"]["max_rel_diff"] and max(manifest["parity"]["max_rel_diff"].values()) <= PARITY_ATOL
    assert manifest["simplified"]["applied"] is True
    assert manifest["simplified"]["nodes_after"] <= manifest["simplified"]["nodes_before"]
    assert manifest["classes"] == list(CLASSES) and manifest["layout"] == "uwiom15"

    # An independent check at a third length and batch: every output the model has, shaped as torch's.
    feed = example_inputs(tuple(keys), 15, 3, 23, 5, np.random.default_rng(5))
    session = ort.InferenceSession(str(artifact.onnx), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()],
                   session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})))
    with torch.no_grad():
        want = model({k: torch.from_numpy(v) for k, v in feed.items()})
    assert set(got) == {k for k in OUTPUTS if k in want}
    real = feed.get("mask", np.ones((3, 23), dtype=bool))
    for key, value in got.items():
        ref = want[key].numpy()
        assert value.shape == ref.shape
        if key != "quality":
            value, ref = value[real], ref[real]
        np.testing.assert_allclose(value, ref, atol=1e-4, rtol=1e-4)


def test_model_inputs_follow_the_config(tmp_path):
    from edge.models.d2sta_aqa import D2staAqaConfig
    from edge.models.mstcn_heatmap import MstcnHeatmapConfig

    spec = DataSpec(layout="uwiom15", classes=CLASSES)
    build = MODELS["mstcn_heatmap"].build
    assert build(MstcnHeatmapConfig(data=spec, source="keypoints2d")).input_keys() == ("keypoints2d", "mask")
    assert build(MstcnHeatmapConfig(data=spec, source="auto")).input_keys() == ("joints", "mask")
    d2sta = MODELS["d2sta_aqa"].build(D2staAqaConfig(data=spec, orientation="quaternions"))
    assert d2sta.input_keys() == ("joints", "orientations", "mask")
    artifact = export_model(checkpoint(tmp_path, "d2sta_aqa", orientation="quaternions"), tmp_path / "q")
    manifest = json.loads(artifact.manifest.read_text())
    assert [row["name"] for row in manifest["inputs"]] == ["joints", "orientations", "mask"]
    assert manifest["inputs"][1]["shape"] == ["batch", "time", 15, 4]


def test_example_inputs_look_like_the_loaders():
    feed = example_inputs(("joints", "keypoints2d", "orientations", "mask"), get_layout("uwiom15").num_joints,
                          2, 10, 4, np.random.default_rng(0))
    assert feed["joints"].shape == (2, 10, 15, 3) and feed["joints"].dtype == np.float32
    assert feed["keypoints2d"].min() >= 0 and feed["keypoints2d"].max() <= 1
    np.testing.assert_allclose(np.linalg.norm(feed["orientations"], axis=-1), 1.0, atol=1e-6)
    assert feed["mask"].sum(1).tolist() == [10, 6] and not feed["mask"][1, 6:].any()
    with pytest.raises(InputError, match="cannot make example input 'depth'"):
        example_inputs(("depth",), 15, 1, 2, 0, np.random.default_rng(0))


def test_cli_exports_and_refuses_bad_input(tmp_path, capsys):
    ckpt_path = checkpoint(tmp_path, "mtl_gcn_edtcn")
    assert main(["export", str(ckpt_path), "--out", str(tmp_path / "cli")]) == 0
    assert "exported" in capsys.readouterr().out and (tmp_path / "cli" / "mtl_gcn_edtcn.json").is_file()
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["export", str(ckpt_path), "--out", str(tmp_path / "y"), "--opset", "9"]) == 2
    assert "--opset" in capsys.readouterr().err and not (tmp_path / "y").exists()


def test_no_simplify_keeps_the_exported_graph(tmp_path):
    artifact = export_model(checkpoint(tmp_path, "edge_stream"), tmp_path / "raw", simplify=False)
    manifest = json.loads(artifact.manifest.read_text())
    assert manifest["simplified"]["tool"] is None
    assert manifest["simplified"]["nodes_after"] == manifest["simplified"]["nodes_before"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_tensorrt_parser_takes_every_precision_of_every_model(tmp_path, name):
    """FP32 as exported, FP16 and INT8 (QDQ, TensorRT's form) as the calibration stage makes them; TensorRT's ONNX
    parser without a GPU (export/parser_check.py) takes every node of each."""
    pytest.importorskip("tensorrt_rtx", reason="the CPU-side parser check needs tensorrt-rtx (x86_64 set-up)")
    from calibration.quantize import QuantSpec, convert_fp16, quantize_int8
    from calibration.readers import calibration_set
    from export.parser_check import check_parser

    fp32 = export_model(checkpoint(tmp_path, name), tmp_path / "out").onnx
    keys = tuple(load_checkpoint(tmp_path / f"{name}.pt").build().input_keys())
    rng = np.random.default_rng(1)
    feeds = [example_inputs(keys, 15, 1, 32, 0, rng) for _ in range(8)]
    graphs = {"fp32": fp32, "fp16": convert_fp16(fp32, tmp_path / "fp16.onnx", feeds[0]),
              "int8": quantize_int8(fp32, calibration_set(feeds, "example inputs"), QuantSpec(allow_small=True),
                                    tmp_path / "int8.onnx")}
    for precision, path in graphs.items():
        report = check_parser(path)
        assert report.accepted and not report.unsupported, (precision, report.errors)
    assert check_parser(graphs["int8"]).operators["QuantizeLinear"] > 0


def test_skeleton_heatmaps_export_at_any_frame_count(tmp_path):
    """mstcn_heatmap's drawing on its own (a whole model with random weights can hide a wrong drawing behind dead
    units: a trained one showed it): ONNX Runtime draws what torch draws, for more frames than one drawing chunk."""
    import warnings

    import onnxruntime as ort

    from edge.models.mstcn_heatmap import SkeletonHeatmaps, front_view

    heatmaps = SkeletonHeatmaps("uwiom15", 32, 1.0, 0.1, "parts", chunk=16).eval()

    class Draw(torch.nn.Module):
        def forward(self, keypoints):
            return heatmaps(keypoints)

    def keypoints(frames: int) -> torch.Tensor:
        joints = example_inputs(("joints",), 15, 1, frames, 0, np.random.default_rng(frames))["joints"]
        return front_view(torch.from_numpy(joints))[0]

    path = tmp_path / "draw.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Draw().eval(), (keypoints(40),), str(path), input_names=["k"], output_names=["maps"],
                          dynamic_axes={"k": {0: "n"}, "maps": {0: "n"}}, opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (40, 7, 70):
        k = keypoints(frames)
        with torch.no_grad():
            want = heatmaps(k).numpy()
        got = session.run(None, {"k": k.numpy()})[0]
        assert got.shape == want.shape == (frames, heatmaps.num_channels, 32, 32) and want.max() > 0.5
        np.testing.assert_allclose(got, want, atol=1e-4)
