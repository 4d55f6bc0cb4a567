"""The toy world: procedural clips whose ground truth is known exactly.

A `Scene` is a few coloured shapes moving over a background for a few seconds. Everything a
question can ask about — colours, shapes, counts, directions, when things appear, stop,
bounce or change colour, and the sounds those events make — is computed from the scene, so
every answer is checkable. Scenes are drawn deterministically from (split, index, world seed);
different splits use disjoint seed streams.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (235, 45, 45),
    "green": (40, 205, 70),
    "blue": (55, 95, 245),
    "yellow": (245, 225, 45),
    "purple": (175, 70, 230),
    "orange": (250, 145, 25),
}
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
SOUND_OF_EVENT: dict[str, str] = {
    "appear": "rising tone",
    "disappear": "falling tone",
    "bounce": "click",
    "stop": "thud",
    "change": "ding",
}
# Off-screen sounds: heard, never seen (their source is not in the picture). See data.soundtrack.
NOISES: tuple[str, ...] = ("beep", "buzz", "hum", "whistle")
EVENT_MARGIN = 0.25  # seconds: events keep this far from each other's bounds and the clip's ends


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of the generator. Sizes are fractions of the frame's shorter side."""

    height: int = 64
    width: int = 64
    fps: int = 8
    duration: float = 4.0
    durations: tuple[float, float] | None = None  # if set, each clip's duration is drawn from this range
    min_objects: int = 1
    max_objects: int = 3
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    p_static: float = 0.15
    p_appear: float = 0.3
    p_disappear: float = 0.3
    p_stop: float = 0.3
    p_change: float = 0.2
    speed: tuple[float, float] = (0.15, 0.35)
    radius: tuple[float, float] = (0.12, 0.18)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError("need 1 <= min_objects <= max_objects")
        if self.max_objects > min(len(self.shapes), len(self.colours) - 1):
            raise ValueError(
                f"max_objects={self.max_objects} is too many: objects get distinct shapes and "
                f"colours, so use at most {min(len(self.shapes), len(self.colours) - 1)}"
            )
        if self.durations is not None and not 1.0 <= self.durations[0] <= self.durations[1]:
            raise ValueError(f"durations must be (low, high) seconds with 1 <= low <= high, got {self.durations}")
        unknown = set(self.shapes) - set(SHAPES) | set(self.colours) - set(COLOURS)
        if unknown:
            raise ValueError(f"unknown shapes/colours {sorted(unknown)}; known: {SHAPES}, {tuple(COLOURS)}")


@dataclass(frozen=True)
class ToyObject:
    """One shape. Positions are normalised to [0, 1] (x right, y down); times in seconds."""

    shape: str
    colour: str
    radius: float
    x: float
    y: float
    vx: float
    vy: float
    direction: str | None  # main direction of motion at the start, None if static
    appear: float = 0.0
    disappear: float | None = None
    stop: float | None = None
    change_time: float | None = None
    new_colour: str | None = None

    def name(self) -> str:
        """How text refers to it: its starting colour and its shape."""
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Event:
    """Something that happens at a moment (start == end) or over a span."""

    kind: str  # appear | disappear | stop | bounce | change
    obj: int
    start: float
    end: float
    detail: str = ""  # the wall for a bounce, the new colour for a change


