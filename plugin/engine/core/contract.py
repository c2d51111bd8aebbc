"""The Waterline model contract: what an ONNX file must say about itself.

Every model is one ONNX file whose ``metadata_props`` describe it, so the
plugin needs no per-model code. Training writes these keys with
``write_metadata``; the engine reads and checks them with ``parse_metadata``.

Keys (all stored as strings in ``metadata_props``):

    waterline_contract  contract version, "1"
    task                "water" or "calving_front"
    channels            input channel names in order, comma separated ("VV,VH")
    normalization       JSON list, one entry per channel (see NORMALIZATION_METHODS)
    tile_size           tile edge in pixels the model was trained on (int)
    overlap             recommended overlap between tiles in pixels (int)
    outputs             JSON list, one entry per channel of the output tensor:
                        {"name": ..., "description": ...}; values are
                        probabilities in [0, 1] (the graph ends in a sigmoid)
    pixel_size_m        training pixel size in metres (float)
    version             model version string
    training_data       what it was trained on (with credits)
    license             licence of the weights
    description         one-line human description (optional)
    input_scale         what the input values are (optional; INPUT_SCALES): "calibrated"
                        (backscatter in dB or power on a fixed scale), "render8" (8-bit
                        renderings, each stretched on its own: no absolute level), "any"
    sensors             which scenes the model is for (optional; SENSORS): "optical",
                        "sar" or "any" (the default); where several shipped models of
                        one task exist, a scene gets the one for its sensor

The input tensor is float32, shape (N, C, H, W) with dynamic N, H and W, and
C equal to the number of channels. The output tensor is (N, K, H, W).
"""

import json

CONTRACT_VERSION = "1"
TASKS = ("water", "calving_front")
REQUIRED_KEYS = (
    "waterline_contract",
    "task",
    "channels",
    "normalization",
    "tile_size",
    "overlap",
    "outputs",
    "pixel_size_m",
    "version",
    "training_data",
    "license",
)

INPUT_SCALES = ("any", "calibrated", "render8")
SENSORS = ("any", "optical", "sar")

# method -> parameters it needs. Units of input values are whatever the raster holds.
#   none        x
#   scale       x * scale + offset
#   percentile  per-scene stretch: (x - p_low) / (p_high - p_low), clipped to [0, 1];
#               p_low/p_high are the scene's percentiles `low`/`high` of valid pixels.
#               "db": "auto" converts linear power to dB first (10 log10 x) when the
#               band is floating point and its valid values look like power
#               (all >= 0 and the 99th percentile <= 10); "always" / "never" force it.
NORMALIZATION_METHODS = {
    "none": (),
    "scale": ("scale", "offset"),
    "percentile": ("low", "high"),
}


class ContractError(ValueError):
    """The model's metadata does not satisfy the Waterline contract."""


def parse_metadata(props):
    """Validate raw ``metadata_props`` (str -> str) and return a typed dict.

    Raises ContractError naming every missing or malformed key.
    """
    missing = [k for k in REQUIRED_KEYS if not str(props.get(k, "")).strip()]
    if missing:
        raise ContractError(
            "the model has no Waterline metadata for: " + ", ".join(missing)
            + " (export it with plugin.engine.core.contract.write_metadata)"
        )
    problems = []
    meta = dict(props)
    if props["waterline_contract"] != CONTRACT_VERSION:
        problems.append(
            f"waterline_contract is {props['waterline_contract']!r}, expected {CONTRACT_VERSION!r}"
        )
    if props["task"] not in TASKS:
        problems.append(f"task {props['task']!r} is not one of {', '.join(TASKS)}")
    channels = [c.strip() for c in props["channels"].split(",") if c.strip()]
    if not channels:
        problems.append("channels is empty")
    meta["channels"] = channels
    for key in ("tile_size", "overlap"):
        try:
            meta[key] = int(props[key])
        except ValueError:
            problems.append(f"{key} {props[key]!r} is not an integer")
    try:
        meta["pixel_size_m"] = float(props["pixel_size_m"])
    except ValueError:
        problems.append(f"pixel_size_m {props['pixel_size_m']!r} is not a number")
    if not problems and not 0 <= meta["overlap"] < meta["tile_size"]:
        problems.append("overlap must be at least 0 and smaller than tile_size")
    meta["normalization"] = _parse_json_list(props, "normalization", problems)
    meta["outputs"] = _parse_json_list(props, "outputs", problems)
    if isinstance(meta["normalization"], list) and channels:
        if len(meta["normalization"]) != len(channels):
            problems.append(
                f"normalization has {len(meta['normalization'])} entries "
                f"but there are {len(channels)} channels"
            )
        for i, norm in enumerate(meta["normalization"]):
            problems.extend(_check_normalization(i, norm))
    if isinstance(meta["outputs"], list):
        if not meta["outputs"] or not all(
            isinstance(o, dict) and o.get("name") for o in meta["outputs"]
        ):
            problems.append("outputs must be a non-empty list of {name, description}")
    meta["input_scale"] = props.get("input_scale", "any").strip() or "any"
    if meta["input_scale"] not in INPUT_SCALES:
        problems.append(f"input_scale {meta['input_scale']!r} is not one of {', '.join(INPUT_SCALES)}")
    meta["sensors"] = props.get("sensors", "any").strip() or "any"
    if meta["sensors"] not in SENSORS:
        problems.append(f"sensors {meta['sensors']!r} is not one of {', '.join(SENSORS)}")
    if problems:
        raise ContractError("malformed model metadata: " + "; ".join(problems))
    return meta


def to_props(meta):
    """Turn a typed metadata dict into the string map stored in the ONNX file."""
    props = {}
    for key, value in meta.items():
        if key == "channels" and not isinstance(value, str):
            value = ",".join(value)
        elif key in ("normalization", "outputs") and not isinstance(value, str):
            value = json.dumps(value)
        props[key] = str(value)
    props.setdefault("waterline_contract", CONTRACT_VERSION)
    parse_metadata(props)  # refuse to write what we would refuse to read
    return props


def write_metadata(onnx_path, meta):
    """Store the contract metadata in an exported ONNX file (in place)."""
    import onnx  # only the training side needs the onnx package

    props = to_props(meta)
    model = onnx.load(str(onnx_path))
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(onnx_path))


def _parse_json_list(props, key, problems):
    try:
        value = json.loads(props[key])
    except json.JSONDecodeError as exc:
        problems.append(f"{key} is not valid JSON ({exc.msg})")
        return None
    if not isinstance(value, list):
        problems.append(f"{key} must be a JSON list")
        return None
    return value


def _check_normalization(index, norm):
    if not isinstance(norm, dict) or norm.get("method") not in NORMALIZATION_METHODS:
        return [
            f"normalization[{index}] must be an object with method one of "
            + ", ".join(NORMALIZATION_METHODS)
        ]
    needed = NORMALIZATION_METHODS[norm["method"]]
    absent = [p for p in needed if not isinstance(norm.get(p), (int, float))]
    if absent:
        return [f"normalization[{index}] ({norm['method']}) needs numbers for {', '.join(absent)}"]
    if norm.get("db", "never") not in ("auto", "always", "never"):
        return [f"normalization[{index}] db must be auto, always or never"]
    return []
