# SPDX-License-Identifier: Apache-2.0
"""Pull progress and cancellation end to end: cleatd pulls (through
image-docker) from a registry double that serves the manifest and config and
then stalls half-way through the layer, headers sent.  A pull that makes no
progress for images.pull_progress_timeout_seconds fails with
DEADLINE_EXCEEDED naming the setting; a pull whose client cancels is
cancelled (once every client sharing it has gone); progress is logged at
images.pull_progress_log_interval_seconds; and nothing is left behind: no
blob, no partial download, no snapshot, no image."""

import glob
import http.server
import os
import random
import select
import threading
import time

import grpc
import pytest

import registry_fixture as rf
from pod_fixture import wait_for
from test_images import content_blobs, daemon_config, image_manifest, snapshot_fs_dirs, write_index

REPO = "test/stall"


class StallingRegistry:
    """FAKE (a test double, not a registry): /v2/ API enough for one image, whose layer blob is cut off after
    half of its bytes, the response's headers promising all of it.  It then waits for the client to close
    the connection, and counts the closes it saw."""

    def __init__(self, layout, desc):
        blobs = {}
        for path in glob.glob(os.path.join(layout, "blobs", "sha256", "*")):
            with open(path, "rb") as f:
                blobs["sha256:" + os.path.basename(path)] = f.read()
        manifest = blobs[desc["digest"]]
        stalled = set(desc["layers"])
        server = self
        self.stalls = 0
        self.closed_by_client = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def head(self, code, length, headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(length))
                self.end_headers()

            def stall(self, data):
                self.head(200, len(data), [("Docker-Content-Digest", self.path.rsplit("/", 1)[1])])
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                with server.lock:
                    server.stalls += 1
                sock = self.connection
                while not server.stopping.is_set():
                    if select.select([sock], [], [], 0.1)[0]:
                        if not sock.recv(1, 0):  # the client closed the connection
                            with server.lock:
                                server.closed_by_client += 1
                            break
                self.close_connection = True

            def serve(self, body):
                if self.path == "/v2/":
                    return self.head(200, 0)
                if self.path in (f"/v2/{REPO}/manifests/t", f"/v2/{REPO}/manifests/{desc['digest']}"):
                    self.head(200, len(manifest), [("Content-Type", rf.MT_OCI_MANIFEST),
                                                   ("Docker-Content-Digest", desc["digest"])])
                    return body and self.wfile.write(manifest)
                prefix = f"/v2/{REPO}/blobs/"
                digest = self.path[len(prefix):] if self.path.startswith(prefix) else None
                if digest not in blobs:
                    return self.head(404, 0)
                if digest in stalled and body:
                    return self.stall(blobs[digest])
                self.head(200, len(blobs[digest]), [("Docker-Content-Digest", digest)])
                return body and self.wfile.write(blobs[digest])

            def do_GET(self):
                self.serve(True)

            def do_HEAD(self):
                self.serve(False)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.hostport = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """An image whose one layer is 4 MiB of random bytes (gzip cannot shrink it)."""
    base = tmp_path_factory.mktemp("stall")
    path = str(base / "layout")
    data = random.Random(16).randbytes(4 << 20)
    desc = image_manifest(path, [[{"name": "blob", "data": data, "kind": "file", "mode": 0o644, "link": None}]])
    write_index(path, [("t", desc)])
    return path, desc


@pytest.fixture
def stalling(layout):
    reg = StallingRegistry(*layout)
    yield reg
    reg.stop()


def start(cleatd_factory, cri, reg, timeout, interval=1):
    pb2, pb2_grpc = cri
    # The transport's own stall timeout (30 s) is far above the core's: it is the core that cancels.
    config = daemon_config(reg.hostport).replace("connect_timeout_seconds: 2", "connect_timeout_seconds: 2\n"
                                                 "      stall_timeout_seconds: 30") + \
        f"images:\n  pull_progress_timeout_seconds: {timeout}\n  pull_progress_log_interval_seconds: {interval}\n"
    d = cleatd_factory(config).start()
    d.images = pb2_grpc.ImageServiceStub(d.channel())
    return d


def request(pb2, reg):
    return pb2.PullImageRequest(image=pb2.ImageSpec(image=f"{reg.hostport}/{REPO}:t"))


def pull_answered(d, n=1):
    """Wait until n cancelled PullImage calls have returned (their clean-up, garbage collection, is done)."""
    wait_for(lambda: d.read_log().count("ImageService/PullImage CANCELLED") >= n, 20, "the cancelled pull to return")


def assert_nothing_left(d, pb2):
    assert list(d.images.ListImages(pb2.ListImagesRequest(), timeout=30).images) == []
    assert content_blobs(d) == set()
    assert os.listdir(os.path.join(d.root_dir, "content", "ingest")) == []
    assert snapshot_fs_dirs(d) == []


def test_stalled_pull_fails_after_the_progress_timeout(cleatd_factory, cri, stalling):
    pb2, _ = cri
    d = start(cleatd_factory, cri, stalling, timeout=2)
    began = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        d.images.PullImage(request(pb2, stalling), timeout=60)
    took = time.monotonic() - began
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value.details()
    assert "no progress for 2 s (images.pull_progress_timeout_seconds)" in e.value.details()
    assert "of 4" in e.value.details() and "0 of 1 layers" in e.value.details()
    assert took < 20  # not the transport's 30 s
    assert stalling.stalls == 1
    # The transfer itself was stopped (the connection closed), not left hanging.
    wait_for(lambda: stalling.closed_by_client == 1, 10, "the stalled connection to be closed")
    log = d.read_log()
    assert "layer bytes received, 0 of 1 layers done" in log  # the progress log, once a second
    assert_nothing_left(d, pb2)


def test_client_that_cancels_cancels_the_pull(cleatd_factory, cri, stalling):
    pb2, _ = cri
    d = start(cleatd_factory, cri, stalling, timeout=0)  # no progress timeout: only the client can end it
    call = d.images.PullImage.future(request(pb2, stalling), timeout=120)
    wait_for(lambda: stalling.stalls == 1, 20, "the layer download to stall")
    call.cancel()
    wait_for(lambda: "every caller's client went away: cancelled" in d.read_log(), 10, "the pull to be cancelled")
    wait_for(lambda: stalling.closed_by_client == 1, 10, "the stalled connection to be closed")
    pull_answered(d)
    assert_nothing_left(d, pb2)


def test_shared_pull_goes_on_while_one_client_waits(cleatd_factory, cri, stalling):
    """Two clients share one pull: the first leaving does not cancel it for the second."""
    pb2, _ = cri
    d = start(cleatd_factory, cri, stalling, timeout=0)
    first = d.images.PullImage.future(request(pb2, stalling), timeout=120)
    wait_for(lambda: stalling.stalls == 1, 20, "the layer download to stall")
    second = d.images.PullImage.future(request(pb2, stalling), timeout=120)
    time.sleep(1)  # joined
    first.cancel()
    time.sleep(3)  # three ticks of the pull's monitor
    assert "went away" not in d.read_log()
    assert not second.done()
    assert stalling.closed_by_client == 0
    second.cancel()
    wait_for(lambda: "every caller's client went away: cancelled" in d.read_log(), 10, "the pull to be cancelled")
    wait_for(lambda: stalling.closed_by_client == 1, 10, "the stalled connection to be closed")
    pull_answered(d, 2)
    assert_nothing_left(d, pb2)
