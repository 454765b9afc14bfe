"""Times the Python onnxruntime package on the inputs the Rust benchmark hands it.

Usage: onnx_peer.py MODEL INPUTS COUNT SIDE THREADS WARM_UP ROUNDS

INPUTS holds COUNT images of SIDE x SIDE x 3 float32 values (NHWC), one after the other. Each
round runs every image once. Prints the median milliseconds per inference on the first line,
then each image's outputs on a line of their own, separated by spaces.
"""

import statistics
import sys
import time

import numpy as np
import onnxruntime


def main():
    model, inputs, count, side, threads, warm_up, rounds = sys.argv[1:]
    count, side, threads = int(count), int(side), int(threads)
    images = np.fromfile(inputs, dtype=np.float32).reshape(count, 1, side, side, 3)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        model, options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name

    for _ in range(int(warm_up)):
        session.run(None, {name: images[0]})
    times = []
    for _ in range(int(rounds)):
        for image in images:
            started = time.perf_counter()
            session.run(None, {name: image})
            times.append((time.perf_counter() - started) * 1e3)
    print(statistics.median(times))
    for image in images:
        print(" ".join(repr(float(v)) for v in session.run(None, {name: image})[0].ravel()))


if __name__ == "__main__":
    main()
