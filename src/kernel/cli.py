"""The ``kernel`` command.

``kernel serve MODELS_DIR [--host H] [--http-port P] [--grpc-port Q] [--settings FILE]``
serves every model below ``MODELS_DIR``; ``kernel plugins`` lists installed plugins, their
versions and runtimes; ``kernel init NAME [--directory DIR]`` scaffolds a runtime plugin
distribution in ``DIR/NAME``; ``kernel --version``.
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

    commands.add_parser("plugins", help="list installed plugins, their versions and runtimes")

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
        },
    )
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise SettingsError(f"log_level {settings.log_level!r} is not a logging level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(settings)
    return 0


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kernel`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
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
