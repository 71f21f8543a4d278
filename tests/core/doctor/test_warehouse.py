"""The warehouse root: a real write through the atomic path, removed after; disk space."""

from __future__ import annotations

from threadx_core.doctor.report import Status
from threadx_core.doctor.warehouse import check_disk, warehouse_checks


def test_a_writable_root_is_ok_and_the_probe_file_is_gone(tmp_path):
    root = tmp_path / "wh"
    root.mkdir()
    (root / "raw_1m").mkdir()
    disk, write = warehouse_checks(root)
    assert disk.status is Status.OK and "GiB free at" in disk.detail
    assert write.status is Status.OK and write.detail == f"{root} writable"
    assert [p.name for p in root.iterdir()] == ["raw_1m"]  # nothing left: no probe, no temp file


def test_a_missing_root_is_created_and_a_root_under_a_file_is_an_error(tmp_path):
    _, created = warehouse_checks(tmp_path / "new" / "wh")
    assert created.status is Status.OK and created.detail.endswith("(the root did not exist: created)")
    assert list((tmp_path / "new" / "wh").iterdir()) == []
    (tmp_path / "plain").write_text("not a folder")
    disk, write = warehouse_checks(tmp_path / "plain" / "wh")
    assert disk.status is Status.OK and f"at {tmp_path}" in disk.detail  # the nearest folder's disk
    assert write.status is Status.ERROR
    assert write.detail.startswith(f"cannot write in {tmp_path / 'plain' / 'wh'}")


def test_disk_space_is_read_from_the_nearest_existing_folder(tmp_path):
    check = check_disk(tmp_path / "a" / "b")
    assert check.name == "warehouse disk" and check.detail.endswith(f"GiB free at {tmp_path}")
