"""A stage's command line and exit status: a PipelineError is one line on stderr and exit 2; Ctrl-C is one line
saying what was kept, and exit 130."""
from __future__ import annotations

import argparse
import sys

from stages.lib.errors import PipelineError


def stage_args(*required: str, **extra: dict) -> argparse.Namespace:
    """Each name in `required` is a required `--name` string; `extra` maps further flags to argparse kwargs."""
    ap = argparse.ArgumentParser()
    for name in required:
        ap.add_argument(f"--{name}", required=True)
    for name, kwargs in extra.items():
        ap.add_argument(f"--{name}", **kwargs)
    return ap.parse_args()


def run(main) -> None:
    try:
        main()
    except PipelineError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: no output was written; what was paid for is kept (training checkpoints, answered "
              "requests), and the same command resumes from it", file=sys.stderr)
        sys.exit(130)
