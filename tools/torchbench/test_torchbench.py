"""Checks that torchbench times the functions bench/suite times.

    /usr/bin/python3 -m unittest discover -s tools/torchbench

Each PyTorch call is compared, in float64 on small random inputs, with the
loss written out from its definition (mean reduction, focal alpha 0.25 and
gamma 2, Huber delta 1, SmoothL1 beta 1, as bench/suite runs lossfuse), and
the gradient autograd produces with a central finite difference.
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


# The suite's semantics in NumPy float64, from the definitions.
def definition(name, x, y):
    if name == "CrossEntropy":
        return -log_softmax(x)[np.arange(len(y)), y].mean()
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
        m = x.max(axis=1)
        return m + np.log(np.exp(x - m[:, None]).sum(axis=1))
    if name == "Sigmoid":
        return sigmoid(x)
    if name == "LogSigmoid":
        return np.log(sigmoid(x))
    if name == "Softplus":
        return np.log1p(np.exp(x))
    d = np.abs(x - y)
    if name == "MSE":
        return (d * d).mean()
    if name == "L1":
        return d.mean()
    if name in ("Huber", "SmoothL1"):  # delta = beta = 1: the two coincide
        return np.where(d < 1, 0.5 * d * d, d - 0.5).mean()
    raise KeyError(name)


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

    def test_values_match_definitions(self):
        for name in tb.KERNELS:
            with self.subTest(kernel=name):
                inputs = tb.make_inputs(name, 7, 5, torch.float64, seed=3)
                out = tb.make_call(name, "fwd", inputs)()
                arrays = [t.numpy() for t in inputs]
                want = definition(name, *(arrays + [None] * (2 - len(arrays))))
                np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-14)

    def test_fwdbwd_gradient_is_the_losss(self):
        for name in tb.KERNELS:
            if not tb.is_loss(name):
                continue
            with self.subTest(kernel=name):
                inputs = tb.make_inputs(name, 4, 3, torch.float64, seed=5)
                call = tb.make_call(name, "fwdbwd", inputs)
                call()
                call()  # a second call must not accumulate into the first's gradient
                g = call.x.grad.numpy()
                x = inputs[0].numpy()
                rest = [t.numpy() for t in inputs[1:]]
                h = 1e-6
                fd = np.zeros_like(x)
                for i in np.ndindex(x.shape):
                    xp, xm = x.copy(), x.copy()
                    xp[i] += h
                    xm[i] -= h
                    fd[i] = (definition(name, xp, *rest) - definition(name, xm, *rest)) / (2 * h)
                np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8)

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

    def test_bad_flags(self):
        for args in (["--kernels", "Nope"], ["--shapes", "12"], ["--shapes", "0x4"], ["--dtype", "f16"],
                     ["--op", "bwd"], ["--reps", "0"], ["--duration", "-1"], ["--warmup", "-1"],
                     ["--malloc", "jemalloc"]):
            with self.subTest(args=args):
                with self.assertRaises(SystemExit) as cm, unittest.mock.patch("sys.stderr", io.StringIO()):
                    tb.parse_args(args)
                self.assertEqual(cm.exception.code, 2)


if __name__ == "__main__":
    unittest.main()
