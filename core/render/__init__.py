"""Pictures: one scene description and one renderer for everything drawn in 3D, the palette, vertex
normals, exact rasterisation, template sheets and annotation overlays.

The names below are this subpackage's public face: the app and the other subpackages use these. They load
on first use (lazy_loader), so importing the package stays cheap (no torch until something needs it).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["fit_overlay", "normals", "offscreen", "overlay", "palette", "raster", "renderer", "scene", "skeleton",
                "template_views"],
    submod_attrs={
        "fit_overlay": ["camera_to_image", "draw_fit", "fit_camera_vertices"],
        "normals": ["vertex_normals"],
        "offscreen": ["OffscreenRenderer", "atlas_texcoords", "load_atlas"],
        "overlay": ["draw_person", "part_colors", "write_png"],
        "palette": ["PART_COLOURS", "ramp"],
        "raster": ["rasterize"],
        "renderer": ["RenderError", "SceneRenderer", "release_offscreen_renderer"],
        "scene": ["VIEWS", "Camera", "Mesh", "Points", "Scene", "Skeleton"],
        "skeleton": ["joint_regressor"],
        "template_views": ["render_template_sheet", "render_views", "view_vertices"],
    },
)
