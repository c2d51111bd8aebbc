"""Load a Waterline ONNX model: validate its contract, pick execution providers.

The model describes itself (``contract.py``); nothing here is model specific.
Only onnxruntime is needed at run time: the metadata is read from the
session (``custom_metadata_map``), not with the ``onnx`` package.
"""

import logging
from pathlib import Path

import numpy as np

from .contract import ContractError, parse_metadata

LOG = logging.getLogger("waterline.engine")
DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # depends on the installation
        # An ImportError, not a ValueError: a missing package must never read as "invalid model".
        raise ImportError(
            "onnxruntime is not installed in QGIS's Python: install it with "
            "'pip install onnxruntime' (or 'onnxruntime-gpu' for CUDA)"
        ) from exc
    return onnxruntime


def cuda_available():
    """True when the installed onnxruntime can use CUDA (onnxruntime-gpu)."""
    return CUDA in _ort().get_available_providers()


def _providers(device):
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cpu":
        return [CPU]
    if device == "cuda" and not cuda_available():
        raise ValueError(
            "device 'cuda' was requested but onnxruntime has no CUDA execution provider: "
            "install onnxruntime-gpu (pip uninstall onnxruntime; pip install onnxruntime-gpu) "
            "with a matching CUDA/cuDNN, or choose device 'cpu' or 'auto'"
        )
    if device == "cuda" or (device == "auto" and cuda_available()):
        return [CUDA, CPU]
    return [CPU]


def _static(dim):
    return dim if isinstance(dim, int) and dim > 0 else None


class Model:
    """An onnxruntime session plus the model's validated contract metadata."""

    def __init__(self, path, session, meta):
        self.path = str(path)
        self.session = session
        self.meta = meta
        self.channels = list(meta["channels"])
        self.outputs = [o["name"] for o in meta["outputs"]]
        self.tile_size = meta["tile_size"]
        self.overlap = meta["overlap"]
        self.providers_used = list(session.get_providers())
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    @property
    def device(self):
        return "cuda" if CUDA in self.providers_used else "cpu"

    def predict(self, batch):
        """Run a float32 (N, C, H, W) batch; return (N, K, H, W) probabilities."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1] != len(self.channels):
            raise ValueError(
                f"the model expects batches of shape (N, {len(self.channels)}, H, W), "
                f"got {batch.shape}"
            )
        out = self.session.run([self.output_name], {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)

    def __repr__(self):
        return (f"Model({Path(self.path).name}, task={self.meta['task']}, "
                f"channels={self.channels}, providers={self.providers_used})")


def load_model(path, device="auto", threads=None, log=None):
    """Open ``path``, validate its Waterline metadata, return a ``Model``.

    Raises ContractError (a ValueError) naming what is wrong with the model,
    ValueError for a missing file, an unreadable ONNX file or an unavailable
    device. ``threads``: onnxruntime intra-op threads (None or 0 = its default).
    """
    ort = _ort()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"the model file {path} does not exist")
    providers = _providers(device)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings from CUDA fallbacks would flood QGIS's log
    # Idle onnxruntime threads would otherwise spin and take CPU from the
    # engine's reader/writer threads (and from QGIS).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"{path.name} is not a readable ONNX model: {exc}") from exc
    props = dict(session.get_modelmeta().custom_metadata_map)
    try:
        meta = parse_metadata(props)
    except ContractError as exc:
        raise ContractError(f"{path.name}: {exc}") from exc
    _check_tensors(path.name, session, meta)
    model = Model(path, session, meta)
    if device == "cuda" and CUDA not in model.providers_used:
        raise ValueError(
            "onnxruntime lists CUDA but could not start it for this model "
            "(check the CUDA and cuDNN libraries that onnxruntime-gpu needs)"
        )
    message = f"Model {path.name}: onnxruntime providers {', '.join(model.providers_used)}"
    LOG.info(message)
    if log is not None:
        log(message)
    return model


def _check_tensors(name, session, meta):
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ContractError(f"{name}: the model must have one input tensor, it has {len(inputs)}")
    shape = inputs[0].shape
    if len(shape) != 4:
        raise ContractError(f"{name}: the input tensor must be (N, C, H, W), it is {shape}")
    if "float" not in inputs[0].type or "16" in inputs[0].type:
        raise ContractError(f"{name}: the input tensor must be float32, it is {inputs[0].type}")
    n_in = _static(shape[1])
    channels = meta["channels"]
    if n_in is not None and n_in != len(channels):
        raise ContractError(
            f"{name}: the metadata declares {len(channels)} channels "
            f"({', '.join(channels)}) but the input tensor has {n_in}"
        )
    out_shape = outputs[0].shape
    if len(out_shape) != 4:
        raise ContractError(f"{name}: the output tensor must be (N, K, H, W), it is {out_shape}")
    n_out = _static(out_shape[1])
    if n_out is not None and n_out != len(meta["outputs"]):
        raise ContractError(
            f"{name}: the metadata declares {len(meta['outputs'])} outputs but the "
            f"output tensor has {n_out} channels"
        )


def default_weights_dir():
    """The plugin's shipped ``weights/`` folder."""
    return Path(__file__).resolve().parents[3] / "weights"


