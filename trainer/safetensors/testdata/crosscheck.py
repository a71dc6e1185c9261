"""Independent safetensors reader/writer in the Python standard library.

Used by python_test.go: `crosscheck.py read FILE` prints {name: [dtype, shape,
values-as-float]} as JSON; `crosscheck.py write FILE` writes a fixed file with
F32, F16 (struct 'e', round-to-nearest-even) and BF16 tensors.
"""
import json
import math
import struct
import sys


def bf16_to_f32(h):
    return struct.unpack("<f", struct.pack("<I", h << 16))[0]


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            out[name] = info
            continue
        b, e = info["data_offsets"]
        chunk = data[b:e]
        dt = info["dtype"]
        if dt == "F32":
            vals = list(struct.unpack("<%df" % (len(chunk) // 4), chunk))
        elif dt == "F16":
            vals = list(struct.unpack("<%de" % (len(chunk) // 2), chunk))
        elif dt == "BF16":
            vals = [bf16_to_f32(h) for h in struct.unpack("<%dH" % (len(chunk) // 2), chunk)]
        else:
            raise SystemExit("unexpected dtype " + dt)
        out[name] = [dt, info["shape"], vals]
    json.dump(out, sys.stdout)


def write(path):
    vals = [1.0, -2.5, 3.14159, 1e-5, 65504.0, 6.1e-5, 0.0, -0.0, 1.0009765625, 1.00048828125]
    f32 = struct.pack("<%df" % len(vals), *vals)
    f16 = struct.pack("<%de" % len(vals), *vals)
    bf = b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", v))[0] >> 16) for v in vals)
    tensors = [("f32", "F32", f32), ("f16", "F16", f16), ("bf16", "BF16", bf)]
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, b in tensors:
        header[name] = {"dtype": dt, "shape": [2, 5], "data_offsets": [off, off + len(b)]}
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(t[2] for t in tensors))
    json.dump(vals, sys.stdout)


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2])
