"""Outputs that never destroy a user's data (files only; no raster knowledge here).

- ``check_outputs``: refuse an output that is one of the run's inputs (same
  file after resolving links), or a folder output that would write the
  inputs' own names over them.
- ``atomic_output``: write under a hidden temporary name beside the
  destination and rename only on success; the replaced file's stale sidecars
  (``.aux.xml`` statistics, ``.ovr`` overviews) go with it; folders it had to
  create are removed again on failure; temporary files of earlier runs that
  were killed (their process is gone) are removed by the next run there.
- ``Staging``: several outputs of one run become visible together or not at all.
"""

import contextlib
import os
import re
import shutil
import uuid

SIDECARS = (".aux.xml", ".ovr", ".msk")
# .<name>.<pid>-<8 hex>.partial<ext>: the pid tells a later run whether the writer is still alive.
_PARTIAL = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.partial")


def same_file(a, b):
    """Whether two paths name the same file or folder (links and relative paths resolved)."""
    a, b = os.fspath(a), os.fspath(b)
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(inputs, outputs, folder_outputs=(), what="output"):
    """Raise ValueError when an output would overwrite an input.

    ``inputs``: files the run reads. ``outputs``: files it writes.
    ``folder_outputs``: folders that receive outputs named after the inputs
    (subsets keep their scene's name): such a folder must not hold an input.
    """
    inputs = [os.fspath(p) for p in inputs if p]
    for out in (os.fspath(p) for p in outputs if p):
        for src in inputs:
            if same_file(out, src):
                raise ValueError(
                    f"the {what} {out} is one of this run's inputs; choose another file name "
                    "(the input would be overwritten)")
    for folder in (os.fspath(f) for f in folder_outputs if f):
        for src in inputs:
            if same_file(os.path.dirname(os.path.abspath(src)), folder):
                raise ValueError(
                    f"the output folder {folder} holds the input {os.path.basename(src)}, and the "
                    "outputs keep the inputs' names: choose another output folder "
                    "(the inputs would be overwritten)")


def check_writable(path):
    """Raise ValueError unless ``path`` can be created (its nearest existing folder is writable)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: the folder {folder} is not writable")


def remove_sidecars(path):
    for suffix in SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.fspath(path) + suffix)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(folder):
    """Remove temporary files that killed runs left in ``folder``; returns their names."""
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            match = _PARTIAL.match(name)
            if match and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    path = os.path.join(folder, name)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                    removed.append(name)
    return removed


def make_folders(folder):
    """Create ``folder`` and missing parents; returns the ones created, deepest first."""
    created = []
    folder = os.path.abspath(os.fspath(folder))
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    for path in reversed(created):
        os.mkdir(path)
    return created


def remove_empty_folders(created):
    for path in created:
        with contextlib.suppress(OSError):
            os.rmdir(path)  # only if still empty


def partial_name(path):
    """A hidden temporary name beside ``path`` (same extension, so drivers are chosen alike)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    base, ext = os.path.splitext(os.path.basename(os.fspath(path)))
    return os.path.join(folder, f".{base}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{ext}")


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        for leftover in (path,) + tuple(path + s for s in SIDECARS):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _move_into_place(tmp, path):
    if os.path.isdir(tmp) and os.path.isdir(path):
        # A folder output into an existing folder: its new files join the folder's others.
        for name in os.listdir(tmp):
            _move_into_place(os.path.join(tmp, name), os.path.join(path, name))
        os.rmdir(tmp)
        return
    remove_sidecars(path)  # a stale .aux.xml would describe the old file
    os.replace(tmp, path)
    remove_sidecars(tmp)


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path; move it to ``path`` only if the block succeeds."""
    with Staging() as staging:
        yield staging.path(path)


class Staging:
    """Outputs of one run written under temporary names and moved into place together.

    ``path(final)`` gives the temporary name to write; leaving the ``with``
    block normally moves every output into place, an exception (or
    cancellation) removes them all and the folders created for them.
    """

    def __init__(self):
        self.pending = []  # (tmp, final)
        self.created = []

    def path(self, final, folder=False):
        final = os.fspath(final)
        parent = os.path.dirname(os.path.abspath(final))
        self.created += make_folders(parent)
        remove_stale_partials(parent)
        tmp = partial_name(final)
        if folder:
            os.mkdir(tmp)
        self.pending.append((tmp, final))
        return tmp

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            for tmp, final in self.pending:
                if os.path.exists(tmp):
                    _move_into_place(tmp, final)
        else:
            for tmp, _ in self.pending:
                _remove(tmp)
            remove_empty_folders(self.created)
        return False
