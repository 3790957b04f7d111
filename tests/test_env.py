"""The orchestration layer's environment: Prefect offline, its state inside the workspace."""

from __future__ import annotations

import os

from flows.env import workspace_env


def test_workspace_env_creates_prefect_home_in_a_fresh_checkout(tmp_path, monkeypatch):
    for key in ("PREFECT_HOME", "PREFECT_RESULTS_LOCAL_STORAGE_PATH", "TORCHINDUCTOR_CACHE_DIR"):
        monkeypatch.delenv(key, raising=False)
    state = tmp_path / "repo" / ".prefect"  # nothing of it exists yet, as after `git clone`
    env = workspace_env(state)
    assert env["PREFECT_HOME"] == str(state / "home") == os.environ["PREFECT_HOME"]
    assert (state / "home").is_dir()  # Prefect would not create the folders above its home
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_workspace_env_keeps_what_the_user_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "mine"))
    assert workspace_env(tmp_path / ".prefect")["PREFECT_HOME"] == str(tmp_path / "mine")
    assert (tmp_path / "mine").is_dir()
