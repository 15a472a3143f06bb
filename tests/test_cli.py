import pathlib
import subprocess
import sys

GOLDEN = pathlib.Path(__file__).parent / "golden" / "functions.py"


def run(*args):
    return subprocess.run([sys.executable, "-m", "sourcediff", *args], capture_output=True, text=True)


def test_dump_prints_the_generated_code():
    result = run("dump", f"{GOLDEN}:scalar_loop")
    assert result.returncode == 0
    assert "def scalar_loop_pullback(state, result_bar):" in result.stdout
    assert "# line 9: x = x * a + math.sin(x)" in result.stdout


def test_dump_of_an_intermediate_stage():
    result = run("dump", f"{GOLDEN}:mlp_loss", "--stage", "normalize")
    assert result.returncode == 0
    assert "predictions = np.tanh(matmul)" in result.stdout


def test_dump_of_a_missing_function_is_a_clear_error():
    result = run("dump", f"{GOLDEN}:nope")
    assert result.returncode == 1
    assert "has no function 'nope'" in result.stderr


def test_dump_of_the_specialisation_for_float_arguments_inlines_arithmetic():
    result = run("dump", f"{GOLDEN}:scalar_loop", "--scalar", "x", "--scalar", "a")
    assert result.returncode == 0
    assert "math.cos(x)" in result.stdout and "rrule" not in result.stdout


def test_dump_of_the_forward_mode():
    result = run("dump", f"{GOLDEN}:scalar_loop", "--mode", "forward")
    assert result.returncode == 0, result.stderr
    assert "def scalar_loop_pushforward(tangents, x, a):" in result.stdout
    assert "# line 9: x = x * a + math.sin(x)" in result.stdout
