"""Torch models from the research this product builds on, and the one the device runs (`edge_stream`).

`registry.MODELS` maps each name to its frozen config class and builder; `base` defines what every model takes
(a batch of sequences) and gives (named outputs and its own loss); `graph` builds skeleton graphs from the layouts
of `edge.skeletons`. Importing this package imports torch: only training and export code does.
"""
