#!/usr/bin/env python3
"""Reference for `dqnfun-bench atari-compare`: DQN on an Atari game in the style of CleanRL's dqn_atari.py, in
PyTorch eager, straight on ale_py (no bridge), with the settings of Dqn.Fun's `dopamine` preset (Castro et al.
2018): sticky actions 0.25, frame skip 4 with the max of the last two RGB screens, grayscale (OpenCV's RGB2GRAY
integer weights), 84x84 area resize, 4-frame stacks, clipped rewards, no life-loss terminals, the Nature CNN,
Adam (lr 6.25e-5, eps 1.5e-4), Huber loss, batch 32, an update every 4 agent steps, the target synced every 8000
agent steps, epsilon 1 -> 0.01 over 250k agent steps, gamma 0.99.

The resize is the separable area average as two float32 matrix products (cv2 is not needed); the replay keeps the
stacks of s and s' as CleanRL's does. Prints one JSON object: frames, agent steps, updates, seconds of the
training loop and frames per second. Needs ale_py, numpy and torch.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def area_matrix(source, target):
    """[target, source] weights of OpenCV's INTER_AREA along one axis (each row sums to 1)."""
    scale = source / target
    m = np.zeros((target, source), np.float32)
    for d in range(target):
        f1, f2 = d * scale, (d + 1) * scale
        for s in range(int(np.floor(f1)), min(int(np.ceil(f2)), source)):
            m[d, s] = (min(f2, s + 1) - max(f1, s)) / scale
    return m


def nature_cnn(actions):
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
        nn.Linear(512, actions))


class Atari:
    """One ALE game with the dopamine preset's preprocessing."""

    def __init__(self, rom, seed, sticky):
        import ale_py

        ale = ale_py.ALEInterface()
        ale.setLoggerMode(ale_py.LoggerMode.Error)
        ale.setInt("random_seed", seed)
        ale.setFloat("repeat_action_probability", sticky)
        ale.setInt("frame_skip", 1)
        ale.setBool("color_averaging", False)
        ale.setInt("max_num_frames_per_episode", 108_000)
        ale.loadROM(rom)
        self.ale = ale
        self.actions = ale.getMinimalActionSet()
        self.screens = np.zeros((2, 210, 160, 3), np.uint8)
        self.wy, self.wx = area_matrix(210, 84), area_matrix(160, 84).T.copy()
        self.stack = np.zeros((4, 84, 84), np.uint8)

    def frame(self):
        rgb = np.maximum(self.screens[0], self.screens[1]).astype(np.uint32)
        gray = ((rgb[..., 0] * 4899 + rgb[..., 1] * 9617 + rgb[..., 2] * 1868 + 8192) >> 14).astype(np.float32)
        return np.clip(np.rint(self.wy @ gray @ self.wx), 0, 255).astype(np.uint8)

    def reset(self):
        self.ale.reset_game()
        self.ale.getScreenRGB(self.screens[1])
        self.screens[0] = self.screens[1]
        self.stack[:] = self.frame()
        return self.stack.copy()

    def step(self, index):
        a = self.actions[index]
        reward, frames = 0, 0
        for f in range(4):
            reward += self.ale.act(a)
            frames += 1
            over = self.ale.game_over()
            if f == 3 or over:
                self.ale.getScreenRGB(self.screens[1])
            elif f == 2:
                self.ale.getScreenRGB(self.screens[0])
            if over:
                break
        if frames < 4:
            self.screens[0] = self.screens[1]
        self.stack[:-1] = self.stack[1:]
        self.stack[-1] = self.frame()
        return self.stack.copy(), reward, over, frames


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rom", required=True)
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--learning-starts", type=int, default=500)
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps PyTorch's default")
    p.add_argument("--sticky", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    env = Atari(a.rom, a.seed, a.sticky)
    n_actions = len(env.actions)
    q, q_target = nature_cnn(n_actions), nature_cnn(n_actions)
    q_target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=6.25e-5, eps=1.5e-4)
    capacity = min(a.buffer_size, a.frames // 4 + 1)
    obs_buf = np.zeros((capacity, 4, 84, 84), np.uint8)
    next_buf = np.zeros((capacity, 4, 84, 84), np.uint8)
    act_buf = np.zeros(capacity, np.int64)
    rew_buf = np.zeros(capacity, np.float32)
    done_buf = np.zeros(capacity, np.float32)
    count = pos = 0
    obs = env.reset()
    frames = steps = updates = 0
    t0 = time.perf_counter()
    while frames < a.frames:
        epsilon = max(0.01, 1.0 - steps * (0.99 / 250_000))
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q(torch.from_numpy(obs).unsqueeze(0).float() / 255.0).argmax(1).item())
        next_obs, reward, over, f = env.step(action)
        frames += f
        steps += 1
        obs_buf[pos], next_buf[pos], act_buf[pos] = obs, next_obs, action
        rew_buf[pos], done_buf[pos] = np.sign(reward), float(over)
        pos, count = (pos + 1) % capacity, min(count + 1, capacity)
        obs = env.reset() if over else next_obs
        if steps > a.learning_starts and steps % 4 == 0 and count >= 32:
            i = rng.integers(0, count, size=32)
            s = torch.from_numpy(obs_buf[i]).float() / 255.0
            s2 = torch.from_numpy(next_buf[i]).float() / 255.0
            r, d = torch.from_numpy(rew_buf[i]), torch.from_numpy(done_buf[i])
            with torch.no_grad():
                y = r + 0.99 * (1.0 - d) * q_target(s2).max(1).values
            q_sa = q(s).gather(1, torch.from_numpy(act_buf[i]).unsqueeze(1)).squeeze(1)
            loss = F.huber_loss(q_sa, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
        if steps % 8000 == 0:
            q_target.load_state_dict(q.state_dict())
    seconds = time.perf_counter() - t0
    print(json.dumps({"frames": frames, "agent_steps": steps, "updates": updates, "seconds": seconds,
                      "frames_per_second": frames / seconds, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
