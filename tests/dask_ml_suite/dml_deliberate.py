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

READ_ONLY = ("a Scaled model's fitted attributes read through to its fitted scikit-learn estimator and are "
             "read-only (set them on model.estimator_); dask-ml's estimators held them as their own")
NAMES_ON_SCALED = ("a model fitted on a Dask DataFrame by the dask-ml backend keeps the column names in Scaled's "
                   "feature_columns_ (checked at every later call), not in the scikit-learn estimator's "
                   "feature_names_in_: blocks reach the estimator as arrays")
SKLEARN_ORDINAL = ("dask-ml's OrdinalEncoder encoded a DataFrame's categorical columns into codes, DataFrame in and "
                   "out; scaleml's equivalent is scikit-learn's OrdinalEncoder (every column, an array out, "
                   "scikit-learn's feature-name errors)")
PANDAS3 = "pandas 3 stores text as its 'str' dtype, not object: the test predates pandas 3 (dask-ml fails it too)"

SKLEARN_OUTPUT = ("scikit-learn's OneHotEncoder gives an array or sparse matrix for a DataFrame too (a DataFrame with "
                  "set_output(transform='pandas')); dask-ml's returned a DataFrame")
SKLEARN_ENCODER = ("scikit-learn's OneHotEncoder takes what dask-ml's refused (handle_unknown='ignore', drop=, "
                   "non-categorical columns), with scikit-learn's own errors and messages")
NO_LABEL_ENCODER = ("scaleml has no lazy LabelEncoder: scikit-learn's LabelEncoder encodes a target in memory, and "
                    "Scaled fits 2-d X (a 1-d Dask array is refused, naming the fix); scaleml's estimators take "
                    "lazy targets as they are")

PARTS_GET_PANDAS = ("the dask-ml backend gives a ColumnTransformer's parts pandas blocks (and fits it on them), "
                    "not the Dask DataFrame: a part calling Dask's map_partitions has none")

SPLIT_INDICES = ("scaleml's KFold/ShuffleSplit.split are scikit-learn's (NumPy indices, scikit-learn's checks); "
                 "lazy data is split by split_arrays(X, y), which gives the blocks' rows, not Dask index arrays")
SPLIT_OWN = ("scaleml's train_test_split on lazy data keeps scikit-learn's defaults (test_size=0.25) and its own "
             "refusals with the way forward (shuffle=False, absolute sizes); drawn rows keep their order in a block")

SKLEARN_ERROR_SCORE = ("scikit-learn's searches default to error_score=nan (a failing fit warns with FitFailedWarning "
                       "and scores nan); dask-ml's defaulted to 'raise'")
SKLEARN_SEARCH = ("scikit-learn's searches take whole steps and transformer lists as parameters (a pipeline's "
                  "'steps'); dask-ml's refused them with NotImplementedError")

