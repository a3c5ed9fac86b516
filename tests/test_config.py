"""Settings: precedence of the layers, checks, the config file and the command line."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tileserver import config
from tileserver.cli.main import build_parser, main
from tileserver.errors import SettingError


def resolve(tmp_path: Path, cli=None, env=None, file_text: str | None = None) -> config.Settings:
    conf = tmp_path / "t.conf"
    conf.write_text(file_text or "")
    base = {"cache_dir": str(tmp_path / "cache")}
    return config.resolve({**base, **(cli or {})}, environ=env or {}, config_file=conf)


def test_settings_class_follows_the_table():
    """The written-out Settings class and the SETTINGS table name the same fields, in order, with the same types
    and defaults: the table drives the CLI, the file, the environment and the docs; the class is what code types."""
    fields = dataclasses.fields(config.Settings)
    table = [f"{s.name}: {s.type.__name__}" for s in config.SETTINGS]
    assert [f"{f.name}: {f.type}" for f in fields] == table, "config.Settings must list every SETTINGS row, in order"
    assert [f.default for f in fields] == [s.default for s in config.SETTINGS]


def test_defaults(tmp_path):
    s = resolve(tmp_path)
    assert (s.host, s.port, s.workers, s.tile_size, s.quality) == ("127.0.0.1", 8009, 1, 256, 90)
    assert s.gamma == 1.0 and s.contrast == 1.0 and s.brightness == 0.0 and s.blank_color == "3a5a7a"


def test_precedence_file_env_cli(tmp_path):
    text = "[server]\nport = 9001\nworkers = 3\n[image]\nquality = 70\n"
    s = resolve(tmp_path, file_text=text)
    assert (s.port, s.workers, s.quality) == (9001, 3, 70)
    s = resolve(tmp_path, env={"TILESERVER_PORT": "9002"}, file_text=text)
    assert (s.port, s.workers) == (9002, 3)
    s = resolve(tmp_path, cli={"port": "9003"}, env={"TILESERVER_PORT": "9002"}, file_text=text)
    assert (s.port, s.workers, s.quality) == (9003, 3, 70)


@pytest.mark.parametrize("name,value,fragment", [
    ("port", "99999", "out of range"),
    ("port", "eighty", "not a valid int"),
    ("gamma", "0.1", "out of range"),
    ("gamma", "nan", "not a number"),
    ("quality", "101", "out of range"),
    ("access_log", "maybe", "not a boolean"),
    ("tile_size", "32", "out of range"),
    ("root_path", "vis", "must be a URL path"),
    ("max_requests_jitter", "5", "needs max_requests"),
])
def test_bad_values_name_the_setting(tmp_path, name, value, fragment):
    with pytest.raises(SettingError) as info:
        resolve(tmp_path, cli={name: value})
    assert name in str(info.value) and fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_data_dir_and_unwritable_cache(tmp_path):
    with pytest.raises(SettingError, match="data_dir: .* is not an existing directory"):
        resolve(tmp_path, cli={"data_dir": str(tmp_path / "nope")})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SettingError, match="cache_dir: .* is not a writable directory"):
        resolve(tmp_path, cli={"cache_dir": str(blocker / "sub")})


def test_config_file_errors(tmp_path):
    with pytest.raises(SettingError, match="unknown setting 'colour'"):
        resolve(tmp_path, file_text="[image]\ncolour = red\n")
    with pytest.raises(SettingError, match="config file"):
        resolve(tmp_path, file_text="not an ini file")


def test_save_and_show_round_trip(tmp_path, capsys):
    conf = tmp_path / "saved.conf"
    env = {"TILESERVER_CACHE_DIR": str(tmp_path / "cache")}
    os.environ.update(env)
    try:
        assert main(["-c", str(conf), "--port", "9100", "--gamma", "1.5", "--save-config"]) == 0
        text = conf.read_text()
        assert "port = 9100" in text and "gamma = 1.5" in text
        s = config.resolve({}, environ=env, config_file=conf)
        assert s.port == 9100 and s.gamma == 1.5
        capsys.readouterr()
        assert main(["-c", str(conf), "--show-config"]) == 0
        assert "port = 9100" in capsys.readouterr().out
    finally:
        os.environ.pop("TILESERVER_CACHE_DIR")


def test_every_setting_has_a_flag_help_and_env():
    help_text = build_parser().format_help()
    for s in config.SETTINGS:
        assert s.help and s.section in config.SECTIONS
        assert s.flag in help_text and s.env in help_text
        assert repr(s.default) in help_text.replace("\n", " ").replace("  ", " ") or s.name == "cache_dir"


def test_cli_exit_status_2_with_one_line(tmp_path):
    env = {**os.environ, "TILESERVER_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "tileserver", "--port", "0", "--no-browser"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "tileserver: error: setting port: '0' is out of range (1 to 65535)"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["-V"])
    assert info.value.code == 0
    from tileserver import __version__

    assert __version__ in capsys.readouterr().out
