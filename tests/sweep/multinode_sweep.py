"""Run by tests/sweep/test_multinode.py in its own process: a sweep on a two-node Ray cluster.

Ray's own multi-node test cluster starts a head and a worker node (1 CPU each) as separate
processes on this machine; the sweep joins it by address. The cluster is shut down by its own
handle (its node processes), never with ``ray stop``, which would end every Ray process here.
Prints one JSON line: the nodes that ran work, the sweep's counts and its nodes line.
"""
import json
import sys

from ray.cluster_utils import Cluster

from actors.sweep import run_sweep
from backtestester.data.synthetic import generate_bars
from backtestester.sweep import SweepSpec
from backtestester.sweep.report import nodes_line


def main(out_dir: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        tables = {("SYNTH", "1m"): generate_bars("SYNTH", timeframe="1m", n_bars=5_000, seed=9)}
        spec = SweepSpec(strategy="backtestester.strategy.reference:SmaCross",
                         grid={"fast": [3, 5, 8, 13], "slow": [21, 34]}, constraints=("fast < slow",))
        outcome = run_sweep(spec, out_dir, tables=tables, address=cluster.address, show_progress=False,
                            batch_size=1)
        import ray

        nodes = sorted({r["node"] for r in outcome.records})
        print(json.dumps({"nodes": nodes, "cluster_nodes": len(ray.nodes()), "ran": outcome.ran,
                          "failed": outcome.failed, "line": nodes_line(outcome.records)}))
        ray.shutdown()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
