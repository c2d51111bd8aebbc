"""Build the shipped graphical-modeler models (.model3) with the PyQGIS API.

Run with the project venv after changing an algorithm's parameters:
    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/build_model3.py [FOLDER]
(FOLDER: where to write the .model3 files; default processing_provider/models.)
Writing the model through the API (rather than by hand in XML) keeps it valid
for the QGIS version it is built with (3.22, the minimum the plugin supports).
"""

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessing,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource as Source,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QPointF

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "processing_provider" / "models"


def _input(model, param, x, y):
    component = QgsProcessingModelParameter(param.name())
    component.setPosition(QPointF(x, y))
    component.setDescription(param.description())
    model.addModelParameter(param, component)


def _child(model, alg_id, child_id, description, sources, outputs, x, y):
    """A child algorithm; its mandatory parameters without a source get their defaults."""
    provider = QgsApplication.processingRegistry().providerById(alg_id.split(":")[0])
    alg = provider.algorithm(alg_id.split(":")[1]) if provider else None
    if alg is None:
        raise SystemExit(f"{alg_id} is not registered")
    sources = dict(sources)
    for param in alg.parameterDefinitions():
        optional = param.flags() & QgsProcessingParameterDefinition.FlagOptional
        if not param.isDestination() and not optional and param.name() not in sources \
                and param.defaultValue() is not None:
            sources[param.name()] = Source.fromStaticValue(param.defaultValue())
    child = QgsProcessingModelChildAlgorithm(alg_id)
    child.setChildId(child_id)
    child.setDescription(description)
    child.setPosition(QPointF(x, y))
    for name, source in sources.items():
        child.addParameterSources(name, [source])
    model_outputs = {}
    for child_output, label in outputs.items():
        out = QgsProcessingModelOutput(label)
        out.setDescription(label)  # without it the model dialog shows the output fields unlabelled
        out.setChildId(child_id)
        out.setChildOutputName(child_output)
        out.setPosition(QPointF(x + 200, y + 40))
        model_outputs[label] = out
    child.setModelOutputs(model_outputs)
    model.addChildAlgorithm(child)


def calfin_preprocessing():
    # QGIS takes a model's group id from its group name, as the algorithms do (common.GROUPS).
    model = QgsProcessingModelAlgorithm("Prepare calving-front inputs", "Calving fronts", "Calving fronts")
    model.setHelpContent({
        "ALG_DESC": (
            "CALFIN preprocessing chain: subsets every scene in a folder to a glacier domain on "
            "one grid, layers the first accepted subset into the 3-band model input, and "
            "rasterises the fjord boundaries onto the same grid. Layer the other subsets with "
            "'Layer bands into a calving-front model input' in batch mode, or give the subsets "
            "folder to 'Detect calving fronts', which layers grey scenes itself."
        ),
        "scenes": "Folder of scenes (GeoTIFF, JP2 or VRT), e.g. Landsat band 8 or SAR images.",
        "domain": "Polygon layer with the glacier domain (the first feature is used).",
        "boundaries": "Fjord-boundary lines or polygons.",
        "ALG_CREATOR": "Waterline",
    })
    _input(model, QgsProcessingParameterFile(
        "scenes", "Folder of scenes", behavior=QgsProcessingParameterFile.Folder), 100, 80)
    _input(model, QgsProcessingParameterFeatureSource(
        "domain", "Glacier domain", [QgsProcessing.TypeVectorPolygon]), 100, 160)
    _input(model, QgsProcessingParameterFeatureSource(
        "boundaries", "Fjord boundaries", [QgsProcessing.TypeVectorLine, QgsProcessing.TypeVectorPolygon]),
        100, 240)
    _child(model, "waterline:subset_scenes", "subset", "Subset scenes to the domain",
           {"FOLDER": Source.fromModelParameter("scenes"), "DOMAIN": Source.fromModelParameter("domain"),
            "PIXEL_SIZE": Source.fromStaticValue(0.0), "RESAMPLING": Source.fromStaticValue(1),
            "MAX_NODATA": Source.fromStaticValue(25.0), "CLOUD_KIND": Source.fromStaticValue(0),
            "FIND_QA": Source.fromStaticValue(True), "MAX_CLOUD": Source.fromStaticValue(15.0)},
           {"OUTPUT_FOLDER": "Subsets", "OUTPUT_TABLE": "Subset report"}, 350, 120)
    _child(model, "waterline:layer_calfin_input", "layer", "Layer the first subset",
           {"INPUT": Source.fromChildOutput("subset", "FIRST_SUBSET"),
            "BAND": Source.fromStaticValue(1), "SIGMA": Source.fromStaticValue(8.0)},
           {"OUTPUT": "Layered input"}, 650, 80)
    _child(model, "waterline:fjord_mask", "fjord", "Rasterise the fjord boundaries",
           {"REFERENCE": Source.fromChildOutput("subset", "FIRST_SUBSET"),
            "BOUNDARIES": Source.fromModelParameter("boundaries"),
            "OVERRIDE_VALUE": Source.fromStaticValue(0), "WALL_WIDTH": Source.fromStaticValue(2.0)},
           {"OUTPUT": "Fjord mask"}, 650, 240)
    model.updateDestinationParameters()
    return model


