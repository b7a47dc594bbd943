"""`python -m edge` is the same as the `ergoedge` console script."""

from edge.cli import main

raise SystemExit(main())
