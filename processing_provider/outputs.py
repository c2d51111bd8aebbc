"""One output guard for every algorithm: no output over an input, no litter after a failure.

Use in ``processAlgorithm``::

    with RunOutputs(self, parameters, context, inputs=[path]) as out:
        prob = out.raster(self.OUTPUT_PROB)           # a hidden temporary name to write
        sink, dest = out.sink(self.OUTPUT, fields, QgsWkbTypes.Polygon, crs)
        ...                                            # engine calls write to ``prob``
    del sink                                           # closes its file (e.g. before a style is saved in it)
    return {self.OUTPUT_PROB: out.final(self.OUTPUT_PROB), ...}

On entering, before anything is written, every requested file or folder
destination is checked: it must not be one of the inputs
(``engine.core.outputs.check_outputs``) and its folder must be writable.
Raster and folder outputs are staged under temporary names and moved into
place together when the block ends normally; on any error or cancellation
they are removed, and so are the sink files this run created.
"""

import contextlib
import os

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingException,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterRasterDestination,
    QgsWkbTypes,
)

from qgis.PyQt import sip

from ..plugin.engine.core import outputs as engine_outputs
from .common import create_sink

_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
_LAYER_TYPES = {"raster", "vector", "source", "multilayer", "file", "layer", "mesh", "pointcloud"}


def file_of(source):
    """The file behind a layer source or destination ('path|layername=x' -> 'path'); None for memory layers."""
    if not source or not isinstance(source, str) or source.startswith(("memory:", "postgres", "dbname=")):
        return None
    return source.split("|")[0]


