"""The body regressor: network, crops, training on registrations, and prediction for new people."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["augment", "backbones", "data", "encoders", "inputs", "network", "prediction", "training"],
    submod_attrs={
        "augment": ["augment_batch", "draw_augmentation", "mirror_tables"],
        "backbones": ["BACKBONES", "find_imagenet_weights"],
        "data": [
            "RegressorSamples", "crop_square", "crops_to_input", "fit_tensors", "samples_for_model",
            "samples_from_project", "splat_iuv"
        ],
        "encoders": ["ARCHITECTURES"],
        "inputs": ["RegressorInputs"],
        "network": ["BodyRegressor", "OUTPUT_SIZE", "RegressorConfig", "decode_raw", "params_to_raw"],
        "prediction": ["people_of_images", "predict_people"],
        "training": [
            "RegressorTrainingSettings", "load_regressor", "predict", "regressor_losses",
            "save_regressor", "train_regressor"
        ],
    },
)
