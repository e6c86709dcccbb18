"""A quantised GGUF rewritten with plain float16/float32 weights, for llama.cpp.

Why: the torch engine runs the dequantised GGUF in float32, while llama.cpp on the quantised file
also quantises the activations (to 8 bits) inside each matrix product, so its greedy text drifts
from torch's after a few tokens. Dequantised once into float16 (the same values torch runs,
rounded to half precision), llama.cpp gives torch's exact suggestions on the eval sets at nearly
the speed of the quantised file (README#performance). Metadata and tokenizer are copied as they are;
1-D tensors (norms, biases) stay float32, as llama.cpp expects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlserve.errors import ModelNotFound

DTYPES = {"float16": 1, "float32": 0}  # general.file_type: ALL_F32 = 0, MOSTLY_F16 = 1


def widen_gguf(source: Path, target: Path, dtype: str, on_progress: Callable[[str], None]) -> Path:
    """Write `source` with every quantised tensor dequantised to `dtype` into `target`."""
    import gguf
    import numpy as np

    try:
        reader = gguf.GGUFReader(source)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"cannot read GGUF {source}: {exc}", hint="is it a complete GGUF file?") from exc
    architecture = bytes(_raw(reader.fields["general.architecture"])).decode()
    writer = gguf.GGUFWriter(target, architecture)
    for name, field in reader.fields.items():
        # The writer sets the architecture itself; GGUF.* are the reader's view of the header.
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        writer.add_key_value(name, _value(field), field.types[0],
                             sub_type=field.types[1] if len(field.types) > 1 else None)
    writer.add_file_type(DTYPES[dtype])
    wide = np.float16 if dtype == "float16" else np.float32
    for count, tensor in enumerate(reader.tensors, 1):
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        writer.add_tensor(tensor.name, values.astype(wide if values.ndim > 1 else np.float32))
        if count % 50 == 0:
            on_progress(f"dequantised {count}/{len(reader.tensors)} tensors of {source.name}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def _raw(field, index: int = 0):
    return field.parts[field.data[index]]


def _value(field):
    """A metadata value as the writer takes it; strings stay bytes, copied without re-encoding."""
    import gguf

    kind = field.types[0]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(_raw(field))
    if kind != gguf.GGUFValueType.ARRAY:
        return _raw(field).tolist()[0]
    if field.types[1] == gguf.GGUFValueType.STRING:
        return [bytes(field.parts[i]) for i in field.data]
    return [field.parts[i].tolist()[0] for i in field.data]
