"""Glue shared by the algorithms: engine errors -> QgsProcessingException,
feedback adapters, and turning QGIS layers into files the engine can open."""

import contextlib
import glob
import os

from qgis.core import QgsCoordinateReferenceSystem, QgsField, QgsFields, QgsProcessingException, QgsRasterLayer

from ..plugin.engine.raster_io import Cancelled


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


def raster_paths(layers, folder, patterns=("*.tif",), what="raster"):
    """Files behind raster layers, then the files in ``folder`` matching ``patterns`` (sorted)."""
    paths = [raster_path(layer, f"{what} {layer.name()}") for layer in layers]
    if folder:
        if not os.path.isdir(folder):
            raise QgsProcessingException(f"The folder {folder} does not exist.")
        paths += sorted({p for pattern in patterns for p in glob.glob(os.path.join(folder, pattern))})
    return paths


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


def help_string(algorithm, summary, outputs=""):
    """shortHelpString from a summary, every parameter's help, and a note on outputs."""
    lines = [summary, ""]
    for parameter in algorithm.parameterDefinitions():
        if parameter.help() and not parameter.isDestination():
            lines.append(f"<b>{parameter.description()}</b>: {parameter.help()}")
    if outputs:
        lines += ["", outputs]
    return "\n".join(lines)


def make_fields(spec):
    """QgsFields from ``[(name, QVariant type), ...]``."""
    fields = QgsFields()
    for name, kind in spec:
        fields.append(QgsField(name, kind))
    return fields
