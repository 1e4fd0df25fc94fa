"""A minimal Mapbox Vector Tile reader for tests: layers, features, ids and attributes."""

import struct


def _varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value = buf[pos : pos + size]
            pos += size
        elif wire == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _packed(buf):
    pos, out = 0, []
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        out.append(value)
    return out


def _value(buf):
    for number, _wire, value in _fields(buf):
        if number == 1:
            return bytes(value).decode()
        if number == 2:
            return struct.unpack("<f", value)[0]
        if number == 3:
            return struct.unpack("<d", value)[0]
        if number in (4, 5):
            return value if value < 1 << 63 else value - (1 << 64)
        if number == 6:
            return (value >> 1) ^ -(value & 1)
        if number == 7:
            return bool(value)
    return None


def decode(data):
    """Return {layer name: [{"id": id or None, "properties": {...}}]}."""
    layers = {}
    for number, _wire, layer_buf in _fields(memoryview(data)):
        if number != 3:
            continue
        name, keys, values, raw = "", [], [], []
        for n, _w, v in _fields(layer_buf):
            if n == 1:
                name = bytes(v).decode()
            elif n == 2:
                raw.append(v)
            elif n == 3:
                keys.append(bytes(v).decode())
            elif n == 4:
                values.append(_value(v))
        features = []
        for feature_buf in raw:
            fid, tags = None, []
            for n, _w, v in _fields(feature_buf):
                if n == 1:
                    fid = v
                elif n == 2:
                    tags = _packed(v)
            props = {keys[tags[i]]: values[tags[i + 1]] for i in range(0, len(tags), 2)}
            features.append({"id": fid, "properties": props})
        layers.setdefault(name, []).extend(features)
    return layers
