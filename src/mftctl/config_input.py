"""Config input: files (TOML or JSON, small regular UTF-8 files only), `--set KEY=VALUE` overrides, and
the preset -> file -> overrides chain every command uses. Each refusal is one line naming the problem."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, deep_merge, preset_dict, validate
from .errors import ConfigError

# A config or sweep file is a few kilobytes; anything far larger is not one.
MAX_FILE_BYTES = 1 << 20


def read_text_file(path: Path, what: str) -> str:
    """The text of a small regular UTF-8 file, or a one-line ConfigError (a FIFO would hang, /dev/zero
    never ends, a binary file is not text)."""
    try:
        if not path.is_file():
            raise ConfigError(f"{what} {path} is not a regular file; give the path of a TOML file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{what} {path} is {path.stat().st_size:,} bytes; at most {MAX_FILE_BYTES:,} are read")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def parse_toml(text: str, where: str, kind: str = "TOML") -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid {kind}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where} nests tables or lists too deeply") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML or JSON file holding (part of) a config, as nested dicts."""
    text = read_text_file(path, "config file")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
        except RecursionError:
            raise ConfigError(f"config file {path} nests too deeply") from None
    else:
        data = parse_toml(text, f"config file {path}", path.suffix.lstrip(".") or "TOML")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of sections, not {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """`training.learning_rate=0.01` -> (['training', 'learning_rate'], 0.01). The key as typed: a short
    name or a leaf (`lr`, `learning_rate`) is resolved by apply_overrides (config.config_key).

    The value is read as a TOML value when it is one (numbers, booleans, quoted strings, lists) and as
    a bare string otherwise; pydantic then coerces it to the field's type.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE such as training.learning_rate=0.01, not {text!r}")
    value = value.strip()
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    except RecursionError:
        raise ConfigError(f"--set {key}: the value nests too deeply") from None
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    from .config import config_key, key_suggestion

    result = json.loads(json.dumps(raw))
    for text in overrides:
        path, value = parse_override(text)
        name = ".".join(path)
        key = config_key(name)
        if key is None and len(path) == 1 and (hint := key_suggestion(name)):
            raise ConfigError(f"unknown key {name!r} in --set {text!r}{hint}; `mftctl config show` lists the keys")
        path = key.split(".") if key is not None else path  # an unknown dotted key: the schema names it below
        node = result
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                valid = ", ".join(sorted(k for k, v in node.items() if isinstance(v, dict)))
                raise ConfigError(f"unknown section {where!r} in --set {text!r}; sections: {valid}")
            node = child
        node[path[-1]] = value
    return result


def load_config(
    preset: str | None = None, file: Path | None = None, overrides: list[str] | None = None
) -> ExperimentConfig:
    """Preset (default reference_3blob), then a file, then `--set` overrides, validated once at the end."""
    raw = preset_dict(preset or "reference_3blob")
    if file is not None:
        raw = deep_merge(raw, read_config_file(file))
    raw = apply_overrides(raw, overrides or [])
    return validate(raw)
