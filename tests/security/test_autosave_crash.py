"""Crash recovery with real processes: a killed app's autosave is offered once, a live app's never, not even to
two apps starting at the same moment; another host's run only once it is dead; hostile files in the folder
change nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from latentlab.core.session import FOREIGN_STALE_S, Session, save_session
from latentlab.core.session.autosave import Autosave
from tests.security.hostile import digests, python, wait_for_line

pytestmark = pytest.mark.slow

APP = """
import sys
from latentlab.core.session import Session
from latentlab.core.session.autosave import Autosave

folder, host, name = sys.argv[1], sys.argv[2] or None, sys.argv[3]
a = Autosave(folder or None, host=host)
a.begin()
s = Session()
s.extra = {"name": name}
a.save(s)
print("READY", a.pid, flush=True)
sys.stdin.read()  # running until the test closes stdin (or kills it)
a.end()
"""

SCANNER = """
import json, sys
from latentlab.core.session.autosave import Autosave

a = Autosave(sys.argv[1])
offers = a.begin()
print("OFFERS", json.dumps([o.pid for o in offers]), flush=True)
sys.stdin.read()  # holding what it claimed until the test lets it go
for o in offers:
    o.release()
a.end()
"""


class App:
    """A real latentlab process with an autosave; ``kill()`` ends it as a crash would."""

    def __init__(self, folder, name: str, host: str = ""):
        self.proc = python(APP, str(folder), host, name)
        self.pid = int(wait_for_line(self.proc, "READY").split()[1])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)


@pytest.fixture
def apps():
    started: list[App] = []
    yield started
    for app in started:
        app.stop()


def test_a_killed_app_is_offered_once_and_a_live_one_never(tmp_path, apps):
    folder = tmp_path / "autosave"
    live, dead = App(folder, "live"), App(folder, "dead")
    apps += [live, dead]
    dead.kill()
    live_files = digests(*folder.glob(f"*{live.pid}*"))
    offers = Autosave(folder).begin()
    assert [o.pid for o in offers] == [dead.pid]
    assert offers[0].load().extra == {"name": "dead"}
    assert Autosave(folder).begin() == []  # claimed: not offered twice while the first app decides
    offers[0].discard()
    assert digests(*folder.glob(f"*{live.pid}*")) == live_files and len(live_files) == 2


def test_two_apps_starting_at_once_never_both_claim_a_crash_nor_a_live_run(tmp_path, apps):
    folder = tmp_path / "autosave"
    live, dead = App(folder, "live"), App(folder, "dead")
    apps += [live, dead]
    dead.kill()
    scanners = [python(SCANNER, str(folder)) for _ in range(2)]  # started together
    try:
        offered = [json.loads(wait_for_line(s, "OFFERS").split(" ", 1)[1]) for s in scanners]
        assert sorted(offered, key=len) == [[], [dead.pid]]  # exactly one of them has it; nobody has the live one
    finally:
        for s in scanners:
            s.stdin.close()
            s.wait(30)
    assert [o.pid for o in Autosave(folder).begin()] == [dead.pid]  # let go of, so offered again, still once


def test_another_hosts_run_is_offered_only_once_it_has_stopped_beating(tmp_path, apps):
    folder = tmp_path / "autosave"
    alive, crashed = App(folder, "alive", host="other-host"), App(folder, "crashed", host="other-host")
    apps += [alive, crashed]
    crashed.kill()
    assert Autosave(folder).begin() == []  # its lock is free, but it beat a moment ago: it may be alive there
    old = time.time() - 2 * FOREIGN_STALE_S
    for marker in folder.glob("running-*.json"):
        os.utime(marker, (old, old))  # no beat for longer than a live app ever leaves
    offers = Autosave(folder).begin()
    assert [(o.pid, o.host) for o in offers] == [(crashed.pid, "other-host")]  # the live one still holds its lock


def test_hostile_files_in_the_autosave_folder_change_nothing(tmp_path):
    folder = tmp_path / "autosave"
    folder.mkdir()
    precious = tmp_path / "precious.llab"
    save_session(Session(), precious)
    os.mkfifo(folder / "running-fifo.json")  # opening it for reading would hang
    os.symlink(precious, folder / "running-link.json")
    (folder / "running-nested.json").write_text("[" * 200000)
    (folder / "running-garbage.json").write_bytes(os.urandom(4096))
    (folder / "running-folder.json").mkdir()
    # A dead run (its lock is free) whose autosave is a link to a file of the user's.
    (folder / "running-dead.json").write_text(json.dumps({"lock": 2, "pid": 1, "host": socket.gethostname()}))
    os.symlink(precious, folder / "session-dead.llab")
    before = digests(tmp_path)
    now = Autosave(folder)
    offers = now.begin()
    assert [o.session_path.name for o in offers] == ["session-dead.llab"]
    for o in offers:
        o.discard()  # the dead run's marker goes, and its link; what the link led to stays
    now.end()
    del before[str(folder / "running-dead.json")]
    assert digests(tmp_path) == before and not os.path.lexists(folder / "session-dead.llab")


def test_the_app_offers_a_killed_runs_session_and_leaves_a_live_one(qtbot, tmp_path, monkeypatch, apps, request):
    monkeypatch.setenv("LATENTLAB_HOME", str(tmp_path / "home"))  # before the window makes its Autosave
    live, dead = App("", "live"), App("", "dead")
    apps += [live, dead]
    dead.kill()
    window = request.getfixturevalue("window")
    recoveries = window.sessions.begin(ask=False)
    assert [r.pid for r in recoveries] == [dead.pid]
    window.sessions.restore(recoveries[0])
    assert not recoveries[0].session_path.exists()
    assert [p.name for p in (tmp_path / "home" / "data" / "autosave").glob(f"session-*-{live.pid}-*.llab")]
