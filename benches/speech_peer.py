"""The Python side of the speech benchmark.

    speech_peer.py pesq REFERENCE DEGRADED...
        Prints PESQ (ITU-T P.862.2, wideband) of each DEGRADED file against REFERENCE, one per
        line. The files hold raw float32 samples at 16 kHz mono.

    speech_peer.py speed ENCODER DECODER SAMPLES LATENT_CHANNELS FRAMES THREADS ROUNDS
        Times the encoder on SAMPLES (raw float32, [1, 1, n]) and the decoder on the first
        FRAMES of its latents, rounded, in the Python onnxruntime package; prints the median
        milliseconds of each on one line.
"""

import statistics
import sys
import time

import numpy as np


def pesq_scores(reference, degraded):
    from pesq import pesq

    ref = np.fromfile(reference, dtype=np.float32)
    for path in degraded:
        deg = np.fromfile(path, dtype=np.float32)
        deg = np.pad(deg, (0, max(len(ref) - len(deg), 0)))[: len(ref)]
        print(f"{pesq(16000, ref, deg, 'wb'):.3f}")


def median_ms(run, rounds):
    run()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def speed(encoder, decoder, samples, channels, frames, threads, rounds):
    import onnxruntime

    def session(path):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads)
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    audio = np.fromfile(samples, dtype=np.float32).reshape(1, 1, -1)
    encode, decode = session(encoder), session(decoder)
    encoder_input = encode.get_inputs()[0].name
    decoder_input = decode.get_inputs()[0].name
    latents = np.round(encode.run(None, {encoder_input: audio})[0])[:, :, : int(frames)]
    latents = np.ascontiguousarray(latents, dtype=np.float32)
    assert latents.shape[1] == int(channels)
    print(
        median_ms(lambda: encode.run(None, {encoder_input: audio}), int(rounds)),
        median_ms(lambda: decode.run(None, {decoder_input: latents}), int(rounds)),
    )


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "pesq":
        pesq_scores(arguments[0], arguments[1:])
    elif command == "speed":
        speed(*arguments)
    else:
        sys.exit(f"unknown command {command}")
