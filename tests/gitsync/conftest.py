import pytest

from .gitwork import Work


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """No user or system Git config leaks into the tests."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def remote(tmp_path):
    return Work(tmp_path / "remote")
