"""`podsift serve | bench | synth | plan`: the command line (docs/CONTRACT.md §5, §6).

The composition root, with `extender.server`: the only module that reaches
the benchmark package (`bench`), and only lazily, for `podsift bench`,
`podsift synth` and the synthetic cluster `serve` falls back to.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from extender.argtypes import listen_address, positive
from extender.model.errors import PodsiftError

# podsift calls no BLAS routine, but numpy's OpenBLAS starts a thread per core on
# import, whose start-up spin is ~0.1 s of CPU in a 1-second `plan fit` and which
# then idle in every server worker. Set before any command imports numpy; a value
# the user exported wins (a policy plugin that does use BLAS).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

SERVE_HELP = "serve the extender under gunicorn"


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    from extender.server import DEFAULT_LISTEN, ServeOptions

    p = sub.add_parser("serve", help=SERVE_HELP)
    p.add_argument(
        "--config",
        help="policy configuration (YAML or JSON): a podsift PolicyConfiguration "
        "or a kube-scheduler KubeSchedulerConfiguration",
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="the profile (schedulerName) of a KubeSchedulerConfiguration --config "
        "to serve; default: its first profile",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--snapshot", help="a Kubernetes List of Nodes and Pods (JSON or YAML)")
    src.add_argument("--kubeconfig", help="watch a live cluster with this kubeconfig")
    src.add_argument("--in-cluster", action="store_true", help="watch the cluster podsift runs in")
    p.add_argument("--listen", type=listen_address, default=DEFAULT_LISTEN, help="HOST:PORT")
    p.add_argument("--path-prefix", default="", help="serve the verbs under this path")
    p.add_argument("--threads", type=positive, default=4, help="threads of the one worker")
    p.add_argument(
        "--max-body",
        type=positive,
        default=ServeOptions.max_body,
        help="largest request body in bytes (413 above)",
    )
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    p.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    p.add_argument(
        "--tls-client-allow",
        action="append",
        metavar="IDENTITY",
        help="with --tls-client-ca: only a client certificate with this subject CN, DNS SAN "
        "or URI SAN may call the verbs and /explain (403 otherwise); repeat for several",
    )
    p.add_argument(
        "--read-timeout",
        type=positive,
        default=ServeOptions.read_timeout,
        metavar="SECONDS",
        help="a connection's TLS handshake, or a request's headers and body, must arrive "
        "within this time (then it is closed)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error", "critical"]
    )
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument(
        "--cpu-profile", metavar="FILE", help="write a cProfile of request handling here at exit"
    )
    p.add_argument(
        "--synthetic-nodes",
        type=positive,
        default=1000,
        help="size of the synthetic cluster served when no source is given",
    )


def _synth_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write a synthetic cluster List to stdout")
    p.add_argument("--nodes", type=positive, required=True, help="nodes, in five pools")
    p.add_argument("--pods", type=int, default=0, help="pending pods after the nodes")
    p.add_argument("--seed", type=int, default=1, help="same seed, same output")


def _plan_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan", help="capacity planning with the configured policies (fit, place, grow)"
    )
    verbs = p.add_subparsers(dest="plan_command", required=True)
    helps = {
        "fit": "how many more copies of each template fit, per node, and what stops the next",
        "place": "place the workload pod by pod as kube-scheduler would",
        "grow": "as place, adding nodes of the cheapest shape that fits when nothing fits",
    }
    for verb, text in helps.items():
        v = verbs.add_parser(verb, help=text)
        if verb == "fit":
            v.add_argument(
                "--pod",
                dest="workloads",
                action="append",
                required=True,
                metavar="P",
                help="a pod template: a Pod, Deployment, ReplicaSet, StatefulSet or Job "
                "(or a List of them); each on its own; repeat for several",
            )
        else:
            v.add_argument(
                "--workload",
                dest="workloads",
                action="append",
                required=True,
                metavar="W",
                help="Pods, Deployments, ReplicaSets, StatefulSets or Jobs (one object or "
                "a List), replicas as given; repeat for several, placed in order",
            )
        src = v.add_mutually_exclusive_group(required=True)
        src.add_argument(
            "--snapshot", metavar="F", help="a Kubernetes List of Nodes and Pods (JSON or YAML)"
        )
        src.add_argument(
            "--kubeconfig", metavar="F", help="list a live cluster once (nothing is changed)"
        )
        src.add_argument(
            "--in-cluster", action="store_true", help="list the cluster podsift runs in, once"
        )
        v.add_argument("--config", metavar="C", help="policy configuration, as for podsift serve")
        v.add_argument("--profile", metavar="NAME", help="KubeSchedulerConfiguration profile")
        v.add_argument("--output", choices=["table", "json"], default="table")
        if verb == "fit":
            continue
        v.add_argument(
            "--seed", type=int, help="break score ties at random from this seed (default: first)"
        )
        v.add_argument("--plots", metavar="DIR", help="write PNG plots of the plan here")
        v.add_argument(
            "--write-snapshot",
            metavar="FILE",
            help="write the cluster after the plan (placed copies bound) as a List",
        )
        if verb == "grow":
            v.add_argument(
                "--node-shape",
                action="append",
                required=True,
                metavar="S",
                help="a Node to add copies of (price: annotation podsift.io/price, default 1); "
                "repeat for several",
            )


def _plan(args: argparse.Namespace, whole_process: bool) -> int:
    from extender.plan.command import no_cyclic_gc

    # a whole-process plan holds the snapshot's objects and the state here until
    # os._exit: released on the way out of the plan, their millions of objects
    # would be freed one by one just before the exit (7 % of a fit's instructions)
    kept: list[object] | None = [] if whole_process else None
    with no_cyclic_gc():
        code = _plan_run(args, kept)
        if whole_process:
            # the plan is written: end here, without freeing those objects
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code


def _plan_run(args: argparse.Namespace, kept: list[object] | None = None) -> int:
    from extender.plan.command import PlanOptions
    from extender.plan.command import main as plan_main
    from extender.plan.source import live_items, snapshot_items

    clock = time.perf_counter()
    if args.snapshot:
        items, source = snapshot_items(args.snapshot), f"snapshot {args.snapshot}"
    else:
        from extender.server import ServeOptions, load_live_api

        api = load_live_api(ServeOptions(kubeconfig=args.kubeconfig, in_cluster=args.in_cluster))
        try:
            items, source = live_items(api), f"cluster {api.host}"
        finally:
            api.close()
    gc.freeze()  # the listed objects live as long as the plan: out of the collector's view
    if kept is not None:
        kept.append(items)
    return plan_main(
        PlanOptions(
            command=args.plan_command,
            workloads=args.workloads,
            items=items,
            source=source,
            config=args.config,
            profile=args.profile,
            seed=getattr(args, "seed", None),
            shapes=tuple(getattr(args, "node_shape", None) or ()),
            output=args.output,
            plots=getattr(args, "plots", None),
            write_snapshot=getattr(args, "write_snapshot", None),
            read_seconds=time.perf_counter() - clock,
            kept=kept,
        )
    )


def main(argv: list[str] | None = None) -> int:
    """The command line; `argv` None: the process's own, and the process is the command's."""
    whole_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from bench.cli import main as bench_main

        return bench_main(argv[1:])
    parser = argparse.ArgumentParser(prog="podsift", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    if argv[:1] == ["plan"]:
        # a plan needs neither gunicorn nor Flask (a fifth of a fit's CPU): the
        # serve parser, whose defaults come from extender.server, is only named
        sub.add_parser("serve", help=SERVE_HELP)
    else:
        _serve_parser(sub)
    sub.add_parser("bench", help="run the bundled microbenchmark (podsift bench --help)")
    _synth_parser(sub)
    _plan_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            from extender.server import ServeOptions, serve

            items = None
            if not (args.snapshot or args.kubeconfig or args.in_cluster):
                from bench.workload import generate

                items = generate(args.synthetic_nodes, 0)["items"]
            return serve(
                ServeOptions(
                    listen=args.listen,
                    config=args.config,
                    snapshot=args.snapshot,
                    kubeconfig=args.kubeconfig,
                    in_cluster=args.in_cluster,
                    path_prefix=args.path_prefix,
                    threads=args.threads,
                    max_body=args.max_body,
                    tls_cert=args.tls_cert,
                    tls_key=args.tls_key,
                    tls_client_ca=args.tls_client_ca,
                    tls_client_allow=tuple(args.tls_client_allow or ()),
                    read_timeout=args.read_timeout,
                    log_level=args.log_level,
                    log_format=args.log_format,
                    profile=args.profile,
                    cpu_profile=args.cpu_profile,
                    items=items,
                )
            )
        if args.command == "plan":
            return _plan(args, whole_process=whole_process)
        if args.command == "synth":
            import orjson

            from bench.workload import generate, namespace_items, owners_of

            if args.pods < 0:
                parser.error("--pods must be >= 0")
            doc = generate(args.nodes, args.pods, seed=args.seed)
            # the owners PodTopologySpread's default constraints read, after the pods
            doc["items"] += owners_of(doc["items"][args.nodes :])
            doc["items"] += namespace_items(doc)  # their labels, for namespaceSelector
            sys.stdout.buffer.write(orjson.dumps(doc))
            sys.stdout.buffer.write(b"\n")
            return 0
    except PodsiftError as exc:
        print(f"podsift: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
