"""Engine tests for outputs that never destroy data (no QGIS)."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from plugin.engine.core import outputs


def test_check_outputs_refuses_an_input_even_through_a_link(tmp_path):
    src = tmp_path / "scene.tif"
    src.write_bytes(b"data")
    link = tmp_path / "link.tif"
    link.symlink_to(src)
    with pytest.raises(ValueError, match="is one of this run's inputs"):
        outputs.check_outputs([src], [link])
    outputs.check_outputs([src], [tmp_path / "other.tif"])  # a new name is fine


def test_check_outputs_refuses_a_folder_that_would_reuse_input_names(tmp_path):
    src = tmp_path / "scenes" / "LC08_a.tif"
    src.parent.mkdir()
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match="holds the input LC08_a.tif"):
        outputs.check_outputs([src], [], folder_outputs=[src.parent])
    outputs.check_outputs([src], [], folder_outputs=[tmp_path / "subsets"])


def test_atomic_output_replaces_stale_sidecars_and_keeps_nothing_on_failure(tmp_path):
    out = tmp_path / "new" / "deeper" / "mask.tif"
    with pytest.raises(RuntimeError):
        with outputs.atomic_output(out) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("disk full")
    assert not (tmp_path / "new").exists()  # the folders it created are gone too
    out.parent.mkdir(parents=True)
    out.write_text("old")
    (tmp_path / "new" / "deeper" / "mask.tif.aux.xml").write_text("old statistics")
    with outputs.atomic_output(out) as tmp:
        open(tmp, "w").write("new")
    assert out.read_text() == "new"
    assert sorted(os.listdir(out.parent)) == ["mask.tif"]


def test_staging_moves_all_outputs_or_none(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.gpkg"
    with pytest.raises(ValueError):
        with outputs.Staging() as staging:
            open(staging.path(a), "w").write("a")
            staging.path(b)
            raise ValueError("the second output failed")
    assert os.listdir(tmp_path) == []
    with outputs.Staging() as staging:
        open(staging.path(a), "w").write("a")
        open(staging.path(b), "w").write("b")
    assert sorted(os.listdir(tmp_path)) == ["a.tif", "b.gpkg"]


def test_partials_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    # A process that died leaves its temporary file (its pid is in the name) ...
    code = ("import sys; sys.path.insert(0, %r); from plugin.engine.core import outputs; "
            "print(outputs.partial_name(%r))" % (os.getcwd(), str(tmp_path / "prob.tif")))
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    open(dead, "w").write("half")
    live = outputs.partial_name(tmp_path / "other.tif")  # ... a live one (this process) is kept
    open(live, "w").write("being written")
    with outputs.atomic_output(tmp_path / "prob.tif") as tmp:
        open(tmp, "w").write("done")
    assert sorted(os.listdir(tmp_path)) == sorted(["prob.tif", os.path.basename(live)])


def test_check_writable_as_a_user_without_write_permission(tmp_path):
    outputs.check_writable(tmp_path / "new" / "x.csv")
    base = tempfile.mkdtemp()  # pytest's tmp_path sits in a folder only root may enter
    os.chmod(base, 0o755)
    locked = pathlib.Path(base) / "locked"
    locked.mkdir(mode=0o555)
    code = ("import sys; sys.path.insert(0, %r); from plugin.engine.core import outputs\n"
            "try:\n    outputs.check_writable(%r)\nexcept ValueError as e:\n    print(e)" % (os.getcwd(), str(locked / "x.csv")))
    # Root may write anywhere: run the check as an unprivileged user, as a QGIS user would be.
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    out = subprocess.run(prefix + [sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"the folder {locked} is not writable" in out
    shutil.rmtree(base)


def test_a_staged_folder_adds_its_files_to_an_existing_folder(tmp_path):
    folder = tmp_path / "qa"
    folder.mkdir()
    (folder / "mine.txt").write_text("the user's own file")
    (folder / "a_qa.png").write_text("old")
    (folder / "a_qa.png.aux.xml").write_text("stale")
    with outputs.Staging() as staging:
        tmp = staging.path(folder, folder=True)
        (pathlib.Path(tmp) / "a_qa.png").write_text("new")
        (pathlib.Path(tmp) / "b_qa.png").write_text("new")
    assert sorted(os.listdir(folder)) == ["a_qa.png", "b_qa.png", "mine.txt"]
    assert (folder / "a_qa.png").read_text() == "new"
    assert (folder / "mine.txt").read_text() == "the user's own file"
