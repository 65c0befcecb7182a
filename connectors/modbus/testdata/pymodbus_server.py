#!/usr/bin/python3
"""A pymodbus (Debian's python3-pymodbus 3.0.0) server for the Modbus connector's interop tests.

Usage: pymodbus_server.py --init FILE [--tcp HOST:PORT] [--rtu-tcp HOST:PORT] [--udp HOST:PORT]
       [--rtu-udp HOST:PORT] [--rtu PTY] [--ascii PTY] [--tls HOST:PORT --tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]
       [--hole ADDR:FILE]

--tls is Modbus/TCP Security: the MBAP framing inside TLS, with the server certificate and key given; with
--tls-client-ca the server requires a client certificate signed by that CA.

FILE is JSON: {"unit": N, "hr": [...], "ir": [...], "co": [...], "di": [...]}, the tables from address 0.
Every listener serves the same datastore. Port 0 asks the kernel for a free port. Once every listener is up the
script prints one line per listener ("tcp 127.0.0.1:40001", ...) and then "READY". It runs until SIGTERM.
--hole makes holding register ADDR a register the device does not have (reads covering it are answered with
exception 2, illegal data address) until FILE exists.
"""
import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.framer.ascii_framer import ModbusAsciiFramer
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.framer.socket_framer import ModbusSocketFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer, ModbusTlsServer, ModbusUdpServer

TABLE_SIZE = 1024


def block(values, bits=False):
    data = list(values) + [0] * (TABLE_SIZE - len(values))
    if bits:
        data = [bool(v) for v in data]
    return ModbusSequentialDataBlock(0, data)


class HoledBlock(ModbusSequentialDataBlock):
    """A block without the register at hole while the file named by until does not exist."""

    def __init__(self, values, hole, until):
        base = block(values)
        super().__init__(base.address, base.values)
        self.hole, self.until = hole, until

    def validate(self, address, count=1):
        if address <= self.hole < address + count and not os.path.exists(self.until):
            return False
        return super().validate(address, count)


def host_port(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--init", required=True)
    p.add_argument("--tcp")
    p.add_argument("--rtu-tcp")
    p.add_argument("--udp")
    p.add_argument("--rtu-udp")
    p.add_argument("--rtu")
    p.add_argument("--tls")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-client-ca")
    p.add_argument("--hole")
    p.add_argument("--ascii")
    args = p.parse_args()
    with open(args.init, encoding="utf-8") as f:
        init = json.load(f)
    # zero_mode=True: without it pymodbus 3.0 shifts every request address by one
    hr = block(init.get("hr", []))
    if args.hole:
        addr, until = args.hole.split(":", 1)
        hr = HoledBlock(init.get("hr", []), int(addr), until)
    slave = ModbusSlaveContext(
        hr=hr, ir=block(init.get("ir", [])),
        co=block(init.get("co", []), True), di=block(init.get("di", []), True), zero_mode=True)
    context = ModbusServerContext(slaves={int(init.get("unit", 1)): slave}, single=False)

    tasks, ready = [], []
    if args.tcp:
        tcp = ModbusTcpServer(context, framer=ModbusSocketFramer, address=host_port(args.tcp), allow_reuse_address=True)
        tasks.append(asyncio.create_task(tcp.serve_forever()))
        await tcp.serving
        ready.append("tcp %s:%d" % tcp.server.sockets[0].getsockname()[:2])
    if args.rtu_tcp:
        rtcp = ModbusTcpServer(context, framer=ModbusRtuFramer, address=host_port(args.rtu_tcp), allow_reuse_address=True)
        tasks.append(asyncio.create_task(rtcp.serve_forever()))
        await rtcp.serving
        ready.append("rtu-tcp %s:%d" % rtcp.server.sockets[0].getsockname()[:2])
    if args.udp:
        udp = ModbusUdpServer(context, framer=ModbusSocketFramer, address=host_port(args.udp))
        tasks.append(asyncio.create_task(udp.serve_forever()))
        await udp.serving
        ready.append("udp %s:%d" % udp.protocol.get_extra_info("sockname")[:2])
    if args.rtu_udp:
        rudp = ModbusUdpServer(context, framer=ModbusRtuFramer, address=host_port(args.rtu_udp))
        tasks.append(asyncio.create_task(rudp.serve_forever()))
        await rudp.serving
        ready.append("rtu-udp %s:%d" % rudp.protocol.get_extra_info("sockname")[:2])
    if args.rtu:
        # the server classes directly: StartAsyncSerialServer would default to the ASCII framer
        ser = ModbusSerialServer(context, framer=ModbusRtuFramer, port=args.rtu, baudrate=19200, bytesize=8,
                                 parity="N", stopbits=1, timeout=0.05)
        await ser.start()
        tasks.append(asyncio.create_task(ser.serve_forever()))
        ready.append("rtu " + args.rtu)
    if args.tls:
        sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sslctx.minimum_version = ssl.TLSVersion.TLSv1_2
        sslctx.load_cert_chain(certfile=args.tls_cert, keyfile=args.tls_key)
        if args.tls_client_ca:
            sslctx.verify_mode = ssl.CERT_REQUIRED
            sslctx.load_verify_locations(cafile=args.tls_client_ca)
        tls = ModbusTlsServer(context, framer=ModbusSocketFramer, address=host_port(args.tls), sslctx=sslctx,
                              allow_reuse_address=True)
        tasks.append(asyncio.create_task(tls.serve_forever()))
        await tls.serving
        ready.append("tls %s:%d" % tls.server.sockets[0].getsockname()[:2])
    if args.ascii:
        # 8N1: pyserial cannot set 7 data bits or a parity on a pty (EINVAL), and ModbusSerialServer.start
        # swallows that error (the server looks started and never answers); the gateway's end may run 7E1
        asc = ModbusSerialServer(context, framer=ModbusAsciiFramer, port=args.ascii, baudrate=9600, bytesize=8,
                                 parity="N", stopbits=1, timeout=0.05)
        await asc.start()
        tasks.append(asyncio.create_task(asc.serve_forever()))
        ready.append("ascii " + args.ascii)
    for line in ready:
        print(line)
    print("READY", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    # pymodbus logs normal events (client disconnects, exception responses) as errors
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main())
    sys.exit(0)
