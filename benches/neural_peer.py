"""Times a learned codec's encoder and decoder in the Python onnxruntime package, on the
inputs the Rust benchmark hands it.

Usage: neural_peer.py ENCODER DECODER IMAGE HEIGHT WIDTH LATENT_CHANNELS DOWNSAMPLING THREADS ROUNDS

IMAGE holds one [1, 3, HEIGHT, WIDTH] float32 tensor. Prints the median milliseconds of one
encoder run and of one decoder run (on the encoder's latents, rounded), on one line.
"""

import statistics
import sys
import time

import numpy as np
import onnxruntime


def session(path, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def median_ms(run, rounds):
    run()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def main():
    encoder, decoder, image, height, width, channels, downsampling, threads, rounds = sys.argv[1:]
    height, width, threads, rounds = int(height), int(width), int(threads), int(rounds)
    picture = np.fromfile(image, dtype=np.float32).reshape(1, 3, height, width)
    encode = session(encoder, threads)
    decode = session(decoder, threads)
    encoder_input = encode.get_inputs()[0].name
    decoder_input = decode.get_inputs()[0].name
    latents = np.round(encode.run(None, {encoder_input: picture})[0]).astype(np.float32)
    print(
        median_ms(lambda: encode.run(None, {encoder_input: picture}), rounds),
        median_ms(lambda: decode.run(None, {decoder_input: latents}), rounds),
    )


if __name__ == "__main__":
    main()
