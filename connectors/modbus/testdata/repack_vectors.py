#!/usr/bin/python3
"""Writes repack_vectors.json: the registers pymodbus's BinaryPayloadBuilder gives for a value written with
"repack": true, for every type of register_vectors.py under every byteOrder/wordOrder pair.

The Python gateway builds every write with BinaryPayloadBuilder(byteorder, wordorder, repack=<the slave's
"repack">). repack only changes to_registers (and to_coils, built from it): each two-byte chunk of the built
payload is read with the byte order ("<H" for LITTLE, ">H" for BIG) instead of always big-endian, so with byteOrder
LITTLE the two bytes of every register are swapped once more, and with BIG nothing changes. That code is the same
in Debian's pymodbus 3.0.0 (which ran this script) and the 3.9.2 the Python gateway pins. Regenerate with:

    /usr/bin/python3 testdata/repack_vectors.py > testdata/repack_vectors.json
"""
import json
import sys

from pymodbus.payload import BinaryPayloadBuilder

from register_vectors import CASES, ORDERS, STRINGS


def main():
    vectors = []
    for typ, (count, add, _, values) in CASES.items():
        for bo in ORDERS:
            for wo in ORDERS:
                for value in values:
                    b = BinaryPayloadBuilder(byteorder=ORDERS[bo], wordorder=ORDERS[wo], repack=True)
                    getattr(b, add)(value)
                    text = str(value) if isinstance(value, int) else repr(value)
                    vectors.append({"type": typ, "objectsCount": count, "byteOrder": bo, "wordOrder": wo,
                                    "value": text, "registers": b.to_registers()})
    for text, count in STRINGS:
        for bo in ORDERS:
            for wo in ORDERS:
                b = BinaryPayloadBuilder(byteorder=ORDERS[bo], wordorder=ORDERS[wo], repack=True)
                b.add_string(text.encode().ljust(2 * count, b"\0"))
                vectors.append({"type": "string", "objectsCount": count, "byteOrder": bo, "wordOrder": wo,
                                "value": text, "registers": b.to_registers()})
    head = json.dumps({"generator": "testdata/repack_vectors.py with pymodbus " +
                       __import__("pymodbus").__version__}, indent=1)[:-2]
    lines = [json.dumps(v) for v in vectors]
    sys.stdout.write(head + ',\n "vectors": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n")


if __name__ == "__main__":
    main()
