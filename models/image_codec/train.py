"""Trains the shipped learned image codec and exports it to ONNX.

A rate-distortion autoencoder in the manner of Balle et al. (2017): four strided 5x5
convolutions with GDN nonlinearities map an RGB image to latents at 1/16 of its size, the
latents are quantized with a step the encoder chooses (the rate knob), and a mirrored
synthesis transform restores the image. The entropy model is factorized: each latent channel is
a zero-mean Gaussian with a learned scale; the elements tabulate it per quantizer step and
range code the latents with constriction. Training minimises bits per pixel plus lambda times the mean squared error,
with uniform noise standing in for quantization and the step drawn at random per batch, so
that one model serves a range of rates: larger steps give fewer bits and more distortion.

Run once by a maintainer (CI does not train):

    python3 -m venv /tmp/train && /tmp/train/bin/pip install torch onnx onnxscript pillow
    /tmp/train/bin/python models/image_codec/train.py --data DIR... --minutes 60

Writes encoder.onnx, decoder.onnx and model.json (the contract the elements read) beside this
file, and prints held-out figures for the model card. A checkpoint (checkpoint.pt, not
committed) lets a later run continue.
"""

import argparse
import glob
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
CHANNELS = 96
LATENTS = 96
DOWNSAMPLING = 16
STEP_RANGE = (0.5, 4.0)


class GDN(nn.Module):
    """Generalised divisive normalisation (or its inverse), with reparameterised positive
    parameters."""

    def __init__(self, channels, inverse=False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x):
        beta = self.beta.abs() + 1e-6
        gamma = self.gamma.abs()
        norm = F.conv2d(x * x, gamma[:, :, None, None], beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def down(cin, cout):
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def up(cin, cout):
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            down(3, CHANNELS), GDN(CHANNELS),
            down(CHANNELS, CHANNELS), GDN(CHANNELS),
            down(CHANNELS, CHANNELS), GDN(CHANNELS),
            down(CHANNELS, LATENTS),
        )

    def forward(self, image):
        return self.layers(image - 0.5)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            up(LATENTS, CHANNELS), GDN(CHANNELS, inverse=True),
            up(CHANNELS, CHANNELS), GDN(CHANNELS, inverse=True),
            up(CHANNELS, CHANNELS), GDN(CHANNELS, inverse=True),
            up(CHANNELS, 3),
        )

    def forward(self, latents):
        return self.layers(latents) + 0.5


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
        scale = (self.scales() / step)[None, :, None, None]
        normal = torch.distributions.Normal(0.0, scale)
        probability = normal.cdf(quantized + 0.5) - normal.cdf(quantized - 0.5)
        return -torch.log2(probability.clamp(min=1e-9)).sum()

    def forward(self, image, step):
        latents = self.encoder(image) / step
        noisy = latents + torch.empty_like(latents).uniform_(-0.5, 0.5)
        restored = self.decoder(noisy * step)
        return restored, self.bits(noisy, step)


def load_images(patterns):
    images = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            image = Image.open(path).convert("RGB")
            images.append(np.asarray(image, dtype=np.uint8))
    if not images:
        raise SystemExit("no training images found")
    return images


def textured_crop(images, size):
    """A random crop, preferring textured ones: of a few candidates, the most varied."""
    best, best_variance = None, -1.0
    for _ in range(3):
        image = random.choice(images)
        height, width, _ = image.shape
        top = random.randint(0, height - size)
        left = random.randint(0, width - size)
        crop = image[top : top + size, left : left + size]
        variance = float(crop.astype(np.float32).var())
        if variance > best_variance:
            best, best_variance = crop, variance
    if random.random() < 0.5:
        best = best[:, ::-1]
    return best


def batch(images, size, count):
    crops = np.stack([textured_crop(images, size) for _ in range(count)])
    return torch.from_numpy(crops.copy()).permute(0, 3, 1, 2).float() / 255.0


def evaluate(codec, images, steps):
    """Held-out figures: bits per pixel and PSNR for each step, averaged over images."""
    codec.eval()
    rows = []
    with torch.no_grad():
        for step in steps:
            bpp, psnr = [], []
            for image in images:
                height, width, _ = image.shape
                pad_h = (-height) % DOWNSAMPLING
                pad_w = (-width) % DOWNSAMPLING
                x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255.0
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
                quantized = torch.round(codec.encoder(x) / step)
                restored = codec.decoder(quantized * step)[:, :, :height, :width].clamp(0, 1)
                bits = codec.bits(quantized, step).item()
                mse = F.mse_loss(
                    torch.round(restored * 255), torch.round(x[:, :, :height, :width] * 255)
                ).item()
                bpp.append(bits / (height * width))
                psnr.append(10 * math.log10(255**2 / max(mse, 1e-10)))
            rows.append((step, float(np.mean(bpp)), float(np.mean(psnr))))
    codec.train()
    return rows


