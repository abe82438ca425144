"""Several processes on one machine (one per GPU, or CPU processes): `relaunch` reruns a stage's own command
under torchrun when its params ask for more than one process, so nobody edits dvc.yaml; `DataParallel` then
gives each process every N-th row, gathers the results back into input order, and lets only the main process
write. With one process both are no-ops."""
from __future__ import annotations

import os
import subprocess
import sys


def relaunch(processes: int) -> None:
    """With `processes` > 1, outside torchrun: run this same `python -m` command under torchrun with that many
    processes and exit with its status (torchrun's own report follows a failing process's error line)."""
    if processes <= 1 or "WORLD_SIZE" in os.environ:
        return
    module = sys.modules["__main__"].__spec__.name
    sys.exit(subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={processes}", "-m", module, *sys.argv[1:]]))


class DataParallel:
    def __init__(self):
        self.world, self.rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo")  # what is exchanged is Python objects (predictions): gloo suffices

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def map(self, fn, records: list) -> list:
        if self.world == 1:
            return fn(records)
        import torch.distributed as dist

        parts = [None] * self.world
        dist.all_gather_object(parts, fn(records[self.rank :: self.world]))
        out = [None] * len(records)
        for rank, part in enumerate(parts):
            out[rank :: self.world] = part
        return out
