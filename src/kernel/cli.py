"""The ``kernel`` command.

``kernel serve MODELS_DIR [--host H] [--http-port P] [--grpc-port Q] [--settings FILE]
[--workers N] [--http-server hypercorn|uvicorn]`` serves every model below ``MODELS_DIR`` from
N processes; ``kernel plugins`` lists installed plugins, their versions and runtimes;
``kernel init NAME [--directory DIR]`` scaffolds a runtime plugin distribution in ``DIR/NAME``;
``kernel batch MODEL_DIR INPUT OUTPUT [--spark-master URL]`` scores a dataset on Spark
(``kernel.batch``); ``kernel --version``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from kernel.errors import KernelError, SettingsError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from kernel import __version__

    parser = argparse.ArgumentParser(
        prog="kernel", description="A V2 / Open Inference Protocol model server."
    )
    parser.add_argument("--version", action="version", version=f"kernel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve every model below MODELS_DIR")
    serve.add_argument("models_dir", metavar="MODELS_DIR")
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--http-port", type=int, help="REST port (default 8080; 0 turns it off)")
    serve.add_argument("--grpc-port", type=int, help="gRPC port (default 8081; 0 turns it off)")
    serve.add_argument(
        "--settings", metavar="FILE", help="a settings.json read after MODELS_DIR/settings.json"
    )
    serve.add_argument("--log-level", help="DEBUG, INFO (default), WARNING, ERROR")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing the ports (default: the cores this process may use,"
        " within a container's CPU limit; 1 serves from this process alone)",
    )
    serve.add_argument(
        "--cpu-affinity",
        choices=["auto", "on", "off"],
        help="pin each server process to a core: auto (default: when there are as many"
        " processes as cores), on (always), off",
    )
    serve.add_argument(
        "--http-server",
        choices=["hypercorn", "uvicorn"],
        help="the REST server: hypercorn (default) or uvicorn with httptools"
        " (pip install 'kernel[uvicorn]')",
    )

    commands.add_parser("plugins", help="list installed plugins, their versions and runtimes")

    batch = commands.add_parser(
        "batch", help="score a Parquet/CSV dataset or a table with a model, on Spark"
    )
    batch.add_argument("model_dir", metavar="MODEL_DIR", help="one model's folder")
    batch.add_argument("input", metavar="INPUT", help="a Parquet or CSV path, or a table name")
    batch.add_argument("output", metavar="OUTPUT", help="where to write the Parquet result")
    batch.add_argument("--spark-master", metavar="URL", help="local[N], spark://..., yarn, ...")
    batch.add_argument(
        "--input-format", default="auto", choices=["auto", "parquet", "csv", "table"]
    )
    batch.add_argument("--features", metavar="COLS", help="comma-separated feature columns")
    batch.add_argument("--outputs", metavar="NAMES", help="comma-separated model outputs")
    batch.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    batch.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")

    init = commands.add_parser(
        "init", help="scaffold a runtime plugin distribution (kernel-NAME) in ./NAME"
    )
    init.add_argument("name", metavar="NAME", help="the runtime name, e.g. 'onnx' or 'my-model'")
    init.add_argument(
        "--directory", default=".", metavar="DIR", help="where to create NAME/ (default: here)"
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from kernel.server import serve
    from kernel.settings import load_settings

    settings = load_settings(
        args.models_dir,
        settings_file=args.settings,
        environ=os.environ,
        overrides={
            "host": args.host,
            "http_port": args.http_port,
            "grpc_port": args.grpc_port,
            "log_level": args.log_level,
            "workers": args.workers,
            "http_server": args.http_server,
            "cpu_affinity": args.cpu_affinity,
        },
    )
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise SettingsError(f"log_level {settings.log_level!r} is not a logging level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(settings)


def _plugins() -> int:
    from kernel.plugins import load_plugins
    from kernel.registry import RuntimeRegistry

    logging.basicConfig(level="ERROR", format="%(levelname)s %(name)s: %(message)s")
    plugins = load_plugins(environ=os.environ)
    registry = RuntimeRegistry()
    plugins.register_runtimes(registry)
    runtimes: dict[str, list[str]] = {}
    for entry in registry:
        runtimes.setdefault(entry.plugin, []).append(entry.name)
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", "RUNTIMES")]
    for info in plugins.loaded:
        dist = info.distribution + (" (built in)" if info.builtin else "")
        rows.append((info.name, dist, info.version, ", ".join(runtimes.get(info.name, [])) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        padded = [cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)]
        print("  ".join([*padded, row[3]]))
    for failure in plugins.failed:
        where = f" ({failure.distribution} {failure.version})" if failure.distribution else ""
        print(f"failed: {failure.name}{where}: {failure.error}")
    return 0


def _init(args: argparse.Namespace) -> int:
    from kernel.scaffold import scaffold

    target = scaffold(args.name, args.directory)
    print(f"created {target}: distribution kernel-{args.name}, runtime {args.name!r}")
    print(f"next: install it next to this kernel with `pip install -e {target}[test]`,")
    print(f"then `kernel plugins` lists it and `pytest {target / 'tests'}` runs its test")
    return 0


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _batch(args: argparse.Namespace) -> int:
    from kernel.batch import BatchJob, parse_conf, run_batch

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = run_batch(
        BatchJob(
            args.model_dir,
            args.input,
            args.output,
            spark_master=args.spark_master,
            input_format=args.input_format,
            features=_names(args.features),
            outputs=_names(args.outputs),
            overwrite=args.overwrite,
            conf=parse_conf(args.conf),
        )
    )
    print(f"scored {result.output_rows} rows -> {args.output} ({', '.join(result.columns)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kernel`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "batch":
            return _batch(args)
        if args.command == "init":
            return _init(args)
        return _plugins()
    except KernelError as exc:
        print(f"kernel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
