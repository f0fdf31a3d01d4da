"""Sessions: the .llab file format (``records``), checks of the files it refers to (``files``), and autosave
with crash recovery (``autosave``). Qt-free; the UI calls these from its menu actions and a QTimer.
"""

from latentlab.core.session.autosave import (
    AUTOSAVE_DELAY_S,
    FOREIGN_STALE_S,
    HEARTBEAT_S,
    Autosave,
    Recovery,
    pid_alive,
    process_start_ticks,
)
from latentlab.core.session.files import FileStatus, check_files, relink, search_folder
from latentlab.core.session.records import (
    MAX_COMPARE,
    SESSION_FORMAT,
    SESSION_VERSION,
    SUFFIX,
    Bookmark,
    CheckpointRef,
    DirectionRef,
    FileRef,
    FlowRef,
    Layout,
    Session,
    SessionError,
    load_session,
    save_session,
)

__all__ = [
    "AUTOSAVE_DELAY_S", "FOREIGN_STALE_S", "HEARTBEAT_S", "Autosave", "Bookmark", "CheckpointRef", "DirectionRef",
    "FileRef", "FileStatus", "FlowRef", "Layout", "MAX_COMPARE", "Recovery", "SESSION_FORMAT", "SESSION_VERSION", "SUFFIX", "Session", "SessionError",
    "check_files", "load_session", "pid_alive", "process_start_ticks", "relink", "save_session", "search_folder",
]
