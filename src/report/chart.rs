//! The weekly report's chart as a PNG: open and overdue findings of the units that rank first,
//! as horizontal bars beside the units' Chinese names, drawn by plotters with a CJK font.
//!
//! The PNG is drawn at [`SCALE`] times the width it is shown at ([`DISPLAY_WIDTH`], the `<img>`
//! width of the e-mail and the HTML report), so that it stays sharp on high-density screens.
//! Font sizes are given as CSS gives them (the em, in pixels at the displayed size) and turned
//! into the scale `ab_glyph` wants, which is the font's ascent-to-descent height: the same em on
//! every font, and no label smaller than 12 px where it is read.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font as _, ScaleFont as _};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::Weekly;

/// Units drawn at most.
pub const UNITS: usize = 15;

/// The width the chart is shown at, in CSS pixels (the `<img width>` of the HTML).
pub const DISPLAY_WIDTH: u32 = 720;

/// The PNG has this many pixels for each displayed one.
pub const SCALE: u32 = 2;

/// The PNG's width in pixels.
pub const WIDTH: u32 = DISPLAY_WIDTH * SCALE;

/// Font sizes (the em) in pixels at the displayed size. The smallest is large enough that a
/// Chinese character's ink (about 0.9 em) and a digit's (0.73 em in DejaVu Sans) are at least
/// 12 px high where they are read.
const TITLE_EM: f64 = 20.0;
/// Unit names, the week, the legend.
const TEXT_EM: f64 = 16.0;
/// Digits: the axis and the bars' values.
const NUMBER_EM: f64 = 18.0;

// The layout, in displayed pixels.
const MARGIN: f64 = 12.0;
/// The title, the week and the legend above the bars.
const HEADER: f64 = 96.0;
/// One unit: its two bars and its name in up to two lines.
const ROW: f64 = 50.0;
/// The names' column, right-aligned against the bars.
const LABEL_WIDTH: f64 = 200.0;
const PLOT_LEFT: f64 = MARGIN + LABEL_WIDTH + 10.0;
/// Room right of the longest bar for its number.
const PLOT_RIGHT: f64 = DISPLAY_WIDTH as f64 - MARGIN - 40.0;
/// The axis' numbers under the bars.
const AXIS: f64 = 34.0;

const BLUE: RGBColor = RGBColor(70, 114, 196);
const RED: RGBColor = RGBColor(196, 40, 40);
/// Lagging units' names: the red of the HTML table's lagging rows (#b00000).
const LAGGING: RGBColor = RGBColor(176, 0, 0);
const INK: RGBColor = RGBColor(34, 34, 34);
const GREY: RGBColor = RGBColor(90, 90, 90);
const GRID: RGBColor = RGBColor(225, 225, 225);

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

/// The two fonts: `cjk` for Chinese, `latin` for digits and Latin letters (DejaVu Sans when
/// present, else the CJK font). Each character is drawn with the first of its two that has it.
#[derive(Clone)]
struct Fonts {
    cjk: ab_glyph::FontRef<'static>,
    latin: ab_glyph::FontRef<'static>,
}

/// Reads the fonts once per process.
fn fonts(path: &Path) -> anyhow::Result<Fonts> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    let result = FONTS.get_or_init(|| {
        let load = |p: &Path| -> Result<ab_glyph::FontRef<'static>, String> {
            let bytes = std::fs::read(p)
                .map_err(|e| format!("cannot read the font {}: {e}", p.display()))?;
            // Kept for the process: the chart is drawn again every week.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            ab_glyph::FontRef::try_from_slice(bytes)
                .map_err(|_| format!("{} is not a font the chart can use", p.display()))
        };
        let cjk = load(path)?;
        let latin = load(Path::new(LATIN_FONT)).unwrap_or_else(|_| cjk.clone());
        Ok(Fonts { cjk, latin })
    });
    result.clone().map_err(anyhow::Error::msg)
}

/// Characters that prefer the Latin font: ASCII and general punctuation (— …).
fn is_latin(c: char) -> bool {
    c.is_ascii() || ('\u{2000}'..='\u{206F}').contains(&c)
}

