"""Pictures: offscreen rendering, exact rasterisation, template sheets and annotation overlays."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["offscreen", "overlay", "raster", "template_views"],
    submod_attrs={
        "offscreen": [
            "OffscreenRenderer", "RenderError", "atlas_texcoords", "load_atlas", "release_offscreen_renderer",
            "welded_normals"
        ],
        "overlay": ["draw_person", "part_colors", "write_png"],
        "raster": ["rasterize"],
        "template_views": ["render_template_sheet", "view_vertices"],
    },
)
