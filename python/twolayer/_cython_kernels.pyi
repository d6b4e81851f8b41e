# Stubs for the compiled kernels (src/twolayer/_cython_kernels.pyx). The AVX2 and
# AVX-512 builds (_cython_kernels_avx2, _cython_kernels_avx512) share this interface.
import numpy as np
import numpy.typing as npt

TILE: int
SMALL_TILE: int
LANES: int
TILES_PER_BLOCK: int
BLOCK: int
FEATURE_CHUNK: int
# train_epoch's solver codes (twolayer._solver_codes holds Python's copy)
SGD: int
NESTEROV: int
ADAM: int

_Float = np.float32 | np.float64

def gradient_sums(
    X: npt.NDArray[_Float],
    Y: npt.NDArray[_Float],
    theta: npt.NDArray[_Float],
    grad: npt.NDArray[_Float],
    n_threads: int,
) -> float: ...
def train_chunk(
    X: npt.NDArray[_Float],
    Y: npt.NDArray[_Float],
    theta: npt.NDArray[_Float],
    learning_rate: float,
    costs: npt.NDArray[_Float],
    n_threads: int,
) -> int: ...
def train_epoch(
    X: npt.NDArray[_Float],
    Y: npt.NDArray[_Float],
    sample_weight: npt.NDArray[_Float],
    order: npt.NDArray[np.int64],
    theta: npt.NDArray[_Float],
    state: npt.NDArray[_Float],
    hyper: npt.NDArray[np.float64],
    solver: int,
    batch_size: int,
    softmax: int,
    n_threads: int,
) -> tuple[int, float]: ...
def tanh(x: npt.NDArray[_Float], out: npt.NDArray[_Float], repeats: int = 1) -> None: ...
def exp_neg(x: npt.NDArray[_Float], out: npt.NDArray[_Float], repeats: int = 1) -> None: ...
def log1p_unit(x: npt.NDArray[_Float], out: npt.NDArray[_Float], repeats: int = 1) -> None: ...
def loss_and_residual(
    z: npt.NDArray[_Float],
    y: npt.NDArray[_Float],
    loss: npt.NDArray[_Float],
    residual: npt.NDArray[_Float],
) -> None: ...

X_BEYOND_LIMIT: int
PARAMS_NOT_FINITE: int
OVERFLOW: int

def forward_chunk(
    X: npt.NDArray[_Float],
    W1: npt.NDArray[_Float],
    b1: npt.NDArray[_Float],
    W2: npt.NDArray[_Float],
    b2: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
    start: int,
    stop: int,
    mode: int,
    n_threads: int,
) -> int: ...
