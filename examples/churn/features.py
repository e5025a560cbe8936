"""Turns one brand's transactions into per-customer features: recency, frequency, monetary value, churn label."""
import argparse, csv, os
from collections import defaultdict

parser = argparse.ArgumentParser()
parser.add_argument("--brand", required=True)
parser.add_argument("--days", type=int, default=90, help="lookback window for the features")
parser.add_argument("--transactions", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

HORIZON = 180          # days of history in the data
LABEL_WINDOW = 30      # a customer with no visit in the last 30 days has churned
cutoff = HORIZON - LABEL_WINDOW
visits = defaultdict(list)
with open(args.transactions) as f:
    for row in csv.DictReader(f):
        visits[row["customer"]].append((int(row["day"]), float(row["amount"])))

os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
with open(args.out, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["customer", "brand", "recency", "frequency", "monetary", "churned"])
    for customer, rows in sorted(visits.items()):
        window = [(d, a) for d, a in rows if cutoff - args.days <= d < cutoff]
        if not window:
            continue
        recency = cutoff - max(d for d, _ in window)
        churned = int(not any(d >= cutoff for d, _ in rows))
        writer.writerow([customer, args.brand, recency, len(window), round(sum(a for _, a in window), 2), churned])
print(f"features for {args.brand}: {args.out}")
