#!/usr/bin/python3
"""Extract the three example data sets from Debian's python3-sklearn.

Run from anywhere:  /usr/bin/python3 examples/testdata/extract.py
It reads the copies that scikit-learn ships (no network), checks them
against the SHA-256 sums of python3-sklearn 1.2.1+dfsg-1, and writes plain
CSV files with a header row next to this script. The Go examples read only
the written files; they never download anything.
"""

import csv
import gzip
import hashlib
import io
import os
import sys

SRC = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
OUT = os.path.dirname(os.path.abspath(__file__))

# SHA-256 of the files in python3-sklearn 1.2.1+dfsg-1 (Debian 12/13).
SOURCES = {
    "digits.csv.gz": "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a",
    "breast_cancer.csv": "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
    "diabetes_data_raw.csv.gz": "fc08fc59c1cbfe65550d9ebb36321d505de9e8f004bf92c1566d2908962f08ff",
    "diabetes_target.csv.gz": "bf1ddd1f9d377278450a5f02c24b5e77b1501f2ad673fe9fdf4c4090d27eb5cc",
}


def read_source(name):
    path = os.path.join(SRC, name)
    with open(path, "rb") as f:
        raw = f.read()
    got = hashlib.sha256(raw).hexdigest()
    if got != SOURCES[name]:
        sys.exit(f"{path}: sha256 {got}, want {SOURCES[name]} (another python3-sklearn version?)")
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("ascii")


def write_csv(name, header, rows, compress=False):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("ascii")
    path = os.path.join(OUT, name)
    if compress:
        # mtime=0 and no file name keep the output byte-identical across runs.
        with open(path, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
                g.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    print(f"{name}: {len(rows)} rows x {len(header)} columns, sha256 of the CSV text {hashlib.sha256(data).hexdigest()}")


def digits():
    # 1,797 rows: 64 pixel counts in 0..16 (8x8, row-major), then the digit.
    rows = [line.split(",") for line in read_source("digits.csv.gz").split()]
    assert len(rows) == 1797 and all(len(r) == 65 for r in rows)
    header = [f"p{i}" for i in range(64)] + ["digit"]
    write_csv("digits.csv.gz", header, rows, compress=True)


def breast_cancer():
    # The first line is "569,30,malignant,benign"; then 30 features and the
    # class, 0 = malignant, 1 = benign (scikit-learn's coding, kept as is).
    lines = read_source("breast_cancer.csv").split()
    assert lines[0] == "569,30,malignant,benign"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == 569 and all(len(r) == 31 for r in rows)
    stats = ["mean", "se", "worst"]
    base = ["radius", "texture", "perimeter", "area", "smoothness", "compactness",
            "concavity", "concave_points", "symmetry", "fractal_dimension"]
    header = [f"{b}_{s}" for s in stats for b in base] + ["benign"]
    write_csv("breast_cancer.csv", header, rows)


def diabetes():
    # Raw (unscaled) baseline variables, space separated, and the target:
    # disease progression one year after baseline.
    feats = [line.split() for line in read_source("diabetes_data_raw.csv.gz").splitlines() if line.strip()]
    target = [float(v) for v in read_source("diabetes_target.csv.gz").split()]
    assert len(feats) == 442 and len(target) == 442 and all(len(r) == 10 for r in feats)
    rows = [r + ["%g" % t] for r, t in zip(feats, target)]
    header = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]
    write_csv("diabetes.csv", header, rows)


if __name__ == "__main__":
    digits()
    breast_cancer()
    diabetes()
