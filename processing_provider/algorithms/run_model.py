"""Run model: any Waterline ONNX model over a raster, tiled, blended, windowed."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..common import (
    GROUPS, check_crs, engine_errors, EngineFeedback, enum_numbers_as_options, group_icon, help_string,
    help_url, raster_path, static_enum, with_help,
)
from ..outputs import RunOutputs
from ..postprocess import style_outputs
from ...plugin.engine.core import inference
from ...plugin.engine.core.model import DEVICES, load_model, resolve_model, shipped_models


class RunModel(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    MODEL = "MODEL"
    MODEL_FILE = "MODEL_FILE"
    BAND_MAP = "BAND_MAP"
    DEVICE = "DEVICE"
    THREADS = "THREADS"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    THRESHOLD = "THRESHOLD"
    OUTPUT_PROB = "OUTPUT_PROB"
    OUTPUT_CLASS = "OUTPUT_CLASS"
    TILES_RUN = "TILES_RUN"
    TILES_SKIPPED = "TILES_SKIPPED"
    PROVIDER = "PROVIDER"

    def __init__(self):
        super().__init__()
        self._shipped = None

    def shipped(self):
        """The shipped model list this instance's enum was built from."""
        if self._shipped is None:
            try:
                self._shipped = shipped_models()
            except ImportError:  # no onnxruntime: the algorithm still loads and says so when run
                self._shipped = []
        return self._shipped

    def name(self):
        return "run_model"

    def displayName(self):  # noqa: N802
        return "Run model"

    def group(self):
        return GROUPS["models"]

    def groupId(self):  # noqa: N802
        return GROUPS["models"]

    def tags(self):
        return "onnx,model,inference,deep learning,segmentation,gpu,cuda,water,glacier".split(",")

    def shortDescription(self):  # noqa: N802
        return "Run any Waterline ONNX model over a raster, tiled and windowed."

    def helpUrl(self):  # noqa: N802
        return help_url("models")

    def icon(self):
        return group_icon(self.groupId())

    def createInstance(self):  # noqa: N802
        return RunModel()

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Runs a Waterline ONNX model (a shipped one or any file that carries the Waterline "
            "model contract in its metadata) over a raster of any size. The scene is processed in "
            "overlapping tiles read and written in windows (bounded memory), blended with smooth "
            "weights so there are no seams, normalised as the model declares (percentile stretch, "
            "scale/offset, dB conversion), and nodata stays nodata. The log shows the bands used, "
            "the normalisation statistics and the onnxruntime provider that ran.",
            "At least one of the two rasters is needed. Both are tiled, compressed GeoTIFFs on the "
            "input's grid; a failed or cancelled run leaves no file. Also returned: the tiles run, "
            "the tiles skipped (all nodata) and the onnxruntime execution provider.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(with_help(QgsProcessingParameterRasterLayer(self.INPUT, "Input raster"),
            "A GDAL raster in a projected CRS (metres). Its bands are matched to the model's "
            "input channels by band description (e.g. 'VV', 'VH'), else by position when the "
            "band count equals the channel count; otherwise give a band mapping."))
        # Static strings: the value is the model's file name (without .onnx), so
        # qgis_process calls and saved modeler graphs do not depend on list order.
        names = [p.stem for p, _ in self.shipped()]
        model = static_enum(self.MODEL, "Shipped model", names, names[0] if names else None, optional=True)
        shipped = "; ".join(f"{p.stem}: {m['task']}, channels {', '.join(m['channels'])}"
                            for p, m in self.shipped()) or "none installed"
        self.addParameter(with_help(model,
            f"A model from the plugin's weights/ folder, by file name ({shipped})."))
        self.addParameter(with_help(QgsProcessingParameterFile(
            self.MODEL_FILE, "Model file (.onnx, overrides the shipped model)",
            extension="onnx", optional=True),
            "Any .onnx file with Waterline metadata (e.g. one you trained with python -m training); "
            "used instead of the shipped model when given."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.BAND_MAP, "Band mapping, e.g. VV=1,VH=2 or 1,2 (empty = automatic)", optional=True),
            "Which input band feeds each model channel: 'VV=1,VH=2' (channel=band) or '1,2' "
            "(bands in channel order). Empty: by band description, else by position."))
        self.addParameter(with_help(static_enum(self.DEVICE, "Device (auto, cpu or cuda)", DEVICES, "auto"),
            "auto uses CUDA when onnxruntime-gpu and a GPU are present, else the CPU; cuda fails "
            "with an explanation when CUDA cannot be used."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.THREADS, "CPU threads (0 = all cores)", QgsProcessingParameterNumber.Integer,
            defaultValue=0, minValue=0),
            "onnxruntime threads on the CPU; 0 lets onnxruntime use all physical cores."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.TILE_SIZE, "Tile size in pixels (0 = model default)",
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
            "Edge of the square tiles fed to the model; 0 uses the tile size it was trained on."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.OVERLAP, "Tile overlap in pixels (0 = model default)",
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
            "Overlap between neighbouring tiles, blended with smooth weights; 0 uses the model's "
            "recommended overlap. Must be smaller than the tile size."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.BATCH_SIZE, "Tiles per batch", QgsProcessingParameterNumber.Integer,
            defaultValue=4, minValue=1),
            "Tiles per onnxruntime call; larger batches are faster on a GPU and use more memory."))
        self.addParameter(with_help(QgsProcessingParameterNumber(
            self.THRESHOLD, "Class threshold (probability of the first output)",
            QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.0, maxValue=1.0),
            "The class raster is 1 where the first output's probability is at least this."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROB, "Probability raster", optional=True, createByDefault=True),
            "Float32, one band per model output (named after the output), -1 = nodata."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT_CLASS, "Class raster", optional=True, createByDefault=True),
            "Uint8, 1 where the first output's probability >= the threshold, else 0, 255 = nodata."))
        self.addOutput(QgsProcessingOutputNumber(self.TILES_RUN, "Tiles run"))
        self.addOutput(QgsProcessingOutputNumber(self.TILES_SKIPPED, "Tiles skipped (nodata)"))
        self.addOutput(QgsProcessingOutputString(self.PROVIDER, "onnxruntime execution provider"))

    def _model_path(self, parameters, context):
        path = self.parameterAsFile(parameters, self.MODEL_FILE, context)
        name = self.parameterAsEnumString(parameters, self.MODEL, context)
        if not path and not name:
            raise QgsProcessingException("Choose a shipped model or give a model file.")
        with engine_errors():
            return str(resolve_model(model_file=path, name=name, models=self.shipped())[0])

    def checkParameterValues(self, parameters, context):  # noqa: N802
        # qgis_process help lists enum options by number: accept those numbers too.
        return super().checkParameterValues(enum_numbers_as_options(self, parameters), context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        parameters = enum_numbers_as_options(self, parameters)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        src_path = raster_path(layer)
        check_crs(layer)
        if not self.parameterAsOutputLayer(parameters, self.OUTPUT_PROB, context) \
                and not self.parameterAsOutputLayer(parameters, self.OUTPUT_CLASS, context):
            raise QgsProcessingException(
                "Choose at least one output: a probability raster or a class raster.")
        model_path = self._model_path(parameters, context)
        device = self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto"
        threads = self.parameterAsInt(parameters, self.THREADS, context) or None
        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context) or None
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context) or None
        band_text = self.parameterAsString(parameters, self.BAND_MAP, context)
        engine = EngineFeedback(feedback)
        with RunOutputs(self, parameters, context, inputs=[src_path, model_path]) as out, engine_errors(feedback):
            model = load_model(model_path, device=device, threads=threads, log=feedback.pushInfo)
            band_map = inference.parse_band_map(band_text, model.channels)
            stats = inference.predict_raster(
                model, src_path, prob_path=out.raster(self.OUTPUT_PROB), class_path=out.raster(self.OUTPUT_CLASS),
                band_map=band_map, tile_size=tile, overlap=overlap,
                batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
                threshold=self.parameterAsDouble(parameters, self.THRESHOLD, context),
                progress=engine.progress, is_canceled=engine.is_canceled, log=feedback.pushInfo,
                warn=lambda message: feedback.pushWarning("Warning: " + message),
            )
        style_outputs(context, feedback, {out.final(self.OUTPUT_PROB): "probability",
                                          out.final(self.OUTPUT_CLASS): "class_mask"})
        return {
            self.OUTPUT_PROB: out.final(self.OUTPUT_PROB),
            self.OUTPUT_CLASS: out.final(self.OUTPUT_CLASS),
            self.TILES_RUN: stats["tiles_run"],
            self.TILES_SKIPPED: stats["tiles_skipped"],
            self.PROVIDER: stats["provider"],
        }