/// A character laid out: its font and its glyph, scaled and placed.
struct Placed<'a> {
    font: &'a ab_glyph::FontRef<'static>,
    glyph: ab_glyph::Glyph,
}

impl Fonts {
    /// The font that draws `c`: the preferred one if it has the character, else the other.
    fn of(&self, c: char) -> &ab_glyph::FontRef<'static> {
        let (first, second) = if is_latin(c) {
            (&self.latin, &self.cjk)
        } else {
            (&self.cjk, &self.latin)
        };
        if first.glyph_id(c).0 == 0 && second.glyph_id(c).0 != 0 {
            second
        } else {
            first
        }
    }

    /// The scale `ab_glyph` wants (the font's ascent-to-descent height) for an em of `em` pixels.
    fn scale(font: &ab_glyph::FontRef<'static>, em: f64) -> ab_glyph::PxScale {
        let units = font.units_per_em().unwrap_or(1000.0);
        #[allow(clippy::cast_possible_truncation)]
        let em = em as f32;
        ab_glyph::PxScale::from(em * font.height_unscaled() / units)
    }

    /// Lays `s` out from `x` on the baseline `y` (PNG pixels; an em of `em` PNG pixels): each
    /// character's font and glyph, and where the pen ends.
    fn layout(&self, s: &str, em: f64, (x, y): (f32, f32)) -> (Vec<Placed<'_>>, f32) {
        let mut out = Vec::new();
        let mut pen = x;
        let mut previous: Option<(&ab_glyph::FontRef<'static>, ab_glyph::GlyphId)> = None;
        for c in s.chars() {
            let font = self.of(c);
            let scale = Fonts::scale(font, em);
            let scaled = font.as_scaled(scale);
            let id = font.glyph_id(c);
            if let Some((f, p)) = previous
                && std::ptr::eq(f, font)
            {
                pen += scaled.kern(p, id);
            }
            out.push(Placed {
                font,
                glyph: id.with_scale_and_position(scale, ab_glyph::point(pen, y)),
            });
            pen += scaled.h_advance(id);
            previous = Some((font, id));
        }
        (out, pen)
    }
}

/// Draws text and boxes; positions and sizes in displayed pixels.
struct Painter<'a, 'b> {
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    fonts: Fonts,
}

/// Displayed pixels to the PNG's.
fn px(v: f64) -> i32 {
    #[allow(clippy::cast_possible_truncation)]
    let p = (v * f64::from(SCALE)).round() as i32;
    p
}

impl Painter<'_, '_> {
    /// The text's width in displayed pixels.
    fn width(&self, s: &str, em: f64) -> f64 {
        let (_, end) = self.fonts.layout(s, em * f64::from(SCALE), (0.0, 0.0));
        f64::from(end) / f64::from(SCALE)
    }

    /// Draws `s` with its baseline at `baseline`, starting at, centred on or ending at `x`.
    fn text(
        &self,
        s: &str,
        em: f64,
        color: &RGBColor,
        (x, baseline): (f64, f64),
        h: HPos,
    ) -> anyhow::Result<()> {
        let width = self.width(s, em);
        let left = match h {
            HPos::Left => x,
            HPos::Center => x - width / 2.0,
            HPos::Right => x - width,
        };
        #[allow(clippy::cast_precision_loss)]
        let origin = (px(left) as f32, px(baseline) as f32);
        let (placed, _) = self.fonts.layout(s, em * f64::from(SCALE), origin);
        for p in placed {
            let Some(outline) = p.font.outline_glyph(p.glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                let at = (
                    bounds.min.x as i32 + gx as i32,
                    bounds.min.y as i32 + gy as i32,
                );
                if result.is_ok() && coverage > 0.0 {
                    result = self
                        .root
                        .draw_pixel(at, &color.mix(f64::from(coverage.min(1.0))));
                }
            });
            result.map_err(draw_error)?;
        }
        Ok(())
    }

    /// Draws `s` vertically centred on `y` (the ink of Chinese and of digits is centred about
    /// 0.37 em above the baseline).
    fn text_centred(
        &self,
        s: &str,
        em: f64,
        color: &RGBColor,
        (x, y): (f64, f64),
        h: HPos,
    ) -> anyhow::Result<()> {
        self.text(s, em, color, (x, y + 0.37 * em), h)
    }

    fn rect(
        &self,
        (x0, y0): (f64, f64),
        (x1, y1): (f64, f64),
        color: &RGBColor,
    ) -> anyhow::Result<()> {
        self.root
            .draw(&Rectangle::new(
                [(px(x0), px(y0)), (px(x1), px(y1))],
                color.filled(),
            ))
            .map_err(draw_error)
    }
}

