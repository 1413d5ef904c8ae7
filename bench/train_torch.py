#!/usr/bin/env python3
"""train_torch.py: PyTorch's side of bench/train_bench.sh: the same MLP (nn.Linear
stack), data size, batch, optimiser and loop shape as bench/train_bench.c, timed the
same way (warm-up of 200 steps untimed, then whole epochs until the time is up,
each step reading its loss). Prints one line:
  torch cpu widths=<w> batch=<b> steps=<t> seconds=<s> samples_per_s=<r>
        cpu_seconds=<c> samples_per_cpu_s=<q> final_loss=<l>

  /usr/bin/python3 bench/train_torch.py [--widths 12,64,64,64,2] [--act relu]
      [--opt adam|sgd] [--batch 64] [--n 10000] [--seconds 3] [--threads 1]
Run it with OMP_WAIT_POLICY=PASSIVE and the same OPENBLAS_CORETYPE as nerve
(train_bench.sh does both).
"""
import argparse
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="12,64,64,64,2")
    ap.add_argument("--act", default="relu")
    ap.add_argument("--opt", default="adam")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    widths = [int(w) for w in a.widths.split(",")]
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
            "leaky_relu": torch.nn.LeakyReLU}
    layers = []
    for l in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[l], widths[l + 1]))
        if l < len(widths) - 2:
            layers.append(acts[a.act]())
    net = torch.nn.Sequential(*layers)
    x = torch.randn(a.n, widths[0])
    y = ((x[:, 0] * x[:, 1]) > 0).long() % widths[-1]
    if a.opt == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    per_epoch = a.n // a.batch
    steps, warm, t0, c0, loss_v = 0, 200, 0.0, 0.0, 0.0
    while True:
        perm = torch.randperm(a.n)
        for k in range(per_epoch):
            idx = perm[k * a.batch:(k + 1) * a.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            loss_v = loss.item()
            steps += 1
            if steps == warm:
                t0 = time.perf_counter()
                c0 = time.process_time()
        if steps > warm and time.perf_counter() - t0 >= a.seconds:
            break
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    timed = steps - warm
    print(f"torch cpu widths={a.widths} batch={a.batch} steps={timed} seconds={dt:.3f} "
          f"samples_per_s={timed * a.batch / dt:.0f} cpu_seconds={dc:.3f} "
          f"samples_per_cpu_s={timed * a.batch / dc:.0f} final_loss={loss_v:.4f}")


if __name__ == "__main__":
    main()
