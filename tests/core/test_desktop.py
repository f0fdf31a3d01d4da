"""``latentlab install-desktop``: real files in a temporary XDG data directory, real database tools when present."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from latentlab.cli import main
from latentlab.core.desktop import SESSION_MIME, desktop_entry, exec_line, install, launcher_command, uninstall
from latentlab.core.errors import UnsafeOutput
from latentlab.core.resources import resource_path
from latentlab.core.session import CheckpointRef, FileRef, Session, save_session

ENTRY = Path("applications") / "latentlab.desktop"
ICON = Path("icons") / "hicolor" / "scalable" / "apps" / "latentlab.svg"
MIME = Path("mime") / "packages" / "latentlab.xml"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def parse_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def split_exec(value: str) -> list[str]:
    """The desktop-entry spec's reading of an Exec value: string escapes first, then double-quoted arguments
    in which a backslash escapes ``"``, backquote, ``$`` and itself."""
    value = value.replace("\\\\", "\\")
    args, cur, quoted, i, started = [], "", False, 0, False
    while i < len(value):
        c = value[i]
        if quoted and c == "\\" and value[i + 1] in '"`$\\':
            cur, i = cur + value[i + 1], i + 2
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started:
                args.append(cur)
            cur, started = "", False
        else:
            cur, started = cur + c, True
        i += 1
    if started:
        args.append(cur)
    return args


def exec_argv(value: str, files: list[str]) -> list[str]:
    """What a file manager runs for ``Exec=value`` on ``files``."""
    argv = []
    for arg in split_exec(value):
        if arg == "%F":
            argv += files
        else:
            argv.append(arg.replace("%%", "%"))
    return argv


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "xdg-data"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_install_writes_entry_icon_and_mime_types_and_uninstall_removes_exactly_them(data_home, capsys):
    # Someone else's files in the same folders stay as they are.
    (data_home / "applications").mkdir()
    (data_home / "applications" / "other.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Other\nExec=other %f\nMimeType=text/x-other;\n")
    before = tree(data_home)

    assert main(["install-desktop"]) == 0
    out = capsys.readouterr().out
    for rel in (ENTRY, ICON, MIME):
        assert (data_home / rel).is_file(), rel
        assert str(data_home / rel) in out
    entry = parse_entry(data_home / ENTRY)
    assert entry["Icon"] == "latentlab" and entry["Type"] == "Application"
    assert set(filter(None, entry["MimeType"].split(";"))) == {SESSION_MIME, "application/x-safetensors"}
    argv = exec_argv(entry["Exec"], ["/data/run 1.llab"])
    assert argv == [*launcher_command(), "gui", "/data/run 1.llab"]
    assert entry["TryExec"] == launcher_command()[0]

    assert main(["install-desktop", "--uninstall"]) == 0
    assert "removed 4 files" in capsys.readouterr().out
    after = tree(data_home)
    after.pop("applications/mimeinfo.cache", None)  # regenerated for other.desktop, when the tool exists
    assert after == before


def test_installing_twice_and_uninstalling_twice(data_home):
    install(data_home, command=["/opt/old/latentlab"])
    report = install(data_home, command=["/opt/new/latentlab"])  # a reinstall replaces its own files
    assert parse_entry(data_home / ENTRY)["TryExec"] == "/opt/new/latentlab"
    assert len(report.written) == 4
    assert len(uninstall(data_home).removed) == 4
    assert uninstall(data_home).removed == []
    assert tree(data_home) == {}


def test_a_file_changed_since_install_is_kept(data_home):
    install(data_home, command=["latentlab"])
    (data_home / ICON).write_text("<svg>my own icon</svg>")
    report = uninstall(data_home)
    assert report.kept == [data_home / ICON]
    assert (data_home / ICON).read_text() == "<svg>my own icon</svg>"
    assert not (data_home / ENTRY).exists()


def test_a_file_latentlab_did_not_write_is_not_replaced_without_force(data_home):
    (data_home / "applications").mkdir()
    (data_home / ENTRY).write_text("[Desktop Entry]\nName=mine\n")
    with pytest.raises(UnsafeOutput, match="not written by latentlab"):
        install(data_home, command=["latentlab"])
    assert (data_home / ENTRY).read_text() == "[Desktop Entry]\nName=mine\n"
    assert not (data_home / ICON).exists(), "nothing is written when one file is refused"
    assert main(["install-desktop", "--force"]) == 0
    assert parse_entry(data_home / ENTRY)["Name"] == "latentlab"


@pytest.mark.parametrize("command", [
    ["/opt/lab tools/bin/latentlab"],
    ["/home/me/$HOME/100%/lat`x`ent\\lab", "-m", "latentlab"],
    ["/usr/bin/python3", "-m", "latentlab"],
])
def test_exec_line_quotes_what_the_spec_reserves(command):
    line = exec_line(command)
    assert line.endswith(" gui %F")
    assert exec_argv(line, ["a.llab", "b.safetensors"]) == [*command, "gui", "a.llab", "b.safetensors"]


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
@pytest.mark.parametrize("command", [["/opt/lab tools/bin/latentlab"], ["/usr/bin/python3", "-m", "latentlab"]])
def test_the_entry_passes_desktop_file_validate(tmp_path, command):
    path = tmp_path / "latentlab.desktop"
    path.write_text(desktop_entry(command))
    proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("update-mime-database") is None, reason="shared-mime-info is not installed")
def test_the_mime_database_knows_sessions_by_name_and_by_content(data_home, tmp_path):
    install(data_home, command=["latentlab"])
    globs = (data_home / "mime" / "globs2").read_text()
    assert f"{SESSION_MIME}:*.llab" in globs
    assert "application/x-safetensors:*.safetensors" in globs
    # The content rule (for a session saved without its suffix) must match what save_session really writes.
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    match = ET.parse(resource_path("latentlab-mime.xml")).getroot().find(".//m:match", ns)
    start, end = (int(v) for v in match.get("offset").split(":"))
    session = Session(checkpoints=[CheckpointRef(id="m0", file=FileRef(path=str(tmp_path / "m.safetensors"),
                                                                       sha256="0" * 64))])
    head = save_session(session, tmp_path / "s.llab").read_bytes()
    assert match.get("type") == "string" and head.find(match.get("value").encode(), start, end + 64) >= 0
    assert match.get("value").encode() in (data_home / "mime" / "magic").read_bytes()
    if shutil.which("update-desktop-database"):
        cache = (data_home / "applications" / "mimeinfo.cache").read_text()
        assert f"{SESSION_MIME}=latentlab.desktop;" in cache
