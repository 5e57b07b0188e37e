//! The weekly report's chart as a PNG: open and overdue findings of the units that rank first,
//! as horizontal bars with the units' Chinese names, drawn by plotters with a CJK font.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Weekly;

/// Units drawn at most.
pub const UNITS: usize = 15;

/// Where the usual Debian CJK fonts live (fonts-droid-fallback, fonts-wqy-microhei,
/// fonts-noto-cjk), tried in order when `[report] font_file` is not set.
pub const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

/// The font file to use: the configured one, or the first candidate present.
pub fn font_file(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => FONT_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists()),
    }
}

/// A font for digits and Latin letters, which some CJK fonts (Droid Sans Fallback) lack.
pub const LATIN_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers the fonts with plotters once per process (plotters keeps fonts for the process):
/// "cjk" for Chinese, "latin" for digits (DejaVu Sans when present, else the CJK font).
fn register(path: &Path) -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let load = |p: &Path| -> Result<&'static [u8], String> {
            let bytes = std::fs::read(p)
                .map_err(|e| format!("cannot read the font {}: {e}", p.display()))?;
            // plotters wants the font for the whole process.
            Ok(Box::leak(bytes.into_boxed_slice()))
        };
        let cjk = load(path)?;
        plotters::style::register_font("cjk", FontStyle::Normal, cjk)
            .map_err(|_| format!("{} is not a font plotters can read", path.display()))?;
        let latin = load(Path::new(LATIN_FONT)).unwrap_or(cjk);
        plotters::style::register_font("latin", FontStyle::Normal, latin)
            .map_err(|_| format!("{LATIN_FONT} is not a font plotters can read"))
    });
    result.clone().map_err(anyhow::Error::msg)
}

/// The chart as PNG bytes, `width` × `height` pixels.
pub fn png(r: &Weekly, font: &Path, width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    register(font)?;
    let rows: Vec<_> = r.units.iter().take(UNITS).collect();
    let mut rgb = vec![255u8; (width as usize) * (height as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let max = rows
            .iter()
            .map(|u| u.open.max(u.overdue))
            .max()
            .unwrap_or(0)
            .max(1);
        #[allow(clippy::cast_precision_loss)]
        let (xmax, n) = ((max as f64) * 1.1, rows.len().max(1) as f64);
        let mut chart = ChartBuilder::on(&root)
            .caption("各单位未办结与逾期事项", ("cjk", 22).into_font())
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..xmax, 0f64..n)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .y_labels(0)
            .x_labels(8)
            .x_max_light_lines(0)
            .x_label_style(("latin", 13).into_font())
            // Counts are whole: a tick between two numbers has no label.
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(draw_error)?;
        let blue = RGBColor(70, 114, 196);
        let red = RGBColor(196, 40, 40);
        #[allow(clippy::cast_precision_loss)]
        for (i, u) in rows.iter().enumerate() {
            // The first unit at the top.
            let y = n - 1.0 - i as f64;
            chart
                .draw_series([
                    Rectangle::new([(0.0, y + 0.52), (u.open as f64, y + 0.88)], blue.filled()),
                    Rectangle::new(
                        [(0.0, y + 0.12), (u.overdue as f64, y + 0.48)],
                        red.filled(),
                    ),
                ])
                .map_err(draw_error)?;
            let (px, py) = chart.backend_coord(&(0.0, y + 0.5));
            let color = if u.lagging { &red } else { &BLACK };
            let style = ("cjk", 15)
                .into_font()
                .color(color)
                .pos(Pos::new(HPos::Right, VPos::Center));
            root.draw_text(&u.unit, &style, (px - 8, py))
                .map_err(draw_error)?;
        }
        // The week, top left.
        root.draw_text(&r.week, &("latin", 15).into_font().color(&BLACK), (12, 14))
            .map_err(draw_error)?;
        // The legend, top right.
        let legend = ("cjk", 15).into_font();
        let x = i32::try_from(width).unwrap_or(800) - 190;
        root.draw(&Rectangle::new([(x, 12), (x + 16, 24)], blue.filled()))
            .map_err(draw_error)?;
        root.draw_text("未办结", &legend.color(&BLACK), (x + 22, 10))
            .map_err(draw_error)?;
        root.draw(&Rectangle::new([(x + 90, 12), (x + 106, 24)], red.filled()))
            .map_err(draw_error)?;
        root.draw_text("逾期", &legend.color(&BLACK), (x + 112, 10))
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()?.write_image_data(&rgb)?;
    }
    Ok(out)
}

fn draw_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e:?}")
}
