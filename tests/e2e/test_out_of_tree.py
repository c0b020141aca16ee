# SPDX-License-Identifier: Apache-2.0
"""The SDK as a third party gets it: `cmake --install` into a prefix, then a
plugin built with `pkg-config cleat-plugin` and nothing else, loaded by cleatd."""

import os
import shutil
import subprocess

import pytest

from conftest import SHIPPED_PLUGIN_DIRS, SOURCE_DIR

BUILD_DIR = os.environ.get("CLEAT_BUILD_DIR", "")
HEADERS = ["plugin.h", "error.h", "config.h", "mount.h", "runtime.h", "snapshotter.h", "transport.h", "network.h"]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    p = tmp_path_factory.mktemp("prefix")
    subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", str(p)], check=True, capture_output=True)
    return p


def pkg_config(prefix, *args):
    pcs = [os.path.join(root, f) for root, _, files in os.walk(prefix) for f in files if f == "cleat-plugin.pc"]
    assert len(pcs) == 1, pcs
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
    return subprocess.run(["pkg-config"] + list(args) + ["cleat-plugin"], env=env, check=True,
                          capture_output=True, text=True).stdout.split()


def test_install_layout(prefix):
    assert os.access(prefix / "bin" / "cleatd", os.X_OK)
    for h in HEADERS:
        assert (prefix / "include" / "cleat" / h).is_file(), h
    assert list(prefix.rglob("cleatd.service"))
    assert list(prefix.rglob("cleat.yaml.example"))


@pytest.mark.parametrize("header", HEADERS)
def test_each_header_stands_alone(prefix, header, tmp_path):
    """C99 -pedantic and C++, each header on its own, as the ABI rules ask."""
    cflags = pkg_config(prefix, "--cflags")
    src = tmp_path / "h.c"
    src.write_text(f"#include <cleat/{header}>\nint main(void) {{ return 0; }}\n")
    subprocess.run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"] + cflags
                   + [str(src)], check=True)
    if shutil.which("g++"):
        subprocess.run(["g++", "-x", "c++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"] + cflags
                       + [str(src)], check=True)


def test_out_of_tree_plugin_loads(prefix, tmp_path, cleatd_factory, runtime_stub, cri):
    pb2, _ = cri
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    src = os.path.join(SOURCE_DIR, "tests", "out-of-tree", "hello_runtime.c")
    flags = pkg_config(prefix, "--cflags", "--libs")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(plugins / "hello-runtime.so"), src]
                   + flags, check=True)
    # Only cleat_plugin is exported.
    syms = subprocess.run(["nm", "-D", "--defined-only", str(plugins / "hello-runtime.so")], check=True,
                          capture_output=True, text=True).stdout.split()
    assert "cleat_plugin" in syms and "hello_init" not in syms

    d = cleatd_factory(f"""plugin_dirs: [{", ".join([str(plugins)] + SHIPPED_PLUGIN_DIRS)}]
runtime:
  default_handler: hello
  handlers:
    hello: {{plugin: hello-runtime, options: {{greeting: bonjour}}}}
""", base=tmp_path / "d")
    d.start()
    resp = runtime_stub(d).Status(pb2.StatusRequest())
    ready = {c.type: c.status for c in resp.status.conditions}
    assert ready["RuntimeReady"]
    handlers = {h.name: h.features for h in resp.runtime_handlers}
    assert handlers["hello"].recursive_read_only_mounts
    assert "bonjour from an out-of-tree plugin" in d.read_log()
