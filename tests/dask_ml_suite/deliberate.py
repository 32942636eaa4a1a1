"""dask-ml's tests that fail on scaleml by design: each expected to fail (strict), with the reason.

Keys are test ids relative to this folder (a parametrized id names one case, a bare
name every case). The README's dask-ml table and docs/guide/dask-ml.md list them.
"""

EXTRA_ATTRS = ("scaleml's blocked estimators keep fitted attributes scikit-learn's lack (n_passes_: passes "
               "over the data; svd_solver_/init_used_: the route taken; target_column_: the lazy target "
               "column), so an attribute-by-attribute comparison with scikit-learn's sees more names")
EXACT = ("scaleml's PCA/TruncatedSVD are exact for every svd_solver: 'randomized' and 'arpack' are accepted "
         "and give the exact routes, so what dask-ml's randomized solver refused is fitted")
MORE_INPUTS = "scaleml's PCA takes what dask-ml refused (NumPy, pandas, sparse; unknown chunk sizes; a fraction n_components)"
SKLEARN_MESSAGE = "scaleml raises scikit-learn's error message, not dask-ml's wording"

DELIBERATE = {
    "test_dml_kmeans.py::TestKMeans::test_basic": EXTRA_ATTRS,
    "test_dml_pca.py::test_basic": EXTRA_ATTRS,
    "test_dml_svd.py::test_basic": EXTRA_ATTRS,
    "test_dml_pca.py::test_pca_randomized_solver": EXACT + " (PCA(0, svd_solver='randomized') fits, as the full solver's)",
    "test_dml_svd.py::test_too_many_components": (
        "n_components == n_features is allowed, as scikit-learn's default (randomized) TruncatedSVD allows it; "
        "dask-ml refused it"),
    "test_dml_pca.py::test_fractional_n_components": MORE_INPUTS,
    "test_dml_pca.py::test_unknown_shapes[fit-auto]": MORE_INPUTS,
    "test_dml_pca.py::test_unknown_shapes[fit_transform-auto]": MORE_INPUTS,
    "test_dml_pca.py::test_pca_sklearn_inputs": MORE_INPUTS,
    "test_dml_pca.py::test_unknown_shapes_n_components_larger_than_num_rows": SKLEARN_MESSAGE,
}
