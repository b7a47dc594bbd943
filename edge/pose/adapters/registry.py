"""The one list of pose adapters, by the names the command line and the run config use (`--adapter`, pose.adapter).

`edge.pose.estimator.open_estimator` builds a user model's adapter from here, and the command line offers these
names, so that a new adapter is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.inference.base import InferenceBackend
from edge.pose.adapters.rtmo import RTMOAdapter
from edge.pose.adapters.rtmpose import RTMPoseAdapter
from edge.pose.adapters.yolo_pose import YoloPoseAdapter


@dataclass(frozen=True)
class AdapterChoice:
    """One way to read a user model: the adapter class, and whether the estimator's max_people reaches its config."""

    adapter: type
    takes_max_people: bool

    def build(self, backend: InferenceBackend, max_people: int):
        """The adapter on `backend` with its default config (plus max_people where it takes it)."""
        config_type = self.adapter.config_type
        config = config_type(max_people=max_people) if self.takes_max_people else config_type()
        return self.adapter(backend, config)


ADAPTERS: dict[str, AdapterChoice] = {
    "yolo-pose": AdapterChoice(YoloPoseAdapter, takes_max_people=True),
    # RTMPose's max_people caps a detector's boxes; the estimator gives it none, so it reads the whole frame once.
    "rtmpose": AdapterChoice(RTMPoseAdapter, takes_max_people=False),
    "rtmo": AdapterChoice(RTMOAdapter, takes_max_people=True),
}
