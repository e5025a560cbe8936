"""Scores one brand's customers with the trained model: the churn probability per customer."""
import argparse, csv, json, math, os

parser = argparse.ArgumentParser()
parser.add_argument("--brand", required=True)
parser.add_argument("--model", required=True)
parser.add_argument("--features", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

with open(args.model) as f:
    model = json.load(f)
os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
count = 0
with open(args.features) as f, open(args.out, "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["customer", "churn_probability"])
    for row in csv.DictReader(f):
        if row["brand"] != args.brand:
            continue
        x = [(float(row[n]) - m) / s for n, m, s in zip(model["features"], model["means"], model["stds"])]
        z = sum(w * v for w, v in zip(model["weights"], x)) + model["bias"]
        writer.writerow([row["customer"], round(1 / (1 + math.exp(-z)), 4)])
        count += 1
print(f"scored {count} {args.brand} customers into {args.out}")