class RunOutputs:
    def __init__(self, algorithm, parameters, context, inputs=(), folder_outputs=()):
        """``inputs``: files the run reads besides those its layer and file parameters name."""
        self.algorithm, self.parameters, self.context = algorithm, parameters, context
        given = list(inputs) + self._parameter_files()
        self.inputs = [p for p in (file_of(i) for i in given) if p]
        self.folder_outputs = list(folder_outputs)
        self.staging = engine_outputs.Staging()
        self.finals = {}
        self.new_files = []  # sink files this run created (removed again on failure)
        self.sinks = []

    def _parameter_files(self):
        """The files behind every input parameter (layers, layer lists, files), as far as they are files."""
        from qgis.core import QgsMapLayer, QgsProcessingFeatureSourceDefinition, QgsProcessingUtils, QgsProperty

        files = []
        for definition in self.algorithm.parameterDefinitions():
            if definition.isDestination() or definition.type() not in _LAYER_TYPES:
                continue
            value = self.parameters.get(definition.name())
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, QgsProcessingFeatureSourceDefinition):
                    item = item.source.staticValue() if isinstance(item.source, QgsProperty) else item.source
                if isinstance(item, QgsMapLayer):
                    item = item.source()
                if isinstance(item, str) and item:
                    layer = QgsProcessingUtils.mapLayerFromString(item, self.context) \
                        if not os.path.exists(item.split("|")[0]) else None
                    files.append(layer.source() if layer is not None else item)
        return [f for f in files if os.path.exists(f.split("|")[0])]

    # ---------------------------------------------------------------- checks

    def check(self, path, what):
        try:
            engine_outputs.check_outputs(self.inputs, [path], what=what)
            engine_outputs.check_writable(path)
        except ValueError as exc:
            raise QgsProcessingException(_sentence(exc)) from None

    def check_all(self):
        """The guard: every requested file or folder destination, before anything is written."""
        try:
            engine_outputs.check_outputs(self.inputs, [], self.folder_outputs)
        except ValueError as exc:
            raise QgsProcessingException(_sentence(exc)) from None
        for definition in self.algorithm.destinationParameterDefinitions():
            name = definition.name()
            if isinstance(definition, QgsProcessingParameterFolderDestination):
                folder = self.algorithm.parameterAsString(self.parameters, name, self.context)
                if folder and name in self.parameters:
                    self.check(folder, self._description(name))
                    self.check(os.path.join(folder, "x"), self._description(name))
            elif isinstance(definition, QgsProcessingParameterRasterDestination):
                path = self.algorithm.parameterAsOutputLayer(self.parameters, name, self.context)
                if path and self.parameters.get(name) is not None:
                    self.check(path, self._description(name))
            else:
                path = _destination_file(self.parameters.get(name))
                if path:
                    self.check(path, self._description(name))

    def _description(self, name):
        definition = self.algorithm.parameterDefinition(name)
        return f"output '{definition.description()}'" if definition else "output"

    # ---------------------------------------------------------------- outputs

    def raster(self, name):
        """Temporary path to write the raster destination ``name`` to (None when not requested)."""
        final = self.algorithm.parameterAsOutputLayer(self.parameters, name, self.context)
        if not final:
            return None
        self.finals[name] = final
        return self.staging.path(final)

    def folder(self, name):
        """Temporary folder standing in for the folder destination ``name`` (None when not requested)."""
        final = self.algorithm.parameterAsString(self.parameters, name, self.context)
        if not final:
            return None
        self.finals[name] = final
        # Staged like a file; into an existing folder its files are added, the folder is never replaced.
        return self.staging.path(final, folder=True)

    def sink(self, name, fields, geometry_type=QgsWkbTypes.NoGeometry, crs=None, required=True):
        """``create_sink`` after the checks; (None, None) for an optional output that is not requested."""
        if not required and self.parameters.get(name) in (None, ""):
            return None, None  # an optional output that was not asked for
        target = _destination_file(self.parameters.get(name))
        existed = bool(target) and os.path.exists(target)
        if target:  # OGR does not create missing folders; those made here go again on failure
            self.staging.created += engine_outputs.make_folders(os.path.dirname(os.path.abspath(target)))
        if required:
            sink, dest = create_sink(self.algorithm, self.parameters, name, self.context, fields, geometry_type, crs)
        else:
            sink, dest = self.algorithm.parameterAsSink(self.parameters, name, self.context, fields, geometry_type,
                                                        crs if crs is not None else QgsCoordinateReferenceSystem())
        path = file_of(dest)
        if sink is not None:
            self.sinks.append(sink)
        if sink is not None and path and not (target and existed):
            self.new_files.append(path)
        self.finals[name] = dest
        return sink, dest

    def final(self, name):
        return self.finals.get(name)

    # ---------------------------------------------------------------- the run

    def __enter__(self):
        self.check_all()
        self.staging.__enter__()
        return self

    def __exit__(self, kind, value, traceback):
        # Keep no sink past the run: the algorithm closes a sink's file by deleting the sink.
        sinks, self.sinks = self.sinks, []
        if kind is not None:
            # Close the sinks first: one still open (the failed algorithm's frame holds it) would write
            # its table into the file removed here when it is garbage-collected, and GDAL would then
            # print "attempt to write a readonly database" after the real error.
            for sink in sinks:
                with contextlib.suppress(Exception):
                    sip.delete(sink)
            for path in self.new_files:
                for leftover in (path,) + tuple(path + s for s in _SQLITE_SIDE_FILES):
                    with contextlib.suppress(OSError):
                        os.remove(leftover)
        self.staging.__exit__(kind, value, traceback)  # last: it removes the folders made for outputs
        return False


def _destination_file(value):
    """The file a sink parameter value points at, if it is a plain file path."""
    from qgis.core import QgsProcessingOutputLayerDefinition, QgsProperty

    if isinstance(value, QgsProcessingOutputLayerDefinition):
        sink = value.sink
        value = sink.staticValue() if isinstance(sink, QgsProperty) else sink
    if not isinstance(value, str) or value in ("", "TEMPORARY_OUTPUT") or value.startswith("memory:"):
        return None
    return file_of(value)


def _sentence(exc):
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
