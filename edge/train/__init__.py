"""The training stage (torch): `ergoedge train` and `ergoedge evaluate` over every model of edge/models.

`config` (the run's frozen configs, one TOML file), `data` (data sets by name, coarse class groups, splits, the
DataSpec), `normalise` (what every input goes through, numpy), `batches` (items, windows, the padded batch dict),
`loop` (the training loop), `distributed` (torchrun data parallelism), `checkpoint` (files that rebuild their
model), `evaluate` (whole-sequence predictions and every metric of a task), `metrics` (the papers' metrics),
`progress` and `curves` (what a run shows), `cli` (the two subcommands). Importing this package imports nothing.
"""