DELIBERATE = {
    "test_dml_model_selection_search.py::test_grid_search_dask_inputs": (
        "fit parameters (groups=) with a lazy X are refused by the dask-ml backend (pass them with in-memory "
        "data); dask.delayed inputs are computed and NumPy/Dask mixes of X and y are taken"),
    "test_dml_model_selection_search.py::test_feature_union_fit_failure": SKLEARN_ERROR_SCORE,
    "test_dml_model_selection_search.py::test_feature_union_fit_failure_multiple_metrics": SKLEARN_ERROR_SCORE,
    "test_dml_model_selection_search.py::test_failing_classifier_fails": SKLEARN_ERROR_SCORE,
    "test_dml_model_selection_search.py::test_pipeline_fit_failure": SKLEARN_ERROR_SCORE,
    "test_dml_model_selection_search.py::test_pipeline_raises": SKLEARN_SEARCH,
    "test_dml_model_selection_search.py::test_feature_union_raises": SKLEARN_SEARCH,
    "test_dml_linear_model_glm.py::test_poisson_fit": (
        "scaleml's PoissonRegressor has scikit-learn's methods (score is D², the deviance explained); "
        "dask-ml's get_deviance is not one of them"),
    "test_dml_linear_model_glm.py::test_dataframe_warns_about_chunks": (
        "scaleml's GLMs take Dask DataFrames (and Parquet/CSV paths) as they are; dask-ml refused them"),
    "test_dml_linear_model_glm.py::test_model_coef_dask_numpy[LogisticRegression-single_chunk_classification]": (
        "scaleml's LogisticRegression has scikit-learn's shapes (coef_ (1, n_features), intercept_ (1,) for two "
        "classes), so the test's np.hstack of the two fails; dask-ml's were 1-d"),
    "test_dml_model_selection_split.py::test_blockwise_shufflesplit": SPLIT_INDICES,
    "test_dml_model_selection_split.py::test_kfold": SPLIT_INDICES,
    "test_dml_model_selection_split.py::test_train_test_split": SPLIT_OWN,
    "test_dml_model_selection_split.py::test_train_test_split_shuffle_array": SPLIT_OWN,
    "test_dml_model_selection_split.py::test_train_test_split_shuffle_dataframe": SPLIT_OWN,
    "test_dml_model_selection_split.py::test_absolute_raises": SPLIT_OWN,
    "test_dml_compose.py::test_column_transformer": (
        "pytest 8 refuses the test's pytest.warns(None) (it predates pytest 8); past it, the transform is "
        "scikit-learn's output, a lazy Dask array, not dask-ml's Dask DataFrame"),
    "test_dml_compose.py::test_column_transformer_unk_chunksize": PARTS_GET_PANDAS,
    "test_dml_compose.py::test_sklearn_col_trans_disallows_hstack_then_block": PARTS_GET_PANDAS,
    "test_dml_preprocessing_encoders.py::test_basic_dataframe": SKLEARN_OUTPUT,
    "test_dml_preprocessing_encoders.py::test_invalid_handle_input": SKLEARN_ENCODER,
    "test_dml_preprocessing_encoders.py::test_onehotencoder_drop_raises": SKLEARN_ENCODER,
    "test_dml_preprocessing_encoders.py::test_dataframe_requires_all_categorical": SKLEARN_ENCODER,
    "test_dml_preprocessing_encoders.py::test_unknown_category_transform": SKLEARN_ENCODER,
    "test_dml_preprocessing_encoders.py::test_different_shape_raises": SKLEARN_ENCODER,
    "test_dml_preprocessing_encoders.py::test_unknown_category_transform_array": SKLEARN_ENCODER,
    "test_dml_preprocessing_label.py::TestLabelEncoder": NO_LABEL_ENCODER,
    "test_dml_preprocessing_data.py::TestRobustScaler::test_transform": READ_ONLY,
    "test_dml_preprocessing_data.py::TestQuantileTransformer::test_basic": READ_ONLY,
    "test_dml_preprocessing_data.py::TestPolynomialFeatures::test_input_types": NAMES_ON_SCALED,
    "test_dml_preprocessing_data.py::TestOrdinalEncoder::test_basic": SKLEARN_ORDINAL,
    "test_dml_preprocessing_data.py::TestOrdinalEncoder::test_da": SKLEARN_ORDINAL,
    "test_dml_preprocessing_data.py::TestOrdinalEncoder::test_transform_raises": SKLEARN_ORDINAL,
    "test_dml_preprocessing_data.py::TestOrdinalEncoder::test_inverse_transform": SKLEARN_ORDINAL,
    "test_dml_preprocessing_data.py::TestCategorizer::test_columns": PANDAS3,
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

# Tests that cannot run here for a reason outside scaleml (skipped, with it).
SKIPPED = {
    "test_dml_preprocessing_label.py::TestLabelEncoder::test_input_types": (
        "its fixture fails on pandas 3: da.from_array of a pandas 'str' Series (Cannot interpret StringDtype)"),
}

# Tests over ~20 s on two busy cores (each starts a LocalCluster per search fit): marked slow.
SLOW = {
    "test_dml_model_selection_search.py::test_grid_search_dask_inputs",
    "test_dml_model_selection_search.py::test_grid_search_dask_dataframe",
}
