"""User ids become folder names, so the layout refuses any id that could leave the export root."""

import pytest

from sylo.export_layout import ExportLayout


@pytest.mark.parametrize("user_id", ["u_ana", "studio-1", "A" * 100])
def test_plain_ids_name_a_folder_under_the_root(tmp_path, user_id):
    assert ExportLayout(tmp_path).user_dir(user_id) == tmp_path / user_id


@pytest.mark.parametrize("user_id", ["u_ana\n", "../u_ana", "u_ana/..", "", "-lead", "A" * 101, "u ana", "u_ana\x00"])
def test_ids_that_are_not_plain_are_refused(tmp_path, user_id):
    with pytest.raises(ValueError, match="not a valid user id"):
        ExportLayout(tmp_path).user_dir(user_id)


def test_only_plain_folders_count_as_users(tmp_path):
    for name in ("u_ana", "u_ben", ".tmp-export"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert ExportLayout(tmp_path).users() == ["u_ana", "u_ben"]
