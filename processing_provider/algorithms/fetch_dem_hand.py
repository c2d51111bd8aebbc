"""Fetch Copernicus GLO-30 DEM and ASF GLO-30 HAND tiles for a footprint, mosaicked
onto the SAR grid."""

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
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

KINDS = {
    # output parameter: (label, tile list function, base URL parameter, band description)
    "OUTPUT_DEM": ("Copernicus GLO-30 DEM", tiles.dem_tiles, "DEM_URL", "DEM"),
    "OUTPUT_HAND": ("ASF GLO-30 HAND", tiles.hand_tiles, "HAND_URL", "HAND"),
}


class FetchDemHand(QgsProcessingAlgorithm):
    AOI = "AOI"
    EXTENT = "EXTENT"
    GRID = "GRID"
    RESAMPLING = "RESAMPLING"
    TILE_FOLDER = "TILE_FOLDER"
    DEM_URL = "DEM_URL"
    HAND_URL = "HAND_URL"
    OUTPUT_DEM = "OUTPUT_DEM"
    OUTPUT_HAND = "OUTPUT_HAND"
    TILES = "TILES"
    DEM_COVERAGE = "DEM_COVERAGE"
    HAND_COVERAGE = "HAND_COVERAGE"

    def name(self):
        return "fetch_dem_hand"

    def displayName(self):  # noqa: N802
        return "Fetch DEM and HAND (Copernicus GLO-30, ASF HAND)"

    def group(self):
        return GROUPS["fetch"]

    def groupId(self):  # noqa: N802
        return GROUPS["fetch"]

    def tags(self):
        return "dem,hand,copernicus,glo-30,elevation,height above nearest drainage,asf,water,tiles".split(",")

    def shortDescription(self):  # noqa: N802
        return "Download Copernicus GLO-30 DEM and ASF HAND tiles of a footprint, mosaicked onto a grid."

    def helpUrl(self):  # noqa: N802
        return help_url("fetch")

    def icon(self):
        return group_icon(self.groupId())

    def shortHelpString(self):  # noqa: N802
        return help_string(
            self,
            "Downloads the 1 x 1 degree Copernicus GLO-30 DEM tiles (copernicus-dem-30m open "
            "data bucket, HTTPS) and ASF's GLO-30 HAND tiles (glo-30-hand bucket, height above "
            "nearest drainage computed from the same DEM) that cover the reference SAR raster "
            "(or the area given), and mosaics each onto the SAR raster's grid, window by "
            "window, as a Float32 raster (nodata -9999). Give them to 'Build water stack' as "
            "DEM and HAND. There are no tiles over open ocean: those parts stay nodata, and "
            "an area with no tile at all stops with a message. Tiles are kept in the tile "
            "folder and reused; an interrupted download resumes. Copernicus DEM: (c) DLR e.V. "
            "2010-2014 and (c) Airbus Defence and Space GmbH 2014-2018, provided under "
            "COPERNICUS by the European Union and ESA.",
            "Also returned: the tile files used and the share of each output covered (%).")

    def createInstance(self):  # noqa: N802
        return FetchDemHand()

    def initAlgorithm(self, config=None):  # noqa: N802
        add_tile_area_parameters(self, plural=True)
        add_tile_options(self, "the tiles are")
        for name, label, default, text in (
            (self.DEM_URL, "Copernicus DEM tile server", tiles.COPDEM_BASE,
             "Where the DEM tiles are downloaded from (advanced); keep the default."),
            (self.HAND_URL, "HAND tile server", tiles.HAND_BASE,
             "Where the HAND tiles are downloaded from (advanced); keep the default."),
        ):
            self.addParameter(advanced(with_help(
                QgsProcessingParameterString(name, label, defaultValue=default), text)))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT_DEM, "DEM", optional=True, createByDefault=True),
            "Elevation (m, EGM2008 heights as published) on the reference grid; leave it "
            "unset (skip) to fetch HAND only."))
        self.addParameter(with_help(QgsProcessingParameterRasterDestination(
            self.OUTPUT_HAND, "HAND", optional=True, createByDefault=True),
            "Height above nearest drainage (m) on the reference grid; leave it unset (skip) "
            "to fetch the DEM only."))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.TILES, "Tiles used"))
        self.addOutput(QgsProcessingOutputNumber(self.DEM_COVERAGE, "Share of the DEM covered (%)"))
        self.addOutput(QgsProcessingOutputNumber(self.HAND_COVERAGE, "Share of the HAND covered (%)"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        wanted = [name for name in KINDS if self.parameterAsOutputLayer(parameters, name, context)]
        if not wanted:
            raise QgsProcessingException("Ask for the DEM, the HAND or both.")
        area, grid, grid_path = tile_area_and_grid(self, parameters, context, feedback)
        folder = tile_folder(self, parameters, context)
        fetched, grids = {}, {}
        for i, name in enumerate(wanted):
            label, list_tiles, url_name, _ = KINDS[name]
            base = self.parameterAsString(parameters, url_name, context).strip()
            with engine_errors(feedback):
                todo = list_tiles(area, base=base) if base else list_tiles(area)
            feedback.pushInfo(f"{label}: {len(todo)} tile(s): {', '.join(t.name for t in todo)}")
            download = EngineFeedback(feedback, 60.0 * i / len(wanted), 60.0 / len(wanted))
            with engine_errors(feedback):
                paths, missing = tiles.fetch(todo, folder, progress=download.progress,
                                             is_canceled=download.is_canceled,
                                             info=feedback.pushInfo)
            if not paths:
                west, south, east, north = area.bounds
                raise QgsProcessingException(
                    f"No {label} tile covers the area (lon {west:.3f} to {east:.3f}, lat "
                    f"{south:.3f} to {north:.3f}): the server has none of "
                    f"{', '.join(t.name for t in todo)} (open ocean has no tiles).")
            if missing:
                feedback.reportError(f"{label}: no tile for {', '.join(missing)} (open ocean?); "
                                     "those parts are nodata.")
            fetched[name] = paths
            grids[name] = grid or tiles.native_grid(paths, area)
        inputs = [p for paths in fetched.values() for p in paths] + ([grid_path] if grid_path else [])
        coverage = {}
        resampling = tile_resampling(self, parameters, context)
        with RunOutputs(self, parameters, context, inputs=inputs) as run, engine_errors(feedback):
            for i, name in enumerate(wanted):
                stitch = EngineFeedback(feedback, 60 + 40.0 * i / len(wanted), 40.0 / len(wanted))
                coverage[name] = tiles.mosaic(
                    fetched[name], run.raster(name), grids[name], bands=[1],
                    descriptions=[KINDS[name][3]], resampling=resampling,
                    progress=stitch.progress, is_canceled=stitch.is_canceled)
                feedback.pushInfo(f"{KINDS[name][0]}: {coverage[name]:.1%} of the output covered.")
        return {self.OUTPUT_DEM: run.final(self.OUTPUT_DEM), self.OUTPUT_HAND: run.final(self.OUTPUT_HAND),
                self.TILES: [p for paths in fetched.values() for p in paths],
                self.DEM_COVERAGE: 100.0 * coverage["OUTPUT_DEM"] if "OUTPUT_DEM" in coverage else None,
                self.HAND_COVERAGE: 100.0 * coverage["OUTPUT_HAND"] if "OUTPUT_HAND" in coverage else None}
