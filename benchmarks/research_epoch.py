"""The research code's whole process for one epoch, as it ran before mftctl: import torch and scikit-learn,
a per-sample Dataset behind a DataLoader, Adam on the dense loss, the evaluation pass, its lightweight blob
metrics (DBSCAN and silhouette on the (encoder, decoder) rows) and a checkpoint of model and optimizer.
Standalone on purpose (it imports nothing of mftctl): `benchmarks/whole_process.py` times it as a fresh
process beside `mftctl train`.

    python benchmarks/research_epoch.py '{"d": 1024, "h": 512, ...}' OUT_FOLDER
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
from sklearn.cluster import DBSCAN
from sklearn.metrics import silhouette_score
from torch.utils.data import DataLoader, Dataset


class TwoHotDataset(Dataset):
    def __init__(self, size: int, d: int, noise_variance: float, amplitude: float):
        self.size, self.d, self.noise_std, self.amplitude = size, d, math.sqrt(noise_variance), amplitude

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        clean = torch.zeros(self.d)
        clean[torch.randperm(self.d)[:2]] = self.amplitude
        return clean + self.noise_std * torch.randn(self.d), clean


class TwoLayerNet(nn.Module):
    def __init__(self, d: int, h: int, enc_scale: float, dec_scale: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, h, bias=False), nn.Linear(h, d, bias=False)
        nn.init.xavier_normal_(self.fc1.weight)
        nn.init.xavier_normal_(self.fc2.weight)
        with torch.no_grad():
            self.fc1.weight.mul_(enc_scale)
            self.fc2.weight.mul_(dec_scale)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)) ** 3)


def scaled_mse(pred, clean, lambda_on: float):
    on = (clean != 0).float()
    return lambda_on * (((pred - clean) * on) ** 2).sum(1).mean() + ((pred * (1 - on)) ** 2).sum(1).mean()


def blob_metrics(model: TwoLayerNet) -> dict:
    enc, dec = model.fc1.weight.data, model.fc2.weight.data
    points = torch.cat([enc, dec.T], dim=1).numpy()  # one 2d-dimensional point per hidden unit
    labels = DBSCAN(eps=0.5, min_samples=5).fit(points).labels_
    n = len(set(labels)) - (1 if -1 in labels else 0)
    correlation = torch.corrcoef(torch.stack([enc.flatten(), dec.T.flatten()]))[0, 1].item()
    return {
        "n_clusters_dbscan": n,
        "silhouette_score": float(silhouette_score(points, labels)) if n >= 2 else None,
        "weight_correlation": correlation,
    }


def main() -> None:
    c, out = json.loads(sys.argv[1]), Path(sys.argv[2])
    torch.manual_seed(c["seed"])
    model = TwoLayerNet(c["d"], c["h"], c["enc_scale"], c["dec_scale"])
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
    train = DataLoader(TwoHotDataset(c["n_train"], c["d"], c["noise_variance"], c["amplitude"]), c["batch"], True)
    test = DataLoader(TwoHotDataset(c["n_test"], c["d"], c["noise_variance"], c["amplitude"]), c["batch"])
    for noisy, clean in train:
        opt.zero_grad()
        loss = scaled_mse(model(noisy), clean, c["lambda_on"]) + c["dec_reg"] * model.fc2.weight.square().sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        test_loss = sum(scaled_mse(model(x), y, c["lambda_on"]).item() for x, y in test) / len(test)
    metrics = blob_metrics(model)
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, out / "checkpoint_epoch_1.pt")
    (out / "results.json").write_text(json.dumps({"test_loss": test_loss, "diagnostics": metrics}))


if __name__ == "__main__":
    main()
