"""The machine a run uses: devices and distribution strategy, precision, XLA, multi-worker set-up, seeds."""
