#!/usr/bin/python3
"""Sends malformed and well-formed ttrpc frames to a shim's task socket and says what came back.

    ttrpc-probe.py SOCKET NAMESPACE CONTAINER_ID CASE...

CASE is one of: garbage, truncated, oversized, unknown-service, unknown-method, bad-payload,
bad-request, unknown-type, state. Each case uses a fresh connection and prints one line:
    CASE status CODE MESSAGE       the server answered with a gRPC status (0 = OK)
    CASE state STATUS PID          (for "state") the task state from a successful State call
    CASE closed                    the server closed the connection without answering
    CASE timeout                   nothing within 5 s (a failure: a shim must not hang on bad input)
Frames follow shim-v2.md §1: 10-byte header (length, stream id, type, flags), then protobuf.
"""
import socket
import struct
import sys

TASK = "containerd.task.v2.Task"
MAX = 4 << 20


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def request(service, method, payload, ns):
    md = field_bytes(1, b"containerd-namespace-ttrpc") + field_bytes(2, ns.encode())
    return (field_bytes(1, service.encode()) + field_bytes(2, method.encode()) +
            field_bytes(3, payload) + field_bytes(5, md))


def frame(data, stream=1, mtype=1, length=None):
    return struct.pack(">IIBB", len(data) if length is None else length, stream, mtype, 0) + data


def parse(buf):
    """protobuf fields -> {num: [values]} (varints as int, length-delimited as bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def recv_exact(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data.extend(chunk)
    return bytes(data)


def exchange(path, payload, shut_write=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(payload)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        hdr = recv_exact(s, 10)
        if hdr is None:
            return ("closed",)
        length, stream, mtype, flags = struct.unpack(">IIBB", hdr)
        body = recv_exact(s, length)
        if body is None:
            return ("closed",)
        return ("frame", mtype, body)
    except socket.timeout:
        return ("timeout",)
    except (ConnectionResetError, BrokenPipeError):
        return ("closed",)
    finally:
        s.close()


def describe(case, result):
    if result[0] != "frame":
        return f"{case} {result[0]}"
    _, mtype, body = result
    resp = parse(body)
    status = parse(resp[1][0]) if 1 in resp else {}
    code = status.get(1, [0])[0]
    msg = status.get(2, [b""])[0].decode(errors="replace").replace("\n", " ")
    if case == "state" and code == 0:
        st = parse(resp.get(2, [b""])[0])
        return f"{case} state {st.get(4, [0])[0]} {st.get(3, [0])[0]}"
    return f"{case} status {code} {msg}"


def main():
    path, ns, cid = sys.argv[1:4]
    state_req = field_bytes(1, cid.encode())
    cases = {
        "garbage": (b"\x7fGARBAGE-not-a-ttrpc-frame\x00\xff" * 4, True),
        # a well-formed header, 10 of the bytes it promises, then the client stops writing
        "truncated": (frame(request(TASK, "State", state_req, ns))[:20], True),
        "oversized": (frame(b"\x00" * (MAX + 1)), False),
        "unknown-service": (frame(request("berth.NoSuch", "Nope", b"", ns)), False),
        "unknown-method": (frame(request(TASK, "NoSuchMethod", b"", ns)), False),
        "bad-payload": (frame(request(TASK, "State", b"\x0a\xff\xff\xff\xff\x0f", ns)), False),
        "bad-request": (frame(b"\x0a\xff\xff\xff\xff\x0f\x12"), False),
        "unknown-type": (frame(request(TASK, "State", state_req, ns), mtype=9), True),
        "state": (frame(request(TASK, "State", state_req, ns)), False),
    }
    for case in sys.argv[4:]:
        data, shut = cases[case]
        print(describe(case, exchange(path, data, shut)), flush=True)


if __name__ == "__main__":
    main()
