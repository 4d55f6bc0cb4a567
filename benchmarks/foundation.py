"""Measure the course's foundation on this machine: how fast the data pipeline is, how big the
shipped bases are, what a clone downloads, and what a new user waits for — `make setup`, `make lab`,
`make test` on a fresh clone.

    python benchmarks/foundation.py                  # data speed, shipped bases, download; print JSON
    python benchmarks/foundation.py --fresh-clone    # also clone the repository, time make setup,
                                                     # make lab (until JupyterLab answers), make test
    python benchmarks/foundation.py --write          # also record the figures in results/foundation.json

The README's "Measured here" table is generated from results/foundation.json
(`tools/results_tables.py`), each row with the date and machine it was measured on; a section not
re-measured keeps its last figures. Nothing is asserted here: targets are read by people.
(The zoo's quality: `benchmarks/zoo.py`; each notebook's figures: its own results/NN.json.)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "foundation.json"


def data_speed(n: int = 300, reads: int = 100) -> dict:
    """Clips generated per second (8 frames, 64x64), decord's frames per second (open an .mp4 and
    decode 8 frames, `reads` times) and the H.264 round trip's mean absolute pixel error."""
    from minivlm import data

    start = time.perf_counter()
    scenes = data.sample_scenes("train", n)
    for s in scenes:
        data.render(s, data.uniform_times(s, 8))
    clips_per_s = n / (time.perf_counter() - start)
    s = scenes[0]
    frames = data.render(s)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        data.write_video(path, frames, s.fps, data.render_audio(s))
        start = time.perf_counter()
        for _ in range(reads):
            data.read_video(path, num_frames=8)
        decode = reads * 8 / (time.perf_counter() - start)
        back = data.read_video(path).frames
    error = np.abs(back.astype(np.float32) - frames[:len(back)].astype(np.float32)).mean()
    return {"clips_per_s_8x64x64": round(clips_per_s), "decord_frames_per_s_open_plus_8": round(decode),
            "h264_round_trip_mean_abs_error_of_255": round(float(error), 2)}


def shipped_bases() -> dict:
    """Bytes of the shipped zoo (every file under minivlm/zoo_weights/, the manifest included)."""
    folder = ROOT / "minivlm" / "zoo_weights"
    return {"bytes": _folder_bytes(folder),
            "files": sum(1 for p in folder.rglob("*") if p.is_file())}


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def repository_download() -> dict:
    """What cloning this repository's HEAD downloads: the whole history (a plain `git clone`,
    every earlier version of the shipped bases included) and the newest commit's files alone —
    what `git clone --filter=blob:none` and `pip install` from git fetch, measured as a depth-1
    clone. Bytes of the bare clone's git folder."""
    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, extra in (("full_history_bytes", []), ("newest_commit_only_bytes", ["--depth", "1"])):
            target = Path(folder) / name
            subprocess.run(["git", "clone", "-q", "--bare", "--no-local", *extra, ROOT.as_uri(), str(target)],
                           check=True)
            sizes[name] = _folder_bytes(target)
    return sizes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(command: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return time.perf_counter() - start, out.stdout + out.stderr


def fresh_clone(timeout: float = 600.0) -> dict:
    """What a new user waits for, on a clone of this repository's HEAD: `make setup`, then
    `make lab` until JupyterLab's server answers (it loads the shipped bases first), then
    `make test` — with the test count pytest reports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIVLM_", "VIRTUAL_ENV"))}
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "minivlm"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                                text=True, check=True).stdout.strip()
        setup_s, _ = _timed(["make", "setup"], clone, env)
        port = _free_port()
        lab_env = {**env, "JUPYTER_PORT": str(port), "BROWSER": "true"}
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # JupyterLab refuses root unless told (containers)
            config = Path(folder) / "jupyter-config"
            config.mkdir()
            (config / "jupyter_server_config.json").write_text('{"ServerApp": {"allow_root": true}}')
            lab_env["JUPYTER_CONFIG_DIR"] = str(config)
        log = Path(folder) / "lab.log"
        start = time.perf_counter()
        with log.open("w") as out:
            lab = subprocess.Popen(["make", "lab"], cwd=clone, env=lab_env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            while True:
                if lab.poll() is not None:
                    raise RuntimeError(f"make lab exited ({lab.returncode}) before JupyterLab answered:\n"
                                       f"{log.read_text()[-2000:]}")
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"JupyterLab did not answer on port {port} within {timeout:.0f} s")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
                        break
                except OSError:
                    time.sleep(0.5)
            lab_s = time.perf_counter() - start
        finally:
            if lab.poll() is None:
                os.killpg(lab.pid, 15)
                lab.wait()
        test_s, output = _timed(["make", "test"], clone, env)
        counts = dict((k, int(v)) for v, k in re.findall(r"(\d+) (passed|skipped|failed|xfailed)", output))
    return {"commit": commit, "make_setup_s": round(setup_s), "make_lab_until_jupyterlab_answers_s": round(lab_s),
            "make_test_s": round(test_s), "make_test_counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh-clone", action="store_true", help="also time make setup / lab / test on a fresh clone")
    parser.add_argument("--write", action="store_true", help="record the figures in results/foundation.json")
    args = parser.parse_args()
    if os.environ.get("MINIVLM_FAST") and args.write:
        raise SystemExit("--write records full-mode figures; unset MINIVLM_FAST")
    from minivlm.results import machine

    stamp = {"date": datetime.date.today().isoformat(), "machine": machine()}
    report = {"data": {**data_speed(), **stamp}, "shipped_bases": {**shipped_bases(), **stamp},
              "repository_download": {**repository_download(), **stamp}}
    if args.fresh_clone:
        report["fresh_clone"] = {**fresh_clone(), **stamp}
    print(json.dumps(report, indent=1))
    if args.write:
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        RESULTS.write_text(json.dumps({**old, **report}, indent=1) + "\n")


if __name__ == "__main__":
    main()