def export(codec):
    codec.eval()
    example = torch.rand(1, 3, 64, 64)
    dynamic = {"image": {0: "batch", 2: "height", 3: "width"}}
    torch.onnx.export(
        codec.encoder, example, os.path.join(HERE, "encoder.onnx"),
        input_names=["image"], output_names=["latents"],
        dynamic_axes={**dynamic, "latents": {0: "batch", 2: "rows", 3: "columns"}}, opset_version=17,
        dynamo=False,
    )
    latents = torch.zeros(1, LATENTS, 4, 4)
    torch.onnx.export(
        codec.decoder, latents, os.path.join(HERE, "decoder.onnx"),
        input_names=["latents"], output_names=["image"],
        dynamic_axes={"latents": {0: "batch", 2: "rows", 3: "columns"}, **dynamic}, opset_version=17,
        dynamo=False,
    )
    contract = {
        "name": "percept-image-factorized-96",
        "media": "image",
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
        "input": {"tensor": "image", "layout": "NCHW", "colour": "RGB", "range": [0.0, 1.0],
                  "multiple_of": DOWNSAMPLING},
        "latents": {"tensor": "latents", "channels": LATENTS, "downsampling": DOWNSAMPLING,
                    "quantization": "scalar", "step_range": list(STEP_RANGE)},
        "entropy_model": {"kind": "factorized-gaussian", "mean": 0.0,
                          "scales": [round(float(s), 6) for s in codec.scales().detach()]},
        "output": {"tensor": "image", "range": [0.0, 1.0]},
    }
    with open(os.path.join(HERE, "model.json"), "w") as file:
        json.dump(contract, file, indent=2)
        file.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", nargs="+", required=True, help="glob patterns of photos")
    parser.add_argument("--held-out", nargs="+", default=[], help="glob patterns to evaluate on")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lmbda", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--export-only", action="store_true",
                        help="export and evaluate the checkpoint without training")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    images = load_images(args.data)
    held_out = load_images(args.held_out) if args.held_out else []
    print(f"{len(images)} training images, {len(held_out)} held out")

    codec = Codec()
    optimiser = torch.optim.Adam(codec.parameters(), lr=1e-4)
    checkpoint = os.path.join(HERE, "checkpoint.pt")
    steps_done = 0
    if os.path.exists(checkpoint):
        state = torch.load(checkpoint)
        codec.load_state_dict(state["codec"])
        optimiser.load_state_dict(state["optimiser"])
        steps_done = state["steps"]
        print(f"resuming after {steps_done} steps")

    if args.export_only:
        export(codec)
        report(codec, held_out, steps_done)
        return

    deadline = time.time() + args.minutes * 60
    started = time.time()
    while time.time() < deadline:
        x = batch(images, args.crop, args.batch)
        step = math.exp(random.uniform(*map(math.log, STEP_RANGE)))
        restored, bits = codec(x, step)
        bpp = bits / (x.shape[0] * x.shape[2] * x.shape[3])
        mse = F.mse_loss(restored, x) * 255**2
        loss = bpp + args.lmbda * mse
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        optimiser.step()
        steps_done += 1
        if steps_done % 500 == 0:
            rate = steps_done / max(time.time() - started, 1e-9)
            print(f"step {steps_done}: bpp {bpp.item():.3f} mse {mse.item():.1f} "
                  f"(step {step:.2f}), {rate:.1f} steps/s", flush=True)
            torch.save({"codec": codec.state_dict(), "optimiser": optimiser.state_dict(),
                        "steps": steps_done}, checkpoint)

    torch.save({"codec": codec.state_dict(), "optimiser": optimiser.state_dict(),
                "steps": steps_done}, checkpoint)
    export(codec)
    report(codec, held_out, steps_done)


def report(codec, held_out, steps_done):
    print(f"{steps_done} training steps; exported to {HERE}")
    for step, bpp, psnr in evaluate(codec, held_out, [0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0]):
        print(f"held out, step {step}: {bpp:.3f} bpp, {psnr:.2f} dB")


if __name__ == "__main__":
    main()
