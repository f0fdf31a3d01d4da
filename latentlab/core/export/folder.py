"""Folders of PNG frames that never lose a file latentlab did not write.

A frame folder carries a manifest, ``frames.json``, naming every frame we wrote with its SHA-256. Writing is
done in a temporary folder beside the target first (nothing changes until the last frame is in). Then:

- no target yet (or an empty one): the temporary folder is renamed onto it, atomically;
- a target holding only files we wrote (checked against the manifest, byte for byte): the two folders are
  swapped, and any file that appeared meanwhile is moved back before our old frames are removed;
- a target that also holds other files (a note, an edited frame): those stay where they are, untouched; our
  new frames replace our old ones one by one (each frame old or new, never half), and the manifest is written
  last. A new frame whose name is taken by a file we did not write is refused, as is a folder with files and
  no manifest.

Only names of our own pattern (``frame_00000.png``) are ever listed in, or taken from, a manifest, so a
hostile manifest cannot point the writer at anything else.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentlab.core.errors import UnsafeOutput
from latentlab.core.export.outputs import refuse_inputs
from latentlab.core.partfiles import TAG, Part, try_lock
from latentlab.core.paths import atomic_write_bytes, disk_full, records_dir

log = logging.getLogger(__name__)

MANIFEST = "frames.json"
FORMAT = "latentlab-frames"
MAX_MANIFEST_BYTES = 64 << 20
_FRAME = re.compile(r"^frame_\d{5,}\.png$")
_LEGACY_PATTERN = re.compile(r"^frame_%0(\d{1,2})d\.png$")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, set[str] | None] | None:
    """Our frames as the folder's manifest lists them: name -> accepted SHA-256s (None: an old manifest
    without digests, trusted by name); None when there is no readable latentlab manifest.
    """
    path = folder / MANIFEST
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
            return None
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        return None
    files = info.get("files")
    if isinstance(files, dict):
        out: dict[str, set[str] | None] = {}
        for name, digest in files.items():
            digests = digest if isinstance(digest, list) else [digest]
            if _FRAME.match(str(name)) and all(isinstance(d, str) for d in digests):
                out[str(name)] = set(digests)
        return out
    # Written before digests were kept: its frames are known by the pattern and count only.
    m = _LEGACY_PATTERN.match(str(info.get("pattern", "")))
    count = info.get("frames")
    if m is None or not isinstance(count, int) or not 0 <= count <= 10_000_000:
        return {}
    digits = int(m.group(1))
    return {f"frame_{i:0{digits}d}.png": None for i in range(count)}


@dataclass
class FolderState:
    """What a target folder holds now: our files (verified) and everything else."""

    path: Path
    exists: bool
    ours: dict[str, str] = field(default_factory=dict)  # name -> its SHA-256 now
    foreign: set[str] = field(default_factory=set)


def inspect(target: Path) -> FolderState:
    """Sort a target folder's files into ours and not ours; ``UnsafeOutput`` where it must not be written."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return FolderState(target, False)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeOutput(f"{target} exists and is not a folder", "PNG frames go into a folder; choose a new name")
    names = os.listdir(target)
    manifest = read_manifest(target)
    state = FolderState(target, True)
    if manifest is None:
        if names:
            raise UnsafeOutput(f"{target} is a folder with other files in it and no latentlab frame manifest",
                               "choose a new or empty folder")
        return state
    for name in names:
        p = target / name
        if name == MANIFEST:
            state.ours[name] = ""
            continue
        accepted = manifest.get(name, set())
        try:
            regular = stat.S_ISREG(p.lstat().st_mode)
            digest = sha256_of(p) if regular and name in manifest else ""
        except OSError:
            regular, digest = False, ""
        if regular and name in manifest and (accepted is None or digest in accepted):
            state.ours[name] = digest
        else:
            state.foreign.add(name)
    return state


def check_folder_output(target: Path, inputs: Iterable[str | os.PathLike] = ()) -> FolderState:
    """Refuse a frame-folder target before anything is decoded (an input, a file, a folder of other files)."""
    refuse_inputs(target, inputs)
    return inspect(target)


