#!/usr/bin/python3
"""torchbench: PyTorch on one thread, on the kernels and shapes of bench/suite.

The baseline lossfuse's performance targets are stated against (issue 3):
PyTorch with torch.set_num_threads(1), float32, the loss forward alone and
forward+backward through autograd, the gradient taken with respect to the
input the way a training step pays for it:

    x.grad = None                      # optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(x, target)  # mean reduction, as in bench/suite
    loss.backward()                    # autograd writes x.grad

The forward alone runs under torch.no_grad() on an input that does not
require grad (evaluation). Primitives (softmax, ...) are forward only, called
as users call them (allocating their output). The gradient of Distill,
DistillReverseKL and DistillJSD is taken with respect to the student's
logits only (the teacher is frozen);
CrossEntropyShards' with respect to each of its vocabulary shards.

The primitives' backward passes (SoftmaxBackward, ..., op "bwd" as in
bench/suite) are the kernels autograd's engine calls, with the saved tensor
and dy, outside grad mode, allocating dx: torch._softmax_backward_data,
torch._log_softmax_backward_data, aten's sigmoid_backward,
log_sigmoid_backward (which also reads the buffer log_sigmoid_forward
saved) and softplus_backward, and for logsumexp the expression PyTorch's
derivative formula evaluates, dy.unsqueeze(1) * (x - lse.unsqueeze(1)).exp().

Inputs follow bench/suite's distributions (logits and predictions ~ N(0, 2²),
regression inputs and the backward passes' dy ~ N(0, 1), uniform class
targets, softmax-normalised probability targets, 0/1 binary targets,
probabilities uniform in [0.01, 0.99], KLDiv's log-softmax input and softmax
target of N(0, 2²) logits, the backward passes' saved softmax, log-softmax,
sigmoid or N(0, 2²) logits) from a fixed seed; they are not the same numbers
as the Go suite's, which does not matter for speed.

Timing mirrors cmd/lossbench: calibrate an iteration count, time `reps`
repetitions of it, report the median time per call. The default clock is the
process's CPU time (CLOCK_PROCESS_CPUTIME_ID, every thread of the process),
so time other processes hold the core does not count, as lossbench's thread
CPU clock; --clock wall uses the wall clock.

    /usr/bin/python3 tools/torchbench/torchbench.py                     # table
    /usr/bin/python3 tools/torchbench/torchbench.py --json torch.json   # and JSON
    /usr/bin/python3 tools/torchbench/torchbench.py --benchstat torch.txt

--json writes the results in cmd/lossbench's JSON shape (isa "pytorch"), so
`go run ./cmd/lossbench -torch torch.json` adds PyTorch's column and the
speed-up over it. --benchstat writes every repetition as a Go benchmark line
named like bench/'s sub-benchmarks with isa=pytorch, for benchstat.
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# The suite's options (bench/suite/suite.go).
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
HUBER_DELTA = 1.0
SMOOTH_BETA = 1.0
DISTILL_TEMPERATURE = 2.0  # with T² scaling
DISTILL_BETA = 0.5  # DistillJSD's mixing weight β (DistillBeta)
SOFTPLUS_BETA_BETA = 1.0  # SoftplusBetaBeta
SOFTPLUS_BETA_THRESHOLD = 20.0  # SoftplusBetaThreshold
SHARDS = 4  # CrossEntropyShards' vocabulary shards (fewer when K is smaller)

CE_SHAPES = [(4096, 10), (1024, 1000), (256, 32000), (64, 128256)]
SHARD_SHAPES = [(256, 32000), (64, 128256)]
FLAT_SHAPE = [(4096, 256)]

# bench/suite's families.
CE, BINARY, REGRESSION, ROWS, ELEMENTWISE = "ce", "binary", "regression", "rows", "elementwise"
ROWS_BACKWARD, ELEMENTWISE_BACKWARD = "rows-backward", "elementwise-backward"


def softmax_focal(x, t):
    # No built-in: the usual composition, with the focal factor applied to
    # the gathered target log-probability only (cheaper than on all of N×K).
    logpt = F.log_softmax(x, dim=1).gather(1, t.unsqueeze(1)).squeeze(1)
    pt = logpt.exp()
    return (-((1 - pt) ** FOCAL_GAMMA) * logpt).mean()


def sigmoid_focal(x, y):
    from torchvision.ops import sigmoid_focal_loss
    return sigmoid_focal_loss(x, y, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="mean")


def sharded_cross_entropy(*shards_and_targets):
    # The vocabulary shards in their own buffers: no sharded built-in on one
    # device, so the shards are concatenated (and autograd copies each
    # shard's slice of the gradient out again).
    *shards, t = shards_and_targets
    return F.cross_entropy(torch.cat(shards, dim=1), t)


def distill(s, t):
    # Hinton's distillation loss at temperature T with T² scaling, the KL
    # summed over each row and averaged over the rows (batchmean), from
    # the student's and the teacher's logits.
    T = DISTILL_TEMPERATURE
    return T * T * F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1),
                            reduction="batchmean", log_target=True)


def distill_reverse_kl(s, t):
    # The reverse KL(Q‖P) of the student's Q and the teacher's P, T² times,
    # batchmean: kl_div with the roles of the two log-softmaxes swapped.
    T = DISTILL_TEMPERATURE
    return T * T * F.kl_div(F.log_softmax(t / T, dim=1), F.log_softmax(s / T, dim=1),
                            reduction="batchmean", log_target=True)


def distill_jsd(s, t):
    # The generalised Jensen–Shannon divergence β·KL(P‖M) + (1−β)·KL(Q‖M),
    # M = β·P + (1−β)·Q, T² times, batchmean, as TRL's generalized_jsd_loss
    # writes it for 0 < β < 1: log M as a logsumexp of the two shifted
    # log-softmaxes, then two kl_div calls against it.
    T, beta = DISTILL_TEMPERATURE, DISTILL_BETA
    student, teacher = F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1)
    mix = torch.logsumexp(torch.stack([student + math.log(1 - beta), teacher + math.log(beta)]), dim=0)
    kl_teacher = F.kl_div(mix, teacher, reduction="batchmean", log_target=True)
    kl_student = F.kl_div(mix, student, reduction="batchmean", log_target=True)
    return T * T * (beta * kl_teacher + (1 - beta) * kl_student)


def logsumexp_backward(x, dy, lse):
    # torch.logsumexp's derivative formula (FunctionsManual's
    # logsumexp_backward): dy·exp(x − lse), the row values unsqueezed.
    return dy.unsqueeze(1) * (x - lse.unsqueeze(1)).exp()


def focal_probs(p, y):
    # torchvision's sigmoid_focal_loss with the probabilities given directly.
    ce = F.binary_cross_entropy(p, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** FOCAL_GAMMA)
    alpha_t = FOCAL_ALPHA * y + (1 - FOCAL_ALPHA) * (1 - y)
    return (alpha_t * loss).mean()


# name -> (family, shapes, function of the inputs, how PyTorch computes it),
# in bench/suite's order. Losses take (x, second input), CrossEntropyShards
# (shard, ..., targets); primitives take x; backward passes take (saved
# tensor, dy) and LogSumExpBackward lse, LogSigmoidBackward the buffer last.
KERNELS = {
    "CrossEntropy": (CE, CE_SHAPES, lambda x, t: F.cross_entropy(x, t), "F.cross_entropy(x, int64 targets)"),
    "CrossEntropyProbs": (CE, CE_SHAPES, lambda x, p: F.cross_entropy(x, p), "F.cross_entropy(x, probability targets)"),
    "SoftmaxFocal": (CE, CE_SHAPES, softmax_focal, "composed: log_softmax, gather, (1-pt)^2 (no built-in)"),
    "CrossEntropyShards": (CE, SHARD_SHAPES, sharded_cross_entropy,
                           "F.cross_entropy(torch.cat(4 vocabulary shards, 1), int64 targets) (no sharded built-in)"),
    "NLL": (CE, CE_SHAPES, lambda x, t: F.nll_loss(x, t), "F.nll_loss(x, int64 targets)"),
    "KLDiv": (BINARY, CE_SHAPES, lambda x, p: F.kl_div(x, p, reduction="batchmean"),
              "F.kl_div(log-softmax input, softmax target, reduction='batchmean')"),
    "Distill": (BINARY, CE_SHAPES, distill,
                "T*T * F.kl_div(F.log_softmax(s/T, 1), F.log_softmax(t/T, 1), log_target=True, reduction='batchmean'), T=2; grad of s"),
    "DistillReverseKL": (BINARY, CE_SHAPES, distill_reverse_kl,
                         "T*T * F.kl_div(F.log_softmax(t/T, 1), F.log_softmax(s/T, 1), log_target=True, reduction='batchmean'), T=2; grad of s"),
    "DistillJSD": (BINARY, CE_SHAPES, distill_jsd,
                   "T*T * TRL's generalized JSD: mix = logsumexp(stack([log_softmax(s/T)+log(1-b), log_softmax(t/T)+log b])), "
                   "b*kl_div(mix, teacher) + (1-b)*kl_div(mix, student) (log_target, batchmean), T=2, b=0.5; grad of s"),
    "BCEWithLogits": (BINARY, FLAT_SHAPE, F.binary_cross_entropy_with_logits, "F.binary_cross_entropy_with_logits"),
    "BCE": (BINARY, FLAT_SHAPE, F.binary_cross_entropy, "F.binary_cross_entropy"),
    "SigmoidFocal": (BINARY, FLAT_SHAPE, sigmoid_focal, "torchvision.ops.sigmoid_focal_loss(alpha=0.25, gamma=2)"),
    "FocalProbs": (BINARY, FLAT_SHAPE, focal_probs, "composed: torchvision's focal formula on probabilities"),
    "MSE": (REGRESSION, FLAT_SHAPE, F.mse_loss, "F.mse_loss"),
    "L1": (REGRESSION, FLAT_SHAPE, F.l1_loss, "F.l1_loss"),
    "Huber": (REGRESSION, FLAT_SHAPE, lambda x, y: F.huber_loss(x, y, delta=HUBER_DELTA), "F.huber_loss(delta=1)"),
    "SmoothL1": (REGRESSION, FLAT_SHAPE, lambda x, y: F.smooth_l1_loss(x, y, beta=SMOOTH_BETA), "F.smooth_l1_loss(beta=1)"),
    "Softmax": (ROWS, FLAT_SHAPE, lambda x: torch.softmax(x, dim=1), "torch.softmax(x, 1)"),
    "LogSoftmax": (ROWS, FLAT_SHAPE, lambda x: torch.log_softmax(x, dim=1), "torch.log_softmax(x, 1)"),
    "LogSumExp": (ROWS, FLAT_SHAPE, lambda x: torch.logsumexp(x, dim=1), "torch.logsumexp(x, 1)"),
    "Sigmoid": (ELEMENTWISE, FLAT_SHAPE, torch.sigmoid, "torch.sigmoid"),
    "LogSigmoid": (ELEMENTWISE, FLAT_SHAPE, F.logsigmoid, "F.logsigmoid"),
    "Softplus": (ELEMENTWISE, FLAT_SHAPE, F.softplus, "F.softplus"),
    "SoftplusBeta": (ELEMENTWISE, FLAT_SHAPE,
                     lambda x: F.softplus(x, beta=SOFTPLUS_BETA_BETA, threshold=SOFTPLUS_BETA_THRESHOLD),
                     "F.softplus(x, beta=1, threshold=20)"),
    "SoftmaxBackward": (ROWS_BACKWARD, FLAT_SHAPE, lambda y, dy: torch._softmax_backward_data(dy, y, 1, y.dtype),
                        "torch._softmax_backward_data(dy, y, 1, y.dtype)"),
    "LogSoftmaxBackward": (ROWS_BACKWARD, FLAT_SHAPE,
                           lambda y, dy: torch._log_softmax_backward_data(dy, y, 1, y.dtype),
                           "torch._log_softmax_backward_data(dy, y, 1, y.dtype)"),
    "LogSumExpBackward": (ROWS_BACKWARD, FLAT_SHAPE, logsumexp_backward,
                          "dy.unsqueeze(1) * (x - lse.unsqueeze(1)).exp() (logsumexp's derivative formula)"),
    "SigmoidBackward": (ELEMENTWISE_BACKWARD, FLAT_SHAPE, lambda y, dy: torch.ops.aten.sigmoid_backward(dy, y),
                        "aten.sigmoid_backward(dy, y)"),
    "LogSigmoidBackward": (ELEMENTWISE_BACKWARD, FLAT_SHAPE,
                           lambda x, dy, buf: torch.ops.aten.log_sigmoid_backward(dy, x, buf),
                           "aten.log_sigmoid_backward(dy, x, buffer of log_sigmoid_forward)"),
    "SoftplusBackward": (ELEMENTWISE_BACKWARD, FLAT_SHAPE,
                         lambda x, dy: torch.ops.aten.softplus_backward(dy, x, 1.0, 20.0),
                         "aten.softplus_backward(dy, x, beta=1, threshold=20)"),
}

DTYPES = {"f32": torch.float32, "f64": torch.float64}


def is_loss(name):
    return KERNELS[name][0] in (CE, BINARY, REGRESSION)


def is_backward(name):
    return KERNELS[name][0] in (ROWS_BACKWARD, ELEMENTWISE_BACKWARD)


def ops_of(name):
    """The ops bench/suite's Kernel.Ops lists for the kernel."""
    if is_loss(name):
        return ["fwd", "fwdbwd"]
    return ["bwd"] if is_backward(name) else ["fwd"]


