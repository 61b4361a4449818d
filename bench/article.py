#!/usr/bin/env python3
"""The founding article's script, as a peer for the whole-program benchmark: the cannon
data (np.random.seed(0), 1000 shots), then the four approaches with the article's
settings — nearest neighbour, linear regression by SGD (lr 0.01, 500 epochs), the MLP
2-256-256-1 sigmoid with Adam (lr 0.01, 1000 epochs, full batch) and the six basis
functions fitted by Adam (lr 0.1, 5000 epochs) — each evaluated on the data and on
v in U(10, 20), with the predictions at the two probes printed.
"""
import numpy as np
import torch


def main():
    np.random.seed(0)
    n = 1000
    v = np.random.uniform(0, 10, n)
    theta = np.random.uniform(0, np.pi / 2, n)
    s = np.clip(v**2 * np.sin(2 * theta) / 9.81 + 0.01 * np.random.randn(n), 0, None)
    v_far = np.random.uniform(10, 20, n)
    theta_far = np.random.uniform(0, np.pi / 2, n)
    s_far = v_far**2 * np.sin(2 * theta_far) / 9.81
    x = np.stack([v, theta], axis=1)
    x_far = np.stack([v_far, theta_far], axis=1)
    probes = np.array([[4.0, 1.2], [20.0, 0.85]])

    def nearest(points):
        distances = ((points[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
        return s[distances.argmin(axis=1)]

    def train(model, inputs, lr, epochs, optimizer):
        data = torch.tensor(inputs, dtype=torch.float32)
        target = torch.tensor(s[:, None], dtype=torch.float32)
        step = optimizer(model.parameters(), lr=lr)
        loss_function = torch.nn.MSELoss()
        for _ in range(epochs):
            step.zero_grad()
            loss = loss_function(model(data), target)
            loss.backward()
            step.step()
        return lambda points: model(torch.tensor(points, dtype=torch.float32)).detach().numpy()[:, 0]

    def features(points):
        pv, pt = points[:, 0], points[:, 1]
        return np.stack([pv, pv**2, pv * np.sin(pt), pv * np.sin(2 * pt), pv**2 * np.sin(pt),
                         pv**2 * np.sin(2 * pt)], axis=1)

    torch.manual_seed(0)
    models = {
        "nearest": nearest,
        "linear": train(torch.nn.Linear(2, 1), x, 0.01, 500, torch.optim.SGD),
        "mlp": train(torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.Sigmoid(), torch.nn.Linear(256, 256),
                                         torch.nn.Sigmoid(), torch.nn.Linear(256, 1)), x, 0.01, 1000,
                     torch.optim.Adam),
    }
    basis = train(torch.nn.Linear(6, 1, bias=False), features(x), 0.1, 5000, torch.optim.Adam)
    models["basis"] = lambda points: basis(features(points))
    for name, predict in models.items():
        mse = ((predict(x) - s) ** 2).mean()
        far = ((predict(x_far) - s_far) ** 2).mean()
        print("%-8s mse %.4g  far mse %.4g  probes %s" % (name, mse, far, np.round(predict(probes), 3)))


if __name__ == "__main__":
    main()
