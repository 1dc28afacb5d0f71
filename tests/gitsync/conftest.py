import pytest

from .gitwork import Work


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """No user or system Git config leaks into the tests."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(autouse=True)
def mirror_dir(settings, tmp_path):
    """Mirrors go to the test's own directory, never to var/."""
    settings.GITSYNC_MIRROR_DIR = tmp_path / "git-mirrors"
    return settings.GITSYNC_MIRROR_DIR


@pytest.fixture
def remote(tmp_path):
    return Work(tmp_path / "remote")
