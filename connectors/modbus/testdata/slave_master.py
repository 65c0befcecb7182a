"""A Modbus master (pymodbus 3.0.0 client) driven from a test: one JSON command per stdin line, one JSON
answer per stdout line. It prints READY once connected.

Usage: slave_master.py tcp|udp|rtu-tcp|rtu-udp|tls HOST:PORT [CAFILE]  |  slave_master.py rtu|ascii PTY
Commands: {"op": "hr"|"ir"|"co"|"di", "addr": a, "count": n, "unit": u} -> {"values": [...]} or {"error": "..."}
          {"op": "id", "code": 1-4, "obj": o, "unit": u} -> {"more": b, "next": n, "objects": [[id, "value"], ...]}
"""
import json
import logging
import ssl
import sys

from pymodbus.client import ModbusSerialClient, ModbusTcpClient, ModbusTlsClient, ModbusUdpClient
from pymodbus.framer.ascii_framer import ModbusAsciiFramer
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.framer.socket_framer import ModbusSocketFramer
from pymodbus.mei_message import ReadDeviceInformationRequest

logging.disable(logging.CRITICAL)


class TlsClient(ModbusTlsClient):
    """pymodbus 3.0.0's TLS client selects on the raw socket and reads the TLS socket without blocking: a
    record not yet whole raises SSLWantReadError, and decrypted bytes already buffered are not seen as ready.
    This reads blocking, within the timeout, exactly the size asked (one read when no size is given)."""

    def recv(self, size):
        self.socket.setblocking(True)
        self.socket.settimeout(self.params.timeout)
        if size is None:
            return self.socket.recv(4096)
        data = b""
        while len(data) < size:
            chunk = self.socket.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        return data


def client(kind, where, cafile):
    if kind in ("rtu", "ascii"):
        # 8N1 whatever the gateway's end runs: pyserial cannot set 7 data bits or a parity on a pty
        framer = ModbusAsciiFramer if kind == "ascii" else ModbusRtuFramer
        return ModbusSerialClient(port=where, framer=framer, baudrate=19200, timeout=2)
    host, port = where.rsplit(":", 1)
    if kind == "udp":
        return ModbusUdpClient(host, port=int(port), timeout=2)
    if kind == "rtu-udp":
        return ModbusUdpClient(host, port=int(port), framer=ModbusRtuFramer, timeout=2)
    if kind == "rtu-tcp":
        return ModbusTcpClient(host, port=int(port), framer=ModbusRtuFramer, timeout=2)
    if kind == "tls":
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        ctx.check_hostname = False
        return TlsClient(host, port=int(port), framer=ModbusSocketFramer, sslctx=ctx, timeout=2)
    return ModbusTcpClient(host, port=int(port), timeout=2)


def run(c, cmd):
    op, unit = cmd["op"], cmd.get("unit", 0)
    if op == "id":
        r = c.execute(ReadDeviceInformationRequest(read_code=cmd["code"], object_id=cmd["obj"], unit=unit))
        if r.isError():
            return {"error": str(r)}
        objs = []
        for oid, v in r.information.items():
            for item in v if isinstance(v, list) else [v]:
                objs.append([oid, item.decode()])
        # the response's own order, which pymodbus keeps in its dict
        return {"more": r.more_follows == 0xFF, "next": r.next_object_id, "objects": objs}
    read = {"hr": c.read_holding_registers, "ir": c.read_input_registers,
            "co": c.read_coils, "di": c.read_discrete_inputs}[op]
    r = read(cmd["addr"], cmd["count"], slave=unit)
    if r.isError():
        return {"error": str(r)}
    vals = r.registers if op in ("hr", "ir") else r.bits[:cmd["count"]]
    return {"values": vals}


def main():
    kind, where = sys.argv[1], sys.argv[2]
    c = client(kind, where, sys.argv[3] if len(sys.argv) > 3 else None)
    if not c.connect():
        print(json.dumps({"error": "connect failed"}), flush=True)
        sys.exit(1)
    print("READY", flush=True)
    for line in sys.stdin:
        try:
            out = run(c, json.loads(line))
        except Exception as e:  # reported to the test, which fails on it
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


main()
