"""``torc config``: layered precedence (files < TORC_* env < flags), show, paths, init, validate.

Each test gets its own HOME, XDG_CONFIG_HOME and working directory; /etc/torc/config.toml
cannot be written here, so the system layer is covered by ``config_paths()`` ordering and by
pointing the command at a temporary file.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from app.shared.config import config_paths
from cli.commands import config as config_command
from tests.helpers import ServerProcess, cli_run


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fresh user and local layers: the user file lives under XDG_CONFIG_HOME."""
    home, xdg, project = tmp_path / "home", tmp_path / "xdg", tmp_path / "project"
    for directory in (home, xdg, project):
        directory.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.chdir(project)
    return {"user": xdg / "torc" / "config.toml", "local": project / "torc.toml", "home": home}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def shown(*args: str) -> dict:
    return json.loads(cli_run(*args, "config", "show", "-f", "json").stdout)


def test_config_paths_order_and_locations(layers, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = config_paths()
    assert list(paths) == ["system", "user", "local"]
    assert paths["system"] == Path("/etc/torc/config.toml")
    assert paths["user"] == layers["user"]
    assert paths["local"] == layers["local"]
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert config_paths()["user"] == layers["home"] / ".config" / "torc" / "config.toml"

    listed = json.loads(cli_run("-f", "json", "config", "paths").stdout)["paths"]
    assert [(row["layer"], row["exists"]) for row in listed][1:] == [
        ("user", False),
        ("local", False),
    ]
    write(layers["local"], "[client]\n")
    table = cli_run("config", "paths").stdout
    assert str(layers["local"]) in table and "true" in table


def test_each_layer_overrides_the_one_below(layers, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = shown()["client"]
    assert (defaults["format"], defaults["run"]["poll_interval"], defaults["run"]["num_cpus"]) == (
        "table",
        5.0,
        None,
    )
    write(
        layers["user"],
        '[client]\nlog_level = "debug"\nusername = "alice"\n'
        "[client.run]\nnum_cpus = 2\npoll_interval = 1.5\n[server]\nthreads = 3\n",
    )
    user = shown()
    assert (user["client"]["log_level"], user["client"]["run"]["num_cpus"]) == ("debug", 2)
    assert user["server"]["threads"] == 3

    write(layers["local"], '[client]\nusername = "bob"\n[client.run]\nnum_cpus = 4\n')
    local = shown()["client"]
    assert (local["username"], local["run"]["num_cpus"]) == ("bob", 4)
    assert (local["log_level"], local["run"]["poll_interval"]) == ("debug", 1.5)  # from user

    monkeypatch.setenv("TORC_CLIENT__RUN__NUM_CPUS", "8")
    monkeypatch.setenv("TORC_CLIENT__USERNAME", "carol")
    monkeypatch.setenv("TORC_SERVER__PORT", "9999")
    env = shown()
    assert (env["client"]["run"]["num_cpus"], env["client"]["username"]) == (8, "carol")
    assert env["server"]["port"] == 9999 and env["server"]["threads"] == 3

    flags = shown("--username", "dave", "--log-level", "error")["client"]
    assert (flags["username"], flags["log_level"], flags["run"]["num_cpus"]) == ("dave", "error", 8)


def test_api_url_sources_rank_as_documented(layers, monkeypatch: pytest.MonkeyPatch) -> None:
    write(layers["local"], '[client]\napi_url = "http://file:1/torc-service/v1"\n')
    assert shown()["client"]["api_url"] == "http://file:1/torc-service/v1"
    monkeypatch.setenv("TORC_CLIENT__API_URL", "http://section:2/torc-service/v1")
    assert shown()["client"]["api_url"] == "http://section:2/torc-service/v1"
    monkeypatch.setenv("TORC_API_URL", "http://legacy:3/torc-service/v1")  # beats the section
    assert shown()["client"]["api_url"] == "http://legacy:3/torc-service/v1"
    flagged = shown("--url", "http://flag:4/torc-service/v1")
    assert flagged["client"]["api_url"] == "http://flag:4/torc-service/v1"


def test_layers_drive_real_commands(layers, server: ServerProcess, monkeypatch) -> None:
    """A config file's api_url and format reach ordinary commands; env and flags beat it."""
    write(layers["user"], '[client]\nformat = "json"\n')
    write(layers["local"], f'[client]\napi_url = "{server.url}"\n')
    assert json.loads(cli_run("ping").stdout) == {"status": "Server is running"}
    monkeypatch.setenv("TORC_CLIENT__FORMAT", "table")
    assert cli_run("ping").stdout.strip() == "Server is running"
    assert json.loads(cli_run("-f", "json", "ping").stdout) == {"status": "Server is running"}


def test_show_toml_dash_defaults_and_secrets(layers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORC_PASSWORD", "hunter2")
    text = cli_run("config", "show").stdout
    assert "hunter2" not in text
    toml = tomllib.loads(text)
    assert toml["dash"] == {
        "host": "127.0.0.1",
        "port": 8090,
        "api_url": "http://localhost:8080/torc-service/v1",
        "torc_bin": "torc",
        "torc_server_bin": "torc-server",
        "standalone": False,
        "server_port": 0,
        "completion_check_interval_secs": 5,
    }
    as_json = shown()
    assert as_json["client"]["password"] == "********" and as_json["dash"]["database"] is None
    assert toml["client"]["run"] == {
        k: v for k, v in as_json["client"]["run"].items() if v is not None
    }
    global_json = json.loads(
        cli_run("-f", "json", "config", "show").stdout
    )  # JSON, and a flag layer
    assert global_json["client"].pop("format") == "json"
    assert global_json["client"] == {k: v for k, v in as_json["client"].items() if k != "format"}


def test_init_writes_a_commented_file_and_refuses_to_overwrite(layers) -> None:
    before = shown()
    assert "Created configuration file" in cli_run("config", "init", "--local").stdout
    text = layers["local"].read_text()
    assert "# poll_interval = 5.0" in text and "[server.logging]" in text
    # every key commented out
    assert tomllib.loads(text)["client"] == {"run": {}, "remote": {}, "slurm": {}, "hpc": {}}
    assert "[client.hpc]\n" in text and "# profile_overrides = {}" in text
    assert "# custom_profiles = {}" in text and "# [[client.hpc.custom_profiles." in text
    assert shown() == before
    refused = cli_run("config", "init", "--local", code=1)
    assert "already exists" in refused.output and "--force" in refused.output
    layers["local"].write_text("# mine\n")
    cli_run("config", "init", "--local", "--force")
    assert layers["local"].read_text() == text

    cli_run("config", "init")  # the user file by default
    assert layers["user"].read_text() == text
    assert "choose one of" in cli_run("config", "init", "--user", "--local", code=2).output


def test_init_system_writes_the_system_path(layers, tmp_path, monkeypatch) -> None:
    system = tmp_path / "etc" / "torc" / "config.toml"
    paths = {**config_paths(), "system": system}
    monkeypatch.setattr(config_command, "config_paths", lambda: paths)
    cli_run("config", "init", "--system")
    assert system.read_text().startswith("# Torc configuration")


def test_validate_reports_each_file_and_exits_non_zero(layers, monkeypatch) -> None:
    assert "No configuration files found" in cli_run("config", "validate").stdout
    cli_run("config", "init", "--user")
    write(
        layers["local"],
        '[client]\ncolour = "red"\n[server]\nport = "high"\nadmin_users = "bob"\n'
        "[[client.hpc.custom_profiles.lab.partitions]]\nname = 1\ncpus = 2\n[extras]\n",
    )
    result = cli_run("config", "validate", code=1)
    lines = result.stdout.splitlines()
    assert f"{layers['user']}: OK" in lines
    assert f"{layers['local']}: 9 problem(s)" in lines
    for problem in (
        "client.colour: unknown key",
        'server.port: expected an integer, got "high"',
        'server.admin_users: expected an array, got "bob"',
        "client.hpc.custom_profiles.lab.partitions[0].name: expected a string, got 1",
        "client.hpc.custom_profiles.lab.partitions[0].cpus: unknown key",
        "client.hpc.custom_profiles.lab.partitions[0]: missing cpus_per_node",
        "client.hpc.custom_profiles.lab.partitions[0]: missing memory_mb",
        "client.hpc.custom_profiles.lab.partitions[0]: missing max_walltime_secs",
        "extras: unknown key",
    ):
        assert f"  {problem}" in lines
    assert result.stderr.strip() == "Error: the configuration is invalid"

    layers["local"].unlink()
    monkeypatch.setenv("TORC_SERVER__NOPE", "1")
    monkeypatch.setenv("TORC_DASH__PORT", "abc")
    report = json.loads(cli_run("-f", "json", "config", "validate", code=1).stdout)
    assert report["valid"] is False
    environment = report["sources"][-1]
    assert environment["layer"] == "environment"
    assert environment["problems"] == [
        "TORC_SERVER__NOPE: unknown setting",
        "TORC_DASH__PORT: expected int, got 'abc'",
    ]


def test_broken_toml_names_the_file(layers) -> None:
    write(layers["local"], "[client\n")
    result = cli_run("config", "validate", code=1)
    assert str(layers["local"]) in result.output and "Traceback" not in result.output


def test_bad_client_value_is_reported_by_validate_and_stops_other_commands(layers) -> None:
    write(layers["local"], '[client.run]\nnum_cpus = "x"\n')
    result = cli_run("config", "validate", code=1)
    assert str(layers["local"]) in result.stdout and "num_cpus" in result.stdout
    # Other commands refuse the broken setting with one clear line.
    refused = cli_run("workflows", "list", code=1)
    assert "num_cpus" in refused.stderr and "Traceback" not in refused.output
    # And `config init --force` can still repair the file.
    cli_run("config", "init", "--local", "--force")
    cli_run("config", "validate")


def test_validate_checks_values_not_only_types(layers, monkeypatch) -> None:
    write(
        layers["local"],
        '[client]\nformat = "xml"\nlog_level = "loud"\napi_url = "localhost:8080"\n'
        "[client.run]\npoll_interval = -1\nnum_cpus = 0\nnum_gpus = -2\nmemory_gb = 0.5\n"
        '[server]\nport = 70000\nthreads = 0\nlog_level = "torc=debug,info"\n'
        "[dash]\nport = 8090\n"
        '[[client.hpc.custom_profiles.lab.partitions]]\nname = "p"\ncpus_per_node = 0\n'
        "memory_mb = 1000\nmax_walltime_secs = 3600\n"
        '[client.hpc.custom_profiles.bare]\ndisplay_name = "Bare"\n',
    )
    result = cli_run("config", "validate", code=1)
    problems = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert problems == [
        'client.format: "xml" is not one of table, json',
        'client.log_level: "loud" is not one of error, warn, info, debug, trace',
        'client.api_url: must be an http:// or https:// URL, got "localhost:8080"',
        "client.run.poll_interval: must be greater than 0, got -1",
        "client.run.num_cpus: must be greater than 0, got 0",
        "client.run.num_gpus: must not be negative, got -2",
        "client.hpc.custom_profiles.lab.partitions[0].cpus_per_node: must be greater than 0, got 0",
        "client.hpc.custom_profiles.bare: missing partitions (a profile needs at least one)",
        "server.port: must be a port (0-65535), got 70000",
        "server.threads: must be greater than 0, got 0",
    ]
    layers["local"].unlink()
    monkeypatch.setenv("TORC_CLIENT__FORMAT", "XML")
    monkeypatch.setenv("TORC_CLIENT__RUN__POLL_INTERVAL", "0")
    monkeypatch.setenv("TORC_SERVER__LOG_LEVEL", "debug")
    report = json.loads(cli_run("config", "validate", "-f", "json", code=1).stdout)
    assert report["sources"][-1]["problems"] == [
        'TORC_CLIENT__FORMAT: "XML" is not one of table, json',
        "TORC_CLIENT__RUN__POLL_INTERVAL: must be greater than 0, got 0.0",
    ]


def test_show_gives_the_default_api_url_and_the_hpc_table(layers) -> None:
    toml = tomllib.loads(cli_run("config", "show").stdout)
    assert toml["client"]["api_url"] == "http://localhost:8080/torc-service/v1"
    assert toml["client"]["hpc"] == {"profile_overrides": {}, "custom_profiles": {}}
    write(layers["local"], '[client.hpc.profile_overrides.kestrel]\ndefault_account = "abc"\n')
    hpc = shown()["client"]["hpc"]
    assert hpc["profile_overrides"] == {"kestrel": {"default_account": "abc"}}
    assert hpc["custom_profiles"] == {}
