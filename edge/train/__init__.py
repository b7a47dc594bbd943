"""The training stage: data, loop, metrics, checkpoints, evaluation."""
