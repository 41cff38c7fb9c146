"""``read_image`` decompresses a NIfTI file once and builds the image itself: it must give
exactly what ITK's reader gives (values, pixel type, geometry from qform/sform, header
metadata), and still refuse truncated or corrupt files."""

from __future__ import annotations

import gzip
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import read_image
from radiomics_hnc.validate import check_patient_images
from tests.real_data import STS_DATA, require

#: Entries ITK's reader adds that Python only sees as a placeholder (see ``read_image``).
_READER_ONLY_KEYS = {"ITK_original_direction", "ITK_original_spacing"}


def assert_same_image(ours: sitk.Image, itk: sitk.Image) -> None:
    assert ours.GetPixelIDTypeAsString() == itk.GetPixelIDTypeAsString()
    assert ours.GetSize() == itk.GetSize()
    assert ours.GetSpacing() == itk.GetSpacing()
    assert ours.GetOrigin() == itk.GetOrigin()
    assert ours.GetDirection() == itk.GetDirection()
    keys = set(itk.GetMetaDataKeys()) - _READER_ONLY_KEYS
    assert set(ours.GetMetaDataKeys()) - _READER_ONLY_KEYS == keys
    assert {k: ours.GetMetaData(k) for k in keys} == {k: itk.GetMetaData(k) for k in keys}
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(ours),
                                  sitk.GetArrayViewFromImage(itk))


def _oblique_image(dtype: str) -> sitk.Image:
    rng = np.random.default_rng(3)
    image = sitk.GetImageFromArray((rng.random((5, 6, 7)) * 100).astype(dtype))
    image.SetSpacing((0.8, 1.3, 2.5))
    image.SetOrigin((-12.5, 30.25, 7.0))
    rotation = sitk.Euler3DTransform((0, 0, 0), 0.3, -0.2, 0.5)
    image.SetDirection(rotation.GetMatrix())
    return image


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_read_image_gives_what_itk_reads(tmp_path, dtype, suffix):
    path = tmp_path / f"image{suffix}"
    sitk.WriteImage(_oblique_image(dtype), str(path))
    assert_same_image(read_image(path), sitk.ReadImage(str(path)))
    if dtype == "uint8":  # another pixel type asked for: ITK's conversion
        assert_same_image(read_image(path, pixel_type=sitk.sitkFloat32),
                          sitk.ReadImage(str(path), sitk.sitkFloat32))


def _with_scaling(path, slope: float, inter: float) -> None:
    """Set a NIfTI-1 file's scl_slope and scl_inter (bytes 112-119)."""
    data = bytearray(path.read_bytes())
    data[112:120] = struct.pack("<2f", slope, inter)
    path.write_bytes(bytes(data))


def test_scaled_nifti_is_read_with_itk_scaling(tmp_path):
    path = tmp_path / "scaled.nii"
    sitk.WriteImage(_oblique_image("int16"), str(path))
    _with_scaling(path, 2.0, -5.0)
    itk = sitk.ReadImage(str(path))
    assert itk.GetPixelID() == sitk.sitkFloat32  # ITK applies the scaling
    assert_same_image(read_image(path), itk)


def test_vox_offset_inside_the_header_is_read_as_itk_reads_it(tmp_path):
    """niftilib reads the voxels from just after the header when vox_offset is below it."""
    path = tmp_path / "offset.nii"
    sitk.WriteImage(_oblique_image("int16"), str(path))
    data = bytearray(path.read_bytes())
    data[108:112] = struct.pack("<f", 0.0)
    path.write_bytes(bytes(data))
    assert_same_image(read_image(path), sitk.ReadImage(str(path)))


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_is_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / "CT.nii.gz"
    sitk.WriteImage(_oblique_image("int16"), str(path))
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] if damage == "truncated"
                     else data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 40])
                     + data[middle + 40:])
    with pytest.raises(InputDataError, match=r"patient CHUM-001, file .*CT\.nii\.gz: "
                       "compressed image is truncated or corrupt"):
        read_image(path, "CHUM-001")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_with_fewer_voxels_than_its_header_is_refused(tmp_path, suffix):
    """A complete stream holding too few voxels: ITK fills the rest with zeros."""
    image = tmp_path / "whole.nii"
    sitk.WriteImage(_oblique_image("int16"), str(image))
    path = tmp_path / f"short{suffix}"
    short = image.read_bytes()[:-100]
    path.write_bytes(gzip.compress(short) if suffix == ".nii.gz" else short)
    with pytest.raises(InputDataError, match=r"patient CHUM-001, file .*short\.nii.*: image is "
                       "truncated: its header describes 420 bytes of voxels, the file holds 320"):
        read_image(path, "CHUM-001")
    findings = [f for f in check_patient_images({"patient_id": "CHUM-001", "ct_path": str(path)})
                if f.check == "unreadable_file"]
    assert len(findings) == 1 and "image is truncated" in findings[0].describe()


def test_real_pet_ct_images_read_as_itk_reads_them():
    patient = sorted(require(STS_DATA, "STS PET/CT patients").glob("STS_*"))[0]
    files = sorted(patient.glob("*.nii*"))
    assert files
    for path in files:
        assert_same_image(read_image(path), sitk.ReadImage(str(path)))


