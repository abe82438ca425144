"""Trainer callbacks every fine-tuning recipe adds: the training clock across interruptions, a log at the last
step, and the DVCLive curves."""
from __future__ import annotations

import json
import time
from pathlib import Path

from transformers import TrainerCallback


class LogLastStep(TrainerCallback):
    """A log at the last step, whatever `logging_steps` is: Trainer gathers the loss of the steps not yet logged
    across processes only when it logs, so without it `train_loss` would hold rank 0's share of that tail."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_log = True


class TrainingClock(TrainerCallback):
    """Training seconds across interruptions: each checkpoint records the seconds spent up to it, and a resumed
    run starts its clock there, so the up-front cost of an interrupted-and-resumed run is its whole cost."""
    FILE = "training_seconds.json"

    def __init__(self):
        self.before, self.start, self.first_step = 0.0, time.perf_counter(), 0
        self.setup = 0.0  # work this run did for training before Trainer's own start (the frozen layers' cache)

    def total(self) -> float:
        return self.before + self.setup + time.perf_counter() - self.start

    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.first_step = time.perf_counter(), state.global_step
        if state.global_step:  # resumed: the checkpoint it resumed from says what came before
            done = Path(args.output_dir, f"checkpoint-{state.global_step}", self.FILE)
            self.before = json.loads(done.read_text())["seconds"] if done.exists() else 0.0

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            path = Path(args.output_dir, f"checkpoint-{state.global_step}", self.FILE)
            if path.parent.exists():
                path.write_text(json.dumps({"seconds": self.total()}))


def live_callback(live_dir: str):
    """Training curves under `live_dir` through transformers' own DVCLive integration (no dvc.yaml, no exp)."""
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    return DVCLiveCallback(live=Live(live_dir, report=None, save_dvc_exp=False, dvcyaml=None))
