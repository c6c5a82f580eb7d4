"""DensePose and COCO inputs: every reader, the records they return, and (part, U, V) -> vertex correspondence."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["annotation_files", "coco", "correspondence", "iuv_images", "iuv_layout", "pickles", "readers", "records"],
    submod_attrs={
        "correspondence": ["BarycentricMapper", "NearestVertexMapper", "map_to_vertices", "mapper_for", "template_key"],
        "iuv_images": ["read_iuv_inference", "sample_part_pixels"],
        "iuv_layout": ["IUV_ORDERS", "find_iuv_files"],
        "readers": ["AnnotationError", "read_people"],
        "records": ["DensePoints", "PersonAnnotation", "bbox_of_points"],
    },
)
