"""Fetch the Hansen Global Forest Change 'last' (or 'first') Landsat composite for a
footprint, mosaicked onto the SAR grid as RED, NIR, SWIR1, SWIR2."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ...plugin.engine.fetch import tiles
from ..common import (
    GROUPS, EngineFeedback, advanced, engine_errors, group_icon, help_string, help_url, with_help,
)
from ..outputs import RunOutputs
from ._fetch_common import (
    add_tile_area_parameters, add_tile_options, tile_area_and_grid, tile_folder, tile_resampling,
)


class FetchGfcComposite(QgsProcessingAlgorithm):
    AOI = "AOI"
    EXTENT = "EXTENT"
    GRID = "GRID"
    LAYER = "LAYER"
    VERSION = "VERSION"
    RESAMPLING = "RESAMPLING"
    TILE_FOLDER = "TILE_FOLDER"
    BASE_URL = "BASE_URL"
    OUTPUT = "OUTPUT"
    TILES = "TILES"
    COVERAGE = "COVERAGE"

    def name(self):
        return "fetch_gfc_composite"

    def displayName(self):  # noqa: N802
        return "Fetch Global Forest Change optical composite (RED, NIR, SWIR1, SWIR2)"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "hansen,gfc,global forest change,landsat,composite,optical,water,stack,tiles".split(",")

    def shortDescription(self):  # noqa: N802
        return "Download the Hansen GFC Landsat composite tiles of a footprint, mosaicked onto a grid."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Downloads the Hansen et al. Global Forest Change 'last' (or 'first') reference "
            "composite tiles (public 10 x 10 degree GeoTIFFs on storage.googleapis.com, "
            "80 N to 60 S; CC BY 4.0, cite Hansen et al. 2013, Science 342:850) that cover the "
            "reference SAR raster (or the area given), and mosaics them onto the SAR raster's "
            "grid, window by window, as a 4-band Float32 raster RED, NIR, SWIR1, SWIR2 (the "
            "composites' own band order: median growing-season Landsat bands 3, 4, 5, 7 or "
            "their Landsat 8 equivalents; 8-bit values as published, not rescaled). Give it "
            "to 'Build water stack' as the optical raster with bands 1,2,3,4. Tiles are kept "
            "in the tile folder and reused; an interrupted download resumes.",
            "Also returned: the tile files used and the share of the output covered (%). "
            "Pixels no tile covers are nodata (-9999).")

    def createInstance(self):  # noqa: N802
        return FetchGfcComposite()

    def initAlgorithm(self, config=None):  # noqa: N802
        add_tile_area_parameters(self)
        self.addParameter(with_help(QgsProcessingParameterEnum(
            self.LAYER, "Composite", list(tiles.GFC_LAYERS), defaultValue=0),
            "last: the composite of the last year of the version (2023 for GFC-2023-v1.11); "
            "first: the one of about 2000."))
        self.addParameter(with_help(QgsProcessingParameterString(
            self.VERSION, "GFC version", defaultValue=tiles.GFC_VERSION),
            "The dataset version in the file names, e.g. GFC-2023-v1.11 or GFC-2022-v1.10."))
        add_tile_options(self, "the composite is", " (a GFC tile is several hundred MB)")
        self.addParameter(advanced(with_help(QgsProcessingParameterString(
            self.BASE_URL, "GFC tile server", defaultValue=tiles.GFC_BASE),
            "Where the tiles are downloaded from (advanced); keep the default.")))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "GFC composite (RED, NIR, SWIR1, SWIR2)"),
            "Float32 GeoTIFF on the reference grid, bands described RED, NIR, SWIR1, SWIR2, "
            "nodata -9999."))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.TILES, "Tiles used"))
        self.addOutput(QgsProcessingOutputNumber(self.COVERAGE, "Share of the output covered (%)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        area, grid, grid_path = tile_area_and_grid(self, parameters, context, feedback)
        layer = tiles.GFC_LAYERS[self.parameterAsEnum(parameters, self.LAYER, context)]
        version = self.parameterAsString(parameters, self.VERSION, context).strip() or tiles.GFC_VERSION
        base = self.parameterAsString(parameters, self.BASE_URL, context).strip() or tiles.GFC_BASE
        folder = tile_folder(self, parameters, context)
        with engine_errors(feedback):
            wanted, outside = tiles.gfc_tiles(area, layer, version, base)
        if outside:
            feedback.reportError(f"Outside the GFC coverage (80 N to 60 S): {', '.join(outside)}.")
        if not wanted:
            west, south, east, north = area.bounds
            raise QgsProcessingException(
                f"No Global Forest Change tile covers the area (lon {west:.3f} to {east:.3f}, "
                f"lat {south:.3f} to {north:.3f}): the GFC tiles span 80 N to 60 S.")
        feedback.pushInfo(f"{len(wanted)} GFC tile(s): {', '.join(t.name for t in wanted)}")
        download = EngineFeedback(feedback, 0, 70)
        with engine_errors(feedback):
            paths, missing = tiles.fetch(wanted, folder, progress=download.progress,
                                         is_canceled=download.is_canceled, info=feedback.pushInfo)
        if not paths:
            raise QgsProcessingException(
                f"None of the {len(wanted)} GFC tile(s) of the area exists on {base} "
                f"({', '.join(missing)}): check the version ({version}).")
        if grid is None:
            grid = tiles.native_grid(paths, area)
        stitch = EngineFeedback(feedback, 70, 30)
        with RunOutputs(self, parameters, context, inputs=paths + ([grid_path] if grid_path else [])) \
                as run, engine_errors(feedback):
            covered = tiles.mosaic(
                paths, run.raster(self.OUTPUT), grid, bands=[1, 2, 3, 4],
                descriptions=list(tiles.GFC_BANDS),
                resampling=tile_resampling(self, parameters, context),
                progress=stitch.progress, is_canceled=stitch.is_canceled)
        feedback.pushInfo(f"{covered:.1%} of the output covered by {len(paths)} tile(s).")
        return {self.OUTPUT: run.final(self.OUTPUT), self.TILES: paths,
                self.COVERAGE: 100.0 * covered}
