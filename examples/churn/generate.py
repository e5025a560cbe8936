"""Writes a small synthetic transactions file for one brand: customer,day,amount (deterministic per brand)."""
import argparse, csv, os, random, zlib

parser = argparse.ArgumentParser()
parser.add_argument("--brand", required=True)
parser.add_argument("--customers", type=int, default=300)
parser.add_argument("--out", required=True)
args = parser.parse_args()

rng = random.Random(zlib.crc32(args.brand.encode()))
os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
with open(args.out, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["customer", "day", "amount"])
    for customer in range(args.customers):
        loyal = rng.random() < 0.6
        visits = rng.randint(5, 40) if loyal else rng.randint(0, 8)
        for _ in range(visits):
            day = rng.randint(0, 179) if loyal else rng.randint(0, 179 - rng.randint(0, 150))
            writer.writerow([f"{args.brand}-{customer}", day, round(rng.uniform(2, 80 if loyal else 40), 2)])
print(f"wrote transactions for {args.brand} to {args.out}")
