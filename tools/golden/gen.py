#!/usr/bin/python3
"""Generate lossfuse's golden vectors from PyTorch.

Run from the repository root with Debian's PyTorch 1.13 and torchvision 0.14:

    /usr/bin/python3 tools/golden/gen.py [family ...]

It writes one gzip-compressed JSON file per case family to
kernels/testdata/golden/ (read by kernels/golden_test.go; CI never needs
PyTorch); with family names (e.g. "distill") only those. The output is
deterministic: fixed seeds, sorted keys, gzip mtime 0.

File layout (per family):

    {"family": "ce",
     "inputs": {name: {"prec": 32|64, "n": N, "k": K, "x": [...], "t": [...],
                       "y": [...], "w": [...], "pw": [...], "alpha": [...],
                       "dy": [...], "lse": [...]}},
     "cases": [{"name", "op", "in", "reduction", options..., "source",
                "out": {"f32": {...}, "f64": {...}}, "dev": [...]}]}

The family ce_half holds CrossEntropyHalf's cases (op "ce"): PyTorch
1.13's F.cross_entropy on CPU bfloat16 logits; "x" and "w" are bfloat16
values (written as float32 numbers), and each case has an "f32" block
(PyTorch in float32 on the widened values) and a "bf16" block (PyTorch in
bfloat16: "loss" for mean and sum, "rows" for none, "grad"); see
build_ce_half. Float16 logits are not covered: PyTorch 1.13 has no CPU
log_softmax for Half.

The family primitives_backward holds the primitives' backward passes and
SoftplusBeta: "dy" is the upstream gradient, "y" the saved output (Softmax,
LogSoftmax, Sigmoid), "x" the saved input, "lse" LogSumExp's saved output;
its cases carry "beta" and "threshold" (SoftplusBeta) and their output is
"grad" (dx; SoftplusBeta's is "values").

The family nll holds NLL (op "nll", PyTorch's nll_loss): "x" the
log-probabilities (any reals, ±Inf and NaN included), "t" the targets, "w"
the class weights; its cases carry the CE options "weight", "ignore",
"ignore_index", "normalizer", "empty_mean", and output "loss", "rows" and
"grad" (autograd with grad_output 1; Reduction None's loss is Σ rows).

The family kldiv holds KLDiv (op "kldiv", PyTorch's kl_div): "x" the input
log-probabilities (±Inf and NaN included), "y" the targets, probabilities
in [0, 1] or, with "log_target", log-probabilities ≤ 0 (−Inf included); its
cases carry "reduction" (mean over N·K, batchmean over N, sum, none) and
"log_target", and output "loss", "rows" (the N·K pointwise losses) and
"grad" (autograd with grad_output 1; Reduction None's loss is Σ rows).

The family distill holds Distill (op "distill", the knowledge-distillation
loss λ·kl_div(log_softmax(s/T), log_softmax(t/T), log_target=True,
reduction="none").sum(-1) per row, λ = T² with "scale_t2", else 1): "x"
the student's logits, "y" the teacher's (±Inf and NaN included), "t" the
labels; its cases carry "temperature", "scale_t2", "reduction" (mean and
batchmean both over the rows not ignored: kl_div's batchmean; sum; none),
"labels" (pass "t" as Labels) with "ignore", "ignore_index", and
"empty_mean", and output "loss", "rows" (the per-row losses, 0 on ignored
rows) and "grad" (autograd with grad_output 1 with respect to the student's
logits; Reduction None's loss is Σ rows). Without labels the source is
torch (kl_div's batchmean, sum or none in each dtype); with labels it is
formula (the rows not ignored selected by index, so that an ignored row's
gradient is 0 whatever it holds, and their sum divided by their number).
Where kl_div's e^t·(t − x) is 0·∞ = NaN (a teacher logit −Inf, or a
teacher probability that underflows beside a student −Inf) the rows and the
loss are "dev" entries tagged [kl-zero] (the gradient is PyTorch's: finite);
the Go test checks them with their S (a divergence's terms cancel).

Distill cases may carry "divergence" ("forward_kl" when absent, the above;
"reverse_kl"; "jsd") and, with "jsd", "beta" (JSD's β, passed as Beta;
absent: lossfuse's default Beta 0, which is 0.5). Their names start with
"rkl_" and "jsd_" ("jsd0.1_" etc. with a "beta"); they run on the forward
cases' input sets (plus NF_K*_rfin, NF_K*_rz, NF_K*_jz: the non-finite
rows relabelled or subset for them), fewer combinations on the wide rows
(file size).
  reverse_kl  λ·kl_div(log_softmax(t/T), log_softmax(s/T), log_target=True,
              reduction="none").sum(-1) = λ·KL(Q‖P). Without labels the
              source is torch: kl_div with the reduction in each dtype, the
              gradient by autograd (through kl_div's target); with labels
              formula, as above.
  jsd         λ·(β·KL(P‖M) + (1−β)·KL(Q‖M)), M = β·P + (1−β)·Q, as TRL's
              generalized_jsd_loss forms it (distill_terms): mix =
              logsumexp of [log_softmax(s/T) + log(1−β), log_softmax(t/T) +
              log(β)] with β a tensor of the dtype, then β·kl_div(mix,
              log P) + (1−β)·kl_div(mix, log Q) (log_target=True), summed
              per row; batchmean divides the total by N. Without labels the
              source is torch: that expression evaluated by PyTorch in each
              dtype, the gradient by autograd; with labels formula, the same
              expression in float64, its f32 block evaluated at float32's β
              (lossfuse rounds Beta to the element type) and rounded.
Their "dev" entries, all tagged [kl-zero]: where kl_div's e^t·(t − x) is
0·∞ = NaN, for reverse_kl a student logit −Inf (Q = 0: no term) or a
student probability that underflows beside a teacher −Inf (+Inf), for jsd
any −Inf logit (e^t = 0 against the mixture), the rows and the loss hold
the closed form's value (distill_ref) and the gradient, which PyTorch makes
NaN across such a row (autograd through kl_div's target at e^t = 0, summed
by log_softmax's backward), the closed form's; and on a reverse_kl row
whose divergence is +Inf (a teacher −Inf where the student has mass) the
gradient is NaN throughout (no finite gradient exists; PyTorch returns
−Inf and NaN), a dev entry for each entry PyTorch does not make NaN. The
long rows' special values (NF_K4099) run only with labels for them (the
formula: their thousands of gradient entries in one dtype).

Numbers are JSON numbers, or the strings "NaN", "Inf", "-Inf". Inputs with
prec 32 are float32 values printed in their shortest float32 form (parse them
as float32, then widen for the float64 run); outputs under "f32" likewise.

"source" says where the expected outputs come from:
  torch          PyTorch / torchvision called directly, in each dtype. The
                 backward passes: torch.autograd.grad with grad_outputs = dy
                 where the saved tensor is the input x; where it is the
                 forward's output (y, lse) the backward op autograd calls
                 (_softmax_backward_data, _log_softmax_backward_data,
                 sigmoid_backward, logsumexp's dy·exp(x − lse)) on the
                 stored y, so that float64 sees the float32 y the test
                 passes (checked bit for bit against autograd in float32).
  formula        lossfuse semantics that PyTorch has no single call for,
                 written as a small torch autograd formula (or a closed form)
                 evaluated in float64; the f32 outputs are the float64 ones
                 rounded to float32.
  definition     a lossfuse-only option whose value is fixed by definition
                 (EmptyMeanZero gives 0 and an all-zero gradient).

"dev" lists the entries where PyTorch's own result (or, prefixed
"autograd formula, not PyTorch", the naive formula's) is replaced by the
mathematically correct value, per the policy in the issue and
../shared/notes/semantics.md: PyTorch returns NaN where the answer is finite,
an exact 0 where the true value is a tiny non-zero number (saturation), or,
for the element-wise primitives, a value outside the test tolerance of the
correct one. Each entry records dtype, field, index, PyTorch's value and the
reason, which starts with the [tag] of its row in the deviation table of
kernels/doc.go (the generator stops on a deviation no row covers, and the Go
test TestDeviationTable checks tags and rows against each other); "out" holds the corrected (expected) value, computed in float64 from
closed forms (stable softplus/log1p/expm1 forms, no cancellation).

Every case with probability-free options is also checked here against an
independent float64 closed form, so a mistake in the formulas or a surprise
in PyTorch stops the generator instead of landing in the goldens.
"""

import gzip
import json
import math
import os
import re
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

torch.set_num_threads(1)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "kernels", "testdata", "golden")
F32, F64 = torch.float32, torch.float64
DT = {32: F32, 64: F64}
REDS = ["mean", "sum", "none"]
INF = float("inf")
NAN = float("nan")
# Relative tolerance used to decide that PyTorch's element-wise primitive
# result is wrong: 32 unit roundoffs, the Go test's (and the accuracy
# contract's) slack.
RTOL = {32: 32 * 2.0 ** -24, 64: 32 * 2.0 ** -53}
# Prefix of a "dev" reason when the replaced value came from the generator's
# own autograd formula (a lossfuse-only option), not from PyTorch.
FORMULA = "autograd formula, not PyTorch: "
# Smallest normal numbers: results below them may be flushed to zero.
TINY = {32: 2.0 ** -126, 64: 2.0 ** -1022}


# ---------------------------------------------------------------- encoding

def enc(v, prec):
    """One float as JSON: shortest text that parses back to the same value
    at the given precision, or a string for non-finite values."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if prec == 32:
        return float(str(np.float32(v)))
    return v


def encs(a, prec):
    a = a.detach().cpu().double().reshape(-1).tolist() if torch.is_tensor(a) else list(np.asarray(a, dtype=np.float64).reshape(-1))
    return [enc(v, prec) for v in a]


def f32(a):
    """Round to float32 (as a float64 numpy array)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


# ---------------------------------------------------------------- inputs

class Inputs:
    def __init__(self):
        self.sets = {}

    def add(self, name, n, k, prec=32, **arrays):
        d = {"prec": prec, "n": n, "k": k}
        for key, v in arrays.items():
            if v is None:
                continue
            if key == "t":
                d[key] = [int(t) for t in v]
            else:
                arr = np.asarray(v, dtype=np.float64).reshape(-1)
                if prec == 32:
                    arr = f32(arr)
                d[key] = arr
        self.sets[name] = d
        return d

    def json(self):
        out = {}
        for name, d in self.sets.items():
            e = {}
            for key, v in d.items():
                if key.startswith("_"):
                    continue  # the generator's own (e.g. the forward input behind a saved output)
                if isinstance(v, np.ndarray):
                    e[key] = [enc(x, d["prec"]) for x in v]
                else:
                    e[key] = v
            out[name] = e
        return out


def tens(d, key, dt, shape=None):
    t = torch.tensor(d[key], dtype=F64).to(dt)
    return t.reshape(shape) if shape is not None else t


# ---------------------------------------------------------------- family builder

