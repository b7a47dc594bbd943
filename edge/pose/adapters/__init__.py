"""Adapters for pose models users bring as ONNX (or TensorRT) files: frame -> list[Person].

Each adapter is ``Adapter(backend, config)`` and ``adapter(frame_bgr) -> list[Person]``; the frame is an HxWx3
uint8 BGR image, people come back in the original frame's pixels, highest score first, with `layout` set from the
config (COCO-17 by default). The backend is anything with the `InferenceBackend` interface (`open_backend(path)`).
At construction the adapter checks the model's input/output names and the shapes the model declares against its
contract and raises `InputError` naming the mismatch; shapes the model leaves dynamic are checked on the first
frames instead. A model with float16 inputs gets float16 tensors; outputs are read as float32.

Coordinates follow the continuous convention of Ultralytics and MMPose: a point at x in the resized image is
x / scale in the original (pixel i covers [i, i + 1)). Keypoint scores are clipped to [0, 1].

The contracts, one module per model family: `yolo_pose.py` (Ultralytics YOLO-pose), `rtmpose.py` (MMPose RTMPose,
top-down SimCC), `rtmo.py` (MMPose RTMO, one-stage). `common.py` holds what they share (letterbox, NMS, the
input/output checks); `registry.py` names them as the command line does (`--adapter`).
"""
