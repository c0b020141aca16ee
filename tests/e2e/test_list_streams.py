# SPDX-License-Identifier: Apache-2.0
"""The Stream* list RPCs (KEP-5825: StreamPodSandboxes, StreamContainers,
StreamContainerStats, StreamPodSandboxStats, StreamPodSandboxMetrics,
StreamImages) answer what their List* twins answer, with the same filters,
in pages: every message has at least one item and at most 100
(cri_items.h), no item twice, and no items is no message at all.  For 0, 1
and many objects of each kind, with real runc.

500 objects are made cheaply: pods on the node's network in one cgroup
parent, images that share one small layer and differ in one config label;
containers cost a real runc create and start each, so there are 120 of
them (two pages), which run `true` and have exited (no shim or runc left).
Stats and metrics carry figures that change between two calls, so for them
the items' identities are compared, not the figures.

One cleatd of its own (the 500 objects would slow the other modules)."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import oci_schema
import pod_fixture
from conftest import module_pod_env

PAGE_ITEMS = 100  # CRI_PAGE_ITEMS
MANY = int(os.environ.get("CLEAT_E2E_STREAM_MANY", "500"))
# Containers cost a real runc create and start each (~0.15 s here): enough for two pages, not 500.
MANY_CONTAINERS = min(MANY, 120)


@pytest.fixture(scope="module")
def streams_env(tmp_path_factory, cri, test_layout):
    with module_pod_env(tmp_path_factory, cri, test_layout, "runc", name="streams") as env:
        yield env


def stream_pages(call, req):
    """The messages of a server stream, each as its list of items (the message's only field)."""
    pages = []
    for msg in call(req, timeout=120):
        (field, items), = msg.ListFields()
        pages.append(list(items))
    return pages


def twins(env, kind, **filt):
    """(List* items, Stream* pages) of one kind, with the same filter."""
    pb2, rt, img = env.pb2, env.rt, env.img
    if kind == "pods":
        f = pb2.PodSandboxFilter(**filt)
        return (list(rt.ListPodSandbox(pb2.ListPodSandboxRequest(filter=f), timeout=120).items),
                stream_pages(rt.StreamPodSandboxes, pb2.StreamPodSandboxesRequest(filter=f)))
    if kind == "containers":
        f = pb2.ContainerFilter(**filt)
        return (list(rt.ListContainers(pb2.ListContainersRequest(filter=f), timeout=120).containers),
                stream_pages(rt.StreamContainers, pb2.StreamContainersRequest(filter=f)))
    if kind == "container_stats":
        f = pb2.ContainerStatsFilter(**filt)
        return (list(rt.ListContainerStats(pb2.ListContainerStatsRequest(filter=f), timeout=120).stats),
                stream_pages(rt.StreamContainerStats, pb2.StreamContainerStatsRequest(filter=f)))
    if kind == "pod_stats":
        f = pb2.PodSandboxStatsFilter(**filt)
        return (list(rt.ListPodSandboxStats(pb2.ListPodSandboxStatsRequest(filter=f), timeout=120).stats),
                stream_pages(rt.StreamPodSandboxStats, pb2.StreamPodSandboxStatsRequest(filter=f)))
    if kind == "pod_metrics":
        assert not filt
        return (list(rt.ListPodSandboxMetrics(pb2.ListPodSandboxMetricsRequest(), timeout=120).pod_metrics),
                stream_pages(rt.StreamPodSandboxMetrics, pb2.StreamPodSandboxMetricsRequest()))
    assert kind == "images"
    f = pb2.ImageFilter(**filt)
    return (list(img.ListImages(pb2.ListImagesRequest(filter=f), timeout=120).images),
            stream_pages(img.StreamImages, pb2.StreamImagesRequest(filter=f)))


def identity(kind, item):
    """What stays the same between two calls: the whole item, but for stats and metrics their object's id."""
    if kind == "container_stats":
        return item.attributes.id
    if kind == "pod_stats":
        return item.attributes.id, sorted(c.attributes.id for c in item.linux.containers)
    if kind == "pod_metrics":
        return item.pod_sandbox_id, sorted(c.container_id for c in item.container_metrics)
    return item.SerializeToString(deterministic=True)


def same_answer(env, kind, ret_pages=False, **filt):
    """The Stream* twin answers what List* answers, in pages of 1..100; returns the items (or the pages).
    Small items fill pages of 100 (all but the last)."""
    listed, pages = twins(env, kind, **filt)
    assert all(1 <= len(p) <= PAGE_ITEMS for p in pages), [len(p) for p in pages]
    streamed = [item for p in pages for item in p]
    assert [identity(kind, i) for i in streamed] == [identity(kind, i) for i in listed]
    if ret_pages:
        return pages
    assert len(pages) == (len(listed) + PAGE_ITEMS - 1) // PAGE_ITEMS
    return streamed


ALL_KINDS = ("pods", "containers", "container_stats", "pod_stats", "pod_metrics", "images")


def test_none(streams_env):
    env = streams_env
    for kind in ALL_KINDS[:-1]:
        assert same_answer(env, kind) == [], kind
    # Images: the env pulled its test images; a filter naming one that is not there finds none.
    assert same_answer(env, "images", image=env.pb2.ImageSpec(image="sha256:" + "0" * 64)) == []


def test_one_and_filters(streams_env):
    env = streams_env
    pb2 = env.pb2
    pod = env.run_pod(labels={"app": "one"})
    ctr = env.run(pod, command=["sleep", "3600"], labels={"tier": "one"})
    try:
        for kind in ALL_KINDS[:-1]:
            assert len(same_answer(env, kind)) == 1, kind
        assert len(same_answer(env, "images")) == len(env.image_ids)
        # The filters of the List twins, and what they leave out.
        assert len(same_answer(env, "pods", id=pod[:12], label_selector={"app": "one"})) == 1
        assert same_answer(env, "pods", label_selector={"app": "other"}) == []
        state = pb2.PodSandboxStateValue(state=pb2.SANDBOX_NOTREADY)
        assert same_answer(env, "pods", state=state) == []
        assert len(same_answer(env, "containers", pod_sandbox_id=pod, label_selector={"tier": "one"})) == 1
        assert same_answer(env, "containers", state=pb2.ContainerStateValue(state=pb2.CONTAINER_EXITED)) == []
        assert len(same_answer(env, "container_stats", id=ctr)) == 1
        assert same_answer(env, "container_stats", pod_sandbox_id="nosuchpod") == []
        assert len(same_answer(env, "pod_stats", label_selector={"app": "one"})) == 1
        app = same_answer(env, "images", image=pb2.ImageSpec(image=env.image_refs["app"]))
        assert [i.id for i in app] == [env.image_ids["app"]]
    finally:
        env.stop_pod(pod)
        env.remove_pod(pod)
        env.pod_ids.remove(pod)


def remove_pods(env, pods):
    def gone(pod):
        env.stop_pod(pod)
        env.remove_pod(pod)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(gone, pods))
    env.pod_ids = [p for p in env.pod_ids if p not in set(pods)]