def grad_inputs(name, inputs):
    """How many leading inputs fwdbwd differentiates: the logits, or each
    of CrossEntropyShards' shards."""
    return len(inputs) - 1 if name == "CrossEntropyShards" else 1


def shard_cuts(k):
    """CrossEntropyShards' shard boundaries, as bench/suite cuts them."""
    parts = min(SHARDS, k)
    return [i * k // parts for i in range(parts + 1)]


def make_inputs(name, n, k, dtype, seed):
    """The kernel's inputs, in bench/suite's distributions."""
    g = torch.Generator().manual_seed(seed)
    family = KERNELS[name][0]
    normal = lambda sigma: (sigma * torch.randn(n, k, generator=g, dtype=torch.float64)).to(dtype)
    if family == CE:
        x = normal(2)
        if name == "CrossEntropyProbs":
            return x, torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64), dim=1).to(dtype)
        t = torch.randint(0, k, (n,), generator=g, dtype=torch.int64)
        if name == "CrossEntropyShards":
            cuts = shard_cuts(k)
            return tuple(x[:, lo:hi].contiguous() for lo, hi in zip(cuts, cuts[1:])) + (t,)
        return x, t
    if name == "KLDiv":  # a student's log-softmax against a teacher's softmax
        lx = 2 * torch.randn(n, k, generator=g, dtype=torch.float64)
        ly = 2 * torch.randn(n, k, generator=g, dtype=torch.float64)
        return torch.log_softmax(lx, dim=1).to(dtype), torch.softmax(ly, dim=1).to(dtype)
    if name in ("Distill", "DistillReverseKL", "DistillJSD"):  # student and teacher logits
        return normal(2), normal(2)
    if family in (ROWS_BACKWARD, ELEMENTWISE_BACKWARD):
        # What the forward saved, from N(0, 2²) logits rounded to dtype,
        # and dy ~ N(0, 1) (one per row for logsumexp).
        x = normal(2)
        wide = x.to(torch.float64)
        if name == "LogSumExpBackward":
            dy = torch.randn(n, generator=g, dtype=torch.float64).to(dtype)
            return x, dy, torch.logsumexp(wide, dim=1).to(dtype)
        saved = {
            "SoftmaxBackward": lambda: torch.softmax(wide, dim=1).to(dtype),
            "LogSoftmaxBackward": lambda: torch.log_softmax(wide, dim=1).to(dtype),
            "SigmoidBackward": lambda: torch.sigmoid(wide).to(dtype),
        }.get(name, lambda: x)()
        dy = normal(1)
        if name == "LogSigmoidBackward":
            return saved, dy, torch.ops.aten.log_sigmoid_forward(x)[1]
        return saved, dy
    if family == BINARY:
        if name in ("BCE", "FocalProbs"):
            x = (0.01 + 0.98 * torch.rand(n, k, generator=g, dtype=torch.float64)).to(dtype)
        else:
            x = normal(2)
        return x, torch.randint(0, 2, (n, k), generator=g).to(dtype)
    if family == REGRESSION:
        return normal(1), normal(1)
    return (normal(2),)


