"""The project's promises to a newcomer: the README's commands, CI running them, the example config."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from optsim.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_quick_start_is_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "run_simulator.py --all" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def test_example_config_loads_and_changes_what_it_says():
    config = load_config(ROOT / "config.example.toml")
    assert isinstance(config, Config)
    assert [v.name for v in config.venues] == ["CBOE", "C2", "NOM"]
    assert set(config.underlyings) == {"SPY", "AAPL"}


def test_config_refuses_unknown_keys(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nmax_contract = 5\n")
    with pytest.raises(ValueError, match="max_contract"):
        load_config(bad)


def test_flags_override_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[service]\nport = 9000\n")
    config = load_config(path, {"service": {"port": 9100, "as_of": "2025-01-02"}})
    assert config.service.port == 9100
    assert config.as_of.isoformat() == "2025-01-02"


@pytest.mark.parametrize("argv, says", [
    (["--as-of", "2025-13-45"], "service.as_of"),
    (["--config", "{bad}"], "risk.max_contract: Extra inputs are not permitted"),
    (["--config", "{missing}"], "No such file"),
])
def test_a_bad_flag_or_config_is_one_clear_message_and_exit_2(tmp_path, argv, says):
    import subprocess
    import sys
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nmax_contract = 5\n")
    argv = [a.format(bad=bad, missing=tmp_path / "nope.toml") for a in argv]
    done = subprocess.run([sys.executable, str(ROOT / "run_simulator.py"), *argv], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr


def _twin_blocks(after: str) -> tuple[str, str]:
    """The bash block and the PowerShell block that follow the README heading or bullet ``after``."""
    text = (ROOT / "README.md").read_text()
    found = re.search(re.escape(after) + r".*?```bash\n(.*?)```\s*```powershell\n(.*?)```", text, re.S)
    return found.group(1), found.group(2)


@pytest.mark.parametrize("after", ["**Silences", "**Drills**"])
def test_readme_powershell_blocks_send_what_the_bash_blocks_send(after):
    bash, powershell = _twin_blocks(after)
    bodies = lambda block: set(re.findall(r"'(\{.*?\})'", block))  # noqa: E731
    paths = lambda block: set(re.findall(r"8081(/[\w/-]+)", block))  # noqa: E731
    assert bodies(bash) == bodies(powershell) and paths(bash) == paths(powershell)
    assert bash.count("DELETE") == powershell.count("-Method Delete")


def test_readme_powershell_quick_start_stops_at_a_failed_step():
    """Windows PowerShell 5.1 has no &&: a bare ';' would run the suite after a failed install."""
    block = re.search(r"## Quick start.*?```powershell\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    for line in (line for line in block.splitlines() if line and not line.startswith("#")):
        assert line.count("if ($LASTEXITCODE -eq 0)") == 2 and "&&" not in line, line


@pytest.mark.parametrize("host, url", [("127.0.0.1", "http://127.0.0.1:8081"), ("0.0.0.0", "http://127.0.0.1:8081"),
                                       ("::1", "http://[::1]:8081"), ("::", "http://[::1]:8081"),
                                       ("localhost", "http://localhost:8081")])
def test_the_suite_reaches_the_service_at_a_url_it_can_open(host, url):
    # a wildcard bind is reached on loopback, an IPv6 address in brackets (monitor, drills, webhook links)
    assert load_config(overrides={"service": {"host": host}}).service.url == url
