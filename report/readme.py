"""The README's Results block and benchmark table, rendered from committed records.

``docs/results.json`` is the ``results.json`` of the latest full ``python -m report`` run (default
sizes, seed 0); ``docs/benchmarks.json`` holds the benchmark figures of ``docs/benchmarks.md``;
``docs/peers.json`` is the record of ``benchmarks/bench_peers.py`` (corrquant against HQQ and torchao).
Every number and every verdict word between the README's markers comes from those files:

    python -m report.readme            # rewrite README.md between the markers
    python -m report.readme --check    # exit 1 if README.md differs from what the records render

One small function per block (:mod:`report.readme_blocks`); each takes the record's fields and
returns Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .readme_blocks import benchmarks_block, bridge, classifiers, formula, header, hopfield, hopfield_vs_classifier
from .readme_peers import options_table, peers_block

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RECORD = ROOT / "docs" / "results.json"
BENCHMARKS = ROOT / "docs" / "benchmarks.json"
PEERS = ROOT / "docs" / "peers.json"
BLOCKS = ("results", "benchmarks", "peers")


def results_block(record: dict) -> str:
    res, env, timing = record["results"], record["environment"], record["timing"]
    blocks = [header(env, timing), formula(res["theory"]), hopfield(res["hopfield"]),
              classifiers(res["deepnets"], res["anchors"]), options_table(res["deepnets"]), bridge(res["bridge"]),
              hopfield_vs_classifier(res["hopfield"], res["deepnets"])]
    return "\n\n".join(b for b in blocks if b)


# -- the README between its markers -----------------------------------------------------------
def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin (rendered by python -m report.readme from docs/; do not edit) -->", f"<!-- {name}:end -->"


def render(readme: str, record: dict, bench: dict, peers: dict | None = None) -> str:
    """``readme`` with the text between each pair of markers replaced by what the records render.

    ``peers``: the bench_peers record (default: read :data:`PEERS`)."""
    if peers is None:
        peers = json.loads(PEERS.read_text())
    blocks = {"results": results_block(record), "benchmarks": benchmarks_block(bench), "peers": peers_block(peers)}
    for name in BLOCKS:
        begin, end = _markers(name)
        if readme.count(begin) != 1 or readme.count(end) != 1 or readme.index(begin) > readme.index(end):
            raise ValueError(f"README: expected one {begin!r} followed by one {end!r}")
        head, rest = readme.split(begin)
        _, tail = rest.split(end)
        readme = f"{head}{begin}\n{blocks[name]}\n{end}{tail}"
    return readme


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m report.readme", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if README.md differs from what the records render")
    p.add_argument("--record", type=Path, default=RECORD, help=f"the full run's results.json (default: {RECORD.relative_to(ROOT)})")
    p.add_argument("--benchmarks", type=Path, default=BENCHMARKS, help=f"default: {BENCHMARKS.relative_to(ROOT)}")
    p.add_argument("--peers", type=Path, default=PEERS, help=f"default: {PEERS.relative_to(ROOT)}")
    p.add_argument("--readme", type=Path, default=README)
    args = p.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = render(text, json.loads(args.record.read_text()), json.loads(args.benchmarks.read_text()),
                 json.loads(args.peers.read_text()))
    if args.check:
        if new != text:
            print(f"{args.readme} is stale: run python -m report.readme", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: {'rewritten' if new != text else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