def test_decompression_bomb_is_refused_before_it_fills_memory(tmp_path):
    """A small .nii.gz whose stream inflates far beyond what its header describes (a 1000-voxel
    image followed by 64 MB of zeros, 64 kB compressed) is refused, and so is a header that
    describes more voxels than any PET/CT volume: neither is decompressed whole."""
    small = tmp_path / "small.nii"
    sitk.WriteImage(sitk.Image(10, 10, 10, sitk.sitkUInt8), str(small))
    bomb = tmp_path / "bomb.nii.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        handle.write(small.read_bytes())
        for _ in range(64):
            handle.write(bytes(1 << 20))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(InputDataError, match=r"beyond the .* its header describes"):
        read_image(bomb, "P1")
    huge = bytearray(small.read_bytes())
    huge[40:56] = struct.pack("<8h", 3, 30000, 30000, 30000, 1, 1, 1, 1)
    claimed = tmp_path / "huge.nii.gz"
    claimed.write_bytes(gzip.compress(bytes(huge)))
    with pytest.raises(InputDataError, match=r"header describes .* bytes, more than"):
        read_image(claimed, "P1")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_plain_nifti_is_decompressed_into_the_image_without_itk_reading_it(
        tmp_path, monkeypatch, suffix):
    path = tmp_path / f"image{suffix}"
    sitk.WriteImage(_oblique_image("int16"), str(path))
    itk = sitk.ReadImage(str(path))

    def itk_reader_not_expected(*args):
        raise AssertionError("ITK's reader read a plain NIfTI file")

    monkeypatch.setattr(sitk, "ReadImage", itk_reader_not_expected)
    assert_same_image(read_image(path), itk)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_voxels_after_a_long_header_extension_are_read_as_itk_reads_them(tmp_path, suffix):
    """A 1 kB header extension (a comment) between the header and the voxels is skipped."""
    plain = tmp_path / "plain.nii"
    sitk.WriteImage(_oblique_image("int16"), str(plain))
    data = plain.read_bytes()
    extension = struct.pack("<2i", 1008, 6) + b"x" * 1000
    extended = bytearray(data[:348] + b"\x01\0\0\0" + extension + data[352:])
    extended[108:112] = struct.pack("<f", 352 + len(extension))
    path = tmp_path / f"extended{suffix}"
    path.write_bytes(gzip.compress(bytes(extended)) if suffix == ".nii.gz" else bytes(extended))
    assert_same_image(read_image(path), sitk.ReadImage(str(path)))


def test_simpleitk_view_that_is_not_the_image_buffer_sends_the_file_to_itk(
        tmp_path, monkeypatch):
    """The voxels are written at the address of SimpleITK's read-only view of the image buffer;
    should a SimpleITK version hand out a copy instead, the image would stay zero: ITK's reader
    reads the file then."""
    path = tmp_path / "image.nii.gz"
    sitk.WriteImage(_oblique_image("float32"), str(path))
    view = sitk.GetArrayViewFromImage
    monkeypatch.setattr(sitk, "GetArrayViewFromImage", lambda image: view(image).copy())
    assert_same_image(read_image(path), sitk.ReadImage(str(path)))


_PEAK_MEMORY_SCRIPT = """
import resource, sys
from radiomics_hnc.errors import InputDataError
from radiomics_hnc.io import read_image
for path in sys.argv[1:]:
    try:
        read_image(path)
    except InputDataError as exc:
        print(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "MB")
"""


def test_header_describing_more_than_the_file_holds_allocates_nothing_that_large(tmp_path):
    """A damaged or hostile header describing a 2 GiB image in a small file is refused as
    before, without a 2 GiB image being allocated for it: a .nii shorter than that, a .gz whose
    trailer gives another size, or one too small to inflate to it (trailer forged)."""
    voxels = np.random.default_rng(5).integers(0, 256, 2_200_000, dtype=np.uint8)
    image = tmp_path / "whole.nii"
    sitk.WriteImage(sitk.GetImageFromArray(voxels.reshape(22, 100, 1000)), str(image))
    header = bytearray(image.read_bytes())
    header[40:56] = struct.pack("<8h", 3, 1024, 1024, 1024, 1, 1, 1, 1)
    header[70:74] = struct.pack("<2h", 4, 16)  # int16: 2 GiB of voxels
    short, damaged, forged = (tmp_path / name for name in ("short.nii", "damaged.nii.gz",
                                                          "forged.nii.gz"))
    short.write_bytes(bytes(header))
    damaged.write_bytes(gzip.compress(bytes(header), compresslevel=1))
    assert damaged.stat().st_size * 1032 > 2 << 30  # large enough to inflate to 2 GiB
    small = gzip.compress(bytes(header[:400_000]))  # ITK checks the trailer of a smaller one
    forged.write_bytes(small[:-4] + struct.pack("<I", (352 + (2 << 30)) & 0xFFFFFFFF))
    run = subprocess.run([sys.executable, "-c", _PEAK_MEMORY_SCRIPT, str(short), str(damaged),
                          str(forged)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])
    lines = run.stdout.splitlines()
    assert re.search(r"short\.nii: image is truncated: its header describes 2147483648 bytes",
                     lines[0])
    assert re.search(r"damaged\.nii\.gz: image is truncated: its header describes", lines[1])
    assert re.search(r"forged\.nii\.gz: compressed image is truncated or corrupt", lines[2])
    assert int(lines[3].split()[0]) < 1024, run.stdout
