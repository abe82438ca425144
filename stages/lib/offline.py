"""No stage reaches for the network on its own. Two libraries would, through the `kernels` package (installed with
transformers 5): transformers loads every model with hub kernels on unless `USE_HUB_KERNELS` says no, and
bitsandbytes (imported by peft, trl and sentence-transformers whether or not 4-bit is on) tries, at import, to
download a CPU kernel from the Hugging Face kernel hub (`kernels-community/...`) on CPUs with AVX512-BF16, and logs
a warning when that fails. This project uses no hub kernel: the libraries' own code runs instead, 4-bit included
(docs/methods.md, "QLoRA"). A user who sets USE_HUB_KERNELS=YES gets the libraries' default behaviour back."""
from __future__ import annotations

import logging
import os
import sys

OFF = ("0", "no", "false", "off")


def no_kernel_hub() -> None:
    """Turn hub kernels off for transformers (its own switch), hide the `kernels` package from bitsandbytes (so it
    tries no download) and silence its note that it could not. Call before anything imports bitsandbytes, peft,
    trl or sentence-transformers."""
    os.environ.setdefault("USE_HUB_KERNELS", "NO")
    if os.environ["USE_HUB_KERNELS"].strip().lower() in OFF:
        sys.modules.setdefault("kernels", None)  # `import kernels` raises ImportError; find_spec says not installed
        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
