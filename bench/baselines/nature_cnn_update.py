#!/usr/bin/env python3
"""Reference for `dqnfun-bench cnn`: the Nature-CNN DQN update (Mnih et al. 2015) in PyTorch eager, batch of
uint8 frame stacks: target forward, online forward, Huber loss, backward, gradient clipping, optimizer step.
Prints one JSON object. Needs PyTorch and NumPy only."""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def nature_cnn(actions):
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
        nn.Linear(512, actions))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--updates", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--actions", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-grad-norm", type=float, default=10.0, help="0: no clipping")
    p.add_argument("--optimizer", choices=["adam", "rmsprop"], default="adam")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    q, q_target = nature_cnn(a.actions).to(dev), nature_cnn(a.actions).to(dev)
    q_target.load_state_dict(q.state_dict())
    opt = (torch.optim.Adam(q.parameters(), lr=6.25e-5, eps=1.5e-4) if a.optimizer == "adam"
           else torch.optim.RMSprop(q.parameters(), lr=2.5e-4, alpha=0.95, eps=0.01))
    rng = np.random.default_rng(0)
    b = a.batch_size
    obs = rng.integers(0, 256, size=(b, 4, 84, 84), dtype=np.uint8)
    next_obs = rng.integers(0, 256, size=(b, 4, 84, 84), dtype=np.uint8)
    actions = rng.integers(0, a.actions, size=b).astype(np.int64)
    rewards = rng.choice([-1.0, 0.0, 1.0], size=b).astype(np.float32)
    done = (rng.random(b) < 0.05).astype(np.float32)

    def update():
        s = torch.from_numpy(obs).to(dev).float() / 255.0
        s2 = torch.from_numpy(next_obs).to(dev).float() / 255.0
        act, r, d = torch.from_numpy(actions).to(dev), torch.from_numpy(rewards).to(dev), torch.from_numpy(done).to(dev)
        with torch.no_grad():
            y = r + 0.99 * (1.0 - d) * q_target(s2).max(1).values
        q_sa = q(s).gather(1, act.unsqueeze(1)).squeeze(1)
        loss = F.huber_loss(q_sa, y)
        opt.zero_grad()
        loss.backward()
        if a.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(q.parameters(), a.max_grad_norm)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        update()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(a.updates):
        update()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    print(json.dumps({"implementation": "pytorch-eager", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "updates": a.updates, "ms_per_update": 1000 * wall / a.updates,
                      "updates_per_second": a.updates / wall}))


if __name__ == "__main__":
    main()
