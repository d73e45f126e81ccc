"""Listing a data folder: linked folders followed (without looping), hidden files left out."""

from __future__ import annotations

import os

import pytest

from linecheck.image_files import list_files, list_images


def test_images_under_a_linked_folder_are_listed(tmp_path):
    shared = tmp_path / "nas" / "roll-a"
    shared.mkdir(parents=True)
    (shared / "0001.png").write_bytes(b"x")
    data = tmp_path / "data"
    (data / "local").mkdir(parents=True)
    (data / "local" / "0002.jpg").write_bytes(b"x")
    os.symlink(shared, data / "roll-a")
    assert list_images(data) == [data / "local" / "0002.jpg", data / "roll-a" / "0001.png"]


def test_a_link_back_up_the_tree_is_not_walked_twice(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.png").write_bytes(b"x")
    os.symlink(data, data / "sub" / "loop")
    assert list_files(data) == [data / "sub" / "a.png"]


def test_hidden_files_and_folders_and_non_images_are_left_out(tmp_path):
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "a.png").write_bytes(b"x")
    (tmp_path / "._b.png").write_bytes(b"x")  # a macOS resource fork copied with the set
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert list_images(tmp_path) == [tmp_path / "b.png"]
    assert list_files(tmp_path) == [tmp_path / "b.png", tmp_path / "notes.txt"]


@pytest.mark.parametrize("missing", ["absent", "file.png"])
def test_a_missing_folder_lists_nothing(tmp_path, missing):
    (tmp_path / "file.png").write_bytes(b"x")
    assert list_files(tmp_path / missing) == []
