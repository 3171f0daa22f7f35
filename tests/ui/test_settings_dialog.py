from __future__ import annotations

from desktop.library.settings import ExportDestination, Settings, load_settings
from desktop.ui.settings_dialog import SettingsDialog


def test_every_field_round_trips(qtbot, tmp_path):
    original = Settings(
        openai_base_url="http://127.0.0.1:1/v1",
        model_folders=["/models/a"],
        device="cpu",
        compile_denoiser="off",
        export_destinations=[ExportDestination("Spring", str(tmp_path))],
    )
    dialog = SettingsDialog(original, "sk-secret-123456", ["acme/cached"])
    qtbot.addWidget(dialog)
    assert dialog.api_key.echoMode() == dialog.api_key.EchoMode.Password
    assert dialog.result_settings() == original
    dialog.base_url.setText(" http://localhost:8000/v1 ")
    dialog.model_folders.addItem("/models/b")
    dialog.cpu_offload.setChecked(True)
    dialog.export_format.setCurrentText("jpeg")
    dialog.template.setText("{prompt}-{seed}")
    dialog.compile_denoiser.setCurrentIndex(dialog.compile_denoiser.findData("auto"))
    dialog.first_block_cache.setChecked(True)
    changed = dialog.result_settings()
    assert changed.compile_denoiser == "auto" and changed.first_block_cache
    assert changed.openai_base_url == "http://localhost:8000/v1"
    assert changed.model_folders == ["/models/a", "/models/b"]
    assert changed.cpu_offload and changed.export_format == "jpeg" and changed.export_template == "{prompt}-{seed}"
    assert changed.export_destinations == [ExportDestination("Spring", str(tmp_path))]
    assert dialog.result_api_key() == "sk-secret-123456"
    assert original.model_folders == ["/models/a"]  # the dialog edits a copy


def test_the_team_servers_token_is_a_password_field_and_comes_back_apart_from_the_settings(qtbot):
    dialog = SettingsDialog(Settings(), "", [], server_token="team-token-abcdef")
    qtbot.addWidget(dialog)
    assert dialog.server_token.echoMode() == dialog.server_token.EchoMode.Password
    dialog.server_url.setText("http://gpu:8000 ")
    dialog.server_token.setText(" team-token-2 ")
    assert dialog.result_server_token() == "team-token-2"
    assert dialog.result_settings().server_url == "http://gpu:8000"
    assert "team-token" not in repr(dialog.result_settings())


def test_a_bad_template_keeps_the_dialog_open_with_the_reason(qtbot):
    dialog = SettingsDialog(Settings(), "", [])
    qtbot.addWidget(dialog)
    dialog.template.setText("{when}")
    dialog.accept()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert "unknown field {when}" in dialog.error.text()


def test_applied_settings_are_saved_and_the_next_job_gets_a_fresh_engine(window, tmp_path):
    settings = Settings(model_folders=[str(tmp_path / "new-model")], device="cpu")
    window.apply_settings(settings)
    assert load_settings().model_folders == [str(tmp_path / "new-model")]
    assert window.bridge.runner._new_settings is not None
    models = [window.form.model.itemText(i) for i in range(window.form.model.count())]
    assert str(tmp_path / "new-model") in models
