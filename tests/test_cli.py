"""The ``convergent`` command line: info, demo, bench."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import convergent as cg
import numpy as np
import pytest
from convergent import cli


def test_console_script_entry_point():
    eps = entry_points(group="console_scripts")
    assert any(ep.name == "convergent" and ep.value == "convergent.cli:main" for ep in eps)


def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("convergent ") and "isa" in out and "threads" in out


def test_info_as_module():
    r = subprocess.run([sys.executable, "-m", "convergent.cli", "info"], capture_output=True,
                       text=True, check=True)  # fmt: skip
    assert "openmp" in r.stdout


def test_demo_writes_figure_and_table(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "tmp.png"
    argv = ["demo", "--epochs", "2", "--optimizers", "sgd,adam", "--output", str(out),
            "--threads", "1", "--no-progress"]  # fmt: skip
    threads = cg.get_num_threads()
    assert cli.main(argv) == 0
    assert cg.get_num_threads() == threads
    text = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = text.splitlines()
    assert lines[0].split() == [
        "optimizer",
        "train",
        "loss",
        "val",
        "accuracy",
        "epochs",
        "seconds",
    ]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:3]}
    assert set(rows) == {"SGD", "Adam"}
    for r in rows.values():
        assert float(r[1]) < 2.3 and 0.5 < float(r[2]) <= 1.0 and r[3] == "2"


def test_demo_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["demo", "--epochs", "0"])
    assert "expected an integer >= 1" in capsys.readouterr().err
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    assert cli.main(["demo", "--optimizers", "sgd,lamb", "--no-progress"]) == 2
    assert "lamb" in capsys.readouterr().err


def test_demo_unwritable_output(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "missing" / "c.png"
    argv = ["demo", "--epochs", "1", "--optimizers", "sgd", "--output", str(out),
            "--threads", "1", "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 2
    assert "missing" in capsys.readouterr().err


def test_bench_help():
    r = subprocess.run([sys.executable, "-m", "convergent.cli", "bench", "--help"],
                       capture_output=True, text=True, check=True)  # fmt: skip
    assert "--quick" in r.stdout and "--only" in r.stdout


OPTIM_TABLE = """\
convergent 0.1.0 (ISA avx2)
optimizer  params  tensors  convergent ms  GB/s  numpy ms  torch ms  vs numpy  vs torch
     Adam      1M        1           0.40  73.4      3.10      0.90     7.75x     2.25x
      SGD      1M      100           0.30  69.9       n/a      0.50       n/a     1.67x

vs X = X's time / convergent's time
"""


def test_parse_ratios():
    rows = cli.parse_ratios(OPTIM_TABLE, "optim")
    assert rows == [
        ("optim", "Adam 1M 1", "numpy", "7.75x"),
        ("optim", "Adam 1M 1", "torch", "2.25x"),
        ("optim", "SGD 1M 100", "torch", "1.67x"),
    ]


EPOCH_OUTPUT = """\
one epoch, 60000 samples, MLP 784-256-128-10, Adam, 2 threads, best of 3 alternating rounds

batch 128:
  convergent        1.000
  torch             2.500  convergent is 2.50x faster
  sklearn           4.000  convergent is 4.00x faster
  GEMM GFLOP/s at the layer shapes: fwd 128x784x256: 60.0
"""


def test_parse_faster_lines():
    assert cli.parse_ratios(EPOCH_OUTPUT, "epoch") == [
        ("epoch", "batch 128", "torch", "2.50x"),
        ("epoch", "batch 128", "sklearn", "4.00x"),
    ]


GEMM_TABLE = """\
M x K x N    dtype  convergent GFLOP/s  numpy GFLOP/s  torch GFLOP/s  cg / numpy  cg / torch
128x784x256  float32              60.0           40.0           50.0        1.50        1.20
2 threads, best of 3 rounds, load average 1.00
"""
DENSE_TABLE = """\
batch  convergent (us/step)  torch (us/step)  torch / cg (speedup)
  128                   500             1000                  2.00
"""


def test_parse_ratio_column_styles():
    assert cli.parse_ratios(GEMM_TABLE, "gemm") == [
        ("gemm", "128x784x256 float32", "numpy", "1.50x"),
        ("gemm", "128x784x256 float32", "torch", "1.20x"),
    ]
    assert cli.parse_ratios(DENSE_TABLE, "dense") == [("dense", "128", "torch", "2.00x")]


def test_bench_runs_runners_and_summarizes(tmp_path, capsys):
    script = textwrap.dedent(
        f"""
        import sys
        if "--help" in sys.argv:
            sys.exit(print("usage: compare_optim.py [--quick]"))
        print("quick" if "--quick" in sys.argv else "full")
        print({OPTIM_TABLE!r})
        """
    )
    (tmp_path / "compare_optim.py").write_text(script)
    (tmp_path / "compare_gemm.py").write_text("import sys; sys.exit(3)\n")
    assert cli.main(["bench", "--quick", "--bench-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "quick" in out and "[gemm failed with exit code 3]" in out
    assert "compare_dense.py not present, skipped" in out
    summary = out[out.index("Summary") :].splitlines()
    assert summary[2].split() == ["optim", "Adam", "1M", "1", "numpy", "7.75x"]
    assert cli.main(["bench", "--only", "optim,nope", "--bench-dir", str(tmp_path)]) == 2
    assert cli.main(["bench", "--bench-dir", str(tmp_path / "missing")]) == 2


def test_demo_runs_every_optimizer(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from convergent.demo import DEFAULT, OPTIMIZERS

    assert set(DEFAULT) <= set(OPTIMIZERS) and {"lion", "schedulefree_adamw"} <= set(DEFAULT)
    out = tmp_path / "all.png"
    argv = ["demo", "--epochs", "2", "--optimizers", ",".join(OPTIMIZERS), "--output", str(out),
            "--threads", "1", "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    for label, *_ in OPTIMIZERS.values():
        row = next(line for line in table.splitlines() if line.startswith(label + " "))
        loss, accuracy = float(row.split()[1]), float(row.split()[2])
        assert np.isfinite(loss) and accuracy > 0.6, row  # 10 classes: chance is 0.1
    assert out.exists()