def test_pages_bounded_in_bytes(streams_env):
    """Big items: a page is sent once it has 1 MiB, so it is less than 1 MiB and one item."""
    env = streams_env
    big = {"note": "x" * (200 * 1024)}
    pods = [env.run_pod(host_network=True, annotations=big, labels={"big": "yes"}) for _ in range(12)]
    try:
        pages = same_answer(env, "pods", ret_pages=True, label_selector={"big": "yes"})
        sizes = [sum(i.ByteSize() for i in p) for p in pages]
        assert len(pages) > 1 and sum(len(p) for p in pages) == 12, sizes
        item = max(i.ByteSize() for p in pages for i in p)
        assert all(s < 1024 * 1024 + item for s in sizes), sizes
        assert all(s >= 1024 * 1024 for s in sizes[:-1]), sizes  # each full page but the last
    finally:
        remove_pods(env, pods)


def make_images(env, tmp_path, n):
    """n images in one OCI layout: one small layer, each config with a label of its own."""
    layout = str(tmp_path / "many-images")
    layer = pod_fixture.layer_tar([(pod_fixture.tar_info("hello"), b"hello\n")])
    manifests = [pod_fixture._write_image(layout, f"many-{i}", [layer], {"Labels": {"n": str(i)}})[0]
                 for i in range(n)]
    pod_fixture._write_index(layout, manifests)
    oci_schema.check_image_layout(layout)
    refs = [f"oci:{layout}:many-{i}" for i in range(n)]
    pull = lambda ref: env.img.PullImage(env.pb2.PullImageRequest(image=env.pb2.ImageSpec(image=ref)), timeout=120)
    with ThreadPoolExecutor(4) as pool:
        return [r.image_ref for r in pool.map(pull, refs)]


def make_pods(env, n):
    """n ready pods on the node's network, in one cgroup parent."""
    parent = f"/cleat-e2e-streams-{os.getpid()}"
    configs = [env.pod_config(name=f"many-{i}", host_network=True, cgroup_parent=parent, labels={"many": "yes"})
               for i in range(n)]
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(env.run_pod, configs))


def make_containers(env, pods):
    """One container in each pod, which ran `true` and exited."""
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda pod: env.run(pod, command=["true"], labels={"many": "yes"}), pods))
    for cid in made:
        env.wait_exited(cid)
    return made


def test_many(streams_env, tmp_path):
    env = streams_env
    t0 = time.monotonic()
    images = make_images(env, tmp_path, MANY)
    t1 = time.monotonic()
    pods = make_pods(env, MANY)
    t2 = time.monotonic()
    containers = make_containers(env, pods[:MANY_CONTAINERS])
    t3 = time.monotonic()
    print(f"made {MANY} images in {t1 - t0:.1f} s, {MANY} pods in {t2 - t1:.1f} s, "
          f"{MANY_CONTAINERS} containers in {t3 - t2:.1f} s")
    for kind in ALL_KINDS:
        assert len(same_answer(env, kind)) >= MANY_CONTAINERS, kind
    assert len(same_answer(env, "pods", label_selector={"many": "yes"})) == MANY
    assert len(same_answer(env, "pod_stats", label_selector={"many": "yes"})) == MANY
    assert len(same_answer(env, "pod_metrics")) == MANY
    assert len(same_answer(env, "containers", label_selector={"many": "yes"})) == MANY_CONTAINERS
    assert len(same_answer(env, "container_stats", label_selector={"many": "yes"})) == MANY_CONTAINERS
    assert {i.id for i in same_answer(env, "images")} >= set(images)
    assert len(containers) == MANY_CONTAINERS
    t4 = time.monotonic()
    remove_pods(env, pods)
    print(f"compared in {t4 - t3:.1f} s, removed in {time.monotonic() - t4:.1f} s")
