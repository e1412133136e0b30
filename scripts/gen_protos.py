#!/usr/bin/env python3
"""Regenerate the gRPC Python code in ``backtestester/rpc/`` from ``protos/``.

    make protos                                   # the usual way (uses .venv)
    .venv/bin/python scripts/gen_protos.py         # the same
    .venv/bin/python scripts/gen_protos.py --out DIR   # write elsewhere (the drift test does)

Runs ``grpc_tools.protoc`` (the ``grpcio-tools`` package, a ``test`` extra) on every
``protos/*.proto`` with ``--python_out``, ``--pyi_out`` and ``--grpc_python_out``, then
post-processes the output deterministically so it works inside the ``backtestester.rpc``
package:

* ``import playground_pb2 as playground__pb2`` (protoc's top-level import, in the
  ``*_pb2_grpc.py`` module and in any module importing another of our protos) becomes
  ``from . import playground_pb2 as playground__pb2``;
* the module name given to the protobuf builder (``'playground_pb2'``) becomes the real one
  (``'backtestester.rpc.playground_pb2'``), so message classes report the right
  ``__module__`` and pickle (Ray ships them between processes);
* a header line names this script and the grpcio-tools version that produced the file.

Only ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` files are written; ``__init__.py`` is
hand-written. The output depends only on the ``.proto`` files and the grpcio-tools version
(which ``pyproject.toml`` pins), so ``tests/wire/test_protos.py`` regenerates into a temporary
directory and compares byte for byte with the committed files.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
OUT_DIR = ROOT / "backtestester" / "rpc"
PACKAGE = "backtestester.rpc"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
MAKE_TARGET = "make protos"


def proto_files(proto_dir: Path = PROTO_DIR) -> list[Path]:
    files = sorted(proto_dir.glob("*.proto"))
    if not files:
        raise SystemExit(f"error: no .proto files in {proto_dir}")
    return files


def tools_version() -> str:
    from grpc_tools import grpc_version

    return grpc_version.VERSION


def _run_protoc(protos: list[Path], proto_dir: Path, out: Path) -> None:
    try:
        from importlib.resources import files

        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "error: grpcio-tools is not installed (pip install -e '.[test]', or `make protos`)"
        ) from exc
    well_known = str(files("grpc_tools") / "_proto")  # google/protobuf/*.proto
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_dir}",
        f"--proto_path={well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p) for p in protos),
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"error: protoc failed with exit code {rc}")


def _fix(text: str, modules: list[str], filename: str) -> str:
    """Make one generated file package-relative; fail loudly if protoc's output format changed."""
    for mod in modules:
        # protoc: `import playground_pb2 as playground__pb2` (module-level, column 0).
        text = re.sub(rf"^import {mod} as ", f"from . import {mod} as ", text, flags=re.M)
        # The builder's module name sets each message class's __module__.
        text = text.replace(
            f"BuildTopDescriptorsAndMessages(DESCRIPTOR, '{mod}', _globals)",
            f"BuildTopDescriptorsAndMessages(DESCRIPTOR, '{PACKAGE}.{mod}', _globals)",
        )
    if re.search(rf"^\s*import ({'|'.join(map(re.escape, modules))})\b", text, flags=re.M):
        raise SystemExit(f"error: {filename}: a top-level import of a generated module is left")
    if filename.endswith("_pb2.py") and f"DESCRIPTOR, '{PACKAGE}." not in text:
        raise SystemExit(f"error: {filename}: protobuf builder call not found; update {__file__}")
    if filename.endswith("_pb2_grpc.py") and "from . import " not in text:
        raise SystemExit(f"error: {filename}: generated-module import not found; update {__file__}")
    header = (
        f"# Regenerate with `{MAKE_TARGET}` (scripts/gen_protos.py, grpcio-tools {tools_version()}); "
        "do not edit by hand.\n"
    )
    return header + text


def _is_ours(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline().startswith(f"# Regenerate with `{MAKE_TARGET}` (scripts/gen_protos.py")


def generate(out_dir: Path = OUT_DIR, proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Generate into ``out_dir``; returns the files written (sorted)."""
    protos = proto_files(proto_dir)
    modules = [p.stem + "_pb2" for p in protos]
    expected = sorted(p.stem + suffix for p in protos for suffix in GENERATED_SUFFIXES)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        _run_protoc(protos, proto_dir, Path(tmp))
        produced = sorted(p for p in Path(tmp).iterdir() if p.name.endswith(GENERATED_SUFFIXES))
        if [p.name for p in produced] != expected:
            raise SystemExit(f"error: protoc produced {[p.name for p in produced]}, expected {expected}")
        for src in produced:
            text = _fix(src.read_text(encoding="utf-8"), modules, src.name)
            dst = out_dir / src.name
            with open(dst, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            written.append(dst)
    # Files this script generated for a proto that no longer exists would linger: remove them.
    for stale in sorted(out_dir.iterdir()):
        if stale.name.endswith(GENERATED_SUFFIXES) and stale not in written and _is_ours(stale):
            stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default {OUT_DIR})")
    parser.add_argument("--quiet", action="store_true", help="do not list the files written")
    args = parser.parse_args(argv)
    for path in generate(args.out.resolve()):
        if not args.quiet:
            try:
                print(path.relative_to(ROOT))
            except ValueError:
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