def glacier_change():
    model = QgsProcessingModelAlgorithm("Glacier change from scenes", "Calving fronts", "Calving fronts")
    model.setHelpContent({
        "ALG_DESC": (
            "Glacier change over time: detects the calving front in every scene, consolidates the "
            "fronts into one series (one front per date and sensor, good and partial fronts only) and "
            "measures the terminus position and its change along a centreline (and, optionally, with "
            "the rectilinear box method), with outliers flagged, a point per date and a plot (PNG and SVG)."
        ),
        "scenes": "Subsets of one glacier (one grid, ~50 m pixels, projected CRS in metres), 3-band "
                  "CALFIN layering or 1 grey band; the scene file names give the dates (Landsat/Sentinel ids).",
        "fjord_mask": "Optional fjord mask (Fjord-boundary mask): removes detections on the fjord walls.",
        "centreline": "Glacier centreline drawn from the fjord up the glacier (first vertex at the sea).",
        "box": "Optional rectangle across the fjord for the box method (its up-glacier end is taken from "
               "the centreline).",
        "max_rate": "Outlier threshold: fronts implying faster advance or retreat (m/day) are flagged.",
        "ALG_CREATOR": "Waterline",
    })
    _input(model, QgsProcessingParameterMultipleLayers(
        "scenes", "Scenes of one glacier", QgsProcessing.TypeRaster), 100, 80)
    _input(model, QgsProcessingParameterRasterLayer(
        "fjord_mask", "Fjord mask", optional=True), 100, 160)
    _input(model, QgsProcessingParameterFeatureSource(
        "centreline", "Glacier centreline", [QgsProcessing.TypeVectorLine]), 100, 240)
    _input(model, QgsProcessingParameterFeatureSource(
        "box", "Reference box", [QgsProcessing.TypeVectorPolygon], optional=True), 100, 320)
    _input(model, QgsProcessingParameterNumber(
        "max_rate", "Outlier threshold (m/day)", QgsProcessingParameterNumber.Double, 50.0, minValue=0.0),
        100, 400)
    _child(model, "waterline:detect_calving_fronts", "detect", "Detect calving fronts",
           {"INPUT": Source.fromModelParameter("scenes"), "FJORD_MASK": Source.fromModelParameter("fjord_mask"),
            "EDGE_THRESHOLD": Source.fromStaticValue(0.5), "MIN_CONFIDENCE": Source.fromStaticValue(0.5),
            "MIN_LENGTH": Source.fromStaticValue(1000.0), "MAX_FRONTS": Source.fromStaticValue(1),
            "INCLUDE_REJECTED": Source.fromStaticValue(False), "STATIC_EDGES": Source.fromStaticValue(True),
            "SENSOR": Source.fromStaticValue(0)},  # the model for each scene's sensor, from its name
           {"OUTPUT": "Detected fronts"}, 350, 120)
    _child(model, "waterline:consolidate_fronts", "consolidate", "Consolidate the fronts into one series",
           {"INPUT": Source.fromChildOutput("detect", "OUTPUT"),
            "QUALITY": Source.fromStaticValue(["good", "partial"]),
            "PER": Source.fromStaticValue("one front per date and sensor")},
           {"OUTPUT": "Fronts series"}, 650, 120)
    _child(model, "waterline:terminus_change", "terminus", "Terminus change",
           {"FRONTS": Source.fromChildOutput("consolidate", "OUTPUT"),
            "CENTRELINE": Source.fromModelParameter("centreline"), "BOX": Source.fromModelParameter("box"),
            "FLIP_CENTRELINE": Source.fromStaticValue(False),
            "BOX_UPGLACIER": Source.fromStaticValue("from the centreline"),
            "SERIES": Source.fromStaticValue("auto"), "MAX_RATE": Source.fromModelParameter("max_rate"),
            "UNCERTAINTY": Source.fromStaticValue(100.0)},
           {"OUTPUT": "Terminus change table", "OUTPUT_POINTS": "Terminus points",
            "OUTPUT_PNG": "Terminus plot (PNG)", "OUTPUT_SVG": "Terminus plot (SVG)"}, 950, 200)
    model.updateDestinationParameters()
    return model


