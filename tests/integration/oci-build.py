#!/usr/bin/env python3
"""Builds hostile layers and minimal OCI images for the bad-pull tests.

    oci-build.py layer KIND OUT.tar.gz CANARY_DIR
        a gzip layer whose extraction would touch CANARY_DIR (an absolute path outside the store) if the
        extractor were not hardened. KIND:
          dotdot            a regular file "../../(...)/CANARY_DIR/dotdot" (climbs far above any root)
          abs-symlink       symlink "escape" -> CANARY_DIR, then a regular file "escape/abs-symlink" through it
          hardlink-dotdot   hardlink "hl" to "../../(...)/CANARY_DIR/target"
          hardlink-symlink  symlink "out" -> CANARY_DIR, then hardlink "hl" to "out/target"
          plain             a harmless layer with one file "hello"
    oci-image LAYOUT TAG [--layer-media-type MT] [--pad BYTES] LAYER.tar.gz...
        adds an image (config with rootfs.diff_ids, OCI manifest) to the OCI layout directory LAYOUT (created if
        missing) and lists it in index.json under the ref name TAG. --layer-media-type overrides every layer's
        media type; --pad adds an annotation of BYTES bytes to the manifest (oversized documents).
        Prints the manifest digest.
    oci-index LAYOUT TAG MANIFEST_DIGEST
        adds an image index (one linux/amd64 entry: the manifest blob MANIFEST_DIGEST of LAYOUT, with its real
        size) to LAYOUT and lists it in index.json under TAG. Prints the index digest.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

UP = "../" * 40


def add_file(t, name, data=b""):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    ti.mtime = 1700000000
    t.addfile(ti, io.BytesIO(data))


def add_link(t, name, target, kind):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    ti.mode = 0o777 if kind == tarfile.SYMTYPE else 0o644
    ti.mtime = 1700000000
    t.addfile(ti)


def build_layer(kind, out, canary):
    rel = canary.lstrip("/")
    raw = io.BytesIO()
    # GNU format: long names need no pax headers, and libarchive reads it as any registry layer.
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        add_file(t, "ok-before", b"fine\n")
        if kind == "dotdot":
            add_file(t, UP + rel + "/dotdot", b"escaped via ..\n")
        elif kind == "abs-symlink":
            add_link(t, "escape", canary, tarfile.SYMTYPE)
            add_file(t, "escape/abs-symlink", b"escaped via an absolute symlink\n")
        elif kind == "hardlink-dotdot":
            add_link(t, "hl", UP + rel + "/target", tarfile.LNKTYPE)
        elif kind == "hardlink-symlink":
            add_link(t, "out", canary, tarfile.SYMTYPE)
            add_link(t, "hl", "out/target", tarfile.LNKTYPE)
        elif kind == "plain":
            add_file(t, "hello", b"hello\n")
        else:
            sys.exit("unknown layer kind " + kind)
    with open(out, "wb") as f:
        f.write(gzip.compress(raw.getvalue(), mtime=0))


def put_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def list_in_index(layout, tag, desc):
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [d for d in index["manifests"]
                          if d.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append(dict(desc, annotations={"org.opencontainers.image.ref.name": tag}))
    tmp = index_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(index, f)
    os.rename(tmp, index_path)


def build_index(layout, tag, manifest_digest):
    size = os.path.getsize(os.path.join(layout, "blobs", "sha256", manifest_digest.split(":")[1]))
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                            "size": size, "platform": {"architecture": "amd64", "os": "linux"}}]}
    data = json.dumps(index).encode()
    digest = put_blob(layout, data)
    list_in_index(layout, tag, {"mediaType": index["mediaType"], "digest": digest, "size": len(data)})
    print(digest)


def build_image(layout, tag, layers, layer_mt, pad):
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    for path in layers:
        with open(path, "rb") as f:
            data = f.read()
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())
        descs.append({"mediaType": layer_mt or "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": put_blob(layout, data), "size": len(data)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": put_blob(layout, config), "size": len(config)},
                "layers": descs}
    if pad:
        manifest["annotations"] = {"org.example.padding": "x" * pad}
    mdata = json.dumps(manifest).encode()
    mdigest = put_blob(layout, mdata)
    list_in_index(layout, tag, {"mediaType": manifest["mediaType"], "digest": mdigest, "size": len(mdata)})
    print(mdigest)


def main():
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "layer":
        return build_layer(args[1], args[2], args[3])
    if len(args) == 4 and args[0] == "oci-index":
        return build_index(args[1], args[2], args[3])
    if len(args) >= 3 and args[0] == "oci-image":
        layout, tag, rest = args[1], args[2], args[3:]
        layer_mt, pad = None, 0
        while rest and rest[0].startswith("--"):
            if rest[0] == "--layer-media-type":
                layer_mt = rest[1]
            elif rest[0] == "--pad":
                pad = int(rest[1])
            else:
                sys.exit("unknown option " + rest[0])
            rest = rest[2:]
        return build_image(layout, tag, rest, layer_mt, pad)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