/// A unit's name in at most two lines that each fit (`fits`): one line if it fits, else two of
/// about the same length, else as much as fits with the rest cut with "…".
fn wrap(name: &str, fits: impl Fn(&str) -> bool) -> Vec<String> {
    if fits(name) {
        return vec![name.to_string()];
    }
    let chars: Vec<char> = name.chars().collect();
    let half = chars.len().div_ceil(2);
    let (first, second): (String, String) = (
        chars[..half].iter().collect(),
        chars[half..].iter().collect(),
    );
    if fits(&first) && fits(&second) {
        return vec![first, second];
    }
    // The first line as full as it goes (one character at least), the second cut.
    let mut split = 1;
    while split < chars.len() && fits(&chars[..=split].iter().collect::<String>()) {
        split += 1;
    }
    let first: String = chars[..split].iter().collect();
    let mut rest: Vec<char> = chars[split..].to_vec();
    if fits(&rest.iter().collect::<String>()) {
        return vec![first, rest.into_iter().collect()];
    }
    while !rest.is_empty() && !fits(&format!("{}…", rest.iter().collect::<String>())) {
        rest.pop();
    }
    vec![first, format!("{}…", rest.into_iter().collect::<String>())]
}

/// Tick step and axis end for counts up to `max`: steps of 1, 2 or 5 × 10ⁿ, at most 6 ticks.
fn axis(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let mut magnitude = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            let end = (max + step - 1) / step * step;
            if end / step <= 5 {
                return (step, end);
            }
        }
        magnitude *= 10;
    }
}

/// The PNG's height in pixels for the report's units.
pub fn height(r: &Weekly) -> u32 {
    let rows = r.units.len().clamp(1, UNITS);
    #[allow(clippy::cast_precision_loss)]
    let h = HEADER + rows as f64 * ROW + AXIS + MARGIN;
    u32::try_from(px(h)).unwrap_or(1)
}

