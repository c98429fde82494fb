#!/usr/bin/env bash
# `make demo`: a walk through the registry on the embedded default (a DuckDB file
# under .demo/home), using only the mlreg command line.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
demo="$PWD/.demo"
rm -rf "$demo" && mkdir -p "$demo"
export MLREG_HOME="$demo/home" MLREG_CONFIG="$demo/config.toml"

bold='' plain=''
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
# show each command as one would type it (a word with spaces or brackets in quotes)
shown() {
  local a out=""
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then out+=" $a"
    elif [[ $a != *[\'\"\$\`\\!]* ]]; then out+=" '$a'"
    elif [[ $a != *[\"\$\`\\!]* ]]; then out+=" \"$a\""
    else out+=" $(printf '%q' "$a")"; fi
  done
  printf '%s' "$out"
}
step() { printf '\n%s$%s%s\n' "$bold" "$(shown "$@")" "$plain" >&2; "$@"; }

python scripts/demo_train.py "$demo"
acc=$(cat "$demo/accuracy.txt")
cd "$demo"  # the files the commands name are here: model.pkl, sample.csv, customers.parquet

step mlreg create
step mlreg log model.pkl --name churn --version 1 \
  --description "Logistic regression on tenure and spend" \
  --sample-input sample.csv --tag stage=testing --tag owner=data-team \
  --metric accuracy="$acc"
step mlreg tag set churn 1 stage prod
step mlreg metric set churn 1 confusion_matrix '[[1650, 40], [55, 255]]'
step mlreg list --columns NAME,VERSION,TYPE,TAGS,METRICS
step mlreg deploy create churn 1 churn_v1
step mlreg predict churn_v1 --input customers.parquet --output scores.parquet
step mlreg sql "SELECT churn_v1(age, tenure_months, monthly_spend) AS churn, count(*) AS customers FROM 'customers.parquet' GROUP BY ALL ORDER BY churn"
step mlreg history churn 1 --format table
printf '\nThe registry is %s; look around with: MLREG_HOME=%s .venv/bin/mlreg list\n' "$MLREG_HOME/MODEL_REGISTRY.duckdb" "$MLREG_HOME" >&2
