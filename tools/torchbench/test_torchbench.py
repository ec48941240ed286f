"""Checks that torchbench times the functions bench/suite times.

    /usr/bin/python3 -m unittest discover -s tools/torchbench

Each PyTorch call is compared, in float64 on small random inputs, with the
loss written out from its definition (mean reduction, focal alpha 0.25 and
gamma 2, Huber delta 1, SmoothL1 beta 1, KLDiv's batchmean, Distill's,
DistillReverseKL's and DistillJSD's T = 2 with T² scaling and batchmean,
DistillJSD's beta 0.5, as bench/suite runs lossfuse), and the gradient autograd
produces with a central finite difference. The backward passes are compared
with their vector-Jacobian products written out, and with a central finite
difference of the forward's definition contracted with dy.
"""

import io
import json
import math
import os
import re
import sys
import tempfile
import unittest
import unittest.mock

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchbench as tb  # noqa: E402


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lse(x):
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


# The suite's semantics in NumPy float64, from the definitions. A loss or
# primitive takes its inputs as make_inputs returns them; a backward pass
# takes the saved tensor, dy (and lse or log_sigmoid's buffer, unused) and
# returns the vector-Jacobian product dx.
def definition(name, x, y, *rest):
    if name == "CrossEntropy":
        return -log_softmax(x)[np.arange(len(y)), y].mean()
    if name == "CrossEntropyShards":  # shards..., targets
        return definition("CrossEntropy", np.concatenate((x, y) + rest[:-1], axis=1), rest[-1])
    if name == "NLL":
        return -x[np.arange(len(y)), y].mean()
    if name == "KLDiv":  # x = log q, y = p; batchmean
        return (y * (np.log(y) - x)).sum() / len(x)
    if name == "Distill":  # student and teacher logits, T = 2, T² scaling, batchmean
        T = 2.0
        lq, lp = log_softmax(x / T), log_softmax(y / T)
        return T * T * (np.exp(lp) * (lp - lq)).sum() / len(x)
    if name == "DistillReverseKL":  # KL(Q‖P) of the student's Q and the teacher's P
        T = 2.0
        lq, lp = log_softmax(x / T), log_softmax(y / T)
        return T * T * (np.exp(lq) * (lq - lp)).sum() / len(x)
    if name == "DistillJSD":  # beta·KL(P‖M) + (1−beta)·KL(Q‖M), M = beta·P + (1−beta)·Q
        T, beta = 2.0, tb.DISTILL_BETA  # 0.5, test_every_suite_kernel_is_covered checks
        q, p = np.exp(log_softmax(x / T)), np.exp(log_softmax(y / T))
        m = beta * p + (1 - beta) * q
        return T * T * (beta * (p * np.log(p / m)).sum() + (1 - beta) * (q * np.log(q / m)).sum()) / len(x)
    if name == "CrossEntropyProbs":
        return -(y * log_softmax(x)).sum(axis=1).mean()
    if name == "SoftmaxFocal":
        lp = log_softmax(x)[np.arange(len(y)), y]
        return (-(1 - np.exp(lp)) ** 2 * lp).mean()
    if name == "BCEWithLogits":
        return (-(y * np.log(sigmoid(x)) + (1 - y) * np.log(1 - sigmoid(x)))).mean()
    if name == "BCE":
        return (-(y * np.log(x) + (1 - y) * np.log(1 - x))).mean()
    if name in ("SigmoidFocal", "FocalProbs"):
        p = sigmoid(x) if name == "SigmoidFocal" else x
        ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        pt = np.where(y == 1, p, 1 - p)
        at = np.where(y == 1, 0.25, 0.75)
        return (at * (1 - pt) ** 2 * ce).mean()
    if name == "Softmax":
        return np.exp(log_softmax(x))
    if name == "LogSoftmax":
        return log_softmax(x)
    if name == "LogSumExp":
        return lse(x)
    if name == "Sigmoid":
        return sigmoid(x)
    if name == "LogSigmoid":
        return np.log(sigmoid(x))
    if name == "Softplus":
        return np.log1p(np.exp(x))
    if name == "SoftplusBeta":  # beta 1, threshold 20: PyTorch's formula
        b = 1.0
        return np.where(b * x > 20, x, np.log1p(np.exp(b * x)) / b)
    # Backward passes: x is what the forward saved, y is dy.
    if name == "SoftmaxBackward":  # x = softmax
        return x * (y - (x * y).sum(axis=1, keepdims=True))
    if name == "LogSoftmaxBackward":  # x = log-softmax
        return y - np.exp(x) * y.sum(axis=1, keepdims=True)
    if name == "LogSumExpBackward":  # x = logits, y = dy per row
        return y[:, None] * np.exp(x - lse(x)[:, None])
    if name == "SigmoidBackward":  # x = sigmoid
        return y * x * (1 - x)
    if name == "LogSigmoidBackward":  # x = logits
        return y * sigmoid(-x)
    if name == "SoftplusBackward":  # x = logits
        return y * sigmoid(x)
    d = np.abs(x - y)
    if name == "MSE":
        return (d * d).mean()
    if name == "L1":
        return d.mean()
    if name in ("Huber", "SmoothL1"):  # delta = beta = 1: the two coincide
        return np.where(d < 1, 0.5 * d * d, d - 0.5).mean()
    raise KeyError(name)


