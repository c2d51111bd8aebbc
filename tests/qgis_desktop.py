"""The real QGIS desktop (the ``qgis`` program) under Xvfb, in a throw-away profile (tests and tools).

``run_session(job, work)`` starts ``Xvfb`` on a free display, makes a fresh
profile under ``work`` (the plugin symlinked into it and enabled, tips and
version checks off), starts ``qgis --code tests/desktop_session.py`` with the
venv's site-packages on its PYTHONPATH (as for qgis_process), waits for the
session's JSON report and returns it. Everything has a time limit: QGIS and
Xvfb are killed (their whole process groups) in a ``finally``, whatever
happened. ``missing()`` says why the desktop cannot run here (None when it can).

The job (a dict, written to ``work/job.json`` for the session) names the inputs
and what to do; ``desktop_session.py`` says which keys it reads.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import qgis_cli

ROOT = qgis_cli.ROOT
SESSION = Path(__file__).with_name("desktop_session.py")
SCREEN = (1280, 800)


def missing():
    """Why the desktop session cannot run on this machine, or None."""
    for program, hint in (("qgis", "the QGIS desktop (apt: qgis)"), ("Xvfb", "Xvfb (apt: xvfb; make apt)")):
        if shutil.which(program) is None:
            return f"{hint} is not installed: no '{program}' on PATH"
    return None


def make_profile(root):
    """A fresh QGIS profile folder tree under ``root`` with the plugin enabled; returns ``root``."""
    profile = Path(root) / "profiles" / "default"
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "waterline"
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    ini = profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(
        "[PythonPlugins]\nwaterline=true\nprocessing=true\n\n"
        "[qgis]\ncheckVersion=false\nshowTips=false\nshowTips322=false\nwarnOldProjectVersion=false\n"
        "askToSaveProjectChanges=false\naskToSaveMemoryLayers=false\n\n"
        "[core]\nNewsFeed\\httpsfeedqgisorg\\disabled=true\n")
    return Path(root)


def start_xvfb(size=SCREEN, timeout=20):
    """Start Xvfb on a display it picks itself (-displayfd); returns (process, ':N')."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp",
         "-noreset"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(write)
    deadline = time.time() + timeout
    number = b""
    try:
        os.set_blocking(read, False)
        while time.time() < deadline and not number.endswith(b"\n"):
            if proc.poll() is not None:
                raise RuntimeError(f"Xvfb exited with {proc.returncode} before it reported a display")
            try:
                number += os.read(read, 16)
            except BlockingIOError:
                time.sleep(0.05)
    finally:
        os.close(read)
    if not number.strip():
        stop(proc)
        raise RuntimeError(f"Xvfb reported no display within {timeout} s")
    return proc, ":" + number.decode().strip()


def stop(proc, grace=3):
    """Terminate ``proc`` and its process group (started with start_new_session); kill it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_session(job, work, timeout=100):
    """Run ``desktop_session.py`` in the QGIS desktop with ``job``; returns its report (a dict).

    The report has ``done`` (the session reached its end), ``errors`` (tracebacks) and whatever
    the job asked for; ``log`` (QGIS's output, last lines) is added here. Raises when QGIS gave
    no report within ``timeout`` seconds.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    job = dict(job, out=str(work), report=str(work / "report.json"), stack_dump_s=max(timeout - 10, 5))
    (work / "job.json").write_text(json.dumps(job, indent=1))
    report_path = Path(job["report"])
    for stale in (report_path, work / "progress.txt", work / "stacks.txt", work / "windows.txt"):
        if stale.exists():
            stale.unlink()
    profiles = make_profile(work / "qgis-profiles")
    xvfb = qgis = None
    log_path = work / "qgis.log"
    try:
        xvfb, display = start_xvfb(tuple(job.get("screen", SCREEN)))
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", WATERLINE_DESKTOP_JOB=str(work / "job.json"),
                   PYTHONPATH=qgis_cli.venv_path(), XDG_RUNTIME_DIR=str(_runtime_dir(work)),
                   QGIS_CUSTOM_CONFIG_PATH=str(profiles), PYTHONDONTWRITEBYTECODE="1")
        env.pop("QGIS_PREFIX_PATH", None)
        with open(log_path, "w") as log:
            qgis = subprocess.Popen(
                ["qgis", "--nologo", "--noversioncheck", "--profiles-path", str(profiles), "--code", str(SESSION)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(work),
                start_new_session=True)
            deadline = time.time() + timeout
            while time.time() < deadline and qgis.poll() is None:
                if report_path.exists():  # written last, atomically; the session then exits
                    try:
                        qgis.wait(10)
                    except subprocess.TimeoutExpired:
                        pass
                    break
                time.sleep(0.2)
    finally:
        stop(qgis)
        stop(xvfb)
    tail = _lines(log_path)[-40:]
    if not report_path.exists():
        raise RuntimeError(
            f"the QGIS desktop gave no report within {timeout} s (exit code {qgis.returncode if qgis else None}); "
            f"steps done: {_lines(work / 'progress.txt')}; its output ended with:\n" + "\n".join(tail)
            + f"\nVisible windows: {_lines(work / 'windows.txt')}\nPython stacks at the hang:\n" + "\n".join(_lines(work / "stacks.txt")))
    report = json.loads(report_path.read_text())
    report["log"] = tail
    return report


def _lines(path):
    return Path(path).read_text(errors="replace").splitlines() if Path(path).exists() else []


def _runtime_dir(work):
    path = Path(work) / "xdg"
    path.mkdir(exist_ok=True)
    path.chmod(0o700)
    return path