def fronts_from_landsat():
    model = QgsProcessingModelAlgorithm("Calving fronts from Landsat", "Calving fronts", "Calving fronts")
    model.setHelpContent({
        "ALG_DESC": (
            "From a glacier domain to calving fronts: searches Landsat Collection 2 Level-1 scenes over "
            "the domain (USGS STAC API), downloads their panchromatic band with its QA band, subsets "
            "every scene to the domain on one grid and detects the calving front in each subset "
            "(grey subsets are layered by the detector). Needs internet access."),
        "domain": "Polygon layer with the glacier domain (the first feature is used).",
        "start": "First acquisition date (YYYY-MM-DD).",
        "end": "Last acquisition date (YYYY-MM-DD).",
        "max_cloud": "Largest scene cloud cover (%).",
        "auth": "Optional QGIS authentication configuration (Basic) with a USGS ERS login.",
        "fjord_mask": "Optional fjord mask on the subsets' grid.",
        "ALG_CREATOR": "Waterline",
    })
    _input(model, QgsProcessingParameterFeatureSource(
        "domain", "Glacier domain", [QgsProcessing.TypeVectorPolygon]), 100, 80)
    _input(model, QgsProcessingParameterString("start", "Start date", optional=True), 100, 160)
    _input(model, QgsProcessingParameterString("end", "End date", optional=True), 100, 220)
    _input(model, QgsProcessingParameterNumber(
        "max_cloud", "Maximum cloud cover (%)", QgsProcessingParameterNumber.Double, 30.0, minValue=0.0,
        maxValue=100.0), 100, 280)
    _input(model, QgsProcessingParameterAuthConfig("auth", "USGS ERS login", optional=True), 100, 340)
    _input(model, QgsProcessingParameterRasterLayer("fjord_mask", "Fjord mask", optional=True), 100, 400)
    _child(model, "waterline:search_landsat", "search", "Search Landsat over the domain",
           {"AOI": Source.fromModelParameter("domain"), "START": Source.fromModelParameter("start"),
            "END": Source.fromModelParameter("end"), "MAX_CLOUD": Source.fromModelParameter("max_cloud")},
           {"OUTPUT": "Landsat footprints"}, 350, 80)
    _child(model, "waterline:download_landsat", "download", "Download the panchromatic bands",
           {"INPUT": Source.fromChildOutput("search", "OUTPUT"), "AUTH": Source.fromModelParameter("auth")},
           {"FOLDER": "Landsat scenes", "OUTPUT": "Downloaded files"}, 600, 80)
    _child(model, "waterline:subset_scenes", "subset", "Subset the scenes to the domain",
           {"INPUTS": Source.fromChildOutput("download", "FILES"), "DOMAIN": Source.fromModelParameter("domain")},
           {"OUTPUT_FOLDER": "Subsets", "OUTPUT_TABLE": "Subset report"}, 850, 80)
    _child(model, "waterline:detect_calving_fronts", "detect", "Detect the calving fronts",
           {"FOLDER": Source.fromChildOutput("subset", "OUTPUT_FOLDER"),
            "FJORD_MASK": Source.fromModelParameter("fjord_mask"),
            "SENSOR": Source.fromStaticValue(1)},  # Landsat: the optical model, whatever the subsets are named
           {"OUTPUT": "Calving fronts", "OUTPUT_ICE": "Ice and ocean"}, 1100, 80)
    model.updateDestinationParameters()
    return model


