"""Published target accuracies, quoted as printed in the papers, per protocol.

protocol → table (paper) → method (our model name) → target test accuracy (%). The bench and
the report set these beside our own numbers; note that TLlib selects checkpoints on target test
labels, which our honest number never does.
"""

from __future__ import annotations

PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "mnist-usps-adda": {
        "ADDA paper (Tzeng et al. 2017)": {"source_only": 75.2, "dann": 77.1, "adda": 89.4},
        "CyCADA paper (Hoffman et al. 2018)": {
            "source_only": 82.2,
            "adda": 89.4,
            "cyclegan+adda": 95.6,
        },
        "TLlib (selects on target test labels)": {"dann": 91.7, "adda": 94.5},
    },
    "usps-mnist-adda": {
        "ADDA paper (Tzeng et al. 2017)": {"source_only": 57.1, "dann": 73.0, "adda": 90.1},
        "CyCADA paper (Hoffman et al. 2018)": {
            "source_only": 69.6,
            "adda": 90.1,
            "cyclegan+adda": 96.5,
        },
        "TLlib (selects on target test labels)": {"dann": 95.2, "adda": 98.3},
    },
    "mnist5k-mnistm": {
        "DANN paper (Ganin & Lempitsky 2015, full MNIST)": {"source_only": 52.25, "dann": 76.66},
    },
}
