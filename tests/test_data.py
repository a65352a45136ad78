import shutil

import pytest

from memlab import data

GENERATORS = data.generators()


def test_shipped_data_matches_manifest():
    assert GENERATORS, "no generated data files registered"
    assert data.verify() == []


def test_regeneration_is_byte_identical(tmp_path):
    sums = data.regenerate(tmp_path)
    for name in GENERATORS:
        assert (tmp_path / name).read_bytes() == (data.DATA_DIR / name).read_bytes(), name
    assert (tmp_path / "SHA256SUMS").read_text() == data.MANIFEST.read_text()
    assert (tmp_path / "README.md").read_text() == (data.DATA_DIR / "README.md").read_text()
    assert set(sums) == set(GENERATORS)


def test_data_readme_names_every_file():
    readme = (data.DATA_DIR / "README.md").read_text()
    for name, gen in GENERATORS.items():
        assert name in readme, f"data/README.md does not describe {name}"


def test_corrupt_and_missing_files_get_clear_errors(tmp_path):
    shutil.copytree(data.DATA_DIR, tmp_path / "d")
    d = tmp_path / "d"
    name = next(iter(GENERATORS))
    raw = bytearray((d / name).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (d / name).write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match=f"{name} is corrupt.*memlab data regenerate"):
        data.load_path(name, d)
    assert any("corrupt" in p for p in data.verify(d))
    (d / name).unlink()
    with pytest.raises(data.DataError, match="missing"):
        data.load_path(name, d)
    with pytest.raises(data.DataError, match="not in"):
        data.load_path("nope.json", d)
    (d / "SHA256SUMS").write_text("garbage line\n")
    with pytest.raises(data.DataError, match="is not '<sha256>  <file>'"):
        data.load_path(name, d)
