"""clients/govportal_cli installs with pip: valid metadata, the `govportal` script, the package alone.

The install builds in a throw-away virtualenv under the test's tmp_path (about 15 s: pip fetches setuptools
into its isolated build environment from the configured index), from a copy of the folder so that no build/
or *.egg-info is left in the work tree.
"""

import shutil
import subprocess
import sys
import tomllib
import warnings

from setuptools.config.pyprojecttoml import read_configuration

from tests.clients.support import CLIENTS

PACKAGE = CLIENTS / "govportal_cli"


def test_pyproject_is_valid_and_matches_the_package():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "[tool.setuptools] in pyproject.toml is still beta" (setuptools < 68)
        config = read_configuration(PACKAGE / "pyproject.toml")  # validated against setuptools' schema
    project = config["project"]
    assert (project["name"], project["version"], project["requires-python"]) == ("govportal-cli", "0.1.0", ">=3.9")
    assert project["scripts"] == {"govportal": "govportal_cli.cli:main"}
    assert project.get("dependencies", []) == []
    assert config["tool"]["setuptools"]["packages"] == ["govportal_cli"]
    init = (PACKAGE / "__init__.py").read_text()
    assert f'__version__ = "{project["version"]}"' in init
    assert tomllib.loads((PACKAGE / "pyproject.toml").read_text())["build-system"]["build-backend"] == (
        "setuptools.build_meta"
    )


def test_pip_installs_it_into_a_fresh_virtualenv(tmp_path):
    source = tmp_path / "govportal_cli"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", source],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr

    elsewhere = tmp_path / "elsewhere"  # not clients/: only the installed copy can be found
    elsewhere.mkdir()
    script = subprocess.run([venv / "bin" / "govportal", "--version"], cwd=elsewhere, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert (script.returncode, script.stdout.strip()) == (0, "govportal 0.1.0"), script.stderr
    module = subprocess.run([python, "-m", "govportal_cli", "--help"], cwd=elsewhere, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert module.returncode == 0 and "report-deployment" in module.stdout, module.stderr

    installed = subprocess.run(
        [python, "-c", "import govportal_cli, pathlib; print(pathlib.Path(govportal_cli.__file__).parent)"],
        cwd=elsewhere, capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()  # fmt: skip
    files = sorted(path.name for path in (tmp_path / installed).iterdir() if path.suffix == ".py")
    assert files == ["__init__.py", "__main__.py", "api.py", "cli.py"]
    assert str(venv) in installed
