from __future__ import annotations

import json
import stat

import pytest

from desktop.library.key_store import key_file, load_api_key, save_api_key
from desktop.library.settings import ExportDestination, Settings, load_settings, save_settings, settings_path


def test_settings_round_trip_through_the_config_folder(tmp_path):
    settings = Settings(
        openai_base_url="http://127.0.0.1:8000/v1",
        model_folders=["/models/sd"],
        device="cpu",
        cpu_offload=True,
        export_destinations=[ExportDestination("Spring", str(tmp_path))],
        export_template="{prompt}",
        export_format="webp",
        last_form={"prompt": "x"},
    )
    settings.remember_prompt("first")
    settings.remember_prompt("second")
    settings.remember_prompt("first")
    save_settings(settings)
    loaded = load_settings()
    assert loaded == settings
    assert loaded.recent_prompts == ["first", "second"]
    assert settings_path().is_relative_to(tmp_path / "config")


def test_a_damaged_settings_file_falls_back_to_defaults():
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text("{not json")
    assert load_settings() == Settings()


def test_without_a_keyring_the_key_goes_to_a_file_only_the_user_can_read():
    where = save_api_key("sk-private-key-123456")
    assert "readable only by you" in where
    assert stat.S_IMODE(key_file().stat().st_mode) == 0o600
    assert load_api_key() == "sk-private-key-123456"
    save_settings(Settings())
    assert "sk-private" not in settings_path().read_text()
    save_api_key("")
    assert not key_file().exists() and load_api_key() == ""


def test_the_team_servers_token_is_kept_apart_from_the_openai_key_and_the_settings_file():
    from desktop.library.key_store import SERVER_TOKEN_ACCOUNT, load_server_token, save_server_token

    save_api_key("sk-private-key-123456")
    assert "readable only by you" in save_server_token("team-token-abcdef")
    assert stat.S_IMODE(key_file(SERVER_TOKEN_ACCOUNT).stat().st_mode) == 0o600
    assert (load_server_token(), load_api_key()) == ("team-token-abcdef", "sk-private-key-123456")
    save_settings(Settings(server_url="http://gpu:8000"))
    assert "team-token" not in settings_path().read_text()
    save_server_token("")
    assert load_server_token() == "" and load_api_key() == "sk-private-key-123456"


def write_settings(data) -> None:
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(data if isinstance(data, str) else json.dumps(data))


def test_a_field_of_the_wrong_type_falls_back_to_its_default_alone():
    write_settings(
        {
            "recent_prompts": 5,
            "model_folders": "/models/sd",
            "openai_timeout_s": "fast",
            "cpu_offload": "yes",
            "device": ["cpu"],
            "export_destinations": [{"name": "ok", "folder": "/x"}, {"name": 1}, "junk"],
            "last_form": {"prompt": "kept", "steps": 30, "nested": {"a": {"b": 1}}, "extend": [0, 8, 0, 8]},
            "export_template": "{prompt}",
            "unknown_field": 1,
        }
    )
    loaded = load_settings()
    defaults = Settings()
    assert loaded.recent_prompts == [] and loaded.model_folders == []
    assert loaded.openai_timeout_s == defaults.openai_timeout_s and loaded.cpu_offload is False
    assert loaded.device == defaults.device
    assert loaded.export_destinations == [ExportDestination("ok", "/x")]
    assert loaded.last_form == {"prompt": "kept", "steps": 30, "extend": [0, 8, 0, 8]}
    assert loaded.export_template == "{prompt}"


def test_lists_keep_only_their_good_items_and_numbers_stay_numbers():
    write_settings({"recent_prompts": ["a", 5, None, "b"], "openai_timeout_s": 60, "model_folders": ["/m", ["x"]]})
    loaded = load_settings()
    assert loaded.recent_prompts == ["a", "b"] and loaded.model_folders == ["/m"]
    assert loaded.openai_timeout_s == 60.0 and isinstance(loaded.openai_timeout_s, float)
    write_settings({"openai_timeout_s": -5, "cpu_offload": 1})
    assert load_settings() == Settings()


@pytest.mark.parametrize(
    "text",
    ["[" * 100000 + "]" * 100000, '{"last_form": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}", "[]", "5", "nul"],
)
def test_a_hostile_settings_file_never_stops_the_app(text):
    write_settings(text)
    assert load_settings() == Settings()


def test_a_huge_settings_file_is_not_read():
    write_settings({"recent_prompts": ["x" * 1000] * 2000})
    assert load_settings() == Settings()


def test_settings_are_readable_only_by_their_owner():
    save_settings(Settings(openai_base_url="http://user:secret@host/v1"))
    assert stat.S_IMODE(settings_path().stat().st_mode) == 0o600
