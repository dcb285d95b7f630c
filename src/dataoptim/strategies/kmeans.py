"""Strategy ``kmeans``: k-means over image embeddings, the budget split equally over the clusters (coverage).

Needs: ``embed`` (``embedding``). Option ``clusters`` (default: about ``sqrt(budget)``, at least 2).
Paper: COINCIDE (Lee et al. 2024, "Concept-skill Transferability-based Data Selection for
Large Vision-Language Models"): cluster the pool and sample across clusters; this keeps the
coverage part (equal quotas, a uniform draw inside each cluster), not its transferability weights.
"""

NAME = "kmeans"
PAPER = "Lee et al. 2024, 'COINCIDE' (cluster-wise coverage)"
NEEDS = ("embed",)
DESCRIPTION = "equal quotas over k-means clusters of image embeddings"
OPTIONS = {"clusters": None}


def run(selection, budget, *, seed=0, clusters=None):
    import math

    k = int(clusters) if clusters else max(2, int(math.sqrt(max(budget, 1))))
    return selection.kmeans(budget, clusters=k, column="embedding", seed=seed)
