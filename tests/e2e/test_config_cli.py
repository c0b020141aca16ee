# SPDX-License-Identifier: Apache-2.0
"""cleatd's command line: --check-config, --print-config, --version, --help,
and start-up refusals, as an operator meets them."""

import os

import yaml

from conftest import PLUGIN_DIR, PLUGIN_DIRS, run_cleatd, sdk_abi


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_version_and_help():
    r = run_cleatd(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("cleatd ")
    r = run_cleatd(["--help"])
    assert r.returncode == 0 and "--check-config" in r.stdout
    r = run_cleatd(["--no-such-flag"])
    assert r.returncode != 0


def test_check_config_typo_reports_line_and_column(tmp_path):
    cfg = write(tmp_path / "cleat.yaml", "log_level: debug\ngrpc:\n  workers: 4\n  wokers: 5\nsockt: /run/x.sock\n")
    r = run_cleatd(["--config", cfg, "--dropin-dir", str(tmp_path / "none"), "--check-config"])
    assert r.returncode != 0
    assert f"{cfg}:4:3: unknown key 'wokers'" in r.stderr
    assert f"{cfg}:5:1: unknown key 'sockt'" in r.stderr
    assert "did you mean 'socket'" in r.stderr


def test_check_config_yaml_syntax_error(tmp_path):
    cfg = write(tmp_path / "cleat.yaml", "grpc:\n  workers: [1, 2\n")
    r = run_cleatd(["--config", cfg, "--dropin-dir", str(tmp_path / "none"), "--check-config"])
    assert r.returncode != 0
    assert r.stderr.startswith(f"{cfg}:")


def test_check_config_embedded_defaults(tmp_path):
    """An empty file means the embedded defaults (with the build's plugin dirs instead of the installed one)."""
    dropins = tmp_path / "d"
    dropins.mkdir()
    write(dropins / "plugins.yaml", f"plugin_dirs: [{', '.join(PLUGIN_DIRS)}]\n")
    r = run_cleatd(["--config", write(tmp_path / "empty.yaml", ""), "--dropin-dir", str(dropins), "--check-config"])
    assert r.returncode == 0, r.stderr
    assert "configuration OK (5 plugin instances)" in r.stdout


def test_check_config_refuses_other_major_plugin(tmp_path):
    cfg = write(tmp_path / "cleat.yaml", f"""plugin_dirs: [{', '.join(PLUGIN_DIRS)}]
runtime:
  default_handler: old
  handlers:
    old: {{plugin: test-other-major}}
""")
    r = run_cleatd(["--config", cfg, "--dropin-dir", str(tmp_path / "none"), "--check-config"])
    assert r.returncode != 0
    assert os.path.join(PLUGIN_DIR, "test-other-major.so") in r.stderr
    major, minor = sdk_abi()
    assert f"ABI {major + 1}.{minor}" in r.stderr and f"ABI {major}.{minor}" in r.stderr
    assert f"{cfg}:5:" in r.stderr  # where the instance was configured


def test_check_config_runtime_kata_options(tmp_path):
    """runtime-kata's options are checked at --check-config, each refusal at the key's line."""
    cases = (("port_forward: tunnel", "'port_forward' must be netns or none"),
             ("config_path: /etc/kata.toml, root: /run/r", "a shim takes one kind"),
             ("pod_annotations: [a*b]", "a '*' only at the end"))
    for options, why in cases:
        cfg = write(tmp_path / "cleat.yaml", f"""plugin_dirs: [{', '.join(PLUGIN_DIRS)}]
runtime:
  default_handler: vm
  handlers:
    vm:
      plugin: runtime-kata
      options: {{shim: /usr/bin/containerd-shim-kata-v2, {options}}}
""")
        r = run_cleatd(["--config", cfg, "--dropin-dir", str(tmp_path / "none"), "--check-config"])
        assert r.returncode != 0 and why in r.stderr and f"{cfg}:7:" in r.stderr, (options, r.stderr)


def test_print_config_merges_dropins_in_lexical_order(tmp_path):
    cfg = write(tmp_path / "cleat.yaml", "log_level: warning\ngrpc: {workers: 2}\n")
    dropins = tmp_path / "cleat.d"
    dropins.mkdir()
    write(dropins / "10-late.yaml", "grpc: {workers: 7}\n")
    write(dropins / "05-early.yaml", "grpc: {workers: 5}\nlog_level: debug\n")
    write(dropins / "README", "not yaml: [")
    r = run_cleatd(["--config", cfg, "--dropin-dir", str(dropins), "--print-config"])
    assert r.returncode == 0, r.stderr
    eff = yaml.safe_load(r.stdout)
    assert eff["grpc"]["workers"] == 7
    assert eff["log_level"] == "debug"
    assert eff["socket"] == "/run/cleat/cleat.sock"  # embedded default kept


def test_print_config_without_any_file(tmp_path):
    r = run_cleatd(["--dropin-dir", str(tmp_path / "none"), "--print-config"])
    assert r.returncode == 0, r.stderr
    eff = yaml.safe_load(r.stdout)
    assert eff["socket"] == "/run/cleat/cleat.sock"
    assert eff["root_dir"] == "/var/lib/cleat"


def test_explicit_missing_config_is_an_error(tmp_path):
    r = run_cleatd(["--config", str(tmp_path / "missing.yaml"), "--dropin-dir", str(tmp_path)])
    assert r.returncode != 0
    assert "missing.yaml" in r.stderr


def test_start_refuses_bad_plugin_with_reason(tmp_path):
    cfg = write(tmp_path / "cleat.yaml", f"""socket: {tmp_path}/s.sock
root_dir: {tmp_path}/root
state_dir: {tmp_path}/run
plugin_dirs: [{', '.join(PLUGIN_DIRS)}]
runtime:
  default_handler: h
  handlers:
    h: {{plugin: test-undefined-symbol}}
""")
    r = run_cleatd(["--config", cfg, "--dropin-dir", str(tmp_path / "none")])
    assert r.returncode != 0
    assert "cleat_test_symbol_that_does_not_exist" in r.stderr
    assert not os.path.exists(tmp_path / "s.sock")
