"""Synthetic workplace motion: bodies posed by joint angles (`posing`), labelled recordings of simulated workers
(`generator`, built from `config`, `activities`, `person`, `programs`, `timeline`, `motion`, `body`, `camera`
and `noise`), and the example lifting sequence of the demo (`example_lift`)."""