@dataclass(frozen=True)
class Scene:
    """A clip's complete ground truth. Render frames with `minivlm.data.render`."""

    objects: tuple[ToyObject, ...]
    background: tuple[int, int, int]
    duration: float
    fps: int
    height: int
    width: int
    seed: int
    events: tuple[Event, ...] = field(default=())

    @property
    def num_frames(self) -> int:
        return int(round(self.duration * self.fps))

    def frame_times(self) -> np.ndarray:
        """Time in seconds of each native frame, shape (num_frames,)."""
        return np.arange(self.num_frames) / self.fps

    def visible(self, i: int, t: float) -> bool:
        o = self.objects[i]
        end = self.duration if o.disappear is None else o.disappear
        return o.appear <= t < end

    def visible_span(self, i: int) -> tuple[float, float]:
        o = self.objects[i]
        return (o.appear, self.duration if o.disappear is None else o.disappear)

    def visible_moment(self, rng: np.random.Generator, obj: int | None = None) -> float:
        """A random time at which object `obj` is in view — or, for obj=None, at least one object
        (the one routine every still is taken with)."""
        if obj is not None:
            return float(rng.uniform(*self.visible_span(obj)))
        for _ in range(20):
            t = float(rng.uniform(0, self.duration))
            if any(self.visible(i, t) for i in range(len(self.objects))):
                return t
        start, end = self.visible_span(0)
        return (start + end) / 2

    def colour_at(self, i: int, t: float) -> str:
        o = self.objects[i]
        if o.change_time is not None and t >= o.change_time:
            return o.new_colour  # type: ignore[return-value]
        return o.colour

    def position(self, i: int, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised centre (x, y) at time(s) t: straight motion, reflected at the walls."""
        o = self.objects[i]
        t = np.asarray(t, dtype=np.float64)
        moving_time = np.clip(t, 0.0, o.stop if o.stop is not None else self.duration)
        lo = o.radius * self._aspect_scale()
        x = _fold(o.x + o.vx * moving_time, lo[0], 1.0 - lo[0])
        y = _fold(o.y + o.vy * moving_time, lo[1], 1.0 - lo[1])
        return x, y

    def _aspect_scale(self) -> np.ndarray:
        short = min(self.height, self.width)
        return np.array([short / self.width, short / self.height])

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Scene":
        objects = tuple(ToyObject(**o) for o in d["objects"])
        events = tuple(Event(**e) for e in d.get("events", ()))
        rest = {k: v for k, v in d.items() if k not in ("objects", "events")}
        rest["background"] = tuple(rest["background"])
        return Scene(objects=objects, events=events, **rest)


def _fold(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect an unbounded coordinate into [lo, hi], as a ball bouncing between two walls."""
    span = hi - lo
    m = np.mod(u - lo, 2 * span)
    return lo + np.where(m <= span, m, 2 * span - m)


def _bounces(scene: Scene, i: int) -> list[Event]:
    """Wall hits of object i while it moves and is visible, in time order."""
    o = scene.objects[i]
    end_motion = o.stop if o.stop is not None else scene.duration
    lo = o.radius * scene._aspect_scale()
    events = []
    for axis, (p0, v) in enumerate(((o.x, o.vx), (o.y, o.vy))):
        if v == 0:
            continue
        span = 1.0 - 2 * lo[axis]
        u0 = p0 - lo[axis]
        # The unfolded coordinate crosses k * span at t = (k * span - u0) / v.
        ks = range(1, 50) if v > 0 else range(0, -50, -1)
        for k in ks:
            t = (k * span - u0) / v
            if t >= end_motion:
                break
            if t <= 0 or not scene.visible(i, t):
                continue
            wall = ("right", "bottom")[axis] if k % 2 else ("left", "top")[axis]
            events.append(Event("bounce", i, float(t), float(t), wall))
    return events


def _event_time(rng: np.random.Generator, lo: float, hi: float, margin: float = EVENT_MARGIN) -> float | None:
    """A continuous time in [lo + margin, hi - margin] (to 0.01 s), or None if that is empty.

    Continuous, not on a grid: a model that localizes events must read them from the frames,
    not snap them to a few values the world allows."""
    lo, hi = lo + margin, hi - margin
    return round(float(rng.uniform(lo, hi)), 2) if hi > lo else None


def scene_rng(split: str, index: int, seed: int = 0) -> np.random.Generator:
    """The random stream of one scene: disjoint for different (split, index, seed)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {tuple(SPLITS)}")
    return np.random.default_rng([SPLITS[split], index, seed])


def sample_scene(split: str, index: int, config: WorldConfig | None = None) -> Scene:
    """Draw scene `index` of `split` from the world described by `config`. Deterministic."""
    cfg = config or WorldConfig()
    rng = scene_rng(split, index, cfg.seed)
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    shapes = rng.choice(cfg.shapes, size=n, replace=False)
    colours = list(rng.choice(cfg.colours, size=len(cfg.colours), replace=False))
    spare_colours = colours[n:]  # colour changes pick from these, so every colour names one object
    dur = cfg.duration if cfg.durations is None else round(float(rng.uniform(*cfg.durations)), 2)
    objects = []
    for j in range(n):
        radius = float(rng.uniform(*cfg.radius))
        x, y = (float(v) for v in rng.uniform(0.2, 0.8, size=2))
        direction, vx, vy = None, 0.0, 0.0
        if rng.random() >= cfg.p_static:
            direction = str(rng.choice(list(DIRECTIONS)))
            # Start on the far side of the wall it heads to, so the first second shows its direction.
            far = float(rng.uniform(0.5, 0.85))
            x = {"left": far, "right": 1.0 - far}.get(direction, x)
            y = {"up": far, "down": 1.0 - far}.get(direction, y)
            speed = float(rng.uniform(*cfg.speed))
            dx, dy = DIRECTIONS[direction]
            side = float(rng.uniform(-0.25, 0.25)) * speed  # a little drift across the main axis
            vx, vy = dx * speed + (side if dx == 0 else 0.0), dy * speed + (side if dy == 0 else 0.0)
        appear = _event_time(rng, 0.0, dur / 2) if rng.random() < cfg.p_appear else None
        appear = appear or 0.0
        disappear = _event_time(rng, max(appear + 1.0, dur / 2), dur) if rng.random() < cfg.p_disappear else None
        end = disappear if disappear is not None else dur
        stop = None
        if direction is not None and rng.random() < cfg.p_stop:
            stop = _event_time(rng, appear + EVENT_MARGIN, end)
        change_time, new_colour = None, None
        if spare_colours and rng.random() < cfg.p_change:
            change_time = _event_time(rng, appear, end)
            if change_time is not None:
                new_colour = str(spare_colours.pop())
        objects.append(
            ToyObject(
                shape=str(shapes[j]), colour=str(colours[j]), radius=radius, x=x, y=y, vx=vx, vy=vy,
                direction=direction, appear=appear, disappear=disappear, stop=stop,
                change_time=change_time, new_colour=new_colour,
            )
        )
    tint = rng.integers(0, 3)
    base = int(rng.integers(25, 75))
    background = [base, base, base]
    background[tint] = min(255, base + int(rng.integers(0, 30)))
    scene = Scene(
        objects=tuple(objects), background=tuple(background), duration=dur, fps=cfg.fps,
        height=cfg.height, width=cfg.width, seed=int(rng.integers(0, 2**31 - 1)),
    )
    return replace(scene, events=scene_events(scene))


def scene_events(scene: Scene) -> tuple[Event, ...]:
    """Every event of a scene's objects (appear, disappear, stop, change, bounce), in time order."""
    events: list[Event] = []
    for i, o in enumerate(scene.objects):
        if o.appear > 0:
            events.append(Event("appear", i, o.appear, o.appear))
        if o.disappear is not None:
            events.append(Event("disappear", i, o.disappear, o.disappear))
        if o.stop is not None:
            events.append(Event("stop", i, o.stop, o.stop))
        if o.change_time is not None:
            events.append(Event("change", i, o.change_time, o.change_time, o.new_colour or ""))
        events.extend(_bounces(scene, i))
    return tuple(sorted(events, key=lambda e: (e.start, e.obj, e.kind)))


def sample_scenes(split: str, n: int, config: WorldConfig | None = None, start: int = 0) -> list[Scene]:
    """Scenes `start .. start+n-1` of a split."""
    return [sample_scene(split, start + k, config) for k in range(n)]
