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

# Speed, memory and recovery measurements (minutes, not part of the test suite). The 30-minute memory check:
#   $(VENV)/bin/python benchmarks/bench_run.py --seconds 1800 --memory
bench: setup
	$(VENV)/bin/python benchmarks/bench_score.py
	$(VENV)/bin/python benchmarks/bench_pose.py
	$(VENV)/bin/python benchmarks/bench_run.py --seconds 60
	$(VENV)/bin/python benchmarks/bench_synth.py
	$(VENV)/bin/python benchmarks/bench_mqtt_outage.py
	$(VENV)/bin/python benchmarks/bench_rtsp_reconnect.py

clean:
	rm -rf build .pytest_cache
