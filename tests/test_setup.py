"""make run / make test set-up where it cannot install."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root")
def test_setup_without_root_names_the_missing_packages():
    result = subprocess.run(
        [shutil.which("runuser"), "-u", "nobody", "--", "bash", str(ROOT / "scripts" / "setup.sh")],
        env={"PATH": "/usr/bin:/bin", "GRIDMAP_APT_PACKAGES": "gridmap-no-such-pkg gettext"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot install them (not root, no sudo)" in result.stderr
    assert "apt-get install -y gridmap-no-such-pkg" in result.stderr
    assert "gettext" not in result.stderr.split("apt-get install")[1]