def make_call(name, op, inputs):
    """A function making one call of the kernel for op; it returns the output."""
    fn = KERNELS[name][2]
    if op in ("fwd", "bwd"):
        # A backward pass runs as autograd's engine runs it: grad mode off.
        def fwd():
            with torch.no_grad():
                return fn(*inputs)
        return fwd
    ng = grad_inputs(name, inputs)
    xs = [t.clone().requires_grad_(True) for t in inputs[:ng]]
    rest = inputs[ng:]

    def fwdbwd():
        for x in xs:
            x.grad = None  # zero_grad(set_to_none=True): autograd allocates the gradient
        loss = fn(*xs, *rest)
        loss.backward()
        return loss
    fwdbwd.x, fwdbwd.xs = xs[0], xs
    return fwdbwd


def clock_ns(kind):
    return time.process_time_ns if kind == "cpu" else time.perf_counter_ns


def keep_freed_memory():
    """Stop glibc malloc from giving freed memory back to the kernel.

    By default the 32 MB tensors of the large shapes are often unmapped or
    trimmed on free and page-faulted in again by a later call (8000 faults,
    which doubles that call's time at 256×32000 here). A caching allocator
    would avoid that, so the baseline is measured without it: favourable to
    PyTorch. Returns whether mallopt accepted both settings."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
        ok = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False
    global _malloc_kept
    _malloc_kept = _malloc_kept or ok
    return ok


_malloc_kept = False  # mallopt is process-wide and cannot be undone here


def time_calls(now, reps, duration_ns, f, warmup_ns=0):
    """Port of lossbench's timeCalls: ns per call of each repetition,
    sorted. Calibrates an iteration count so the repetitions together take
    about duration_ns; a slow call lowers the repetitions. It first warms
    up (allocator, caches, autograd's first-call paths) for at least 5
    calls and warmup_ns."""
    start, calls = now(), 0
    while calls < 5 or now() - start < warmup_ns:
        f()
        calls += 1
    start = now()
    f()
    el, iters = now() - start, 1
    target = duration_ns / reps
    while el < target / 8 and iters < 1 << 30:
        iters *= 8
        start = now()
        for _ in range(iters):
            f()
        el = now() - start
    per = max(el / iters, 1.0)
    reps = max(1, min(reps, int(duration_ns / per)))
    iters = max(1, int(duration_ns / reps / per))
    samples = []
    for _ in range(reps):
        start = now()
        for _ in range(iters):
            f()
        samples.append((now() - start) / iters)
    samples.sort()
    return samples, iters


def traffic(name, op, n, k, size):
    """Bytes a call must read and write at least (bench/suite's Case.Traffic)."""
    family = KERNELS[name][0]
    nk = n * k
    grad = op == "fwdbwd"
    if family == CE:
        read = n * size if name == "NLL" else nk * size  # NLL: one log-probability per row
        read += nk * size if name == "CrossEntropyProbs" else 4 * n  # targets are int32 in Go
        return read, nk * size if grad else 0
    if family in (BINARY, REGRESSION):
        return 2 * nk * size, nk * size if grad else 0
    if family in (ROWS_BACKWARD, ELEMENTWISE_BACKWARD):  # the saved tensor and dy; dx
        if name == "LogSumExpBackward":  # x; dy and lse per row
            return nk * size + 2 * n * size, nk * size
        return 2 * nk * size, nk * size
    if name == "LogSumExp":
        return nk * size, n * size
    return nk * size, nk * size


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch (one thread) on bench/suite's kernels and shapes.")
    p.add_argument("--kernels", default="all", help="comma-separated kernels, or all: " + ", ".join(KERNELS))
    p.add_argument("--shapes", default="", help="comma-separated NxK shapes for every kernel (default: the suite's)")
    p.add_argument("--dtype", default="f32", help="f32, f64 or f32,f64")
    p.add_argument("--op", default="fwd,fwdbwd",
                   help="fwd, fwdbwd or fwd,fwdbwd (bwd is accepted too); primitives always run fwd, their backward passes bwd")
    p.add_argument("--duration", type=float, default=1.0, help="seconds per measurement, over all repetitions")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up calls before each measurement")
    p.add_argument("--malloc", choices=["keep", "glibc"], default="keep",
                   help="keep: glibc malloc keeps freed memory (no page faults per call; favourable to PyTorch); glibc: its defaults")
    p.add_argument("--reps", type=int, default=10, help="repetitions per measurement; the median is reported")
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="process CPU time (default) or wall clock")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (the targets use 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="FILE", help="write the results as JSON (cmd/lossbench's -torch input)")
    p.add_argument("--benchstat", metavar="FILE", help="write Go benchmark lines (isa=pytorch) for benchstat")
    p.add_argument("--gomaxprocs", type=int, default=os.cpu_count() or 1,
                   help="the -N suffix of the --benchstat names: match go test's GOMAXPROCS (default: the CPU count)")
    a = p.parse_args(argv)
    if a.kernels.strip().lower() == "all":
        a.kernels = list(KERNELS)
    else:
        names = {n.lower(): n for n in KERNELS}
        ks = []
        for s in filter(None, (s.strip() for s in a.kernels.split(","))):
            if s.lower() not in names:
                p.error("--kernels: unknown kernel %r (have %s)" % (s, ", ".join(KERNELS)))
            ks.append(names[s.lower()])
        a.kernels = ks
    shapes = []
    for s in filter(None, (s.strip() for s in a.shapes.split(","))):
        try:
            n, k = (int(v) for v in s.lower().split("x"))
            if n <= 0 or k <= 0:
                raise ValueError
        except ValueError:
            p.error("--shapes: %r is not NxK with positive N and K" % s)
        shapes.append((n, k))
    a.shapes = shapes or None
    a.dtype = [d.strip() for d in a.dtype.split(",") if d.strip()]
    if not a.dtype or any(d not in DTYPES for d in a.dtype):
        p.error("--dtype: want f32, f64 or f32,f64")
    a.op = [o.strip() for o in a.op.split(",") if o.strip()]
    if not a.op or any(o not in ("fwd", "fwdbwd", "bwd") for o in a.op):
        p.error("--op: want fwd, fwdbwd, bwd or a comma-separated list of them")
    if a.duration <= 0 or a.warmup < 0 or not 1 <= a.reps <= 1000 or a.threads < 1:
        p.error("--duration must be positive, --warmup not negative, --reps in 1..1000, --threads at least 1")
    return a


def measure(a, progress=None):
    progress = progress or sys.stderr
    if a.malloc == "keep" and not keep_freed_memory():
        print("torchbench: warning: could not set glibc's mallopt; PyTorch runs with the allocator's defaults", file=progress)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    now = clock_ns(a.clock)
    plans = []
    for name in a.kernels:
        ops = [o for o in ops_of(name) if o in a.op] or ops_of(name)
        for dt in a.dtype:
            for (n, k) in a.shapes or KERNELS[name][1]:
                plans.append((name, dt, n, k, ops))
    total = sum(len(p[4]) for p in plans)
    results, done = [], 0
    for name, dt, n, k, ops in plans:
        inputs = make_inputs(name, n, k, DTYPES[dt], a.seed)
        size = torch.finfo(DTYPES[dt]).bits // 8
        for op in ops:
            done += 1
            print("[%3d/%d] %-18s %-6s %s %-10s" % (done, total, name, op, dt, "%dx%d" % (n, k)), end="", file=progress, flush=True)
            call = make_call(name, op, inputs)
            gc.collect()
            gc.disable()  # no Python collections inside the timed loop
            try:
                samples, iters = time_calls(now, a.reps, a.duration * 1e9, call, a.warmup * 1e9)
            finally:
                gc.enable()
            if op == "fwdbwd":
                for x, want in zip(call.xs, inputs):
                    g = x.grad
                    assert g is not None and g.shape == want.shape and g.dtype == DTYPES[dt], "no input gradient"
            ns = statistics.median(samples)
            read, written = traffic(name, op, n, k, size)
            elems = n * k
            results.append({
                "kernel": name, "op": op, "dtype": dt, "n": n, "k": k, "isa": "pytorch",
                "ns_per_call": ns, "ns_per_elem": ns / elems, "gelem_per_s": elems / ns,
                "gb_per_s": (read + written) / ns, "bytes_read": read, "bytes_written": written,
                "iterations": iters, "samples_ns_per_call": samples, "pytorch_call": KERNELS[name][3],
            })
            print(" %8.3f ns/elem" % (ns / elems), file=progress, flush=True)
    return results


def machine(a):
    cap = ""
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # before torch 2.0: read it from the build summary
        for line in torch.__config__.show().splitlines():
            if "CPU capability usage" in line:
                cap = line.split(":", 1)[1].strip()
    return {
        "cpu": cpu_name(), "torch": torch.__version__, "torch_cpu_capability": cap,
        "threads": torch.get_num_threads(), "python": platform.python_version(),
        "clock": "process CPU time" if a.clock == "cpu" else "wall clock",
        "reps": a.reps, "duration_per_measurement_s": a.duration, "warmup_s": a.warmup,
        "malloc": "glibc, freed memory kept (M_MMAP_MAX=0, M_TRIM_THRESHOLD=2^31-1)"
                  if _malloc_kept else "glibc defaults",
    }


def write_table(out, mach, results):
    print("torchbench: PyTorch %s on %d thread(s), CPU %s, kernels %s" % (
        mach["torch"], mach["threads"], mach["cpu"], mach["torch_cpu_capability"] or "?"), file=out)
    print("%s, median of up to %d repetitions, %.2fs per measurement after %.2fs warm-up; malloc: %s" % (
        mach["clock"], mach["reps"], mach["duration_per_measurement_s"], mach["warmup_s"], mach["malloc"]), file=out)
    print("ns per element, lower is better; spread = (slowest - fastest repetition) / 2 / median\n", file=out)
    rows = [("kernel", "op", "dtype", "N×K", "ns/elem", "Gelem/s", "GB/s", "spread", "PyTorch call")]
    for r in results:
        s = r["samples_ns_per_call"]
        spread = "±%.0f%%" % (50 * (s[-1] - s[0]) / r["ns_per_call"]) if len(s) > 1 else "-"
        rows.append((r["kernel"], r["op"], r["dtype"], "%d×%d" % (r["n"], r["k"]), num(r["ns_per_elem"]),
                     num(r["gelem_per_s"]), "%.2f" % r["gb_per_s"], spread, r["pytorch_call"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) if i in (0, 1, 2, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=out)


def write_benchstat(out, mach, results, gomaxprocs):
    # Go's benchmark format: a configuration header, then one line per
    # repetition, so benchstat sees `reps` samples of each name. The names
    # end in -GOMAXPROCS like go test's, so that the rows line up with
    # theirs (the suffix says nothing about PyTorch, which uses --threads).
    print("goos: linux\ngoarch: %s\npkg: github.com/lossfuse/lossfuse/bench\ncpu: %s" % (
        platform.machine().replace("x86_64", "amd64").replace("aarch64", "arm64"), mach["cpu"]), file=out)
    # No further configuration lines (torch version, threads): benchstat
    # would split its tables on a key the Go results lack.
    for r in results:
        name = "Benchmark%s/op=%s/dtype=%s/isa=pytorch/n=%d/k=%d-%d" % (
            r["kernel"], r["op"], r["dtype"], r["n"], r["k"], gomaxprocs)
        elems = r["n"] * r["k"]
        for ns in r["samples_ns_per_call"]:
            print("%s\t%d\t%.1f ns/op\t%.2f MB/s\t%.4g elems/s" % (
                name, r["iterations"], ns, (r["bytes_read"] + r["bytes_written"]) / ns * 1e3, elems / ns * 1e9), file=out)


def num(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def main(argv):
    a = parse_args(argv)
    results = measure(a)
    mach = machine(a)
    write_table(sys.stdout, mach, results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": mach, "results": results}, f, indent=1)
            f.write("\n")
    if a.benchstat:
        with open(a.benchstat, "w") as f:
            write_benchstat(f, mach, results, a.gomaxprocs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