# Each backward pass's forward, and where the saved tensor is the forward's
# output y, an input x with f(x) = y (softmax(log y) = y for a normalised
# row, log_softmax of a log-softmax is itself, sigmoid(logit y) = y); None
# where the saved tensor is the forward's input.
BACKWARD_OF = {
    "SoftmaxBackward": ("Softmax", np.log),
    "LogSoftmaxBackward": ("LogSoftmax", lambda y: y),
    "LogSumExpBackward": ("LogSumExp", None),
    "SigmoidBackward": ("Sigmoid", lambda y: np.log(y / (1 - y))),
    "LogSigmoidBackward": ("LogSigmoid", None),
    "SoftplusBackward": ("Softplus", None),
}


def central_difference(f, x, h=1e-6):
    fd = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        fd[i] = (f(xp) - f(xm)) / (2 * h)
    return fd


class Semantics(unittest.TestCase):
    def test_every_suite_kernel_is_covered(self):
        # The Go suite's kernel list, read from its source.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "bench", "suite", "suite.go")) as f:
            src = f.read()
        suite = re.findall(r'^\t\{"(\w+)", Family\w+, \w+\},$', src, re.M)
        self.assertGreater(len(suite), 10)
        self.assertEqual(suite, list(tb.KERNELS))
        self.assertIn("CEShapes = []Shape{{4096, 10}, {1024, 1000}, {256, 32000}, {64, 128256}}", src)
        self.assertEqual(tb.CE_SHAPES, [(4096, 10), (1024, 1000), (256, 32000), (64, 128256)])
        self.assertIn("FlatShape = []Shape{{4096, 256}}", src)
        self.assertIn("ShardShapes = []Shape{{256, 32000}, {64, 128256}}", src)
        self.assertEqual(tb.SHARD_SHAPES, [(256, 32000), (64, 128256)])
        for name, shapes in re.findall(r'^\t\{"(\w+)", Family\w+, (\w+)\},$', src, re.M):
            self.assertIs(tb.KERNELS[name][1], {"CEShapes": tb.CE_SHAPES, "ShardShapes": tb.SHARD_SHAPES,
                                               "FlatShape": tb.FLAT_SHAPE}[shapes], name)
        # The options the kernels run with.
        for const in ("FocalAlpha = 0.25", "FocalGamma = 2.0", "HuberDelta = 1.0", "DistillTemperature = 2.0",
                      "DistillBeta = 0.5", "SmoothBeta = 1.0", "SoftplusBetaBeta = 1.0", "SoftplusBetaThreshold = 20.0",
                      "const Shards = 4"):
            name, value = const.rsplit(" = ", 1)  # gofmt aligns the = signs of a block
            self.assertRegex(src, r"\b%s +=\s+%s(?=\s)" % (re.escape(name), re.escape(value)))
        self.assertEqual((tb.DISTILL_TEMPERATURE, tb.DISTILL_BETA, tb.SOFTPLUS_BETA_BETA, tb.SOFTPLUS_BETA_THRESHOLD,
                          tb.SHARDS), (2.0, 0.5, 1.0, 20.0, 4))

    def test_ops_and_traffic_follow_the_suite(self):
        # Kernel.Ops and Case.Traffic in bench/suite/suite.go, at N=4096, K=256, f32.
        n, k, s = 4096, 256, 4
        nk = n * k
        want = {
            "CrossEntropy": (["fwd", "fwdbwd"], (nk * s + 4 * n, nk * s)),
            "CrossEntropyShards": (["fwd", "fwdbwd"], (nk * s + 4 * n, nk * s)),
            "CrossEntropyProbs": (["fwd", "fwdbwd"], (2 * nk * s, nk * s)),
            "NLL": (["fwd", "fwdbwd"], (n * s + 4 * n, nk * s)),
            "KLDiv": (["fwd", "fwdbwd"], (2 * nk * s, nk * s)),
            "Distill": (["fwd", "fwdbwd"], (2 * nk * s, nk * s)),
            "DistillReverseKL": (["fwd", "fwdbwd"], (2 * nk * s, nk * s)),
            "DistillJSD": (["fwd", "fwdbwd"], (2 * nk * s, nk * s)),  # compulsory traffic, not its three passes
            "LogSumExp": (["fwd"], (nk * s, n * s)),
            "SoftplusBeta": (["fwd"], (nk * s, nk * s)),
            "SoftmaxBackward": (["bwd"], (2 * nk * s, nk * s)),
            "LogSoftmaxBackward": (["bwd"], (2 * nk * s, nk * s)),
            "LogSumExpBackward": (["bwd"], (nk * s + 2 * n * s, nk * s)),
            "SigmoidBackward": (["bwd"], (2 * nk * s, nk * s)),
            "LogSigmoidBackward": (["bwd"], (2 * nk * s, nk * s)),
            "SoftplusBackward": (["bwd"], (2 * nk * s, nk * s)),
        }
        for name, (ops, traffic) in want.items():
            with self.subTest(kernel=name):
                self.assertEqual(tb.ops_of(name), ops)
                self.assertEqual(tb.traffic(name, ops[-1], n, k, s), traffic)

    def test_values_match_definitions(self):
        for name in tb.KERNELS:
            with self.subTest(kernel=name):
                inputs = tb.make_inputs(name, 7, 5, torch.float64, seed=3)
                out = tb.make_call(name, tb.ops_of(name)[0], inputs)()
                arrays = [t.numpy() for t in inputs]
                want = definition(name, *(arrays + [None] * (2 - len(arrays))))
                self.assertEqual(out.shape, np.shape(want))
                np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-14)

    def test_fwdbwd_gradient_is_the_losss(self):
        for name in tb.KERNELS:
            if tb.is_backward(name):
                continue
            if not tb.is_loss(name):
                self.assertEqual(tb.ops_of(name), ["fwd"])
                continue
            with self.subTest(kernel=name):
                inputs = tb.make_inputs(name, 4, 3, torch.float64, seed=5)
                call = tb.make_call(name, "fwdbwd", inputs)
                call()
                call()  # a second call must not accumulate into the first's gradient
                arrays = [t.numpy() for t in inputs]
                ng = tb.grad_inputs(name, inputs)
                self.assertEqual(len(call.xs), ng)
                for j in range(ng):  # each differentiated input, the others held
                    def f(v):
                        return definition(name, *(arrays[:j] + [v] + arrays[j + 1:]))
                    np.testing.assert_allclose(call.xs[j].grad.numpy(), central_difference(f, arrays[j]),
                                               rtol=1e-5, atol=1e-8)

    def test_jsd_beta_weighs_the_teachers_term(self):
        # At the suite's beta = 0.5 the JSD is symmetric in P and Q, so an
        # expression that swapped beta and 1 − beta would pass the checks
        # above: at beta = 0.25 it must still match the definition, where
        # beta weighs KL(P‖M) of the teacher's P as in kernels.Distill.
        with unittest.mock.patch.object(tb, "DISTILL_BETA", 0.25):
            inputs = tb.make_inputs("DistillJSD", 5, 4, torch.float64, seed=7)
            s, t = (v.numpy() for v in inputs)
            out = tb.make_call("DistillJSD", "fwd", inputs)().item()
            self.assertAlmostEqual(out, definition("DistillJSD", s, t), delta=1e-12 * out)
            self.assertGreater(abs(out - definition("DistillJSD", t, s)), 1e-3 * out)
            call = tb.make_call("DistillJSD", "fwdbwd", inputs)
            call()
            np.testing.assert_allclose(call.x.grad.numpy(), central_difference(lambda v: definition("DistillJSD", v, t), s),
                                       rtol=1e-5, atol=1e-8)

    def test_backward_is_the_forwards_vjp(self):
        # A backward pass's dx is dy·∂f/∂x of the forward primitive f, at the
        # x that gives the saved tensor: a finite difference of <dy, f(x)>,
        # and autograd's own backward through f.
        self.assertEqual(sorted(BACKWARD_OF), sorted(n for n in tb.KERNELS if tb.is_backward(n)))
        for name, (fwd, preimage) in BACKWARD_OF.items():
            with self.subTest(kernel=name):
                inputs = tb.make_inputs(name, 4, 3, torch.float64, seed=5)
                dx = tb.make_call(name, "bwd", inputs)().numpy()
                saved, dy = inputs[0].numpy(), inputs[1].numpy()
                x = saved
                if preimage is not None:
                    x = preimage(saved)
                    np.testing.assert_allclose(definition(fwd, x, None), saved, rtol=1e-12, atol=1e-14)
                fd = central_difference(lambda v: (definition(fwd, v, None) * dy).sum(), x)
                np.testing.assert_allclose(dx, fd, rtol=1e-5, atol=1e-8)
                xt = torch.from_numpy(x).requires_grad_(True)
                tb.KERNELS[fwd][2](xt).backward(inputs[1])
                np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)

    def test_input_distributions(self):
        x, t = tb.make_inputs("CrossEntropy", 2048, 10, torch.float32, seed=1)
        self.assertEqual(x.dtype, torch.float32)
        self.assertAlmostEqual(x.std().item(), 2, delta=0.05)
        self.assertTrue(0 <= t.min().item() and t.max().item() == 9)
        p, y = tb.make_inputs("BCE", 64, 64, torch.float32, seed=1)
        self.assertTrue(p.min().item() >= 0.01 and p.max().item() <= 0.99)
        self.assertEqual(sorted(set(y.flatten().tolist())), [0.0, 1.0])
        _, q = tb.make_inputs("CrossEntropyProbs", 8, 50, torch.float32, seed=1)
        np.testing.assert_allclose(q.sum(dim=1).numpy(), 1, rtol=1e-5)
        lq, p = tb.make_inputs("KLDiv", 64, 500, torch.float64, seed=1)
        np.testing.assert_allclose(lq.exp().sum(dim=1).numpy(), 1, rtol=1e-12)
        np.testing.assert_allclose(p.sum(dim=1).numpy(), 1, rtol=1e-12)
        self.assertAlmostEqual((p.log() - p.log().mean(dim=1, keepdim=True)).std().item(), 2, delta=0.05)
        for name in ("Distill", "DistillReverseKL", "DistillJSD"):
            s, t = tb.make_inputs(name, 256, 64, torch.float32, seed=1)
            for v in (s, t):
                self.assertAlmostEqual(v.std().item(), 2, delta=0.05, msg=name)
            self.assertFalse(torch.equal(s, t))
        x, t = tb.make_inputs("NLL", 2048, 10, torch.float32, seed=1)
        self.assertAlmostEqual(x.std().item(), 2, delta=0.05)
        shards = tb.make_inputs("CrossEntropyShards", 8, 10, torch.float32, seed=1)
        self.assertEqual([v.shape[1] for v in shards[:-1]], [2, 3, 2, 3])
        self.assertEqual(shards[-1].shape, (8,))
        self.assertTrue(all(v.is_contiguous() for v in shards))
        y, dy = tb.make_inputs("SoftmaxBackward", 512, 64, torch.float32, seed=1)
        np.testing.assert_allclose(y.sum(dim=1).numpy(), 1, rtol=1e-5)
        self.assertAlmostEqual(dy.std().item(), 1, delta=0.05)
        x, dy, l = tb.make_inputs("LogSumExpBackward", 512, 64, torch.float32, seed=1)
        self.assertEqual((dy.shape, l.shape), ((512,), (512,)))
        np.testing.assert_allclose(l.numpy(), torch.logsumexp(x.double(), 1).numpy(), rtol=1e-6)
        self.assertAlmostEqual(x.std().item(), 2, delta=0.05)
        y, _ = tb.make_inputs("SigmoidBackward", 64, 64, torch.float32, seed=1)
        self.assertTrue(0 < y.min().item() and y.max().item() < 1)
        for name in ("LogSigmoidBackward", "SoftplusBackward", "SoftplusBeta"):
            x = tb.make_inputs(name, 512, 64, torch.float32, seed=1)[0]
            self.assertAlmostEqual(x.std().item(), 2, delta=0.05, msg=name)


