"""Stand-in for a Backtestester client, run under pm2 by the provisioning end-to-end test.

It proves the install (backtestester and every dependency it declares import from the app's
virtualenv, not from the checkout), writes what it found to $E2E_STATUS_DIR/<name>.json for
the test to read, then stays up until pm2 stops it. Not collected by pytest.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import sys
import threading
from pathlib import Path


def _runtime_requirements() -> list[str]:
    """Names of the dependencies backtestester declares for this interpreter (markers applied)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.requirements import Requirement
    names = []
    for text in importlib.metadata.requires("backtestester") or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def main() -> int:
    name = os.environ.get("E2E_CLIENT_NAME", "e2e-client")
    status_dir = Path(os.environ["E2E_STATUS_DIR"])

    import backtestester

    module_path = Path(backtestester.__file__).resolve()
    prefix = Path(sys.prefix).resolve()
    if not module_path.is_relative_to(prefix):
        raise SystemExit(f"backtestester imported from {module_path}, outside the venv {prefix}")
    # Every runtime dependency the project declares is installed in the venv.
    versions = {req: importlib.metadata.version(req) for req in _runtime_requirements()}
    import numpy  # noqa: F401  (the compiled core dependencies load)
    import pyarrow  # noqa: F401

    status = {
        "name": name,
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "base_executable": getattr(sys, "_base_executable", sys.executable),
        "prefix": str(prefix),
        "backtestester_file": str(module_path),
        "backtestester_version": importlib.metadata.version("backtestester"),
        "dependencies": versions,
        "gateway": os.environ.get("BACKTESTESTER_GATEWAY", ""),
    }
    status_dir.mkdir(parents=True, exist_ok=True)
    tmp = status_dir / f".{name}.json.tmp"
    tmp.write_text(json.dumps(status, indent=2))
    tmp.replace(status_dir / f"{name}.json")
    print(f"{name}: up as pid {os.getpid()} with backtestester from {module_path}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    print(f"{name}: stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
