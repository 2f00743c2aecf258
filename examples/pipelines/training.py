"""A real training pipeline: a linear classifier on scikit-learn's digits."""

from __future__ import annotations

import json

from uniflow import pipeline, run_folder, step


@step
def load(seed: int) -> tuple:
    """Load the 8x8 handwritten digits bundled with scikit-learn and split them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data,
        digits.target,
        test_size=0.25,
        random_state=seed,
        stratify=digits.target,
    )
    print(f"loaded {len(digits.data)} images: {len(x_train)} train, {len(x_test)} test")
    return x_train, x_test, y_train, y_test


@step
def train(x_train, y_train, learning_rate: float, epochs: int, seed: int):
    """Fit a scaled SGD classifier, one pass over the data per epoch."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    x = scaler.transform(x_train)
    model = SGDClassifier(
        loss="log_loss",
        learning_rate="constant",
        eta0=learning_rate,
        random_state=seed,
    )
    classes = np.unique(y_train)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        model.partial_fit(x[order], y_train[order], classes=classes)
        accuracy = model.score(x, y_train)
        print(f"epoch {epoch}/{epochs}: train accuracy {accuracy:.4f}", flush=True)
    return scaler, model


@step
def evaluate(scaler, model, x_test, y_test) -> dict:
    """Measure accuracy on the held-out split and write it as metrics.json."""
    accuracy = float(model.score(scaler.transform(x_test), y_test))
    metrics = {"accuracy": accuracy, "test_samples": int(len(y_test))}
    (run_folder() / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"held-out accuracy: {accuracy:.4f}")
    return metrics


@pipeline
def training_pipeline(learning_rate: float = 0.01, epochs: int = 20, seed: int = 0):
    """Train a digit classifier and report its held-out accuracy."""
    x_train, x_test, y_train, y_test = load(seed)
    scaler, model = train(x_train, y_train, learning_rate, epochs, seed)
    return evaluate(scaler, model, x_test, y_test)
