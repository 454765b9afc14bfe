"""Trains the shipped learned speech codec and exports it to ONNX.

A convolutional autoencoder for 16 kHz mono speech: strided 1-D convolutions with residual units
map the waveform to 32 latent channels at 50 frames per second (one frame per 320 samples), the
latents are quantized with a step the encoder chooses (the rate knob), and a mirrored decoder of
transposed convolutions restores the waveform. The entropy model is factorized, as in the image
codec: each latent channel is a zero-mean Gaussian with a learned scale, tabulated by the
elements per quantizer step and range coded with constriction.

Training minimises a multi-resolution STFT distance (log magnitudes and spectral convergence at
four window sizes) plus beta times the rate in kbit/s, with uniform noise standing in for
quantization and the step drawn at random per batch. Beta is steered during training so that
the rate averaged over the step range sits at the target (6 kbit/s by default): the middle of
the knob then lands on the target, the fine end above it and the coarse end below.

Data: the Asterisk core prompts in five languages (four speakers), recorded at 16 kHz and
distributed as G.722 in Debian (asterisk-core-sounds-{en,es,fr,it,ru}-g722); decoded with the
`g722` wheel. The test speech (jfk.wav, the pyannote two-speaker sample) is held out.

Run once by a maintainer (CI does not train):

    python3 -m venv /tmp/train && /tmp/train/bin/pip install torch onnx onnxscript g722==1.2.8
    (cd /tmp/debs && apt-get download asterisk-core-sounds-{en,es,fr,it,ru}-g722)
    /tmp/train/bin/python models/speech_codec/train.py --debs /tmp/debs \
        --held-out media/audio/jfk.wav media/audio/two-speakers.wav --minutes 90

Writes encoder.onnx, decoder.onnx and model.json beside this file and prints held-out figures
for the model card. A checkpoint (checkpoint.pt, not committed) lets a later run continue.
"""

import argparse
import glob
import json
import math
import os
import random
import subprocess
import tempfile
import time
import wave

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 16000
STRIDES = (2, 4, 5, 8)
HOP = math.prod(STRIDES)
WIDTHS = (24, 48, 96, 192, 384)
LATENTS = 32
STEP_RANGE = (0.5, 4.0)
# Latent frames of context on each side that make a chunk's output equal to that of the whole
# signal (the decoder's receptive field at the frame rate, rounded up; checked by `context`).
CONTEXT_FRAMES = 6


class Residual(nn.Module):
    def __init__(self, channels, dilation):
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        return x + self.mix(F.elu(self.dilated(F.elu(x))))


