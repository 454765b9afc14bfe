"""Plots curves from a CSV of `curve,x,y` rows to a PNG.

    plot.py CSV PNG TITLE XLABEL YLABEL [log]

With `log`, the x axis is logarithmic.
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    source, target, title, xlabel, ylabel, *options = sys.argv[1:]
    curves = {}
    with open(source, newline="") as file:
        for name, x, y in csv.reader(file):
            curves.setdefault(name, []).append((float(x), float(y)))
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in curves.items():
        points.sort()
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    if "log" in options:
        axes.set_xscale("log")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(target)


if __name__ == "__main__":
    main()
