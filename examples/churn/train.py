"""Trains a logistic regression (plain Python, gradient descent) on the features; reports AUC and the model's path."""
import argparse, csv, json, math, os

parser = argparse.ArgumentParser()
parser.add_argument("--features", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--epochs", type=int, default=200)
parser.add_argument("--learning-rate", type=float, default=0.1)
args = parser.parse_args()

with open(args.features) as f:
    rows = list(csv.DictReader(f))
if not rows:
    raise SystemExit(f"no rows in {args.features}: run the churn_features DAG first")
names = ["recency", "frequency", "monetary"]
raw = [[float(r[n]) for n in names] for r in rows]
labels = [int(r["churned"]) for r in rows]
means = [sum(col) / len(col) for col in zip(*raw)]
stds = [max(1e-9, math.sqrt(sum((x - m) ** 2 for x in col) / len(col))) for col, m in zip(zip(*raw), means)]
data = [[(x - m) / s for x, m, s in zip(row, means, stds)] for row in raw]

weights, bias = [0.0] * len(names), 0.0
for _ in range(args.epochs):
    grad_w, grad_b = [0.0] * len(names), 0.0
    for x, y in zip(data, labels):
        p = 1 / (1 + math.exp(-(sum(w * v for w, v in zip(weights, x)) + bias)))
        for i, v in enumerate(x):
            grad_w[i] += (p - y) * v
        grad_b += p - y
    weights = [w - args.learning_rate * g / len(data) for w, g in zip(weights, grad_w)]
    bias -= args.learning_rate * grad_b / len(data)

scores = [sum(w * v for w, v in zip(weights, x)) + bias for x in data]
pos = [s for s, y in zip(scores, labels) if y == 1]
neg = [s for s, y in zip(scores, labels) if y == 0]
auc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / max(1, len(pos) * len(neg))

os.makedirs(os.path.dirname(args.model) or ".", exist_ok=True)
with open(args.model, "w") as f:
    json.dump({"features": names, "means": means, "stds": stds, "weights": weights, "bias": bias}, f, indent=2)
with open(os.environ.get("SLUICE_OUTPUT", os.devnull), "a") as out:
    out.write(f"metric.auc={auc:.4f}\nauc={auc:.4f}\nmodel_uri=file://{os.path.abspath(args.model)}\n")
print(f"trained on {len(rows)} customers: AUC {auc:.3f}, model in {args.model}")
