"""Data sets: one sequence format, loaders for published layouts, synthetic workplace motion, augmentations."""
