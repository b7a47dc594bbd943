"""Synthetic workplace motion: bodies posed by joint angles (`posing`), an activity grammar with loads and
labels (`generator`), and the example lifting sequence of the demo (`example_lift`)."""
