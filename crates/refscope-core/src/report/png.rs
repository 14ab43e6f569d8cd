//! PNG pictures: an SVG drawing (from [`super::layered`]) rasterised by resvg/tiny-skia.
//!
//! Behind the `png` feature: resvg brings a font stack and a rasteriser, which only the
//! binding needs. Text uses the system's fonts (loaded once per process; DejaVu Sans Mono
//! or any monospace font); without any font the boxes and arrows are still drawn.

use resvg::{tiny_skia, usvg};
use std::sync::{Arc, OnceLock};

/// Largest side and area of a picture, in pixels: larger drawings are scaled down to fit
/// (tiny-skia allocates the whole canvas at once).
const MAX_SIDE: f32 = 16_000.0;
const MAX_PIXELS: f32 = 40_000_000.0;

fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = usvg::fontdb::Database::new();
            db.load_system_fonts();
            db.set_monospace_family("DejaVu Sans Mono");
            Arc::new(db)
        })
        .clone()
}

/// The PNG file of `svg` at `scale` pixels per SVG unit (reduced if the picture would
/// exceed the size limits).
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, String> {
    let options = usvg::Options {
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("invalid SVG: {e}"))?;
    let size = tree.size();
    let (w, h) = (size.width(), size.height());
    let mut scale = scale.max(0.01);
    scale = scale
        .min(MAX_SIDE / w.max(1.0))
        .min(MAX_SIDE / h.max(1.0))
        .min((MAX_PIXELS / (w * h).max(1.0)).sqrt());
    let pw = ((w * scale).ceil() as u32).max(1);
    let ph = ((h * scale).ceil() as u32).max(1);
    let mut pixmap =
        tiny_skia::Pixmap::new(pw, ph).ok_or_else(|| format!("cannot allocate {pw}x{ph}"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| format!("PNG encoding failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#ff0000"/><text x="2" y="15" font-family="monospace" font-size="10">a&lt;b</text></svg>"##;
        let png = svg_to_png(svg, 2.0).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR width and height
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 80);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 40);
    }

    #[test]
    fn huge_pictures_are_scaled_down() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="10"></svg>"#;
        let png = svg_to_png(svg, 1.0).unwrap();
        assert!(u32::from_be_bytes(png[16..20].try_into().unwrap()) <= 16_000);
    }

    #[test]
    fn invalid_svg_is_an_error() {
        assert!(svg_to_png("<svg", 1.0).is_err());
    }
}
