#!/usr/bin/env python3
"""Reference run for `dqnfun-bench compare`: the same DQN algorithm and update as Dqn.Fun's Agent.Learn,
written the way a PyTorch user would (CleanRL style, PyTorch eager), on a pure-Python CartPole-v1 with
Gymnasium's dynamics. Prints one JSON object with the measured throughput.

Only PyTorch and NumPy are needed (Debian: python3-torch, which links the same libtorch 1.13 that the
Dqn.Fun shim uses). Every hyperparameter is a flag so the bench can pass exactly the values it used.
"""
import argparse
import json
import math
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class CartPole:
    """CartPole-v1 with Gymnasium's constants, Euler integration, 12 degree / 2.4 m limits, 500-step cut."""

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_limit = 12 * 2 * math.pi / 360
    x_limit = 2.4

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.state = None
        self.t = 0

    def reset(self):
        self.state = tuple(float(v) for v in self.rng.uniform(-0.05, 0.05, size=4))
        self.t = 0
        return np.array(self.state, dtype=np.float32)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * sin) / self.total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / self.total_mass))
        x_acc = temp - self.polemass_length * theta_acc * cos / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * x_acc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * theta_acc
        self.state = (x, x_dot, theta, theta_dot)
        self.t += 1
        terminated = abs(x) > self.x_limit or abs(theta) > self.theta_limit
        truncated = self.t >= 500
        return np.array(self.state, dtype=np.float32), 1.0, terminated, truncated


class Replay:
    def __init__(self, capacity, obs_size, seed):
        self.obs = np.zeros((capacity, obs_size), np.float32)
        self.next_obs = np.zeros((capacity, obs_size), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.capacity, self.pos, self.count = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, o, a, r, o2, term):
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.terminated[i] = o, a, r, o2, term
        self.pos = (i + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def sample(self, n):
        idx = self.rng.integers(0, self.count, size=n)
        return (torch.from_numpy(self.obs[idx]), torch.from_numpy(self.actions[idx]),
                torch.from_numpy(self.rewards[idx]), torch.from_numpy(self.next_obs[idx]),
                torch.from_numpy(self.terminated[idx]))


def mlp(obs_size, hidden, actions):
    layers, width = [], obs_size
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, actions))
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=30000, help="agent steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--hidden", type=str, default="128,128")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--adam-eps", type=float, default=1e-8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--buffer-size", type=int, default=100000)
    p.add_argument("--learning-starts", type=int, default=1000, help="agent steps before updates")
    p.add_argument("--train-frequency", type=int, default=1, help="agent steps between training rounds")
    p.add_argument("--gradient-steps", type=int, default=1, help="updates per training round")
    p.add_argument("--target-update-interval", type=int, default=100, help="updates between target syncs")
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--eps-start", type=float, default=1.0)
    p.add_argument("--eps-end", type=float, default=0.04)
    p.add_argument("--eps-steps", type=int, default=5000, help="agent steps of the linear decay")
    p.add_argument("--max-grad-norm", type=float, default=10.0)
    p.add_argument("--loss", choices=["huber", "mse"], default="mse")
    p.add_argument("--double", action="store_true")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    env = CartPole(a.seed)
    hidden = [int(h) for h in a.hidden.split(",") if h]
    q = mlp(4, hidden, 2)
    q_target = mlp(4, hidden, 2)
    q_target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=a.lr, eps=a.adam_eps)
    rb = Replay(a.buffer_size, 4, a.seed)

    obs = env.reset()
    episodes, ep_return, returns, updates = 0, 0.0, [], 0
    start = time.perf_counter()
    for step in range(a.steps):
        eps = a.eps_start + (a.eps_end - a.eps_start) * min(1.0, step / a.eps_steps)
        if random.random() < eps:
            action = random.randrange(2)
        else:
            with torch.no_grad():
                action = int(q(torch.from_numpy(obs).unsqueeze(0)).argmax())
        next_obs, reward, terminated, truncated = env.step(action)
        rb.add(obs, action, reward, next_obs, terminated)
        ep_return += reward
        obs = next_obs
        done_steps = step + 1
        if done_steps > a.learning_starts and done_steps % a.train_frequency == 0:
            for _ in range(a.gradient_steps):
                s, act, r, s2, term = rb.sample(a.batch_size)
                with torch.no_grad():
                    next_q = q_target(s2)
                    if a.double:
                        best = q(s2).argmax(1, keepdim=True)
                        next_v = next_q.gather(1, best).squeeze(1)
                    else:
                        next_v = next_q.max(1).values
                    y = r + a.gamma * (1.0 - term) * next_v
                q_sa = q(s).gather(1, act.unsqueeze(1)).squeeze(1)
                loss = F.huber_loss(q_sa, y) if a.loss == "huber" else F.mse_loss(q_sa, y)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q.parameters(), a.max_grad_norm)
                opt.step()
                loss_value, mean_q = loss.item(), q_sa.detach().mean().item()
                updates += 1
                if updates % a.target_update_interval == 0:
                    with torch.no_grad():
                        for tp, op in zip(q_target.parameters(), q.parameters()):
                            tp.copy_(op) if a.tau == 1.0 else tp.lerp_(op, a.tau)
        if terminated or truncated:
            episodes += 1
            returns.append(ep_return)
            ep_return = 0.0
            obs = env.reset()
    wall = time.perf_counter() - start
    print(json.dumps({
        "implementation": "pytorch-eager", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "steps": a.steps, "updates": updates, "episodes": episodes, "wall_seconds": wall,
        "steps_per_second": a.steps / wall, "updates_per_second": updates / wall,
        "last_10_mean_return": float(np.mean(returns[-10:])) if returns else None,
    }))


if __name__ == "__main__":
    main()
