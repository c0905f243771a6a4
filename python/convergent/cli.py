"""The ``convergent`` command line."""

from __future__ import annotations

import argparse
import platform
import sys

from . import __version__, _core


def _info(_: argparse.Namespace) -> int:
    print(f"convergent {__version__}")
    print(f"python     {platform.python_version()} ({platform.machine()})")
    print(f"isa        {_core.get_isa()} (available: {', '.join(_core.available_isas())})")
    print(f"threads    {_core.get_num_threads()}")
    print(f"openmp     {'yes' if _core.have_openmp() else 'no'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convergent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"convergent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, ISA, threads, OpenMP").set_defaults(func=_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
