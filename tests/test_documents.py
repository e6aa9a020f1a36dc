"""Configuration documents are checked one way (foundation/documents.py, JSON Schema): the
error names the file, the path and the key, suggests the near miss, and never shows a
traceback. Settings (config.yaml) here; scenario files in test_scenarios.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.documents import DocumentError, check, path_text, validator
from ivr.app.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sesion_ttl: 5", "unknown setting 'sesion_ttl' (did you mean 'session_ttl'?)"),
        ("session_ttl: five", "session_ttl should be a whole number, found 'five'"),
        ("session_ttl: -1", "session_ttl should be at least 0, found -1"),
        ("123: x\nabc: y", "unknown setting '123'"),
        (
            "directory: {441234567890: {anser: busy}}",
            "directory.441234567890: unknown key 'anser' (did you mean 'answer'?)",
        ),
        ("trust_proxy: [1]", "trust_proxy should be true or false, found a list"),
        (
            "log_level: LOUD",
            "log_level must be one of DEBUG, INFO, WARNING, ERROR, debug, info, "
            "warning, error, found 'LOUD'",
        ),
        ("trust_proxy: 'yes'", "trust_proxy should be true or false, found 'yes'"),
        ("pci: 3", "pci should be a map, found 3"),
        (
            "directory: {'+441': {anser: busy}}",
            "directory.+441: unknown key 'anser' (did you mean 'answer'?)",
        ),
        ("directory: {'+441': 5}", "directory.+441: should be a map, found 5"),
        ("- a list", "expected a map of settings"),
    ],
)
def test_a_wrong_setting_is_named_with_its_file_and_path(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        Settings.load(config)
    assert str(caught.value) == f"{config}: {message}"


def test_empty_settings_keep_their_defaults(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("session_ttl:\npublic_url:\ndirectory:\n", encoding="utf-8")
    settings = Settings.load(config)
    assert settings.session_ttl == 4 * 3600 and settings.public_url is None
    assert settings.directory == {}


SCHEMA = validator(
    {
        "type": "object",
        "properties": {
            "mode": {"enum": ["fast", "safe"]},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["url"],
                    "properties": {"url": {"type": "string"}},
                    "additionalProperties": False,
                    "x-messages": {"required": "an item needs url: ({value})"},
                },
            },
        },
        "required": ["mode"],
        "additionalProperties": False,
    }
)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"mode": "quick"}, "f.yaml: mode must be fast or safe, found 'quick'"),
        ({}, "f.yaml: give mode:"),
        (
            {"mode": "fast", "items": [{"url": "x"}, {}]},
            "f.yaml: items[1]: an item needs url: ({})",
        ),
        ({"mode": "fast", "items": [{"url": 5}]}, "f.yaml: items[0]: url should be text, found 5"),
        ({"mode": "fast", "itme": []}, "f.yaml: unknown key 'itme' (did you mean 'items'?)"),
    ],
)
def test_messages_name_the_path_and_say_what_to_give(document: object, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        check(document, SCHEMA, "f.yaml")
    assert str(caught.value) == message


def test_an_unknown_key_is_said_before_the_missing_key_it_explains() -> None:
    with pytest.raises(DocumentError) as caught:
        check({"mode": "fast", "items": [{"uri": "x"}]}, SCHEMA, "f.yaml")
    assert str(caught.value) == "f.yaml: items[0]: unknown key 'uri' (did you mean 'url'?)"


def test_a_fitting_document_passes() -> None:
    check({"mode": "safe", "items": [{"url": "http://x"}]}, SCHEMA, "f.yaml")


def test_paths_read_as_written() -> None:
    assert path_text(["scenarios", 0, "expect", "path"]) == "scenarios[0].expect.path"
    assert path_text([]) == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"acepted_brands": ["visa"]},
            "pci: unknown setting 'acepted_brands' (did you mean 'accepted_brands'?)",
        ),
        ({"accepted_brands": ["vissa"]}, "pci: accepted_brands[0]: unknown brand 'vissa' (one of "),
        ({"prompts": {"intro2": "Hi"}}, "pci: prompts: unknown prompt 'intro2' (one of intro, "),
        ({"transfer_numbers": []}, "pci: transfer_numbers: give at least one number"),
        (
            {"clid_pool": ["+442079460100", "+441"]},
            "pci: clid_pool[1]: '+441' is not an E.164 number",
        ),
        ({"max_attempts": "3"}, "pci: max_attempts should be a whole number, found '3'"),
    ],
)
def test_the_bridge_settings_are_checked_the_same_way(raw: dict, message: str) -> None:
    from pci_bridge.config import BridgeConfig
    from pci_bridge.errors import PciBridgeError

    with pytest.raises(PciBridgeError) as caught:
        BridgeConfig.from_dict(raw)
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_bridge_takes_its_settings_from_code_and_files_alike() -> None:
    from pci_bridge.config import BridgeConfig

    config = BridgeConfig.from_dict(
        {
            "transfer_numbers": ("+442079460001",),
            "voice": None,
            "gateway_latency": 1,
            "currencies": ["GBP"],
        }
    )
    assert config.transfer_numbers == ("+442079460001",) and config.voice is None
    assert config.currencies == ("GBP",)