def read_meta(path):
    """The validated metadata of a model file (a cheap, unoptimised CPU session)."""
    ort = _ort()
    path = Path(path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=[CPU])
    except Exception as exc:
        raise ValueError(f"{path.name} is not a readable ONNX model: {exc}") from exc
    try:
        meta = parse_metadata(dict(session.get_modelmeta().custom_metadata_map))
    except ContractError as exc:
        raise ContractError(f"{path.name}: {exc}") from exc
    _check_tensors(path.name, session, meta)
    return meta


_SHIPPED = {}  # (folder, listing with mtimes) -> find_models() result


def shipped_models(folder=None):
    """``find_models`` of the shipped ``weights/``, re-read only when the folder changes.

    QGIS creates algorithm instances often; opening every model each time would be slow.
    """
    folder = Path(folder) if folder is not None else default_weights_dir()
    listing = tuple((p.name, p.stat().st_mtime) for p in sorted(folder.glob("*.onnx"))) \
        if folder.is_dir() else ()
    key = (str(folder), listing)
    if key not in _SHIPPED:
        _SHIPPED.clear()
        _SHIPPED[key] = find_models(folder)
    return _SHIPPED[key]


def resolve_model(task=None, model_file=None, name=None, choose=None, models=None):
    """(path, meta) of the model to run: the one resolver for user and shipped models.

    ``model_file``: a user's file, validated and required to be a ``task``
    model. Otherwise a shipped model (``models``, default ``shipped_models()``):
    the one whose file stem is ``name``, else ``choose(candidates of task)``,
    else the first candidate of ``task``. ``task`` None accepts any task.
    """
    if model_file:
        path = Path(model_file)
        if not path.is_file():
            raise ValueError(f"the model file {path} does not exist")
        found = [(path, read_meta(path))]
    else:
        found = list(shipped_models() if models is None else models)
        if name:
            by_name = {Path(p).stem: (Path(p), m) for p, m in found}
            if name not in by_name:
                raise ValueError(f"there is no shipped model {name!r}; shipped: {', '.join(by_name) or 'none'}")
            found = [by_name[name]]
    what = f"{task} " if task else ""
    of_task = [(Path(p), m) for p, m in found if task is None or m["task"] == task]
    if not of_task:
        if model_file or name:
            path, meta = found[0]
            raise ValueError(f"{Path(path).name} is a {meta['task']} model, not a {task} model")
        raise ValueError(f"no {what}model is installed in the plugin's weights/ folder: give a model file")
    return choose(of_task) if choose and not model_file else of_task[0]


def sensor_chooser(kind):
    """A ``resolve_model`` chooser for a scene of sensor ``kind`` ("optical", "sar" or None): the
    candidate declared for that sensor (contract key ``sensors``), else one for any sensor, else the first."""
    def choose(candidates):
        for wanted in ((kind,) if kind else ()) + ("any",):
            for candidate in candidates:
                if candidate[1].get("sensors", "any") == wanted:
                    return candidate
        return candidates[0]

    return choose


def find_models(folder=None, skipped=None):
    """Valid shipped models in ``folder`` (default ``weights/``): [(path, meta)], sorted.

    Invalid files are left out; ``skipped`` (a list) receives (path, reason).
    """
    folder = Path(folder) if folder is not None else default_weights_dir()
    found = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.onnx")):
        try:
            found.append((path, read_meta(path)))
        except ValueError as exc:
            LOG.warning("skipping model %s: %s", path, exc)
            if skipped is not None:
                skipped.append((path, str(exc)))
    return found

