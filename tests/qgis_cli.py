"""The real ``qgis_process`` command line in a throw-away profile (tests and demo).

The plugin is symlinked into ``build/qgis-profile`` (never the user's own
profile) and enabled there. ``qgis_process`` embeds the system Python, so the
venv's site-packages (onnxruntime) are put on its PYTHONPATH, the way a user's
``pip install onnxruntime`` into QGIS's Python would make them visible.
"""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "build" / "qgis-profile"
PLUGINS = PROFILE / "profiles" / "default" / "python" / "plugins"
QGIS_PROCESS = "qgis_process.bin"  # Debian's qgis_process wrapper passes a bad option


def install_plugin():
    """Symlink the checkout into the throw-away profile; returns the plugins folder."""
    PLUGINS.mkdir(parents=True, exist_ok=True)
    link = PLUGINS / "waterline"
    if not link.is_symlink():
        link.symlink_to(ROOT, target_is_directory=True)
    return PLUGINS


def venv_path():
    """The venv's site-packages as a PYTHONPATH value, for Pythons embedded elsewhere (qgis_process)."""
    return os.pathsep.join(p for p in site.getsitepackages() if p.startswith(sys.prefix))


def call(*args, check=True):
    """Run qgis_process.bin with ``args``; returns the CompletedProcess."""
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(PROFILE), QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = venv_path()
    proc = subprocess.run([QGIS_PROCESS, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=1800)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"qgis_process {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def enable_plugin():
    install_plugin()
    proc = call("plugins", "enable", "waterline", check=False)
    if proc.returncode != 0 and "already enabled" not in proc.stdout + proc.stderr:
        raise RuntimeError(f"could not enable the plugin:\n{proc.stdout}\n{proc.stderr}")


def run_args(name, params):
    alg = name if "/" in name or ":" in name else f"waterline:{name}"
    args = ["--json", "run", alg, "--"]
    for key, value in params.items():
        if value is None:  # left out, as processing.run treats None; "KEY=None" would name a file "None"
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            args.append(f"{key}={item}")
    return args


def run(name, params):
    """Run an algorithm (``waterline:<name>`` or a model path) and return its parsed JSON."""
    out = call(*run_args(name, params)).stdout
    return json.loads(out[out.find("{"):])
