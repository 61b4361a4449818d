#!/usr/bin/env python3
"""Writes a damaged or forged copy of a Ballista model file (.pt, a zip written by
LibTorch), for the robustness tests of `ballista predict`.

    damage_model_file.py SOURCE TARGET OPERATION [ARGUMENTS]

Damage (bytes changed behind the zip's back, so its CRC-32s no longer match):
    truncate BYTES              keep the first BYTES bytes
    flip OFFSET COUNT           invert COUNT bytes from file offset OFFSET
    flip-entry ENTRY COUNT      invert the first COUNT bytes of ENTRY's data ("data/0":
                                the entry whose name ends so)
    flip-central ENTRY OFFSET   invert the byte at OFFSET in ENTRY's record of the zip's
                                central directory (16: its CRC-32, 38: its attributes)
Forgery (a well-formed zip with consistent CRC-32s, written again by zipfile):
    parameter NAME JSON         set stored parameter NAME to the JSON value
    drop-parameter NAME         remove stored parameter NAME
    parameters-text TEXT        replace the stored parameters' JSON text as a whole
    string KEY VALUE            replace the string record KEY ("ballista.plugin")
    nan-entry ENTRY             overwrite ENTRY's data with NaN (as float64 bit patterns)
    header-from OTHER           take the plugin, its version and parameters from model
                                file OTHER, keeping SOURCE's own model archive

Prints nothing; exits non-zero with a message if the operation cannot be applied.
"""
import json
import struct
import sys
import zipfile


def entry_name(archive, suffix):
    names = [name for name in archive.namelist() if name == suffix or name.endswith("/" + suffix)]
    if len(names) != 1:
        sys.exit(f"damage_model_file: no single entry named *{suffix} in {archive.namelist()}")
    return names[0]


def data_offset(blob, info):
    """File offset of an entry's data: after its local header, name and extra field."""
    header = info.header_offset
    name_length, extra_length = struct.unpack("<HH", blob[header + 26:header + 30])
    return header + 30 + name_length + extra_length


def central_record(blob, archive, name):
    """File offset of the central directory record of entry `name`."""
    position = archive.start_dir
    while blob[position:position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack("<HHH", blob[position + 28:position + 34])
        if blob[position + 46:position + 46 + name_length].decode() == name:
            return position
        position += 46 + name_length + extra_length + comment_length
    sys.exit(f"damage_model_file: no central directory record for {name}")


def pickled_string(pickle, key):
    """(start, end) of the value of the BINUNICODE string that follows the string `key`
    in a pickle (with a memo op in between), the 4-byte length included."""
    encoded = key.encode()
    position = pickle.find(b"X" + struct.pack("<I", len(encoded)) + encoded)
    if position < 0:
        sys.exit(f"damage_model_file: no record '{key}' in data.pkl")
    position += 5 + len(encoded)
    # BINPUT (q, 1 byte) or LONG_BINPUT (r, 4 bytes) memoises the key.
    position += {ord("q"): 2, ord("r"): 5}.get(pickle[position], 0)
    if pickle[position] != ord("X"):
        sys.exit(f"damage_model_file: record '{key}' does not hold a string")
    (length,) = struct.unpack("<I", pickle[position + 1:position + 5])
    return position + 1, position + 5 + length


def replace_string(pickle, key, value):
    start, end = pickled_string(pickle, key)
    encoded = value.encode()
    return pickle[:start] + struct.pack("<I", len(encoded)) + encoded + pickle[end:]


def rewrite(source, target, change):
    """Copies `source` to `target` entry by entry, `change(name, data)` giving each
    entry's new data (or None to keep it)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            changed = change(info.filename, data)
            new.writestr(info, data if changed is None else changed, compress_type=info.compress_type)


def main(arguments):
    if len(arguments) < 3:
        sys.exit(__doc__)
    source, target, operation, rest = arguments[0], arguments[1], arguments[2], arguments[3:]
    blob = bytearray(open(source, "rb").read())
    if operation == "truncate":
        open(target, "wb").write(blob[:int(rest[0])])
        return
    if operation in ("flip", "flip-entry", "flip-central"):
        if operation == "flip":
            start, count = int(rest[0]), int(rest[1])
        elif operation == "flip-central":
            with zipfile.ZipFile(source) as archive:
                start, count = central_record(blob, archive, entry_name(archive, rest[0])) + int(rest[1]), 1
        else:
            with zipfile.ZipFile(source) as archive:
                info = archive.getinfo(entry_name(archive, rest[0]))
            start, count = data_offset(blob, info), min(int(rest[1]), info.compress_size)
        for position in range(start, min(start + count, len(blob))):
            blob[position] ^= 0xFF
        open(target, "wb").write(blob)
        return

    with zipfile.ZipFile(source) as archive:
        pickle_name = entry_name(archive, "data.pkl")
    if operation in ("parameter", "drop-parameter", "parameters-text"):
        def change(name, data):
            if name != pickle_name:
                return None
            start, end = pickled_string(data, "ballista.parameters")
            if operation == "parameters-text":
                text = rest[0]
            else:
                parameters = json.loads(data[start + 4:end].decode())
                if operation == "parameter":
                    parameters[rest[0]] = json.loads(rest[1])
                else:
                    del parameters[rest[0]]
                text = json.dumps(parameters, separators=(",", ":"))
            return replace_string(data, "ballista.parameters", text)
    elif operation == "string":
        def change(name, data):
            return replace_string(data, rest[0], rest[1]) if name == pickle_name else None
    elif operation == "nan-entry":
        with zipfile.ZipFile(source) as archive:
            nan_name = entry_name(archive, rest[0])

        def change(name, data):
            if name != nan_name:
                return None
            return (struct.pack("<d", float("nan")) * (len(data) // 8 + 1))[:len(data)]
    elif operation == "header-from":
        # The plugin, its version and parameters of OTHER over SOURCE's own model
        # archive: another plugin (or other parameters) reading this plugin's tensors.
        with zipfile.ZipFile(rest[0]) as other:
            other_pickle = other.read(entry_name(other, "data.pkl"))
        keys = ("ballista.plugin", "ballista.plugin_version", "ballista.parameters")

        def change(name, data):
            if name != pickle_name:
                return None
            for key in keys:
                start, end = pickled_string(other_pickle, key)
                data = replace_string(data, key, other_pickle[start + 4:end].decode())
            return data
    else:
        sys.exit(f"damage_model_file: unknown operation '{operation}'")
    rewrite(source, target, change)


if __name__ == "__main__":
    main(sys.argv[1:])