class Family:
    def __init__(self, name):
        self.name = name
        self.inputs = Inputs()
        self.cases = []
        self.names = set()

    def case(self, c):
        assert c["name"] not in self.names, c["name"]
        self.names.add(c["name"])
        self.cases.append(c)

    def write(self):
        doc = {"family": self.name, "inputs": self.inputs.json(), "cases": self.cases}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
        path = os.path.join(OUT, self.name + ".json.gz")
        with open(path, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
                gz.write(text.encode())
        return path, len(text), os.path.getsize(path)


def out_block(prec, loss=None, rows=None, grad=None, lse=None, values=None):
    o = {}
    if loss is not None:
        o["loss"] = enc(loss, prec)
    for key, v in (("rows", rows), ("grad", grad), ("lse", lse), ("values", values)):
        if v is not None:
            o[key] = encs(v, prec)
    return o


def as64(res):
    """Detach a result dict to float64 numpy arrays / floats."""
    r = {}
    for key, v in res.items():
        if torch.is_tensor(v):
            v = v.detach().double().reshape(-1).numpy().copy()
            r[key] = float(v[0]) if key == "loss" else v
        else:
            r[key] = v
    return r


def flag(devs, prec, field, got, ref, reason_fn, tag_fn, elementwise=False, scale=None):
    """Replace PyTorch values by the reference where the policy says so.

    got: PyTorch's values (dtype prec, as float64 numpy), modified in place.
    ref: float64 reference, NaN where no reference exists.
    tag_fn(i, kind) names the row of the package doc's deviation table the
    entry belongs to (kind: "nan", "inf", "zero" or "rel", what PyTorch got
    wrong); it raises for an entry that no row covers.
    scale: when given, the Go test's S per entry (golden_test.go): a finite
    PyTorch value within that test's tolerance of the reference is kept
    (cancellation both suffer, e.g. an exact 0 from dy − Σ y·dy, is not a
    deviation).
    """
    scalar = np.ndim(got) == 0
    g = np.atleast_1d(np.array(got, dtype=np.float64))
    r = np.atleast_1d(np.array(ref, dtype=np.float64))
    for i in range(g.size):
        tv, rv = g[i], r[i]
        if math.isnan(rv):
            continue  # no reference for this entry
        rq = float(np.float32(rv)) if prec == 32 else rv
        if 0 < abs(rq) < TINY[prec]:
            continue  # subnormal results: compared with an absolute floor, never flagged
        if scale is not None and math.isfinite(tv) and math.isfinite(rq) and \
                abs(tv - rq) <= RTOL[prec] * (abs(rq) + scale[i]) + TINY[prec]:
            continue  # within the Go test's tolerance
        why = kind = None
        if math.isnan(tv):
            why, kind = "PyTorch returns NaN; the mathematical value is %s" % ("finite" if math.isfinite(rv) else "%r (the limit)" % rv), "nan"
        elif math.isinf(tv) and tv != rq:
            why, kind = "PyTorch returns %r; the correct value is %r" % (tv, rq), "inf"
        elif tv == 0 and rq != 0:
            why, kind = "float%d saturation: PyTorch returns exactly 0; the true value is %.17g" % (prec, rv), "zero"
        elif elementwise and math.isfinite(rq) and abs(tv - rq) > RTOL[prec] * abs(rq):
            why, kind = "PyTorch's value is off by %.3g relative; the correct value is %.17g" % (abs(tv - rq) / abs(rq), rv), "rel"
        if why is None:
            continue
        head = reason_fn(i)
        if head.startswith(FORMULA):
            why = why.replace("PyTorch returns", "the formula returns").replace("PyTorch's value", "the formula's value")
        devs.append({"dt": prec, "field": field, "i": -1 if scalar else i, "torch": enc(tv, prec),
                     "reason": tagged(tag_fn(i, kind), head + ": " + why)})
        g[i] = rq
    return float(g[0]) if scalar else g


def tagged(tag, reason):
    """A deviation's reason, prefixed with the tag of its row in the table
    "Semantics against PyTorch 1.13" of kernels/doc.go (the Go test
    TestDeviationTable ties the two together)."""
    assert re.fullmatch(r"[a-z0-9-]+", tag), tag
    return "[%s] %s" % (tag, reason)


def no_row(what):
    raise SystemExit("deviation with no row in the doc table: %s" % what)


def check_close(name, a, b, rtol, scale=None):
    """Generator self-check: a ≈ b (NaN == NaN), normwise relative."""
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    fin = np.isfinite(a) & np.isfinite(b)
    same = (np.isnan(a) & np.isnan(b)) | (a == b) | fin
    if not same.all():
        raise SystemExit("self-check %s: non-finite mismatch\n%s\n%s" % (name, a, b))
    if fin.any():
        s = scale if scale is not None else max(1.0, np.abs(b[fin]).max())
        err = np.abs(a[fin] - b[fin]).max()
        if err > rtol * s:
            raise SystemExit("self-check %s: err %g > %g\n%s\n%s" % (name, err, rtol * s, a, b))


# ---------------------------------------------------------------- cross-entropy

def ce_norm(t, w, ignore, n):
    """PyTorch's mean denominator for integer targets."""
    s = 0.0
    for y in t:
        if ignore is not None and y == ignore:
            continue
        s += 1.0 if w is None else float(w[y])
    return s


def ce_ref(x, t, probs, w, ignore, eps, zloss, cap):
    """Float64 closed-form reference for cross-entropy rows and unscaled
    gradient (no cancellation: lse − z_c = (m − z_c) + log1p(Σ_{j≠argmax} e^{z_j−m})).
    Rows with +Inf or NaN logits get NaN (no reference)."""
    x = np.asarray(x, dtype=np.float64)
    n, k = x.shape
    wv = np.ones(k) if w is None else np.asarray(w, dtype=np.float64)
    rows = np.full(n, NAN)
    grad = np.full((n, k), NAN)
    lses = np.full(n, NAN)
    for i in range(n):
        z = x[i]
        if cap:
            z = cap * np.tanh(z / cap)
        if probs is None and ignore is not None and t[i] == ignore:
            # an ignored row's loss and gradient are 0, whatever it holds
            # (PyTorch: NaN gradient where the row holds NaN or ±Inf)
            rows[i] = 0.0
            grad[i] = 0.0
            continue
        if np.isnan(z).any() or np.isposinf(z).any():
            continue
        a = int(np.argmax(z))
        m = z[a]
        if m == -INF:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(z - m)
        s1 = np.delete(e, a).sum()  # Σ_{j≠argmax}, not e.sum() − 1 (which cancels)
        L = math.log1p(s1)
        lse = m + L
        lses[i] = lse
        d = (m - z) + L  # lse − z_c ≥ 0
        p = np.exp((z - m) - L)
        if probs is None:
            y = t[i]
            c = np.full(k, eps / k) * wv
            c[y] += (1 - eps) * wv[y]
            zl = zloss * wv[y]
        else:
            c = ((1 - eps) * np.asarray(probs[i], dtype=np.float64) + eps / k) * wv
            zl = zloss
        with np.errstate(invalid="ignore"):
            terms = np.where(c != 0, c * d, 0.0)
        rows[i] = terms.sum() + zl * lse * lse
        pc = c.sum() + 2 * zl * lse
        g = pc * p - c
        # at the argmax: pc·p_a − c_a = pc·expm1(−L) + (pc − c_a), exact when p_a → 1
        g[a] = pc * math.expm1(-L) + (pc - c[a])
        if cap:
            g = g * (1 - (z / cap) ** 2)
        grad[i] = g
    return rows, grad, lses


def ce_case(fam, name, inp, prec_runs=(32, 64), reduction="mean", weight=False, ignore="default",
            ignore_index=-100, smoothing=0.0, zloss=0.0, softcap=0.0, normalizer=0.0,
            empty_mean="nan", probs=False):
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    op = "ce_probs" if probs else "ce"
    c = {"name": name, "op": op, "in": inp, "reduction": reduction}
    if weight:
        c["weight"] = True
    if not probs:
        c["ignore"] = ignore
        if ignore == "index":
            c["ignore_index"] = ignore_index
    for key, v in (("smoothing", smoothing), ("z_loss", zloss), ("soft_cap", softcap), ("normalizer", normalizer)):
        if v:
            c[key] = v
    if empty_mean != "nan":
        c["empty_mean"] = empty_mean
    torch_exact = not (zloss or softcap or normalizer or empty_mean != "nan")
    c["source"] = "torch" if torch_exact else ("definition" if empty_mean != "nan" else "formula")
    ign = None if probs or ignore == "none" else (-100 if ignore == "default" else ignore_index)
    tt = None if probs else list(d["t"])
    wn = d["w"] if weight else None
    if probs:
        norm = float(n)
    else:
        norm = ce_norm(tt, wn, ign, n)
    if normalizer:
        norm = normalizer

    def run(dt):
        x = tens(d, "x", dt, (n, k)).requires_grad_()
        w = tens(d, "w", dt) if weight else None
        z = softcap * torch.tanh(x / softcap) if softcap else x
        kw = dict(weight=w, label_smoothing=smoothing)
        if probs:
            tgt = tens(d, "y", dt, (n, k))
        else:
            tgt = torch.tensor(tt, dtype=torch.int64)
            kw["ignore_index"] = -100 if ign is None else ign
        rows = F.cross_entropy(z, tgt, reduction="none", **kw)
        lse = torch.logsumexp(z, 1)
        if zloss:
            if probs:
                rows = rows + zloss * lse * lse
            else:
                mask = torch.tensor([ign is None or y != ign for y in tt], dtype=dt)
                wy = torch.tensor([(float(d["w"][y]) if weight else 1.0) if (ign is None or y != ign) else 0.0 for y in tt], dtype=dt)
                rows = rows + zloss * wy * lse * lse * mask
        if torch_exact:
            L = F.cross_entropy(z, tgt, reduction=reduction, **kw)
            if reduction == "none":
                loss = L.sum()
            else:
                loss = L
        else:
            if reduction == "mean":
                loss = rows.sum() / norm
            else:
                loss = rows.sum()
            if empty_mean == "zero" and reduction == "mean" and norm == 0:
                loss = rows.sum() * 0.0
        loss.backward()
        g = x.grad.clone()
        if empty_mean == "zero" and reduction == "mean" and norm == 0:
            g = torch.zeros_like(g)
        res = {"loss": loss, "rows": rows.detach(), "grad": g, "lse": lse.detach()}
        if empty_mean == "zero" and reduction == "mean" and norm == 0:
            res["loss"] = torch.zeros((), dtype=dt)
        return as64(res)

    # float64 closed-form reference: a self-check, and the corrected value
    # where PyTorch returns NaN or an exact zero.
    x64 = np.asarray(d["x"], dtype=np.float64).reshape(n, k)
    pr = np.asarray(d["y"], dtype=np.float64).reshape(n, k) if probs else None
    rrows, rgrad, rlse = ce_ref(x64, tt, pr, wn, ign, smoothing, zloss, softcap)
    gs = (1.0 / norm if norm else (0.0 if empty_mean == "zero" else INF)) if reduction == "mean" else 1.0
    with np.errstate(invalid="ignore"):
        rgrad = (rgrad * gs).reshape(-1)
        if reduction == "mean" and norm == 0:
            rgrad = np.where(rgrad == 0, 0.0, rgrad)
    r64 = run(F64)
    fin = np.isfinite(rrows) & np.isfinite(r64["rows"])
    check_close(name + " rows vs ref", r64["rows"][fin], rrows[fin], 1e-12,
                scale=max(1.0, np.abs(x64[np.isfinite(x64)]).max(initial=0) * (1 if wn is None else max(wn))))
    gfin = np.isfinite(rgrad) & np.isfinite(r64["grad"])
    check_close(name + " grad vs ref", r64["grad"][gfin], rgrad[gfin], 1e-12, scale=max(abs(gs), 1e-300) if gs else 1.0)

    devs = []
    outs = {}
    for prec in (64, 32):
        r = r64 if prec == 64 else run(F32)
        who = "" if torch_exact else FORMULA
        why = lambda i, f: who + "%s %s[%d]" % (op, f, i)

        def tag(row):
            def t(i, kind):
                if row is not None and not probs and ign is not None and tt[row(i)] == ign:
                    return "ign-nonfin"
                if kind == "zero":
                    return "ce-sat"
                if kind == "nan":
                    return "probs-inf" if probs else "ce-inf-w0"
                no_row("%s %s kind %s" % (name, op, kind))
            return t
        r["rows"] = flag(devs, prec, "rows", r["rows"], rrows, lambda i: why(i, "row"), tag(lambda i: i))
        r["grad"] = flag(devs, prec, "grad", r["grad"], rgrad, lambda i: why(i, "grad"), tag(lambda i: i // k))
        if torch_exact or c["source"] == "formula":
            # the reduced loss follows from the (corrected) rows
            rl = NAN
            if all(math.isfinite(v) or math.isinf(v) for v in rrows):
                s = math.fsum(rrows) if np.isfinite(rrows).all() else float(np.sum(rrows))
                rl = s / norm if reduction == "mean" and norm else (NAN if reduction == "mean" else s)
            r["loss"] = flag(devs, prec, "loss", r["loss"], rl, lambda i: who + op + " loss", tag(None))
        outs["f%d" % prec] = out_block(prec, r["loss"], r["rows"], r["grad"], r["lse"])
    if c["source"] != "torch":
        outs["f32"] = out_block(32, r64["loss"], r64["rows"], r64["grad"], r64["lse"])
        devs = [e for e in devs if e["dt"] == 64]
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


def build_ce():
    fam = Family("ce")
    I = fam.inputs
    rng = np.random.RandomState(1)
    xa = rng.randn(7, 5) * 2.0
    I.add("A", 7, 5, x=xa, t=[2, 0, -100, 4, 1, -100, 3], w=[0.5, 2.0, 1.0, 0.0, 3.0])
    I.add("B", 7, 5, x=xa, t=[2, 0, 3, 4, 1, 3, 3], w=[0.5, 2.0, 1.0, 0.0, 3.0])
    I.add("C", 7, 5, x=xa, t=[2, 0, 1, 4, 1, 0, 3], w=[0.5, 2.0, 1.0, 0.25, 3.0])
    # weights × ignore × smoothing × reduction
    for weight in (False, True):
        for inp, ign in (("A", "default"), ("B", "index"), ("C", "none")):
            for eps in (0.0, 0.1, 1.0):
                for red in REDS:
                    ce_case(fam, "w%d_%s_eps%g_%s" % (weight, ign, eps, red), inp, reduction=red, weight=weight,
                            ignore=ign, ignore_index=3, smoothing=eps)
    # PyTorch's default ignore index on data without -100 (NoIgnore equivalence)
    ce_case(fam, "C_default_ignore_mean", "C", ignore="default")

    # large and saturated finite logits
    I.add("X1", 6, 4, x=[[1e4, -1e4, 0, 1], [1e4, 1e4, 9999, -1e4], [-1e4] * 4, [40, 0, 0, 0],
                         [20, 0, 0, 0], [0.5, -0.25, 1e4, -1e4]],
          t=[0, 2, 3, 0, 0, 1], w=[1.5, 0.5, 2.0, 1.0])
    for weight in (False, True):
        for eps in (0.0, 0.1):
            for red in REDS:
                ce_case(fam, "X1_w%d_eps%g_%s" % (weight, eps, red), "X1", reduction=red, weight=weight, smoothing=eps)
    # ±Inf and NaN logits
    I.add("X2", 6, 4, x=[[-INF, 0, 1, 2], [-INF, 0, 1, 2], [INF, 0, 1, 2], [NAN, 0, 1, 2],
                         [-INF, -INF, 3, -INF], [0, 1, -INF, 2]],
          t=[2, 0, 0, 1, 2, -100], w=[1.0, 2.0, 0.5, 1.0])
    for eps in (0.0, 0.1):
        for red in REDS:
            ce_case(fam, "X2_eps%g_%s" % (eps, red), "X2", reduction=red, smoothing=eps)
    ce_case(fam, "X2_w_eps0.1_none", "X2", reduction="none", weight=True, smoothing=0.1)
    # ignored rows holding NaN, +Inf, or only -Inf: loss 0 and gradient 0
    # (PyTorch: gradient NaN on those rows)
    I.add("IGNF", 5, 4, x=[[NAN, 0, 1, 2], [0.5, 1, -1, 2], [INF, 0, 1, 2], [-INF] * 4, [1, 2, 3, 4]],
          t=[-100, 2, -100, -100, 0], w=[1.0, 2.0, 0.5, 1.0])
    for eps in (0.0, 0.1):
        for red in REDS:
            ce_case(fam, "IGNF_eps%g_%s" % (eps, red), "IGNF", reduction=red, smoothing=eps)
    ce_case(fam, "IGNF_w_eps0.1_mean", "IGNF", weight=True, smoothing=0.1)
    # label smoothing puts ε/K·w[c] on every class: a -Inf logit whose class
    # weight is 0 contributes 0 (PyTorch: 0·∞ = NaN), and +Inf where the
    # weight is positive
    I.add("WINF", 3, 4, x=[[-INF, 0, 1, 2], [0, -INF, 1, 2], [-INF, -INF, -INF, 0]], t=[1, 0, 3], w=[0.0, 0.0, 1.0, 1.0])
    for eps in (0.1, 1.0):
        for red in REDS:
            ce_case(fam, "WINF_w_eps%g_%s" % (eps, red), "WINF", reduction=red, weight=True, smoothing=eps)
    I.add("WINF2", 2, 4, x=[[-INF, 0, 1, 2], [0, -INF, 1, 2]], t=[2, 3], w=[0.0, 0.0, 1.0, 1.0])
    ce_case(fam, "WINF2_w_eps0.1_mean", "WINF2", weight=True, smoothing=0.1)
    # finite rows with -Inf entries only (mean stays finite)
    I.add("X3", 3, 4, x=[[-INF, 0, 1, 2], [-INF, -INF, 3, -INF], [0.5, -INF, 0, -1]], t=[3, 2, 0], w=[1.0, 2.0, 0.5, 1.0])
    for red in REDS:
        ce_case(fam, "X3_%s" % red, "X3", reduction=red, weight=True)
    # K = 1
    I.add("K1", 3, 1, x=[0.5, -3, 1e4], t=[0, 0, -100], w=[2.0])
    for weight in (False, True):
        for eps in (0.0, 0.1):
            for red in REDS:
                ce_case(fam, "K1_w%d_eps%g_%s" % (weight, eps, red), "K1", reduction=red, weight=weight, smoothing=eps)
    # every target ignored
    I.add("IGN", 3, 4, x=rng.randn(3, 4), t=[-100, -100, -100], w=[1.0, 2.0, 0.5, 1.0])
    for red in REDS:
        ce_case(fam, "all_ignored_%s" % red, "IGN", reduction=red)
    ce_case(fam, "all_ignored_w_eps0.1_mean", "IGN", weight=True, smoothing=0.1)
    ce_case(fam, "all_ignored_mean_emptyzero", "IGN", empty_mean="zero")
    # non-ignored targets whose class weight is 0: mean is 0/0
    I.add("W0", 3, 3, x=rng.randn(3, 3), t=[1, 1, -100], w=[1.0, 0.0, 2.0])
    ce_case(fam, "zero_weight_mean", "W0", weight=True)
    ce_case(fam, "zero_weight_sum", "W0", weight=True, reduction="sum")
    ce_case(fam, "zero_weight_mean_emptyzero", "W0", weight=True, empty_mean="zero")
    # wider rows (vector tails)
    I.add("K67", 3, 67, x=rng.randn(3, 67) * 4, t=[5, 66, 0], w=rng.uniform(0, 2, 67))
    ce_case(fam, "K67_mean", "K67")
    ce_case(fam, "K67_w_eps0.1_mean", "K67", weight=True, smoothing=0.1)
    ce_case(fam, "K67_none", "K67", reduction="none")
    I.add("K256", 2, 256, x=rng.randn(2, 256) * 8, t=[255, 17], w=rng.uniform(0, 2, 256))
    ce_case(fam, "K256_mean", "K256")
    ce_case(fam, "K256_w_eps0.2_sum", "K256", reduction="sum", weight=True, smoothing=0.2)
    # beyond PyTorch: z-loss, soft-capping, caller's normaliser
    I.add("Z", 7, 5, x=xa * 2, t=[2, 0, -100, 4, 1, -100, 3], w=[0.5, 2.0, 1.0, 0.0, 3.0])
    for zl, cap in ((1e-3, 0), (0.05, 0), (0, 2.5), (0, 30), (0.01, 5)):
        for weight in (False, True):
            for eps in (0.0, 0.1):
                for red in ("mean", "none"):
                    ce_case(fam, "Z_z%g_cap%g_w%d_eps%g_%s" % (zl, cap, weight, eps, red), "Z", reduction=red,
                            weight=weight, smoothing=eps, zloss=zl, softcap=cap)
    ce_case(fam, "Z_normalizer10_mean", "Z", normalizer=10)
    ce_case(fam, "Z_normalizer3.5_w_mean", "Z", normalizer=3.5, weight=True)
    ce_case(fam, "Z_normalizer10_sum", "Z", normalizer=10, reduction="sum")
    I.add("ZX", 2, 3, x=[[1e4, 0, -1e4], [50, 60, 70]], t=[0, 1])
    ce_case(fam, "ZX_z1e-4_cap30_none", "ZX", reduction="none", zloss=1e-4, softcap=30)
    ce_case(fam, "ZX_z1e-4_mean", "ZX", zloss=1e-4)
    return fam


# ---------------------------------------------------------------- cross-entropy on bfloat16 logits

BF16 = torch.bfloat16


def bf(a):
    """Round to bfloat16 (nearest, ties to even, through float32), as a
    float64 numpy array of the exact values."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=F64).float().to(BF16).double().numpy()


def ce_half_case(fam, name, inp, reduction="mean", weight=False, ignore="default", ignore_index=1, smoothing=0.0):
    """One case of the family ce_half: F.cross_entropy on the bfloat16 logits
    (and bfloat16 weights) in bfloat16, and in float32 on the same values
    widened; see build_ce_half."""
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    c = {"name": name, "op": "ce", "in": inp, "reduction": reduction, "ignore": ignore, "source": "torch"}
    if ignore == "index":
        c["ignore_index"] = ignore_index
    if weight:
        c["weight"] = True
    if smoothing:
        c["smoothing"] = smoothing
    ign = -100 if ignore == "default" else ignore_index
    tt = list(d["t"])
    tgt = torch.tensor(tt, dtype=torch.int64)
    assert all(bf(d["x"])[np.isfinite(d["x"])] == d["x"][np.isfinite(d["x"])]), name
    if weight:
        assert (bf(d["w"]) == d["w"]).all() and (d["w"] > 0).all(), name

    def run(dt):
        x = tens(d, "x", dt, (n, k)).requires_grad_()
        kw = dict(weight=tens(d, "w", dt) if weight else None, ignore_index=ign, label_smoothing=smoothing)
        rows = F.cross_entropy(x, tgt, reduction="none", **kw)
        loss = F.cross_entropy(x, tgt, reduction=reduction, **kw)
        # autograd with grad_output 1 (ones for reduction none)
        (loss.sum() if reduction == "none" else loss).backward()
        res = {"loss": loss.sum() if reduction == "none" else loss, "rows": rows.detach(), "grad": x.grad.clone(),
               "lse": torch.logsumexp(x.detach(), 1)}
        for key, v in res.items():
            assert v.dtype == dt, (name, key, v.dtype)
        return as64(res)

    # self-checks: float64 PyTorch against the closed form, then float32
    # PyTorch against it under the Go test's tolerance (no deviations here)
    x64 = np.asarray(d["x"], dtype=np.float64).reshape(n, k)
    wn = d["w"] if weight else None
    rrows, rgrad, _ = ce_ref(x64, tt, None, wn, ign, smoothing, 0.0, 0.0)
    norm = ce_norm(tt, wn, ign, n)
    gs = 1.0 / norm if reduction == "mean" else 1.0
    rgrad = (rgrad * gs).reshape(-1)
    r64 = run(F64)
    fin = np.isfinite(rrows) & np.isfinite(r64["rows"])
    assert (fin == np.isfinite(rrows)).all(), name
    check_close(name + " rows vs ref", r64["rows"][fin], rrows[fin], 1e-12,
                scale=max(1.0, np.abs(x64[np.isfinite(x64)]).max() * (1 if wn is None else max(wn))))
    check_close(name + " grad vs ref", r64["grad"], rgrad, 1e-12, scale=gs)
    r32 = run(F32)
    devs = []
    no = lambda i, kind: no_row("ce_half %s kind %s" % (name, kind))
    flag(devs, 32, "rows", r32["rows"].copy(), rrows, lambda i: name, no)
    flag(devs, 32, "grad", r32["grad"].copy(), rgrad, lambda i: name, no)
    assert not devs, devs
    rb = run(BF16)
    c["out"] = {
        "f32": out_block(32, r32["loss"], r32["rows"], r32["grad"], r32["lse"]),
        # bfloat16 values are float32 values: written in their shortest float32 form
        "bf16": out_block(32, rb["loss"] if reduction != "none" else None,
                          rb["rows"] if reduction == "none" else None, rb["grad"]),
    }
    fam.case(c)


def build_ce_half():
    """Family ce_half (issue 18): PyTorch 1.13's F.cross_entropy on CPU
    bfloat16 logits, for CrossEntropyHalf. Inputs: "x" the logits, exact
    bfloat16 values (written as float32 numbers), "w" the class weights,
    bfloat16 values too (PyTorch wants the weight in the input's dtype; the
    Go test passes the same values as float32), "t" the targets. Each case
    has two output blocks: "f32", PyTorch in float32 on the widened logits
    and weights (loss, rows, grad, lse; the Go test holds CrossEntropyHalf's
    float32 results and gradient to it as to family ce's), and "bf16",
    PyTorch in bfloat16 (loss for mean and sum, rows for none, grad: autograd
    with grad_output 1), which rounds intermediates to bfloat16; the Go test
    bounds the distance to it from the roundings PyTorch does
    (halfgolden_test.go). Float16 logits are not covered: PyTorch 1.13 has no
    CPU log_softmax for Half ("log_softmax_lastdim_kernel_impl" not
    implemented for 'Half')."""
    fam = Family("ce_half")
    I = fam.inputs
    rng = np.random.RandomState(18)
    try:
        F.cross_entropy(torch.zeros(1, 2, dtype=torch.float16), torch.tensor([0]))
        raise SystemExit("ce_half: this PyTorch has float16 cross_entropy on CPU: add float16 cases")
    except RuntimeError:
        pass

    def add(name, n, k, x, t, ign_index=True):
        w = bf(rng.uniform(0.25, 2.0, k))
        I.add(name, n, k, x=bf(x), t=t, w=w)
        if ign_index:
            # the same rows with class 1 as the ignore index in place of -100
            I.add(name + "_i1", n, k, x=bf(x), t=[1 if y == -100 else y for y in t], w=w)

    def grid(inp, reds=REDS, weights=(False, True), ignores=("default", "index"), epss=(0.0, 0.1)):
        for weight in weights:
            for ign in ignores:
                for eps in epss:
                    for red in reds:
                        ce_half_case(fam, "%s_w%d_%s_eps%g_%s" % (inp, weight, ign, eps, red),
                                     inp if ign == "default" else inp + "_i1", reduction=red, weight=weight,
                                     ignore=ign, smoothing=eps)

    def targets(n, k, ignored):
        t = [int(v) for v in rng.randint(0, k, n)]
        for i in ignored:
            t[i] = -100
        for i in range(n):
            if t[i] == 1 and i not in ignored:
                t[i] = 0  # class 1 is the other ignore index
        return t

    # moderate logits (normal·3), one to eight rows, K from 2 up
    for n, k, ignored in ((1, 2, ()), (2, 3, (1,)), (3, 5, (0,)), (4, 8, (2,)), (5, 17, (1, 3)), (6, 33, (5,)),
                          (7, 100, (0,)), (8, 256, (3, 6))):
        name = "M%d_K%d" % (n, k)
        add(name, n, k, rng.randn(n, k) * 3, targets(n, k, ignored))
        if k <= 33:
            grid(name)
        else:  # wider rows: fewer combinations (file size)
            grid(name, reds=("mean",), ignores=("default",))
            grid(name, reds=("none",), weights=(True,), ignores=("index",), epss=(0.1,))
    # long rows: K ≥ 1000
    add("M3_K1000", 3, 1000, rng.randn(3, 1000) * 3, targets(3, 1000, (1,)), ign_index=False)
    grid("M3_K1000", reds=("mean",), weights=(True,), ignores=("default",))
    grid("M3_K1000", reds=("none",), weights=(False,), ignores=("default",), epss=(0.1,))
    add("M2_K3001", 2, 3001, rng.randn(2, 3001) * 3, targets(2, 3001, ()), ign_index=False)
    grid("M2_K3001", reds=("sum",), weights=(True,), ignores=("default",))
    # large logits (±1e4 as bfloat16: ±9984 and 10048) beside moderate ones
    add("L", 6, 4, [[1e4, -1e4, 0, 1], [1e4, 1e4, 9950, -1e4], [-1e4] * 4, [3.5, -2, 0.75, 1e4],
                    [0.5, -0.25, 1e4, -1e4], [-1e4, 1e4, -3, 2]],
        [0, 2, 3, -100, 1, 0])
    grid("L")
    # a row holding −Inf (never at the target): with smoothing its loss is +Inf
    add("NI", 3, 5, [[-INF, 0.5, 1.25, -2, 3], [0.5, -1, 2, 2.5, -0.5], [1, -INF, -INF, 0, 4]], [2, 0, 4])
    grid("NI", ignores=("default",))
    return fam


def build_ce_probs():
    fam = Family("ce_probs")
    I = fam.inputs
    rng = np.random.RandomState(2)
    I.add("P", 5, 4, x=rng.randn(5, 4) * 2,
          y=[[0.1, 0.2, 0.3, 0.4], [0, 0, 1, 0], [0.25] * 4, [0.7, 0, 0.3, 0], [0.5, 0.5, 0, 0]],
          w=[0.5, 2.0, 1.5, 0.25])
    for weight in (False, True):
        for eps in (0.0, 0.1, 1.0):
            for red in REDS:
                ce_case(fam, "w%d_eps%g_%s" % (weight, eps, red), "P", reduction=red, weight=weight, smoothing=eps, probs=True)
    for weight in (False, True):
        ce_case(fam, "z0.01_w%d_mean" % weight, "P", weight=weight, zloss=0.01, probs=True)
    ce_case(fam, "cap2.5_eps0.1_none", "P", reduction="none", softcap=2.5, smoothing=0.1, probs=True)
    # non-normalised targets (PyTorch does not require Σt = 1)
    I.add("PU", 2, 3, x=rng.randn(2, 3), y=[[0.5, 0.9, 0.2], [0, 0, 0]], w=[1.0, 2.0, 0.5])
    ce_case(fam, "unnormalised_w_none", "PU", reduction="none", weight=True, probs=True)
    # -Inf logit where the target is 0 (PyTorch: 0·−inf = NaN), and +Inf
    I.add("PE", 5, 3, x=[[-INF, 0, 1], [-INF, 0, 1], [INF, 0, 0], [1e4, -1e4, 0], [-INF, -INF, 0]],
          y=[[0, 0.5, 0.5], [0.2, 0.4, 0.4], [1, 0, 0], [0.5, 0.25, 0.25], [1, 0, 0]], w=[1.0, 2.0, 0.5])
    for red in REDS:
        ce_case(fam, "edge_%s" % red, "PE", reduction=red, probs=True)
    ce_case(fam, "edge_w_eps0.1_none", "PE", reduction="none", weight=True, smoothing=0.1, probs=True)
    I.add("PK1", 2, 1, x=[0.3, -2], y=[1, 1])
    ce_case(fam, "K1_mean", "PK1", probs=True)
    ce_case(fam, "K1_eps0.1_sum", "PK1", reduction="sum", smoothing=0.1, probs=True)
    return fam


# ---------------------------------------------------------------- softmax focal

def softmax_focal_case(fam, name, inp, gamma, alpha=False, reduction="mean", ignore="default", ignore_index=-100):
    """Golden: closed form of −α_y (1−p)^γ log p and its gradient in float64,
    cross-checked against torch autograd of the plain formula where that is finite."""
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    ign = None if ignore == "none" else (-100 if ignore == "default" else ignore_index)
    t = d["t"]
    x = torch.tensor(d["x"], dtype=F64).reshape(n, k)
    al = torch.tensor(d["alpha"], dtype=F64) if alpha else torch.ones(k, dtype=F64)
    keep = [ign is None or y != ign for y in t]
    cnt = float(sum(keep))
    gs = (1.0 / cnt if cnt else INF) if reduction == "mean" else 1.0
    logsm = torch.log_softmax(x, 1)
    rows = torch.zeros(n, dtype=F64)
    grad = torch.zeros(n, k, dtype=F64)
    sm = torch.softmax(x, 1)
    for i in range(n):
        if not keep[i]:
            continue
        y = t[i]
        # log p_y split around the argmax (as ce_closed does): torch's
        # log_softmax rounds lse to the maximum and so gives log p = 0, q = 0
        # at saturation, where the true q is e.g. 2e−40.
        z = x[i].numpy()
        am = int(np.argmax(z))
        L = math.log1p(np.delete(np.exp(z - z[am]), am).sum()) if np.isfinite(z).all() else None
        logp = float(logsm[i, y]) if L is None else (float(z[y]) - float(z[am])) - L
        p = math.exp(logp)
        q = -math.expm1(logp)
        r = logp / q if q != 0 else -1.0
        pr = p * r if p != 0 else 0.0
        mod = q ** gamma
        a = float(al[y])
        rows[i] = -a * mod * logp
        oh = torch.zeros(k, dtype=F64)
        oh[y] = 1
        dsm = sm[i] - oh
        dsm[y] = math.expm1(logp)  # p_y − 1 without cancellation
        grad[i] = a * mod * (1 - gamma * pr) * dsm * gs
    s = float(rows.sum())
    loss = s * gs if reduction == "mean" else s
    if reduction == "mean" and cnt == 0:
        loss = NAN
        grad = torch.zeros(n, k, dtype=F64)
    # autograd cross-check
    xa = x.clone().requires_grad_()
    ls = torch.log_softmax(xa, 1)
    tl = torch.tensor([y if kp else 0 for y, kp in zip(t, keep)])
    lp = ls.gather(1, tl[:, None])[:, 0]
    ar = al[tl] * torch.tensor(keep, dtype=F64)
    arows = -ar * (1 - lp.exp()) ** gamma * lp
    (arows.sum() * (gs if reduction == "mean" and cnt else 1.0)).backward()
    ag = xa.grad.reshape(-1).numpy()
    ok = np.isfinite(ag)
    check_close(name + " rows vs autograd", rows.numpy(), arows.detach().numpy(), 1e-13)
    if cnt:
        check_close(name + " grad vs autograd", grad.reshape(-1).numpy()[ok], ag[ok], 1e-12, scale=gs)
    c = {"name": name, "op": "softmax_focal", "in": inp, "reduction": reduction, "gamma": gamma,
         "ignore": ignore, "source": "formula"}
    if ignore == "index":
        c["ignore_index"] = ignore_index
    if alpha:
        c["weight"] = True  # per-class alpha lives in the input set's "alpha"
    c["out"] = {"f64": out_block(64, loss, rows, grad), "f32": out_block(32, loss, rows, grad)}
    if not ok.all() and cnt:
        c["note"] = "torch autograd of (1-p)^gamma is NaN/Inf at %d gradient entries (saturation, gamma<1); closed form used" % int((~ok).sum())
    fam.case(c)


def build_softmax_focal():
    fam = Family("softmax_focal")
    I = fam.inputs
    rng = np.random.RandomState(3)
    xa = rng.randn(7, 5) * 2.0
    I.add("A", 7, 5, x=xa, t=[2, 0, -100, 4, 1, -100, 3], alpha=[0.25, 0.75, 1.0, 0.5, 2.0])
    for gamma in (0, 0.5, 1, 2, 5):
        for alpha in (False, True):
            for red in REDS:
                softmax_focal_case(fam, "g%g_a%d_%s" % (gamma, alpha, red), "A", gamma, alpha, red)
    I.add("B", 7, 5, x=xa, t=[2, 0, 3, 4, 1, 3, 3], alpha=[0.25, 0.75, 1.0, 0.5, 2.0])
    softmax_focal_case(fam, "ignore3_g2_a1_mean", "B", 2, True, "mean", ignore="index", ignore_index=3)
    softmax_focal_case(fam, "noignore_g2_mean", "B", 2, False, "mean", ignore="none")
    I.add("S", 5, 3, x=[[1e4, 0, 0], [40, 0, 0], [20, 0, 0], [0, 1e4, 0], [-1e4, -1e4, -1e4]], t=[0, 0, 0, 0, 2],
          alpha=[0.25, 0.5, 1.0])
    for gamma in (0, 0.5, 1, 2, 5):
        softmax_focal_case(fam, "sat_g%g_a1_none" % gamma, "S", gamma, True, "none")
    softmax_focal_case(fam, "sat_g0.5_mean", "S", 0.5, False, "mean")
    I.add("IGN", 2, 3, x=rng.randn(2, 3), t=[-100, -100], alpha=[1.0, 1.0, 1.0])
    softmax_focal_case(fam, "all_ignored_mean", "IGN", 2, False, "mean")
    softmax_focal_case(fam, "all_ignored_sum", "IGN", 2, False, "sum")
    I.add("K1", 2, 1, x=[0.7, -1], t=[0, 0], alpha=[0.5])
    softmax_focal_case(fam, "K1_g2_a1_mean", "K1", 2, True, "mean")
    return fam


# ---------------------------------------------------------------- binary losses

class SoftplusStable(torch.autograd.Function):
    """softplus without PyTorch's threshold and without overflow, for the
    autograd formulas: forward max(t,0) + log1p(e^−|t|), backward σ(t)."""

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return torch.clamp(t, min=0) + torch.log1p(torch.exp(-t.abs()))

    @staticmethod
    def backward(ctx, go):
        (t,) = ctx.saved_tensors
        return go * torch.sigmoid(t)


softplus_t = SoftplusStable.apply


def softplus64(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid64(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def bcel_ref(x, y, w, pw, fn, fp):
    """Closed form of w·(pw·fn·y·softplus(−x) + fp·(1−y)·softplus(x)) and its
    gradient; a term whose coefficient is exactly 0 contributes 0 even where
    its softplus is infinite (x = ±Inf)."""
    with np.errstate(invalid="ignore", over="ignore"):
        cp = pw * fn * y
        cn = fp * (1 - y)
        l = w * (np.where(cp != 0, cp * softplus64(-x), 0.0) + np.where(cn != 0, cn * softplus64(x), 0.0))
        s = sigmoid64(x)
        # (cp + cn)·σ(x) − cp = cn·σ(x) − cp·σ(−x): no cancellation
        g = w * (cn * s - cp * sigmoid64(-x))
    return l, g


def focal_ref(x, y, alpha, gamma):
    """Stable closed form of torchvision's sigmoid focal loss for y ∈ {0,1}
    (NaN where y is soft): z = (1−2y)x, L = α_t·softplus(z)·σ(z)^γ,
    dL/dx = (1−2y)·α_t·σ(z)^γ·[σ(z) + γ·σ(−z)·softplus(z)]."""
    hard = (y == 0) | (y == 1)
    z = (1 - 2 * y) * x
    at = np.where(y == 1, alpha, 1 - alpha) if alpha >= 0 else np.ones_like(x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        spz = softplus64(z)
        spm = softplus64(-z)
        mod = np.exp(-gamma * spm) if gamma != 0 else np.ones_like(x)  # γ = 0: no 0·∞
        l = at * np.where(mod == 0, 0.0, spz * mod)
        tail = np.where(np.isposinf(z), 0.0, sigmoid64(-z) * spz)  # σ(−z)·softplus(z) → 0 as z → ∞
        g = (1 - 2 * y) * at * mod * (sigmoid64(z) + gamma * tail)
    return np.where(hard, l, NAN), np.where(hard, g, NAN)


def reduce64(rows, red, norm):
    s = math.fsum(rows) if np.isfinite(rows).all() else float(np.sum(rows))
    return s / norm if red == "mean" else s


def binary_case(fam, name, op, inp, reduction="mean", weight=False, pos_weight=False, asym=None, clip=0.0,
                alpha=None, gamma=None):
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    nk = n * k
    c = {"name": name, "op": op, "in": inp, "reduction": reduction}
    if weight:
        c["weight"] = True
    if pos_weight:
        c["pos_weight"] = True
    if asym:
        c["asym"] = list(asym)
    if clip:
        c["clip"] = clip
    if alpha is not None:
        c["alpha"] = alpha
        c["gamma"] = gamma
    fn, fp = asym if asym else (1.0, 1.0)
    torch_exact = not asym and not clip and op != "focal_probs" and not (op == "sigmoid_focal" and weight)
    c["source"] = "torch" if torch_exact else "formula"
    gs = 1.0 / nk if reduction == "mean" else 1.0

    def run(dt):
        x = tens(d, "x", dt, (n, k)).requires_grad_()
        y = tens(d, "y", dt, (n, k))
        w = tens(d, "w", dt, (n, k)) if weight else None
        pw = tens(d, "pw", dt) if pos_weight else None
        if op == "bce_logits":
            if torch_exact:
                L = F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction=reduction)
                rows = F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction="none")
            else:
                pwv = pw if pw is not None else 1.0
                rows = pwv * fn * y * softplus_t(-x) + fp * (1 - y) * softplus_t(x)
                if w is not None:
                    rows = rows * w
        elif op == "bce":
            if torch_exact:
                L = F.binary_cross_entropy(x, y, weight=w, reduction=reduction)
                rows = F.binary_cross_entropy(x, y, weight=w, reduction="none")
            elif clip:
                # Both probabilities clipped, so that p = 1 gives −log(clip)
                # exactly (log1p(−clamp(p)) would lose clip's digits to the
                # rounding of 1 − clip: 15.94 instead of 16.12 in float32).
                pc = torch.clamp(x, clip, 1 - clip)
                qc = torch.clamp(1 - x, clip, 1 - clip)
                rows = -(fn * y * torch.log(pc) + fp * (1 - y) * torch.log(qc))
                if w is not None:
                    rows = rows * w
            else:
                rows = BCEAsym.apply(x, y, fn, fp)
                if w is not None:
                    rows = rows * w
        elif op == "sigmoid_focal":
            rows = torchvision.ops.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="none")
            if torch_exact:
                L = torchvision.ops.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction=reduction)
            else:
                rows = rows * w
        elif op == "focal_probs":
            p = torch.clamp(x, clip, 1 - clip) if clip else x
            # 1 − p clipped itself, as for BCE above: p = 1 gives p_t = clip
            # exactly, not 1 − (1 − clip) (6e-9 relative off in float64).
            q = torch.clamp(1 - x, clip, 1 - clip) if clip else 1 - p
            pt = torch.where(y == 1, p, q)
            omp = torch.where(y == 1, q, p)
            logpt = torch.log(pt)
            if not clip:
                logpt = torch.clamp(logpt, min=-100)
            at = torch.where(y == 1, alpha, 1 - alpha) if alpha >= 0 else torch.ones_like(x)
            rows = -at * omp ** gamma * logpt
        if not torch_exact:
            L = rows.sum() / nk if reduction == "mean" else (rows.sum() if reduction == "sum" else rows)
        loss = L.sum() if reduction == "none" else L
        loss.backward()
        return as64({"loss": loss, "rows": rows.detach(), "grad": x.grad})

    r64 = run(F64)
    x64 = np.asarray(d["x"], dtype=np.float64)
    y64 = np.asarray(d["y"], dtype=np.float64)
    w64 = np.asarray(d["w"], dtype=np.float64) if weight else np.ones(nk)
    ref = None
    if op == "bce_logits":
        pw64 = np.tile(np.asarray(d["pw"], dtype=np.float64), n) if pos_weight else np.ones(nk)
        ref = bcel_ref(x64, y64, w64, pw64, fn, fp)
    elif op == "sigmoid_focal":
        rl, rg = focal_ref(x64, y64, alpha, gamma)
        ref = (rl * w64, rg * w64)
    elif op == "bce" and torch_exact:
        # PyTorch's clamped logs, with log(1 − p) as log1p(−p): PyTorch
        # forms 1 − p first and loses p below 2⁻²⁴ (float32) entirely.
        with np.errstate(divide="ignore"):
            lp = np.maximum(np.log(x64), -100)
            lq = np.maximum(np.log1p(-x64), -100)
        ref = (-w64 * (y64 * lp + (1 - y64) * lq), None)
    devs = []
    outs = {}
    if ref is not None:
        rrows, rgrad = ref
        fin = np.isfinite(rrows) & np.isfinite(r64["rows"])
        check_close(name + " rows vs ref", r64["rows"][fin], rrows[fin], 1e-12,
                    scale=max(1.0, np.abs(x64[np.isfinite(x64)]).max()) * max(1.0, np.abs(w64).max()) * 4)
        if rgrad is not None:
            rgrad = rgrad * gs
            fin = np.isfinite(rgrad) & np.isfinite(r64["grad"])
            check_close(name + " grad vs ref", r64["grad"][fin], rgrad[fin], 1e-12, scale=gs * 4 * max(1.0, np.abs(w64).max()))
    for prec in (64, 32):
        r = r64 if prec == 64 else run(F32)
        if op == "bce" and torch_exact and prec == 64:
            bce_guard_devs(devs, r, x64, y64, w64, gs)
        if ref is not None:
            who = "" if torch_exact else FORMULA

            def tag(i, kind):
                inf = i is not None and math.isinf(x64[i])
                if i is None:  # the reduced loss: the class of its worst element
                    inf = np.isinf(x64).any()
                if op == "bce_logits":
                    if inf and kind in ("nan", "inf"):
                        return "bcel-inf"
                    if kind == "zero":
                        return "bcel-sat"
                elif op == "sigmoid_focal":
                    if inf and kind in ("nan", "inf"):
                        return "focal-inf"
                    if kind == "zero":
                        return "focal-sat"
                    if kind == "nan":
                        return "focal-nan"
                elif op == "bce":
                    if kind in ("zero", "rel"):
                        return "bce-log1p"
                no_row("%s %s element %r kind %s" % (name, op, i, kind))
            r["rows"] = flag(devs, prec, "rows", r["rows"], rrows, lambda i: who + "%s element %d (x=%r, y=%r)" % (op, i, x64[i], y64[i]),
                             tag, elementwise=op == "bce")
            if rgrad is not None:
                r["grad"] = flag(devs, prec, "grad", r["grad"], rgrad, lambda i: who + "%s grad %d (x=%r, y=%r)" % (op, i, x64[i], y64[i]), tag)
            if not np.isnan(rrows).any():
                r["loss"] = flag(devs, prec, "loss", r["loss"], reduce64(rrows, reduction, nk), lambda i: who + op + " loss",
                                 lambda i, kind: tag(None, kind), elementwise=op == "bce")
        outs["f%d" % prec] = out_block(prec, r["loss"], r["rows"], r["grad"])
    if not torch_exact:
        outs["f32"] = out_block(32, r64["loss"], r64["rows"], r64["grad"])
        devs = [e for e in devs if e["dt"] == 64]
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


class BCEAsym(torch.autograd.Function):
    """Asymmetric BCE on probabilities with PyTorch's conventions: each log
    clamped at −100, gradient w·(fp·(1−y)·p − fn·y·(1−p)) / max(p(1−p), 1e-12)
    (PyTorch's binary_cross_entropy backward with the two terms weighted)."""

    @staticmethod
    def forward(ctx, p, y, fn, fp):
        ctx.save_for_backward(p, y)
        ctx.fn, ctx.fp = fn, fp
        return -(fn * y * torch.clamp(torch.log(p), min=-100) + fp * (1 - y) * torch.clamp(torch.log1p(-p), min=-100))

    @staticmethod
    def backward(ctx, go):
        p, y = ctx.saved_tensors
        # lossfuse's guard is 1e-12 exactly (PyTorch's is float32(1e-12); see
        # bce_guard_devs).
        g = (ctx.fp * (1 - y) * p - ctx.fn * y * (1 - p)) / torch.clamp((1 - p) * p, min=1e-12)
        return go * g, None, None, None


def bce_guard_devs(devs, r, x64, y64, w64, gs):
    """lossfuse's BCE gradient guards p·(1−p) below by 1e-12 exactly (as the
    reference oracle does); PyTorch's guard is the float32 constant 1e-12 =
    9.999999960041972e-13, so its float64 gradient at p ∈ {0, 1} is
    ∓1.0000000039958029e12 instead of ∓1e12 (a relative 4e-9; the true
    gradient is infinite there). float32 results agree."""
    for i in range(len(x64)):
        p, y = x64[i], y64[i]
        if not (p * (1 - p) < 1e-12) or math.isnan(r["grad"][i]):
            continue
        want = w64[i] * ((1 - y) * p - y * (1 - p)) / 1e-12 * gs
        if want != r["grad"][i]:
            devs.append({"dt": 64, "field": "grad", "i": i, "torch": enc(r["grad"][i], 64),
                         "reason": "[bce-guard] lossfuse deviation: bce grad %d (p=%r, y=%r): PyTorch guards p(1-p) with float32(1e-12) "
                                   "= 9.999999960041972e-13; lossfuse with 1e-12 exactly" % (i, p, y)})
            r["grad"][i] = want


def build_bce_logits():
    fam = Family("bce_logits")
    I = fam.inputs
    rng = np.random.RandomState(4)
    I.add("L", 4, 3, x=rng.randn(4, 3) * 3,
          y=[[1, 0, 0.3], [0, 1, 1], [0.5, 0, 1], [1, 0.9, 0]],
          w=rng.uniform(0, 2, (4, 3)) * np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1]).reshape(4, 3),
          pw=[0.5, 3.0, 1.0])
    for weight in (False, True):
        for pw in (False, True):
            for red in REDS:
                binary_case(fam, "w%d_pw%d_%s" % (weight, pw, red), "bce_logits", "L", red, weight, pw)
    for red in REDS:
        binary_case(fam, "asym1_3_%s" % red, "bce_logits", "L", red, asym=(1.0, 3.0))
    binary_case(fam, "asym2_0.5_w_pw_mean", "bce_logits", "L", "mean", True, True, asym=(2.0, 0.5))
    # extremes: each x with y = 0 and y = 1, pos_weight along the last dim
    xs = [-INF, INF, -1e4, 1e4, -800, 800, -40, 40, -20, 20, -17, 17, -5, 5, 0, NAN]
    I.add("E", len(xs), 4, x=[[v] * 4 for v in xs], y=[[0, 1, 0, 1]] * len(xs),
          w=[[0.5, 2.0, 1.0, 0.0]] * len(xs), pw=[2.0, 0.5, 3.0, 1.0])
    for red in REDS:
        binary_case(fam, "edge_%s" % red, "bce_logits", "E", red)
    binary_case(fam, "edge_pw_none", "bce_logits", "E", "none", pos_weight=True)
    binary_case(fam, "edge_w_pw_none", "bce_logits", "E", "none", weight=True, pos_weight=True)
    binary_case(fam, "edge_asym_none", "bce_logits", "E", "none", asym=(1.0, 3.0))
    I.add("EF", len(xs) - 1, 4, x=[[v] * 4 for v in xs[2:] + [0.5]], y=[[0, 1, 0, 1]] * (len(xs) - 1))
    binary_case(fam, "edge_finite_mean", "bce_logits", "EF", "mean")
    # soft targets at ±Inf (PyTorch: NaN for every target); a zero weight
    # there gives 0·∞ = NaN in both
    xs6 = [-INF, INF, -40, 40, 0, NAN]
    I.add("ES", len(xs6), 3, x=[[v] * 3 for v in xs6], y=[[0.3, 0.7, 1.0]] * len(xs6), w=[[0.0, 2.0, 1.0]] * len(xs6),
          pw=[2.0, 0.5, 1.0])
    for red in REDS:
        binary_case(fam, "soft_edge_%s" % red, "bce_logits", "ES", red)
    binary_case(fam, "soft_edge_w_pw_none", "bce_logits", "ES", "none", weight=True, pos_weight=True)
    I.add("K1", 3, 1, x=[0.5, -2, 30], y=[1, 0, 1], pw=[4.0])
    binary_case(fam, "K1_pw_mean", "bce_logits", "K1", "mean", pos_weight=True)
    return fam


def build_bce():
    fam = Family("bce")
    I = fam.inputs
    rng = np.random.RandomState(5)
    p = rng.uniform(0.02, 0.98, (5, 3))
    p[0] = [0.0, 1.0, 0.5]
    p[1] = [1e-8, 0.9999999, 0.25]
    p[4] = [0.0, 1.0, 0.999]
    y = np.array([[1, 0, 1], [1, 0, 0.3], [0, 1, 0.5], [0.2, 1, 0], [0, 1, 0]], dtype=np.float64)
    I.add("Q", 5, 3, x=p, y=y, w=rng.uniform(0, 2, (5, 3)))
    for weight in (False, True):
        for red in REDS:
            binary_case(fam, "w%d_%s" % (weight, red), "bce", "Q", red, weight)
    for red in REDS:
        binary_case(fam, "clip1e-7_%s" % red, "bce", "Q", red, clip=1e-7)
        binary_case(fam, "asym1_3_%s" % red, "bce", "Q", red, asym=(1.0, 3.0))
    binary_case(fam, "asym1_3_clip1e-7_w_mean", "bce", "Q", "mean", True, asym=(1.0, 3.0), clip=1e-7)
    binary_case(fam, "clip0.1_none", "bce", "Q", "none", clip=0.1)
    # small p with y < 1: PyTorch's log(1 − p) rounds 1 − p (to 1 below
    # 2⁻²⁴ in float32); the loss is ≈ p·(1 − y)
    I.add("QS", 2, 3, x=[[1e-8, 1e-30, 3e-5], [1e-8, 2e-6, 1e-12]], y=[[0, 0, 0], [0.3, 0, 0.5]])
    for red in REDS:
        binary_case(fam, "small_p_%s" % red, "bce", "QS", red)
    return fam


def build_sigmoid_focal():
    fam = Family("sigmoid_focal")
    I = fam.inputs
    rng = np.random.RandomState(6)
    I.add("H", 4, 3, x=rng.randn(4, 3) * 3, y=[[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 1, 0]], w=rng.uniform(0, 2, (4, 3)))
    for gamma in (0, 0.5, 1, 2, 5):
        for alpha in (0.25, -1.0):
            for red in REDS:
                binary_case(fam, "g%g_a%g_%s" % (gamma, alpha, red), "sigmoid_focal", "H", red, alpha=alpha, gamma=gamma)
    binary_case(fam, "w_g2_a0.25_mean", "sigmoid_focal", "H", "mean", True, alpha=0.25, gamma=2)
    binary_case(fam, "w_g0.5_a-1_none", "sigmoid_focal", "H", "none", True, alpha=-1.0, gamma=0.5)
    binary_case(fam, "g3.7_a0.6_sum", "sigmoid_focal", "H", "sum", alpha=0.6, gamma=3.7)
    I.add("S", 2, 3, x=rng.randn(2, 3) * 2, y=[[0.3, 0.9, 0.0], [0.5, 1.0, 0.1]])
    binary_case(fam, "soft_g2_a0.25_mean", "sigmoid_focal", "S", "mean", alpha=0.25, gamma=2)
    binary_case(fam, "soft_g0.5_a-1_none", "sigmoid_focal", "S", "none", alpha=-1.0, gamma=0.5)
    xs = [-INF, INF, -1e4, 1e4, -800, 800, -40, 40, -20, 20, -17, 17, -5, 5, 0, NAN]
    I.add("E", len(xs), 2, x=[[v] * 2 for v in xs], y=[[0, 1]] * len(xs))
    for gamma in (0, 0.5, 1, 2, 5):
        binary_case(fam, "edge_g%g_a0.25_none" % gamma, "sigmoid_focal", "E", "none", alpha=0.25, gamma=gamma)
    binary_case(fam, "edge_g0.5_a-1_none", "sigmoid_focal", "E", "none", alpha=-1.0, gamma=0.5)
    I.add("EF", 6, 2, x=[[v] * 2 for v in [-1e4, 1e4, -40, 40, -20, 20]], y=[[0, 1]] * 6)
    for gamma in (0.5, 2):
        for red in ("mean", "sum"):
            binary_case(fam, "edge_finite_g%g_%s" % (gamma, red), "sigmoid_focal", "EF", red, alpha=0.25, gamma=gamma)
    return fam


def build_focal_probs():
    fam = Family("focal_probs")
    I = fam.inputs
    rng = np.random.RandomState(7)
    I.add("FP", 4, 3, x=rng.uniform(0.02, 0.98, (4, 3)), y=[[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 1, 0]])
    for gamma in (0, 0.5, 2, 5):
        for alpha in (0.25, -1.0):
            binary_case(fam, "g%g_a%g_mean" % (gamma, alpha), "focal_probs", "FP", "mean", alpha=alpha, gamma=gamma)
    binary_case(fam, "g2_a0.25_none", "focal_probs", "FP", "none", alpha=0.25, gamma=2)
    binary_case(fam, "g2_a0.25_sum_clip1e-7", "focal_probs", "FP", "sum", alpha=0.25, gamma=2, clip=1e-7)
    I.add("E", 4, 2, x=[[0, 0], [1, 1], [1e-8, 1e-8], [0.9999999, 0.9999999]], y=[[0, 1]] * 4)
    for gamma in (0.5, 2):
        binary_case(fam, "edge_clip1e-7_g%g_none" % gamma, "focal_probs", "E", "none", alpha=0.25, gamma=gamma, clip=1e-7)
        binary_case(fam, "edge_clip1e-7_g%g_mean" % gamma, "focal_probs", "E", "mean", alpha=0.25, gamma=gamma, clip=1e-7)
    return fam


# ---------------------------------------------------------------- regression

def regression_case(fam, name, op, inp, reduction="mean", weight=False, param=None, empty_mean="nan"):
    d = fam.inputs.sets[inp]
    n = d["n"]
    c = {"name": name, "op": op, "in": inp, "reduction": reduction}
    if weight:
        c["weight"] = True
    if param is not None:
        c["param"] = param
    if empty_mean != "nan":
        c["empty_mean"] = empty_mean
    c["source"] = "torch" if not weight else ("formula" if empty_mean == "nan" else "definition")

    def fnc(x, y, red):
        if op == "mse":
            return F.mse_loss(x, y, reduction=red)
        if op == "l1":
            return F.l1_loss(x, y, reduction=red)
        if op == "huber":
            return F.huber_loss(x, y, reduction=red, delta=param)
        return F.smooth_l1_loss(x, y, reduction=red, beta=param)

    def run(dt):
        x = tens(d, "x", dt).requires_grad_()
        y = tens(d, "y", dt)
        if weight:
            w = tens(d, "w", dt)
            rows = fnc(x, y, "none") * w
            ws = float(w.double().sum())
            if reduction == "mean":
                loss = rows.sum() / ws if ws or empty_mean == "nan" else rows.sum() * 0.0
            else:
                loss = rows.sum()
        else:
            rows = fnc(x, y, "none")
            L = fnc(x, y, reduction)
            loss = L.sum() if reduction == "none" else L
        loss.backward()
        return as64({"loss": loss, "rows": rows.detach(), "grad": x.grad})

    r64 = run(F64)
    x64 = np.asarray(d["x"], dtype=np.float64)
    devs = []

    y64 = np.asarray(d["y"], dtype=np.float64)

    def nan_grad(prec, r):
        # Where the difference x − y is NaN (a NaN prediction or target,
        # or ∞ − ∞) the derivative is NaN; PyTorch's l1_loss backward
        # (sign(NaN) → 0) returns 0 there.
        for i in range(n):
            with np.errstate(invalid="ignore"):
                dnan = math.isnan(x64[i] - y64[i])
            if dnan and not math.isnan(r["grad"][i]):
                if op != "l1":
                    no_row("%s %s grad[%d]" % (name, op, i))
                devs.append({"dt": prec, "field": "grad", "i": i, "torch": enc(r["grad"][i], prec),
                             "reason": tagged("l1-nan", "%s grad[%d] at x=%r, y=%r: PyTorch returns %r; where x − y is NaN the derivative is NaN"
                                              % (op, i, x64[i], y64[i], r["grad"][i]))})
                r["grad"][i] = NAN

    nan_grad(64, r64)
    outs = {"f64": out_block(64, r64["loss"], r64["rows"], r64["grad"])}
    if c["source"] == "torch":
        r = run(F32)
        nan_grad(32, r)
        outs["f32"] = out_block(32, r["loss"], r["rows"], r["grad"])
    else:
        outs["f32"] = out_block(32, r64["loss"], r64["rows"], r64["grad"])
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


def build_regression():
    fam = Family("regression")
    I = fam.inputs
    rng = np.random.RandomState(8)
    x = f32(rng.randn(16) * 2)
    y = f32(rng.randn(16) * 2)
    y[0] = x[0]            # tie: L1 / SmoothL1 gradient 0
    y[1] = x[1] + 1.0      # |d| = 1: the Huber / SmoothL1 boundary for 1
    y[2] = x[2] - 0.5      # |d| = 0.5
    y[3] = x[3] - 2.5
    y[4] = x[4] + 1e-3
    w = rng.uniform(0, 2, 16)
    w[5] = 0
    I.add("R", 16, 1, x=x, y=y, w=w)
    ops = [("mse", None), ("l1", None)] + [("huber", p) for p in (0.5, 1.0, 2.5)] + [("smooth_l1", p) for p in (0.5, 1.0, 2.5)]
    for op, p in ops:
        for weight in (False, True):
            for red in REDS:
                regression_case(fam, "%s%s_w%d_%s" % (op, "" if p is None else "%g" % p, weight, red), op, "R", red, weight, p)
    I.add("E", 7, 1, x=[INF, -INF, NAN, 1e4, 0, 1, 3e38], y=[0, 0, 0, -1e4, INF, INF, -3e38])
    for op, p in (("mse", None), ("l1", None), ("huber", 1.0), ("smooth_l1", 1.0)):
        regression_case(fam, "edge_%s_none" % op, op, "E", "none", param=p)
    # a NaN target, or ∞ − ∞: the L1 gradient is NaN (PyTorch: 0)
    I.add("EN", 6, 1, x=[1, NAN, INF, -INF, 0, INF], y=[NAN, 1, INF, -INF, NAN, -INF])
    for op, p in (("mse", None), ("l1", None), ("huber", 1.0), ("smooth_l1", 1.0)):
        for red in ("none", "sum"):
            regression_case(fam, "nan_diff_%s_%s" % (op, red), op, "EN", red, param=p)
    I.add("W0", 3, 1, x=[1, 2, 3], y=[0, 0, 5], w=[0, 0, 0])
    for op, p in (("mse", None), ("huber", 1.0)):
        regression_case(fam, "zero_weights_%s_mean" % op, op, "W0", "mean", True, p)
        regression_case(fam, "zero_weights_%s_mean_emptyzero" % op, op, "W0", "mean", True, p, empty_mean="zero")
    I.add("N1", 1, 1, x=[0.25], y=[-1.5], w=[3.0])
    regression_case(fam, "n1_mse_w_mean", "mse", "N1", "mean", True)
    I.add("R67", 67, 1, x=rng.randn(67) * 3, y=rng.randn(67) * 3, w=rng.uniform(0, 2, 67))
    for op, p in ops:
        regression_case(fam, "R67_%s%s_w_mean" % (op, "" if p is None else "%g" % p), op, "R67", "mean", True, p)
    return fam


# ---------------------------------------------------------------- primitives

def build_primitives():
    fam = Family("primitives")
    I = fam.inputs
    rng = np.random.RandomState(9)
    rows = rng.randn(7, 5) * 3
    rows[1] = [1e4, 1e4 - 1, -1e4, 0, 9998]
    rows[2] = [-INF, 0, 1, 2, 3]
    rows[3] = [INF, 0, 1, 2, 3]
    rows[4] = [NAN, 0, 1, 2, 3]
    rows[5] = [-INF] * 5
    rows[6] = [40, 0, 0, -40, 0]
    I.add("M", 7, 5, x=rows)
    I.add("M1", 3, 1, x=[0.5, -1e4, -INF])
    I.add("M67", 2, 67, x=rng.randn(2, 67) * 5)
    for inp in ("M", "M1", "M67"):
        d = I.sets[inp]
        n, k = d["n"], d["k"]
        for op in ("softmax", "log_softmax", "logsumexp"):
            outs = {}
            for prec in (64, 32):
                x = tens(d, "x", DT[prec], (n, k))
                v = {"softmax": lambda: torch.softmax(x, 1), "log_softmax": lambda: torch.log_softmax(x, 1),
                     "logsumexp": lambda: torch.logsumexp(x, 1)}[op]()
                outs["f%d" % prec] = out_block(prec, values=v)
            fam.case({"name": "%s_%s" % (op, inp), "op": op, "in": inp, "source": "torch", "out": outs})
    xs = [-INF, INF, NAN, 0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 5, -5, 17, -17, 20, -20, 21, -21, 25, -25, 30, -30, 40, -40,
          88.7, -88.7, 100, -100, 104, -104, 745, -745, 800, -800, 1e4, -1e4, 3e38, -3e38]
    I.add("V", len(xs), 1, x=xs)
    d = I.sets["V"]
    x64 = d["x"]
    refs = {"sigmoid": sigmoid64(x64), "logsigmoid": -softplus64(-x64), "softplus": softplus64(x64)}
    for op in ("sigmoid", "logsigmoid", "softplus"):
        outs, devs = {}, []
        for prec in (64, 32):
            x = tens(d, "x", DT[prec])
            v = {"sigmoid": torch.sigmoid, "logsigmoid": F.logsigmoid, "softplus": F.softplus}[op](x)
            v = v.double().numpy().copy()
            check_close(op + " vs ref", v, refs[op], 1e-5 if prec == 32 else 1e-12)
            v = flag(devs, prec, "values", v, refs[op], lambda i: "%s(%r)" % (op, x64[i]),
                     lambda i, kind: "softplus" if op == "softplus" else no_row("%s(%r) kind %s" % (op, x64[i], kind)), elementwise=True)
            outs["f%d" % prec] = out_block(prec, values=v)
        c = {"name": op, "op": op, "in": "V", "source": "torch", "out": outs}
        if devs:
            c["dev"] = devs
        fam.case(c)
    return fam


# ---------------------------------------------------------------- primitives' backward passes

# Row kinds of the row backward passes' input sets: (name, what the row holds).
BWD_ROWS = ["rand", "sat", "ones", "dy_nan", "dy_inf", "dy_ninf", "x_ninf", "x_inf", "x_nan", "big", "s_inf", "s_nan",
            "x_allninf"]


def bwd_scale(op, d, beta=1.0, thr=INF):
    """S of the Go test (golden_test.go, scaleOf) for a backward case, from
    its stored inputs; the generator uses it only to tell a deviation from
    a difference within the test's tolerance (flag's scale)."""
    k = d["k"]
    with np.errstate(over="ignore", invalid="ignore"):
        if op in ("softmax_backward", "log_softmax_backward"):
            n = d["n"]
            y, dy = d["y"].reshape(n, k), d["dy"].reshape(n, k)
            s = np.zeros((n, k))
            for i in range(n):
                if op == "softmax_backward":
                    a = np.sum(np.abs(y[i] * dy[i]))
                    s[i] = np.abs(y[i]) * (np.abs(dy[i]) + (1 + k / 32) * a)
                else:
                    a = np.sum(np.abs(dy[i]))
                    s[i] = np.abs(dy[i]) + np.exp(y[i]) * (1 + k / 32) * a
        elif op == "logsumexp_backward":
            n = d["n"]
            x = d["x"].reshape(n, k)
            s = np.abs(d["dy"])[:, None] * np.exp(x - d["lse"][:, None]) * (1 + np.abs(x) + np.abs(d["lse"])[:, None])
        elif op == "sigmoid_backward":
            y = d["y"]
            s = np.abs(d["dy"] * y * (1 - 2 * y))
        else:
            x = d["x"]
            t = x * beta  # in float64 for both dtypes, as the Go test's S
            if op == "softplus_beta":
                s = np.abs(x * sigmoid64(t))
            else:  # dy·σ(βx): the input's own rounding
                s = np.abs(t * d["dy"] * sigmoid64(t) * sigmoid64(-t))
            s = np.where(t > thr, 0.0, s)
    s = np.asarray(s, dtype=np.float64).reshape(-1)
    return np.where(np.isfinite(s), s, 0.0)


def bwd_ref(op, d, prec, beta=1.0, thr=INF):
    """float64 closed form of a backward pass (or SoftplusBeta) on the stored
    inputs; IEEE arithmetic where they are not finite, the limit where the
    formula has one (σ(±Inf))."""
    k = d["k"]
    with np.errstate(over="ignore", invalid="ignore"):
        if op == "softmax_backward":
            n = d["n"]
            y, dy = d["y"].reshape(n, k), d["dy"].reshape(n, k)
            r = np.zeros((n, k))
            for i in range(n):
                p = y[i] * dy[i]
                s = math.fsum(p) if np.isfinite(p).all() else float(np.sum(p))
                r[i] = y[i] * (dy[i] - s)
        elif op == "log_softmax_backward":
            n = d["n"]
            y, dy = d["y"].reshape(n, k), d["dy"].reshape(n, k)
            r = np.zeros((n, k))
            for i in range(n):
                s = math.fsum(dy[i]) if np.isfinite(dy[i]).all() else float(np.sum(dy[i]))
                r[i] = dy[i] - np.exp(y[i]) * s
        elif op == "logsumexp_backward":
            n = d["n"]
            r = d["dy"][:, None] * np.exp(d["x"].reshape(n, k) - d["lse"][:, None])
        elif op == "sigmoid_backward":
            r = d["dy"] * ((1 - d["y"]) * d["y"])
        elif op == "logsigmoid_backward":
            r = d["dy"] * sigmoid64(-d["x"])
        else:
            x = d["x"]
            t = x * beta
            if prec == 32:
                t = f32(t)  # β·x rounded in the element type, as PyTorch
            if op == "softplus_beta":
                r = np.where(t > thr, x, softplus64(t) / beta)
            else:  # softplus_backward (β = 1, no threshold), softplus_beta_backward
                r = np.where(t > thr, d["dy"], d["dy"] * sigmoid64(t))
    return np.asarray(r, dtype=np.float64).reshape(-1)


def same_bits(a, b):
    a, b = a.detach().double().numpy(), b.detach().double().numpy()
    return bool(((a == b) | (np.isnan(a) & np.isnan(b))).all())


def bwd_torch(op, d, prec, beta=1.0, thr=INF):
    """PyTorch's result in dtype prec. The passes that save their input
    (LogSigmoid, Softplus, SoftplusBeta) run through torch.autograd.grad with
    grad_outputs = dy. Those that save their output (Softmax, LogSoftmax,
    Sigmoid; LogSumExp saves both) call the backward op autograd calls on
    the stored saved tensor, so that the float64 run sees the same y (lse)
    as the float32 one (a float64 forward would give another y); in float32
    the generator checks that op against torch.autograd.grad of the forward
    bit for bit, on every row whose stored y is the forward's output."""
    dt = DT[prec]
    n, k = d["n"], d["k"]
    if op in ("softmax_backward", "log_softmax_backward"):
        y, dy = tens(d, "y", dt, (n, k)), tens(d, "dy", dt, (n, k))
        bw = torch._softmax_backward_data if op == "softmax_backward" else torch._log_softmax_backward_data
        r = bw(dy, y, 1, dt)
        if prec == 32:
            x = tens(d, "_x", dt, (n, k)).requires_grad_()
            yf = (torch.softmax if op == "softmax_backward" else torch.log_softmax)(x, 1)
            (g,) = torch.autograd.grad(yf, x, dy)
            for i in range(n):
                if same_bits(yf[i], y[i]) and not same_bits(g[i], r[i]):
                    raise SystemExit("self-check %s row %d: backward op != autograd" % (op, i))
        return r
    if op == "logsumexp_backward":
        x, lse, dy = tens(d, "x", dt, (n, k)), tens(d, "lse", dt), tens(d, "dy", dt)
        r = dy[:, None] * torch.exp(x - lse[:, None])  # FunctionsManual.cpp logsumexp_backward
        if prec == 32:
            xg = x.clone().requires_grad_()
            lf = torch.logsumexp(xg, 1)
            (g,) = torch.autograd.grad(lf, xg, dy)
            for i in range(n):
                if same_bits(lf[i], lse[i]) and not same_bits(g[i], r[i]):
                    raise SystemExit("self-check %s row %d: backward formula != autograd" % (op, i))
        return r
    if op == "sigmoid_backward":
        y, dy = tens(d, "y", dt), tens(d, "dy", dt)
        r = torch.ops.aten.sigmoid_backward(dy, y)
        if prec == 32:
            x = tens(d, "_x", dt).requires_grad_()
            yf = torch.sigmoid(x)
            (g,) = torch.autograd.grad(yf, x, dy)
            fwd = ((yf.detach() == y) | (torch.isnan(yf.detach()) & torch.isnan(y)))
            if not same_bits(g[fwd], r[fwd]):
                raise SystemExit("self-check sigmoid_backward: backward op != autograd")
        return r
    x = tens(d, "x", dt).requires_grad_()
    if op == "logsigmoid_backward":
        v = F.logsigmoid(x)
    elif op == "softplus_backward":
        v = F.softplus(x, 1, INF)  # lossfuse's Softplus has no threshold
    else:
        v = F.softplus(x, beta, thr)
    if op == "softplus_beta":
        return v
    (g,) = torch.autograd.grad(v, x, tens(d, "dy", dt))
    return g


def softplus_why(prec, t, forward):
    """How PyTorch's softplus (log1p(exp(βx))/β) or softplus_backward
    (dy·z/(z+1), z = exp(βx)) goes wrong at t = βx, for a deviation's
    reason."""
    np_t = np.float32 if prec == 32 else np.float64
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        z = np.exp(np_t(t))
    if forward:
        return "where the threshold does not apply PyTorch forms log1p(exp(βx)), and exp(βx) overflows (float%d)" % prec
    if math.isinf(z):
        return "where the threshold does not apply PyTorch forms dy·z/(z+1) with z = exp(βx) = +Inf (float%d): NaN" % prec
    if z == 0:
        return "exp(βx) underflows to 0 in float%d and ±Inf·0 is NaN, but σ(βx) > 0" % prec
    return "PyTorch's dy·z overflows before the division by z+1 (z = exp(βx), float%d)" % prec


def bwd_case(fam, name, op, inp, beta=None, thr=None):
    d = fam.inputs.sets[inp]
    b, t = (1.0, INF) if beta is None else (beta, thr)
    field = "values" if op == "softplus_beta" else "grad"
    c = {"name": name, "op": op, "in": inp, "source": "torch"}
    if beta is not None:
        c["beta"] = beta
        c["threshold"] = enc(thr, 64)
    outs, devs = {}, []
    for prec in (64, 32):
        v = bwd_torch(op, d, prec, b, t).detach().double().reshape(-1).numpy().copy()
        ref = bwd_ref(op, d, prec, b, t)
        sc = bwd_scale(op, d, b, t)
        saved = "y" if op in ("softmax_backward", "log_softmax_backward", "sigmoid_backward") else "x"

        def head(i):
            parts = ["%s=%r" % (saved, float(d[saved][i]))]
            if op != "softplus_beta":
                parts.append("dy=%r" % float(d["dy"][i // d["k"] if op == "logsumexp_backward" else i]))
            if beta is not None:
                parts.append("beta=%r, threshold=%r" % (b, t))
            h = "%s(%s)" % (op, ", ".join(parts))
            if op.startswith("softplus"):
                h += ", " + softplus_why(prec, float(d["x"][i]) * b, op == "softplus_beta")
            return h

        def tag(i, kind):
            if op.startswith("softplus"):
                return "softplus"
            return no_row("%s kind %s" % (head(i), kind))

        v = flag(devs, prec, field, v, ref, head, tag, elementwise=op not in (
            "softmax_backward", "log_softmax_backward", "logsumexp_backward"), scale=sc)
        check_close("%s %s f%d vs ref" % (name, op, prec), v, ref, 1e-5 if prec == 32 else 1e-12)
        outs["f%d" % prec] = out_block(prec, **{field: v})
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


def build_primitives_backward():
    fam = Family("primitives_backward")
    I = fam.inputs
    rng = np.random.RandomState(13)
    # Row passes: K = 1, 2, 17 with one row of each kind, K = 4099 with three.
    for k in (1, 2, 17, 4099):
        # K = 4099: a random row (a long sum of comparable terms) and a NaN
        # gradient near the end of a row of few distinct values (a small
        # file: a NaN dy makes Softmax's and LogSoftmax's whole row NaN).
        kinds = BWD_ROWS if k < 4099 else ["rand", "dy_nan"]
        n = len(kinds)
        x = rng.randn(n, k) * 3
        dy = np.round(rng.randn(n, k) * 64) / 32  # short decimals: the big rows compress
        dyr = np.round(rng.randn(n) * 64) / 32
        inj = {}  # saved-tensor injections: row -> (j, value)
        for i, kind in enumerate(kinds):
            j = (k - 3 if k > 3 else k - 1) if k == 4099 else (5 * i) % k
            if kind == "sat":
                x[i] = 0
                x[i, 0] = 40
                if k > 1:
                    x[i, -1] = -40
            elif kind == "ones":
                dy[i] = 1
                dyr[i] = 1
            elif kind in ("dy_nan", "dy_inf", "dy_ninf"):
                v = {"dy_nan": NAN, "dy_inf": INF, "dy_ninf": -INF}[kind]
                dy[i, j] = v
                dyr[i] = v
                if k == 4099:
                    x[i] = np.arange(k) % 7 - 3
            elif kind in ("x_ninf", "x_inf", "x_nan"):
                x[i, j] = {"x_ninf": -INF, "x_inf": INF, "x_nan": NAN}[kind]
            elif kind == "big":
                x[i] = 1e4 + rng.randn(k)
            elif kind in ("s_inf", "s_nan"):
                inj[i] = (j, INF if kind == "s_inf" else NAN)
            elif kind == "x_allninf":
                x[i] = -INF
        x = f32(x)
        xt = torch.tensor(x, dtype=F32)
        for op, key, fwd in (("softmax_backward", "SM", torch.softmax), ("log_softmax_backward", "LS", torch.log_softmax)):
            y = fwd(xt, 1).double().numpy().copy()
            for i, (j, v) in inj.items():
                y[i, j] = v
            name = "%s_K%d" % (key, k)
            I.add(name, n, k, y=y, dy=dy, _x=x)  # x: the generator's autograd check only
        lse = torch.logsumexp(xt, 1).double().numpy().copy()
        for i, (j, v) in inj.items():
            lse[i] = v
        I.add("LSE_K%d" % k, n, k, x=x, lse=lse, dy=dyr)
    for k in (1, 2, 17, 4099):
        fam_k = "K%d" % k
        bwd_case(fam, "softmax_backward_" + fam_k, "softmax_backward", "SM_" + fam_k)
        bwd_case(fam, "log_softmax_backward_" + fam_k, "log_softmax_backward", "LS_" + fam_k)
        bwd_case(fam, "logsumexp_backward_" + fam_k, "logsumexp_backward", "LSE_" + fam_k)
    # Element-wise passes: flat lengths 1, 2, 17, 1000.
    edges = [-INF, INF, NAN, 0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 5, -5, 17, -17, 20, -20, 21, -21, 25, -25, 30, -30,
             40, -40, 88.7, -88.7, 89, -89, 100, -100, 104, -104, 745, -745, 800, -800, 1e4, -1e4, 3e38, -3e38]
    dy_specials = [NAN, INF, -INF, 0.0, -0.0]
    flat = {
        1: ([0.75], [-2.0]),
        2: ([30.0, -INF], [0.5, 2.0]),
        17: ([-3.25, INF, 0.125, -20, 21, NAN, 88.7, -89, 1.5, -0.5, 104, 7, -7, 2.5, -2.5, 40, -INF],
             [1, 2, -1, NAN, 0.5, 3, 1, -2, INF, 1, -1, -INF, 0.25, 0, 1, -3, 1.5]),
    }
    xs = list(edges) + list(rng.randn(500) * 8) + list(rng.randn(1000 - len(edges) - 500) * 60)
    dys = list(np.round(rng.randn(1000) * 64) / 32)
    for j, v in enumerate(dy_specials):
        dys[len(edges) + 3 * j] = v  # at ordinary x
        dys[990 + j] = v  # at x drawn from the wide distribution
    dys[3] = INF  # x = 0
    dys[0], dys[1] = INF, -INF  # at x = −Inf, +Inf
    flat[1000] = (xs, dys)
    for m, (x, dy) in flat.items():
        x = f32(x)
        y = torch.sigmoid(torch.tensor(x, dtype=F32)).double().numpy().copy()
        if m >= 17:
            y[m // 2] = INF  # not a sigmoid output: the formula extended
            y[m // 2 + 1] = -INF
        I.add("E%d" % m, m, 1, x=x, dy=dy)
        I.add("Y%d" % m, m, 1, y=y, dy=dy, _x=x)
    for m in (1, 2, 17, 1000):
        bwd_case(fam, "sigmoid_backward_N%d" % m, "sigmoid_backward", "Y%d" % m)
        bwd_case(fam, "logsigmoid_backward_N%d" % m, "logsigmoid_backward", "E%d" % m)
        bwd_case(fam, "softplus_backward_N%d" % m, "softplus_backward", "E%d" % m)
    # SoftplusBeta and its backward pass: PyTorch's default, every length;
    # then each option on the edges plus inputs straddling its threshold
    # (β·x, rounded in the element type, just below, at and just above it).
    for m in (1, 2, 17, 1000):
        bwd_case(fam, "softplus_beta_b1_t20_N%d" % m, "softplus_beta", "E%d" % m, 1.0, 20.0)
        bwd_case(fam, "softplus_beta_backward_b1_t20_N%d" % m, "softplus_beta_backward", "E%d" % m, 1.0, 20.0)
    opts = [("b1_t20", 1.0, 20.0), ("b2_t20", 2.0, 20.0), ("b0.5_t10", 0.5, 10.0), ("bm1_t20", -1.0, 20.0),
            ("b1_tinf", 1.0, INF), ("b3_t1", 3.0, 1.0)]
    for key, beta, thr in opts:
        x = list(edges)
        if math.isfinite(thr):
            at = np.float32(thr / beta)
            for v in (np.nextafter(at, np.float32(-INF)), at, np.nextafter(at, np.float32(INF))):
                x += [float(v), float(np.nextafter(v, np.float32(-INF))), float(np.nextafter(v, np.float32(INF)))]
        x += list(rng.randn(8) * 30 / abs(beta))
        x = f32(x)
        dy = np.round(rng.randn(len(x)) * 64) / 32
        dy[-2], dy[-1] = NAN, INF
        I.add("B_" + key, len(x), 1, x=x, dy=dy)
        bwd_case(fam, "softplus_beta_" + key, "softplus_beta", "B_" + key, beta, thr)
        bwd_case(fam, "softplus_beta_backward_" + key, "softplus_beta_backward", "B_" + key, beta, thr)
    return fam


# ---------------------------------------------------------------- NLL

def nll_ref(x, t, w, ignore):
    """float64 closed form of nll_loss rows: −w[y]·x[i, y] (exact: the
    product of two float32 or one float64 rounding), 0 on ignored rows;
    IEEE arithmetic, so 0·±Inf is NaN as in the formula."""
    n, k = x.shape
    rows = np.zeros(n)
    for i, y in enumerate(t):
        if ignore is not None and y == ignore:
            continue
        wy = 1.0 if w is None else float(w[y])
        with np.errstate(invalid="ignore"):
            rows[i] = -(np.float64(wy) * x[i, y])
    return rows


def nll_case(fam, name, inp, reduction="mean", weight=False, ignore="default", ignore_index=-100, normalizer=0.0,
             empty_mean="nan"):
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    c = {"name": name, "op": "nll", "in": inp, "reduction": reduction, "ignore": ignore}
    if weight:
        c["weight"] = True
    if ignore == "index":
        c["ignore_index"] = ignore_index
    if normalizer:
        c["normalizer"] = normalizer
    if empty_mean != "nan":
        c["empty_mean"] = empty_mean
    ign = None if ignore == "none" else (-100 if ignore == "default" else ignore_index)
    tt = list(d["t"])
    wn = d["w"] if weight else None
    norm = normalizer if normalizer else ce_norm(tt, wn, ign, n)
    empty_zero = empty_mean == "zero" and reduction == "mean" and norm == 0
    torch_exact = not (normalizer or empty_zero)
    c["source"] = "torch" if torch_exact else ("definition" if empty_zero else "formula")

    def run(dt):
        x = tens(d, "x", dt, (n, k)).requires_grad_()
        kw = dict(weight=tens(d, "w", dt) if weight else None, ignore_index=-100 if ign is None else ign)
        tgt = torch.tensor(tt, dtype=torch.int64)
        rows = F.nll_loss(x, tgt, reduction="none", **kw)
        if torch_exact:
            L = F.nll_loss(x, tgt, reduction=reduction, **kw)
            g, = torch.autograd.grad(L, x, grad_outputs=torch.ones_like(L))  # grad_output 1
            loss = L.detach().sum() if reduction == "none" else L.detach()
        elif empty_zero:
            # EmptyMeanZero: loss 0 and an all-zero gradient, by definition
            g, loss = torch.zeros_like(x), torch.zeros((), dtype=dt)
        else:
            # Normalizer: the mean divides by it instead of Σ w[y]
            loss = rows.sum() / norm if reduction == "mean" else rows.sum()
            g, = torch.autograd.grad(loss, x)
        return as64({"loss": loss, "rows": rows.detach(), "grad": g})

    # float64 closed form: the rows exactly, the gradient −w[y]·s at (i, y)
    # with s the mean's 1/norm (+Inf for an empty mean: NaN where a zero
    # weight meets it, as in PyTorch), the reduced loss from the rows.
    x64 = np.asarray(d["x"], dtype=np.float64).reshape(n, k)
    rrows = nll_ref(x64, tt, wn, ign)
    gs = 1.0
    if reduction == "mean":
        gs = (1.0 / norm) if norm else (0.0 if empty_mean == "zero" else INF)
    rgrad = np.zeros((n, k))
    for i, y in enumerate(tt):
        if ign is None or y != ign:
            with np.errstate(invalid="ignore"):
                rgrad[i, y] = -(1.0 if wn is None else float(wn[y])) * gs
    rgrad = rgrad.reshape(-1)
    with np.errstate(invalid="ignore"):  # +Inf + −Inf
        rl = math.fsum(rrows) if np.isfinite(rrows).all() else float(np.sum(rrows))
    if reduction == "mean":
        rl = rl / norm if norm else (0.0 if empty_mean == "zero" else NAN)
    # S of the Go test (golden_test.go, scaleOf): rows and gradient 0 (one
    # rounded product each; the normaliser's few roundings), the loss
    # Σ|row_i| over the mean's normaliser.
    lscale = float(np.abs(rrows[np.isfinite(rrows)]).sum())
    if reduction == "mean" and norm:
        lscale /= abs(norm)

    devs = []
    outs = {}
    for prec in (64, 32):
        # lossfuse-only options: the float64 formula, rounded to float32
        r = run(DT[prec] if torch_exact else F64)

        def tag(i, kind):
            return no_row("%s nll kind %s" % (name, kind))
        why = lambda f: lambda i: "nll %s[%d]" % (f, i)
        r["rows"] = flag(devs, prec, "rows", r["rows"], rrows, why("row"), tag, scale=np.zeros(n))
        r["grad"] = flag(devs, prec, "grad", r["grad"], rgrad, why("grad"), tag, scale=np.zeros(n * k))
        r["loss"] = flag(devs, prec, "loss", r["loss"], rl, lambda i: "nll loss", tag, scale=[lscale])
        tol = 1e-12 if prec == 64 and torch_exact else 1e-6
        check_close("%s rows f%d vs ref" % (name, prec), r["rows"], rrows, tol, scale=max(1.0, np.abs(rrows[np.isfinite(rrows)]).max(initial=0)))
        check_close("%s grad f%d vs ref" % (name, prec), r["grad"], rgrad, tol, scale=max(1.0, np.abs(rgrad[np.isfinite(rgrad)]).max(initial=0)))
        check_close("%s loss f%d vs ref" % (name, prec), r["loss"], rl, tol, scale=max(1.0, lscale))
        outs["f%d" % prec] = out_block(prec, r["loss"], r["rows"], r["grad"])
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


def long_rows(x):
    """K = 4099 log-probabilities: a short periodic pattern (the file
    compresses: nll_loss reads only the target entries) keeping the random
    values in the first and last 20 columns, where the targets lie."""
    n, k = x.shape
    out = np.array(x)
    for i in range(n):
        out[i, 20:k - 20] = -1.0 - 0.5 * ((np.arange(20, k - 20) + 3 * i) % 11)
    return out


def build_nll():
    fam = Family("nll")
    I = fam.inputs
    rng = np.random.RandomState(14)
    for k in (1, 2, 17, 4099):
        n = 3 if k == 4099 else 6
        # log-probabilities (log_softmax of random logits; at K = 1 the
        # only log-probability is 0, so any reals instead)
        z = rng.randn(n, k) * 3
        x = torch.log_softmax(torch.tensor(z), 1).numpy() if k > 1 else z
        if k == 4099:
            x = long_rows(x)
        w = rng.uniform(0, 2, k)
        if k > 1:
            w[1] = 0  # a zero class weight
        t = rng.randint(0, k, n)
        if k == 4099:
            t = np.where(t < k // 2, t % 20, k - 1 - t % 20)  # where long_rows keeps the random values
        if k > 1:
            t[1] = 1  # a target whose weight is 0
        t[-1] = k - 1  # the last class (a vector tail)
        t_ign = t.copy()
        t_ign[2] = -100
        if n > 3:
            t_ign[4] = -100
        K = "K%d" % k
        I.add(K, n, k, x=x, t=t_ign, w=w)
        I.add(K + "_noign", n, k, x=x, t=t, w=w)
        # an ignore index that is a real class: class 0 (every row at K = 1)
        for weight in (False, True):
            for red in REDS:
                nll_case(fam, "%s_w%d_%s" % (K, weight, red), K, reduction=red, weight=weight)
                if k < 4099 or weight:
                    nll_case(fam, "%s_ignore0_w%d_%s" % (K, weight, red), K + "_noign", reduction=red,
                             weight=weight, ignore="index", ignore_index=0)
        nll_case(fam, K + "_noignore_w1_mean", K + "_noign", weight=True, ignore="none")
        nll_case(fam, K + "_default_noign_w0_mean", K + "_noign")
    # Non-finite log-probabilities: −Inf at the target (+Inf loss), NaN and
    # +Inf elsewhere in the row (no effect), +Inf and NaN at the target, a
    # zero weight meeting −Inf (0·∞: NaN, as the formula), and ignored rows
    # holding NaN/±Inf at or around their target (0 and gradient 0).
    for k in (2, 17, 4099):
        n = 9
        x = torch.log_softmax(torch.tensor(rng.randn(n, k) * 2), 1).numpy()
        x = f32(long_rows(x) if k == 4099 else x)
        j = k - 1  # targets in the last class (vector tails)
        t = [j] * n
        x[0, j] = -INF       # −Inf at the target: +Inf loss
        x[1, 0] = NAN        # NaN elsewhere in the row
        x[1, j] = -0.5
        x[2, 0] = INF        # +Inf elsewhere in the row
        x[3, j] = INF        # +Inf at the target: −Inf loss
        x[4, j] = NAN        # NaN at the target
        t[5] = 0
        x[5, 0] = -INF       # −Inf at a target whose class weight is 0
        x[6] = NAN           # ignored rows: all NaN,
        t[6] = -100
        x[7, j] = INF        # ±Inf,
        x[7, 0] = -INF
        t[7] = -100
        x[8, j] = -INF       # −Inf at the class
        t[8] = -100
        w = f32(rng.uniform(0.5, 2, k))
        w[0] = 0
        K = "NF_K%d" % k
        I.add(K, n, k, x=x, t=t, w=w)
        # the whole set makes every reduction NaN (+Inf and −Inf rows): also
        # a finite subset (rows 1, 2: NaN/+Inf beside the target) and one
        # whose only non-finite row is −Inf at the target (+Inf loss)
        t2 = list(t)
        for i in (0, 3, 4, 5):
            t2[i] = -100
        I.add(K + "_fin", n, k, x=x, t=t2, w=w)
        I.add(K + "_ninf", n, k, x=x, t=[t[0], t[1], t[2]] + [-100] * (n - 3), w=w)
        for weight in (False, True):
            for red in REDS:
                if k == 4099 and (weight, red) not in ((True, "none"), (True, "mean"), (False, "sum")):
                    continue  # the long rows: a few combinations (file size)
                nll_case(fam, "%s_w%d_%s" % (K, weight, red), K, reduction=red, weight=weight)
                nll_case(fam, "%s_fin_w%d_%s" % (K, weight, red), K + "_fin", reduction=red, weight=weight)
                nll_case(fam, "%s_ninf_w%d_%s" % (K, weight, red), K + "_ninf", reduction=red, weight=weight)
    # every row ignored: by −100, and by an ignore index that is a class
    x = rng.randn(4, 17)
    I.add("IGN", 4, 17, x=x, t=[-100] * 4, w=rng.uniform(0, 2, 17))
    I.add("IGN3", 4, 17, x=x, t=[3] * 4, w=rng.uniform(0, 2, 17))
    I.add("IGN_K1", 3, 1, x=[0.5, -INF, NAN], t=[0, 0, 0], w=[2.0])
    for weight in (False, True):
        for red in REDS:
            nll_case(fam, "all_ignored_w%d_%s" % (weight, red), "IGN", reduction=red, weight=weight)
            nll_case(fam, "all_ignored3_w%d_%s" % (weight, red), "IGN3", reduction=red, weight=weight,
                     ignore="index", ignore_index=3)
            nll_case(fam, "all_ignored_K1_w%d_%s" % (weight, red), "IGN_K1", reduction=red, weight=weight,
                     ignore="index", ignore_index=0)
    # every counted target's weight 0 under mean: loss NaN, gradient NaN at
    # the targets (−0·∞), 0 elsewhere and on the ignored row
    I.add("W0", 4, 5, x=rng.randn(4, 5), t=[1, 3, -100, 1], w=[1.0, 0.0, 2.0, 0.0, 0.5])
    for red in REDS:
        nll_case(fam, "zero_weights_%s" % red, "W0", reduction=red, weight=True)
    # lossfuse-only options: EmptyMeanZero (definition), Normalizer (formula)
    nll_case(fam, "all_ignored_mean_emptyzero", "IGN", empty_mean="zero")
    nll_case(fam, "all_ignored_w1_mean_emptyzero", "IGN", weight=True, empty_mean="zero")
    nll_case(fam, "zero_weights_mean_emptyzero", "W0", weight=True, empty_mean="zero")
    nll_case(fam, "K17_mean_emptyzero", "K17", empty_mean="zero")  # a non-empty mean: unaffected
    nll_case(fam, "K17_normalizer10_mean", "K17", normalizer=10)
    nll_case(fam, "K17_normalizer3.5_w1_mean", "K17", weight=True, normalizer=3.5)
    nll_case(fam, "K17_normalizer10_sum", "K17", reduction="sum", normalizer=10)
    nll_case(fam, "zero_weights_normalizer2_mean", "W0", weight=True, normalizer=2)
    return fam


# ---------------------------------------------------------------- KL divergence

KL_TAG = "kl-zero"


def kl_parts(x, y, log_target):
    """float64 p, log p of kl_div's target (p = e^t with log targets; a
    finite t whose e^t underflows float64 keeps the least subnormal, as
    lossfuse: e^t > 0)."""
    with np.errstate(divide="ignore", under="ignore"):
        if log_target:
            p = np.exp(y)
            p = np.where((p == 0) & (y > -INF), 5e-324, p)
            lp = y
        else:
            p = y
            lp = np.log(y)
    return p, lp


def kl_ref(x, y, log_target):
    """float64 pointwise kl_div, the mathematical value: p·(log p − x), 0
    where p = 0 (beside x = ±Inf too; NaN where x is NaN), IEEE ±Inf where
    p > 0 meets x = ∓Inf, NaN where x is NaN. Exact up to the float64
    log / exp and two roundings."""
    p, lp = kl_parts(x, y, log_target)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        v = p * (lp - x)
    v = np.where(p == 0, 0.0, v)
    return np.where(np.isnan(x) | np.isnan(y), NAN, v)


def kl_scale(x, y, log_target):
    """S of the Go test (golden_test.go, scaleOf) for the pointwise losses:
    p·(|log p| + |x|), the two terms PyTorch forms and subtracts; 0 where
    not finite."""
    p, lp = kl_parts(x, y, log_target)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        s = np.where(p == 0, 0.0, p * (np.abs(lp) + np.abs(x)))
    return np.where(np.isfinite(s), s, 0.0)


def kl_case(fam, name, inp, reduction, log_target):
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    c = {"name": name, "op": "kldiv", "in": inp, "reduction": reduction, "source": "torch"}
    if log_target:
        c["log_target"] = True

    def run(dt):
        x = tens(d, "x", dt, (n, k)).requires_grad_()
        y = tens(d, "y", dt, (n, k))
        warnings.filterwarnings("ignore", message="reduction: 'mean' divides")  # PyTorch's advice to use batchmean
        rows = F.kl_div(x, y, reduction="none", log_target=log_target)
        L = F.kl_div(x, y, reduction=reduction, log_target=log_target)
        g, = torch.autograd.grad(L, x, grad_outputs=torch.ones_like(L))  # grad_output 1
        loss = L.detach().sum() if reduction == "none" else L.detach()
        return as64({"loss": loss, "rows": rows.detach(), "grad": g})

    x64, y64 = d["x"], d["y"]
    rrows = kl_ref(x64, y64, log_target)
    p64, _ = kl_parts(x64, y64, log_target)
    norm = {"mean": float(n * k), "batchmean": float(n)}.get(reduction, 1.0)
    with np.errstate(invalid="ignore"):
        rgrad = -p64 / norm
        rl = math.fsum(rrows) if np.isfinite(rrows).all() else float(np.sum(rrows))
    rl /= norm
    srows = kl_scale(x64, y64, log_target)
    lscale = float(np.abs(rrows[np.isfinite(rrows)]).sum() + srows.sum()) / norm

    devs, outs = [], {}
    for prec in (64, 32):
        r = run(DT[prec])
        # where PyTorch's 0·∞ is NaN: a zero target (p = 0, or t = −Inf)
        # beside any x with log targets and beside x = ±Inf with
        # probabilities; in float32 also a log target whose e^t underflows
        # to 0 beside x = ±Inf (the limit is ±Inf)
        # (e^t in the dtype, as PyTorch)
        with np.errstate(under="ignore", over="ignore"):
            p_prec = np.exp(y64.astype(np.float32 if prec == 32 else np.float64)).astype(np.float64) if log_target else y64
        zero_beside = (p_prec == 0) & ~np.isnan(x64) & (np.isinf(x64) | bool(log_target))
        nrows = [0]

        def tag_rows(i, kind):
            if kind == "nan" and zero_beside[i]:
                nrows[0] += 1
                return KL_TAG
            return no_row("%s kl_div rows[%d] kind %s" % (name, i, kind))

        def tag_loss(i, kind):
            if kind == "nan" and nrows[0]:
                return KL_TAG
            return no_row("%s kl_div loss kind %s" % (name, kind))

        def tag_grad(i, kind):
            return no_row("%s kl_div grad[%d] kind %s" % (name, i, kind))

        def head_row(i):
            what = "log_target t=%r (e^t=%r in float%d)" % (float(y64[i]), float(p_prec[i]), prec) if log_target else "target p=%r" % float(y64[i])
            return "kl_div %s[%d] at input %r, %s: PyTorch forms %s, 0·∞" % (
                "row", i, float(x64[i]), what, "e^t·(t − x)" if log_target else "xlogy(p, p) − p·x")

        r["rows"] = flag(devs, prec, "rows", r["rows"], rrows, head_row, tag_rows, scale=srows)
        r["grad"] = flag(devs, prec, "grad", r["grad"], rgrad, lambda i: "kl_div grad[%d]" % i, tag_grad,
                         scale=np.zeros(n * k))
        r["loss"] = flag(devs, prec, "loss", r["loss"], rl,
                         lambda i: "kl_div %s loss over pointwise terms where PyTorch's 0·∞ is NaN" % reduction,
                         tag_loss, scale=[lscale])
        tol = 1e-5 if prec == 32 else 1e-12
        check_close("%s rows f%d vs ref" % (name, prec), r["rows"], rrows, tol, scale=max(1.0, float(srows.max())))
        check_close("%s grad f%d vs ref" % (name, prec), r["grad"], rgrad, tol, scale=max(1.0 / norm, float(np.abs(rgrad).max())))
        check_close("%s loss f%d vs ref" % (name, prec), r["loss"], rl, tol, scale=max(1.0, lscale))
        outs["f%d" % prec] = out_block(prec, r["loss"], r["rows"], r["grad"])
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


KL_REDS = ["mean", "batchmean", "sum", "none"]


def kl_long(z, rng, zeros):
    """K = 4099 logits: a period-37 pattern in columns 20 … K−21 (shifted by
    3 per row; the file compresses) between random values in the first and
    last 20 columns, where the special values go; zeros puts −Inf logits
    (zero targets) in the pattern."""
    n, k = z.shape
    pat = rng.randn(37) * 2
    if zeros:
        pat[[4, 17, 30]] = -INF
    out = np.array(z)
    for i in range(n):
        out[i, 20:k - 20] = pat[(np.arange(20, k - 20) + 3 * i) % 37]
    return out


def build_kldiv():
    fam = Family("kldiv")
    I = fam.inputs
    rng = np.random.RandomState(15)
    for k in (1, 2, 17, 4099):
        n = {1: 12, 2: 6, 17: 6, 4099: 2}[k]
        nk = n * k
        zq = rng.randn(n, k) * 2  # input logits
        zp = rng.randn(n, k) * 2  # target logits
        # exact zero targets: −Inf target logits (never a whole row; at
        # K = 4099 three in the first and last 20 columns, and for the
        # probabilities 3 in each period of the pattern: with log targets
        # every −Inf is a deviation entry)
        zl = None
        if k == 4099:
            zq, zl, zp = kl_long(zq, rng, False), kl_long(zp, rng, False), kl_long(zp, rng, True)
        if k > 1:
            for i in range(n):
                cols = rng.choice(k, max(1, k // 4), replace=False) if k < 4099 else \
                    rng.choice(np.r_[0:20, k - 20:k], 3, replace=False)
                for j in cols:
                    zp[i, j] = -INF
                    if zl is not None:
                        zl[i, j] = -INF
                if np.isneginf(zp[i]).all():
                    zp[i, 0] = 0.0
        if zl is None:
            zl = zp
        if k == 1:
            x = rng.randn(n, 1) - 1  # any reals (a K = 1 log_softmax is 0)
            p = rng.uniform(0, 1, (n, 1))
            p[[0, 3, 5, 8]] = 0  # exact zeros
            p[1] = 1
            t_log = np.log(np.where(p > 0, p, 1.0))
            t_log[[0, 3, 5, 8]] = -INF
        else:
            x = torch.log_softmax(torch.tensor(zq), 1).numpy()
            p = torch.softmax(torch.tensor(zp), 1).numpy()
            t_log = torch.log_softmax(torch.tensor(zl), 1).numpy()
        p, x, t_log = f32(p.reshape(-1)), f32(x.reshape(-1)), f32(t_log.reshape(-1))
        # log targets without −Inf: the zero targets' logits put 30 below
        # the row's others
        zf = np.where(np.isneginf(zl), np.nanmin(np.where(np.isneginf(zl), NAN, zl), axis=1, keepdims=True) - 30, zl)
        t_fin = f32(torch.log_softmax(torch.tensor(zf), 1).numpy().reshape(-1)) if k > 1 else f32(np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -30.0))
        # special positions: in the first and last 20 columns at K = 4099
        cols = np.arange(nk) % k
        edge = (cols < 20) | (cols >= k - 20) if k == 4099 else np.ones(nk, bool)
        zeros = [i for i in range(nk) if p[i] == 0 and edge[i]]
        pos = [i for i in range(nk) if p[i] > 0 and edge[i]]
        assert len(zeros) >= 3 and len(pos) >= 6, (k, len(zeros), len(pos))
        # x at zero targets: −Inf, +Inf, NaN (and one finite); at positive
        # ones −Inf (+Inf term), +Inf (−Inf term), NaN
        x_zero = x.copy()
        x_zero[zeros[0]], x_zero[zeros[1]] = -INF, INF
        x_ninf = x_zero.copy()
        x_ninf[pos[0]] = -INF
        x_nf = x_ninf.copy()
        x_nf[zeros[2]] = NAN
        x_nf[pos[1]], x_nf[pos[2]] = INF, NAN
        K = "K%d" % k
        I.add("P_" + K, n, k, x=x, y=p)
        I.add("P_" + K + "_zero", n, k, x=x_zero, y=p)   # zero targets beside ±Inf: finite loss
        I.add("P_" + K + "_ninf", n, k, x=x_ninf, y=p)   # and a positive target beside −Inf: +Inf
        I.add("P_" + K + "_nf", n, k, x=x_nf, y=p)       # and NaN, +Inf beside positive targets: NaN
        # log targets: finite (no zero target), with −Inf (beside finite x,
        # beside ±Inf), and at positive targets x = ±Inf, NaN; finite log
        # targets whose e^t underflows to 0 in float32 (−120: beside −Inf
        # and beside a finite x) and in both dtypes (−800, beside +Inf)
        t_u = t_log.copy()
        t_u[pos[3]] = t_u[pos[4]] = -120.0
        t_u[pos[5]] = -800.0
        x_u = x_nf.copy()
        x_u[pos[3]] = -INF
        x_u[pos[5]] = INF
        I.add("L_" + K, n, k, x=x, y=t_fin)
        I.add("L_" + K + "_zero", n, k, x=x, y=t_log)        # −Inf targets beside finite inputs
        I.add("L_" + K + "_ninf", n, k, x=x_ninf, y=t_log)
        I.add("L_" + K + "_nf", n, k, x=x_u, y=t_u)
        for sets, lt in ((("P_" + K, "P_" + K + "_zero", "P_" + K + "_ninf", "P_" + K + "_nf"), False),
                         (("L_" + K, "L_" + K + "_zero", "L_" + K + "_ninf", "L_" + K + "_nf"), True)):
            for j, s in enumerate(sets):
                for red in KL_REDS:
                    if k == 4099 and j > 0 and red not in ("batchmean", "none"):
                        continue  # the long rows: fewer combinations (file size)
                    kl_case(fam, "%s_%s" % (s, red), s, red, lt)
    return fam


# ---------------------------------------------------------------- knowledge distillation

def distill_lse(z):
    """float64 maximum, log-sum-exp and log-softmax of a row with no NaN or
    +Inf and not all −Inf (log1p form: the argmax's log-probability keeps
    its tiny digits)."""
    a = int(np.argmax(z))
    m = z[a]
    with np.errstate(under="ignore"):
        e = np.exp(z - m)
    L = math.log1p(np.delete(e, a).sum())
    return m, m + L, (z - m) - L


def distill_bad(z):
    """A row PyTorch's log_softmax makes NaN: NaN or +Inf, or only −Inf."""
    return bool(np.isnan(z).any() or np.isposinf(z).any() or np.isneginf(z).all())


def distill_ref(s, t, temp, lam, keep, div="forward_kl", beta=0.5):
    """float64 closed form of Distill per row and the gradient's unscaled
    part (0 on ignored rows, NaN on NaN rows: NaN or +Inf or only −Inf in
    either input). P, Q are the softmax of t/T and s/T; a zero probability
    (logit −Inf) adds no term (0·log 0 = 0).
      forward_kl  λ·KL(P‖Q), +Inf where only the student's logit is −Inf;
                  gradient λ/T·(Q − P).
      reverse_kl  λ·KL(Q‖P), +Inf where only the teacher's logit is −Inf;
                  gradient λ/T·Q_j·(log Q_j − log P_j − KL(Q‖P)), NaN on a
                  +Inf row (no finite gradient exists).
      jsd         λ·(β·KL(P‖M) + (1−β)·KL(Q‖M)), M = β·P + (1−β)·Q, log M
                  formed as logaddexp(log P + log β, log Q + log1p(−β));
                  gradient λ/T·(1−β)·Q_j·(log Q_j − log M_j − KL(Q‖M))."""
    n, k = s.shape
    rows = np.zeros(n)
    grad = np.zeros((n, k))
    for i in range(n):
        if not keep[i]:
            continue
        z, v = s[i] / temp, t[i] / temp
        if distill_bad(z) or distill_bad(v):
            rows[i] = NAN
            grad[i] = NAN
            continue
        _, _, lq = distill_lse(z)
        _, _, lp = distill_lse(v)
        with np.errstate(under="ignore", invalid="ignore"):
            P, Q = np.exp(lp), np.exp(lq)
            if div == "forward_kl":
                terms = np.where(np.isneginf(v), 0.0, np.where(np.isneginf(z), INF, P * (lp - lq)))
            elif div == "reverse_kl":
                terms = np.where(np.isneginf(z), 0.0, np.where(np.isneginf(v), INF, Q * (lq - lp)))
            else:
                lm = np.logaddexp(lp + math.log(beta), lq + math.log1p(-beta))
                tp = np.where(np.isneginf(v), 0.0, P * (lp - lm))
                tq = np.where(np.isneginf(z), 0.0, Q * (lq - lm))
        if div == "jsd":
            kq = math.fsum(tq)
            rows[i] = lam * (beta * math.fsum(tp) + (1 - beta) * kq)
            with np.errstate(invalid="ignore"):
                grad[i] = lam / temp * (1 - beta) * np.where(np.isneginf(z), 0.0, Q * (lq - lm - kq))
            continue
        d = math.fsum(terms) if np.isfinite(terms).all() else float(np.sum(terms))
        rows[i] = lam * d
        if div == "forward_kl":
            grad[i] = lam / temp * (Q - P)
        elif math.isinf(d):
            grad[i] = NAN
        else:
            with np.errstate(invalid="ignore"):
                grad[i] = lam / temp * np.where(np.isneginf(z), 0.0, Q * (lq - lp - d))
    return rows, grad.reshape(-1)


def distill_scale(s, t, temp, lam, gs, keep, div="forward_kl", beta=0.5):
    """S of the Go test (golden_test.go, scaleOf and distillScale: the same
    formulas, derived there) for Distill's rows and gradient; 0 on ignored
    rows and where not finite."""
    n, k = s.shape
    srows = np.zeros(n)
    sgrad = np.zeros((n, k))
    for i in range(n):
        z, v = s[i] / temp, t[i] / temp
        if not keep[i] or distill_bad(z) or distill_bad(v):
            continue
        mz, lz, lq = distill_lse(z)
        mv, lv, lp = distill_lse(v)
        with np.errstate(under="ignore", invalid="ignore", over="ignore"):
            P, Q = np.exp(lp), np.exp(lq)
            lamz = abs(mz) + abs(lz) + 1 + k / 32
            lamv = abs(mv) + abs(lv) + 1 + k / 32
            if div != "forward_kl":
                srows[i], sgrad[i] = distill_scale_row(z, v, lq, lp, P, Q, lamz, lamv, lam, abs(lam / temp * gs),
                                                       div, beta)
                continue
            pt = np.where(P != 0, P * (np.abs(lp) + np.abs(lq) + np.abs(v) + np.abs(z)), 0.0)
            qt = np.where(Q != 0, Q * np.abs(z), 0.0)
            pv = np.where(P != 0, P * np.abs(v), 0.0)
            srows[i] = lam * (lamz + lamv + np.where(np.isfinite(pt), pt, 0.0).sum() + np.where(np.isfinite(qt), qt, 0.0).sum())
            qz, pvs = np.where(np.isfinite(qt), qt, 0.0).sum(), np.where(np.isfinite(pv), pv, 0.0).sum()
            g = abs(lam / temp * gs) * (np.where(Q != 0, Q * (np.abs(z) + lamz + qz), 0.0) +
                                         np.where(P != 0, P * (np.abs(v) + lamv + pvs), 0.0))
            sgrad[i] = np.where(np.isfinite(g), g, 0.0)
    srows = np.where(np.isfinite(srows), srows, 0.0)
    return srows, sgrad.reshape(-1)


def distill_scale_row(z, v, lq, lp, P, Q, lamz, lamv, lam, cg, div, beta):
    """S of one ReverseKL or JSD row and its gradient, element by element as
    golden_test.go's distillScaleDiv writes it (see its comment for the
    derivation): ζ_j, ν_j are the error scales of log Q_j and log P_j."""
    k = len(z)
    fin = lambda x: x if math.isfinite(x) else 0.0
    qz = sum(fin(Q[j] * abs(z[j])) for j in range(k) if Q[j] != 0)
    pv = sum(fin(P[j] * abs(v[j])) for j in range(k) if P[j] != 0)
    zeta = [abs(z[j]) + lamz + qz for j in range(k)]
    nu = [abs(v[j]) + lamv + pv for j in range(k)]
    g = np.zeros(k)
    if div == "reverse_kl":
        if any(math.isinf(v[j]) and not math.isinf(z[j]) for j in range(k)):
            return 0.0, g  # +Inf row, NaN gradient: compared exactly
        r = lamz + lamv
        kl = 0.0
        for j in range(k):
            if Q[j] != 0:
                d = lq[j] - lp[j]
                r += Q[j] * ((1 + abs(d)) * zeta[j] + nu[j] + abs(lq[j]) + abs(lp[j]))
                kl += Q[j] * d
        for j in range(k):
            if Q[j] != 0:
                b = lq[j] - lp[j] - kl
                g[j] = fin(cg * Q[j] * ((1 + abs(b)) * zeta[j] + nu[j] + abs(lq[j]) + abs(lp[j]) + r))
        return fin(lam * r), g
    lb, lb1 = math.log(beta), math.log1p(-beta)
    lm, w, mu = [0.0] * k, [0.0] * k, [0.0] * k
    r = lamz + lamv
    kq = ekq = 0.0
    for j in range(k):
        if P[j] == 0 and Q[j] == 0:
            continue
        a, b = lp[j] + lb, lq[j] + lb1
        lm[j] = max(a, b) + math.log1p(math.exp(-abs(a - b))) if math.isfinite(a - b) else max(a, b)
        w[j] = math.exp(a - lm[j])  # β·P_j/M_j
        mu[j] = abs(lm[j]) + 1 + (w[j] * (abs(lp[j]) + abs(lb)) if P[j] != 0 else 0.0) + \
            ((1 - w[j]) * (abs(lq[j]) + abs(lb1)) if Q[j] != 0 else 0.0)
        r += math.exp(lm[j]) * mu[j]
        if P[j] != 0:
            r += beta * P[j] * (abs(lp[j] - lm[j]) * nu[j] + abs(lp[j]) + abs(lm[j]) + 1)
        if Q[j] != 0:
            d = lq[j] - lm[j]
            r += (1 - beta) * Q[j] * (abs(d) * zeta[j] + abs(lq[j]) + abs(lm[j]) + 1)
            kq += Q[j] * d
            ekq += Q[j] * ((1 + abs(d)) * zeta[j] + (w[j] * nu[j] if P[j] != 0 else 0.0) + mu[j] + abs(lq[j]) + abs(lm[j]))
    for j in range(k):
        if Q[j] != 0:
            b = lq[j] - lm[j] - kq
            g[j] = fin(cg * (1 - beta) * Q[j] * ((1 + abs(b)) * zeta[j] + (w[j] * nu[j] if P[j] != 0 else 0.0) +
                                                 mu[j] + abs(lq[j]) + abs(lm[j]) + 2 + ekq))
    return fin(lam * r), g


def distill_terms(ls, lt, div, beta):
    """The pointwise terms of a divergence from the student's and teacher's
    log-softmax ls, lt (PyTorch, in their dtype): kl_div(ls, lt) (forward),
    kl_div(lt, ls) (reverse), and TRL's generalized_jsd_loss for 0 < β < 1
    (the mixture's log-probabilities as the logsumexp of log Q + log(1−β)
    and log P + log β, β a tensor of the dtype, then β·kl_div(mix, lt) +
    (1−β)·kl_div(mix, ls), all with log_target=True)."""
    if div == "forward_kl":
        return F.kl_div(ls, lt, reduction="none", log_target=True)
    if div == "reverse_kl":
        return F.kl_div(lt, ls, reduction="none", log_target=True)
    b = torch.tensor(beta, dtype=ls.dtype)
    mix = torch.logsumexp(torch.stack([ls + torch.log(1 - b), lt + torch.log(b)]), dim=0)
    return b * F.kl_div(mix, lt, reduction="none", log_target=True) + \
        (1 - b) * F.kl_div(mix, ls, reduction="none", log_target=True)


def distill_case(fam, name, inp, temp=1.0, scale_t2=False, reduction="mean", labels=False, ignore="default",
                 ignore_index=-100, empty_mean="nan", div="forward_kl", beta=None):
    d = fam.inputs.sets[inp]
    n, k = d["n"], d["k"]
    c = {"name": name, "op": "distill", "in": inp, "reduction": reduction, "temperature": temp}
    if div != "forward_kl":
        c["divergence"] = div
    assert (beta is None) or div == "jsd"
    if beta is not None:
        c["beta"] = beta
    beta64 = 0.5 if beta is None else beta  # lossfuse's Beta 0 is 0.5
    if scale_t2:
        c["scale_t2"] = True
    if labels:
        c["labels"] = True
        c["ignore"] = ignore
        if ignore == "index":
            c["ignore_index"] = ignore_index
    if empty_mean != "nan":
        c["empty_mean"] = empty_mean
    ign = None if not labels or ignore == "none" else (-100 if ignore == "default" else ignore_index)
    keep = [ign is None or int(y) != ign for y in d["t"]] if labels else [True] * n
    norm = float(sum(keep))
    mean = reduction in ("mean", "batchmean")
    empty_zero = empty_mean == "zero" and mean and norm == 0
    torch_exact = not labels
    c["source"] = "torch" if torch_exact else ("definition" if empty_zero else "formula")
    lam = temp * temp if scale_t2 else 1.0
    red = {"mean": "batchmean"}.get(reduction, reduction)  # lossfuse's Mean is batchmean

    def run(dt, beta):
        s = tens(d, "x", dt, (n, k)).requires_grad_()
        t = tens(d, "y", dt, (n, k))
        if empty_zero:
            # EmptyMeanZero: loss 0 and an all-zero gradient, by definition
            z = torch.zeros(n, dtype=dt)
            return as64({"loss": torch.zeros((), dtype=dt), "rows": z, "grad": torch.zeros_like(s)})
        if torch_exact:
            ls, lt = F.log_softmax(s / temp, 1), F.log_softmax(t / temp, 1)
            terms = distill_terms(ls, lt, div, beta)
            rows = terms.sum(-1) * lam
            if div == "forward_kl":
                L = F.kl_div(ls, lt, reduction=red, log_target=True)
            elif div == "reverse_kl":
                L = F.kl_div(lt, ls, reduction=red, log_target=True)
            else:  # TRL's reductions of the pointwise jsd
                L = {"batchmean": lambda: terms.sum() / n, "sum": terms.sum, "none": lambda: terms}[red]()
            L = (L.sum(-1) if red == "none" else L) * lam
            g, = torch.autograd.grad(L, s, grad_outputs=torch.ones_like(L))  # grad_output 1
            loss = L.detach().sum() if red == "none" else L.detach()
            return as64({"loss": loss, "rows": rows.detach(), "grad": g})
        # Labels: the rows not ignored are selected (an ignored row's loss
        # and gradient are 0, whatever it holds), the mean divides by their
        # number
        idx = torch.tensor([i for i in range(n) if keep[i]], dtype=torch.int64)
        sk, tk = s[idx], t[idx]
        rk = distill_terms(F.log_softmax(sk / temp, 1), F.log_softmax(tk / temp, 1), div, beta).sum(-1) * lam
        loss = rk.sum() / norm if mean else rk.sum()
        g, = torch.autograd.grad(loss, s)
        rows = torch.zeros(n, dtype=dt)
        rows[idx] = rk.detach()
        return as64({"loss": loss, "rows": rows, "grad": g})

    s64 = np.asarray(d["x"], dtype=np.float64).reshape(n, k)
    t64 = np.asarray(d["y"], dtype=np.float64).reshape(n, k)
    gs = 1.0
    if mean:
        gs = (1.0 / norm) if norm else (0.0 if empty_mean == "zero" else INF)

    def refs(beta):
        """The float64 references and S at JSD's β (float32's rounded β for
        the float32 outputs: lossfuse rounds Beta to the element type, TRL's
        β is a tensor of the dtype)."""
        rrows, rgrad = distill_ref(s64, t64, temp, lam, keep, div, beta)
        with np.errstate(invalid="ignore"):
            rgrad = rgrad * gs
            if mean and norm == 0:
                rgrad = np.zeros(n * k)  # every row ignored: gradient 0
            rl = math.fsum(rrows) if np.isfinite(rrows).all() else float(np.sum(rrows))
        if mean:
            rl = rl / norm if norm else (0.0 if empty_mean == "zero" else NAN)
        srows, sgrad = distill_scale(s64, t64, temp, lam, gs if math.isfinite(gs) else 0.0, keep, div, beta)
        lscale = float(np.abs(rrows[np.isfinite(rrows)]).sum() + srows.sum())
        if mean and norm:
            lscale /= norm
        return rrows, rgrad, rl, srows, sgrad, lscale

    # rows whose PyTorch value is 0·∞ = NaN in kl_div(log_target=True),
    # e^t·(t − x): for the forward divergence a teacher logit −Inf (t =
    # −Inf), or a finite teacher log-probability whose e^t underflows beside
    # a student −Inf; for the reverse one the same with the roles swapped;
    # for JSD any −Inf logit (e^t·(t − mix) with t = −Inf)
    ninf_s, ninf_t = np.isneginf(s64), np.isneginf(t64)
    if div == "forward_kl":
        zero_beside = [bool(ninf_t[i].any() or (ninf_s[i] & ~ninf_t[i]).any()) for i in range(n)]
    elif div == "reverse_kl":
        zero_beside = [bool(ninf_s[i].any() or (ninf_t[i] & ~ninf_s[i]).any()) for i in range(n)]
    else:
        zero_beside = [bool(ninf_s[i].any() or ninf_t[i].any()) for i in range(n)]
    what = {"forward_kl": "distill", "reverse_kl": "distill reverse_kl",
            "jsd": "distill jsd β=%g" % beta64}[div]

    devs, outs = [], {}
    # (output block, dtype of the run, β, devs recorded): the formula's
    # float32 block is its float64 run rounded, at float32's β for JSD
    plan = [(64, 64, beta64, True), (32, 32, float(np.float32(beta64)), True)] if torch_exact else \
        [(64, 64, beta64, True)]
    if not torch_exact and div == "jsd" and float(np.float32(beta64)) != beta64:
        plan.append((32, 64, float(np.float32(beta64)), False))
    for prec, rprec, bp, record in plan:
        rrows, rgrad, rl, srows, sgrad, lscale = refs(bp)
        r = run(DT[rprec], bp)
        who = "" if torch_exact else FORMULA
        nrows = [0]
        dv = devs if record else []

        def tag_rows(i, kind):
            if kind == "nan" and zero_beside[i]:
                nrows[0] += 1
                return KL_TAG
            return no_row("%s distill rows[%d] kind %s" % (name, i, kind))

        def tag_loss(i, kind):
            if kind == "nan" and nrows[0]:
                return KL_TAG
            return no_row("%s distill loss kind %s" % (name, kind))

        def tag_grad(i, kind):
            # ReverseKL and JSD differentiate through kl_div's target (the
            # student's log-probabilities): a zero probability there is
            # 0·∞ = NaN in autograd too, across the row (log_softmax's
            # backward sums it)
            if div != "forward_kl" and kind == "nan" and zero_beside[i // k]:
                return KL_TAG
            return no_row("%s distill grad[%d] kind %s" % (name, i, kind))

        def head_row(i):
            if div == "forward_kl":
                return who + "distill row[%d] (T=%g): kl_div(log_target=True) forms e^t·(t − x), 0·∞ where the teacher's " \
                             "probability is 0 (logit −Inf) or underflows beside a student −Inf" % (i, temp)
            if div == "reverse_kl":
                return who + "distill reverse_kl row[%d] (T=%g): kl_div(log P, log Q, log_target=True) forms " \
                             "e^t·(t − x) with t = log Q, 0·∞ where the student's probability is 0 (logit −Inf) or " \
                             "underflows beside a teacher −Inf" % (i, temp)
            return who + "distill jsd row[%d] (T=%g, β=%g): TRL's generalized_jsd_loss forms kl_div(log M, log P) and " \
                         "kl_div(log M, log Q) (log_target=True), e^t·(t − log M), 0·∞ where a probability is 0 " \
                         "(logit −Inf)" % (i, temp, bp)

        def head_grad(i):
            if div == "forward_kl":
                return who + "distill grad[%d]" % i
            # one text per row (the entry's index is its "i"): the long rows
            # have thousands of entries, and the file compresses
            return who + "%s grad, row %d (T=%g): autograd through kl_div's target e^t·(t − x) at a zero " \
                         "probability (a logit −Inf in the row) is 0·∞" % (what, i // k, temp)

        r["rows"] = flag(dv, prec, "rows", r["rows"], rrows, head_row, tag_rows, scale=srows)
        r["grad"] = flag(dv, prec, "grad", r["grad"], rgrad, head_grad, tag_grad, scale=sgrad)
        if div == "reverse_kl":
            # a row whose reverse divergence is +Inf (the teacher has no mass
            # where the student has some) has no finite gradient: NaN
            # throughout; autograd gives −Inf and NaN
            for i in range(n):
                if rrows[i] != INF:
                    continue
                for j in range(i * k, i * k + k):
                    if not math.isnan(r["grad"][j]):
                        dv.append({"dt": prec, "field": "grad", "i": j, "torch": enc(r["grad"][j], prec),
                                   "reason": tagged(KL_TAG, who + "distill reverse_kl grad, row %d (T=%g): the row's "
                                                    "divergence is +Inf (a teacher logit −Inf where the student has "
                                                    "mass), no finite gradient exists: NaN; PyTorch returns ±Inf or "
                                                    "NaN" % (i, temp))})
                        r["grad"][j] = NAN
        r["loss"] = flag(dv, prec, "loss", r["loss"], rl,
                         lambda i: who + "%s %s loss over rows where kl_div's 0·∞ is NaN" % (what, reduction),
                         tag_loss, scale=[lscale])
        tol = 1e-5 if prec == 32 else 1e-12
        check_close("%s rows f%d vs ref" % (name, prec), r["rows"], rrows, tol, scale=max(1.0, float(srows.max(initial=0))))
        check_close("%s grad f%d vs ref" % (name, prec), r["grad"], rgrad, tol,
                    scale=max(1e-300, float(np.abs(rgrad[np.isfinite(rgrad)]).max(initial=0)), float(sgrad.max(initial=0))))
        check_close("%s loss f%d vs ref" % (name, prec), r["loss"], rl, tol, scale=max(1.0, lscale))
        outs["f%d" % prec] = out_block(prec, r["loss"], r["rows"], r["grad"])
        if not torch_exact and prec == 64 and len(plan) == 1:
            # lossfuse semantics (Labels): the float64 formula, rounded to float32
            outs["f32"] = out_block(32, r["loss"], r["rows"], r["grad"])
    c["out"] = outs
    if devs:
        c["dev"] = devs
    fam.case(c)


def distill_long(z, rng):
    """K = 4099 logits: a period-37 pattern in columns 20 … K−21 (shifted by
    3 per row; the file compresses) between random values in the first and
    last 20 columns, where the special values go."""
    n, k = z.shape
    pat = rng.randn(37) * 2
    out = np.array(z)
    for i in range(n):
        out[i, 20:k - 20] = pat[(np.arange(20, k - 20) + 3 * i) % 37]
    return out


DISTILL_REDS = ["mean", "batchmean", "sum", "none"]
DISTILL_TEMPS = [1.0, 2.0, 0.5, 4.0]


def build_distill():
    fam = Family("distill")
    I = fam.inputs
    rng = np.random.RandomState(16)
    # random rows: the teacher near the student (a moderate divergence)
    for k in (1, 2, 17, 4099):
        n = 3 if k == 4099 else 6
        s = rng.randn(n, k) * 2
        t = 0.7 * s + rng.randn(n, k) * 1.5
        if k == 4099:
            s, t = distill_long(s, rng), distill_long(t, rng)
        lab = rng.randint(0, k, n)
        lab_def = lab.copy()
        lab_def[1] = -100
        if n > 3:
            lab_def[3] = -100
        lab5 = np.where(lab == 5, 6, lab)  # ignore index 5 (a class at K = 17): rows 0 and N−2
        lab5[[0, n - 2]] = 5
        lab5[2] = -100  # not ignored with index 5
        K = "K%d" % k
        I.add(K, n, k, x=s, y=t, t=lab_def)
        for temp in DISTILL_TEMPS:
            for t2 in (False, True):
                for red in DISTILL_REDS:
                    if k == 4099 and (temp not in (1.0, 2.0) or red not in ("mean", "none")):
                        continue  # the long rows: a few combinations (file size)
                    distill_case(fam, "%s_T%g_t2%d_%s" % (K, temp, t2, red), K, temp, t2, red)
        # Labels: −100 (rows 1 and 3), an index 5 (rows 0 and 4), none
        for red in DISTILL_REDS:
            if k == 4099 and red not in ("mean", "none"):
                continue
            distill_case(fam, "%s_lab_T2_t21_%s" % (K, red), K, 2.0, True, red, labels=True)
        distill_case(fam, "%s_lab_T1_t20_mean" % K, K, 1.0, False, "mean", labels=True)
        distill_case(fam, "%s_lab_noignore_T2_t21_mean" % K, K, 2.0, True, "mean", labels=True, ignore="none")
        distill_case(fam, "%s_lab_T0.5_t21_mean_emptyzero" % K, K, 0.5, True, "mean", labels=True, empty_mean="zero")
        if k < 4099:
            I.add(K + "_lab5", n, k, x=s, y=t, t=lab5)
            for red in ("mean", "sum", "none"):
                distill_case(fam, "%s_lab5_T4_t21_%s" % (K, red), K + "_lab5", 4.0, True, red, labels=True,
                             ignore="index", ignore_index=5)
    # ordinary shapes: 3×10, 5×33 (vector widths and tails); and a
    # temperature whose 1/T is inexact (3: z = s·(1/3), PyTorch's s/3, an ulp apart)
    for n, k in ((3, 10), (5, 33)):
        s = rng.randn(n, k) * 3
        t = s + rng.randn(n, k)
        lab = rng.randint(0, k, n)
        lab[1] = -100
        K = "S%dx%d" % (n, k)
        I.add(K, n, k, x=s, y=t, t=lab)
        for temp in DISTILL_TEMPS + [3.0]:
            for red in DISTILL_REDS:
                distill_case(fam, "%s_T%g_t21_%s" % (K, temp, red), K, temp, True, red)
            distill_case(fam, "%s_T%g_t20_mean" % (K, temp), K, temp, False, "mean")
        distill_case(fam, "%s_lab_T3_t21_mean" % K, K, 3.0, True, "mean", labels=True)
    # identical rows: the divergence is 0, the gradient 0 (up to rounding)
    s = rng.randn(4, 17) * 2
    I.add("SAME", 4, 17, x=s, y=s, t=[0] * 4)
    for temp in (1.0, 4.0):
        distill_case(fam, "SAME_T%g_t21_mean" % temp, "SAME", temp, True, "mean")
    # large logits in float32: ±80, ±1e4 (finite at every temperature,
    # s·2 ≤ 2e4); saturated rows whose divergence is tiny or 0
    big = [
        ([80, -80, 0, 1], [-80, 80, 0, 1]),
        ([80, 0, 0, 0], [79.5, 0, 0, 0]),
        ([1e4, -1e4, 0, 5e3], [1e4, -1e4, 1, 5e3]),
        ([-1e4, -1e4, -1e4, -1e4], [0, 0, 0, 0]),
        ([1e4, 1e4, 9999, -1e4], [-1e4, 1e4, 0, 1e4]),
        ([-80, 80, -1e4, 1e4], [0, 1, 2, 3]),
        ([0.5, -0.25, 1e4, -1e4], [0.5, -0.25, 1e4, -1e4]),
    ]
    I.add("BIG", len(big), 4, x=[r[0] for r in big], y=[r[1] for r in big], t=[0] * len(big))
    for temp in DISTILL_TEMPS:
        for t2 in (False, True):
            for red in ("mean", "none"):
                distill_case(fam, "BIG_T%g_t2%d_%s" % (temp, t2, red), "BIG", temp, t2, red)
    distill_case(fam, "BIG_T2_t21_sum", "BIG", 2.0, True, "sum")
    # non-finite logits, in the last class (a vector tail) and the first
    # (the row maximum's slot), K = 17: a student −Inf where the teacher has
    # mass (+Inf row), teacher −Inf (probability 0: no term; PyTorch's
    # kl_div makes it NaN), both −Inf in one class, NaN and +Inf in either
    # input, a whole row −Inf in either (NaN rows); a teacher logit −1e4
    # (probability below float64's range) beside a student −Inf (+Inf, the
    # limit; PyTorch NaN)
    def nf_rows(k, rng):
        j = k - 1
        s = rng.randn(13, k) * 2
        t = 0.5 * s + rng.randn(13, k)
        s[0, j] = -INF                  # 0: student −Inf, teacher mass: +Inf
        t[1, j] = -INF                  # 1: teacher −Inf: finite (PyTorch NaN)
        if k > 2:
            t[1, 0] = -INF
        s[2, j] = t[2, j] = -INF        # 2: both −Inf in a class: finite (PyTorch NaN)
        t[2, 1] = -INF
        s[3, j] = NAN                   # 3: NaN student
        t[4, 0] = NAN                   # 4: NaN teacher
        s[5, j] = INF                   # 5: +Inf student
        t[6, j] = INF                   # 6: +Inf teacher
        s[7] = -INF                     # 7: student all −Inf
        t[8] = -INF                     # 8: teacher all −Inf
        t[9, j] = -1e4                  # 9: teacher −1e4 beside student −Inf: +Inf (PyTorch NaN)
        s[9, j] = -INF
        t[10, j] = -1e4                 # 10: teacher −1e4 beside a finite student: finite
        s[11, 0] = -INF                 # 11: student −Inf where the teacher is −Inf too, and
        t[11, 0] = -INF                 #     (K > 2) teacher −Inf beside a finite student
        if k > 2:
            t[11, j] = -INF
        # 12: an ordinary row
        return s, t

    for k in (2, 17):
        s, t = nf_rows(k, rng)
        K = "NF_K%d" % k
        lab_nan = [0] * 13
        for i in (3, 4, 5, 6, 7, 8):
            lab_nan[i] = -100           # the NaN rows ignored: +Inf loss (rows 0, 9)
        lab_fin = list(lab_nan)
        lab_fin[0] = lab_fin[9] = -100  # and the +Inf rows: finite (PyTorch NaN)
        I.add(K, 13, k, x=s, y=t, t=lab_nan)
        I.add(K + "_fin", 13, k, x=s, y=t, t=lab_fin)
        for temp, t2 in ((1.0, False), (2.0, True), (0.5, True)):
            for red in DISTILL_REDS:
                distill_case(fam, "%s_T%g_t2%d_%s" % (K, temp, t2, red), K, temp, t2, red)
            for red in ("mean", "sum", "none"):
                distill_case(fam, "%s_lab_T%g_t2%d_%s" % (K, temp, t2, red), K, temp, t2, red, labels=True)
                distill_case(fam, "%s_fin_lab_T%g_t2%d_%s" % (K, temp, t2, red), K + "_fin", temp, t2, red, labels=True)
        # only the finite-divergence rows with teacher zeros, no Labels:
        # PyTorch's NaN rows and loss in both dtypes
        rows = [1, 2, 10, 11, 12]
        I.add(K + "_tz", len(rows), k, x=s[rows], y=t[rows], t=[0] * len(rows))
        for red in DISTILL_REDS:
            distill_case(fam, "%s_tz_T2_t21_%s" % (K, red), K + "_tz", 2.0, True, red)
        distill_case(fam, "%s_tz_T1_t20_mean" % K, K + "_tz", 1.0, False, "mean")
    # the long rows: special values at the edges (the first and the last
    # column), with a finite-divergence subset ignored by Labels
    k = 4099
    s = distill_long(rng.randn(5, k) * 2, rng)
    t = distill_long(0.5 * s + rng.randn(5, k), rng)
    s[0, k - 1] = -INF                  # +Inf row
    t[1, k - 1] = t[1, 3] = -INF        # teacher zeros: finite (PyTorch NaN)
    s[2, k - 1] = NAN                   # NaN row
    t[3, 0] = INF                       # NaN row
    lab = [0, 0, -100, -100, 0]
    I.add("NF_K4099", 5, k, x=s, y=t, t=lab)
    for red in ("mean", "none"):
        distill_case(fam, "NF_K4099_T2_t21_%s" % red, "NF_K4099", 2.0, True, red)
        distill_case(fam, "NF_K4099_lab_T2_t21_%s" % red, "NF_K4099", 2.0, True, red, labels=True)
    # K = 1: the divergence is 0 (gradient 0); NaN, +Inf, −Inf rows NaN
    I.add("K1_NF", 6, 1, x=[0.5, -INF, NAN, INF, 3.0, -2.0], y=[1.5, 0.0, 0.0, 0.0, -INF, 7.0], t=[0, 0, 0, 0, 0, -100])
    for red in DISTILL_REDS:
        distill_case(fam, "K1_NF_T2_t21_%s" % red, "K1_NF", 2.0, True, red)
    # every row ignored: by −100, and by an index; Mean NaN (EmptyMeanNaN)
    # or 0 (EmptyMeanZero), gradient 0; NaN and ±Inf in the ignored rows
    s = rng.randn(4, 17)
    t = rng.randn(4, 17)
    s[1, 3] = NAN
    t[2, 16] = INF
    s[3] = -INF
    I.add("IGN", 4, 17, x=s, y=t, t=[-100] * 4)
    I.add("IGN3", 4, 17, x=s, y=t, t=[3] * 4)
    for red in DISTILL_REDS:
        distill_case(fam, "all_ignored_%s" % red, "IGN", 2.0, True, red, labels=True)
        distill_case(fam, "all_ignored3_%s" % red, "IGN3", 1.0, False, red, labels=True, ignore="index", ignore_index=3)
    for red in ("mean", "batchmean"):
        distill_case(fam, "all_ignored_%s_emptyzero" % red, "IGN", 2.0, True, red, labels=True, empty_mean="zero")
        distill_case(fam, "all_ignored3_%s_emptyzero" % red, "IGN3", 4.0, False, red, labels=True, ignore="index",
                     ignore_index=3, empty_mean="zero")
    distill_case(fam, "all_ignored_sum_emptyzero", "IGN", 2.0, True, "sum", labels=True, empty_mean="zero")
    for div in ("reverse_kl", "jsd"):
        build_distill_div(fam, div)
    return fam


# JSD's mixing weights, cycled through the JSD cases (None: the field left
# out, lossfuse's default Beta 0, which is 0.5)
DISTILL_BETAS = [None, 0.1, 0.9, 0.3, 0.5]


def build_distill_div(fam, div):
    """ReverseKL or JSD cases on the input sets of the forward divergence's
    (build_distill): the same shapes, temperatures, options, reductions,
    labels and non-finite rows, fewer combinations on the wide rows (file
    size). JSD's β cycles through DISTILL_BETAS."""
    I = fam.inputs
    nb = [0]

    def add(name, inp, temp, t2, red, **kw):
        beta = None
        if div == "jsd":
            beta = DISTILL_BETAS[nb[0] % len(DISTILL_BETAS)]
            nb[0] += 1
            prefix = "jsd_" if beta is None else "jsd%g_" % beta
        else:
            prefix = "rkl_"
        distill_case(fam, prefix + name, inp, temp, t2, red, div=div, beta=beta, **kw)

    for k in (1, 2, 17):
        K = "K%d" % k
        m = 0
        for temp in DISTILL_TEMPS:
            for t2 in (False, True):
                for red in DISTILL_REDS:
                    if k == 17 and red != DISTILL_REDS[m % 4]:
                        continue  # K = 17: one reduction per temperature and scaling, each twice (file size)
                    add("%s_T%g_t2%d_%s" % (K, temp, t2, red), K, temp, t2, red)
                m += 1
        for red in DISTILL_REDS:
            if k == 17 and red not in ("mean", "none"):
                continue
            add("%s_lab_T2_t21_%s" % (K, red), K, 2.0, True, red, labels=True)
        add("%s_lab_T1_t20_mean" % K, K, 1.0, False, "mean", labels=True)
        add("%s_lab_noignore_T2_t21_mean" % K, K, 2.0, True, "mean", labels=True, ignore="none")
        add("%s_lab_T0.5_t21_mean_emptyzero" % K, K, 0.5, True, "mean", labels=True, empty_mean="zero")
        for red in ("mean", "sum", "none"):
            if k == 17 and red != "mean":
                continue
            add("%s_lab5_T4_t21_%s" % (K, red), K + "_lab5", 4.0, True, red, labels=True, ignore="index",
                ignore_index=5)
    add("K4099_T1_t20_mean", "K4099", 1.0, False, "mean")
    add("K4099_lab_T2_t21_mean", "K4099", 2.0, True, "mean", labels=True)
    for K in ("S3x10", "S5x33"):
        for m, temp in enumerate(DISTILL_TEMPS + [3.0]):
            reds = DISTILL_REDS if K == "S3x10" else [DISTILL_REDS[m % 4]]
            for red in reds:
                add("%s_T%g_t21_%s" % (K, temp, red), K, temp, True, red)
            if K == "S3x10" and temp in (1.0, 2.0, 3.0):
                add("%s_T%g_t20_mean" % (K, temp), K, temp, False, "mean")
        add("%s_lab_T3_t21_mean" % K, K, 3.0, True, "mean", labels=True)
    for temp in (1.0, 4.0):
        add("SAME_T%g_t21_mean" % temp, "SAME", temp, True, "mean")
    for temp in DISTILL_TEMPS:
        for t2 in (False, True):
            for red in ("mean", "none"):
                add("BIG_T%g_t2%d_%s" % (temp, t2, red), "BIG", temp, t2, red)
    add("BIG_T2_t21_sum", "BIG", 2.0, True, "sum")
    # the non-finite rows of build_distill's nf_rows: for the reverse
    # divergence rows 1, 2 (and 11 at K > 2) are +Inf (a teacher −Inf where
    # the student has mass), rows 0 and 9 finite (a student −Inf: no term);
    # for JSD every row without NaN, +Inf or an all −Inf input is finite
    for k in (2, 17):
        K = "NF_K%d" % k
        d = I.sets[K]
        s, t = d["x"].reshape(13, k), d["y"].reshape(13, k)
        if div == "reverse_kl":
            fin = K + "_rfin"
            lab = list(d["t"])
            for i in (1, 2) + ((11,) if k > 2 else ()):
                lab[i] = -100           # the +Inf rows ignored too: finite
            I.add(fin, 13, k, x=s, y=t, t=lab)
            zrows = [0, 9, 10, 12] + ([11] if k == 2 else [])
            zk = K + "_rz"
        else:
            fin = K + "_fin"
            zrows = [0, 1, 2, 9, 10, 11, 12]
            zk = K + "_jz"
        # only the finite rows with zero probabilities, no Labels: PyTorch's
        # NaN rows and loss (and, through kl_div's target, gradient)
        I.add(zk, len(zrows), k, x=s[zrows], y=t[zrows], t=[0] * len(zrows))
        # K = 17: one reduction per temperature and scaling (file size)
        for m, (temp, t2) in enumerate(((1.0, False), (2.0, True), (0.5, True))):
            for red in DISTILL_REDS:
                if k == 17 and red != ("mean", "none", "batchmean")[m]:
                    continue
                add("%s_T%g_t2%d_%s" % (K, temp, t2, red), K, temp, t2, red)
            for red in ("mean", "sum", "none"):
                if k == 17 and red != ("none", "mean", "sum")[m]:
                    continue
                add("%s_lab_T%g_t2%d_%s" % (K, temp, t2, red), K, temp, t2, red, labels=True)
                add("%s_fin_lab_T%g_t2%d_%s" % (K, temp, t2, red), fin, temp, t2, red, labels=True)
        for red in DISTILL_REDS:
            if k == 17 and red != "mean":
                continue
            add("%s_z_T2_t21_%s" % (K, red), zk, 2.0, True, red)
        add("%s_z_T1_t20_mean" % K, zk, 1.0, False, "mean")
    # the long rows' special values: Labels (the float64 formula; its
    # gradient deviations, thousands per row, in one dtype only)
    add("NF_K4099_lab_T2_t21_none", "NF_K4099", 2.0, True, "none", labels=True)
    for red in DISTILL_REDS:
        add("K1_NF_T2_t21_%s" % red, "K1_NF", 2.0, True, red)
    for red in DISTILL_REDS:
        add("all_ignored_%s" % red, "IGN", 2.0, True, red, labels=True)
        add("all_ignored3_%s" % red, "IGN3", 1.0, False, red, labels=True, ignore="index", ignore_index=3)
    for red in ("mean", "batchmean"):
        add("all_ignored_%s_emptyzero" % red, "IGN", 2.0, True, red, labels=True, empty_mean="zero")
        add("all_ignored3_%s_emptyzero" % red, "IGN3", 4.0, False, red, labels=True, ignore="index",
            ignore_index=3, empty_mean="zero")
    add("all_ignored_sum_emptyzero", "IGN", 2.0, True, "sum", labels=True, empty_mean="zero")


# ---------------------------------------------------------------- the seed article's data

def build_article():
    """Regenerate the random inputs of the seed article
    (../shared/seed/loss-functions-article.txt) exactly as its code does, so
    that the Go test can reproduce the printed numbers with lossfuse."""
    fam = Family("article")
    I = fam.inputs
    printed = {}
    # In[4]: MSE
    np.random.seed(42)
    n = 100
    x = np.random.randn(n)
    y_true = 2 * x + 1 + 0.3 * np.random.randn(n)
    y_pred = 1.8 * x + 1.2
    I.add("mse", n, 1, prec=64, x=y_pred, y=y_true)
    printed["mse"] = ("%.6f" % np.mean((y_pred - y_true) ** 2), "0.145489")
    # In[8]: BCE
    np.random.seed(42)
    yb = np.random.randint(0, 2, n).astype(float)
    noise = 0.3 * np.random.randn(n)
    p = np.clip(yb + noise, 0.01, 0.99)
    I.add("bce", n, 1, prec=64, x=p, y=yb)
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    printed["bce"] = ("%.6f" % np.mean(-yb * np.log(pc) - (1 - yb) * np.log(1 - pc)), "0.161924")
    # In[12]: multiclass CE
    np.random.seed(42)
    K = 5
    ym = np.random.randint(0, K, n)
    lg = np.random.randn(n, K)
    for i in range(n):
        lg[i, ym[i]] += 2.0
    I.add("ce", n, K, prec=64, x=lg, t=ym)
    printed["ce"] = ("%.6f" % F.cross_entropy(torch.tensor(lg), torch.tensor(ym)).item(), "0.811311")
    # In[19]: label smoothing
    np.random.seed(42)
    sl = np.random.randn(1000, 10)
    sb = np.random.randint(0, 10, 1000)
    I.add("smooth", 1000, 10, prec=64, x=sl, t=sb)
    printed["smooth_hard"] = ("%.6f" % F.cross_entropy(torch.tensor(sl), torch.tensor(sb)).item(), "2.755984")
    printed["smooth"] = ("%.6f" % F.cross_entropy(torch.tensor(sl), torch.tensor(sb), label_smoothing=0.1).item(), "2.753744")
    # In[23]: focal on probabilities, imbalanced
    np.random.seed(42)
    N = 1000
    yi = np.zeros(N)
    yi[:50] = 1
    pp = 0.1 + 0.4 * yi + 0.2 * np.random.randn(N)
    pp = np.clip(pp, 0.01, 0.99)
    I.add("focal", N, 1, prec=64, x=pp, y=yi)
    pt = np.where(yi == 1, pp, 1 - pp)
    at = np.where(yi == 1, 0.25, 0.75)
    printed["focal_bce"] = ("%.6f" % np.mean(-yi * np.log(pp) - (1 - yi) * np.log(1 - pp)), "0.210921")
    printed["focal"] = ("%.6f" % np.mean(at * (1 - pt) ** 2 * -np.log(pt)), "0.020569")
    # In[28]: torch focal (float32 data from torch's generator)
    torch.manual_seed(42)
    tl = torch.randn(100)
    tt = torch.randint(0, 2, (100,)).float()
    I.add("torch_focal", 100, 1, prec=32, x=tl.double().numpy(), y=tt.double().numpy())
    printed["torch_focal"] = ("%.6f" % torchvision.ops.sigmoid_focal_loss(tl, tt, reduction="mean").item(), "0.206375")
    for key, (got, want) in printed.items():
        if got != want:
            raise SystemExit("article %s: regenerated %s, article prints %s" % (key, got, want))
    return fam


def main():
    builds = (build_ce, build_ce_half, build_ce_probs, build_softmax_focal, build_bce_logits, build_bce, build_sigmoid_focal,
              build_focal_probs, build_regression, build_primitives, build_primitives_backward, build_nll, build_kldiv,
              build_distill, build_article)
    names = [b.__name__[len("build_"):] for b in builds]
    want = sys.argv[1:]  # family names: regenerate only those (default: all)
    for w in want:
        if w not in names:
            raise SystemExit("unknown family %r (families: %s)" % (w, " ".join(names)))
    os.makedirs(OUT, exist_ok=True)
    total = 0
    for build, name in zip(builds, names):
        if want and name not in want:
            continue
        fam = build()
        path, raw, size = fam.write()
        ndev = sum(len(c.get("dev", [])) for c in fam.cases)
        print("%-16s %4d cases %4d deviations %8d bytes json %7d gz  %s" % (
            fam.name, len(fam.cases), ndev, raw, size, os.path.relpath(path, ROOT)))
        total += size
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
