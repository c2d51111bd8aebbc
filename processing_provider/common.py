"""Glue shared by the algorithms: engine errors -> QgsProcessingException,
feedback adapters, and turning QGIS layers into files the engine can open."""

import contextlib
import glob
import os
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsRasterLayer,
    QgsWkbTypes,
)

from ..plugin.engine.core.cancel import Cancelled


class EngineFeedback:
    """Progress and cancellation callbacks for the engine from a QgsProcessingFeedback.

    ``start`` and ``span`` map the engine's 0..1 progress into a part of the
    algorithm's 0..100 bar, for algorithms with several stages.
    """

    def __init__(self, feedback, start=0.0, span=100.0):
        self.feedback = feedback
        self.start = start
        self.span = span

    def progress(self, fraction):
        if self.feedback is not None:
            self.feedback.setProgress(self.start + self.span * min(max(fraction, 0.0), 1.0))

    def is_canceled(self):
        return self.feedback is not None and self.feedback.isCanceled()

    def info(self, message):
        if self.feedback is not None:
            self.feedback.pushInfo(message)

    @classmethod
    def item(cls, feedback, index, count):
        """Feedback for item ``index`` of ``count`` (scenes, files): its share of the bar."""
        return cls(feedback, 100.0 * index / count, 100.0 / count)


@contextlib.contextmanager
def engine_errors(feedback=None):
    """Run engine code; turn its ValueErrors into user-facing Processing errors.

    Cancellation ends quietly (QGIS reports it); the engine has already
    removed partial outputs.
    """
    try:
        yield
    except Cancelled:
        if feedback is not None:
            feedback.reportError("Cancelled: no output was written.")
        raise QgsProcessingException("Cancelled by the user; no output was written.")
    except (ValueError, OSError) as exc:
        raise QgsProcessingException(str(exc)) from exc
    except ImportError as exc:
        raise QgsProcessingException(
            f"A Python package this algorithm needs is missing from QGIS's Python ({exc}); "
            "install it as the README's 'Installing into your QGIS' says."
        ) from exc


def raster_path(layer, what="input raster"):
    """The file behind a raster layer, checked to be a readable GDAL raster."""
    if layer is None:
        raise QgsProcessingException(f"The {what} could not be loaded.")
    if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"The {what} must be a file-based GDAL raster (got provider "
            f"'{layer.providerType()}')."
        )
    path = layer.source().split("|")[0]
    if not os.path.exists(path):
        raise QgsProcessingException(f"The {what} file {path} does not exist.")
    return path


RASTER_PATTERNS = ("*.tif", "*.tiff", "*.TIF", "*.TIFF", "*.jp2", "*.vrt", "*.img")


def raster_paths(layers, folder, patterns=("*.tif",), what="raster"):
    """Files behind raster layers, then the files in ``folder`` matching ``patterns`` (sorted)."""
    paths = [raster_path(layer, f"{what} {layer.name()}") for layer in layers]
    if folder:
        if not os.path.isdir(folder):
            raise QgsProcessingException(f"The folder {folder} does not exist.")
        paths += sorted({p for pattern in patterns for p in glob.glob(os.path.join(folder, pattern))})
    return paths


def optional_raster_path(layer, what):
    """The file behind an optional raster layer, or None when it is not given."""
    return raster_path(layer, what) if layer is not None else None


def check_crs(layer, what="input raster"):
    crs = layer.crs()
    if not crs.isValid():
        raise QgsProcessingException(
            f"The {what} ({layer.name()}) has no valid coordinate reference system; "
            "assign one (Layer Properties > Source) before running."
        )
    return crs


def rasterio_crs(crs):
    """A rasterio CRS for a QgsCoordinateReferenceSystem (EPSG code when it has one)."""
    from rasterio.crs import CRS

    if not crs.isValid():
        raise QgsProcessingException("A layer has no valid coordinate reference system; assign one first.")
    authid = crs.authid()
    if authid.upper().startswith("EPSG:"):
        return CRS.from_user_input(authid)
    return CRS.from_wkt(crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL))


def with_help(parameter, text):
    """Attach help to a parameter (shown by qgis_process help and in the dialog's help)."""
    parameter.setHelp(text)
    return parameter


def advanced(parameter):
    """Mark a parameter as advanced (folded away in the dialog); returns it."""
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


def static_enum(name, description, options, default, optional=False):
    """An enum parameter whose value is the option text (stable in qgis_process calls and models)."""
    parameter = QgsProcessingParameterEnum(name, description, options=list(options), optional=optional,
                                           defaultValue=default)
    parameter.setUsesStaticStrings(True)
    return parameter


def help_string(algorithm, summary, outputs=""):
    """shortHelpString: the summary, every input's help, every output's help, then a note on outputs.

    Every algorithm builds its help here from the help attached to its parameters
    (``with_help``), so the dialog, ``qgis_process help`` and the parameter tooltips
    say the same thing.
    """
    inputs, results = [], []
    for parameter in algorithm.parameterDefinitions():
        if parameter.help():
            line = f"<b>{parameter.description()}</b>: {parameter.help()}"
            (results if parameter.isDestination() else inputs).append(line)
    lines = [summary]
    if inputs:
        lines += ["", "<b>Parameters</b>"] + inputs
    if results or outputs:
        lines += ["", "<b>Outputs</b>"] + results + ([outputs] if outputs else [])
    return "\n".join(lines)