def _refuse_collisions(state: FolderState, new: Iterable[str]) -> None:
    taken = sorted(set(new) & state.foreign)
    if taken:
        raise UnsafeOutput(f"{state.path}: {taken[0]} is not a frame latentlab wrote (it was added or changed "
                           "since); it is left alone and nothing was exported there", "choose a new folder")


class FrameFolder:
    """Write frames into a temporary folder with ``add``; ``commit`` brings them into ``target`` (see above)."""

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        if self.target.is_symlink() and self.target.is_dir():
            self.target = self.target.resolve()  # write into the folder the link leads to, keep the link
        inspect(self.target)
        try:
            self.part = Part(self.target, records_dir(), folder=True)
        except OSError as exc:
            raise disk_full(exc, self.target) or exc from None
        self.files: dict[str, str] = {}

    def add(self, name: str, data: bytes) -> None:
        assert _FRAME.match(name), name
        with open(self.part.path / name, "wb") as fh:
            fh.write(data)
        self.files[name] = hashlib.sha256(data).hexdigest()

    def commit(self, info: dict[str, Any]) -> None:
        """Write the manifest and bring the new frames into the target; the temporary folder is gone after."""
        try:
            manifest = dict(info, format=FORMAT, files=dict(sorted(self.files.items())))
            (self.part.path / MANIFEST).write_text(json.dumps(manifest, indent=2))
            os.fsync(self.part.fd)
            state = inspect(self.target)
            _refuse_collisions(state, self.files)
            if not state.exists or not os.listdir(self.target):
                os.chmod(self.part.path, 0o777 & ~_umask())
                self.part.commit()
            elif not state.foreign:
                self._swap(state)
            else:
                self._merge(state, manifest)
        except BaseException as exc:
            if self.part.fd >= 0:
                self.part.discard()
            full = disk_full(exc, self.target)
            if full is not None and full is not exc:
                raise full from exc
            if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise UnsafeOutput(f"{self.target}: files appeared in it during the export; nothing was replaced",
                                   "export again, or choose a new folder") from exc
            raise

    def discard(self) -> None:
        if self.part.fd >= 0:
            self.part.discard()

    def _swap(self, state: FolderState) -> None:
        aside = self.target.parent / f".{self.target.name}.{TAG}{secrets.token_hex(4)}.part"
        os.chmod(self.part.path, os.stat(self.target).st_mode & 0o7777)
        os.replace(self.target, aside)
        try:
            os.replace(self.part.path, self.target)
        except BaseException:
            os.replace(aside, self.target)
            raise
        self.part._close()
        fd = os.open(aside, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            try_lock(fd)  # a start-up cleaner leaves a held folder alone
            self._keep_latecomers(aside, state)
        finally:
            os.close(fd)

    def _keep_latecomers(self, old: Path, state: FolderState) -> None:
        """Files that reached the old folder after it was checked go back into the target; ours are removed."""
        for name in os.listdir(old):
            p = old / name
            ours = name == MANIFEST or (name in state.ours and p.is_file() and not p.is_symlink()
                                        and sha256_of(p) == state.ours[name])
            if ours:
                p.unlink()
            elif not os.path.lexists(self.target / name):
                os.rename(p, self.target / name)
            else:
                log.warning("%s: kept %s in %s (a new frame took its name)", self.target, name, old)
        try:
            old.rmdir()
        except OSError:
            log.warning("%s: files that appeared during the export are kept in %s", self.target, old)

    def _merge(self, state: FolderState, manifest: dict[str, Any]) -> None:
        """Replace our frames one by one beside the user's files; the manifest covers both states meanwhile."""
        during = {n: sorted({d for d in (state.ours.get(n), self.files.get(n)) if d}) for n in
                  set(state.ours) | set(self.files) if n != MANIFEST}
        atomic_write_bytes(self.target / MANIFEST, json.dumps(dict(manifest, files=during), indent=2).encode())
        for name in sorted(self.files):
            os.replace(self.part.path / name, self.target / name)
        for name, digest in state.ours.items():
            p = self.target / name
            if name == MANIFEST or name in self.files:
                continue
            if p.is_file() and not p.is_symlink() and sha256_of(p) == digest:
                p.unlink()
        atomic_write_bytes(self.target / MANIFEST, json.dumps(manifest, indent=2).encode())
        self.part.discard()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
