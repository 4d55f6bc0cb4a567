"""Render the toy world's spoken words once with espeak-ng and write them into the package.

    apt-get install -y espeak-ng        # dev-time only: the package ships the rendered files
    python tools/make_word_bank.py      # → minivlm/data/words/{WORD}.flac + index.json

Each word of `minivlm.data.soundtrack.WORDS` is spoken by every voice × pitch of `VARIANTS`
(espeak-ng writes 22.05 kHz WAV), resampled to 16 kHz with PyAV, trimmed of its leading and
trailing silence, peak-normalised, and the variants of one word are written one after another
into one FLAC file; `index.json` says where each variant starts and how long it is. At run time
`minivlm.data.soundtrack.word_bank()` reads them back — no system package needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minivlm.data.soundtrack import BANK_DIR, SAMPLE_RATE, VARIANTS, WORDS  # noqa: E402

SPEED = 165  # words per minute: espeak-ng's default is 175


def espeak(word: str, voice: str, pitch: int, folder: Path) -> np.ndarray:
    """One word spoken by espeak-ng, as float32 (S,) at SAMPLE_RATE."""
    wav = folder / "w.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(SPEED), "-w", str(wav), word],
                   check=True, capture_output=True)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pieces = []
    with av.open(str(wav)) as container:
        for frame in container.decode(audio=0):
            pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32)


def trim(wave: np.ndarray, threshold: float = 0.02, pad: float = 0.01) -> np.ndarray:
    """Cut leading and trailing silence (keeping `pad` seconds), peak-normalise to 0.9."""
    loud = np.flatnonzero(np.abs(wave) > threshold * np.abs(wave).max())
    p = int(pad * SAMPLE_RATE)
    wave = wave[max(0, loud[0] - p): loud[-1] + p]
    return (0.9 * wave / np.abs(wave).max()).astype(np.float32)


def write_flac(path: Path, wave: np.ndarray) -> None:
    samples = np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    with av.open(str(path), mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng not found: apt-get install -y espeak-ng (needed only to re-render the word bank)")
    BANK_DIR.mkdir(parents=True, exist_ok=True)
    index = {"sample_rate": SAMPLE_RATE, "variants": [list(v) for v in VARIANTS], "words": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for word in WORDS:
            waves = [trim(espeak(word, voice, pitch, Path(tmp))) for voice, pitch in VARIANTS]
            starts = np.cumsum([0] + [len(w) for w in waves[:-1]]).tolist()
            index["words"][word] = [[int(s), len(w)] for s, w in zip(starts, waves)]
            write_flac(BANK_DIR / f"{word}.flac", np.concatenate(waves))
    (BANK_DIR / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in BANK_DIR.iterdir())
    print(f"{len(WORDS)} words × {len(VARIANTS)} variants → {BANK_DIR} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
