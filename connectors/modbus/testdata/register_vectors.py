#!/usr/bin/python3
"""Writes register_vectors.json: Modbus register contents for values of every numeric type under every
byteOrder/wordOrder pair a connector file allows, produced by pymodbus's own payload codec
(BinaryPayloadBuilder to encode, BinaryPayloadDecoder to check the way back).

The Python gateway decodes and encodes with these two classes (it pins pymodbus 3.9.2); this script ran with
Debian's python3-pymodbus 3.0.0, whose byte and word handling is the same (3.9.2 rewrote _pack_words and
_unpack_words with array.byteswap/reverse, same result). The Go tests read the JSON only; Python is not needed
to run them. Regenerate with:

    /usr/bin/python3 testdata/register_vectors.py > testdata/register_vectors.json

Where pymodbus and the Python gateway's own test corpus (testdata/blackbox) disagree, the corpus wins; the
"notes" field of the JSON lists any such case (none so far: the corpus has no 8-bit or mixed-order cases).
"""
import json
import os
import struct
import sys

from pymodbus.constants import Endian
from pymodbus.payload import BinaryPayloadBuilder, BinaryPayloadDecoder

ORDERS = {"BIG": Endian.Big, "LITTLE": Endian.Little}


def f32(x):
    """The float32 nearest to x, as a Python float (so the JSON holds the exact value)."""
    return struct.unpack("!f", struct.pack("!f", x))[0]


def f16(x):
    return struct.unpack("!e", struct.pack("!e", x))[0]


# type name as in a connector file -> (objectsCount, builder method, decoder method, values)
CASES = {
    "8int": (1, "add_8bit_int", "decode_8bit_int", [-5, 0x12, -128, 127]),
    "8uint": (1, "add_8bit_uint", "decode_8bit_uint", [0xAB, 0x12, 255]),
    "16int": (1, "add_16bit_int", "decode_16bit_int", [-22136, 0x1234, -1, 32767]),
    "16uint": (1, "add_16bit_uint", "decode_16bit_uint", [0x1234, 0xFEDC, 65535]),
    "16float": (1, "add_16bit_float", "decode_16bit_float", [f16(12.34375), f16(-0.5), f16(1.0), f16(65504.0)]),
    "32int": (2, "add_32bit_int", "decode_32bit_int", [0x12345678, -4660, -2023406815, -2147483648]),
    "32uint": (2, "add_32bit_uint", "decode_32bit_uint", [0x12345678, 0x87654321, 4294967295, 0x0001FFFE]),
    "32float": (2, "add_32bit_float", "decode_32bit_float",
                [f32(223546.34375), f32(1.0), f32(-123.456), f32(3.4e38), f32(1e-40)]),
    "64int": (4, "add_64bit_int", "decode_64bit_int",
              [0x0123456789ABCDEF, -3735928559, -2, -9223372036854775808, 9223372036854775807]),
    "64uint": (4, "add_64bit_uint", "decode_64bit_uint",
               [0x0123456789ABCDEF, 0xFEDCBA9876543210, 18446744073709551615, 0x0000000100000002]),
    "64float": (4, "add_64bit_float", "decode_64bit_float",
                [123.45, 1.0, -6.5e-300, 1.7976931348623157e308, 0.1]),
}

STRINGS = [("abcd", 2), ("abcx", 2), ("ab", 2), ("Hello, Modbus", 7)]


def registers(byteorder, wordorder, add, value):
    b = BinaryPayloadBuilder(byteorder=ORDERS[byteorder], wordorder=ORDERS[wordorder])
    getattr(b, add)(value)
    return b.to_registers()


def check_corpus():
    """Registers built from the corpus' LITTLE expectations must read as its BIG expectations (the corpus' server
    held one register map for both); stops the script if pymodbus disagrees with the corpus."""
    here = os.path.dirname(os.path.abspath(__file__))
    uplink = os.path.join(here, "blackbox", "test_values", "uplink")
    with open(os.path.join(uplink, "holding_registers_values_little.json")) as f:
        little = json.load(f)
    with open(os.path.join(uplink, "holding_registers_values_big.json")) as f:
        big = json.load(f)
    for typ, (_, add, dec, values) in CASES.items():
        if typ not in little:
            continue
        conv = float if isinstance(values[0], float) else int
        regs = registers("LITTLE", "LITTLE", add, conv(little[typ]))
        got = getattr(BinaryPayloadDecoder.fromRegisters(regs, byteorder=Endian.Big, wordorder=Endian.Big), dec)()
        want = conv(big[typ])
        # the corpus rounds floats to 6 decimal places (the gateway's default "round")
        assert got == want or (conv is float and abs(round(got, 6) - want) <= 1e-9 * max(abs(want), 1)), \
            (typ, got, want)


def main():
    check_corpus()
    vectors = []
    for typ, (count, add, dec, values) in CASES.items():
        for bo in ORDERS:
            for wo in ORDERS:
                for value in values:
                    regs = registers(bo, wo, add, value)
                    d = BinaryPayloadDecoder.fromRegisters(regs, byteorder=ORDERS[bo], wordorder=ORDERS[wo])
                    back = getattr(d, dec)()
                    assert back == value, (typ, bo, wo, value, back)
                    # Integers as strings: 64-bit values do not survive a JSON number read as float64.
                    text = str(value) if isinstance(value, int) else repr(value)
                    vectors.append({"type": typ, "objectsCount": count, "byteOrder": bo, "wordOrder": wo,
                                    "value": text, "registers": regs})
    for text, count in STRINGS:
        for bo in ORDERS:
            for wo in ORDERS:
                b = BinaryPayloadBuilder(byteorder=ORDERS[bo], wordorder=ORDERS[wo])
                b.add_string(text.encode().ljust(2 * count, b"\0"))
                regs = b.to_registers()
                d = BinaryPayloadDecoder.fromRegisters(regs, byteorder=ORDERS[bo], wordorder=ORDERS[wo])
                assert d.decode_string(2 * count).rstrip(b"\0").decode() == text
                vectors.append({"type": "string", "objectsCount": count, "byteOrder": bo, "wordOrder": wo,
                                "value": text, "registers": regs})
    out = {
        "generator": "testdata/register_vectors.py with pymodbus " + __import__("pymodbus").__version__,
        "notes": [
            "8-bit types take the first byte of the register (its high byte) whatever the byte order: "
            "pymodbus packs one byte and pads the register with a zero byte, and reads the first byte back.",
            "pymodbus agrees with the corpus: registers built from every LITTLE uplink value read as the BIG "
            "one (checked by the script).",
            "Strings ignore both orders (bytes in register order, high byte first), as the corpus expects "
            "\"abcd\" for BIG and LITTLE.",
        ],
        "vectors": vectors,
    }
    # One vector per line, so a diff shows which vectors changed.
    lines = [json.dumps(v) for v in vectors]
    head = json.dumps({k: out[k] for k in ("generator", "notes")}, indent=1)[:-2]
    sys.stdout.write(head + ',\n "vectors": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n")


if __name__ == "__main__":
    main()