/// The chart as PNG bytes, [`WIDTH`] pixels wide and [`height`] high.
pub fn png(r: &Weekly, font: &Path) -> anyhow::Result<Vec<u8>> {
    let fonts = fonts(font)?;
    let (width, height) = (WIDTH, height(r));
    let mut rgb = vec![255u8; (width as usize) * (height as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        draw(&Painter { root: &root, fonts }, r)?;
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

#[allow(clippy::cast_precision_loss)]
fn draw(p: &Painter<'_, '_>, r: &Weekly) -> anyhow::Result<()> {
    let rows: Vec<_> = r.units.iter().take(UNITS).collect();
    let w = f64::from(DISPLAY_WIDTH);
    // The title, the week, the legend.
    p.text(
        "各单位未办结与逾期事项",
        TITLE_EM,
        &INK,
        (w / 2.0, MARGIN + 18.0),
        HPos::Center,
    )?;
    p.text(
        &r.week_label,
        TEXT_EM,
        &GREY,
        (w / 2.0, MARGIN + 44.0),
        HPos::Center,
    )?;
    let legend_y = MARGIN + 68.0;
    let mut x = PLOT_LEFT;
    for (color, name) in [(&BLUE, "未办结"), (&RED, "逾期")] {
        p.rect((x, legend_y - 7.0), (x + 14.0, legend_y + 7.0), color)?;
        p.text_centred(name, TEXT_EM, &INK, (x + 20.0, legend_y), HPos::Left)?;
        x += 20.0 + p.width(name, TEXT_EM) + 24.0;
    }
    if rows.iter().any(|u| u.lagging) {
        p.text_centred(
            "红色单位名：落后单位",
            TEXT_EM,
            &LAGGING,
            (x, legend_y),
            HPos::Left,
        )?;
    }

    let top = HEADER;
    let bottom = top + rows.len().max(1) as f64 * ROW;
    let max = rows
        .iter()
        .map(|u| u.open.max(u.overdue))
        .max()
        .unwrap_or(0);
    let (step, end) = axis(max);
    let x_of = |v: i64| PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * v as f64 / end as f64;
    // The grid and the axis' numbers.
    let mut v = 0;
    while v <= end {
        let x = x_of(v);
        p.rect((x - 0.5, top), (x + 0.5, bottom), &GRID)?;
        p.text(
            &v.to_string(),
            NUMBER_EM,
            &GREY,
            (x, bottom + 6.0 + 0.73 * NUMBER_EM),
            HPos::Center,
        )?;
        v += step;
    }
    p.rect((PLOT_LEFT, bottom - 0.5), (PLOT_RIGHT, bottom + 0.5), &GREY)?;
    if rows.is_empty() {
        p.text_centred(
            "没有执法单位",
            TEXT_EM,
            &GREY,
            ((PLOT_LEFT + PLOT_RIGHT) / 2.0, top + ROW / 2.0),
            HPos::Center,
        )?;
    }
    for (i, u) in rows.iter().enumerate() {
        let row = top + i as f64 * ROW;
        for (value, color, y0) in [(u.open, &BLUE, row + 8.0), (u.overdue, &RED, row + 26.0)] {
            let x1 = x_of(value);
            if value > 0 {
                p.rect((PLOT_LEFT, y0), (x1, y0 + 16.0), color)?;
            }
            p.text_centred(
                &value.to_string(),
                NUMBER_EM,
                &INK,
                (x1 + 5.0, y0 + 8.0),
                HPos::Left,
            )?;
        }
        // The name, right-aligned against the bars, in one or two lines.
        let color = if u.lagging { &LAGGING } else { &INK };
        let lines = wrap(&u.unit, |s| p.width(s, TEXT_EM) <= LABEL_WIDTH);
        let centre = row + ROW / 2.0;
        let first = centre - 10.0 * (lines.len() as f64 - 1.0);
        for (j, line) in lines.iter().enumerate() {
            p.text_centred(
                line,
                TEXT_EM,
                color,
                (PLOT_LEFT - 10.0, first + 20.0 * j as f64),
                HPos::Right,
            )?;
        }
    }
    Ok(())
}

/// The PNG as a `data:` URI, for an `<img src>` that needs no other file.
pub fn data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png)
    )
}

fn draw_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wrap_into_two_even_lines_and_the_rest_is_cut() {
        let fits = |s: &str| s.chars().count() <= 5;
        assert_eq!(wrap("稻城县水利局", fits), ["稻城县", "水利局"]);
        assert_eq!(
            wrap("稻城县税务局", |s: &str| s.chars().count() <= 6),
            ["稻城县税务局"]
        );
        assert_eq!(wrap("稻城县住房和城乡局", fits), ["稻城县住房", "和城乡局"]);
        // Even halves would not fit: the first line full, the second cut.
        assert_eq!(
            wrap("稻城县住房和城乡建设局", fits),
            ["稻城县住房", "和城乡建…"]
        );
        assert_eq!(wrap("稻城县住房和城乡建", fits), ["稻城县住房", "和城乡建"]);
        assert_eq!(
            wrap("甘孜藏族自治州稻城县市场监督管理局", fits),
            ["甘孜藏族自", "治州稻城…"]
        );
        assert_eq!(wrap("", fits), [""]);
        // Nothing fits: one character, then the cut.
        assert_eq!(wrap("稻城县", |_: &str| false), ["稻", "…"]);
    }

    #[test]
    fn the_axis_ends_on_a_round_number_with_at_most_six_ticks() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(2), (1, 2));
        assert_eq!(axis(7), (2, 8));
        assert_eq!(axis(23), (5, 25));
        assert_eq!(axis(26), (10, 30));
        assert_eq!(axis(480), (100, 500));
    }
}