def int_values(text, what, required=False):
    """Comma-separated integers (label codes) as a tuple; ``required``: at least one."""
    try:
        values = tuple(int(v) for v in (text or "").split(",") if v.strip())
    except ValueError:
        raise QgsProcessingException(f"{what} {text!r} must be comma-separated integers.") from None
    if required and not values:
        raise QgsProcessingException(f"{what} must list at least one value.")
    return values


def make_fields(spec):
    """QgsFields from ``[(name, QVariant type), ...]``."""
    fields = QgsFields()
    for name, kind in spec:
        fields.append(QgsField(name, kind))
    return fields


def require_source(algorithm, parameters, name, context, message=None):
    """The feature source of parameter ``name``, or a Processing error saying it could not be loaded."""
    source = algorithm.parameterAsSource(parameters, name, context)
    if source is None:
        raise QgsProcessingException(message or algorithm.invalidSourceError(parameters, name))
    return source


def require_fields(source, fields, what, hint=""):
    """Check that ``source`` has every non-empty name in ``fields``; the error lists the fields it has.

    Returns the source's field names.
    """
    names = source.fields().names()
    for field in fields:
        if field and field not in names:
            raise QgsProcessingException(
                f"The {what} has no field '{field}' (fields: {', '.join(names)}).{' ' + hint if hint else ''}")
    return names


def create_sink(algorithm, parameters, name, context, fields, geometry_type=QgsWkbTypes.NoGeometry,
                crs=None, message=None):
    """``(sink, destination id)`` of feature-sink parameter ``name``; a Processing error when it cannot be made."""
    sink, dest = algorithm.parameterAsSink(parameters, name, context, fields, geometry_type,
                                           crs if crs is not None else QgsCoordinateReferenceSystem())
    if sink is None:
        raise QgsProcessingException(message or algorithm.invalidSinkError(parameters, name))
    return sink, dest


def add_feature(sink, fields, attributes, geometry=None):
    """Write one feature (attributes in field order, optional geometry) to ``sink``; returns it."""
    feature = QgsFeature(fields)
    if geometry is not None:
        feature.setGeometry(geometry)
    feature.setAttributes(list(attributes))
    if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
        # A failed write (disk full, locked file) must fail the run, not end it with a short output.
        error = sink.lastError() if hasattr(sink, "lastError") else ""
        raise QgsProcessingException(f"Writing a feature to the output failed{': ' + error if error else ''}.")
    return feature


def add_rows(sink, fields, rows):
    """Write attribute rows (no geometry) to ``sink``."""
    for row in rows:
        add_feature(sink, fields, row)


def source_geometries(source, crs, context, feedback=None):
    """``(feature, geometry in crs)`` for every feature of ``source`` with a non-empty geometry.

    Stops early (quietly) when the user cancels; the caller decides what that means.
    """
    transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    for feature in source.getFeatures():
        if feedback is not None and feedback.isCanceled():
            return
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            continue
        geometry.transform(transform)
        yield feature, geometry


def enum_numbers_as_options(algorithm, parameters):
    """``parameters`` with numbers for static-string enums replaced by their option text.

    ``qgis_process help`` lists every enum's options by number, also for enums
    whose value is the option text; a number the help suggests must work too.
    """
    out = dict(parameters)
    for definition in algorithm.parameterDefinitions():
        if not isinstance(definition, QgsProcessingParameterEnum) or not definition.usesStaticStrings():
            continue
        value = out.get(definition.name())
        options = definition.options()
        if isinstance(value, (int, str)) and str(value).strip().isdigit() and str(value) not in options:
            index = int(str(value).strip())
            if 0 <= index < len(options):
                out[definition.name()] = options[index]
    return out


# ---------------------------------------------------------------- toolbox presentation

ICONS = Path(__file__).resolve().parents[1] / "plugin" / "icons"
# One toolbox group per workflow. QGIS gives a .model3 chain its group name as group id, so
# the algorithms use the names as ids too and the toolbox shows each group once.
GROUPS = {
    "calving_fronts": "Calving fronts",
    "water": "Surface water",
    "fetch": "Find and fetch scenes",
    "models": "Models and training",
}
_GROUP_ICONS = {GROUPS["calving_fronts"]: "fronts", GROUPS["water"]: "water", GROUPS["fetch"]: "fetch",
                GROUPS["models"]: "models"}
HELP_BASE = "https://github.com/waterline-gis/waterline#"
# README sections (GitHub anchors) that each kind of algorithm's Help button opens.
HELP_SECTIONS = {
    "fronts-prep": "calving-front-preprocessing-subset-layer-fjord-mask",
    "fronts": "calving-fronts-detect-and-evaluate",
    "change": "glacier-change-over-time-consolidate-fronts-terminus-change",
    "water": "surface-water-sar--optical--dem--hand",
    "fetch": "find-and-fetch-scenes-asf-search-download-sardswe-pairing",
    "models": "run-any-model-run-model",
}


def group_icon(group_id):
    """The toolbox icon of a workflow group (the plugin's own icon for anything else)."""
    from qgis.PyQt.QtGui import QIcon

    return QIcon(str(ICONS / f"{_GROUP_ICONS.get(group_id, 'waterline')}.svg"))


def help_url(section):
    """The README section a Help button opens."""
    return HELP_BASE + HELP_SECTIONS[section]
