#!/bin/sh
# Writes N rows of a fake table to out/NAME.csv.
set -eu
name=$1
rows=$2
mkdir -p out
i=1
{
  echo "id,name"
  while [ "$i" -le "$rows" ]; do
    echo "$i,$name-$i"
    i=$((i + 1))
  done
} > "out/$name.csv"
echo "extracted $rows $name rows to out/$name.csv"
