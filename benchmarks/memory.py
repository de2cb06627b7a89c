"""Peak resident memory of a process that trains the MLP workload with one framework.

    python -m benchmarks.memory glassnet|pytorch [mlp]

Prints the peak resident set size in MiB (``VmHWM`` of /proc/self/status; ``ru_maxrss`` is not used
because Linux carries it over from the parent process across exec): interpreter, framework, the data
and one training epoch. Run in a fresh process per framework so neither counts the other's memory.
"""

from __future__ import annotations

import resource
import sys


def main(framework: str, workload: str = "mlp") -> float:
    from .common import threads
    from . import workloads

    if workload != "mlp":
        raise SystemExit(f"unknown workload {workload!r}")
    n_threads = threads()
    x, y = workloads._data((workloads.MLP_SIZES[0],), workloads.MLP_SIZES[-1], 20_000)
    if framework == "glassnet":
        model = workloads.mlp_glassnet_model()
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    elif framework == "pytorch":
        torch = workloads.import_torch(n_threads)
        if torch is None:
            raise ImportError("torch is not installed")
        net = workloads.mlp_torch_model(torch)
        epoch = workloads._torch_training_epoch(torch, net, x, y, 128, torch.nn.CrossEntropyLoss(),
                                                torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7))
        epoch()
    else:
        raise SystemExit(f"unknown framework {framework!r}")
    peak = peak_rss_mb()
    print(f"{peak:.1f}")
    return peak


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main(*sys.argv[1:])
