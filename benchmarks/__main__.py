"""Run every benchmark and print one table: ``python -m benchmarks [--only mlp,cnn] [--rounds N]``.

Columns: workload, glassnet and PyTorch throughput (best round), the median paired ratio glassnet /
PyTorch with its range over the rounds, the goal, and the peak memory of each framework (a fresh
process training the MLP). Under MLP inference, two references timed in the same rounds: the same
outputs as bare NumPy calls (the floor: what ``predict`` cannot go below with NumPy's GEMM), and
that floor plus the input NaN/inf check ``predict`` makes. Below the table: NumPy's float32 GEMM
rate on this machine and the share of it the glassnet MLP training step achieves. Without PyTorch, glassnet's numbers alone.
glassnet uses its optional numba kernels when numba is installed; ``GLASSNET_ACCEL=0 python -m benchmarks``
times the NumPy-only paths. ``--only gru,rnn`` adds the LSTM workload's shape with the GRU and SimpleRNN
layers (not run by default).
"""

from __future__ import annotations

import argparse
import json
import platform

from . import common, workloads


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    available = {**workloads.WORKLOADS, **workloads.EXTRA_WORKLOADS}
    parser.add_argument("--only", default=",".join(workloads.WORKLOADS),
                        help="comma-separated workloads: " + ", ".join(workloads.WORKLOADS)
                        + " (the default: all of these); also " + ", ".join(workloads.EXTRA_WORKLOADS))
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds per workload (default: per workload)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    n_threads = common.threads()
    import numpy

    print(f"machine: {platform.processor() or platform.machine()}, {n_threads} threads; python "
          f"{platform.python_version()}, numpy {numpy.__version__}", end="")
    torch = common.import_torch(n_threads)
    print(f", torch {torch.__version__}" if torch is not None else ", torch not installed")
    from glassnet import accel

    print(f"glassnet compiled kernels: {accel.status()} (GLASSNET_ACCEL=0 for NumPy only)")

    results = {}
    header = f"{'workload':<24} {'glassnet':>14} {'pytorch':>14} {'ratio':>7} {'(range)':>13} {'goal':>6}"
    print(header + "\n" + "-" * len(header))
    names = args.only.split(",")
    unknown = [name for name in names if name not in available]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    for name in names:
        label, factory, default_rounds, goal = available[name]
        runs, units, unit = factory(n_threads)
        times = common.paired_rounds(runs, args.rounds or default_rounds)
        summary = common.summarize(times, units)
        summary.update(unit=unit, goal=goal)
        results[name] = summary
        short_unit = unit.split("/")[0][:3]
        torch_rate = f"{summary['pytorch_rate']:>10,.0f} {short_unit:>3}" if "pytorch_rate" in summary \
            else f"{'-':>14}"
        print(_row(label, summary["glassnet_rate"], short_unit, torch_rate, summary.get("ratio"),
                   summary.get("ratio_range")) + (f" {goal:>5.1f}x" if goal else f" {'-':>6}"), flush=True)
        for reference, reference_label in workloads.REFERENCES.items():
            if f"{reference}_rate" in summary:
                print(_row("  " + reference_label, summary[f"{reference}_rate"], short_unit, torch_rate,
                           summary.get(f"{reference}_ratio"), summary.get(f"{reference}_ratio_range")))

    if not args.no_memory:
        memory = {framework: common.peak_memory_mb(framework) for framework in ("glassnet", "pytorch")}
        results["memory_mb"] = memory
        torch_memory = f"{memory['pytorch']:.0f} MiB" if memory["pytorch"] is not None else "-"
        print(f"{'peak memory (MLP train)':<24} {memory['glassnet']:>10.0f} MiB {torch_memory:>14}")

    peak = common.gemm_peak_gflops()
    results["gemm_peak_gflops"] = peak
    if "mlp" in results:
        achieved = results["mlp"]["glassnet_rate"] * workloads.MLP_FLOPS_PER_SAMPLE / 1e9
        results["mlp"]["gflops"] = achieved
        print(f"\nNumPy float32 GEMM peak (1024³): {peak:.0f} GFLOP/s; glassnet MLP training step: "
              f"{achieved:.0f} GFLOP/s = {100 * achieved / peak:.0f}% of peak")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return results


def _row(label: str, rate: float, short_unit: str, torch_rate: str, ratio, ratio_range) -> str:
    ratio_text = f"{ratio:.2f}x" if ratio is not None else "-"
    spread = "({:.2f}-{:.2f})".format(*ratio_range) if ratio_range is not None else ""
    return f"{label:<24} {rate:>10,.0f} {short_unit:>3} {torch_rate} {ratio_text:>7} {spread:>13}"


if __name__ == "__main__":
    main()
