# SPDX-License-Identifier: Apache-2.0
"""The OCI specifications' own JSON schemas, as Debian ships them
(golang-github-opencontainers-specs-dev for the runtime spec,
golang-github-opencontainers-image-spec-dev for the image spec; python3-jsonschema
checks them): every config.json cleat writes for runc or a shim, and every
manifest, index and image config the image tests make or cleat stores, must
pass.  runc accepting a document is not enough: a field the schema refuses
is a bug (issue 17: where runtimes drift from the OCI specs).

The schemas are draft-04 and refer to each other by relative names; the
image spec's also by their https ids.  Every reference resolves to a file
of the same directory: nothing is fetched.  Without the packages,
`available()` is False and `check_*` do nothing but say so once: the suites
still run on a machine that lacks them (scripts/deps.sh --test installs them)."""

import json
import os
import sys

GOCODE = "/usr/share/gocode/src/github.com/opencontainers"
RUNTIME_DIR = os.path.join(GOCODE, "runtime-spec", "schema")
IMAGE_DIR = os.path.join(GOCODE, "image-spec", "schema")

# Media types → the image-spec schema of the document (Docker's schema2 types have the same shape).
IMAGE_SCHEMAS = {
    "application/vnd.oci.image.manifest.v1+json": "image-manifest-schema.json",
    "application/vnd.docker.distribution.manifest.v2+json": "image-manifest-schema.json",
    "application/vnd.oci.image.index.v1+json": "image-index-schema.json",
    "application/vnd.docker.distribution.manifest.list.v2+json": "image-index-schema.json",
    "application/vnd.oci.image.config.v1+json": "config-schema.json",
    "application/vnd.docker.container.image.v1+json": "config-schema.json",
}

_validators = {}
_warned = []


def available():
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return False
    return os.path.isfile(os.path.join(RUNTIME_DIR, "config-schema.json")) and \
        os.path.isfile(os.path.join(IMAGE_DIR, "image-manifest-schema.json"))


def _warn_once():
    if not _warned:
        _warned.append(True)
        print("oci_schema: the OCI schemas or python3-jsonschema are missing: documents not checked "
              "(scripts/deps.sh --test)", file=sys.stderr)


def _validator(directory, name):
    key = (directory, name)
    if key in _validators:
        return _validators[key]
    import jsonschema

    class LocalResolver(jsonschema.RefResolver):
        """Any reference, by whatever id chain it was reached (the image spec's ids nest: .../image/descriptor/),
        names a file of `directory`: found by its last path component, never fetched."""

        def resolve_remote(self, uri):
            path = os.path.join(directory, os.path.basename(uri.split("#", 1)[0]))
            if not os.path.isfile(path):
                raise jsonschema.exceptions.RefResolutionError(f"{uri}: no such schema in {directory}")
            with open(path) as f:
                return json.load(f)

    with open(os.path.join(directory, name)) as f:
        schema = json.load(f)
    resolver = LocalResolver(base_uri=f"file://{directory}/{name}", referrer=schema)
    v = jsonschema.Draft4Validator(schema, resolver=resolver, format_checker=jsonschema.FormatChecker())
    _validators[key] = v
    return v


def _check(directory, schema, doc, what):
    if not available():
        _warn_once()
        return
    errors = sorted(_validator(directory, schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]]
        raise AssertionError(f"{what} does not pass the OCI schema {schema}:\n" + "\n".join(lines))


def check_runtime_config(path):
    """A bundle's config.json against the runtime spec's config-schema.json."""
    with open(path) as f:
        doc = json.load(f)
    _check(RUNTIME_DIR, "config-schema.json", doc, path)


def check_image_document(data, media_type, what="document"):
    """A manifest, index or image config (bytes or a parsed object) against its image-spec schema."""
    schema = IMAGE_SCHEMAS.get(media_type)
    assert schema, f"{what}: no OCI schema for media type {media_type}"
    doc = json.loads(data) if isinstance(data, (bytes, str)) else data
    _check(IMAGE_DIR, schema, doc, what)


def check_image_layout(layout):
    """Every document an OCI image layout holds: index.json, oci-layout, and each manifest, index and config
    reachable from it (by the media types of their descriptors)."""
    with open(os.path.join(layout, "oci-layout")) as f:
        _check(IMAGE_DIR, "image-layout-schema.json", json.load(f), f"{layout}/oci-layout")
    with open(os.path.join(layout, "index.json"), "rb") as f:
        check_image_document(f.read(), "application/vnd.oci.image.index.v1+json", f"{layout}/index.json")
    with open(os.path.join(layout, "index.json")) as f:
        todo = list(json.load(f).get("manifests", []))
    seen = set()
    while todo:
        d = todo.pop()
        if d["digest"] in seen or d.get("mediaType") not in IMAGE_SCHEMAS:
            continue
        seen.add(d["digest"])
        algo, hexd = d["digest"].split(":", 1)
        with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
            data = f.read()
        check_image_document(data, d["mediaType"], f"{layout}: {d['digest']}")
        if IMAGE_SCHEMAS[d["mediaType"]] == "config-schema.json":
            continue  # an image config: nothing below it (its own "config" is the run settings)
        doc = json.loads(data)
        todo += doc.get("manifests", []) + ([doc["config"]] if "config" in doc else [])


def check_stored_image(root_dir, info):
    """What cleat keeps of a pulled image (ImageStatus verbose info: manifestDigest, manifestMediaType,
    targetDigest): the manifest or index it resolved, the platform's manifest, and its config, read back from
    cleat's content store under root_dir."""
    def blob(digest):
        algo, hexd = digest.split(":", 1)
        with open(os.path.join(root_dir, "content", "blobs", algo, hexd), "rb") as f:
            return f.read()

    digest, media_type = info["manifestDigest"], info["manifestMediaType"]
    for _ in range(4):  # an index, maybe a nested one, then the manifest
        data = blob(digest)
        check_image_document(data, media_type, f"stored {digest}")
        doc = json.loads(data)
        if "config" in doc:
            cfg = doc["config"]
            check_image_document(blob(cfg["digest"]), cfg["mediaType"], f"stored config {cfg['digest']}")
            return
        chosen = [m for m in doc.get("manifests", []) if m["digest"] == info["targetDigest"]]
        assert chosen, f"stored {digest}: the index does not list the target {info['targetDigest']}"
        digest, media_type = chosen[0]["digest"], chosen[0]["mediaType"]
    raise AssertionError(f"stored image {info['manifestDigest']}: no manifest after 4 indexes")
