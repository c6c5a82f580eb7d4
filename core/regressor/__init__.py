"""The body regressor: network, crops, training on registrations, and prediction for new people."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["data", "network", "prediction", "training"],
    submod_attrs={
        "data": [
            "RegressorSamples", "crop_square", "crops_to_input", "fit_tensors", "samples_from_project", "splat_iuv"
        ],
        "network": [
            "BodyRegressor", "OUTPUT_SIZE", "RegressorConfig", "decode_raw", "find_imagenet_weights", "params_to_raw"
        ],
        "prediction": ["people_of_images", "predict_people"],
        "training": [
            "RegressorTrainingSettings", "augment_crops", "load_regressor", "predict", "regressor_losses",
            "save_regressor", "train_regressor"
        ],
    },
)
