from __future__ import annotations

import stat

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
