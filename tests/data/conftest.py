"""Fixtures of the data tests."""

import pytest

import tiny_datasets


@pytest.fixture
def tiny_folder(tmp_path) -> str:
  return tiny_datasets.folder_dataset(tmp_path / "ds")
