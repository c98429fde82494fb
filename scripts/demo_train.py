"""Train a small churn classifier on synthetic data for `make demo`.

Writes the pickled model, a sample-input CSV (the features only) and a Parquet file
of customers to score."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1])
rng = np.random.default_rng(7)
n = 2000
X = pd.DataFrame({
    "age": rng.integers(18, 80, n).astype(float),
    "tenure_months": rng.integers(0, 120, n).astype(float),
    "monthly_spend": rng.gamma(2.0, 30.0, n).round(2),
})
logit = 0.04 * X.monthly_spend - 0.05 * X.tenure_months - 0.5 + rng.normal(0, 0.5, n)
y = (logit > 0).astype(int)  # churners: short tenure, high spend
model = LogisticRegression(max_iter=1000).fit(X, y)
accuracy = float((model.predict(X) == y).mean())

(out / "model.pkl").write_bytes(pickle.dumps(model))
X.head(20).to_csv(out / "sample.csv", index=False)
X.assign(customer_id=np.arange(n)).to_parquet(out / "customers.parquet", index=False)
(out / "accuracy.txt").write_text(f"{accuracy:.4f}\n")
print(f"trained LogisticRegression on {n} rows, accuracy {accuracy:.3f}", file=sys.stderr)
