# `make demo` and `make test` do all set-up themselves (see scripts/setup.sh); both are safe to re-run.
VENV := .venv
ERGOEDGE := $(VENV)/bin/ergoedge
DEMO_OUT := build/demo
DASHBOARD_PORT ?= 8765

.PHONY: setup demo test bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(ERGOEDGE) assess examples/worksheets.json
	$(ERGOEDGE) score build/examples/lift_blazepose33.npz --load-kg 10 --body-mass 75 --out $(DEMO_OUT)
	$(ERGOEDGE) calibrate-scene build/footage/pose2sim/cam01.mp4 --seconds 0.5 --scene-dir build/scenes
	@# The run serves its live dashboard while it works (and a while after: [dashboard] linger_s in the demo
	@# config); a headless browser keeps a screenshot, then the run is told to stop lingering.
	$(ERGOEDGE) run --source build/footage/pose2sim/cam01.mp4 --config examples/demo-run.toml \
		--scene-dir build/scenes --out $(DEMO_OUT)/run --record $(DEMO_OUT)/run/annotated.mp4 \
		--events-db $(DEMO_OUT)/run/events.db --dashboard 127.0.0.1:$(DASHBOARD_PORT) & run=$$!; \
	$(VENV)/bin/python scripts/demo_dashboard.py --port $(DASHBOARD_PORT) --out $(DEMO_OUT)/dashboard.png; shot=$$?; \
	kill -INT $$run 2>/dev/null; wait $$run; ran=$$?; [ $$shot -eq 0 ] && [ $$ran -eq 0 ]
	$(ERGOEDGE) report --events-db $(DEMO_OUT)/run/events.db --since 2000-01-01T00:00 --until 2100-01-01T00:00 \
		--out $(DEMO_OUT)/report
	@echo "demo: dashboard screenshot $(DEMO_OUT)/dashboard.png; report $(DEMO_OUT)/report/report.html and $(DEMO_OUT)/report/report.pdf"

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