class Output(unittest.TestCase):
    def run_tiny(self):
        a = tb.parse_args(["--kernels", "crossentropy,Sigmoid", "--shapes", "8x10", "--duration", "0.01", "--reps", "3", "--warmup", "0"])
        err = io.StringIO()
        res = tb.measure(a, progress=err)
        return a, res, err.getvalue()

    def test_measure_and_formats(self):
        a, res, progress = self.run_tiny()
        self.assertEqual([(r["kernel"], r["op"]) for r in res],
                         [("CrossEntropy", "fwd"), ("CrossEntropy", "fwdbwd"), ("Sigmoid", "fwd")])
        self.assertIn("[  3/3]", progress)
        for r in res:
            self.assertEqual(len(r["samples_ns_per_call"]), 3)
            self.assertEqual(r["ns_per_call"], sorted(r["samples_ns_per_call"])[1])
            self.assertAlmostEqual(r["ns_per_elem"], r["ns_per_call"] / 80)
        self.assertEqual(res[1]["bytes_read"], 8 * 10 * 4 + 4 * 8)
        self.assertEqual(res[1]["bytes_written"], 8 * 10 * 4)
        mach = tb.machine(a)
        self.assertEqual(mach["threads"], 1)
        self.assertIn("freed memory kept", mach["malloc"])

        table = io.StringIO()
        tb.write_table(table, mach, res)
        self.assertIn("CrossEntropy  fwdbwd  f32", table.getvalue())

        bench = io.StringIO()
        tb.write_benchstat(bench, mach, res, 2)
        lines = bench.getvalue().splitlines()
        # Go's benchmark line: name, iterations, then value-unit pairs.
        line = re.compile(r"^Benchmark(\w+)/op=(fwd|fwdbwd)/dtype=f32/isa=pytorch/n=8/k=10-2\t\d+"
                          r"\t[\d.]+ ns/op\t[\d.]+ MB/s\t[\d.e+]+ elems/s$")
        benches = [l for l in lines if l.startswith("Benchmark")]
        self.assertEqual(len(benches), 9)
        for l in benches:
            self.assertRegex(l, line)
        self.assertTrue(all(re.match(r"^[a-z]+: ", l) for l in lines if not l.startswith("Benchmark")))

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.json")
            with unittest.mock.patch("sys.stdout", io.StringIO()), unittest.mock.patch("sys.stderr", io.StringIO()):
                tb.main(["--kernels", "MSE", "--shapes", "4x4", "--op", "fwdbwd", "--duration", "0.01", "--reps", "1",
                         "--warmup", "0", "--malloc", "glibc", "--json", path])
            with open(path) as f:
                doc = json.load(f)
            self.assertEqual(doc["machine"]["threads"], 1)
            # mallopt from the run above stays in force in this process.
            self.assertEqual(doc["machine"]["malloc"], mach["malloc"])
            self.assertEqual([(r["kernel"], r["op"], r["n"], r["k"]) for r in doc["results"]], [("MSE", "fwdbwd", 4, 4)])

    def test_backward_ops(self):
        a = tb.parse_args(["--kernels", "SigmoidBackward,LogSumExpBackward,NLL", "--shapes", "8x10", "--op", "fwdbwd",
                           "--duration", "0.01", "--reps", "2", "--warmup", "0"])
        res = tb.measure(a, progress=io.StringIO())
        self.assertEqual([(r["kernel"], r["op"]) for r in res],
                         [("SigmoidBackward", "bwd"), ("LogSumExpBackward", "bwd"), ("NLL", "fwdbwd")])
        self.assertEqual((res[1]["bytes_read"], res[1]["bytes_written"]), (80 * 4 + 2 * 8 * 4, 80 * 4))
        bench = io.StringIO()
        tb.write_benchstat(bench, tb.machine(a), res, 1)
        self.assertIn("BenchmarkSigmoidBackward/op=bwd/dtype=f32/isa=pytorch/n=8/k=10-1\t", bench.getvalue())
        self.assertEqual(tb.parse_args(["--op", "bwd"]).op, ["bwd"])

    def test_bad_flags(self):
        for args in (["--kernels", "Nope"], ["--shapes", "12"], ["--shapes", "0x4"], ["--dtype", "f16"],
                     ["--op", "back"], ["--reps", "0"], ["--duration", "-1"], ["--warmup", "-1"],
                     ["--malloc", "jemalloc"]):
            with self.subTest(args=args):
                with self.assertRaises(SystemExit) as cm, unittest.mock.patch("sys.stderr", io.StringIO()):
                    tb.parse_args(args)
                self.assertEqual(cm.exception.code, 2)


if __name__ == "__main__":
    unittest.main()
