#!/usr/bin/env python3
"""Reference for `dqnfun-bench bridge`: a raw ale_py loop doing the emulator work the ALE bridge does per
STEP, without the bridge. N ALEInterface instances (frame_skip 1, sticky actions, seeded); per agent step and
env: act() up to `repeat` times summing the rewards (stopping when the game ends), getScreenRGB into
preallocated buffers for the last two frames of the step (the pair the bridge sends for max-pooling), and
reset_game() + getScreenRGB when the game is over. Actions are uniformly random over the minimal action set,
pre-drawn from numpy default_rng(seed). With --procs P the envs are split over P processes that start together
(the bridge bench's one-server-per-core layout).

Prints one JSON line: emulator frames per wall-clock second, in total and per env, and the CPU seconds used. Needs ale_py and numpy only.
"""
import argparse
import json
import multiprocessing as mp
import sys
import time

import numpy as np


def make_env(ale_py, game, seed, sticky, max_frames):
    from ale_py import roms

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", seed)
    ale.setFloat("repeat_action_probability", sticky)
    ale.setInt("frame_skip", 1)
    ale.setBool("color_averaging", False)
    ale.setInt("max_num_frames_per_episode", max_frames)
    rom = roms.get_rom_path(game)
    if rom is None:
        raise SystemExit(f"unknown game id {game!r}")
    ale.loadROM(str(rom))
    return ale


def run(a, first_env, n_envs, barrier, out):
    """Runs n_envs envs (seeds a.seed + first_env + i) for a.steps agent steps; puts (frames, resets, t0, t1,
    CPU seconds of this process)."""
    import ale_py

    envs = [make_env(ale_py, a.game, a.seed + first_env + i, a.sticky, a.max_frames) for i in range(n_envs)]
    acts = [env.getMinimalActionSet() for env in envs]
    h, w = envs[0].getScreenDims()
    screens = np.zeros((n_envs, 2, h, w, 3), np.uint8)  # per env: second-to-last, last
    rng = np.random.default_rng(a.seed + first_env)
    draws = [rng.integers(0, len(s), size=a.steps) for s in acts]
    for i, env in enumerate(envs):
        env.reset_game()
        env.getScreenRGB(screens[i, 1])
    repeat = a.repeat
    frames = resets = 0
    if barrier is not None:
        barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(a.steps):
        for i, env in enumerate(envs):
            action = acts[i][draws[i][k]]
            prev, last = screens[i, 0], screens[i, 1]
            if repeat == 1:
                prev[...] = last
            reward = 0
            for f in range(repeat):
                reward += env.act(action)
                frames += 1
                over = env.game_over()
                if f == repeat - 1 or over:
                    env.getScreenRGB(last)
                elif f == repeat - 2:
                    env.getScreenRGB(prev)
                if over:
                    break
            if over:
                if f < repeat - 1:
                    prev[...] = last  # the bridge's rule for a step the game ended early
                env.reset_game()
                env.getScreenRGB(last)
                resets += 1
    t1, c1 = time.perf_counter(), time.process_time()
    out.put((frames, resets, t0, t1, c1 - c0))


def run_child(a, first_env, n_envs, barrier, out):
    """run() in a child process: a failure is reported through `out` (and breaks the barrier), not lost."""
    try:
        run(a, first_env, n_envs, barrier, out)
    except BaseException as e:
        barrier.abort()
        out.put(f"process for envs {first_env}..{first_env + n_envs - 1}: {type(e).__name__}: {e}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--game", default="pong", help="ale_py game id (default pong)")
    p.add_argument("--envs", type=int, default=1, help="environments (default 1)")
    p.add_argument("--procs", type=int, default=1, help="processes the envs are split over (default 1)")
    p.add_argument("--steps", type=int, default=2000, help="agent steps per env (default 2000)")
    p.add_argument("--repeat", type=int, default=4, help="emulator frames per agent step (default 4)")
    p.add_argument("--seed", type=int, default=0, help="ALE random_seed of env 0 (env i: seed + i) and action seed")
    p.add_argument("--sticky", type=float, default=0.25, help="repeat_action_probability (default 0.25)")
    p.add_argument("--max-frames", type=int, default=108_000, help="max_num_frames_per_episode (default 108000)")
    a = p.parse_args()
    for name, v, lo in [("envs", a.envs, 1), ("procs", a.procs, 1), ("steps", a.steps, 1), ("repeat", a.repeat, 1)]:
        if v < lo:
            p.error(f"--{name} {v} must be at least {lo}")
    if a.envs % a.procs != 0:
        p.error(f"--envs {a.envs} is not a multiple of --procs {a.procs}")
    try:
        import ale_py
    except ImportError as e:
        print(json.dumps({"error": f"ale_py is not importable: {e}"}))
        return 3
    per = a.envs // a.procs
    if a.procs == 1:
        q = mp.SimpleQueue()
        run(a, 0, per, None, q)
        results = [q.get()]
    else:
        ctx = mp.get_context("fork")
        q, barrier = ctx.SimpleQueue(), ctx.Barrier(a.procs)
        ps = [ctx.Process(target=run_child, args=(a, j * per, per, barrier, q)) for j in range(a.procs)]
        for x in ps:
            x.start()
        results = [q.get() for _ in ps]
        for x in ps:
            x.join()
        failed = [r for r in results if isinstance(r, str)]
        if failed:
            print(json.dumps({"error": failed[0]}))
            return 1
    frames = sum(r[0] for r in results)
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    fps = frames / seconds
    print(json.dumps({
        "game": a.game, "envs": a.envs, "procs": a.procs, "steps": a.steps, "repeat": a.repeat, "sticky": a.sticky,
        "frames": frames, "resets": sum(r[1] for r in results), "seconds": seconds,
        "cpu_seconds": sum(r[4] for r in results),
        "frames_per_second": fps, "frames_per_second_per_env": fps / a.envs,
        "ale_py": getattr(ale_py, "__version__", "?"), "python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
