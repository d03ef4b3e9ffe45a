"""The main job: ``python -m report [--quick] [--out DIR] [--seed S] [--stages a,b]``.

Reproduces the whole study on this machine and writes ``report.md``, PNG figures
and a self-contained ``report.html`` into the output folder, plus
``results.json`` with every number the report shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .pipeline import SEED_MAX, STAGES, check_out_dir, run_report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m report",
        description="Reproduce the corrquant study: correlation formula, Hopfield retrieval and capacity, "
        "post-training quantization of classifiers, the Hopfield-to-classifier bridge, and a comparison "
        "with the published anchors. Writes report.md, report.html, results.json and PNG figures.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes (about a minute); used by the test suite")
    p.add_argument("--out", type=Path, default=Path("out/report"), help="output folder (default: out/report)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated stages to run, from {','.join(STAGES)} (default: all)")
    args = p.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",")]
    bad = [s for s in stages if s not in STAGES]  # "" too: "--stages ," or "a,,b" is a typo, not "run everything"
    if bad:
        p.exit(2, f"{p.prog}: error: --stages {args.stages!r}: unknown or empty stage name(s) {bad}; "
                  f"give a comma-separated subset of {','.join(STAGES)}\n")
    if not 0 <= args.seed <= SEED_MAX:
        p.exit(2, f"{p.prog}: error: --seed {args.seed}: must be an integer in 0..{SEED_MAX}\n")
    try:
        check_out_dir(args.out)  # before the first stage runs: a file, a folder that cannot be created or written
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: --{e}\n")
    try:
        md, page = run_report(args.out, quick=args.quick, seed=args.seed, stages=stages)
    except KeyboardInterrupt:
        print("\ninterrupted: the report was not written", file=sys.stderr)
        return 130
    print(f"report written: {md}  and  {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
