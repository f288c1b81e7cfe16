#!/usr/bin/env python3
"""A tiny read-only OCI distribution registry on 127.0.0.1 for tests: serves an OCI image layout directory.

    fake-registry.py LAYOUT_DIR ADDR_FILE [--cut-blobs FLAG_FILE]

GET/HEAD /v2/, /v2/<name>/manifests/<tag|digest>, /v2/<name>/blobs/<digest> (Range: bytes=N- supported). The
repository name is ignored: a tag is looked up in LAYOUT_DIR/index.json by its org.opencontainers.image.ref.name
annotation (equal to the tag, or ending in ":<tag>"); a digest is looked up in LAYOUT_DIR/blobs. Documents are
served with the media type of their descriptor in index.json, else the "mediaType" field of their JSON.
index.json is read on every request, so images can be added while it runs.

--cut-blobs FLAG_FILE: a GET of a blob whose digest is a line of FLAG_FILE (read on every request; a missing file
cuts nothing) announces the full length but sends only the bytes before the middle of the blob and then drops
the connection (a resumed request starting at or past the middle gets its headers and no byte at all), so no
number of retries gets the blob through.

Binds an ephemeral port and writes "127.0.0.1:PORT" to ADDR_FILE once it accepts connections. Stop it with SIGTERM.
"""
import json
import os
import re
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAYOUT = sys.argv[1]
ADDR_FILE = sys.argv[2]
CUT_FLAG = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--cut-blobs" else None

PATH_RE = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


def blob_path(digest):
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexpart):
        return None
    p = os.path.join(LAYOUT, "blobs", "sha256", hexpart)
    return p if os.path.isfile(p) else None


def cut_digests():
    try:
        with open(CUT_FLAG) as f:
            return set(f.read().split())
    except (OSError, TypeError):
        return set()


def index_descriptors():
    with open(os.path.join(LAYOUT, "index.json"), "rb") as f:
        return json.load(f).get("manifests", [])


def find_manifest(ref):
    """-> (path, digest, media type) or None."""
    descs = index_descriptors()
    if ref.startswith("sha256:"):
        path = blob_path(ref)
        if not path:
            return None
        for d in descs:
            if d["digest"] == ref:
                return path, ref, d["mediaType"]
        with open(path, "rb") as f:
            try:
                mt = json.load(f).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            except ValueError:
                mt = "application/octet-stream"
        return path, ref, mt
    for exact in (True, False):
        for d in descs:
            name = d.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
            if (name == ref) if exact else name.endswith(":" + ref):
                path = blob_path(d["digest"])
                if path:
                    return path, d["digest"], d["mediaType"]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-registry: " + (fmt % args) + "\n")

    def error(self, code, errcode, message):
        body = json.dumps({"errors": [{"code": errcode, "message": message}]}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self):
        if self.path.split("?")[0] in ("/v2", "/v2/"):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            return
        m = PATH_RE.match(self.path.split("?")[0])
        if not m:
            return self.error(404, "NAME_UNKNOWN", "not found")
        if m["kind"] == "manifests":
            found = find_manifest(m["ref"])
            if not found:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            path, digest, mt = found
            self.send_file(path, digest, mt, cut=False)
        else:
            path = blob_path(m["ref"])
            if not path:
                return self.error(404, "BLOB_UNKNOWN", "blob unknown")
            self.send_file(path, m["ref"], "application/octet-stream",
                           cut=m["ref"] in cut_digests())

    def send_file(self, path, digest, media_type, cut):
        size = os.path.getsize(path)
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "") or "")
        if rng and self.command == "GET":
            start = int(rng[1])
            if start >= size:
                return self.error(416, "RANGE_INVALID", "range not satisfiable")
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        else:
            self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = size - start
            if cut:
                left = max(0, size // 2 - start)
            while left > 0:
                chunk = f.read(min(left, 65536))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        if cut:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def do_GET(self):
        self.serve()

    def do_HEAD(self):
        self.serve()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = ADDR_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write("127.0.0.1:%d\n" % srv.server_address[1])
    os.rename(tmp, ADDR_FILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
