"""Concatenates the brands' feature files into one training table."""
import argparse, csv

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("inputs", nargs="+")
args = parser.parse_args()
rows = 0
with open(args.out, "w", newline="") as out:
    writer = None
    for path in args.inputs:
        with open(path) as f:
            reader = csv.reader(f)
            header = next(reader)
            if writer is None:
                writer = csv.writer(out)
                writer.writerow(header)
            for row in reader:
                writer.writerow(row)
                rows += 1
print(f"{rows} customers in {args.out}")
