"""Give the e2e's throwaway VPS the same way to the package registries as this machine.

Usage: python3 host_access.py ROOTFS

Nothing here names a host: every setting is read from this machine at run time and copied
into the root file system (before it boots):
- the extra CA certificates this machine trusts (/usr/local/share/ca-certificates), which the
  caller then installs with update-ca-certificates in the root file system;
- apt's Acquire settings that matter for reaching the mirror (validity checks, proxies);
- pip's index, extra indexes, proxy, timeout and certificate bundle (pip's own configuration
  and PIP_* variables; local file:// indexes and find-links are left out, they are this
  machine's files);
- npm's registry, proxies and certificate file.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

APT_KEYS = (
    "Acquire::Check-Valid-Until",
    "Acquire::Check-Date",
    "Acquire::http::Proxy",
    "Acquire::https::Proxy",
    "Acquire::Retries",
)
PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "proxy", "timeout", "retries", "cert")
PIP_ENV = {
    "PIP_INDEX_URL": "index-url",
    "PIP_EXTRA_INDEX_URL": "extra-index-url",
    "PIP_TRUSTED_HOST": "trusted-host",
    "PIP_PROXY": "proxy",
    "PIP_TIMEOUT": "timeout",
    "PIP_DEFAULT_TIMEOUT": "timeout",
    "PIP_RETRIES": "retries",
    "PIP_CERT": "cert",
}
NPM_KEYS = ("registry", "proxy", "https-proxy", "strict-ssl", "cafile")


def run(*argv: str) -> str:
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def copy_ca_certificates(rootfs: Path) -> None:
    source = Path("/usr/local/share/ca-certificates")
    target = rootfs / "usr/local/share/ca-certificates/e2e-host"
    target.mkdir(parents=True, exist_ok=True)
    for cert in sorted(source.rglob("*.crt")) if source.is_dir() else []:
        shutil.copyfile(cert, target / cert.name)


def apt_settings(rootfs: Path) -> None:
    lines = []
    for line in run("apt-config", "dump").splitlines():
        key = line.split(" ", 1)[0]
        if key in APT_KEYS:
            lines.append(line if line.endswith(";") else line + ";")
    path = rootfs / "etc/apt/apt.conf.d/90e2e-host-access"
    path.write_text("// Copied from the test host by tests/provision/host_access.py\n" + "\n".join(lines) + "\n")


def _copy_file_into(rootfs: Path, source: str, name: str) -> str | None:
    if not source or not Path(source).is_file():
        return None
    target = rootfs / "etc/ssl/e2e-host" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return "/" + str(target.relative_to(rootfs))


def pip_settings(rootfs: Path) -> None:
    found: dict[str, str] = {}
    for line in run(sys.executable, "-m", "pip", "config", "list").splitlines():
        match = re.match(r"^(global|install|download)\.([\w-]+)='(.*)'$", line)
        if match and match.group(2) in PIP_KEYS:
            found[match.group(2)] = match.group(3)
    for env, key in PIP_ENV.items():
        if os.environ.get(env):
            found[key] = os.environ[env]
    for key in ("index-url", "extra-index-url"):
        if key in found:
            urls = [u for u in found[key].split() if u.startswith(("http://", "https://"))]
            if urls:
                found[key] = " ".join(urls)
            else:
                del found[key]
    if "cert" in found:
        cert = _copy_file_into(rootfs, found["cert"], "pip-cert.pem")
        if cert:
            found["cert"] = cert
        else:
            del found["cert"]
    config = configparser.ConfigParser()
    config["global"] = {**found, "disable-pip-version-check": "true"}
    with open(rootfs / "etc/pip.conf", "w") as handle:
        handle.write("# Copied from the test host by tests/provision/host_access.py\n")
        config.write(handle)


def npm_settings(rootfs: Path) -> None:
    if not shutil.which("npm"):
        return
    lines = []
    for key in NPM_KEYS:
        value = run("npm", "config", "get", key).strip()
        if not value or value in ("null", "undefined"):
            continue
        if key == "cafile":
            value = _copy_file_into(rootfs, value, "npm-cafile.pem") or ""
            if not value:
                continue
        lines.append(f"{key}={value}")
    (rootfs / "etc/npmrc").write_text("\n".join(lines) + "\n")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rootfs = Path(sys.argv[1])
    copy_ca_certificates(rootfs)
    apt_settings(rootfs)
    pip_settings(rootfs)
    npm_settings(rootfs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
