"""Data sets: one sequence format (`sequence`), loaders for published data sets (`loaders/`), synthetic workplace
motion (`synth/`), training augmentations (`augment`) and data set statistics (`stats`)."""
