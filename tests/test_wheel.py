"""An installed wheel renders every kind of mail: templates, catalogs and web files are package data.

The wheel is built from the checkout and installed into a fresh virtual environment outside it; the hub's
dependencies come from the test environment (a path, not its packages' start-up hooks, so the checkout's
editable install stays out of it). Every kind of mail is then composed there in German and English.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from hub.compose.render import KINDS

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
from pathlib import Path

import hub
from hub import config as config_module
from hub.compose.render import KINDS, compose
from test_templates import CONTEXTS

assert Path(hub.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), hub.__file__
config = config_module.load(Path("hub.toml"))
for kind in KINDS:
    for locale in ("de", "en"):
        mail = compose(kind, CONTEXTS[kind], locale, config)
        assert mail.subject and mail.text and "<html" in mail.html, (kind, locale)
web = Path(hub.__file__).parent / "web"
assert (web / "templates" / "base.html").is_file() and (web / "static" / "hub.css").is_file()
assert list((Path(hub.__file__).parent / "locale" / "en" / "LC_MESSAGES").glob("*.mo"))
print("rendered", len(KINDS) * 2)
"""


def test_a_wheel_installed_elsewhere_renders_every_kind_of_mail(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("buendnis_hub-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "hub-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "hub.toml").write_text((ROOT / "config" / "hub.toml").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run([str(python), "-c", SCRIPT], cwd=work, capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(ROOT / "tests"), "PATH": "/usr/bin:/bin",
                                 "HUB_DATA_DIR": str(work / "var")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rendered {len(KINDS) * 2}"  # every kind, in both languages