def water_from_asf():
    # the service hosts, as the children's own defaults (advanced: folded away in the dialog)
    from waterline.plugin.engine.fetch import asf, tiles

    hosts = [
        ("cmr_host", "CMR search host", asf.CMR_HOST,
         "Advanced: the ASF search service (NASA CMR) of 'Search ASF'; keep the default."),
        ("edl_host", "Earthdata Login host", asf.EDL_HOST,
         "Advanced: the Earthdata Login service of 'Download ASF granules'; keep the default."),
        ("asf_auth_host", "ASF authentication host", asf.ASF_AUTH_HOST,
         "Advanced: ASF's download authentication service of 'Download ASF granules'; keep the "
         "default."),
        ("dem_url", "Copernicus DEM tile server", tiles.COPDEM_BASE,
         "Advanced: where 'Fetch DEM and HAND' downloads the Copernicus GLO-30 DEM tiles from; keep "
         "the default."),
        ("hand_url", "HAND tile server", tiles.HAND_BASE,
         "Advanced: where 'Fetch DEM and HAND' downloads ASF's GLO-30 HAND tiles from; keep the "
         "default."),
    ]
    model = QgsProcessingModelAlgorithm("Surface water from ASF scenes", "Surface water", "Surface water")
    model.setHelpContent({
        "ALG_DESC": (
            "From an area to a water map: searches ASF for radiometrically terrain-corrected scenes over "
            "the area (ALOS PALSAR RTC by default, as the water study used), downloads and unpacks the "
            "first one, stacks its two polarisations in dB (picked by file name from the product's "
            "GeoTIFFs), fetches the Copernicus GLO-30 DEM and ASF's HAND onto the scene's grid, and "
            "detects surface water (method auto: the threshold method for calibrated backscatter, with "
            "HAND). Needs internet access and an Earthdata login."),
        "area": "Polygon layer with the area of interest.",
        "start": "First acquisition date.",
        "end": "Last acquisition date.",
        "dataset": "ASF dataset (ALOS PALSAR or Sentinel-1).",
        "level": "Processing level: a GeoTIFF product such as RTC_HI_RES (ALOS PALSAR).",
        "polarisations": "The product's two polarisations, co-polarised first (HH,HV or VV,VH).",
        "auth": "QGIS authentication configuration (Basic) with an Earthdata login.",
        **{name: help_text for name, _, _, help_text in hosts},
        "ALG_CREATOR": "Waterline",
    })
    _input(model, QgsProcessingParameterFeatureSource(
        "area", "Area of interest", [QgsProcessing.TypeVectorPolygon]), 100, 80)
    _input(model, QgsProcessingParameterDateTime(
        "start", "Start date", QgsProcessingParameterDateTime.Date, optional=True), 100, 160)
    _input(model, QgsProcessingParameterDateTime(
        "end", "End date", QgsProcessingParameterDateTime.Date, optional=True), 100, 220)
    _input(model, QgsProcessingParameterEnum(
        "dataset", "Dataset", ["ALOS PALSAR", "Sentinel-1"], defaultValue=0), 100, 280)
    _input(model, QgsProcessingParameterString("level", "Processing level", defaultValue="RTC_HI_RES"), 100, 340)
    _input(model, QgsProcessingParameterString("polarisations", "Polarisations", defaultValue="HH,HV"), 100, 400)
    _input(model, QgsProcessingParameterAuthConfig("auth", "Earthdata login"), 100, 460)
    for i, (name, label, default, _) in enumerate(hosts):
        param = QgsProcessingParameterString(name, label, defaultValue=default, optional=True)
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        _input(model, param, 100, 540 + 60 * i)
    _child(model, "waterline:search_asf", "search", "Search ASF over the area",
           {"AOI": Source.fromModelParameter("area"), "START": Source.fromModelParameter("start"),
            "END": Source.fromModelParameter("end"), "DATASET": Source.fromModelParameter("dataset"),
            "PROCESSING_LEVEL": Source.fromModelParameter("level"), "MAX_RESULTS": Source.fromStaticValue(1),
            "CMR_HOST": Source.fromModelParameter("cmr_host")},
           {"OUTPUT": "ASF footprints"}, 350, 80)
    _child(model, "waterline:download_asf", "download", "Download and unpack the scene",
           {"INPUT": Source.fromChildOutput("search", "OUTPUT"), "AUTH": Source.fromModelParameter("auth"),
            "UNZIP": Source.fromStaticValue(True), "EDL_HOST": Source.fromModelParameter("edl_host"),
            "ASF_AUTH_HOST": Source.fromModelParameter("asf_auth_host")},
           {"FOLDER": "SAR products", "OUTPUT": "Downloaded files"}, 600, 80)
    _child(model, "waterline:build_water_stack", "stack", "Stack the polarisations in dB",
           {"SAR": Source.fromChildOutput("download", "GEOTIFFS"),
            "POLARISATIONS": Source.fromModelParameter("polarisations")},
           {"OUTPUT": "SAR stack"}, 850, 80)
    _child(model, "waterline:fetch_dem_hand", "hand", "Fetch DEM and HAND onto the scene grid",
           {"GRID": Source.fromChildOutput("stack", "OUTPUT"), "DEM_URL": Source.fromModelParameter("dem_url"),
            "HAND_URL": Source.fromModelParameter("hand_url")},
           {"OUTPUT_DEM": "DEM", "OUTPUT_HAND": "HAND"}, 850, 240)
    _child(model, "waterline:detect_water", "detect", "Detect surface water",
           {"INPUT": Source.fromChildOutput("stack", "OUTPUT"), "HAND": Source.fromChildOutput("hand", "OUTPUT_HAND")},
           {"OUTPUT_MASK": "Water mask", "OUTPUT_PROB": "Water likelihood", "OUTPUT_POLYGONS": "Water polygons"},
           1100, 80)
    model.updateDestinationParameters()
    return model


# file name -> builder. The model's name is what the toolbox shows and the second half of its
# id (waterline:<name>); the file name stays a plain word.
MODEL_BUILDERS = {"calfin_preprocessing": calfin_preprocessing, "glacier_change": glacier_change,
                  "fronts_from_landsat": fronts_from_landsat, "water_from_asf": water_from_asf}


def main():
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.insert(0, str(ROOT / "build" / "qgis-profile" / "profiles" / "default" / "python" / "plugins"))
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    from waterline.processing_provider.provider import register

    Processing.initialize()
    register()
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else MODELS
    folder.mkdir(parents=True, exist_ok=True)
    for stem, build in MODEL_BUILDERS.items():
        model = build()
        path = folder / f"{stem}.model3"
        if not model.toFile(str(path)):
            raise SystemExit(f"could not write {path}")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
