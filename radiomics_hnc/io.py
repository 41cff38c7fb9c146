"""Workspace file I/O: atomic writes, provenance metadata, and image reading with clear errors.

Every table a stage writes goes through :func:`write_parquet`, so an interrupted run never
leaves a truncated file and every file says which software and settings made it.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import SimpleITK as sitk
from zlib_ng import gzip_ng, zlib_ng

from radiomics_hnc import __version__
from radiomics_hnc.errors import InputDataError

PROVENANCE_KEY = b"radiomics_hnc"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _make_readable(tmp_path)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _make_readable(path: Path) -> None:
    """Give a temporary file the permissions of a normally created one (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def text_sha256(text: str | bytes) -> str:
    """SHA-256 of a string or bytes (hex); used to fingerprint configs and settings."""
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def provenance(config_hash: str | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance stored in every workspace file: versions, config hash, creation time."""
    try:
        import radiomics

        pyradiomics_version = str(radiomics.__version__)
    except ImportError:  # pragma: no cover - pyradiomics is a hard dependency
        pyradiomics_version = None
    record: dict[str, Any] = {
        "package": "radiomics-hnc",
        "package_version": __version__,
        "pyradiomics_version": pyradiomics_version,
        "config_sha256": config_hash,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    record.update(extra)
    return record


def write_parquet(
    frame: pd.DataFrame, path: str | Path, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``frame`` atomically to ``path`` with provenance in the schema metadata."""
    table = _with_provenance(pa.Table.from_pandas(frame, preserve_index=False), metadata)
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def write_arrow(table: pa.Table, path: str | Path,
                metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``table`` atomically as an Arrow IPC file with provenance in the schema metadata.

    For internal per-patient files (extraction cache): a row of 2268 feature columns is written
    and read back ~15 times faster than as parquet, which encodes and describes every column
    chunk. The tables users read stay parquet.
    """
    table = _with_provenance(table, metadata)
    path = Path(path)
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, \
            pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def read_arrow(path: str | Path) -> pa.Table:
    """The table of an Arrow IPC file written by :func:`write_arrow`, its structure checked
    (a file damaged there raises ``pyarrow.ArrowInvalid``; the format has no checksum, so a
    changed value inside a column is not seen)."""
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    table.validate(full=True)
    return table


def _with_provenance(table: pa.Table, metadata: Mapping[str, Any] | None) -> pa.Table:
    record = dict(metadata) if metadata is not None else provenance()
    merged = dict(table.schema.metadata or {})
    merged[PROVENANCE_KEY] = json.dumps(record, default=str).encode()
    return table.replace_schema_metadata(merged)


#: First characters that make a spreadsheet read a text cell as a formula (OWASP, "CSV
#: injection"): such cells get a leading single quote, which spreadsheets show as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula.

    Numbers stay numbers, and so does text that is a plain number ("-0.5"): a spreadsheet
    reads it as that number, never as a formula.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_TRIGGERS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` atomically as a CSV for spreadsheets (no index), every text cell and
    column name passed through :func:`neutralise_formula`: CSVs go to people who open them in
    Excel, and patient ids, clinical values and feature names come from users' files."""
    safe = frame.rename(columns=neutralise_formula)
    for column in range(safe.shape[1]):
        values = safe.iloc[:, column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(
                values)):
            safe.isetitem(column, values.astype(object).map(neutralise_formula))
    path = Path(path)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False)
    return path


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance record of a parquet file written by :func:`write_parquet` or an Arrow
    file written by :func:`write_arrow` (empty if none)."""
    if Path(path).suffix == ".arrow":
        with pa.OSFile(str(path), "rb") as source:
            return schema_provenance(pa.ipc.open_file(source).schema)
    return schema_provenance(pq.read_schema(path))


def schema_provenance(schema: pa.Schema) -> dict[str, Any]:
    """The provenance record in a table's schema metadata (empty if none)."""
    raw = (schema.metadata or {}).get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}


def write_json(data: Any, path: str | Path) -> Path:
    """Write JSON atomically (indented, keys in insertion order)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def write_image(image: sitk.Image, path: str | Path, compress: bool = True) -> Path:
    """Write a SimpleITK image atomically (the temporary name keeps the .nii.gz suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".nii.gz")
    os.close(fd)
    try:
        sitk.WriteImage(image, tmp, compress)
        _make_readable(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_image(
    path: str | Path, patient_id: str | None = None, pixel_type: int | None = None
) -> sitk.Image:
    """Read a medical image with the values its file holds, or raise an error naming patient
    and file.

    Two silent failures of ITK's NIfTI reader are caught here, for every stage: a truncated
    ``.nii.gz`` is filled with zeros (so the compressed stream is read to its end first), and
    NaN or infinite voxels of float data are replaced by 0 (niftilib's ``nifti_read_buffer``
    does this whatever pixel type is asked for), which turns a corrupt image into a plausible
    one. A NIfTI file is decompressed once, here: a plain one (3-D, one component, unscaled,
    little-endian, the pixel type ITK would give) straight into the image, which gets ITK's
    own header geometry; any other goes to ITK's reader, with the NaN/inf voxels it zeroes put
    back, so that validation can count and refuse them.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(
            "image file not found", patient_id=patient_id, path=path,
            hint="check the dataset folder or rerun discover",
        )
    image, contents, layout = _read_nifti(path, patient_id, pixel_type)
    if image is not None:
        return image
    non_finite = _non_finite_voxels(contents, layout)
    del contents  # ITK reads the file again: do not hold both copies
    try:
        image = sitk.ReadImage(str(path)) if pixel_type is None else sitk.ReadImage(
            str(path), pixel_type)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise InputDataError(
            f"image could not be decoded ({first_line})", patient_id=patient_id, path=path,
            hint="the file is truncated or not a NIfTI/MHA image; re-export or re-download it",
        ) from exc
    if non_finite is not None and non_finite.positions.size:
        image = _restore_non_finite(image, non_finite, path, patient_id)
    return image


#: NIfTI datatype codes -> numpy kinds (complex, RGB and long double are left to ITK).
_NIFTI_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2",
                 768: "u4", 1024: "i8", 1280: "u8"}
_NIFTI2_HEADER_BYTES = 540


@dataclass(frozen=True)
class _NiftiLayout:
    """Where and how a NIfTI-1/2 header says its voxels are stored (None dtype: a type ITK
    converts; single_file False: the voxels may be in a separate .img, or vox_offset points
    inside the header, which niftilib reads as "just after it")."""

    dtype: np.dtype | None
    data_offset: int
    slope: float
    inter: float
    single_file: bool
    #: Header, extensions and voxels (vox_offset + voxels x bitpix / 8); None for dimensions
    #: ITK refuses or interprets itself.
    total_bytes: int | None

    @property
    def unscaled(self) -> bool:
        """True when ITK applies no scl_slope/scl_inter (slope 0 means none in NIfTI)."""
        return self.slope in (0.0, 1.0) and self.inter == 0.0


@dataclass
class _FloatVoxelScan:
    """Where a NIfTI file's float data is NaN or infinite: flat indices in file order, values."""

    slope: float
    inter: float
    positions: np.ndarray
    values: np.ndarray


def _nifti_layout(head: bytes) -> _NiftiLayout | None:
    """The voxel layout a NIfTI-1/2 header (the first bytes of the file) describes, else
    None."""
    if len(head) < 348:
        return None
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348:  # NIfTI-1: dim at 40, datatype 70, bitpix 72, vox_offset 108, scl 112
            dims = struct.unpack(order + "8h", head[40:56])
            code, bitpix = struct.unpack(order + "2h", head[70:74])
            offset, slope, inter = struct.unpack(order + "3f", head[108:120])
            single_file = head[344:348] == b"n+1\0" and offset >= 352
            break
        if size == _NIFTI2_HEADER_BYTES and len(head) >= size:  # NIfTI-2
            code, bitpix = struct.unpack(order + "2h", head[12:16])
            dims = struct.unpack(order + "8q", head[16:80])
            offset, slope, inter = struct.unpack(order + "q2d", head[168:192])
            single_file = head[4:8] == b"n+2\0" and offset >= _NIFTI2_HEADER_BYTES + 4
            break
    else:
        return None
    kind = _NIFTI_DTYPES.get(code)
    return _NiftiLayout(None if kind is None else np.dtype(order + kind), int(offset),
                        float(slope), float(inter), single_file,
                        _total_bytes(dims, bitpix, int(offset)))


def _total_bytes(dims: tuple[int, ...], bitpix: int, offset: int) -> int | None:
    """vox_offset + voxels x bitpix / 8, or None for a rank, dimension or bitpix ITK refuses or
    interprets itself."""
    rank = dims[0]
    if not 1 <= rank <= 7 or any(d < 1 for d in dims[1:rank + 1]) or bitpix < 1:
        return None
    voxels = 1
    for d in dims[1:rank + 1]:
        voxels *= int(d)
    return max(offset, 348) + voxels * bitpix // 8


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith((".nii", ".nii.gz"))


#: Largest voxel payload a NIfTI header may describe (4 GiB: a 1024 x 1024 x 1000 float32
#: volume; HECKTOR's largest CT is 512 x 512 x ~300 int16, 160 MB). A header describing more is
#: refused before any voxel is decompressed.
MAX_IMAGE_BYTES = 4 << 30
#: Decompressed bytes accepted after the voxels a NIfTI header describes (extensions are in
#: front of the voxels, so a real file has none); more is a damaged or hostile file.
MAX_TRAILING_BYTES = 1 << 20
_CHUNK = 1 << 20


#: Bytes read before the header is parsed: a NIfTI-2 header and its extension flag.
_HEAD_BYTES = _NIFTI2_HEADER_BYTES + 4


def _read_nifti(path: Path, patient_id: str | None, pixel_type: int | None
                ) -> tuple[sitk.Image | None, bytes | None, _NiftiLayout | None]:
    """Read a NIfTI file once: the image itself when it is plain (see :func:`read_image`), else
    the file's bytes and layout, for ITK's reader and the NaN/inf scan; (None, None, None) for
    other files, left to ITK.

    A plain image is allocated once and its voxels are decompressed straight into its buffer.
    zlib-ng inflates about twice as fast as the standard library's zlib, as fast as ITK's own
    reader: this single decompression replaces ITK's. The stream is read to its end (the gzip
    checksum is verified there), but never beyond what the NIfTI header describes plus
    :data:`MAX_TRAILING_BYTES`, so a small file that inflates to tens of gigabytes (a
    decompression bomb) is refused instead of filling the worker's memory; a ``.gz`` that is
    not NIfTI is only checked, in chunks, and left to ITK.

    Raises :class:`InputDataError` when the stream is truncated or corrupt, or when the file
    holds fewer voxel bytes than its header describes (ITK would fill the rest with zeros).
    """
    compressed, nifti = path.name.lower().endswith(".gz"), _is_nifti(path)
    if not (compressed or nifti):
        return None, None, None
    try:
        with gzip_ng.open(path, "rb") if compressed else open(path, "rb") as stream:
            head = stream.read(_HEAD_BYTES)
            layout = _nifti_layout(head) if nifti else None
            expected = layout.total_bytes if layout is not None else None
            if layout is None or expected is None:
                if compressed:
                    _read_to_end(stream, None, path, patient_id)
                return None, None, None
            if expected > MAX_IMAGE_BYTES + _HEAD_BYTES:
                raise InputDataError(
                    f"image header describes {expected} bytes, more than the "
                    f"{MAX_IMAGE_BYTES} this package reads", patient_id=patient_id, path=path,
                    hint="the header is damaged; re-export the image")
            reader = (_header_reader(path) if layout.dtype is not None and layout.single_file
                      else None)
            image = (_blank_image(reader, layout, pixel_type)
                     if reader is not None and _can_hold(path, compressed, expected) else None)
            memory = _voxel_memory(image) if image is not None else None
            if memory is None:  # not plain: the bytes, for ITK's reader and the NaN/inf scan
                image, contents = None, head + stream.read(max(expected - len(head), 0))
                held = len(contents)
            else:
                contents = None
                held = layout.data_offset + _fill(stream, head, layout.data_offset, memory)
            if compressed:
                _read_to_end(stream, expected, path, patient_id)
    except (OSError, EOFError, zlib.error, zlib_ng.error) as exc:
        if not compressed:
            raise
        raise InputDataError(
            f"compressed image is truncated or corrupt ({exc})", patient_id=patient_id,
            path=path, hint="the file was cut short (interrupted copy?); copy it again",
        ) from exc
    needed = _voxel_bytes(reader, layout) if reader is not None else 0
    if held - layout.data_offset < needed:
        raise InputDataError(
            f"image is truncated: its header describes {needed} bytes of voxels, the file "
            f"holds {max(held - layout.data_offset, 0)}", patient_id=patient_id, path=path,
            hint="the file was cut short (interrupted copy?); copy it again",
        )
    return image, contents, layout


#: Deflate's largest compression ratio (a 258-byte match in under 2 bits, RFC 1951).
_MAX_DEFLATE_RATIO = 1032


def _can_hold(path: Path, compressed: bool, total_bytes: int) -> bool:
    """Whether ``path`` may hold the ``total_bytes`` its header describes, checked before an
    image that large is allocated (and zero-filled) for it, so that a damaged or hostile header
    cannot make a small file take gigabytes of memory: a ``.nii`` must be that long; a ``.gz``
    must give that size in its gzip trailer (ISIZE, the size modulo 2**32) and be large enough
    to inflate to it (a file of several gzip members, or with bytes after the voxels, does
    not). Other files are read as bytes, as far as they go."""
    size = path.stat().st_size
    if not compressed:
        return size >= total_bytes
    with open(path, "rb") as raw:
        raw.seek(-4, os.SEEK_END)
        (isize,) = struct.unpack("<I", raw.read(4))
    return isize == total_bytes % (1 << 32) and total_bytes <= size * _MAX_DEFLATE_RATIO


def _fill(stream: BinaryIO, head: bytes, start: int, memory: np.ndarray) -> int:
    """Copy a file's bytes from offset ``start`` on into ``memory``: those already in ``head``,
    then the rest from ``stream``, a chunk at a time (no full-size intermediate copy); the
    number copied, fewer than the size of ``memory`` where the file ends first."""
    with memoryview(memory) as view:
        from_head = head[start:start + len(view)]
        view[:len(from_head)] = from_head
        filled = len(from_head)
        if start > len(head):  # header extensions longer than ``head``: skip them
            stream.seek(start)
        while filled < len(view) and (count := stream.readinto(view[filled:filled + _CHUNK])):
            filled += count
    return filled


def _read_to_end(stream: BinaryIO, expected: int | None, path: Path,
                 patient_id: str | None) -> None:
    """Read the rest of a gzip stream, in chunks, so that its checksum is verified; for a NIfTI
    file (``expected`` bytes described), refuse more than :data:`MAX_TRAILING_BYTES`."""
    trailing = 0
    while chunk := stream.read(_CHUNK):
        trailing += len(chunk)
        if expected is not None and trailing > MAX_TRAILING_BYTES:
            raise InputDataError(
                f"image holds more than {MAX_TRAILING_BYTES} bytes beyond the "
                f"{expected} its header describes", patient_id=patient_id, path=path,
                hint="the file is damaged or not what its header says; re-export it")


def _header_reader(path: Path) -> sitk.ImageFileReader | None:
    """ITK's reader of ``path`` after reading its header (size, pixel type, geometry,
    metadata), or None where ITK cannot read that header."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    return reader


def _voxel_bytes(reader: sitk.ImageFileReader, layout: _NiftiLayout) -> int:
    """Bytes of voxel data ITK reads for the header ``reader`` has read."""
    return math.prod(reader.GetSize()) * reader.GetNumberOfComponents() * layout.dtype.itemsize


def _blank_image(reader: sitk.ImageFileReader, layout: _NiftiLayout,
                 pixel_type: int | None) -> sitk.Image | None:
    """A zero image to decompress a plain NIfTI file into (3-D, one component, unscaled,
    little-endian, stored as the pixel type ITK gives, the one asked for if any, and as many
    voxel bytes as the header's bitpix says), with the geometry and header metadata of ITK's
    header reading, so qform/sform are ITK's (only the reader's ITK_original_direction/spacing
    entries, which Python sees as "[UNKNOWN_PRINT_CHARACTERISTICS]", are not copied); None
    for other files, which ITK reads."""
    if (reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1
            or not layout.unscaled or layout.dtype.byteorder == ">"
            or pixel_type not in (None, reader.GetPixelID())
            or layout.data_offset + _voxel_bytes(reader, layout) != layout.total_bytes):
        return None
    image = sitk.Image(reader.GetSize(), reader.GetPixelID())
    if sitk.GetArrayViewFromImage(image).dtype != layout.dtype:
        return None
    image.SetSpacing(reader.GetSpacing())
    image.SetOrigin(reader.GetOrigin())
    image.SetDirection(reader.GetDirection())
    for key in reader.GetMetaDataKeys():
        image.SetMetaData(key, reader.GetMetaData(key))
    return image


def _voxel_memory(image: sitk.Image) -> np.ndarray | None:
    """The pixel buffer of an image :func:`_blank_image` has just allocated, as writable bytes;
    None if SimpleITK's view is not that buffer (then the file goes to ITK's reader).

    SimpleITK only gives read-only views of an image's buffer (``GetArrayViewFromImage``), and
    ``GetImageFromArray`` zero-fills a new image and copies the array into it. Writing at the
    view's address through ctypes is safe here: no other image shares a freshly allocated
    buffer (SimpleITK shares buffers only between shallow copies, and copies on write), and the
    caller holds the image while it writes. The first voxel is set through that address and read
    back through ITK, so a SimpleITK whose view is a copy is noticed before anything is written
    into freed memory.
    """
    view = sitk.GetArrayViewFromImage(image)
    memory = np.frombuffer((ctypes.c_char * view.nbytes).from_address(view.ctypes.data),
                           np.uint8)
    # The first voxel's most significant byte (little-endian): a normal, non-zero value for every
    # pixel type (2.0 for floats), which no denormals-are-zero setting can read back as 0.
    memory[view.itemsize - 1] = 0x40
    return memory if image.GetPixel((0, 0, 0)) != 0 else None


def _non_finite_voxels(contents: bytes | None,
                       layout: _NiftiLayout | None) -> _FloatVoxelScan | None:
    """The NaN/inf voxels of NIfTI float data (which ITK's reader sets to 0), else None."""
    if contents is None or layout is None or layout.dtype is None or layout.dtype.kind != "f":
        return None
    count = max(len(contents) - layout.data_offset, 0) // layout.dtype.itemsize
    values = np.frombuffer(contents, layout.dtype, count, layout.data_offset)
    positions = np.flatnonzero(~np.isfinite(values))
    scaled = np.isfinite(layout.slope) and layout.slope != 0
    return _FloatVoxelScan(layout.slope if scaled else 1.0, layout.inter if scaled else 0.0,
                           positions, values[positions].astype(float))


def _restore_non_finite(image: sitk.Image, scan: _FloatVoxelScan, path: Path,
                        patient_id: str | None) -> sitk.Image:
    """``image`` with the voxels niftilib zeroed set back to the file's NaN/inf values."""
    array = sitk.GetArrayFromImage(image)
    voxels = int(np.prod(image.GetSize()))
    components = image.GetNumberOfComponentsPerPixel()
    if not np.issubdtype(array.dtype, np.floating) or scan.positions.max() >= array.size:
        raise InputDataError(
            f"{scan.positions.size} voxels are NaN or infinite and cannot be read as "
            f"{image.GetPixelIDTypeAsString()}", patient_id=patient_id, path=path,
            hint="re-export the image with finite values",
        )
    # NIfTI stores vector components as its slowest axis; ITK interleaves them per voxel.
    flat = scan.positions % voxels * components + scan.positions // voxels
    array.reshape(-1)[flat] = scan.values * scan.slope + scan.inter
    restored = sitk.GetImageFromArray(array, isVector=components > 1)
    restored.CopyInformation(image)
    for key in image.GetMetaDataKeys():
        restored.SetMetaData(key, image.GetMetaData(key))
    return restored


def read_image_header(path: str | Path, patient_id: str | None = None) -> dict[str, Any]:
    """Geometry of an image from its header alone (no voxel data read).

    Returns size (voxels), spacing (mm), origin (mm), direction (9 cosines) and the
    three-letter orientation code, all in ITK's (x, y, z) order.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputDataError(
            "image header could not be read", patient_id=patient_id, path=path,
            hint="the file is truncated or not a NIfTI/MHA image",
        ) from exc
    direction = tuple(float(v) for v in reader.GetDirection())
    return {
        "size": [int(v) for v in reader.GetSize()],
        "spacing": [float(v) for v in reader.GetSpacing()],
        "origin": [float(v) for v in reader.GetOrigin()],
        "direction": list(direction),
        "orientation": orientation_code(direction),
    }


def orientation_code(direction: tuple[float, ...]) -> str:
    """Three-letter anatomical orientation (ITK/DICOM LPS convention) of a direction matrix."""
    if len(direction) != 9:
        return "?"
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(direction)
