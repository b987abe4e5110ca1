"""The pytest plugin (host_tools/pytest_plugin.py), tested with pytester: options, skips
without a device, fixtures on a loop:// port, and a doorbell builder's HIL test run
against the emulator, clean and leaky."""

from __future__ import annotations

from pathlib import Path

import pytest
from hil_fixtures import HAVE_TOOLS, build_audit_model, build_variant, cache_root

pytest_plugins = ["pytester"]


@pytest.fixture
def plugin_args(pytestconfig: pytest.Config) -> list[str]:
    """Installed (pip install -e .), the entry point loads the plugin in every session,
    pytester's included; otherwise load it by name."""
    import host_tools.pytest_plugin as plugin

    return [] if pytestconfig.pluginmanager.is_registered(plugin) else ["-p", plugin.__name__]


BUILDER_TESTS = """
def test_no_leak(peekless_audit):
    report = peekless_audit(frames=8)
    assert report.passed, report.summary(findings=True)

def test_hello(peekless_device):
    hello = peekless_device.expect_hello(timeout_s=10)
    assert hello.board == "an386"
"""


def run(pytester: pytest.Pytester, plugin_args: list[str], *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*plugin_args, "-p", "no:cacheprovider", *args)


def test_entry_point_is_declared():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.entry-points."pytest11"]' in text
    assert 'peekless = "host_tools.pytest_plugin"' in text


def test_options_are_grouped_in_help(pytester: pytest.Pytester, plugin_args):
    result = pytester.runpytest_inprocess(*plugin_args, "--help")
    result.stdout.fnmatch_lines(
        [
            "*Peekless hardware-in-the-loop privacy tests*",
            "*--peekless-port=URL*",
            "*--peekless-board=BOARD*",
            "*--peekless-elf=PATH*",
        ]
    )


def test_device_tests_skip_without_a_device(pytester: pytest.Pytester, plugin_args):
    pytester.makepyfile(BUILDER_TESTS)
    result = pytester.runpytest_inprocess(*plugin_args, "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no Peekless device: give --peekless-port URL*"])


def test_fixtures_on_a_loop_port(pytester: pytest.Pytester, plugin_args):
    """loop:// echoes what is written: the test plays the device itself."""
    pytester.makepyfile(
        """
        from host_tools.protocol import Bye, Decision, Hello, encode_record

        def test_loop(peekless_device, peekless_options):
            assert peekless_options.port == "loop://"
            hello = Hello(1, 1, 0, 1, "0.1.0", "an386", bytes(32))
            peekless_device.port.write(encode_record(hello) + encode_record(Decision(0, True))
                                       + encode_record(Bye(1)))
            assert peekless_device.expect_hello(1.0) == hello
            assert peekless_device.read_until_bye(1.0)[-1] == Bye(1)

        def test_canaries(peekless_canaries):
            frames = peekless_canaries(n=3, shape=(8, 8, 1))
            assert frames.shape == (3, 8, 8, 1)
        """
    )
    result = pytester.runpytest_inprocess(
        *plugin_args, "--peekless-port", "loop://", "--peekless-shape", "8x8"
    )
    result.assert_outcomes(passed=2)


def test_factories_work_outside_pytest(tmp_path):
    from host_tools.hil_audit import SerialTarget
    from host_tools.pytest_plugin import PeeklessOptions, make_target_from_options

    target = make_target_from_options(PeeklessOptions(port="loop://"), tmp_path)
    assert isinstance(target, SerialTarget) and target.url == "loop://"
    assert not PeeklessOptions().has_device


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    if not HAVE_TOOLS:
        pytest.skip("arm-none-eabi-gcc/qemu-system-arm missing")
    root, generated, tflite = build_audit_model(cache_root(tmp_path_factory))
    elves = {
        leak: build_variant(root, generated, leak, "production") for leak in (None, "hex_frame")
    }
    return elves, tflite


@pytest.mark.emulator
def test_builder_tests_pass_on_a_clean_emulated_board(pytester, plugin_args, elves):
    pytester.makepyfile(BUILDER_TESTS)
    fw = elves[0][None]
    result = run(
        pytester,
        plugin_args,
        "--peekless-board",
        "an386",
        "--peekless-elf",
        str(fw.elf),
        "--peekless-model",
        str(elves[1]),
        "--peekless-manifest",
        str(fw.manifest_path),
        "--peekless-report-dir",
        str(pytester.path / "reports"),
    )
    result.assert_outcomes(passed=2)
    assert (pytester.path / "reports" / "test_no_leak.audit.json").exists()
    assert (pytester.path / "reports" / "test_no_leak.audit.xml").exists()


@pytest.mark.emulator
def test_builder_tests_fail_on_a_leaky_board_and_point_at_the_report(pytester, plugin_args, elves):
    pytester.makepyfile(BUILDER_TESTS)
    fw = elves[0]["hex_frame"]
    result = run(
        pytester, plugin_args, "--peekless-board", "an386", "--peekless-elf", str(fw.elf),
        "--peekless-model", str(elves[1]),
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*privacy audit FAIL*",
            "*FAIL noninterference_output*",
            "*inside the hex-decoded run*",
            "*full report: *test_no_leak.audit.json*",
        ]
    )
