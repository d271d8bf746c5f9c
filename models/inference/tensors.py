"""Named tensors as bytes: how an inference request's inputs and outputs travel through Redis.

One blob holds several arrays: a 4-byte length, a JSON header listing each tensor's name,
Open Inference Protocol datatype and shape, then the raw little-endian bytes of each in order.
No pickling, so a blob can be read back by anyone without running code.
"""

import json
import struct

import numpy as np

# Open Inference Protocol (KServe v2) datatypes with a fixed-size numpy counterpart. BYTES
# (variable-length strings) has none: no GAN here takes or gives text.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_NAMES = {dtype: name for name, dtype in DATATYPES.items()}


class TensorBlobError(ValueError):
    """A blob that is not a tensor blob of this format."""


def datatype_of(array: np.ndarray) -> str:
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    try:
        return _NAMES[np.dtype(dtype)]
    except KeyError:
        raise TensorBlobError(f"no protocol datatype for numpy {array.dtype}") from None


def pack_tensors(tensors: dict[str, np.ndarray]) -> bytes:
    header, chunks = [], []
    for name, array in tensors.items():
        datatype = datatype_of(array)
        data = np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()
        header.append({"name": name, "datatype": datatype, "shape": list(array.shape), "size": len(data)})
        chunks.append(data)
    encoded = json.dumps(header).encode()
    return struct.pack("<I", len(encoded)) + encoded + b"".join(chunks)


def unpack_tensors(blob: bytes) -> dict[str, np.ndarray]:
    if len(blob) < 4:
        raise TensorBlobError("blob too short")
    (length,) = struct.unpack_from("<I", blob)
    try:
        header = json.loads(blob[4 : 4 + length])
    except ValueError as error:
        raise TensorBlobError(f"bad header: {error}") from None
    offset = 4 + length
    tensors = {}
    for entry in header:
        dtype = DATATYPES[entry["datatype"]]
        end = offset + entry["size"]
        if end > len(blob):
            raise TensorBlobError(f"tensor {entry['name']!r} runs past the end of the blob")
        tensors[entry["name"]] = np.frombuffer(blob, dtype=dtype, count=entry["size"] // dtype.itemsize,
                                               offset=offset).reshape(entry["shape"])
        offset = end
    return tensors