def residuals(channels, count):
    return [Residual(channels, 3**i) for i in range(count)]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Conv1d(1, WIDTHS[0], 7, padding=3)]
        for i, stride in enumerate(STRIDES):
            layers += residuals(WIDTHS[i], 1 if i < 2 else 2)
            layers += [nn.ELU(), nn.Conv1d(WIDTHS[i], WIDTHS[i + 1], 2 * stride, stride=stride,
                                           padding=(stride + 1) // 2)]
        layers += [nn.ELU(), nn.Conv1d(WIDTHS[-1], LATENTS, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, audio):
        return self.layers(audio)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Conv1d(LATENTS, WIDTHS[-1], 7, padding=3)]
        for i, stride in reversed(list(enumerate(STRIDES))):
            layers += [nn.ELU(), nn.ConvTranspose1d(WIDTHS[i + 1], WIDTHS[i], 2 * stride,
                                                    stride=stride, padding=(stride + 1) // 2,
                                                    output_padding=stride % 2)]
            layers += residuals(WIDTHS[i], 1 if i < 2 else 2)
        layers += [nn.ELU(), nn.Conv1d(WIDTHS[0], 1, 7, padding=3)]
        self.layers = nn.Sequential(*layers)

    def forward(self, latents):
        return self.layers(latents)


class Codec(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.log_scales = nn.Parameter(torch.zeros(LATENTS))

    def scales(self):
        return torch.exp(self.log_scales).clamp(min=0.11)

    def bits(self, quantized, step):
        """Bits to code quantized latents (in units of the step) under the factorized model."""
        scale = (self.scales() / step)[None, :, None]
        normal = torch.distributions.Normal(0.0, scale)
        probability = normal.cdf(quantized + 0.5) - normal.cdf(quantized - 0.5)
        return -torch.log2(probability.clamp(min=1e-9)).sum()

    def forward(self, audio, step):
        latents = self.encoder(audio) / step
        noisy = latents + torch.empty_like(latents).uniform_(-0.5, 0.5)
        restored = self.decoder(noisy * step)
        return restored, self.bits(noisy.float(), step)


WINDOWS = (256, 512, 1024, 2048)


def spectral_distance(restored, reference):
    """Multi-resolution STFT distance: L1 of log magnitudes plus spectral convergence."""
    total = 0.0
    restored, reference = restored.float().squeeze(1), reference.float().squeeze(1)
    for size in WINDOWS:
        window = torch.hann_window(size)
        a = torch.stft(restored, size, size // 4, window=window, return_complex=True).abs()
        b = torch.stft(reference, size, size // 4, window=window, return_complex=True).abs()
        log = (torch.log(a.clamp(min=1e-4)) - torch.log(b.clamp(min=1e-4))).abs().mean()
        convergence = torch.linalg.norm(a - b) / torch.linalg.norm(b).clamp(min=1e-6)
        total = total + log + convergence
    return total / len(WINDOWS)


def read_wav(path):
    with wave.open(path) as file:
        if file.getframerate() != RATE or file.getnchannels() != 1 or file.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit")
        data = np.frombuffer(file.readframes(file.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def decode_prompts(debs):
    """Decodes the G.722 prompts in the Asterisk sound packages found in `debs`."""
    import G722

    speech = []
    with tempfile.TemporaryDirectory() as root:
        for deb in sorted(glob.glob(os.path.join(debs, "asterisk-core-sounds-*-g722_*.deb"))):
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        paths = sorted(glob.glob(os.path.join(root, "**", "*.g722"), recursive=True))
        for path in paths:
            if "/silence/" in path:
                continue
            with open(path, "rb") as file:
                decoder = G722.G722(RATE, 64000)
                pcm = np.asarray(decoder.decode(file.read()), dtype=np.float32) / 32768.0
            if len(pcm) >= HOP * 8:
                speech.append(pcm)
    if not speech:
        raise SystemExit(f"no asterisk-core-sounds-*-g722 packages in {debs}")
    return speech


def batch(speech, samples, count):
    out = np.zeros((count, 1, samples), dtype=np.float32)
    for row in range(count):
        clip = random.choice(speech)
        if len(clip) > samples:
            start = random.randint(0, len(clip) - samples)
            clip = clip[start : start + samples]
        out[row, 0, : len(clip)] = clip * 10 ** (random.uniform(-10, 6) / 20)
    return torch.from_numpy(out)


def run_whole(codec, audio, step):
    """Codes a whole signal at once; returns the restored signal and the bits."""
    frames = -(-len(audio) // HOP)
    x = torch.zeros(1, 1, frames * HOP)
    x[0, 0, : len(audio)] = torch.from_numpy(audio)
    quantized = torch.round(codec.encoder(x) / step)
    restored = codec.decoder(quantized * step)[0, 0, : len(audio)]
    return restored.numpy(), codec.bits(quantized, step).item()


def evaluate(codec, held_out, steps):
    """Held-out figures per step: kbit/s and the spectral distance (PESQ is measured by the
    benchmark, through the elements)."""
    codec.eval()
    rows = []
    with torch.no_grad():
        for step in steps:
            kbps, distance = [], []
            for audio in held_out:
                restored, bits = run_whole(codec, audio, step)
                kbps.append(bits / (len(audio) / RATE) / 1000)
                distance.append(spectral_distance(torch.from_numpy(restored)[None, None],
                                                  torch.from_numpy(audio)[None, None]).item())
            rows.append((step, float(np.mean(kbps)), float(np.mean(distance))))
    codec.train()
    return rows


def context(codec):
    """Largest difference between coding a signal whole and coding its frames in chunks with
    CONTEXT_FRAMES of latent context on each side (the elements' streaming scheme)."""
    codec.eval()
    with torch.no_grad():
        x = torch.randn(1, 1, HOP * 64) * 0.1
        latents = torch.round(codec.encoder(x))
        whole_latents = latents
        whole = codec.decoder(latents)
        worst_encoder, worst_decoder = 0.0, 0.0
        chunk = 8
        for start in range(0, 64, chunk):
            lo, hi = max(start - CONTEXT_FRAMES, 0), min(start + chunk + CONTEXT_FRAMES, 64)
            part = codec.encoder(x[:, :, lo * HOP : hi * HOP])
            part = part[:, :, start - lo : start - lo + chunk]
            exact = codec.encoder(x)[:, :, start : start + chunk]
            worst_encoder = max(worst_encoder, (part - exact).abs().max().item())
            audio = codec.decoder(whole_latents[:, :, lo:hi])
            audio = audio[:, :, (start - lo) * HOP : (start - lo + chunk) * HOP]
            exact = whole[:, :, start * HOP : (start + chunk) * HOP]
            worst_decoder = max(worst_decoder, (audio - exact).abs().max().item())
    codec.train()
    return worst_encoder, worst_decoder


def export(codec):
    codec.eval()
    torch.onnx.export(
        codec.encoder, torch.zeros(1, 1, HOP * 8), os.path.join(HERE, "encoder.onnx"),
        input_names=["audio"], output_names=["latents"],
        dynamic_axes={"audio": {0: "batch", 2: "samples"}, "latents": {0: "batch", 2: "frames"}},
        opset_version=17, dynamo=False,
    )
    torch.onnx.export(
        codec.decoder, torch.zeros(1, LATENTS, 8), os.path.join(HERE, "decoder.onnx"),
        input_names=["latents"], output_names=["audio"],
        dynamic_axes={"latents": {0: "batch", 2: "frames"}, "audio": {0: "batch", 2: "samples"}},
        opset_version=17, dynamo=False,
    )
    contract = {
        "name": "percept-speech-factorized-32",
        "media": "audio",
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "input": {"tensor": "audio", "layout": "NCT", "rate": RATE, "channels": 1,
                  "range": [-1.0, 1.0], "context_frames": CONTEXT_FRAMES},
        "latents": {"tensor": "latents", "channels": LATENTS, "downsampling": HOP,
                    "quantization": "scalar", "step_range": list(STEP_RANGE)},
        "entropy_model": {"kind": "factorized-gaussian", "mean": 0.0,
                          "scales": [round(float(s), 6) for s in codec.scales().detach()]},
        "output": {"tensor": "audio", "range": [-1.0, 1.0]},
    }
    with open(os.path.join(HERE, "model.json"), "w") as file:
        json.dump(contract, file, indent=2)
        file.write("\n")


def report(codec, held_out, steps_done):
    print(f"{steps_done} training steps; exported to {HERE}")
    encoder, decoder = context(codec)
    print(f"chunked against whole, {CONTEXT_FRAMES} frames of context: "
          f"encoder {encoder:.2e}, decoder {decoder:.2e}")
    for step, kbps, distance in evaluate(codec, held_out, [0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0]):
        print(f"held out, step {step}: {kbps:.2f} kbit/s, spectral distance {distance:.3f}")


def save(path, codec, optimiser, steps, beta):
    torch.save({"codec": codec.state_dict(), "optimiser": optimiser.state_dict(),
                "steps": steps, "beta": beta}, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--debs", help="folder with the asterisk-core-sounds-*-g722 packages")
    parser.add_argument("--held-out", nargs="+", default=[], help="16 kHz mono wav files")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=HOP * 32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--kbps", type=float, default=6.0, help="target mean rate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--export-only", action="store_true",
                        help="export and evaluate the checkpoint without training")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    held_out = [read_wav(path) for path in args.held_out]

    codec = Codec()
    optimiser = torch.optim.Adam(codec.parameters(), lr=3e-4)
    checkpoint = os.path.join(HERE, "checkpoint.pt")
    steps_done, beta = 0, 0.05
    if os.path.exists(checkpoint):
        state = torch.load(checkpoint)
        codec.load_state_dict(state["codec"])
        optimiser.load_state_dict(state["optimiser"])
        steps_done, beta = state["steps"], state["beta"]
        print(f"resuming after {steps_done} steps")

    if args.export_only:
        export(codec)
        report(codec, held_out, steps_done)
        return

    speech = decode_prompts(args.debs)
    total = sum(len(clip) for clip in speech) / RATE / 60
    print(f"{len(speech)} training prompts, {total:.1f} minutes; {len(held_out)} held out")

    deadline = time.time() + args.minutes * 60
    started, first = time.time(), steps_done
    mean_kbps = args.kbps
    while time.time() < deadline:
        x = batch(speech, args.samples, args.batch)
        step = math.exp(random.uniform(*map(math.log, STEP_RANGE)))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            restored, bits = codec(x, step)
        kbps = bits / (x.shape[0] * x.shape[2] / RATE) / 1000
        distance = spectral_distance(restored, x)
        loss = distance + beta * kbps
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        optimiser.step()
        steps_done += 1
        # Steer beta so that the rate averaged over the step range meets the target.
        mean_kbps = 0.99 * mean_kbps + 0.01 * kbps.item()
        beta *= math.exp(0.002 * (mean_kbps - args.kbps) / args.kbps)
        if steps_done % 200 == 0:
            rate = (steps_done - first) / max(time.time() - started, 1e-9)
            print(f"step {steps_done}: {kbps.item():.2f} kbit/s (mean {mean_kbps:.2f}, "
                  f"step {step:.2f}), distance {distance.item():.3f}, beta {beta:.4f}, "
                  f"{rate:.2f} steps/s", flush=True)
            save(checkpoint, codec, optimiser, steps_done, beta)

    save(checkpoint, codec, optimiser, steps_done, beta)
    export(codec)
    report(codec, held_out, steps_done)


if __name__ == "__main__":
    main()
