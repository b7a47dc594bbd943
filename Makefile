# `make demo` and `make test` do all set-up themselves (see scripts/setup.sh); both are safe to re-run.
VENV := .venv
ERGOEDGE := $(VENV)/bin/ergoedge
DEMO_OUT := build/demo

.PHONY: setup demo test bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(ERGOEDGE) assess examples/worksheets.json
	$(ERGOEDGE) score build/examples/lift_blazepose33.npz --load-kg 10 --body-mass 75 --out $(DEMO_OUT)
	$(ERGOEDGE) calibrate-scene build/footage/pose2sim/cam01.mp4 --seconds 0.5 --scene-dir build/scenes
	$(ERGOEDGE) run --source build/footage/pose2sim/cam01.mp4 --config examples/demo-run.toml \
		--scene-dir build/scenes --out $(DEMO_OUT)/run --record $(DEMO_OUT)/run/annotated.mp4 \
		--events-db $(DEMO_OUT)/run/events.db

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	$(VENV)/bin/python benchmarks/bench_score.py
	$(VENV)/bin/python benchmarks/bench_pose.py

clean:
	rm -rf build .pytest_cache
