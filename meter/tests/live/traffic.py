#!/usr/bin/env python3
"""Test traffic for the live-capture tests, run inside a network namespace.

udp SRC DST SPORT DPORT COUNT SIZE      send COUNT datagrams of SIZE payload bytes
udp-sink ADDR PORT COUNT                receive COUNT datagrams (no ICMP unreachables)
tcp-server ADDR PORT [mptcp]            accept one connection, read to EOF, reply, close
tcp-client SRC DST PORT BYTES [mptcp]   connect (from SRC, or as routed if -), send BYTES,
                                        read the reply, close

Servers print "ready" once listening and "done" when the connection is closed; the tests
wait for these lines instead of sleeping. Counts go to stdout as "sent N". With mptcp,
both ends print the kernel's own token of the connection ("token=hex", from MPTCP_INFO),
and the client waits (polling MPTCP_INFO, bounded) for the joined subflow before sending.
"""
import socket
import sys
import time

IPPROTO_MPTCP = 262
SOL_MPTCP = 284
MPTCP_INFO = 1


def mptcp_info(sock):
    """(additional subflows, token) of an MPTCP socket, from struct mptcp_info."""
    raw = sock.getsockopt(SOL_MPTCP, MPTCP_INFO, 64)
    return raw[0], int.from_bytes(raw[12:16], sys.byteorder)


def wait_for_subflow(sock, seconds=10.0):
    deadline = time.monotonic() + seconds
    while mptcp_info(sock)[0] < 1 and time.monotonic() < deadline:
        time.sleep(0.005)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def udp(src, dst, sport, dport, count, size):
    s = socket.socket(family(dst), socket.SOCK_DGRAM)
    s.bind((src, int(sport)))
    for _ in range(int(count)):
        s.sendto(b"u" * int(size), (dst, int(dport)))
    s.close()
    print("sent", count, flush=True)


def udp_sink(addr, port, count):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("ready", flush=True)
    for _ in range(int(count)):
        s.recv(65536)
    s.close()
    print("done", count, flush=True)


def proto(args):
    return IPPROTO_MPTCP if "mptcp" in args else socket.IPPROTO_TCP


def tcp_server(addr, port, *rest):
    s = socket.socket(family(addr), socket.SOCK_STREAM, proto(rest))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(1)
    print("ready", flush=True)
    c, _ = s.accept()
    total = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        total += len(b)
    c.sendall(b"got %d" % total)
    extra = ""
    if "mptcp" in rest:
        subflows, token = mptcp_info(c)
        extra = " token=%08x subflows=%d" % (token, subflows)
    c.close()
    s.close()
    print("done", total, extra, flush=True)


def tcp_client(src, dst, port, nbytes, *rest):
    s = socket.socket(family(dst), socket.SOCK_STREAM, proto(rest))
    if src != "-":
        s.bind((src, 0))
    s.connect((dst, int(port)))
    extra = ""
    if "mptcp" in rest:
        # Send once the kernel has joined the second subflow, so both carry data.
        wait_for_subflow(s)
        subflows, token = mptcp_info(s)
        extra = " token=%08x subflows=%d" % (token, subflows)
    left = int(nbytes)
    chunk = b"t" * 16384
    while left > 0:
        n = s.send(chunk[: min(left, len(chunk))])
        left -= n
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        reply += b
    s.close()
    print("sent", nbytes, reply.decode() + extra, flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"udp": udp, "udp-sink": udp_sink, "tcp-server": tcp_server, "tcp-client": tcp_client}[cmd](*args)
